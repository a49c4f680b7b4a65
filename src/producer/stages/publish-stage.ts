/**
 * Stage 5: write the version's blobs, the version header last, each retried (p-retry:
 * exponential backoff with jitter) behind the circuit breaker. Blobs are immutable and written
 * before the announcement, always; a half-published version is never announced.
 *
 * Every blob is created, never overwritten (`ifNoneMatch`: `If-None-Match: *` on S3, exclusive
 * creation on a filesystem). A key that exists already holds either this cycle's own bytes (a
 * put whose answer was lost, then retried) or another producer's version of the same number:
 * that is `ANNOUNCE_CONFLICT`, and the blobs this cycle created are deleted again (created
 * only by it, so nobody else's), leaving the other producer's version whole.
 */
import pRetry from 'p-retry';
import type { BlobStore } from '../../blob/blob-store.ts';
import {
  encodeVersionHeader,
  type NamespaceLayout,
  type VersionHeader,
} from '../../blob/namespace-layout.ts';
import { isShoalError, ShoalError } from '../../errors.ts';
import type { CircuitBreaker } from '../circuit-breaker.ts';
import type { BlobRole, ProducerEvents } from '../producer-events.ts';
import type { EncodedVersion } from './encode-stage.ts';

const FINAL = new Set(['INVALID_KEY', 'STORE_FORBIDDEN', 'ABORTED', 'PRECONDITION_FAILED', 'INVALID_OPTION']);

export interface PublishContext {
  readonly store: BlobStore;
  readonly layout: NamespaceLayout;
  readonly breaker: CircuitBreaker;
  readonly retries: number;
  readonly emit: <K extends keyof ProducerEvents>(event: K, payload: ProducerEvents[K]) => void;
}

/** Deletes blobs a failed cycle created (best effort: they are unreachable without an announcement). */
export async function removeBlobs(store: BlobStore, keys: readonly string[]): Promise<void> {
  for (const key of [...keys].reverse()) await store.delete(key).catch(() => {});
}

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

/** Writes the version's blobs; returns their keys (all created by this call). */
export async function publishVersion(
  ctx: PublishContext,
  previous: number | undefined,
  encoded: EncodedVersion,
  header: VersionHeader,
): Promise<string[]> {
  const v = header.version;
  const blobs: [string, BlobRole, Uint8Array][] = [];
  if (encoded.snapshot) blobs.push([ctx.layout.snapshot(v), 'snapshot', encoded.snapshot]);
  if (encoded.delta && previous !== undefined)
    blobs.push([ctx.layout.delta(previous, v), 'delta', encoded.delta]);
  if (encoded.reverse && previous !== undefined)
    blobs.push([ctx.layout.reverse(v, previous), 'reverse', encoded.reverse]);
  blobs.push([ctx.layout.header(v), 'header', encodeVersionHeader(header)]);
  const created: string[] = [];
  await ctx.breaker.run(async () => {
    for (const [key, role, bytes] of blobs) {
      try {
        await putOnce(ctx, key, bytes);
      } catch (error) {
        if (!isShoalError(error, 'PRECONDITION_FAILED')) throw error;
        const existing = await ctx.store.get(key).catch(() => undefined);
        if (!existing || !sameBytes(existing, bytes)) {
          await removeBlobs(ctx.store, created);
          throw new ShoalError(
            'ANNOUNCE_CONFLICT',
            `another producer is publishing version ${v} of namespace "${ctx.layout.namespace}": "${key}" exists with other bytes. This version was not published and its blobs were removed; run one producer per namespace (restart this one to resume from the announced version).`,
            { cause: error },
          );
        }
      }
      created.push(key);
      ctx.emit('published', { key, role, bytes: bytes.byteLength });
    }
  });
  return created;
}

/** Creates `key` (never overwrites it), retrying what may pass if tried again. */
function putOnce(ctx: PublishContext, key: string, bytes: Uint8Array) {
  return pRetry(() => ctx.store.put(key, bytes, { ifNoneMatch: true }), {
    retries: ctx.retries,
    minTimeout: 50,
    maxTimeout: 2000,
    factor: 2,
    randomize: true,
    shouldRetry: ({ error }) => !(isShoalError(error) && FINAL.has(error.code)),
    onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
      if (retriesLeft > 0) ctx.emit('retry', { key, attempt: attemptNumber, error });
    },
  });
}
