/**
 * The metrics the shipped alerts and dashboard read beyond the basic ones, as a real producer
 * and consumer serve them on `/metrics`: failures in a row and errors by code, the producer
 * pushing back now, the consumer's lag (which a pin on its pin does not count) and its
 * announcement's time, and the process's memory with its limits.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { Consumer, FsBlobStore, Producer, StoreAnnouncer, t } from '../src/index.ts';
import { serveConsumerHealth, serveProducerHealth } from '../src/observability.ts';
import { until } from './support/wait.ts';

const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-alert-metrics-'));
  dirs.push(d);
  return d;
};

/** The samples of `name` in a `/metrics` text, by their label part (`''` for none). */
/** A filesystem store in a temp dir, and a producer that has published one record as `v1`. */
async function firstVersion() {
  const dir = await tempDir();
  const store = new FsBlobStore({ dir: join(dir, 'store'), fsync: false });
  const producer = await Producer.open({
    store,
    namespace: 'movies',
    schema,
    walDir: join(dir, 'wal'),
    fsync: false,
    cycleThread: 'main',
  });
  await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one' }));
  return { dir, store, producer, v1: producer.version! };
}

async function scrape(url: string, name: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) {
    out[m[1] ?? ''] = Number(m[2]);
  }
  return out;
}

describe('producer metrics for the alerts', () => {
  it('count failed cycles in a row and errors by stage and code, and say while it pushes back', async () => {
    const dir = await tempDir();
    let failPublish = false;
    let gate: Promise<void> | undefined;
    const producer = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'store'), fsync: false }),
      namespace: 'movies',
      schema,
      walDir: join(dir, 'wal'),
      fsync: false,
      cycleThread: 'main',
      highWatermark: 4,
      lowWatermark: 1,
      maxBatchDelayMs: 60_000,
      publishRetries: 0,
      beforeStage: async (s) => {
        if (s !== 'publish') return;
        await gate;
        if (failPublish) throw new Error('store down (injected)');
      },
    });
    await using health = await serveProducerHealth(producer);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one' }));
    expect(await scrape(health.url, 'shoal_producer_cycle_failures_in_a_row')).toEqual({ '': 0 });
    expect(await scrape(health.url, 'shoal_producer_errors_total')).toEqual({});

    failPublish = true;
    for (const title of ['two', 'three']) {
      await expect(producer.runCycle((w) => w.add('Movie', { id: 1, title }))).rejects.toMatchObject({
        code: 'CYCLE_FAILED',
      });
    }
    const code = health.metrics.status().lastCycle!.error!.split(':')[0]!;
    expect(await scrape(health.url, 'shoal_producer_cycle_failures_in_a_row')).toEqual({ '': 2 });
    expect(await scrape(health.url, 'shoal_producer_errors_total')).toEqual({
      [`{stage="publish",code="${code}"}`]: 2,
    });
    failPublish = false;
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'four' }));
    expect(await scrape(health.url, 'shoal_producer_cycle_failures_in_a_row')).toEqual({ '': 0 });

    // A publish held up: upserts past the high watermark wait, and the gauge says so until
    // the batch is published.
    let release!: () => void;
    gate = new Promise<void>((r) => (release = r));
    for (let id = 10; id < 14; id++) await producer.upsert('Movie', { id, title: `m${id}` });
    void producer.flush();
    const waiting = producer.upsert('Movie', { id: 20, title: 'waits' });
    await until(() => health.metrics.status().pending >= 4, 5000, 'the batch pending');
    expect(await scrape(health.url, 'shoal_producer_backpressure_active')).toEqual({ '': 1 });
    release();
    await waiting;
    expect(await scrape(health.url, 'shoal_producer_backpressure_active')).toEqual({ '': 0 });
    expect(await scrape(health.url, 'shoal_producer_backpressure_total')).toEqual({ '': 1 });
    await producer.close();
  });
});

describe('consumer metrics for the alerts', () => {
  it('grow the lag while behind an announced version it cannot load, and count its errors by code', async () => {
    const { store, producer, v1 } = await firstVersion();
    await producer.close();
    await using consumer = await Consumer.open({
      store,
      namespace: 'movies',
      fallbackPollMs: 20,
      retryDelayMs: 5,
      maxRetryDelayMs: 20,
    });
    await using health = await serveConsumerHealth(consumer);
    const announcer = new StoreAnnouncer({ store, namespace: 'movies' });
    const real = (await announcer.read())!;
    expect(await scrape(health.url, 'shoal_consumer_lag_seconds')).toEqual({ '': 0 });
    expect(await scrape(health.url, 'shoal_consumer_announced_timestamp_seconds')).toEqual({
      '': real.announcedAt / 1000,
    });

    const announcedAt = Date.now();
    await announcer.announce({ version: v1 + 1000, announcedAt, producer: 'bogus', replaces: v1 });
    await until(() => health.metrics.status().failuresInARow >= 3, 5000, 'three failed refreshes');
    await new Promise((r) => setTimeout(r, 300));
    const lag = (await scrape(health.url, 'shoal_consumer_lag_seconds'))['']!;
    expect(lag).toBeGreaterThanOrEqual(0.3);
    expect(lag).toBeLessThan(10);
    expect((await scrape(health.url, 'shoal_consumer_refresh_failures_in_a_row'))['']).toBeGreaterThanOrEqual(
      3,
    );
    expect(await scrape(health.url, 'shoal_consumer_announced_timestamp_seconds')).toEqual({
      '': announcedAt / 1000,
    });
    const errors = await scrape(health.url, 'shoal_consumer_errors_total');
    expect(Object.keys(errors)).toEqual(['{where="refresh",code="BLOB_NOT_FOUND"}']);
    expect(errors['{where="refresh",code="BLOB_NOT_FOUND"}']).toBeGreaterThanOrEqual(3);

    // Put back: on its version again, the lag and the run of failures end at once.
    await announcer.announce({ ...real, announcedAt: Date.now(), replaces: v1 + 1000 });
    await until(() => health.metrics.status().behindSince === undefined, 5000, 'back on target');
    expect(await scrape(health.url, 'shoal_consumer_lag_seconds')).toEqual({ '': 0 });
    expect(await scrape(health.url, 'shoal_consumer_refresh_failures_in_a_row')).toEqual({ '': 0 });
  });

  it('report no lag for a consumer serving its own pin while newer versions are announced', async () => {
    const { store, producer, v1 } = await firstVersion();
    await using consumer = await Consumer.open({ store, namespace: 'movies', pin: v1, fallbackPollMs: 20 });
    await using health = await serveConsumerHealth(consumer);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'two' }));
    const v2 = producer.version!;
    await until(() => consumer.announcement?.version === v2, 5000, 'v2 seen');
    await new Promise((r) => setTimeout(r, 100));
    expect(await scrape(health.url, 'shoal_consumer_version')).toEqual({ '': v1 });
    expect(await scrape(health.url, 'shoal_consumer_lag_seconds')).toEqual({ '': 0 });
    await producer.close();
  });
});

describe('process metrics', () => {
  it('serve memory, heap and their limits, or leave them to a registry that has the defaults', async () => {
    const dir = await tempDir();
    const producer = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'store'), fsync: false }),
      namespace: 'movies',
      schema,
      walDir: join(dir, 'wal'),
      fsync: false,
    });
    {
      await using health = await serveProducerHealth(producer);
      expect(await scrape(health.url, 'shoal_heap_limit_bytes')).toEqual({
        '': getHeapStatistics().heap_size_limit,
      });
      const limit = (await scrape(health.url, 'shoal_memory_limit_bytes'))['']!;
      expect(limit).toBeGreaterThan(0);
      expect(limit).toBeLessThanOrEqual(totalmem());
      const rss = (await scrape(health.url, 'process_resident_memory_bytes'))['']!;
      expect(rss).toBeGreaterThan(10 * 1024 * 1024);
      expect(rss).toBeLessThan(limit);
      expect((await scrape(health.url, 'nodejs_heap_size_used_bytes'))['']).toBeGreaterThan(0);
    }
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    await using health = await serveProducerHealth(producer, { registry, processMetrics: false });
    expect(await scrape(health.url, 'shoal_heap_limit_bytes')).toEqual({});
    expect(Object.keys(await scrape(health.url, 'process_resident_memory_bytes'))).toEqual(['']);
    await producer.close();
  });
});
