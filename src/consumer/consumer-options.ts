/**
 * The options of `Consumer.open` / `Consumer.create`, documented and checked in one place.
 */
import type { AnnouncementWatcherOptions } from '../blob/announcement-watcher.ts';
import type { BlobStore } from '../blob/blob-store.ts';
import { ShoalError } from '../errors.ts';
import type { Schema } from '../schema/index.ts';
import type { Layout } from '../state/column/layout.ts';

/** The longest delay a Node timer holds: 2^31 - 1 ms. */
const TIMER_MAX_MS = 2_147_483_647;

/** How long `start()` waits for a first version when nothing is announced yet. */
export interface WaitForFirstVersion {
  /**
   * Give up after this many milliseconds (`NO_VERSION_ANNOUNCED`); at most 2147483647 (about
   * 24.8 days, what a timer holds).
   * @default no limit: wait until a version is announced, the signal aborts, or `close()`
   */
  readonly timeoutMs?: number;
}

/** Options of {@link Consumer.open}. */
export interface ConsumerOptions<S extends Schema = Schema> extends AnnouncementWatcherOptions {
  readonly store: BlobStore;
  readonly namespace: string;
  /** The schema the caller reads with; the served schema must be compatible with it. */
  readonly schema?: S;
  /**
   * Follow new announcements.
   * @default true
   */
  readonly watch?: boolean;
  /**
   * Serve this version instead of the announced one (until `refreshTo`): a version number, or
   * a label (the newest retained version carrying it; see `refreshTo`).
   * @default the announcement's pin, or its version
   */
  readonly pin?: number | string;
  /**
   * When nothing is announced yet: `false` rejects at once (`BLOB_NOT_FOUND`); `true` or
   * `{ timeoutMs }` watches the announcement and loads the first version announced. While it
   * waits, the consumer is not `loaded` and its health reports not ready, so a service can
   * start (and answer probes) before its producer has published anything.
   * @default false
   */
  readonly waitForFirstVersion?: boolean | WaitForFirstVersion;
  /**
   * Abandons opening (`ABORTED`): the wait for a first version, or the load between its
   * steps. It has no effect once the consumer is open; `close()` stops it then.
   */
  readonly signal?: AbortSignal;
  /**
   * Build states on SharedArrayBuffers.
   * @default false
   */
  readonly sharedMemory?: boolean;
  /**
   * The first wait before retrying a failed refresh; it doubles up to `maxRetryDelayMs`.
   * @default 500
   */
  readonly retryDelayMs?: number;
  /**
   * The longest wait between retries of a failed refresh.
   * @default 30000
   */
  readonly maxRetryDelayMs?: number;
  /**
   * Decode snapshots with `verify: true`: recompute their checksum, look every key up through
   * the index and check every string and json value (about 0.5 s per million records here,
   * against ~40 ms without). Deltas are always checked by checksum, and every blob's structure
   * always.
   * @default false
   */
  readonly verifySnapshots?: boolean;
  /**
   * What one store request is worth in bytes when a refresh chooses its path (round-trip
   * time × throughput): a path of deltas costs its bytes plus this per delta, a snapshot its
   * bytes plus this once. 0 weighs bytes alone; a filesystem store may set it low.
   * @default 262144 (256 KiB: ~20 ms at ~100 MB/s, an S3 GET)
   */
  readonly requestCostBytes?: number;
  /** @internal Encoding thresholds of the columns deltas rebuild, for tests (see `Layout`). */
  readonly layout?: Partial<Layout>;
}

/**
 * `waitForFirstVersion` as what it means: `undefined` to reject at once, else the timeout
 * (`undefined` for none). `INVALID_OPTION` for anything else.
 */
export function waitOption(
  value: ConsumerOptions['waitForFirstVersion'],
): { readonly timeoutMs: number | undefined } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { timeoutMs: undefined };
  if (typeof value !== 'object' || value === null) {
    throw new ShoalError(
      'INVALID_OPTION',
      `waitForFirstVersion must be true, false or { timeoutMs }, got ${String(value)}`,
    );
  }
  const { timeoutMs } = value;
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new ShoalError(
      'INVALID_OPTION',
      `waitForFirstVersion.timeoutMs must be a positive number of milliseconds (leave it out to wait without a limit), got ${String(timeoutMs)}`,
    );
  }
  // Node fires a longer timer at once (with a TimeoutOverflowWarning): the wait would end unwaited.
  if (timeoutMs !== undefined && timeoutMs > TIMER_MAX_MS) {
    throw new ShoalError(
      'INVALID_OPTION',
      `waitForFirstVersion.timeoutMs is at most ${TIMER_MAX_MS} (about 24.8 days, what a timer holds; leave it out to wait without a limit), got ${timeoutMs}`,
    );
  }
  return { timeoutMs };
}

/** `requestCostBytes`, defaulted; `INVALID_OPTION` unless a non-negative finite number. */
export function requestCostOption(value: number | undefined): number {
  if (value === undefined) return DEFAULT_REQUEST_COST_BYTES;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ShoalError(
      'INVALID_OPTION',
      `requestCostBytes must be a non-negative number of bytes, got ${String(value)}`,
    );
  }
  return value;
}

/** What a request is worth when planning, unless `requestCostBytes` says. */
export const DEFAULT_REQUEST_COST_BYTES = 256 * 1024;

/**
 * `retryDelayMs` and `maxRetryDelayMs`, defaulted; `INVALID_OPTION` unless each is a positive
 * number of milliseconds a timer holds, the first no larger than the second (0, NaN or a
 * negative delay retried a failing refresh hundreds of times a second).
 */
export function retryDelayOptions(
  retryDelayMs: number | undefined,
  maxRetryDelayMs: number | undefined,
): { readonly base: number; readonly max: number } {
  const base = retryDelayMs ?? 500;
  const max = maxRetryDelayMs ?? Math.max(30_000, base);
  for (const [name, v] of [
    ['retryDelayMs', base],
    ['maxRetryDelayMs', max],
  ] as const) {
    if (typeof v !== 'number' || !(Number.isFinite(v) && v > 0 && v <= TIMER_MAX_MS)) {
      throw new ShoalError(
        'INVALID_OPTION',
        `${name} must be a positive number of milliseconds (at most ${TIMER_MAX_MS}), got ${String(v)}`,
      );
    }
  }
  if (max < base) {
    throw new ShoalError(
      'INVALID_OPTION',
      `maxRetryDelayMs (${max}) must be at least retryDelayMs (${base})`,
    );
  }
  return { base, max };
}
