/**
 * `shoal plan`: capacity planning. Takes a dataset's shape (given, or measured from a snapshot
 * file or a namespace), a change rate, a fleet size and a cadence; prints sizes, memory,
 * cycle times, the sustained rate before backpressure, store requests and their monthly cost,
 * and the options that fit (capacity-model.ts has the formulas).
 */
import { parseArgs } from 'node:util';
import {
  decodeVersionHeader,
  isShoalError,
  NamespaceLayout,
  readSnapshotHeader,
  StoreAnnouncer,
  TUNING_PROFILES,
} from '../index.ts';
import { readBlobFile } from './blob-file.ts';
import { calibrate } from './calibrate.ts';
import {
  type Calibration,
  type Plan,
  type PlanInput,
  plan,
  REFERENCE_CALIBRATION,
  S3_LIST_PRICES,
} from './capacity-model.ts';
import { parseDecimal, parseDuration, parseProfile, parseWhole } from './cli-values.ts';
import { openStore, UsageError } from './produce-command.ts';

export const PLAN_USAGE = `  plan [--records <Type=n>]... [--bytes-per-record <b | Type=b>]... [options]
  plan --snapshot <file> | --store <dir | s3://...> --namespace <name> [options]
      capacity planning: sizes, memory, cycle time, sustained change rate, store requests and
      cost, and the options that fit; the dataset's shape given, or measured
      --changes-per-second <n> | --changes-per-version <n>   the change rate (default 100/s)
      --consumers <n>                      consumers following the namespace (default 1)
      --cadence <duration>                 wanted time between versions (default 1s)
      --downtime <duration>                how long a consumer may be down and catch up (default 1h)
      --max-lag <duration>                 backlog before backpressure, in drain time (default 60s)
      --overload <x>                       the overload for the time to the watermark (default 2)
      --price-get <usd> --price-put <usd>  per 1,000 requests (default S3 Standard list prices)
      --price-storage <usd>                per GB-month (default 0.023)
      --profile <throughput|balanced|latency>   plan with a tuning profile's options
      --calibrate [--sample <n>]           measure this machine's costs first (~10 s at 250,000)
      --json                               one JSON object instead of the table
`;

const duration = (name: string, v: string | undefined, fallback: number): number =>
  v === undefined ? fallback : parseDuration(`--${name}`, v);

/** A number ≥ 0 (a price, a rate, a size). */
const nonNegative = (name: string, v: string | undefined, fallback: number): number =>
  v === undefined ? fallback : parseDecimal(`--${name}`, v);

/** A number > 0 (an overload factor). */
const positive = (name: string, v: string | undefined, fallback: number): number => {
  const x = nonNegative(name, v, fallback);
  if (!(x > 0)) throw new UsageError(`--${name} needs a number > 0, got "${v}"`);
  return x;
};

/** A whole number ≥ `least` (consumers, records). */
const count = (name: string, v: string | undefined, fallback: number, least = 1): number => {
  if (v === undefined) return fallback;
  const what = `a whole number ≥ ${least}`;
  const x = parseWhole(`--${name}`, v, what);
  if (x < least) throw new UsageError(`--${name} needs ${what}, got "${v}"`);
  return x;
};

/** `Type=n` pairs (or, for `bytes-per-record`, a bare number for every type). */
function pairs(name: string, list: readonly string[]): Map<string | undefined, number> {
  const out = new Map<string | undefined, number>();
  for (const item of list) {
    const eq = item.lastIndexOf('=');
    const type = eq < 0 ? undefined : item.slice(0, eq);
    if (type === '' || (type === undefined && name === 'records')) {
      throw new UsageError(`--${name} needs Type=<number>, got "${item}"`);
    }
    const text = item.slice(eq + 1);
    out.set(type, name === 'records' ? count(name, text, 0, 0) : positive(name, text, 0));
  }
  return out;
}

/** Records and bytes per type, from the flags. */
function givenShape(records: readonly string[], bytes: readonly string[]): PlanInput['types'] {
  const counts = pairs('records', records);
  const sizes = pairs('bytes-per-record', bytes);
  if (counts.size === 0) {
    throw new UsageError(
      'plan needs the dataset: --records <Type=n> (with --bytes-per-record), --snapshot or --store',
    );
  }
  return [...counts].map(([name, n]) => {
    const b = sizes.get(name) ?? sizes.get(undefined);
    if (b === undefined)
      throw new UsageError(`--bytes-per-record has no size for ${name}: pass ${name}=<bytes> or one for all`);
    return { name: name!, records: n, bytesPerRecord: b };
  });
}

/** Splits `bytes` over the types by their record counts. */
const byCounts = (counts: Readonly<Record<string, number>>, bytes: number): PlanInput['types'] => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.entries(counts).map(([name, records]) => ({
    name,
    records,
    bytesPerRecord: total > 0 ? bytes / total : 0,
  }));
};

interface Measured {
  readonly types: PlanInput['types'];
  /** From a namespace: the median time between its recent versions. */
  readonly cadenceMs?: number;
  /** From a namespace: the median bytes of its recent deltas, and how many there were. */
  readonly deltaBytes?: number;
  readonly deltas?: number;
}

async function measureNamespace(spec: string, namespace: string): Promise<Measured> {
  const store = await openStore(spec);
  const layout = new NamespaceLayout(namespace);
  const announced = await new StoreAnnouncer({ store, namespace }).read();
  if (!announced) {
    throw new UsageError(
      `namespace "${namespace}" has no announced version in ${spec}: pass --records instead`,
    );
  }
  const header = async (v: number) => {
    const key = layout.header(v);
    return decodeVersionHeader(await store.get(key), key);
  };
  const head = await header(announced.version);
  const snap = await header(head.snapshot);
  const recent = [head];
  while (recent.length < 11 && recent.at(-1)!.previous !== undefined) {
    try {
      recent.push(await header(recent.at(-1)!.previous!));
    } catch (error) {
      if (isShoalError(error, 'BLOB_NOT_FOUND')) break; // retention took it
      throw error;
    }
  }
  const gaps = recent.slice(1).map((h, i) => recent[i]!.publishedAt - h.publishedAt);
  gaps.sort((a, b) => a - b);
  // A version's header records its blobs' sizes: the deltas' bytes need no download.
  const deltas = recent.flatMap((h) => (h.bytes.delta !== undefined ? [h.bytes.delta] : []));
  deltas.sort((a, b) => a - b);
  const snapRecords = Object.values(snap.counts).reduce((a, b) => a + b, 0);
  const perRecord = snapRecords > 0 ? (snap.bytes.snapshot ?? 0) / snapRecords : 0;
  const total = Object.values(head.counts).reduce((a, b) => a + b, 0);
  return {
    types: byCounts(head.counts, perRecord * total),
    ...(gaps.length ? { cadenceMs: Math.max(1, gaps[Math.floor(gaps.length / 2)]!) } : {}),
    ...(deltas.length ? { deltaBytes: deltas[Math.floor(deltas.length / 2)]!, deltas: deltas.length } : {}),
  };
}

/** Which figures came from the dataset itself rather than from the flags or the model. */
interface Sources {
  /** Records and bytes per record from a snapshot or a namespace. */
  readonly shape: boolean;
  /** The recent deltas the delta's size is the median of (0: modelled). */
  readonly delta: number;
  /** The input figures measured, by name. */
  readonly measured: readonly string[];
}

const MB = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
const n0 = (x: number) => Math.round(x).toLocaleString('en');
const msText = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(1)} ms`);
const usd = (x: number) => `$${x.toFixed(2)}`;

function table(p: Plan, input: PlanInput, c: Calibration, sources: Sources): string {
  const rows: [string, string][] = [
    ['records', `${n0(p.records)}${sources.shape ? ' (measured)' : ''}`],
    ['snapshot', `${MB(p.snapshotBytes)}${sources.shape ? ' (measured)' : ''}`],
    ['changes per version', n0(p.changesPerVersion)],
    [
      'delta (and reverse delta)',
      `${MB(p.deltaBytes)} (${MB(p.reverseDeltaBytes)})${sources.delta ? ` (measured: median of ${sources.delta} recent deltas)` : ''}`,
    ],
    ['consumer memory, steady', MB(p.consumerMemory.steadyBytes)],
    ['  during a delta refresh', MB(p.consumerMemory.deltaRefreshBytes)],
    ['  during a snapshot refresh', MB(p.consumerMemory.snapshotRefreshBytes)],
    ['  following version after version (peak)', MB(p.consumerMemory.followingBytes)],
    ['consumer refresh (delta)', msText(p.consumerRefreshMs)],
    ['producer delta cycle', msText(p.producer.deltaCycleMs)],
    ['producer snapshot cycle', msText(p.producer.snapshotCycleMs)],
    ['producer CPU (cycle worker)', `${(p.producer.cpuCores * 100).toFixed(0)}% of a core`],
    ['producer memory (library, upserts)', MB(p.producer.memoryBytes)],
    ['  shoal produce, re-stating', MB(p.producer.restateMemoryBytes)],
    [
      'sustained changes/s before backpressure',
      `${n0(p.producer.maxSustainedChangesPerSecond)} (defaults: ${n0(p.producer.maxSustainedAtDefaults)})`,
    ],
    [
      `time to highWatermark at ${n0(p.producer.overloadChangesPerSecond)}/s`,
      p.producer.msToHighWatermark === null ? 'never' : msText(p.producer.msToHighWatermark),
    ],
    ['versions per minute', p.requests.versionsPerMinute.toFixed(1)],
    [
      `store requests per minute (${n0(input.consumers)} consumers)`,
      `announcement checks ${n0(p.requests.perMinute.check)}, GET ${n0(p.requests.perMinute.get)}, PUT ${n0(p.requests.perMinute.put)}, LIST ${n0(p.requests.perMinute.list)}`,
    ],
    ['announcement reads/s, peak', n0(p.requests.announcementReadsPerSecond)],
    ['storage kept', MB(p.requests.storageBytes)],
    [
      'monthly cost (requests + storage)',
      `${usd(p.requests.monthlyCost.requests)} + ${usd(p.requests.monthlyCost.storage)}`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const options = Object.entries(p.options).map(([k, v]) => `  ${k}: ${v}`);
  return [
    ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`),
    '',
    'recommended options:',
    ...options,
    ...(p.warnings.length ? ['', ...p.warnings.map((w) => `warning: ${w}`)] : []),
    '',
    `measured: ${sources.measured.join(', ') || 'nothing (every figure is modelled from the flags)'}`,
    `costs per record and change: ${c.source}`,
    '',
  ].join('\n');
}

export async function planCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      records: { type: 'string', multiple: true, default: [] },
      'bytes-per-record': { type: 'string', multiple: true, default: [] },
      snapshot: { type: 'string' },
      store: { type: 'string' },
      namespace: { type: 'string', default: 'default' },
      'changes-per-second': { type: 'string' },
      'changes-per-version': { type: 'string' },
      consumers: { type: 'string' },
      cadence: { type: 'string' },
      downtime: { type: 'string' },
      'max-lag': { type: 'string' },
      overload: { type: 'string' },
      'price-get': { type: 'string' },
      'price-put': { type: 'string' },
      'price-storage': { type: 'string' },
      profile: { type: 'string' },
      calibrate: { type: 'boolean', default: false },
      sample: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const sources = [values.records.length > 0, values.snapshot !== undefined, values.store !== undefined];
  if (sources.filter(Boolean).length > 1) {
    throw new UsageError('plan takes one dataset: --records, --snapshot or --store');
  }
  let measured: Measured;
  if (values.snapshot !== undefined) {
    const bytes = await readBlobFile(values.snapshot);
    const counts = Object.fromEntries(readSnapshotHeader(bytes).types.map((t) => [t.name, t.size]));
    measured = { types: byCounts(counts, bytes.byteLength) };
  } else if (values.store !== undefined) {
    measured = await measureNamespace(values.store, values.namespace);
  } else {
    measured = { types: givenShape(values.records, values['bytes-per-record']) };
  }
  const cadenceMs = duration('cadence', values.cadence, measured.cadenceMs ?? 1000);
  const rateGiven = values['changes-per-second'] !== undefined || values['changes-per-version'] !== undefined;
  if (values['changes-per-second'] !== undefined && values['changes-per-version'] !== undefined) {
    throw new UsageError('give --changes-per-second or --changes-per-version, not both');
  }
  // Every flag is checked before a calibration takes its seconds.
  const given = {
    consumers: count('consumers', values.consumers, 1),
    downtimeMs: duration('downtime', values.downtime, 3_600_000),
    maxLagMs: duration('max-lag', values['max-lag'], 60_000),
    overload: positive('overload', values.overload, 2),
    prices: {
      getPer1000: nonNegative('price-get', values['price-get'], S3_LIST_PRICES.getPer1000),
      putPer1000: nonNegative('price-put', values['price-put'], S3_LIST_PRICES.putPer1000),
      storagePerGbMonth: nonNegative(
        'price-storage',
        values['price-storage'],
        S3_LIST_PRICES.storagePerGbMonth,
      ),
    },
  };
  const givenRate =
    values['changes-per-version'] !== undefined
      ? nonNegative('changes-per-version', values['changes-per-version'], 0) / (cadenceMs / 1000)
      : nonNegative('changes-per-second', values['changes-per-second'], 100);
  const profile = parseProfile(values.profile);
  const sample = nonNegative('sample', values.sample, 250_000);
  if (values.sample !== undefined && !values.calibrate)
    throw new UsageError('--sample goes with --calibrate');
  if (!Number.isSafeInteger(sample) || sample < 1000)
    throw new UsageError(`--sample needs a whole number ≥ 1000, got "${values.sample}"`);
  const calibration = values.calibrate ? await calibrate(sample) : REFERENCE_CALIBRATION;
  // A namespace's recent deltas say how much changes per version, when the flags do not: the
  // delta's bytes are used as measured, and the change rate follows from them (and the cadence).
  const useDelta = !rateGiven && measured.deltaBytes !== undefined;
  const records = measured.types.reduce((a, t) => a + t.records, 0);
  const bytesPerRecord =
    records > 0 ? measured.types.reduce((a, t) => a + t.records * t.bytesPerRecord, 0) / records : 0;
  const changesPerSecond = useDelta
    ? measured.deltaBytes! /
      Math.max(1e-9, bytesPerRecord * calibration.deltaBytesPerChange) /
      (cadenceMs / 1000)
    : givenRate;
  let input: PlanInput = {
    ...given,
    types: measured.types,
    changesPerSecond,
    cadenceMs,
    ...(useDelta ? { measuredDeltaBytes: measured.deltaBytes! } : {}),
  };
  if (profile !== undefined) input = { ...input, options: TUNING_PROFILES[profile] };
  const result = plan(input, calibration);
  const shape = values.snapshot !== undefined || values.store !== undefined;
  const origin: Sources = {
    shape,
    delta: useDelta ? measured.deltas! : 0,
    measured: [
      ...(shape ? ['records', 'bytesPerRecord'] : []),
      ...(measured.cadenceMs !== undefined && values.cadence === undefined ? ['cadenceMs'] : []),
      ...(useDelta ? ['deltaBytes', 'changesPerSecond'] : []),
    ],
  };
  process.stdout.write(
    values.json
      ? `${JSON.stringify({ input, measured: origin.measured, calibration, plan: result }, null, 2)}\n`
      : table(result, input, calibration, origin),
  );
  return 0;
}
