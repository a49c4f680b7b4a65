/**
 * `shoal plan --calibrate`: measures the capacity model's costs on this machine, with a
 * producer and a consumer (a child process, so its memory is its own) on a temporary
 * filesystem store and a sample of generated records. Delta cycles run at two state sizes and
 * two batch sizes, so the fixed, per-record and per-change parts of a cycle can be told apart.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsBlobStore, Producer, type Schema, t } from '../index.ts';
import type { Calibration } from './capacity-model.ts';

/** The generated records: the shape of the README's benchmark dataset. */
const Sample = t.object(
  'Sample',
  { id: t.int(), title: t.string(), year: t.int(), tags: t.list(t.string()), rating: t.double() },
  { primaryKey: 'id' },
);
const sampleSchema = t.schema([Sample]);
const sampleRecord = (i: number, rev = 0) => ({
  id: i * 7 + 3,
  title: rev ? `Sample record ${i} revision ${rev}` : `Sample record number ${i}`,
  year: 1950 + ((i + rev) % 70),
  tags: ['drama', `tag${i % 50}`, i % 3 ? 'x' : 'classic'],
  rating: (i % 100) / 10,
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Least squares for y = a + b·x1 + c·x2 (three unknowns from four or more points). */
function leastSquares(points: readonly (readonly [number, number, number])[]): [number, number, number] {
  const m = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ];
  for (const [x1, x2, y] of points) {
    const row = [1, x1, x2];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) m[i]![j]! += row[i]! * row[j]!;
      m[i]![3]! += row[i]! * y;
    }
  }
  for (let i = 0; i < 3; i++) {
    const p = m[i]![i]!;
    for (let k = i; k < 4; k++) m[i]![k]! /= p;
    for (let r = 0; r < 3; r++) {
      if (r === i) continue;
      const f = m[r]![i]!;
      for (let k = i; k < 4; k++) m[r]![k]! -= f * m[i]![k]!;
    }
  }
  return [m[0]![3]!, m[1]![3]!, m[2]![3]!];
}

interface ProducerFigures {
  readonly snapshotBytes: number;
  readonly firstCycleMs: number;
  /** The first (snapshot) version, the warm-up, then one entry per measured delta cycle. */
  readonly versions: {
    readonly version: number;
    readonly changes: number;
    readonly ms: number;
    readonly warmUp?: true;
  }[];
  readonly deltaBytes: number[]; // per change
  readonly reverseBytes: number[];
  logBytesPerChange: number;
  readonly ackMs: number[]; // per change
}

/**
 * What the calibration publishes: a schema of one type with an `int` primary key, and record
 * `i` of it (revision `rev` changes a non-key field).
 */
export interface CalibrationData {
  readonly schema: Schema;
  readonly record: (i: number, rev: number) => Readonly<Record<string, unknown>>;
}

const SAMPLE: CalibrationData = { schema: sampleSchema, record: sampleRecord };

/**
 * A producer that publishes `records` sample records, then a warm-up delta cycle (its worker's
 * first: compiling, not costs), then delta cycles of each of `batches` changes (modified
 * records spread over the state), `rounds` times.
 */
async function measureProducer(
  data: CalibrationData,
  dir: string,
  records: number,
  batches: readonly number[],
  rounds: number,
): Promise<ProducerFigures> {
  const producer = await Producer.open({
    store: new FsBlobStore({ dir: join(dir, 'store') }),
    namespace: `sample-${records}`,
    schema: data.schema,
    walDir: join(dir, `wal-${records}`),
    maxBatchRecords: Number.MAX_SAFE_INTEGER,
    maxBatchDelayMs: 3_600_000,
    highWatermark: Number.MAX_SAFE_INTEGER,
    snapshotEvery: 1_000_000,
  });
  const type = data.schema.types[0]!.name;
  try {
    const published: { role: string; bytes: number }[] = [];
    const cycles: { version: number; ms: number }[] = [];
    producer.on('published', (p) => published.push({ role: p.role, bytes: p.bytes }));
    producer.on('cycle:success', (c) => cycles.push({ version: c.version, ms: c.durationMs }));
    await producer.runCycle((w) => {
      for (let i = 0; i < records; i++) w.add(type, data.record(i, 0));
    });
    const first = cycles[0]!;
    const out: ProducerFigures = {
      snapshotBytes: published.find((p) => p.role === 'snapshot')?.bytes ?? 0,
      firstCycleMs: first.ms,
      versions: [{ version: first.version, changes: 0, ms: first.ms }],
      deltaBytes: [],
      reverseBytes: [],
      logBytesPerChange: 0,
      ackMs: [],
    };
    let rev = 1;
    const plan = [batches[0]!, ...Array.from({ length: rounds }, () => batches).flat()];
    for (const [i, changes] of plan.entries()) {
      published.length = 0;
      cycles.length = 0;
      const stride = Math.max(1, Math.floor(records / changes));
      const start = performance.now();
      const acks: Promise<void>[] = [];
      for (let k = 0; k < changes; k++) {
        acks.push(producer.upsert(type, data.record((k * stride) % records, rev)));
      }
      await Promise.all(acks);
      if (i > 0) out.ackMs.push((performance.now() - start) / changes);
      out.logBytesPerChange = producer.pendingBytes / changes;
      await producer.flush();
      rev++;
      const cycle = cycles[0]!;
      out.versions.push({
        version: cycle.version,
        changes,
        ms: cycle.ms,
        ...(i === 0 ? { warmUp: true } : {}),
      });
      if (i === 0) continue;
      for (const p of published) {
        if (p.role === 'delta') out.deltaBytes.push(p.bytes / changes);
        if (p.role === 'reverse') out.reverseBytes.push(p.bytes / changes);
      }
    }
    return out;
  } finally {
    await producer.close();
  }
}

/** What the consumer child reports (see calibrate-consumer.ts). */
export interface ConsumerFigures {
  /** Resident bytes before the consumer opens, after it loads the first version, and at peak. */
  readonly baseRss: number;
  readonly loadedRss: number;
  readonly peakRss: number;
  /** Each refresh to the next of the given versions: its changes and duration. */
  readonly refreshes: readonly { readonly changes: number; readonly ms: number }[];
}

/**
 * Runs a consumer in a child process of its own on `namespace` in the filesystem store `dir`:
 * it loads the first of `versions` (pinned), then refreshes to each next one in turn.
 */
export function measureConsumer(
  dir: string,
  namespace: string,
  versions: readonly { readonly version: number; readonly changes: number }[],
): Promise<ConsumerFigures> {
  const here = import.meta.url;
  const source = here.endsWith('.ts');
  const script = fileURLToPath(new URL(`./calibrate-consumer.${source ? 'ts' : 'js'}`, here));
  const args = source ? ['--conditions=shoal-source', '--import', 'tsx', script] : [script];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args, dir, namespace, JSON.stringify(versions)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as ConsumerFigures);
      else reject(new Error(`the calibration consumer exited with ${code}`));
    });
  });
}

/**
 * Measures a calibration with a sample of `records` generated records (the larger state; the
 * smaller is 40% of it). Each delta cycle's time is the least of three at its size and batch
 * (1% and 4% of the larger state, at both sizes), so that a busy machine's spells do not make
 * the fit. Takes a few seconds at 100,000.
 */
export async function calibrate(records = 100_000, data: CalibrationData = SAMPLE): Promise<Calibration> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-calibrate-'));
  try {
    // The same batches at both sizes, so the fit can tell a cost per record from one per change.
    const small = Math.max(1_000, Math.floor(records * 0.4));
    const batches = [
      Math.max(10, Math.floor(records * 0.01)),
      Math.max(40, Math.floor(records * 0.04)),
    ] as const;
    const a = await measureProducer(data, dir, small, batches, 3);
    const b = await measureProducer(data, dir, records, batches, 3);
    const points = [a, b].flatMap((f, k) => {
      const size = k === 0 ? small : records;
      const measured = f.versions.slice(1).filter((v) => !v.warmUp);
      return [...new Set(measured.map((v) => v.changes))].map(
        (c) => [size, c, Math.min(...measured.filter((v) => v.changes === c).map((v) => v.ms))] as const,
      );
    });
    const [fixed, perRecord, perChange] = leastSquares(points);
    const bytesPerRecord = b.snapshotBytes / records;
    // A consumer that loads the snapshot (its memory) and follows every version (refresh time;
    // its first refresh is a warm-up).
    const c = await measureConsumer(join(dir, 'store'), `sample-${records}`, b.versions);
    // Refresh time against changes: a line through the medians at each batch size.
    const measuredRefreshes = c.refreshes.slice(1); // the first refresh is the warm-up's
    const at = (changes: number) =>
      median(measuredRefreshes.filter((r) => r.changes === changes).map((r) => r.ms));
    const [c1, c2] = batches;
    const deltaBytesPerChange = median([...a.deltaBytes, ...b.deltaBytes]) / bytesPerRecord;
    const refreshPerChange = Math.max(0, (at(c2) - at(c1)) / (c2 - c1));
    return {
      sampleBytesPerRecord: bytesPerRecord,
      source: `calibrated on this machine (${records.toLocaleString('en')} sample records)`,
      ackMsPerChange: median([...a.ackMs, ...b.ackMs]),
      cycleMsFixed: Math.max(0, fixed),
      cycleMsPerRecord: Math.max(0, perRecord),
      cycleMsPerChange: Math.max(1e-6, perChange),
      snapshotMsPerRecord: b.firstCycleMs / records,
      deltaBytesPerChange,
      reverseBytesPerChange: median([...a.reverseBytes, ...b.reverseBytes]) / bytesPerRecord,
      logBytesPerChange: b.logBytesPerChange / bytesPerRecord,
      consumerBaseBytes: c.baseRss,
      residentPerSnapshotByte: Math.max(0, (c.loadedRss - c.baseRss) / b.snapshotBytes),
      refreshMsFixed: Math.max(0, at(c1) - refreshPerChange * c1),
      refreshMsPerRecord: 0,
      refreshMsPerChange: refreshPerChange,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
