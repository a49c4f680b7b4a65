/**
 * Retrying a store call: exponential backoff with jitter (p-retry), only for failures that may
 * pass (5xx, throttling, dropped connections, timeouts), never for a 4xx that will not change.
 */
import pRetry from 'p-retry';
import { ShoalError } from '../errors.ts';
import { aborted } from './blob-store.ts';

/**
 * Retries of a store call by default: with the backoff of 100, 200, 400 ms (each up to twice
 * that, with jitter), a call that keeps failing gives up after at most 1.4 s of waiting plus
 * its four attempts' own time.
 */
export const DEFAULT_RETRIES = 3;

/** How a store retries. */
export interface RetryOptions {
  /**
   * Retries after the first attempt. This is the one retry budget of a store call: the
   * producer and the watcher add none of their own on top.
   * @default 3
   */
  readonly retries?: number;
  /**
   * The first backoff delay; each next one doubles, with jitter.
   * @default 100
   */
  readonly minDelayMs?: number;
  /**
   * The longest backoff delay.
   * @default 2000
   */
  readonly maxDelayMs?: number;
  /** Called on every failed attempt that will be retried (for metrics and logs). */
  readonly onRetry?: (info: RetryInfo) => void;
}

/** A failed attempt that will be retried. */
export interface RetryInfo {
  readonly operation: string;
  readonly key: string;
  readonly attempt: number;
  readonly error: unknown;
}

const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

/** Whether a failure of an S3 call may pass if tried again. */
export function isTransient(error: unknown): boolean {
  const e = error as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    cause?: unknown;
  };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429 || TRANSIENT_NAMES.has(e.name ?? '');
  if (TRANSIENT_NAMES.has(e.name ?? '') || TRANSIENT_CODES.has(e.code ?? '')) return true;
  if (/socket hang up|ECONNRESET|other side closed|EPIPE/i.test(e.message ?? '')) return true;
  return e.cause !== undefined && e.cause !== error && isTransient(e.cause);
}

/**
 * Runs `attempt` until it succeeds, fails for good, or the retries run out
 * (`STORE_UNAVAILABLE`, with the last failure as its cause). `classify` turns a final failure
 * into the error to throw (e.g. `BLOB_NOT_FOUND`).
 */
export async function withRetries<T>(
  operation: string,
  key: string,
  attempt: (signal: AbortSignal | undefined) => Promise<T>,
  options: RetryOptions & { signal?: AbortSignal | undefined },
  classify: (error: unknown) => ShoalError | undefined,
): Promise<T> {
  let last: unknown;
  try {
    return await pRetry(() => attempt(options.signal), {
      retries: options.retries ?? DEFAULT_RETRIES,
      minTimeout: options.minDelayMs ?? 100,
      maxTimeout: options.maxDelayMs ?? 2000,
      factor: 2,
      randomize: true,
      ...(options.signal ? { signal: options.signal } : {}),
      shouldRetry: ({ error }) => isTransient(error),
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        last = error;
        if (retriesLeft > 0 && isTransient(error))
          options.onRetry?.({ operation, key, attempt: attemptNumber, error });
      },
    });
  } catch (error) {
    if (options.signal?.aborted) throw aborted(options.signal.reason);
    const known = classify(error);
    if (known) throw known;
    if (isTransient(error)) {
      throw new ShoalError(
        'STORE_UNAVAILABLE',
        `${operation} "${key}" kept failing after ${(options.retries ?? DEFAULT_RETRIES) + 1} attempts: ${(error as Error).message}. Check the store is reachable; the call can be tried again.`,
        { cause: last ?? error },
      );
    }
    throw new ShoalError('STORE_UNAVAILABLE', `${operation} "${key}" failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
