/**
 * `shoal plan --calibrate`: measures the capacity model's costs on this machine, with a
 * producer and a consumer (a child process, so its memory is its own) on a temporary
 * filesystem store and a sample of generated records. Delta cycles of two batch sizes tell the
 * fixed and per-change parts of a cycle apart.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeSnapshot, encodeSnapshot, FsBlobStore, Producer, type Schema, t } from '../index.ts';
import {
  type Calibration,
  REFERENCE_BYTES_PER_RECORD,
  REFERENCE_CALIBRATION,
  refreshExtraBytes,
} from './capacity-model.ts';

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

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The stages of a cycle that compute; publish, announce and retain write to the store. */
const CPU_STAGES = ['build', 'encode', 'integrity', 'validate'] as const;
export const cpuMs = (stages: Readonly<Partial<Record<string, number>>>): number =>
  CPU_STAGES.reduce((sum, s) => sum + (stages[s] ?? 0), 0);

/** One measured delta cycle of a sample producer. */
interface CycleFigures {
  readonly version: number;
  readonly changes: number;
  readonly ms: number;
  /** Of `ms`, the stages that compute (build, encode, integrity, validate); the rest writes. */
  readonly cpuMs: number;
  /** Delta and reverse-delta bytes per change. */
  readonly deltaBytes: number;
  readonly reverseBytes: number;
  /** Logged bytes per pending change, and the producer's own time per acknowledged change. */
  readonly logBytes: number;
  readonly ackMs: number;
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
 * A producer of `records` sample records that cuts a delta cycle of a given number of changes
 * (modified records spread over the state) on demand. Its first delta cycle is a warm-up (the
 * worker's first: compiling, not costs), run by `open`.
 */
class SampleProducer {
  private rev = 1;
  snapshotBytes = 0;
  firstVersion = 0;
  readonly versions: { version: number; changes: number }[] = [];
  private readonly published: { role: string; bytes: number }[] = [];
  private readonly cycles: { version: number; ms: number; cpuMs: number }[] = [];

  private constructor(
    private readonly producer: Producer<Schema>,
    private readonly data: CalibrationData,
    readonly records: number,
  ) {
    producer.on('published', (p) => this.published.push({ role: p.role, bytes: p.bytes }));
    producer.on('cycle:success', (c) =>
      this.cycles.push({ version: c.version, ms: c.durationMs, cpuMs: cpuMs(c.stages) }),
    );
  }

  static async open(data: CalibrationData, dir: string, records: number, warmUp: number) {
    const producer = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'store') }),
      namespace: `sample-${records}`,
      schema: data.schema,
      walDir: join(dir, `wal-${records}`),
      maxBatchRecords: Number.MAX_SAFE_INTEGER,
      maxBatchDelayMs: 3_600_000,
      highWatermark: Number.MAX_SAFE_INTEGER,
      highWatermarkBytes: Number.MAX_SAFE_INTEGER,
      snapshotEvery: 1_000_000,
    });
    const p = new SampleProducer(producer, data, records);
    try {
      const type = data.schema.types[0]!.name;
      await producer.runCycle((w) => {
        for (let i = 0; i < records; i++) w.add(type, data.record(i, 0));
      });
      const first = p.cycles[0]!;
      p.firstVersion = first.version;
      p.snapshotBytes = p.published.find((x) => x.role === 'snapshot')?.bytes ?? 0;
      p.versions.push({ version: first.version, changes: 0 });
      const warm = await p.cycle(warmUp);
      p.versions.push({ version: warm.version, changes: warmUp });
    } catch (error) {
      await producer.close();
      throw error;
    }
    return p;
  }

  async cycle(changes: number): Promise<CycleFigures> {
    this.published.length = 0;
    this.cycles.length = 0;
    const type = this.data.schema.types[0]!.name;
    const stride = Math.max(1, Math.floor(this.records / changes));
    const start = performance.now();
    const acks: Promise<void>[] = [];
    for (let k = 0; k < changes; k++) {
      acks.push(this.producer.upsert(type, this.data.record((k * stride) % this.records, this.rev)));
    }
    await Promise.all(acks);
    const ackMs = (performance.now() - start) / changes;
    const logBytes = this.producer.pendingBytes / changes;
    await this.producer.flush();
    this.rev++;
    const cycle = this.cycles[0]!;
    const bytes = (role: string) => (this.published.find((p) => p.role === role)?.bytes ?? 0) / changes;
    const out = {
      version: cycle.version,
      changes,
      ms: cycle.ms,
      cpuMs: cycle.cpuMs,
      deltaBytes: bytes('delta'),
      reverseBytes: bytes('reverse'),
      logBytes,
      ackMs,
    };
    this.versions.push({ version: cycle.version, changes });
    return out;
  }

  /**
   * What a snapshot adds to a cycle: encoding the whole state and the integrity stage's decode
   * of it (the least of three; the blob's write is in the fixed cost). The first cycle builds
   * the state from its records as well, which a later snapshot cycle does not: 5–20× more.
   */
  snapshotMs(): number {
    const state = this.producer.state!;
    let least = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      decodeSnapshot(encodeSnapshot(state));
      least = Math.min(least, performance.now() - start);
    }
    return least;
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}

/** What the consumer child reports (see calibrate-consumer.ts). */
export interface ConsumerFigures {
  /** Resident bytes before the consumer opens and after it loads the first version. */
  readonly baseRss: number;
  readonly loadedRss: number;
  /** The resident peak while it loaded the first version. */
  readonly loadPeakRss: number;
  /**
   * The resident peak during the refreshes (Linux: the high-water mark reset after the load;
   * elsewhere the process's peak, the load's included: `reset` false).
   */
  readonly peakRss: number;
  readonly reset: boolean;
  /** Each refresh to the next of the given versions: its changes and duration. */
  readonly refreshes: readonly {
    readonly changes: number;
    readonly ms: number;
    /** Resident bytes before it, and its peak. */
    readonly rssBefore: number;
    readonly peakRss: number;
  }[];
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

/** How `calibrate` runs. */
export interface CalibrateOptions {
  /** Rounds of the two measured cycles (1% and 10% of the sample). @default 5 */
  readonly rounds?: number;
  /**
   * Runs after each round: a benchmark measures there, so that its measurements and the
   * calibration's see the same machine (a busy machine's load comes and goes in spells).
   */
  readonly between?: (round: number) => Promise<void>;
}

/**
 * Measures a calibration with a sample of `records` generated records. Delta cycles of 1% and
 * 10% of the sample (the larger batch is where the cost per change shows over a busy machine's
 * noise) run in `rounds` interleaved rounds; each batch's time is the least over the rounds
 * (load only ever adds to it), the computing stages give the cost per change, the writing ones
 * the fixed cost. A cycle's cost per record held is left at 0: what a delta cycle does per
 * record (copying the bitsets and index shards it writes) is a few nanoseconds, below what a
 * cycle's timing can resolve, and fitting it across two sample sizes measured the CPU caches
 * instead (a state that fits them is quicker per change: 5× the true figure at 1,000,000).
 * So calibrate on a sample past the caches (about 250,000 records of 43 bytes for a 32 MiB L3).
 * Takes a few seconds at 100,000.
 */
export async function calibrate(
  records = 100_000,
  data: CalibrationData = SAMPLE,
  options: CalibrateOptions = {},
): Promise<Calibration> {
  return (await calibrateRun(records, data, options)).calibration;
}

/**
 * {@link calibrate}, with the cycle costs also at the machine's median load (`typical`): what
 * a process that runs for seconds on a shared machine, rather than one cycle, meets.
 */
export async function calibrateRun(
  records = 100_000,
  data: CalibrationData = SAMPLE,
  options: CalibrateOptions = {},
): Promise<{ calibration: Calibration; typical: Calibration }> {
  const rounds = options.rounds ?? 5;
  const dir = await mkdtemp(join(tmpdir(), 'shoal-calibrate-'));
  let b: SampleProducer | undefined;
  try {
    const batches = [
      Math.max(10, Math.floor(records * 0.01)),
      Math.max(100, Math.floor(records * 0.1)),
    ] as const;
    b = await SampleProducer.open(data, dir, records, batches[0]);
    const measured: CycleFigures[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const n of batches) measured.push(await b.cycle(n));
      await options.between?.(round);
    }
    // A cycle computes (build, encode, check: by changes) and writes (the blobs, the
    // announcement, retention: fsyncs and round trips, the same every cycle at these sizes).
    // They are taken apart, so that a slow fsync does not pass for a cost per change.
    const all = measured;
    const cycleCosts = (stat: (xs: readonly number[]) => number) => {
      const [t1, t2] = batches.map((n) => stat(measured.filter((f) => f.changes === n).map((f) => f.cpuMs)));
      const perChange = (t2! - t1!) / (batches[1] - batches[0]);
      const cpuFixed = t1! - perChange * batches[0];
      // The writes (about the same at every point: fsyncs and round trips), over every cycle.
      const writeMs = stat(all.map((f) => f.ms - f.cpuMs));
      return {
        cycleMsFixed: writeMs + Math.max(0, cpuFixed),
        cycleMsPerRecord: 0,
        cycleMsPerChange: Math.max(1e-6, perChange),
      };
    };
    const least = cycleCosts((xs) => Math.min(...xs));
    const typical = cycleCosts(median);
    const bytesPerRecord = b.snapshotBytes / records;
    const snapshotMs = b.snapshotMs();
    await b.close();
    const sample = b;
    b = undefined;
    // A consumer that loads the snapshot (its memory) and follows every version (refresh time;
    // its first refresh is a warm-up).
    const c = await measureConsumer(join(dir, 'store'), `sample-${records}`, sample.versions);
    // Refresh time against changes: a line through the medians at each batch size.
    const measuredRefreshes = c.refreshes.slice(1); // the first refresh is the warm-up's
    const [c1, c2] = batches;
    const refreshesOf = (changes: number) => measuredRefreshes.filter((r) => r.changes === changes);
    const at = (changes: number) => median(refreshesOf(changes).map((r) => r.ms));
    const refreshPerChange = Math.max(0, (at(c2) - at(c1)) / (c2 - c1));
    const deltaOf = (changes: number) =>
      median(measured.filter((f) => f.changes === changes).map((f) => f.deltaBytes)) * changes;
    // Each 1% refresh's own peak over the resident size before it, less what the model counts
    // apart (the delta, the index shards), per change.
    const modelled = refreshExtraBytes(
      { ...REFERENCE_CALIBRATION, sampleBytesPerRecord: bytesPerRecord, refreshBytesPerChange: 0 },
      records,
      c1,
      deltaOf(c1),
      bytesPerRecord,
    );
    const refreshExtra = median(refreshesOf(c1).map((r) => r.peakRss - r.rssBefore));
    // Following every version: the highest peak over the loaded state, in refreshes' worth of
    // the largest one refresh added.
    const worstExtra = Math.max(1, ...measuredRefreshes.map((r) => r.peakRss - r.rssBefore));
    const followPeak = Math.max(...measuredRefreshes.map((r) => r.peakRss));
    const calibration: Calibration = {
      sampleBytesPerRecord: bytesPerRecord,
      source: `calibrated on this machine (${records.toLocaleString('en')} sample records)`,
      ackMsPerChange: median(all.map((f) => f.ackMs)),
      ...least,
      snapshotMsPerRecord: snapshotMs / records,
      deltaBytesPerChange: median(all.map((f) => f.deltaBytes)) / bytesPerRecord,
      reverseBytesPerChange: median(all.map((f) => f.reverseBytes)) / bytesPerRecord,
      logBytesPerChange: median(all.map((f) => f.logBytes)) / bytesPerRecord,
      consumerBaseBytes: c.baseRss,
      residentPerSnapshotByte: Math.max(0, (c.loadedRss - c.baseRss) / sample.snapshotBytes),
      // Objects' bytes depend on the engine, not the machine: the reference figure, scaled to
      // this sample's records.
      restateBytesPerRecord:
        REFERENCE_CALIBRATION.restateBytesPerRecord * (bytesPerRecord / REFERENCE_BYTES_PER_RECORD),
      // Where the high-water mark cannot be reset (not Linux), the reference figure.
      refreshBytesPerChange: c.reset
        ? Math.max(0, (refreshExtra - modelled) / c1)
        : REFERENCE_CALIBRATION.refreshBytesPerChange! * (bytesPerRecord / REFERENCE_BYTES_PER_RECORD),
      followingRefreshes: c.reset
        ? Math.max(1, (followPeak - c.loadedRss) / worstExtra)
        : REFERENCE_CALIBRATION.followingRefreshes!,
      refreshMsFixed: Math.max(0, at(c1) - refreshPerChange * c1),
      refreshMsPerRecord: 0,
      refreshMsPerChange: refreshPerChange,
    };
    return {
      calibration,
      typical: { ...calibration, ...typical, source: `${calibration.source}, median load` },
    };
  } finally {
    await b?.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
