/**
 * `shoal plan` checked against measurements. The plan's costs are calibrated on a sample of a
 * quarter of the dataset (at least 10,000 records), then its predictions for the whole dataset
 * — consumer memory (steady and during a delta refresh), the 1% cycle time, the 1% delta's
 * bytes, and when backpressure starts under overload — are printed beside what the same run
 * measures at full size, with the error of each. Every prediction must land within 25%: a miss
 * fails the run (exit 1; with SHOAL_BENCH_PLAN_MISS=warn it is only printed).
 *
 * Times are measured on a machine others share, so both sides are taken alike: the full-size
 * cycles run between the calibration's rounds (the same spells of load reach both), each side
 * is the lower quartile of its repetitions (load only ever adds to a cycle's time), and the
 * backpressure onset is the median of three loads paced at twice the rate the plan says the
 * producer sustains.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calibrateRun, measureConsumer } from '../src/cli/calibrate.ts';
import {
  deltaCycleMs,
  loadedCycleMs,
  maxSustainedRate,
  plan,
  simulateBatching,
} from '../src/cli/capacity-model.ts';
import { FsBlobStore, Producer } from '../src/index.ts';
import { gc, mb, ms, type Row, table, verdict } from './harness.ts';
import { changeSet, movie, movieSchema, movies } from './movies.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const error = (predicted: number, measured: number) =>
  predicted === measured ? 0 : (predicted - measured) / measured; // both never: right

/** Paced loads to the first backpressure, each after a warm-up, and their rate over the sustained. */
const FLOODS = 3;
const OVERLOAD = 2;
/** Rounds of the calibration, each followed by a full-size 1% cycle. */
const ROUNDS = (n: number) => (n <= 100_000 ? 15 : 9);
/** Full-size 1% cycles after each round: as many cycles as the calibration times, when they are quick. */
const PER_ROUND = (n: number) => (n <= 100_000 ? 4 : 1);

export async function planBench(n: number): Promise<void> {
  await gc();
  const sample = Math.max(10_000, Math.floor(n / 4));
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-plan-'));
  const misses: string[] = [];
  const row = (what: string, predicted: number, measured: number, unit: (x: number) => string): Row => {
    const e = error(predicted, measured);
    const ok = Math.abs(e) <= 0.25;
    if (!ok) misses.push(what.trim());
    return [
      what,
      `${unit(predicted)} predicted`,
      `${unit(measured)} measured, error ${(e * 100).toFixed(1)}%`,
      verdict(ok, 'within 25%'),
    ];
  };
  try {
    // Measured: the dataset, a warm-up 1% cycle (the worker's first delta), then a 1% cycle
    // of upserts and deletes after each round of the calibration, each its own change set.
    const producer = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'store') }),
      namespace: 'movies',
      schema: movieSchema,
      walDir: join(dir, 'wal'),
      maxBatchRecords: Number.MAX_SAFE_INTEGER,
      maxBatchDelayMs: 3_600_000,
      highWatermark: Number.MAX_SAFE_INTEGER,
      highWatermarkBytes: Number.MAX_SAFE_INTEGER,
      // One snapshot, so that retention keeps every version the consumer below reads.
      snapshotEvery: 1_000_000,
    });
    const published: { role: string; bytes: number }[] = [];
    const cycles: { version: number; ms: number }[] = [];
    producer.on('published', (p) => published.push(p));
    producer.on('cycle:success', (c) => cycles.push({ version: c.version, ms: c.durationMs }));
    await producer.runCycle((w) => {
      for (const r of movies(n)) w.add('Movie', r);
    });
    let changes = 0;
    const cycleMs: number[] = [];
    const deltas: number[] = [];
    const onePercent = async (round: number) => {
      const change = changeSet(n, 1, round);
      changes = change.modified.length + change.removed.length + change.added.length;
      published.length = 0;
      for (const r of change.modified) void producer.upsert('Movie', r);
      for (const id of change.removed) void producer.delete('Movie', id);
      for (const r of change.added) void producer.upsert('Movie', r);
      await producer.flush();
      if (round === 1) return;
      cycleMs.push(cycles.at(-1)!.ms);
      deltas.push(published.find((p) => p.role === 'delta')!.bytes);
    };
    await onePercent(1);
    const { calibration: cal, typical } = await calibrateRun(
      sample,
      {
        schema: movieSchema,
        record: (i, rev) =>
          rev
            ? { ...movie(i), title: `Movie title number ${i} (rev ${rev})`, year: 1900 + ((i + rev) % 100) }
            : movie(i),
      },
      {
        rounds: ROUNDS(n),
        between: async (round) => {
          for (let k = 0; k < PER_ROUND(n); k++) await onePercent(2 + round * PER_ROUND(n) + k);
        },
      },
    );
    await producer.close();
    if (process.env.SHOAL_BENCH_PLAN_DEBUG === '1') {
      console.log(JSON.stringify({ cal, typical, cycleMs, changes }, null, 1));
    }
    // A consumer that loads the snapshot, refreshes by a 1% delta, then follows every later one.
    const consumer = await measureConsumer(
      join(dir, 'store'),
      'movies',
      cycles.map((c, i) => ({ version: c.version, changes: i === 0 ? 0 : changes })),
    );
    const firstRefreshPeak = Math.max(consumer.loadedRss, consumer.refreshes[0]!.peakRss);
    if (process.env.SHOAL_BENCH_PLAN_DEBUG === '1') console.log(JSON.stringify(consumer));

    // Measured: upserts as fast as the producer acknowledges them, until backpressure.
    const highWatermark = Math.max(50_000, Math.floor(n / 5));
    const settings = { maxBatchRecords: 10_000, maxBatchDelayMs: 1_000, highWatermark };
    const bp = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'store') }),
      namespace: 'movies',
      schema: movieSchema,
      walDir: join(dir, 'wal'),
      ...settings,
      highWatermarkBytes: Number.MAX_SAFE_INTEGER,
      backpressure: 'reject',
    });
    // The plan's figures for the backpressure settings: the sustained rate and, at twice it,
    // the time to the high watermark. The load runs for seconds, through the machine's
    // spells, so they come from the cycle costs at its median load.
    const sustained = maxSustainedRate(typical, n, settings);
    const rate = Math.min(OVERLOAD * sustained, 0.5 / typical.ackMsPerChange / 1e-3);
    const predicted = simulateBatching(
      rate,
      (c) => loadedCycleMs(typical, n, c, rate),
      settings,
    ).msToHighWatermark;
    let sent = 0;
    const floods: { rate: number; onsetMs: number; predictedMs: number }[] = [];
    try {
      for (let flood = 0; flood < FLOODS; flood++) {
        // A warm-up batch: the first flood's cycle worker is compiled, the later ones start empty.
        for (let j = 0; j < settings.maxBatchRecords; j++, sent++) {
          void bp.upsert('Movie', { ...movie(sent % n), title: `load ${sent}` });
        }
        await bp.flush();
        // Paced at the plan's overload: `overload` × the rate it says this producer sustains
        // (a flood as fast as the producer acknowledges would starve its cycle of the event
        // loop, which no rate a source sends at does), and measured until it pushes back.
        let onsetMs: number | undefined;
        const from = sent;
        const start = performance.now();
        const off = bp.on('backpressure', (b) => {
          if (b.on && onsetMs === undefined) onsetMs = performance.now() - start;
        });
        // Upserts under way, counted rather than kept: a flood that never pushes back would
        // otherwise hold millions of promises (at 20k records the producer may sustain the rate).
        let pending = 0;
        let drained: (() => void) | undefined;
        const settle = () => {
          if (--pending === 0) drained?.();
        };
        // Four times the predicted onset is long enough to call a prediction missed.
        const limitMs = Math.min(120_000, Math.max(10_000, 4 * (predicted ?? 30_000)));
        while (onsetMs === undefined && performance.now() - start < limitMs) {
          const due = Math.floor((rate * (performance.now() - start)) / 1000) - (sent - from);
          for (let j = 0; j < due && onsetMs === undefined; j++, sent++) {
            pending++;
            bp.upsert('Movie', { ...movie(sent % n), title: `load ${sent}` }).then(settle, settle);
          }
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        off();
        if (pending > 0) await new Promise<void>((resolve) => (drained = resolve));
        await bp.flush();
        // Never within the limit: the producer sustained the rate (a miss, unless predicted).
        floods.push({
          rate,
          onsetMs: onsetMs ?? Number.POSITIVE_INFINITY,
          predictedMs: predicted ?? Number.POSITIVE_INFINITY,
        });
        if (onsetMs === undefined) break;
      }
    } finally {
      await bp.close();
    }

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
    const rates = Math.round(rate).toLocaleString('en');

    const rows: Row[] = [
      row('consumer memory (RSS) after loading', p.consumerMemory.steadyBytes, consumer.loadedRss, mb),
      row('  peak during a 1% delta refresh', p.consumerMemory.deltaRefreshBytes, firstRefreshPeak, mb),
      row(
        `  peak following ${consumer.refreshes.length} versions`,
        p.consumerMemory.followingBytes,
        consumer.peakRss,
        mb,
      ),
      row(
        `1% cycle (${changes.toLocaleString('en')} changes), least of ${cycleMs.length}`,
        predictedCycle,
        Math.min(...cycleMs),
        ms,
      ),
      row('1% delta bytes', predictedDelta, median(deltas), mb),
      row(
        `backpressure onset at ${rates} upserts/s (${OVERLOAD}× the sustained ${Math.round(sustained).toLocaleString('en')}/s; highWatermark ${highWatermark.toLocaleString('en')}), median of ${floods.length}`,
        median(floods.map((f) => f.predictedMs)),
        median(floods.map((f) => f.onsetMs)),
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
  // SHOAL_BENCH_PLAN_MISS=warn only prints the misses (a machine too busy to time a cycle).
  if (misses.length > 0 && process.env.SHOAL_BENCH_PLAN_MISS !== 'warn') {
    throw new Error(`shoal plan missed its measurements by more than 25%: ${misses.join('; ')}`);
  }
}
