/**
 * Consumer figures: announce → served latency with the filesystem watcher, the consumer's
 * refresh for a 1% change, bytes held per record, and random lookups in a worker thread on the
 * shared state against the main thread's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Consumer, FsBlobStore, Producer } from '../src/index.ts';
import { ms, prng, type Row, ratio, table, verdict } from './harness.ts';
import { changeSet, type MovieRecord, movieSchema, movies } from './movies.ts';

export async function consumerBench(n: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-consumer-'));
  try {
    const store = new FsBlobStore({ dir: join(dir, 'store') });
    const producer = await Producer.open({
      store,
      namespace: 'movies',
      schema: movieSchema,
      walDir: join(dir, 'wal'),
      snapshotEvery: 1000,
    });
    const records = movies(n);
    await producer.runCycle((w) => {
      for (const r of records) w.add('Movie', r);
    });
    const consumer = await Consumer.open({
      store,
      namespace: 'movies',
      schema: movieSchema,
      sharedMemory: true,
    });
    const bytesPerRecord = consumer.state.byteLength / n;

    // Announce → served: one small change at a time; time from the announcement to the swap.
    let announcedAt = 0;
    producer.on('announced', () => {
      announcedAt = performance.now();
    });
    const latencies: number[] = [];
    for (let k = 0; k < 15; k++) {
      const served = new Promise<number>((resolve) => {
        const off = consumer.on('refresh', () => {
          off();
          resolve(performance.now() - announcedAt);
        });
      });
      await producer.upsert('Movie', { ...records[k]!, title: `changed ${k}` });
      await producer.flush();
      latencies.push(await served);
    }
    latencies.sort((a, b) => a - b);

    // A 1% change: the consumer's refresh (fetch the delta, apply, verify, swap).
    const change = changeSet(n, 1, 3);
    const refreshed = new Promise<number>((resolve) => {
      const off = consumer.on('refresh', (e) => {
        off();
        resolve(e.durationMs);
      });
    });
    for (const r of change.modified) void producer.upsert('Movie', r);
    for (const id of change.removed) void producer.delete('Movie', id);
    for (const r of change.added) void producer.upsert('Movie', r);
    await producer.flush();
    const refreshMs = await refreshed;

    // Lookups: the main thread against a worker reading the same memory.
    const random = prng(7);
    const keys = new Int32Array(1_000_000);
    for (let i = 0; i < keys.length; i++) keys[i] = (records[Math.floor(random() * n)] as MovieRecord).id;
    const existing = new Set(change.removed);
    for (let i = 0; i < keys.length; i++) if (existing.has(keys[i]!)) keys[i] = records[0]!.id;
    const movieType = consumer.state.type('Movie');
    let sum = 0;
    for (let i = 0; i < 100_000; i++) sum += movieType.get(keys[i]!)!.year;
    let start = performance.now();
    for (let i = 0; i < keys.length; i++) sum += movieType.get(keys[i]!)!.year;
    const mainPerSecond = (keys.length / (performance.now() - start)) * 1000;
    const worker = new Worker(new URL('../src/ts-worker.mjs', import.meta.url), {
      workerData: {
        handle: consumer.share(),
        keys,
        script: pathToFileURL(join(import.meta.dirname, '../test/fixtures/lookup-worker.ts')).href,
      },
    });
    start = performance.now();
    const { perSecond: workerPerSecond } = await new Promise<{ perSecond: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    void sum;
    await consumer.close();
    await producer.close();

    const p50 = latencies[Math.floor(latencies.length / 2)]!;
    const rows: Row[] = [
      [
        'announce → served (filesystem watcher), p50',
        ms(p50),
        `p95 ${ms(latencies[Math.floor(latencies.length * 0.95)]!)}`,
        verdict(p50 <= 50, '≤ 50 ms'),
      ],
      [
        `refresh for a 1% change (${n.toLocaleString('en')} records)`,
        ms(refreshMs),
        'fetch + apply + verify + swap',
        '(Hollow 58 / 199 ms apply)',
      ],
      ['bytes held per record', `${bytesPerRecord.toFixed(1)} B`, '', '(Hollow 44.9 + 5.3 index)'],
      [
        'lookups/s, main thread (get + one field)',
        `${Math.round(mainPerSecond).toLocaleString('en')}`,
        ratio(1),
      ],
      [
        'lookups/s, worker on the shared state',
        `${Math.round(workerPerSecond).toLocaleString('en')}`,
        ratio(workerPerSecond / mainPerSecond),
        '(no copy: same memory)',
      ],
    ];
    table(`Consumer: ${n.toLocaleString('en')} Movie records`, rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
