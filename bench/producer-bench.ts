/**
 * Producer figures: upsert throughput into the batching producer (write-ahead log fsynced in
 * groups), the first cycle of the dataset to the filesystem store, and 1% cycles (re-stated
 * whole, and as upserts) as ratios to the first.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBlobStore, Producer } from '../src/index.ts';
import { ms, type Row, ratio, table, verdict } from './harness.ts';
import { changeSet, movie, movieSchema, movies } from './movies.ts';

export async function producerBench(n: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-producer-'));
  try {
    // Upsert throughput: a batching producer, fsync on, callers with many upserts in flight.
    const up = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'up') }),
      namespace: 'movies',
      schema: movieSchema,
      walDir: join(dir, 'wal-up'),
      maxBatchRecords: 100_000,
      highWatermark: 2_000_000,
    });
    const total = Math.min(n, 500_000);
    const window = 10_000;
    let start = performance.now();
    for (let i = 0; i < total; i += window) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(total, i + window); j++) batch.push(up.upsert('Movie', movie(j)));
      await Promise.all(batch);
    }
    const upsertMs = performance.now() - start;
    await up.close();
    const perSecond = (total / upsertMs) * 1000;

    // Cycles to the filesystem store.
    const records = movies(n);
    const p = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'cycles') }),
      namespace: 'movies',
      schema: movieSchema,
      walDir: join(dir, 'wal-cycles'),
    });
    start = performance.now();
    await p.runCycle((w) => {
      for (const r of records) w.add('Movie', r);
    });
    const firstMs = performance.now() - start;
    const change = changeSet(n, 1);
    const modified = new Map(change.modified.map((r) => [r.id, r]));
    const removed = new Set(change.removed);
    start = performance.now();
    await p.runCycle((w) => {
      for (const r of records) if (!removed.has(r.id)) w.add('Movie', modified.get(r.id) ?? r);
      for (const r of change.added) w.add('Movie', r);
    });
    const restateMs = performance.now() - start;
    const second = changeSet(n, 1, 2);
    start = performance.now();
    for (const r of second.modified) void p.upsert('Movie', r);
    for (const id of second.removed) void p.delete('Movie', id);
    for (const r of second.added) void p.upsert('Movie', r);
    await p.flush();
    const upsertCycleMs = performance.now() - start;
    await p.close();
    const rows: Row[] = [
      [
        'upsert throughput (fsynced WAL, 10k in flight)',
        `${Math.round(perSecond).toLocaleString('en')} records/s`,
        `${total.toLocaleString('en')} upserts in ${ms(upsertMs)}`,
        verdict(perSecond >= 500_000, '≥ 500k/s'),
      ],
      [
        `first cycle: ${n.toLocaleString('en')} records → filesystem`,
        ms(firstMs),
        ratio(1),
        '(Hollow 4.1–4.7 s)',
      ],
      ['1% cycle, dataset re-stated whole', ms(restateMs), ratio(restateMs / firstMs), '(Hollow 2.8–4.0 s)'],
      ['1% cycle, as upserts and deletes', ms(upsertCycleMs), ratio(upsertCycleMs / firstMs)],
    ];
    table(`Producer: ${n.toLocaleString('en')} Movie records`, rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
