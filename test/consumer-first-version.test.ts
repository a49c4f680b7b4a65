/**
 * A consumer started before its data: created and served over real HTTP while nothing is
 * announced, it waits (not ready), loads the first version a producer publishes, and counts
 * that load in its metrics and status. On the filesystem and on s3rver.
 */
import { describe, expect, it } from 'vitest';
import { type BlobStore, Consumer, NamespaceLayout, Producer, t } from '../src/index.ts';
import type { ConsumerStatus } from '../src/observability/consumer-metrics.ts';
import { serveConsumerHealth } from '../src/observability.ts';
import { get, metric } from './support/http.ts';
import { useStores } from './support/stores.ts';
import { until } from './support/wait.ts';

const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const { tempDir, stores } = useStores('first-version');
// Quick polls, so that s3rver's watcher sees the first announcement within the test's time.
const polls = { minIntervalMs: 10, maxIntervalMs: 50, fallbackPollMs: 50 } as const;

const producerFor = async (store: BlobStore, namespace = 'movies') =>
  Producer.open({ store, namespace, schema, walDir: await tempDir(), fsync: false, cycleThread: 'main' });

describe.each(stores)('a consumer started before its producer, on $name', ({ make }) => {
  it('is not ready while it waits, loads the first version published, and counts that load', async () => {
    const store = await make();
    const other = await producerFor(store, 'series');
    await other.runCycle((w) => w.add('Movie', { id: 9, title: 'elsewhere' }));
    const consumer = Consumer.create({
      store,
      namespace: 'movies',
      schema,
      waitForFirstVersion: { timeoutMs: 60_000 },
      ...polls,
    });
    const waiting: { namespace: string; namespaces: readonly string[] | undefined }[] = [];
    consumer.on('waiting', (e) => waiting.push(e));
    await using health = await serveConsumerHealth(consumer, { port: 0 });
    const started = consumer.start();
    await until(() => waiting.length > 0, 10_000, 'the waiting event');
    expect(waiting).toEqual([{ namespace: 'movies', since: expect.any(Number), namespaces: ['series'] }]);
    expect(await get(`${health.url}/readyz`)).toEqual({
      status: 503,
      text: 'not ready: waiting for the first version of namespace "movies": nothing is announced there yet\n',
    });
    expect((await get(`${health.url}/healthz`)).status).toBe(200);
    const before = JSON.parse((await get(`${health.url}/status`)).text) as ConsumerStatus;
    expect(before).toMatchObject({ namespace: 'movies', version: null, lagMs: null, counts: {}, bytes: 0 });
    expect(before.waitingSince).toBeGreaterThan(0);
    expect(before.lastRefresh).toBeUndefined();
    // How long it has waited, read at the scrape (what ShoalConsumerWaitingForFirstVersion reads).
    await new Promise((r) => setTimeout(r, 50));
    const waited = metric(
      (await get(`${health.url}/metrics`)).text,
      'shoal_consumer_waiting_for_first_version_seconds',
    );
    expect(waited).toBeGreaterThanOrEqual(0.05);
    expect(waited).toBeLessThanOrEqual((Date.now() - before.waitingSince!) / 1000);
    expect(consumer.loaded).toBe(false);
    expect(() => consumer.state).toThrow(expect.objectContaining({ code: 'NOT_LOADED' }));

    const producer = await producerFor(store);
    await producer.runCycle((w) => {
      w.add('Movie', { id: 1, title: 'One' });
      w.add('Movie', { id: 2, title: 'Two' });
    });
    expect(await started).toBe(consumer);
    expect(consumer.version).toBe(producer.version);
    expect([...consumer.state.type('Movie')].map((v) => v.toObject())).toEqual([
      { id: 1, title: 'One' },
      { id: 2, title: 'Two' },
    ]);
    expect(await get(`${health.url}/readyz`)).toEqual({ status: 200, text: 'ready\n' });
    const snapshotSize = (await store.head(new NamespaceLayout('movies').snapshot(producer.version!))).size;
    const metrics = (await get(`${health.url}/metrics`)).text;
    expect(metric(metrics, 'shoal_consumer_refreshes_total{outcome="success",kind="snapshot"}')).toBe(1);
    expect(snapshotSize).toBeGreaterThan(0);
    expect(metric(metrics, 'shoal_consumer_bytes_fetched_total')).toBe(snapshotSize);
    expect(metric(metrics, 'shoal_consumer_version')).toBe(producer.version);
    expect(metric(metrics, 'shoal_consumer_waiting_for_first_version_seconds')).toBe(0);
    const after = JSON.parse((await get(`${health.url}/status`)).text) as ConsumerStatus;
    expect(after).toMatchObject({
      version: producer.version,
      announcedVersion: producer.version,
      counts: { Movie: 2 },
      lastRefresh: { to: producer.version, kind: 'snapshot' },
    });
    expect(after.waitingSince).toBeUndefined();

    // And it follows the producer from there, as any consumer does.
    await producer.runCycle((w) => w.add('Movie', { id: 3, title: 'Three' }));
    await until(() => consumer.version === producer.version, 10_000, 'the next version');
    expect(consumer.state.type('Movie').get(3)?.title).toBe('Three');
    await consumer.close();
    await producer.close();
    await other.close();
  }, 60_000);

  it('Consumer.open resolves with the first version when told to wait, even without watching', async () => {
    const store = await make();
    const opening = Consumer.open({
      store,
      namespace: 'movies',
      waitForFirstVersion: true,
      watch: false,
      ...polls,
    });
    const producer = await producerFor(store);
    await producer.runCycle((w) => w.add('Movie', { id: 7, title: 'Seven' }));
    await using consumer = await opening;
    expect(consumer.version).toBe(producer.version);
    expect(consumer.state.type('Movie').get(7)?.toObject()).toEqual({ id: 7, title: 'Seven' });
    expect(consumer.lastRefresh).toMatchObject({ from: undefined, to: producer.version, kind: 'snapshot' });
    await producer.close();
  }, 30_000);

  it('gives up with NO_VERSION_ANNOUNCED after its timeout, naming the namespace and the namespaces there', async () => {
    const store = await make();
    const other = await producerFor(store, 'movies');
    await other.runCycle((w) => w.add('Movie', { id: 1, title: 'One' }));
    const consumer = Consumer.create({
      store,
      namespace: 'moviez',
      waitForFirstVersion: { timeoutMs: 200 },
      ...polls,
    });
    const started = Date.now();
    await expect(consumer.start()).rejects.toMatchObject({
      code: 'NO_VERSION_ANNOUNCED',
      message:
        'nothing was announced in namespace "moviez" within 200 ms (namespaces announced in this store: movies). Check the namespace and that its producer runs, or wait longer.',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    // A consumer whose start failed is closed.
    await expect(consumer.closed()).resolves.toBeUndefined();
    await other.close();
  });

  it('stops waiting with ABORTED when its signal aborts, and with CLOSED when closed', async () => {
    const store = await make();
    const stop = new AbortController();
    const aborted = Consumer.open({
      store,
      namespace: 'movies',
      waitForFirstVersion: true,
      signal: stop.signal,
      ...polls,
    });
    setTimeout(() => stop.abort(new Error('shutting down')), 100);
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED', cause: new Error('shutting down') });

    const consumer = Consumer.create({ store, namespace: 'movies', waitForFirstVersion: true, ...polls });
    const start = consumer.start();
    await until(() => consumer.waitingSince !== undefined, 5000, 'waiting');
    await consumer.close();
    await expect(start).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('waiting for a first version: options and late metrics', () => {
  it('refuses a bad waitForFirstVersion, naming the option', async () => {
    const store = await stores[0]!.make();
    expect(() =>
      Consumer.create({ store, namespace: 'movies', waitForFirstVersion: { timeoutMs: 0 } }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message: expect.stringContaining('waitForFirstVersion.timeoutMs must be a positive number'),
      }),
    );
    // Past what a timer holds, Node would fire the timeout at once.
    expect(() =>
      Consumer.create({ store, namespace: 'movies', waitForFirstVersion: { timeoutMs: 600 * 3_600_000 } }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        message:
          'waitForFirstVersion.timeoutMs is at most 2147483647 (about 24.8 days, what a timer holds; leave it out to wait without a limit), got 2160000000',
      }),
    );
  });

  it('metrics attached to a consumer already open count its first load', async () => {
    const store = await stores[0]!.make();
    const producer = await producerFor(store);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'One' }));
    await using consumer = await Consumer.open({ store, namespace: 'movies', watch: false });
    await using health = await serveConsumerHealth(consumer, { port: 0 });
    const size = (await store.head(new NamespaceLayout('movies').snapshot(producer.version!))).size;
    const metrics = (await get(`${health.url}/metrics`)).text;
    expect(metric(metrics, 'shoal_consumer_refreshes_total{outcome="success",kind="snapshot"}')).toBe(1);
    expect(metric(metrics, 'shoal_consumer_bytes_fetched_total')).toBe(size);
    const status = JSON.parse((await get(`${health.url}/status`)).text) as ConsumerStatus;
    expect(status.lastRefresh).toMatchObject({ to: producer.version, kind: 'snapshot' });
    await producer.close();
  });
});
