/**
 * Version labels and metadata, on the filesystem and on s3rver: what a producer attaches is in
 * the version header, comes back on the consumer (its events, `/status` over HTTP), and names
 * a version for `refreshTo` and `pin`; malformed input and crafted headers are refused.
 */
import { describe, expect, it } from 'vitest';
import { msgpack } from '../src/format/msgpack.ts';
import {
  type BlobStore,
  Consumer,
  type CycleWriter,
  decodeVersionHeader,
  encodeVersionHeader,
  isShoalError,
  NamespaceLayout,
  Producer,
  parseVersionRef,
  type RefreshEvent,
  readSnapshotHeader,
  readVersionHeader,
  t,
  type VersionHeader,
} from '../src/index.ts';
import type { ConsumerStatus } from '../src/observability/consumer-metrics.ts';
import { serveConsumerHealth } from '../src/observability.ts';
import { recordsOf } from './support/load.ts';
import { useStores } from './support/stores.ts';

const { stores, tempDir } = useStores('labels');
const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const NS = 'movies';

async function openProducer(store: BlobStore) {
  return Producer.open({ store, namespace: NS, schema, walDir: await tempDir(), fsync: false });
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isShoalError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe.each(stores)('labels and metadata on the $name store', ({ make }) => {
  it('travel from producer to header to consumer, and name versions for refreshTo and pin', async () => {
    const store = await make();
    await using producer = await openProducer(store);
    const announced: { version: number; label?: string }[] = [];
    producer.on('announced', (e) =>
      announced.push({ version: e.version, ...(e.label ? { label: e.label } : {}) }),
    );
    const first = await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'One' }), {
      label: '3.1.5',
      metadata: { commit: 'abc123', source: 'releases/3.1.5.tar.gz' },
    });
    expect(first).toMatchObject({ outcome: 'published', label: '3.1.5', metadata: { commit: 'abc123' } });
    const v1 = producer.version!;
    await producer.upsert('Movie', { id: 2, title: 'Two' });
    const second = await producer.flush({ label: '3.1.6' });
    expect(second).toMatchObject({ outcome: 'published', label: '3.1.6', metadata: {} });
    const v2 = producer.version!;
    // Unlabelled: a version cut by a plain flush carries nothing.
    await producer.upsert('Movie', { id: 3, title: 'Three' });
    await producer.flush();
    const v3 = producer.version!;
    expect(announced).toEqual([
      { version: v1, label: '3.1.5' },
      { version: v2, label: '3.1.6' },
      { version: v3 },
    ]);

    const layout = new NamespaceLayout(NS);
    expect(await readVersionHeader(store, layout, v1)).toMatchObject({
      label: '3.1.5',
      metadata: { commit: 'abc123', source: 'releases/3.1.5.tar.gz' },
    });
    expect(readSnapshotHeader(await store.get(layout.snapshot(v1)))).toMatchObject({ label: '3.1.5' });
    const h3 = await readVersionHeader(store, layout, v3);
    expect('label' in h3 || 'metadata' in h3).toBe(false);

    await using consumer = await Consumer.open({ store, namespace: NS, watch: false });
    expect([consumer.version, consumer.label, consumer.metadata]).toEqual([v3, undefined, {}]);
    const events: RefreshEvent[] = [];
    consumer.on('refresh', (e) => events.push(e));
    await using health = await serveConsumerHealth(consumer);
    const status = async () => (await (await fetch(`${health.url}/status`)).json()) as ConsumerStatus;
    expect(await status()).toMatchObject({ version: v3, metadata: {} });
    expect('label' in (await status())).toBe(false);

    await consumer.refreshTo('3.1.5');
    expect([consumer.version, consumer.pin, consumer.label]).toEqual([v1, v1, '3.1.5']);
    expect(recordsOf(consumer.state, 'Movie')).toEqual([{ id: 1, title: 'One' }]);
    expect(events.at(-1)).toMatchObject({
      from: v3,
      to: v1,
      label: '3.1.5',
      metadata: { commit: 'abc123', source: 'releases/3.1.5.tar.gz' },
    });
    expect(await status()).toMatchObject({
      version: v1,
      pinned: v1,
      label: '3.1.5',
      metadata: { commit: 'abc123', source: 'releases/3.1.5.tar.gz' },
    });
    await consumer.refreshTo(String(v2)); // all digits: a version
    expect([consumer.version, consumer.label]).toEqual([v2, '3.1.6']);

    const unknown = await rejection(consumer.refreshTo('9.9.9'));
    expect(unknown.code).toBe('UNKNOWN_LABEL');
    expect(unknown.message).toContain('"9.9.9"');
    expect(unknown.message).toContain(`searched 3 version(s) back from the announced ${v3}`);
    expect(consumer.version).toBe(v2);

    await using pinned = await Consumer.open({ store, namespace: NS, watch: false, pin: '3.1.5' });
    expect([pinned.version, pinned.pin, pinned.label]).toEqual([v1, v1, '3.1.5']);
    expect((await rejection(Consumer.open({ store, namespace: NS, watch: false, pin: 'nope' }))).code).toBe(
      'UNKNOWN_LABEL',
    );
  });

  it('finds the newest version carrying a label', async () => {
    const store = await make();
    await using producer = await openProducer(store);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'a' }), { label: 'nightly' });
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'b' }), { label: 'nightly' });
    const newest = producer.version!;
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'c' }));
    await using consumer = await Consumer.open({ store, namespace: NS, watch: false, pin: 'nightly' });
    expect(consumer.version).toBe(newest);
    expect(recordsOf(consumer.state, 'Movie')).toEqual([{ id: 1, title: 'b' }]);
  });
});

describe('what a producer may attach', () => {
  it('refuses a malformed label or metadata with INVALID_OPTION naming it, and publishes nothing', async () => {
    const { make } = stores[0]!;
    const store = await make();
    await using producer = await openProducer(store);
    const add = (w: CycleWriter<typeof schema>) => {
      w.add('Movie', { id: 1, title: 'One' });
    };
    const cases: [unknown, RegExp][] = [
      [{ label: '' }, /^label is empty\. A label is 1 to 128 characters/],
      [{ label: 'a\nb' }, /^label holds a control character/],
      [{ label: 'x'.repeat(129) }, /^label is 129 characters long \(at most 128\)/],
      [{ label: 315 }, /^label is not a string \(number\)/],
      [{ metadata: { build: 7 } }, /^metadata\["build"\] is not a string \(number\)/],
      [{ metadata: ['a'] }, /^metadata is not an object of strings/],
      [{ metadata: { big: 'v'.repeat(9000) } }, /^metadata holds more than 8192 bytes/],
      [
        { metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) },
        /^metadata has more than 64 entries/,
      ],
    ];
    for (const [about, message] of cases) {
      const e = await rejection(producer.runCycle(add, about as never));
      expect([e.code, e.message]).toEqual(['INVALID_OPTION', expect.stringMatching(message)]);
    }
    await producer.upsert('Movie', { id: 1, title: 'One' });
    const e = await rejection(producer.flush({ label: '\u0007' }));
    expect([e.code, e.message]).toEqual(['INVALID_OPTION', expect.stringMatching(/^label holds a control/)]);
    expect(producer.version).toBeUndefined();
    expect(await store.list(`${NS}/header/`)).toEqual([]);
  });

  it('tells labels from versions: digits are a version, label: forces a label', () => {
    expect(parseVersionRef(17, 'pin')).toEqual({ version: 17 });
    expect(parseVersionRef('17', 'pin')).toEqual({ version: 17 });
    expect(parseVersionRef('label:17', 'pin')).toEqual({ label: '17' });
    expect(parseVersionRef('3.1.5', 'pin')).toEqual({ label: '3.1.5' });
    for (const bad of [-1, 1.5, '', 'label:']) {
      expect(() => parseVersionRef(bad, 'refreshTo')).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('refreshTo') }),
      );
    }
  });
});

describe('version headers', () => {
  const base: VersionHeader = {
    version: 5,
    tag: 1n,
    checksum: 2n,
    snapshot: 5,
    bytes: { snapshot: 10 },
    counts: { Movie: 1 },
    publishedAt: 1_700_000_000_000,
    producer: 'p',
  };

  it('reads an old header without label or metadata', async () => {
    // The fields of a header as written before labels existed, packed on their own.
    const old = msgpack.pack({ ...base });
    const h = decodeVersionHeader(old, 'h');
    expect(h.label).toBeUndefined();
    expect(h.metadata).toBeUndefined();
    expect(
      decodeVersionHeader(encodeVersionHeader({ ...base, label: '1', metadata: { a: 'b' } }), 'h'),
    ).toMatchObject({ label: '1', metadata: { a: 'b' } });
  });

  it('refuses crafted label or metadata with BLOB_CORRUPT, and a header too large to be one before decoding it', () => {
    const crafted: [Record<string, unknown>, string][] = [
      [{ label: 7 }, 'its label is not a string (number)'],
      [{ label: 'a\u0000b' }, 'its label holds a control character'],
      [{ metadata: { n: 1 } }, 'its metadata["n"] is not a string (number)'],
      [{ metadata: 'x' }, 'its metadata is not an object of strings'],
      [
        { metadata: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v'])) },
        'has more than 64 entries',
      ],
      [{ metadata: { a: 'v'.repeat(100_000) } }, 'holds more than 8192 bytes'],
    ];
    for (const [extra, message] of crafted) {
      expect(() => decodeVersionHeader(msgpack.pack({ ...base, ...extra }), 'ns/header/5')).toThrow(
        expect.objectContaining({ code: 'BLOB_CORRUPT', message: expect.stringContaining(message) }),
      );
    }
    const huge = msgpack.pack({ ...base, metadata: { a: 'v'.repeat(2 * 1024 * 1024) } });
    expect(() => decodeVersionHeader(huge, 'ns/header/5')).toThrow(
      expect.objectContaining({
        code: 'BLOB_CORRUPT',
        message: expect.stringContaining('more than any producer writes'),
      }),
    );
  });

  it('a consumer refuses a version whose header (stored, and carried by the announcement) was crafted', async () => {
    const { make } = stores[0]!;
    const store = await make();
    await using producer = await openProducer(store);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'One' }), { label: 'good' });
    const layout = new NamespaceLayout(NS);
    const key = layout.header(producer.version!);
    const header = decodeVersionHeader(await store.get(key), key);
    await store.delete(key);
    await store.put(key, msgpack.pack({ ...header, metadata: { n: 1 } }));
    const announced = msgpack.unpack(await store.get(layout.announced));
    await store.put(
      layout.announced,
      msgpack.pack({ ...announced, header: { ...header, metadata: { n: 1 } } }),
    );
    const e = await rejection(Consumer.open({ store, namespace: NS, watch: false }));
    expect([e.code, e.message]).toEqual([
      'BLOB_CORRUPT',
      expect.stringContaining('its metadata["n"] is not a string'),
    ]);
  });
});
