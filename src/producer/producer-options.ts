/**
 * The producer's options: declared with their defaults, defaulted in one place, validated once
 * with errors that name the option.
 */
import { resolve } from 'node:path';
import type { Announcer } from '../blob/announcer.ts';
import type { BlobStore } from '../blob/blob-store.ts';
import { type TuningProfileName, tuningProfile } from '../blob/tuning-profiles.ts';
import { ShoalError } from '../errors.ts';
import type { Schema } from '../schema/index.ts';
import { DEFAULT_COMPACT_ABOVE } from '../state/build/state-builder.ts';
import { type Layout, layoutOf } from '../state/column/layout.ts';
import type { AnyState } from '../state/read/state.ts';
import type { TypeDiff } from '../state/read/state-diff.ts';
import type { StageName } from './producer-events.ts';

/**
 * A check of a cycle's result before it is published: return (or resolve with) a string, or
 * throw, to refuse the version; return anything else to accept it.
 */
export type Validator = (context: {
  readonly prev: AnyState | undefined;
  readonly next: AnyState;
  readonly diff: Readonly<Record<string, TypeDiff>>;
}) => unknown;

/** Options of `Producer.open`. */
export interface ProducerOptions<S extends Schema = Schema> {
  /** Where blobs go. */
  readonly store: BlobStore;
  /** The namespace under the store (a key path such as `movies` or `prod/movies`). */
  readonly namespace: string;
  /** The schema of the states produced; must be compatible with the announced state's. */
  readonly schema: S;
  /**
   * Who reads and writes the namespace's announcement in `store`: `NatsAnnouncer` from
   * `shoal/nats` writes it to the store and then to a NATS key-value bucket, whence consumers
   * with a push path hear it at once.
   * @default a `StoreAnnouncer` on `store` and `namespace`
   */
  readonly announcer?: Announcer;
  /**
   * The write-ahead log's directory, on a local disk.
   * @default `.shoal/wal/<namespace>` under the working directory
   */
  readonly walDir?: string;
  /**
   * Write a snapshot every this many versions (and always the first).
   * @default 10
   */
  readonly snapshotEvery?: number;
  /**
   * Flush pending upserts and deletes into a cycle once this many are pending (every change
   * logged counts, so a key changed twice counts twice). A cycle takes everything pending when
   * it starts, which may be more.
   * @default 10000
   */
  readonly maxBatchRecords?: number;
  /**
   * Flush pending upserts and deletes this long after the first one came.
   * @default 1000
   */
  readonly maxBatchDelayMs?: number;
  /**
   * Past this many pending changes, upserts and deletes push back.
   * @default 1000000
   */
  readonly highWatermark?: number;
  /**
   * Pushing back ends once pending changes drop below this.
   * @default half of highWatermark
   */
  readonly lowWatermark?: number;
  /**
   * Past this many bytes of pending changes (as logged), upserts and deletes push back too,
   * until they drop below half of it: a store that keeps failing (a full disk) cannot make the
   * pending batch outgrow the log's disk.
   * @default 268435456 (256 MiB)
   */
  readonly highWatermarkBytes?: number;
  /**
   * How to push back: `wait` (the call resolves once below the low watermark) or `reject`
   * (`BACKPRESSURE`).
   * @default 'wait'
   */
  readonly backpressure?: 'wait' | 'reject';
  /**
   * Refuse a version whose record count of any type changes by more than this share
   * (0.5 = 50%) from the previous version (`VALIDATION_FAILED`).
   * @default no limit
   */
  readonly maxRecordCountChange?: number;
  /** More checks of each cycle before publishing. */
  readonly validators?: readonly Validator[];
  /**
   * Retries of each blob write (with exponential backoff and jitter) on top of the store's
   * own (the S3 store retries 3 times by default). 0 keeps one retry budget per write, so a
   * cycle with the store down fails within a few seconds; raise it for a store that does not
   * retry by itself.
   * @default 0
   */
  readonly publishRetries?: number;
  /**
   * Publishing failures in a row that open the circuit breaker.
   * @default 5
   */
  readonly breakerThreshold?: number;
  /**
   * How long an open breaker waits before letting one publish through.
   * @default 30000
   */
  readonly breakerCooldownMs?: number;
  /**
   * Snapshots whose versions stay reachable; older blobs are deleted after each announce.
   * @default 5
   */
  readonly keepSnapshots?: number;
  /**
   * fsync the write-ahead log (off only for throwaway data).
   * @default true
   */
  readonly fsync?: boolean;
  /**
   * Where versions are built, encoded and checked: `'worker'` runs that work in a worker thread,
   * so upserts are logged and acknowledged at full speed while a cycle runs (states live on
   * SharedArrayBuffers, so the producer's thread reads them without a copy); `'main'` runs it
   * on the producer's thread (for runtimes without worker threads, or bundles that cannot ship
   * the worker's module).
   * @default 'worker'
   */
  readonly cycleThread?: 'worker' | 'main';
  /**
   * Who the producer is, in announcements.
   * @default `<hostname>:<pid>`
   */
  readonly producerId?: string;
  /**
   * A tuning profile: sets `maxBatchRecords`, `maxBatchDelayMs`, `highWatermark`,
   * `lowWatermark` and `snapshotEvery` together (README, "Tuning profiles"); options given
   * here win over it.
   * @default 'balanced' (the defaults above)
   */
  readonly profile?: TuningProfileName;
  /**
   * Compaction of the states built: when a type's share of empty ordinals would pass this,
   * the build moves records into holes so the state stays near a fresh snapshot's size (see
   * `BuildOptions.compactAbove`; README, "Compaction"). 1 turns it off.
   * @default 0.05
   */
  readonly compactAbove?: number;
  /** For fault drills and tests: runs before each stage; throwing fails that stage. */
  readonly beforeStage?: (stage: StageName) => void | Promise<void>;
  /** @internal Encoding thresholds of the states built, for tests (see `Layout`). */
  readonly layout?: Partial<Layout>;
  /** @internal The clock versions are taken from (ms), for tests that make two producers collide. */
  readonly clock?: () => number;
}

/** Options with every default filled in. */
export type ResolvedProducerOptions<S extends Schema> = Required<
  Omit<ProducerOptions<S>, 'maxRecordCountChange' | 'beforeStage' | 'layout' | 'clock' | 'announcer'>
> & {
  readonly announcer: Announcer | undefined;
  readonly layout: Partial<Layout> | undefined;
  readonly clock: () => number;
  readonly maxRecordCountChange: number | undefined;
  readonly beforeStage: ((stage: StageName) => void | Promise<void>) | undefined;
};

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ShoalError('INVALID_OPTION', `${name} must be a whole number ≥ 1, got ${value}`);
  }
  return value;
}

/** Fills in defaults and validates; `INVALID_OPTION` names the option that is wrong. */
export function resolveProducerOptions<S extends Schema>(
  o: ProducerOptions<S>,
  hostId: string,
): ResolvedProducerOptions<S> {
  if (!o || typeof o.store?.put !== 'function')
    throw new ShoalError('INVALID_OPTION', 'store must be a BlobStore');
  if (!o.schema?.types)
    throw new ShoalError('INVALID_OPTION', 'schema must be a schema made with t.schema([...])');
  const profile = tuningProfile(o.profile);
  const high = positiveInt('highWatermark', o.highWatermark ?? profile.highWatermark);
  const low = o.lowWatermark ?? (o.highWatermark === undefined ? profile.lowWatermark : Math.floor(high / 2));
  if (!Number.isSafeInteger(low) || low < 0 || low >= high) {
    throw new ShoalError(
      'INVALID_OPTION',
      `lowWatermark must be a whole number below highWatermark (${high}), got ${low}`,
    );
  }
  if (o.backpressure !== undefined && o.backpressure !== 'wait' && o.backpressure !== 'reject') {
    throw new ShoalError(
      'INVALID_OPTION',
      `backpressure must be 'wait' or 'reject', got ${String(o.backpressure)}`,
    );
  }
  if (o.cycleThread !== undefined && o.cycleThread !== 'worker' && o.cycleThread !== 'main') {
    throw new ShoalError(
      'INVALID_OPTION',
      `cycleThread must be 'worker' or 'main', got ${String(o.cycleThread)}`,
    );
  }
  const compactAbove = o.compactAbove ?? DEFAULT_COMPACT_ABOVE;
  if (typeof compactAbove !== 'number' || !(compactAbove > 0 && compactAbove <= 1)) {
    throw new ShoalError(
      'INVALID_OPTION',
      `compactAbove must be a share in (0, 1] (1 turns compaction off), got ${String(o.compactAbove)}`,
    );
  }
  if (o.maxRecordCountChange !== undefined && !(o.maxRecordCountChange >= 0)) {
    throw new ShoalError(
      'INVALID_OPTION',
      `maxRecordCountChange must be a share ≥ 0, got ${o.maxRecordCountChange}`,
    );
  }
  const out: ResolvedProducerOptions<S> = {
    store: o.store,
    namespace: o.namespace,
    schema: o.schema,
    announcer: o.announcer,
    walDir: resolve(o.walDir ?? `.shoal/wal/${o.namespace}`),
    snapshotEvery: positiveInt('snapshotEvery', o.snapshotEvery ?? profile.snapshotEvery),
    maxBatchRecords: positiveInt('maxBatchRecords', o.maxBatchRecords ?? profile.maxBatchRecords),
    maxBatchDelayMs: positiveInt('maxBatchDelayMs', o.maxBatchDelayMs ?? profile.maxBatchDelayMs),
    highWatermark: high,
    lowWatermark: low,
    highWatermarkBytes: positiveInt('highWatermarkBytes', o.highWatermarkBytes ?? 256 * 1024 * 1024),
    backpressure: o.backpressure ?? 'wait',
    validators: o.validators ?? [],
    publishRetries: o.publishRetries ?? 0,
    breakerThreshold: positiveInt('breakerThreshold', o.breakerThreshold ?? 5),
    breakerCooldownMs: o.breakerCooldownMs ?? 30_000,
    keepSnapshots: positiveInt('keepSnapshots', o.keepSnapshots ?? 5),
    fsync: o.fsync ?? true,
    cycleThread: o.cycleThread ?? 'worker',
    producerId: o.producerId ?? hostId,
    profile: o.profile ?? 'balanced',
    compactAbove,
    maxRecordCountChange: o.maxRecordCountChange,
    beforeStage: o.beforeStage,
    layout: o.layout && layoutOf(o.layout),
    clock: o.clock ?? (() => Date.now()),
  };
  return out;
}
