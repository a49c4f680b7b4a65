import { describe, expect, it } from 'vitest';
import {
  type BlobStore,
  Consumer,
  FsBlobStore,
  NamespaceLayout,
  Producer,
  type RefreshEvent,
  t,
} from '../src/index.ts';
import { S3BlobStore } from '../src/s3.ts';
import { BUCKET } from './support/s3-server.ts';
import { useStores } from './support/stores.ts';
import { until } from './support/wait.ts';

const Movie = t.object('Movie', { id: t.int(), title: t.string(), year: t.int() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const layout = new NamespaceLayout('movies');
const { tempDir, s3: server, stores } = useStores('consumer');

const producerFor = async (store: BlobStore, snapshotEvery: number) =>
  Producer.open({
    store,
    namespace: 'movies',
    schema,
    walDir: await tempDir(),
    fsync: false,
    snapshotEvery,
    keepSnapshots: 100,
  });
const contents = (state: { type(n: 'Movie'): Iterable<{ toObject(): unknown }> }) =>
  [...state.type('Movie')].map((v) => v.toObject());

describe.each(stores)('consumer on $name', ({ make }) => {
  it('refresh() reads the announcement now, even while a watcher polls slowly', async () => {
    const store = await make();
    await using producer = await producerFor(store, 5);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one', year: 2000 }));
    await using consumer = await Consumer.open({
      store,
      namespace: 'movies',
      minIntervalMs: 600_000,
      maxIntervalMs: 600_000,
      fallbackPollMs: 600_000,
    });
    await producer.upsert('Movie', { id: 1, title: 'two', year: 2001 });
    await producer.flush();
    await consumer.refresh();
    expect(consumer.version).toBe(producer.version);
    expect(consumer.state.type('Movie').get(1)?.title).toBe('two');
  });

  it.each([Number.NaN, -1, 0, Number.POSITIVE_INFINITY, 3e9])(
    'refuses retryDelayMs %s, which would retry a failing refresh without a pause',
    async (retryDelayMs) => {
      const store = await make();
      await expect(Consumer.open({ store, namespace: 'movies', retryDelayMs })).rejects.toMatchObject({
        code: 'INVALID_OPTION',
        message: expect.stringContaining('retryDelayMs'),
      });
    },
  );

  it('equals the producer at every one of 30 versions', async () => {
    const store = await make();
    const producer = await producerFor(store, 5);
    await producer.runCycle((w) => {
      for (let i = 0; i < 50; i++) w.add('Movie', { id: i, title: `m${i}`, year: 2000 });
    });
    await using consumer = await Consumer.open({
      store,
      namespace: 'movies',
      schema,
      minIntervalMs: 5,
      maxIntervalMs: 20,
      fallbackPollMs: 20,
    });
    const kinds = new Set<string>();
    consumer.on('refresh', (e) => kinds.add(e.kind));
    for (let v = 2; v <= 30; v++) {
      await producer.upsert('Movie', { id: v, title: `m${v} v${v}`, year: 2000 + v });
      await producer.delete('Movie', 49 - v);
      await producer.upsert('Movie', { id: 100 + v, title: `new ${v}`, year: 1990 });
      await producer.flush();
      await until(() => consumer.version === producer.version, 10_000, `version ${v}`);
      expect(consumer.state.checksum).toBe(producer.state!.checksum);
      expect(contents(consumer.state)).toEqual(contents(producer.state!));
    }
    expect(kinds.has('delta')).toBe(true);
    await producer.close();
  }, 60_000);

  it('routes around a corrupt or missing delta to a snapshot, serving the old state meanwhile', async () => {
    const store = await make();
    const producer = await producerFor(store, 1);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one', year: 2001 }));
    const v1 = producer.version!;
    await using consumer = await Consumer.open({ store, namespace: 'movies', watch: false });
    const old = consumer.state.type('Movie').get(1)!;
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one, revised', year: 2001 }));
    const v2 = producer.version!;
    await store.put(layout.delta(v1, v2), new Uint8Array([1, 2, 3]));
    const failures: string[] = [];
    const refreshes: RefreshEvent[] = [];
    consumer.on('blob:failure', (f) => failures.push(`${f.key} ${f.error.code}`));
    consumer.on('refresh', (e) => refreshes.push(e));
    const { serveConsumerHealth } = await import('../src/observability.ts');
    await using health = await serveConsumerHealth(consumer, { port: 0 });
    await consumer.refresh();
    expect(failures).toEqual([`${layout.delta(v1, v2)} BLOB_TRUNCATED`]);
    const status = (await (await fetch(`${health.url}/status`)).json()) as Record<
      string,
      { kind?: string; code?: string }
    >;
    expect(status.lastRefresh?.kind).toBe('snapshot');
    expect(status.lastError?.code).toBe('BLOB_TRUNCATED');
    const metrics = await (await fetch(`${health.url}/metrics`)).text();
    expect(metrics).toContain('shoal_consumer_blob_failures_total 1');
    // The first load and the fall-back to a snapshot.
    expect(metrics).toContain('shoal_consumer_refreshes_total{outcome="success",kind="snapshot"} 2');
    expect(refreshes.map((r) => [r.from, r.to, r.kind])).toEqual([[v1, v2, 'snapshot']]);
    expect(refreshes[0]!.types).toEqual({ Movie: { added: [], removed: [], modified: [1] } });
    expect(consumer.state.type('Movie').get(1)?.title).toBe('one, revised');
    expect(old.title).toBe('one'); // a view of the old state still reads it
    await producer.runCycle((w) => w.add('Movie', { id: 2, title: 'two', year: 2002 }));
    await store.delete(layout.delta(v2, producer.version!));
    await consumer.refresh();
    expect(consumer.version).toBe(producer.version);
    await producer.close();
  });

  it('keeps serving through a failed refresh, then recovers when the blobs are back', async () => {
    const store = await make();
    const producer = await producerFor(store, 1);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one', year: 2001 }));
    const v1 = producer.version!;
    await using consumer = await Consumer.open({
      store,
      namespace: 'movies',
      watch: false,
      retryDelayMs: 10,
    });
    await producer.runCycle((w) => w.add('Movie', { id: 2, title: 'two', year: 2002 }));
    const v2 = producer.version!;
    const saved = [await store.get(layout.delta(v1, v2)), await store.get(layout.snapshot(v2))];
    await store.delete(layout.delta(v1, v2));
    await store.delete(layout.snapshot(v2));
    const failures: number[] = [];
    consumer.on('refresh:failure', (f) => failures.push(f.failures));
    await expect(consumer.refresh()).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    expect(consumer.version).toBe(v1);
    expect(consumer.state.type('Movie').get(1)?.title).toBe('one');
    await store.put(layout.delta(v1, v2), saved[0]!);
    await store.put(layout.snapshot(v2), saved[1]!);
    await until(() => consumer.version === v2, 10_000, 'the retry');
    expect(failures.length).toBeGreaterThanOrEqual(1);
    await producer.close();
  });

  it('pins back over reverse deltas, and follows the announcement again after unpin', async () => {
    const store = await make();
    const producer = await producerFor(store, 10);
    const states = [];
    for (let v = 1; v <= 4; v++) {
      // Small changes: two reverse deltas cost less than the snapshot and a delta.
      await producer.runCycle((w) => {
        for (let i = 0; i < 200; i++)
          w.add('Movie', { id: i, title: `m${i}`, year: i === v ? 1900 + v : 2000 });
      });
      states.push(producer.state!);
    }
    await using consumer = await Consumer.open({ store, namespace: 'movies', watch: false });
    expect(consumer.version).toBe(states[3]!.version);
    const kinds: string[] = [];
    consumer.on('refresh', (e) => kinds.push(e.kind));
    await consumer.refreshTo(states[1]!.version);
    expect(kinds).toEqual(['reverse']);
    expect(consumer.state.checksum).toBe(states[1]!.checksum);
    expect(contents(consumer.state)).toEqual(contents(states[1]!));
    await consumer.unpin();
    expect(consumer.version).toBe(states[3]!.version);
    expect(kinds).toEqual(['reverse', 'delta']);
    await producer.close();
  });
});

describe('consumer errors', () => {
  it('refuses to open a namespace where nothing is announced', async () => {
    await expect(
      Consumer.open({ store: new FsBlobStore({ dir: await tempDir() }), namespace: 'none', watch: false }),
    ).rejects.toMatchObject({
      code: 'BLOB_NOT_FOUND',
      message:
        'nothing is announced in namespace "none" yet (no namespace is announced in this store). Check the namespace, start its producer first, or open with waitForFirstVersion.',
    });
  });
});

describe('consumer through a store outage', () => {
  it('keeps serving during the outage, reports it, backs off, and catches up after', async () => {
    const { startFront } = await import('./support/s3-server.ts');
    const { serveConsumerHealth } = await import('../src/observability.ts');
    const front = await startFront(server().endpoint);
    const prefix = `outage${Math.random().toString(36).slice(2)}`;
    const direct = new S3BlobStore({ client: server().client(), bucket: BUCKET, prefix });
    const viaFront = new S3BlobStore({
      client: server().client(front.endpoint),
      bucket: BUCKET,
      prefix,
      retries: 0,
    });
    const producer = await producerFor(direct, 1);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'before', year: 2001 }));
    const consumer = await Consumer.open({
      store: viaFront,
      namespace: 'movies',
      minIntervalMs: 10,
      maxIntervalMs: 60,
      jitter: 0,
    });
    const health = await serveConsumerHealth(consumer, { port: 0, maxStalenessMs: 100 });
    const watchErrors: string[] = [];
    consumer.on('watch:error', (e) => watchErrors.push(e.code));
    front.outage(true);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'after', year: 2001 }));
    await until(() => watchErrors.length >= 3, 10_000, 'errors during the outage');
    expect(consumer.state.type('Movie').get(1)?.title).toBe('before');
    const status = (await (await fetch(`${health.url}/status`)).json()) as { lastError: { code: string } };
    expect(status.lastError.code).toBe('STORE_UNAVAILABLE');
    front.outage(false);
    await until(() => consumer.version === producer.version, 10_000, 'catching up');
    expect(consumer.state.type('Movie').get(1)?.title).toBe('after');
    expect((await fetch(`${health.url}/readyz`)).status).toBe(200);
    await health.close();
    await consumer.close();
    await producer.close();
    await front.close();
  });
});
