/**
 * The push path over a real nats-server (JetStream key-value), the blobs on s3rver: a
 * producer with a `NatsAnnouncer`, a consumer with a `NatsAnnouncementPush` and slow polls, so
 * only the push can bring versions in time. Then nats-server is killed (the consumer falls back
 * to polling the store) and started again (it goes back to the push, and stops polling).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ShoalError } from '../src/errors.ts';
import { type BlobStore, Consumer, Producer as P, type Producer, t } from '../src/index.ts';
import { NatsAnnouncementPush, NatsAnnouncer, natsKey } from '../src/nats.ts';
import { produceExamples, runCli, spawnCli } from './support/cli.ts';
import { CountingStore } from './support/counting-store.ts';
import { type NatsServer, natsSkipReason, startNats } from './support/nats-server.ts';
import { useStores } from './support/stores.ts';
import { until } from './support/wait.ts';

const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const skip = natsSkipReason();
if (skip) console.warn(skip);

const { tempDir, stores } = useStores('nats');
const s3 = stores.find((s) => s.name === 's3')!;
let nats: NatsServer | undefined;
beforeAll(async () => {
  if (!skip) nats = await startNats();
}, 30_000);
afterAll(async () => {
  await nats?.close();
});

/** A producer of `namespace` announcing through `announcer`, with 50 movies published. */
async function publishing(store: BlobStore, namespace: string, announcer: NatsAnnouncer) {
  const producer = await P.open({
    store,
    namespace,
    schema,
    walDir: await tempDir(),
    fsync: false,
    announcer,
  });
  await producer.runCycle((w) => {
    for (let i = 0; i < 50; i++) w.add('Movie', { id: i, title: `movie ${i}` });
  });
  await announcer.flush();
  return producer;
}

const step = async (producer: Producer<typeof schema>, n: number) => {
  await producer.upsert('Movie', { id: n % 50, title: `movie ${n}, cut ${n}` });
  await producer.flush();
};

describe.skipIf(skip !== undefined)('announcements pushed over NATS', () => {
  it('pushes each version at once, falls back to polling the store while NATS is down, and goes back to the push', async () => {
    const inner = await s3.make();
    const errors: ShoalError[] = [];
    const announcer = new NatsAnnouncer({
      store: inner,
      namespace: 'fleet/movies',
      servers: nats!.url,
      reconnectWaitMs: 100,
      onError: (e) => errors.push(e),
    });
    await using producer = await publishing(inner, 'fleet/movies', announcer);

    const store = new CountingStore(inner);
    const push = new NatsAnnouncementPush({ servers: nats!.url, reconnectWaitMs: 100 });
    const states: boolean[] = [];
    // Polls 2 s apart while NATS is down; while it is up, every 5 minutes (pushPollMs): the
    // store's counts show which path brought each version.
    await using consumer = await Consumer.open({
      store,
      namespace: 'fleet/movies',
      push,
      minIntervalMs: 2000,
      maxIntervalMs: 2000,
      recheckMs: 2000,
    });
    consumer.on('watch:push', ({ up }) => states.push(up));
    await until(() => states.at(-1) === true, 10_000, 'the push path up');
    store.reset();
    for (let n = 1; n <= 5; n++) {
      await step(producer, n);
      const t0 = Date.now();
      await until(() => consumer.version === producer.version, 3000, `version ${n} by push`);
      expect(Date.now() - t0).toBeLessThan(3000);
    }
    // Pushed: one delta per version, and not one read of the store's announcement.
    expect(store.counts()).toEqual({ 'get delta': 5 });
    expect(errors).toEqual([]);

    // NATS down: the producer's KV puts fail (the store has the announcements all the same),
    // the consumer polls the store; here quickly, as a short poll interval would.
    await nats!.kill();
    await until(() => states.at(-1) === false, 10_000, 'the push path down');
    store.reset();
    await step(producer, 6);
    await until(() => errors.length > 0, 15_000, 'a failed KV put');
    expect(errors[0]!.code).toBe('PUSH_UNAVAILABLE');
    await until(() => consumer.version === producer.version, 10_000, 'version 6 by polling');
    expect(store.of('get announced')).toBeGreaterThanOrEqual(1);

    // NATS back: the announcer puts the last announcement again, the consumer watches again.
    await nats!.start();
    await until(() => states.at(-1) === true, 15_000, 'the push path up again');
    store.reset();
    for (let n = 7; n <= 9; n++) {
      await step(producer, n);
      await until(() => consumer.version === producer.version, 3000, `version ${n} by push again`);
    }
    expect(store.counts()).toEqual({ 'get delta': 3 });
    expect(states).toEqual([true, false, true]);
    await announcer.close();
    await push.close();
  }, 90_000);

  it('puts an announcement made just after NATS comes back at once, not after the put lost in the outage', async () => {
    const inner = await s3.make();
    const announcer = new NatsAnnouncer({
      store: inner,
      namespace: 'lost/put',
      servers: nats!.url,
      reconnectWaitMs: 100,
    });
    await announcer.announce({ version: 1, announcedAt: Date.now(), producer: 'p' });
    await announcer.flush();
    // Written while disconnected: nats.js drops it at the reconnection, so it never gets an answer.
    await nats!.kill();
    await announcer.announce({ version: 2, replaces: 1, announcedAt: Date.now(), producer: 'p' });
    await nats!.start();
    await announcer.announce({ version: 3, replaces: 2, announcedAt: Date.now(), producer: 'p' });
    const push = new NatsAnnouncementPush({ servers: nats!.url });
    const seen: number[] = [];
    await push.subscribe('lost/put', {
      announcement: (a) => seen.push(a.version),
      state: () => {},
      error: () => {},
    });
    await until(() => seen.includes(3), 2000, 'version 3 in the bucket');
    await announcer.close();
    await push.close();
  }, 30_000);

  it('a pushed version no store holds (a bogus or foreign write to the bucket) does not strand a consumer', async () => {
    const inner = await s3.make();
    const announcer = new NatsAnnouncer({ store: inner, namespace: 'bogus/movies', servers: nats!.url });
    await using producer = await publishing(inner, 'bogus/movies', announcer);
    const push = new NatsAnnouncementPush({ servers: nats!.url });
    const failures: string[] = [];
    await using consumer = await Consumer.open({
      store: inner,
      namespace: 'bogus/movies',
      push,
      minIntervalMs: 200,
      maxIntervalMs: 200,
      retryDelayMs: 50,
    });
    consumer.on('refresh:failure', (f) => failures.push(`${f.target} ${f.error.code}`));
    await until(() => consumer.announcement !== undefined, 5000, 'the first announcement');
    // Another writer puts a far higher version in the bucket; no store holds it.
    const bogus = new NatsAnnouncer({
      store: await s3.make(),
      namespace: 'bogus/movies',
      servers: nats!.url,
    });
    await bogus.announce({ version: 9_999_999_999_999, announcedAt: Date.now(), producer: 'elsewhere' });
    await bogus.close();
    await until(() => failures.length > 0, 5000, 'the bogus version tried');
    expect(failures[0]).toBe('9999999999999 BLOB_NOT_FOUND');
    // The store is the truth: the consumer reads it again, and follows the real versions.
    for (let n = 1; n <= 3; n++) {
      await step(producer, n);
      await until(() => consumer.version === producer.version, 5000, `real version ${n}`);
    }
    expect(consumer.state.type('Movie').get(3)?.toObject()).toEqual({ id: 3, title: 'movie 3, cut 3' });
    await push.close();
  }, 30_000);

  it('closes at once while NATS cannot be reached, telling why it could not connect', async () => {
    // A port nothing listens on, and one that accepts and never answers.
    const silent = await import('node:net').then(
      (net) =>
        new Promise<import('node:net').Server>((resolve) => {
          const server = net.createServer(() => {});
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    );
    const port = (silent.address() as import('node:net').AddressInfo).port;
    for (const servers of ['nats://127.0.0.1:1', `nats://127.0.0.1:${port}`]) {
      const errors: ShoalError[] = [];
      const announcer = new NatsAnnouncer({
        store: await s3.make(),
        namespace: 'down',
        servers,
        reconnectWaitMs: 50,
        onError: (e) => errors.push(e),
      });
      await announcer.announce({ version: 1, announcedAt: Date.now(), producer: 'p' });
      const push = new NatsAnnouncementPush({ servers, reconnectWaitMs: 50 });
      const pushErrors: ShoalError[] = [];
      await push.subscribe('down', {
        announcement: () => {},
        state: () => {},
        error: (e) => pushErrors.push(e),
      });
      if (servers.endsWith(':1')) {
        await until(() => errors.length > 0 && pushErrors.length > 0, 5000, 'the refused connections told');
        expect([errors[0]!.code, pushErrors[0]!.code]).toEqual(['PUSH_UNAVAILABLE', 'PUSH_UNAVAILABLE']);
      }
      const started = Date.now();
      await announcer.close(100);
      await push.close();
      expect(Date.now() - started).toBeLessThan(1000);
    }
    silent.close();
  }, 30_000);

  it('shoal produce and shoal consume exit when done, whatever a silent NATS server holds open', async () => {
    const net = await import('node:net');
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const nats = `nats://127.0.0.1:${(silent.address() as import('node:net').AddressInfo).port}`;
    const store = await tempDir();
    const started = Date.now();
    const produced = await runCli(produceExamples('--store', store, '--nats', nats));
    expect(produced.code).toBe(0);
    expect(produced.stdout).toContain('"event":"published"');
    expect(Date.now() - started).toBeLessThan(10_000);
    const child = spawnCli([
      'consume',
      '--store',
      store,
      '--namespace',
      'movies',
      '--nats',
      nats,
      '--port',
      '0',
    ]);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await until(() => stderr.includes('no answer from'), 15_000, 'the silent server reported');
    expect(stderr).toContain('PUSH_UNAVAILABLE');
    child.kill('SIGTERM');
    const stopped = Date.now();
    expect(await exited).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(5000);
    silent.close();
  }, 60_000);

  it('keeps namespaces apart in one bucket, under keys NATS accepts', async () => {
    expect(natsKey('prod/movies')).toBe('prod/movies');
    expect(natsKey('a.b/c+d@e=f')).toBe('a=2Eb/c=2Bd=40e=3Df');
    const inner = await s3.make();
    const announce = async (namespace: string, version: number) => {
      const a = new NatsAnnouncer({ store: inner, namespace, servers: nats!.url });
      await a.announce({ version, announcedAt: Date.now(), producer: 'p' });
      await a.close();
    };
    await announce('x.y', 5);
    await announce('x+y', 6);
    const push = new NatsAnnouncementPush({ servers: nats!.url });
    const seen: Record<string, number[]> = { 'x.y': [], 'x+y': [] };
    for (const ns of Object.keys(seen)) {
      await push.subscribe(ns, {
        announcement: (a) => seen[ns]!.push(a.version),
        state: () => {},
        error: () => {},
      });
    }
    await until(() => seen['x.y']!.length > 0 && seen['x+y']!.length > 0, 10_000, 'both last values');
    expect(seen).toEqual({ 'x.y': [5], 'x+y': [6] });
    await push.close();
  }, 30_000);
});
