/**
 * Small measuring helpers: repeated timings with a median, heap held by a value, and a table
 * printer. Every figure is printed beside a baseline measured in the same run.
 */

/** Full collections until freed ArrayBuffers have been released too. */
export async function gc(): Promise<void> {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run the benchmark with node --expose-gc (npm run bench does)');
  for (let i = 0; i < 4; i++) {
    g();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Median wall time of `fn` over `runs` runs, in ms. */
export async function median(runs: number, fn: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** JS heap held by what `make` returns, in bytes. */
export async function held<T>(make: () => T | Promise<T>): Promise<{ heap: number; value: T }> {
  await gc();
  const before = process.memoryUsage();
  const value = await make();
  await gc();
  const after = process.memoryUsage();
  return { heap: after.heapUsed - before.heapUsed, value };
}

/** Per-lookup ns: the mean over all, and p50/p99 over batches of `batch` lookups. */
export function perOp(
  count: number,
  batch: number,
  run: (from: number, to: number) => number,
): {
  mean: number;
  p50: number;
  p99: number;
  sink: number;
} {
  let sink = run(0, Math.min(count, 200_000)); // warm-up
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i += batch) {
    const s = process.hrtime.bigint();
    sink += run(i, Math.min(count, i + batch));
    samples.push(Number(process.hrtime.bigint() - s) / Math.min(batch, count - i));
  }
  const mean = Number(process.hrtime.bigint() - start) / count;
  samples.sort((a, b) => a - b);
  return {
    mean,
    p50: samples[Math.floor(samples.length * 0.5)]!,
    p99: samples[Math.floor(samples.length * 0.99)]!,
    sink,
  };
}

export type Row = readonly [string, string, string, string?];

/** Prints a titled table of rows: what, shoal's figure, the baseline ratio, the goal. */
export function table(title: string, rows: readonly Row[]): void {
  const widths = [0, 0, 0, 0];
  const all: Row[] = [['measure', 'shoal', 'vs baseline', 'goal'], ...rows];
  for (const r of all) {
    for (let i = 0; i < 4; i++) widths[i] = Math.max(widths[i]!, (r[i] ?? '').length);
  }
  console.log(`\n## ${title}\n`);
  for (const [i, r] of all.entries()) {
    console.log(`| ${[0, 1, 2, 3].map((k) => (r[k] ?? '').padEnd(widths[k]!)).join(' | ')} |`);
    if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  }
}

export const ms = (x: number): string => `${x.toFixed(1)} ms`;
export const ns = (x: number): string => `${x.toFixed(0)} ns`;
export const mb = (x: number): string => `${(x / 1e6).toFixed(1)} MB`;
export const ratio = (x: number): string => `${x.toFixed(3)}×`;
export const verdict = (ok: boolean, goal: string): string => `${ok ? 'met' : 'MISSED'}: ${goal}`;

/** A deterministic PRNG (mulberry32) so runs pick the same random keys. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
