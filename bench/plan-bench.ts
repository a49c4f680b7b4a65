/**
 * `shoal plan` checked against measurements. The plan's costs are calibrated on a sample of a
 * tenth of the dataset (at least 10,000 records), then its predictions for the whole dataset —
 * consumer memory (steady and during a delta refresh), the 1% cycle time, the 1% delta's bytes,
 * and when backpressure starts under overload — are printed beside what the same run measures
 * at full size, with the error of each. The goal is every prediction within 25%.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calibrate, measureConsumer } from '../src/cli/calibrate.ts';
import { deltaCycleMs, plan, simulateBatching } from '../src/cli/capacity-model.ts';
import { FsBlobStore, Producer } from '../src/index.ts';
import { gc, mb, ms, type Row, table, verdict } from './harness.ts';
import { changeSet, movie, movieSchema, movies } from './movies.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const error = (predicted: number, measured: number) => (predicted - measured) / measured;
const row = (what: string, predicted: number, measured: number, unit: (x: number) => string): Row => {
  const e = error(predicted, measured);
  return [
    what,
    `${unit(predicted)} predicted`,
    `${unit(measured)} measured, error ${(e * 100).toFixed(1)}%`,
    verdict(Math.abs(e) <= 0.25, 'within 25%'),
  ];
};

export async function planBench(n: number): Promise<void> {
  await gc();
  const sample = Math.max(10_000, Math.floor(n / 4));
  const cal = await calibrate(sample, {
    schema: movieSchema,
    record: (i, rev) =>
      rev
        ? { ...movie(i), title: `Movie title number ${i} (rev ${rev})`, year: 1900 + ((i + rev) % 100) }
        : movie(i),
  });
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-plan-'));
  try {
    // Measured: the dataset, then one 1% cycle of upserts and deletes.
    const producer = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'store') }),
      namespace: 'movies',
      schema: movieSchema,
      walDir: join(dir, 'wal'),
      maxBatchRecords: Number.MAX_SAFE_INTEGER,
      maxBatchDelayMs: 3_600_000,
      highWatermark: Number.MAX_SAFE_INTEGER,
    });
    const published: { role: string; bytes: number }[] = [];
    const cycles: { version: number; ms: number }[] = [];
    producer.on('published', (p) => published.push(p));
    producer.on('cycle:success', (c) => cycles.push({ version: c.version, ms: c.durationMs }));
    const records = movies(n);
    await producer.runCycle((w) => {
      for (const r of records) w.add('Movie', r);
    });
    // A warm-up 1% cycle (the worker's first delta), then three, each its own change set.
    let changes = 0;
    const cycleMs: number[] = [];
    const deltas: number[] = [];
    for (let round = 1; round <= 4; round++) {
      const change = changeSet(n, 1, round);
      changes = change.modified.length + change.removed.length + change.added.length;
      published.length = 0;
      for (const r of change.modified) void producer.upsert('Movie', r);
      for (const id of change.removed) void producer.delete('Movie', id);
      for (const r of change.added) void producer.upsert('Movie', r);
      await producer.flush();
      if (round === 1) continue;
      cycleMs.push(cycles.at(-1)!.ms);
      deltas.push(published.find((p) => p.role === 'delta')!.bytes);
    }
    await producer.close();
    // A consumer that loads the snapshot and refreshes once, by a 1% delta.
    const consumer = await measureConsumer(join(dir, 'store'), 'movies', [
      { version: cycles[0]!.version, changes: 0 },
      { version: cycles[1]!.version, changes },
    ]);

    // Measured: upserts as fast as the producer acknowledges them, until backpressure.
    const highWatermark = Math.max(50_000, Math.floor(n / 5));
    const settings = { maxBatchRecords: 10_000, maxBatchDelayMs: 1_000, highWatermark };
    const bp = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'store') }),
      namespace: 'movies',
      schema: movieSchema,
      walDir: join(dir, 'wal'),
      ...settings,
      backpressure: 'reject',
    });
    let onsetMs: number | undefined;
    const start = performance.now();
    bp.on('backpressure', (b) => {
      if (b.on && onsetMs === undefined) onsetMs = performance.now() - start;
    });
    let sent = 0;
    const inFlight: Promise<unknown>[] = [];
    while (onsetMs === undefined && sent < 20 * n) {
      const acks: Promise<unknown>[] = [];
      for (let j = 0; j < 1_000; j++, sent++) {
        acks.push(bp.upsert('Movie', { ...movie(sent % n), title: `load ${sent}` }).catch(() => undefined));
      }
      inFlight.push(Promise.all(acks));
      if (inFlight.length >= 10) await inFlight.shift();
      else await new Promise((resolve) => setImmediate(resolve));
    }
    const sendMs = performance.now() - start;
    await Promise.all(inFlight);
    await bp.close();
    const inputRate = (sent / sendMs) * 1000;

    // Predicted: from the sample's calibration and the dataset's shape.
    const bytesPerRecord = cal.sampleBytesPerRecord!;
    const p = plan(
      {
        types: [{ name: 'Movie', records: n, bytesPerRecord }],
        changesPerSecond: changes,
        consumers: 1,
        cadenceMs: 1000,
      },
      cal,
    );
    const predictedDelta = changes * bytesPerRecord * cal.deltaBytesPerChange;
    const predictedCycle = deltaCycleMs(cal, n, changes);
    const predictedOnset = simulateBatching(
      inputRate,
      (c) => deltaCycleMs(cal, n, c),
      settings,
    ).msToHighWatermark;

    const rows: Row[] = [
      row('consumer memory (RSS) after loading', p.consumerMemory.steadyBytes, consumer.loadedRss, mb),
      row('  peak during a 1% delta refresh', p.consumerMemory.deltaRefreshBytes, consumer.peakRss, mb),
      row(
        `1% cycle (${changes.toLocaleString('en')} changes), least of 3`,
        predictedCycle,
        Math.min(...cycleMs),
        ms,
      ),
      row('1% delta bytes', predictedDelta, median(deltas), mb),
      row(
        `backpressure onset at ${Math.round(inputRate).toLocaleString('en')} upserts/s (highWatermark ${highWatermark.toLocaleString('en')})`,
        predictedOnset ?? Number.POSITIVE_INFINITY,
        onsetMs ?? Number.POSITIVE_INFINITY,
        ms,
      ),
    ];
    table(
      `shoal plan vs measured: ${n.toLocaleString('en')} Movie records (calibrated on ${sample.toLocaleString('en')})`,
      rows,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
