/**
 * Tuning profiles: named sets of the options that trade freshness against throughput and
 * store requests, set together so they agree (a producer cutting a version every 20 ms is
 * wasted on consumers that poll every 30 s). A producer takes the batching, watermark and
 * snapshot options of its profile; a consumer (its announcement watcher) the polling ones.
 * Options given explicitly win over the profile's.
 */
import { ShoalError } from '../errors.ts';

/** The profiles, by name. */
export type TuningProfileName = 'throughput' | 'balanced' | 'latency';

/** What a profile sets. */
export interface TuningProfile {
  readonly maxBatchRecords: number;
  readonly maxBatchDelayMs: number;
  readonly highWatermark: number;
  readonly lowWatermark: number;
  readonly snapshotEvery: number;
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly fallbackPollMs: number;
}

/**
 * `balanced` is the defaults. `throughput` makes few, large versions (a cycle's fixed cost is
 * paid per 100,000 changes, not 10,000), absorbs bursts with a deeper backlog, snapshots less
 * often (each costs the whole state) and polls less (fewer requests per version). `latency`
 * cuts a version 20 ms after the first change, pushes back early so a backlog stays short,
 * snapshots every 100 versions (its versions are small and many; every 10 would encode the
 * whole state several times a second) and polls often.
 */
export const TUNING_PROFILES: Readonly<Record<TuningProfileName, TuningProfile>> = {
  throughput: {
    maxBatchRecords: 100_000,
    maxBatchDelayMs: 5_000,
    highWatermark: 4_000_000,
    lowWatermark: 3_000_000,
    snapshotEvery: 20,
    minIntervalMs: 5_000,
    maxIntervalMs: 60_000,
    fallbackPollMs: 1_000,
  },
  balanced: {
    maxBatchRecords: 10_000,
    maxBatchDelayMs: 1_000,
    highWatermark: 1_000_000,
    lowWatermark: 500_000,
    snapshotEvery: 10,
    minIntervalMs: 1_000,
    maxIntervalMs: 30_000,
    fallbackPollMs: 1_000,
  },
  latency: {
    maxBatchRecords: 1_000,
    maxBatchDelayMs: 20,
    highWatermark: 200_000,
    lowWatermark: 150_000,
    snapshotEvery: 100,
    minIntervalMs: 200,
    maxIntervalMs: 5_000,
    fallbackPollMs: 250,
  },
};

/** The profile named `name` (`balanced` when undefined); `INVALID_OPTION` for another name. */
export function tuningProfile(name: TuningProfileName | undefined): TuningProfile {
  if (name === undefined) return TUNING_PROFILES.balanced;
  const profile = Object.hasOwn(TUNING_PROFILES, name) ? TUNING_PROFILES[name] : undefined;
  if (!profile) {
    throw new ShoalError(
      'INVALID_OPTION',
      `profile must be one of ${Object.keys(TUNING_PROFILES).join(', ')}, got ${String(name)}`,
    );
  }
  return profile;
}
