/**
 * Write-side figures (issue 16): build + encode of the first state, per record so linearity
 * shows, against `JSON.stringify` of the same records (and at 10× the records with --write-10m);
 * sustained upserts, acknowledged and all in an announced version; announce → served through
 * the filesystem watcher over ~50 versions. Hollow's figures from the issue are quoted beside
 * them as fixed references (measured on this machine, not in this run).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AnnouncementWatcher,
  Consumer,
  encodeSnapshot,
  FsBlobStore,
  Producer,
  StateBuilder,
} from '../src/index.ts';
import { gc, ms, type Row, ratio, table, verdict } from './harness.ts';
import { movie, movieSchema, movies, upsertAcknowledged } from './movies.ts';

/** Build + encode of `n` records and JSON.stringify of the same records, in ms. */
async function buildEncode(n: number): Promise<{ buildMs: number; encodeMs: number; jsonMs: number }> {
  let records = movies(n);
  await gc();
  let start = performance.now();
  const builder = new StateBuilder(movieSchema);
  for (const r of records) builder.add('Movie', r);
  const state = builder.build({ version: 1 });
  const buildMs = performance.now() - start;
  start = performance.now();
  encodeSnapshot(state);
  const encodeMs = performance.now() - start;
  await gc();
  start = performance.now();
  JSON.stringify(records);
  const jsonMs = performance.now() - start;
  records = [];
  return { buildMs, encodeMs, jsonMs };
}

/** Upserts kept in a full pipeline (as producer-bench does), then the time until all are announced. */
async function sustained(
  dir: string,
  total: number,
): Promise<{ acked: number; announced: number; cycles: number }> {
  const up = await Producer.open({
    store: new FsBlobStore({ dir: join(dir, 'up') }),
    namespace: 'movies',
    schema: movieSchema,
    walDir: join(dir, 'wal-up'),
    maxBatchRecords: 100_000,
    highWatermark: 2_000_000,
  });
  try {
    await up.upsert('Movie', movie(0));
    await up.flush();
    let cycles = 0;
    up.on('cycle:success', () => cycles++);
    const start = performance.now();
    await upsertAcknowledged(up, total);
    const ackedMs = performance.now() - start;
    await up.flush();
    const announcedMs = performance.now() - start;
    return { acked: (total / ackedMs) * 1000, announced: (total / announcedMs) * 1000, cycles };
  } finally {
    await up.close();
  }
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;

/**
 * Announce → served over `versions` one-record versions: to the watcher's event (a bare
 * AnnouncementWatcher, default fallback poll) and to the consumer's swap.
 */
async function announceToServed(
  dir: string,
  n: number,
  versions: number,
): Promise<{ watcher: number[]; served: number[] }> {
  const store = new FsBlobStore({ dir: join(dir, 'served') });
  const producer = await Producer.open({
    store,
    namespace: 'movies',
    schema: movieSchema,
    walDir: join(dir, 'wal-served'),
    cycleThread: 'main',
    snapshotEvery: 1000,
  });
  const records = movies(n);
  await producer.runCycle((w) => {
    for (const r of records) w.add('Movie', r);
  });
  const consumer = await Consumer.open({ store, namespace: 'movies', schema: movieSchema });
  const watcher = new AnnouncementWatcher({ store, namespace: 'movies' });
  await watcher.start();
  let announcedAt = 0;
  producer.on('announced', () => {
    announcedAt = performance.now();
  });
  const watched: number[] = [];
  const served: number[] = [];
  try {
    for (let k = 0; k < versions; k++) {
      const seen = new Promise<void>((resolve) => {
        const off = watcher.on('announcement', () => {
          off();
          watched.push(performance.now() - announcedAt);
          resolve();
        });
      });
      const swapped = new Promise<void>((resolve) => {
        const off = consumer.on('refresh', () => {
          off();
          served.push(performance.now() - announcedAt);
          resolve();
        });
      });
      await producer.upsert('Movie', { ...records[k]!, title: `changed ${k}` });
      await producer.flush();
      await Promise.all([seen, swapped]);
    }
  } finally {
    await watcher.close();
    await consumer.close();
    await producer.close();
  }
  return { watcher: watched.sort((a, b) => a - b), served: served.sort((a, b) => a - b) };
}

export async function writeBench(n: number, options: { tenX?: boolean } = {}): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-write-'));
  try {
    const rows: Row[] = [];
    const sizes = options.tenX ? [n, n * 10] : [n];
    const firstNs: number[] = [];
    for (const size of sizes) {
      const { buildMs, encodeMs, jsonMs } = await buildEncode(size);
      const total = buildMs + encodeMs;
      const perRecord = (total * 1e6) / size;
      firstNs.push(perRecord);
      rows.push([
        `build + encode, ${size.toLocaleString('en')} records (build ${ms(buildMs)}, encode ${ms(encodeMs)})`,
        `${ms(total)} (${perRecord.toFixed(0)} ns/record${firstNs.length > 1 ? `, ${ratio(perRecord / firstNs[0]!)} the first size's` : ''})`,
        `${ratio(total / jsonMs)} JSON.stringify (${ms(jsonMs)})`,
        size === 1_000_000
          ? `${verdict(total <= 1200, '≤ 1.2 s')} (Hollow 1.90 s)`
          : 'linear: ≤ ~1.2× per record',
      ]);
    }
    const up = await sustained(dir, Math.min(n, 500_000));
    rows.push([
      'upserts/s, acknowledged (fsynced to the log; ≤ 10k in flight)',
      `${Math.round(up.acked).toLocaleString('en')}/s`,
      `${up.cycles} cycle(s) meanwhile`,
    ]);
    rows.push([
      '  the same upserts, all in an announced version',
      `${Math.round(up.announced).toLocaleString('en')}/s`,
      ratio(up.announced / up.acked),
      verdict(up.announced >= 300_000, '≥ 300k/s'),
    ]);
    const servedN = Math.min(n, 20_000);
    const { watcher, served } = await announceToServed(dir, servedN, 50);
    for (const [what, list] of [
      ['announce → watcher event', watcher],
      ['announce → served (consumer swap)', served],
    ] as const) {
      rows.push([
        `${what}, filesystem, ${servedN.toLocaleString('en')} records, ${list.length} versions`,
        `p50 ${ms(quantile(list, 0.5))}, p95 ${ms(quantile(list, 0.95))}, max ${ms(list[list.length - 1]!)}`,
        // An event missed would leave the version to the poll: 800–1,200 ms after the rename.
        `fallback poll 1,000 ms; ${list.filter((x) => x >= 800).length} version(s) ≥ 800 ms`,
        `${verdict(quantile(list, 0.95) <= 50, 'p95 ≤ 50 ms')} (Hollow polls at 1 s)`,
      ]);
    }
    table(`Write side: ${n.toLocaleString('en')} Movie records`, rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
