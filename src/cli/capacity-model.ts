/**
 * The capacity model behind `shoal plan`: from a dataset's shape, its change rate, the fleet
 * and the cadence, what a deployment will cost in bytes, memory, CPU time and store requests,
 * and the options that fit. Every formula is written out here and in the README; the costs
 * per record and per change come from a `Calibration` (measured on a reference machine, or on
 * this one by `shoal plan --calibrate`), so the model itself is arithmetic plus one small
 * simulation of the batching producer (where a closed form would hide the batching rules).
 */

/** Per-machine costs the model scales. Times in ms, sizes in bytes. */
export interface Calibration {
  /** Where these figures were measured. */
  readonly source: string;
  /** Bytes per record of the sample the figures were measured on. */
  readonly sampleBytesPerRecord?: number;
  /** The producer's own thread per acknowledged change (copy, validate, pack, log). */
  readonly ackMsPerChange: number;
  /** A delta cycle: fixed cost (publish, fsync, announce, retention). */
  readonly cycleMsFixed: number;
  /** A delta cycle: per record held in the state (index copy, checksum upkeep). */
  readonly cycleMsPerRecord: number;
  /** A delta cycle: per change in the batch (build, encode, integrity). */
  readonly cycleMsPerChange: number;
  /** A snapshot version: extra time per record (encode and check the whole state). */
  readonly snapshotMsPerRecord: number;
  /** Delta bytes per change, as a share of the bytes per record. */
  readonly deltaBytesPerChange: number;
  /** Reverse-delta bytes per change, as a share of the bytes per record. */
  readonly reverseBytesPerChange: number;
  /** Write-ahead-log bytes per pending change, as a share of the bytes per record. */
  readonly logBytesPerChange: number;
  /** A consumer process's resident memory before its state (Node, shoal, HTTP server). */
  readonly consumerBaseBytes: number;
  /** Resident bytes per byte of snapshot held by a consumer. */
  readonly residentPerSnapshotByte: number;
  /**
   * `shoal produce`'s resident bytes per input record while it re-states the dataset (the
   * input read into objects, validated and built), at the sample's bytes per record; the plan
   * scales it by the dataset's bytes per record.
   */
  readonly restateBytesPerRecord: number;
  /**
   * A consumer's resident bytes per change of a delta it applies, beyond the delta and the
   * index shards it copies (the records' new pages, the decoded delta, the refresh's garbage),
   * at the sample's bytes per record; the plan scales it by the dataset's.
   * @default the reference figure
   */
  readonly refreshBytesPerChange?: number;
  /**
   * A consumer that keeps following versions holds the garbage of several refreshes before the
   * collector frees the old states' buffers: its peak over the loaded state, in refreshes' worth
   * of what one refresh adds (measured over the calibration's versions).
   * @default 5
   */
  readonly followingRefreshes?: number;
  /** Consumer refresh time: fixed, per record, per change. */
  readonly refreshMsFixed: number;
  readonly refreshMsPerRecord: number;
  readonly refreshMsPerChange: number;
}

/**
 * Measured by `shoal plan --calibrate --sample 100000` on the 2-core reference machine of the
 * README's benchmarks (Movie records, 43 bytes each), taken as the median of five runs; the
 * cycle and snapshot costs from two runs of `shoal plan --calibrate` (250,000 sample records)
 * on the quiet machine (the cost per record held is 0: see calibrate.ts); the
 * re-stating memory from `shoal produce` at 50,000 and 250,000 Movie records (181 MB apart);
 * the refresh memory from a 1% delta refresh at 1,000,000 (18.9 MB over the loaded state).
 */
export const REFERENCE_CALIBRATION: Calibration = {
  source: 'reference machine (README benchmarks, 2 cores, Node 20)',
  ackMsPerChange: 0.0018,
  cycleMsFixed: 33,
  cycleMsPerRecord: 0,
  cycleMsPerChange: 0.0053,
  snapshotMsPerRecord: 0.00007,
  deltaBytesPerChange: 0.85,
  reverseBytesPerChange: 1.05,
  logBytesPerChange: 1.4,
  consumerBaseBytes: 60e6,
  residentPerSnapshotByte: 1.0,
  restateBytesPerRecord: 930,
  refreshBytesPerChange: 1100,
  followingRefreshes: 5,
  refreshMsFixed: 5,
  refreshMsPerRecord: 0.00002,
  refreshMsPerChange: 0.004,
};

/** Bytes per record of the reference calibration's sample (the README's Movie records). */
export const REFERENCE_BYTES_PER_RECORD = 43;

/** S3 Standard list prices (us-east-1), per 1,000 requests and per GB-month. */
export interface Prices {
  readonly getPer1000: number;
  readonly putPer1000: number;
  readonly storagePerGbMonth: number;
}
export const S3_LIST_PRICES: Prices = { getPer1000: 0.0004, putPer1000: 0.005, storagePerGbMonth: 0.023 };

export interface PlanInput {
  /** Records per type and bytes per record in a snapshot. */
  readonly types: readonly {
    readonly name: string;
    readonly records: number;
    readonly bytesPerRecord: number;
  }[];
  /** Changes (upserts and deletes) per second the producer receives. */
  readonly changesPerSecond: number;
  /** Consumers following the namespace. */
  readonly consumers: number;
  /** The wanted time between versions (ms): how fresh consumers should be. */
  readonly cadenceMs: number;
  /** How long a consumer may be down and still catch up by deltas (ms). @default 1 hour */
  readonly downtimeMs?: number;
  /** How far behind the producer may fall before pushing back (ms of its drain rate). @default 60 s */
  readonly maxLagMs?: number;
  /** An overload, as a multiple of the highest sustained rate, for the time to the watermark. @default 2 */
  readonly overload?: number;
  readonly prices?: Prices;
  /**
   * A delta's bytes as measured (the median of a namespace's recent deltas): the plan takes it
   * instead of modelling one from the change rate, and sizes the reverse delta by it.
   */
  readonly measuredDeltaBytes?: number;
  /** Options to plan with instead of the recommended ones (a tuning profile's, say). */
  readonly options?: Partial<PlanOptions>;
}

/** The options `shoal plan` recommends, named as the producer's and watcher's options. */
export interface PlanOptions {
  readonly maxBatchRecords: number;
  readonly maxBatchDelayMs: number;
  readonly highWatermark: number;
  readonly lowWatermark: number;
  /** Pushing back by the logged bytes of pending changes too (until half of it). */
  readonly highWatermarkBytes: number;
  readonly snapshotEvery: number;
  readonly keepSnapshots: number;
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
}

/** The settings the batching simulation runs under. */
export interface BatchSettings {
  readonly maxBatchRecords: number;
  readonly maxBatchDelayMs: number;
  readonly highWatermark: number;
}

export interface Plan {
  readonly records: number;
  readonly snapshotBytes: number;
  readonly changesPerVersion: number;
  readonly deltaBytes: number;
  readonly reverseDeltaBytes: number;
  readonly consumerMemory: {
    readonly steadyBytes: number;
    readonly deltaRefreshBytes: number;
    readonly snapshotRefreshBytes: number;
    /** The peak of a consumer that follows version after version (the old states' garbage). */
    readonly followingBytes: number;
  };
  readonly consumerRefreshMs: number;
  readonly producer: {
    readonly deltaCycleMs: number;
    readonly snapshotCycleMs: number;
    /** Share of one core the cycle worker keeps busy. */
    readonly cpuCores: number;
    /** A library producer fed by upserts: two states and its pending changes at the high watermark. */
    readonly memoryBytes: number;
    /** `shoal produce` while it re-states the dataset: two states and the input as objects. */
    readonly restateMemoryBytes: number;
    /** The highest change rate the producer sustains under the recommended options. */
    readonly maxSustainedChangesPerSecond: number;
    /** The same, under the defaults. */
    readonly maxSustainedAtDefaults: number;
    /** At `overload` × the sustained rate, the time until `highWatermark` pushes back. */
    readonly overloadChangesPerSecond: number;
    readonly msToHighWatermark: number | null;
  };
  readonly requests: {
    readonly versionsPerMinute: number;
    readonly perMinute: {
      /** Conditional GETs of the announcement (billed as GETs, 304s included). */
      readonly check: number;
      /** GETs of deltas and snapshots. */
      readonly get: number;
      readonly put: number;
      readonly list: number;
    };
    /** Checks per second of the announcement, peak when versions arrive. */
    readonly announcementReadsPerSecond: number;
    readonly storageBytes: number;
    readonly monthlyCost: { readonly requests: number; readonly storage: number };
  };
  readonly options: PlanOptions;
  readonly warnings: readonly string[];
}

/** Option defaults of the producer and the S3 watcher (the model plans against these). */
export const DEFAULT_SETTINGS: PlanOptions = {
  maxBatchRecords: 10_000,
  maxBatchDelayMs: 1_000,
  highWatermark: 1_000_000,
  lowWatermark: 500_000,
  highWatermarkBytes: 256 * 1024 * 1024,
  snapshotEvery: 10,
  keepSnapshots: 5,
  minIntervalMs: 1_000,
  maxIntervalMs: 30_000,
};

/** Bytes of the primary-key index per record (4-byte slots at a load factor of 3/4). */
export const INDEX_BYTES_PER_RECORD = 16 / 3;
/** Slots per shard of the primary-key index (`Layout.keyShard`): a delta copies the shards it writes. */
const INDEX_SHARD_SLOTS = 4096;

/**
 * The bytes a consumer holds beyond its steady state while it applies a delta of `changes`
 * changes to `records` records: the delta itself, the index shards the changes write (each
 * change writes one slot, the shards hit at random: S·(1 − e^(−C/S)) of S shards), and the
 * records' new pages with the refresh's transient objects, per change.
 */
export function refreshExtraBytes(
  c: Calibration,
  records: number,
  changes: number,
  deltaBytes: number,
  bytesPerRecord: number,
): number {
  const shards = Math.max(1, (records * INDEX_BYTES_PER_RECORD) / 4 / INDEX_SHARD_SLOTS);
  const indexCopied = INDEX_BYTES_PER_RECORD * records * (1 - Math.exp(-changes / shards));
  const perChange =
    (c.refreshBytesPerChange ?? REFERENCE_CALIBRATION.refreshBytesPerChange!) *
    (bytesPerRecord / (c.sampleBytesPerRecord ?? REFERENCE_BYTES_PER_RECORD));
  return deltaBytes + indexCopied + perChange * changes;
}

/** S3 serves about 5,500 GET/HEAD per second per prefix; plan to half of it. */
const S3_READS_PER_PREFIX = 5_500;
const MINUTES_PER_MONTH = 43_800;

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** A delta cycle of `changes` changes over a state of `records` records (ms). */
export function deltaCycleMs(c: Calibration, records: number, changes: number): number {
  return c.cycleMsFixed + c.cycleMsPerRecord * records + c.cycleMsPerChange * changes;
}

/**
 * A delta cycle while changes arrive at `rate` per second: taking them in (copy, validate,
 * log: *ack ms per change* each) comes first on the producer's thread, and the cycle has the
 * share of its time left, T(C) / (1 − rate · ack). The benchmark measures this on a shared
 * 2-core machine; on idle cores the cycle's worker thread loses less.
 */
export function loadedCycleMs(c: Calibration, records: number, changes: number, rate: number): number {
  const busy = Math.min(0.95, (rate * c.ackMsPerChange) / 1000);
  return deltaCycleMs(c, records, changes) / (1 - busy);
}

/**
 * The batching producer under a steady `rate` (changes/s), as a fluid simulation of its rules:
 * a cycle takes every change pending when it starts; the next starts when the previous has
 * ended and either `maxBatchRecords` are waiting or `maxBatchDelayMs` has passed since the
 * first of them; pending (in a cycle or waiting) pushes back at `highWatermark`. Returns when
 * that first happens (ms from the start, or null within `horizonMs`) and the steady batch.
 */
export function simulateBatching(
  rate: number,
  cycleMs: (changes: number) => number,
  s: BatchSettings,
  horizonMs = 3_600_000,
): { msToHighWatermark: number | null; batch: number; intervalMs: number; converged: boolean } {
  const perMs = rate / 1000;
  let start = 0; // when the cycle in flight took its batch; arrivals since then are waiting
  let batch = 0;
  let interval = 0;
  for (let cycles = 0; start < horizonMs && cycles < 1_000_000; cycles++) {
    const took = batch;
    const end = start + (took > 0 ? cycleMs(took) : 0);
    // Pending peaks just before the cycle's announce: its batch plus everything since it began.
    const peak = took + perMs * (end - start);
    if (peak >= s.highWatermark) {
      const t = start + (s.highWatermark - took) / perMs;
      return { msToHighWatermark: Math.max(0, t), batch: took, intervalMs: end - start, converged: false };
    }
    const byCount = start + s.maxBatchRecords / perMs;
    const byDelay = start + s.maxBatchDelayMs; // the first change after `start` arrives at once
    const next = Math.max(end, Math.min(byCount, byDelay));
    const nextBatch = perMs * (next - start);
    interval = next - start;
    // Converged: the same batch again is the steady state.
    if (took > 0 && Math.abs(nextBatch - took) < 1e-6 * Math.max(1, took)) {
      return { msToHighWatermark: null, batch: took, intervalMs: interval, converged: true };
    }
    start = next;
    batch = nextBatch;
  }
  // The horizon passed with batches still growing: the backlog grows, the watermark only too high.
  return { msToHighWatermark: null, batch, intervalMs: interval, converged: false };
}

/**
 * The highest rate (changes/s) at which the batches settle (cycles drain what comes) and
 * pending never reaches the high watermark. Settling matters: past the drain rate, a high
 * enough watermark is only reached after the simulation's hour, which is no sustained rate.
 */
export function maxSustainedRate(c: Calibration, records: number, s: BatchSettings): number {
  const ackLimit = 1 / c.ackMsPerChange / 1e-3;
  const holds = (rate: number) => {
    const run = simulateBatching(rate, (n) => loadedCycleMs(c, records, n, rate), s);
    return run.msToHighWatermark === null && run.converged;
  };
  if (holds(ackLimit)) return ackLimit;
  let lo = 0;
  let hi = ackLimit;
  for (let i = 0; i < 50; i++) {
    const mid = (lo + hi) / 2;
    if (holds(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Announcement checks a consumer makes per version when versions come at a steady cadence of
 * at most `maxIntervalMs`: the watcher aims one just after the next version is due, and
 * re-checks a late one. 1.3 is what the fleet benchmark (`npm run bench -- --section fleet`:
 * 1.19–1.56 at 2 s) and the schedule's own test (`test/poll-schedule.test.ts`: under 1.3) show.
 */
export const CHECKS_PER_VERSION_AT_CADENCE = 1.3;

/**
 * A consumer's S3 requests for one version `cadenceMs` after the previous: its checks of the
 * announcement (each one conditional GET: 304 while unchanged; the one that sees the version
 * carries its header) and one GET of the delta. At a steady cadence up to `maxIntervalMs` the
 * watcher follows it (`CHECKS_PER_VERSION_AT_CADENCE`); past that it backs off from
 * `minIntervalMs` after a version, doubling to `maxIntervalMs`.
 */
export function consumerRequestsPerVersion(o: PlanOptions, cadenceMs: number) {
  if (cadenceMs <= o.maxIntervalMs) return { check: CHECKS_PER_VERSION_AT_CADENCE, get: 1 };
  let checks = 1; // the one that sees the new version
  let t = 0;
  let i = o.minIntervalMs;
  // Doubling to the longest interval takes a few polls; from there on they are evenly spaced.
  for (; i < o.maxIntervalMs && t + i < cadenceMs; t += i, i = Math.min(o.maxIntervalMs, i * 2)) checks++;
  if (t + i < cadenceMs) checks += Math.ceil((cadenceMs - t) / o.maxIntervalMs) - 1;
  return { check: checks, get: 1 };
}

/** The whole plan. */
export function plan(input: PlanInput, c: Calibration = REFERENCE_CALIBRATION): Plan {
  const prices = input.prices ?? S3_LIST_PRICES;
  const records = input.types.reduce((n, t) => n + t.records, 0);
  const snapshotBytes = input.types.reduce((n, t) => n + t.records * t.bytesPerRecord, 0);
  const bytesPerRecord = records > 0 ? snapshotBytes / records : 0;
  const rate = input.changesPerSecond;
  const warnings: string[] = [];

  // Batching: a version every cadence, its batch what arrives meanwhile (with room for bursts
  // of twice the rate before the count cuts a version early).
  const given = input.options ?? {};
  const maxBatchDelayMs = given.maxBatchDelayMs ?? Math.round(clamp(input.cadenceMs, 50, 600_000));
  if (given.maxBatchDelayMs === undefined && maxBatchDelayMs !== Math.round(input.cadenceMs)) {
    warnings.push(
      `a cadence of ${Math.round(input.cadenceMs)} ms is outside what a producer batches by time (50 ms to 10 minutes): the plan uses maxBatchDelayMs ${maxBatchDelayMs}. For versions further apart, run shoal produce when the source changes instead.`,
    );
  }
  const maxBatchRecords =
    given.maxBatchRecords ?? Math.round(clamp(2 * rate * (maxBatchDelayMs / 1000), 1_000, 5_000_000));
  const cycle = (n: number) => deltaCycleMs(c, records, n);

  // Watermarks: "capacity" is the backlog the producer drains within `maxLagMs` at its drain
  // rate (batches of maxBatchRecords); high at 0.8 of it and low at 0.6, never below two
  // batches (a cycle's batch and the one waiting).
  const drain = maxBatchRecords / (cycle(maxBatchRecords) / 1000);
  const capacity = drain * ((input.maxLagMs ?? 60_000) / 1000);
  const highWatermark = given.highWatermark ?? Math.round(Math.max(2 * maxBatchRecords + 1, 0.8 * capacity));
  const lowWatermark =
    given.lowWatermark ??
    Math.round(Math.max(maxBatchRecords, Math.min(0.6 * capacity, 0.75 * highWatermark)));
  // By bytes: twice what highWatermark changes of the average size log, so that the count is
  // what pushes back, and the bytes only when changes run far larger than the average.
  const logBytesPerChange = Math.max(1, bytesPerRecord * c.logBytesPerChange);
  const highWatermarkBytes =
    given.highWatermarkBytes ?? Math.ceil(Math.max(1024 * 1024, 2 * highWatermark * logBytesPerChange));
  const settings: BatchSettings = { maxBatchRecords, maxBatchDelayMs, highWatermark };

  const steady = simulateBatching(rate, (n) => loadedCycleMs(c, records, n, rate), settings);
  // A quiet source makes no versions: consumers only poll, at their longest interval.
  const quiet = !(rate > 0);
  const changesPerVersion = quiet ? 0 : Math.max(1, steady.batch || rate * (maxBatchDelayMs / 1000));
  const intervalMs = quiet ? Number.POSITIVE_INFINITY : steady.intervalMs || maxBatchDelayMs;
  // A delta carries each changed record once, however often it changed: at most every record.
  const changedRecords = Math.min(changesPerVersion, Math.max(1, records));
  const deltaBytes = input.measuredDeltaBytes ?? changedRecords * bytesPerRecord * c.deltaBytesPerChange;
  const reverseDeltaBytes = deltaBytes * (c.reverseBytesPerChange / c.deltaBytesPerChange);

  // Snapshots: a new consumer reads a snapshot and at most snapshotEvery - 1 deltas; keep the
  // deltas after a snapshot under half its size. Retention keeps enough snapshots (and their
  // deltas) that a consumer down for `downtimeMs` still catches up by deltas.
  const snapshotEvery =
    given.snapshotEvery ?? Math.round(clamp(snapshotBytes / (2 * Math.max(1, deltaBytes)), 2, 100));
  const versionsInDowntime = (input.downtimeMs ?? 3_600_000) / intervalMs;
  const wantedSnapshots = Math.ceil(versionsInDowntime / snapshotEvery) + 1;
  const keepSnapshots = given.keepSnapshots ?? Math.round(clamp(wantedSnapshots, 2, 100));
  if (given.keepSnapshots === undefined && wantedSnapshots > 100) {
    warnings.push(
      `covering the downtime would keep ${wantedSnapshots} snapshots; the plan keeps 100, about ${Math.round((100 * snapshotEvery * intervalMs) / 60_000)} minutes of versions: raise snapshotEvery or accept reloads after longer outages.`,
    );
  }

  // Watchers: back to polling every quarter cadence after a version, at most every cadence
  // when quiet, and slow enough that the fleet stays under half of S3's per-prefix read rate.
  const fleetFloorMs = (input.consumers / (S3_READS_PER_PREFIX / 2)) * 1000;
  const minIntervalMs =
    given.minIntervalMs ?? Math.ceil(clamp(Math.max(intervalMs / 4, fleetFloorMs), 200, 30_000));
  const maxIntervalMs =
    given.maxIntervalMs ?? Math.round(Math.max(minIntervalMs, clamp(intervalMs, 1_000, 60_000)));
  const options: PlanOptions = {
    maxBatchRecords,
    maxBatchDelayMs,
    highWatermark,
    lowWatermark,
    highWatermarkBytes,
    snapshotEvery,
    keepSnapshots,
    minIntervalMs,
    maxIntervalMs,
  };

  const dCycle = cycle(changesPerVersion);
  const sCycle = dCycle + c.snapshotMsPerRecord * records;
  const meanCycle = dCycle + (c.snapshotMsPerRecord * records) / snapshotEvery;
  const sustained = maxSustainedRate(c, records, settings);
  const sustainedAtDefaults = maxSustainedRate(c, records, DEFAULT_SETTINGS);
  const overloadRate = sustained * (input.overload ?? 2);
  const overloaded = simulateBatching(
    overloadRate,
    (n) => loadedCycleMs(c, records, n, overloadRate),
    settings,
  );
  if (rate > sustained) {
    warnings.push(
      `${Math.round(rate)} changes/s is past the ${Math.round(sustained)}/s this producer sustains: pending changes grow until backpressure. Shard the namespace or lengthen the cadence.`,
    );
  }

  const resident = snapshotBytes * c.residentPerSnapshotByte;
  const steadyBytes = c.consumerBaseBytes + resident;
  // Until the swap, what the delta writes is held beside the pages it replaces (copy-on-write).
  const refreshExtra = refreshExtraBytes(c, records, changedRecords, deltaBytes, bytesPerRecord);
  const deltaRefreshBytes = steadyBytes + refreshExtra;
  const followingBytes =
    steadyBytes + (c.followingRefreshes ?? REFERENCE_CALIBRATION.followingRefreshes!) * refreshExtra;
  const snapshotRefreshBytes = steadyBytes + resident;

  const perVersion = consumerRequestsPerVersion(options, quiet ? maxIntervalMs : intervalMs);
  const versionsPerMinute = quiet ? 0 : 60_000 / intervalMs;
  const putsPerVersion = 4 + 1 / snapshotEvery; // delta, reverse, header, announcement (+ snapshot)
  const perMinute = {
    check: quiet
      ? input.consumers * (60_000 / maxIntervalMs)
      : input.consumers * perVersion.check * versionsPerMinute,
    get: input.consumers * perVersion.get * versionsPerMinute + versionsPerMinute,
    put: putsPerVersion * versionsPerMinute,
    list: versionsPerMinute, // retention lists the headers after each announce
  };
  const announcementReadsPerSecond = input.consumers / (minIntervalMs / 1000);
  if (announcementReadsPerSecond > S3_READS_PER_PREFIX / 2) {
    warnings.push(
      `${Math.round(announcementReadsPerSecond)} reads/s of the announcement is past half of S3's ~${S3_READS_PER_PREFIX}/s per prefix: raise minIntervalMs.`,
    );
  }
  const deltasKept = keepSnapshots * snapshotEvery;
  const storageBytes = keepSnapshots * snapshotBytes + deltasKept * (deltaBytes + reverseDeltaBytes);
  const requestCost =
    ((perMinute.get + perMinute.check) / 1000) * prices.getPer1000 +
    ((perMinute.put + perMinute.list) / 1000) * prices.putPer1000;

  return {
    records,
    snapshotBytes,
    changesPerVersion,
    deltaBytes,
    reverseDeltaBytes,
    consumerMemory: { steadyBytes, deltaRefreshBytes, snapshotRefreshBytes, followingBytes },
    consumerRefreshMs:
      c.refreshMsFixed + c.refreshMsPerRecord * records + c.refreshMsPerChange * changedRecords,
    producer: {
      deltaCycleMs: dCycle,
      snapshotCycleMs: sCycle,
      cpuCores: quiet ? 0 : Math.min(1, meanCycle / intervalMs),
      memoryBytes:
        c.consumerBaseBytes +
        2 * resident +
        Math.min(highWatermark * bytesPerRecord * c.logBytesPerChange, highWatermarkBytes),
      restateMemoryBytes:
        c.consumerBaseBytes +
        2 * resident +
        records *
          c.restateBytesPerRecord *
          (bytesPerRecord / (c.sampleBytesPerRecord ?? REFERENCE_BYTES_PER_RECORD)),
      maxSustainedChangesPerSecond: sustained,
      maxSustainedAtDefaults: sustainedAtDefaults,
      overloadChangesPerSecond: overloadRate,
      msToHighWatermark: overloaded.msToHighWatermark,
    },
    requests: {
      versionsPerMinute,
      perMinute,
      announcementReadsPerSecond,
      storageBytes,
      monthlyCost: {
        requests: requestCost * MINUTES_PER_MONTH,
        storage: (storageBytes / 1e9) * prices.storagePerGbMonth,
      },
    },
    options,
    warnings,
  };
}
