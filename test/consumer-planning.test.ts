/**
 * Planning and retention together: consumers far behind, gaps in the chain, corrupt
 * snapshots, and the requests a refresh costs, counted by a real store behind a counter.
 */
import { describe, expect, it } from 'vitest';
import { VersionHeaderCache } from '../src/blob/version-header-cache.ts';
import { msgpack } from '../src/format/msgpack.ts';
import { type BlobStore, Consumer, NamespaceLayout, Producer, type RefreshEvent, t } from '../src/index.ts';
import { CountingStore } from './support/counting-store.ts';
import { useStores } from './support/stores.ts';
import { until } from './support/wait.ts';

const Movie = t.object('Movie', { id: t.int(), title: t.string(), year: t.int() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const NS = 'movies';
const layout = new NamespaceLayout(NS);
const { tempDir, stores } = useStores('planning');
const RECORDS = 300;

const producerFor = async (
  store: BlobStore,
  snapshotEvery: number,
  keepSnapshots: number,
  records = RECORDS,
) => {
  const producer = await Producer.open({
    store,
    namespace: NS,
    schema,
    walDir: await tempDir(),
    fsync: false,
    snapshotEvery,
    keepSnapshots,
  });
  await producer.runCycle((w) => {
    for (let i = 0; i < records; i++) w.add('Movie', { id: i, title: `movie ${i}`, year: 2000 });
  });
  return producer;
};
/** One version changing one record. */
const step = async (producer: Producer<typeof schema>, n: number) => {
  await producer.upsert('Movie', {
    id: n % RECORDS,
    title: `movie ${n % RECORDS}, cut ${n}`,
    year: 2000 + n,
  });
  await producer.flush();
};
/** Versions 1 to 7 after the producer's first (snapshots every 5: at 0 and 5), all of them. */
const sevenMore = async (producer: Producer<typeof schema>) => {
  const versions = [producer.version!];
  for (let n = 1; n <= 7; n++) {
    await step(producer, n);
    versions.push(producer.version!);
  }
  return versions;
};
const contents = (state: { type(n: 'Movie'): Iterable<{ toObject(): unknown }> }) =>
  [...state.type('Movie')].map((v) => v.toObject());

describe.each(stores)('planning with retention on $name', ({ make }) => {
  it('a consumer left behind for 62 versions, and a new one, reach the announced version with few requests', async () => {
    const inner = await make();
    const store = new CountingStore(inner);
    await using producer = await producerFor(inner, 4, 2);
    await using behind = await Consumer.open({ store, namespace: NS, watch: false });
    for (let n = 1; n <= 62; n++) await step(producer, n);
    // Retention kept 2 snapshots: the version held and its headers are long gone.
    await expect(inner.get(layout.header(behind.version))).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    store.reset();
    const started = Date.now();
    await behind.refresh();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(behind.version).toBe(producer.version);
    expect(contents(behind.state)).toEqual(contents(producer.state!));
    expect(behind.lastRefresh?.kind).toBe('snapshot');
    // The announcement, the nearest snapshot and at most 3 deltas after it, the headers between.
    expect(store.of('get announced')).toBe(1);
    expect(store.of('get snapshot')).toBe(1);
    expect(store.of('get delta')).toBeLessThanOrEqual(3);
    expect(store.total()).toBeLessThanOrEqual(10);

    store.reset();
    await using fresh = await Consumer.open({ store, namespace: NS, watch: false });
    expect(fresh.version).toBe(producer.version);
    expect(contents(fresh.state)).toEqual(contents(producer.state!));
    expect(store.total()).toBeLessThanOrEqual(10);
  }, 60_000);

  it('a consumer whose refreshes fell 62 versions behind catches up with a bounded number of requests', async () => {
    const inner = await make();
    const store = new CountingStore(inner);
    await using producer = await producerFor(inner, 4, 2);
    await using consumer = await Consumer.open({
      store,
      namespace: NS,
      minIntervalMs: 10,
      maxIntervalMs: 20,
      retryDelayMs: 20,
    });
    const failures: string[] = [];
    consumer.on('refresh:failure', (f) => failures.push(f.error.code));
    // A slow network: every delta and snapshot the consumer asks for takes until released.
    const release = store.hold((key) => /\/(delta|snapshot)\//.test(key));
    for (let n = 1; n <= 62; n++) await step(producer, n);
    await until(() => store.of('get delta') + store.of('get snapshot') > 0, 10_000, 'a refresh to start');
    store.reset();
    release();
    await until(() => consumer.version === producer.version, 10_000, 'the consumer to catch up');
    expect(contents(consumer.state)).toEqual(contents(producer.state!));
    // The refresh held back fails (its blobs were deleted meanwhile), then one follows the
    // announcement: not one per version announced during the hold.
    expect(failures.length).toBeLessThanOrEqual(1);
    expect(store.of('get snapshot') + store.of('get delta') + store.of('get header')).toBeLessThanOrEqual(20);
  }, 60_000);

  it('falls back to a snapshot when a header or a delta mid-chain is missing', async () => {
    const inner = await make();
    const store = new CountingStore(inner);
    await using producer = await producerFor(inner, 5, 100);
    // Bytes alone: the deltas from the first version are the cheaper path while they are all there.
    const open = () => Consumer.open({ store, namespace: NS, watch: false, requestCostBytes: 0 });
    await using control = await open();
    await using noHeader = await open();
    await using noDelta = await open();
    const versions = await sevenMore(producer);
    await control.refresh();
    expect(control.lastRefresh?.kind).toBe('delta');
    const header = layout.header(versions[3]!);
    const saved = await inner.get(header);
    await inner.delete(header);
    await noHeader.refresh();
    expect([noHeader.lastRefresh?.kind, noHeader.version]).toEqual(['snapshot', producer.version]);
    expect(contents(noHeader.state)).toEqual(contents(producer.state!));
    await inner.put(header, saved);

    const failures: string[] = [];
    noDelta.on('blob:failure', (f) => failures.push(`${f.key} ${f.error.code}`));
    // Below the newest snapshot (versions[5]): the path from it stays whole.
    const key = layout.delta(versions[3]!, versions[4]!);
    await inner.delete(key);
    await noDelta.refresh();
    expect(failures).toEqual([`${key} BLOB_NOT_FOUND`]);
    expect([noDelta.lastRefresh?.kind, noDelta.version]).toEqual(['snapshot', producer.version]);
    expect(contents(noDelta.state)).toEqual(contents(producer.state!));
  }, 60_000);

  it('a new consumer whose newest snapshot is corrupt loads an older snapshot and the deltas after it', async () => {
    const inner = await make();
    await using producer = await producerFor(inner, 5, 100);
    const versions = await sevenMore(producer);
    const newest = layout.snapshot(versions[5]!);
    await inner.get(newest); // the snapshot is there, to be spoiled
    await inner.delete(newest);
    await inner.put(newest, new Uint8Array([1, 2, 3]));
    const consumer = Consumer.create({ store: inner, namespace: NS, watch: false });
    const failures: string[] = [];
    const refreshes: RefreshEvent[] = [];
    consumer.on('blob:failure', (f) => failures.push(`${f.key} ${f.error.code}`));
    consumer.on('refresh', (e) => refreshes.push(e));
    await using _ = await consumer.start();
    expect(failures).toEqual([`${newest} BLOB_TRUNCATED`]);
    expect(refreshes.map((r) => [r.kind, r.to])).toEqual([['snapshot', producer.version]]);
    expect(consumer.state.checksum).toBe(producer.state!.checksum);
    expect(contents(consumer.state)).toEqual(contents(producer.state!));
  }, 60_000);

  it('names the header every path needs when it is gone, and says what to do', async () => {
    const inner = await make();
    await using producer = await producerFor(inner, 5, 100);
    const versions = await sevenMore(producer);
    // The newest snapshot is versions[5]; every path to versions[7] goes through versions[6].
    const header = layout.header(versions[6]!);
    const saved = await inner.get(header);
    await inner.delete(header);
    const error = await Consumer.open({ store: inner, namespace: NS, watch: false }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'BLOB_NOT_FOUND',
      blobKey: header,
      message: expect.stringContaining(`no blob at "${header}"`),
    });
    expect((error as Error).message).toContain('Republish a snapshot');
    await inner.put(header, saved);
    await using consumer = await Consumer.open({ store: inner, namespace: NS, watch: false });
    expect(contents(consumer.state)).toEqual(contents(producer.state!));
  }, 60_000);

  it('weighs requests as well as bytes: one snapshot beats a chain of 48 deltas', async () => {
    const inner = await make();
    const store = new CountingStore(inner);
    // A snapshot that outweighs 48 small deltas in bytes, not in requests.
    await using producer = await producerFor(inner, 49, 100, 3000);
    await step(producer, 1);
    const open = (requestCostBytes?: number) =>
      Consumer.open({
        store,
        namespace: NS,
        watch: false,
        ...(requestCostBytes === 0 ? { requestCostBytes } : {}),
      });
    await using weighed = await open();
    await using bytesOnly = await open(0);
    for (let n = 2; n <= 49; n++) await step(producer, n);
    const snapshot = (await inner.list(`${NS}/snapshot/`)).at(-1)!;
    expect(layout.parse(snapshot)).toEqual({ kind: 'snapshot', version: producer.version });
    store.reset();
    await weighed.refresh();
    expect(weighed.lastRefresh?.kind).toBe('snapshot');
    // The announcement, the snapshot, and one header read to see the deltas cost more.
    expect(store.counts()).toEqual({ 'get announced': 1, 'get header': 1, 'get snapshot': 1 });
    await bytesOnly.refresh();
    expect([bytesOnly.lastRefresh?.kind, bytesOnly.lastRefresh?.bytes]).toEqual([
      'delta',
      expect.any(Number),
    ]);
    expect(bytesOnly.lastRefresh!.bytes).toBeLessThan(weighed.lastRefresh!.bytes);
    expect(contents(weighed.state)).toEqual(contents(bytesOnly.state));
  }, 60_000);
});

describe.each(stores)('requests per version on $name', ({ make }) => {
  it('a consumer one version behind reads the announcement and one delta, nothing more', async () => {
    const inner = await make();
    const store = new CountingStore(inner);
    await using producer = await producerFor(inner, 10, 5);
    await using polled = await Consumer.open({ store, namespace: NS, watch: false });
    for (let n = 1; n <= 3; n++) {
      await step(producer, n);
      store.reset();
      await polled.refresh();
      expect(polled.version).toBe(producer.version);
      expect(store.counts()).toEqual({ 'get announced': 1, 'get delta': 1 });
    }
    expect(contents(polled.state)).toEqual(contents(producer.state!));

    const watching = new CountingStore(inner);
    await using watcher = await Consumer.open({
      store: watching,
      namespace: NS,
      minIntervalMs: 10,
      maxIntervalMs: 40,
    });
    let checks = 0;
    watcher.on('announcement:check', () => checks++);
    watching.reset();
    for (let n = 4; n <= 8; n++) {
      await step(producer, n);
      await until(() => watcher.version === producer.version, 10_000, `version ${n}`);
    }
    // Per version: one delta, and the polls, each one conditional GET of the announcement (a
    // 304 when it has not changed, the announcement when it has). No HEAD, no header.
    const { 'get announced': _polls, ...rest } = watching.counts();
    const polls = watching.of('get announced');
    expect(polls).toBeGreaterThanOrEqual(5);
    expect(polls - checks).toBeGreaterThanOrEqual(0); // one may be under way
    expect(polls - checks).toBeLessThanOrEqual(1);
    expect(rest).toEqual({ 'get delta': 5 });
  }, 60_000);

  it('reads namespaces whose announcements carry no header (written by older producers)', async () => {
    const inner = await make();
    const store = new CountingStore(inner);
    await using producer = await producerFor(inner, 10, 5);
    const stripHeader = async () => {
      const { header: _, ...old } = msgpack.unpack(await inner.get(layout.announced));
      await inner.put(layout.announced, msgpack.pack(old));
    };
    await stripHeader();
    await using consumer = await Consumer.open({ store, namespace: NS, watch: false });
    expect(consumer.version).toBe(producer.version);
    await step(producer, 1);
    await stripHeader();
    store.reset();
    await consumer.refresh();
    expect(consumer.version).toBe(producer.version);
    expect(store.counts()).toEqual({ 'get announced': 1, 'get delta': 1, 'get header': 1 });
    expect(contents(consumer.state)).toEqual(contents(producer.state!));
  }, 60_000);
});

describe('version header cache', () => {
  it('holds at most its capacity, reading again only what it let go', async () => {
    const inner = await stores[0]!.make();
    const store = new CountingStore(inner);
    await using producer = await producerFor(inner, 10, 5);
    const versions = [producer.version!];
    for (let n = 1; n <= 3; n++) {
      await step(producer, n);
      versions.push(producer.version!);
    }
    const cache = new VersionHeaderCache(store, layout, 2);
    for (const v of versions) expect((await cache.get(v)).version).toBe(v);
    expect([cache.size, store.of('get header')]).toEqual([2, 4]);
    await cache.get(versions[3]!); // held
    await cache.get(versions[0]!); // let go: read again
    expect(store.of('get header')).toBe(5);
    await inner.delete(layout.header(versions[1]!));
    await expect(cache.get(versions[1]!)).rejects.toMatchObject({
      code: 'BLOB_NOT_FOUND',
      blobKey: layout.header(versions[1]!),
    });
  }, 30_000);
});
