/**
 * Stage 5: write the version's blobs, the version header last, each retried (p-retry:
 * exponential backoff with jitter) behind the circuit breaker. Blobs are immutable and written
 * before the announcement, always; a half-published version is never announced.
 */
import pRetry from 'p-retry';
import type { BlobStore } from '../../blob/blob-store.ts';
import {
  encodeVersionHeader,
  type NamespaceLayout,
  type VersionHeader,
} from '../../blob/namespace-layout.ts';
import { isShoalError } from '../../errors.ts';
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

export async function publishVersion(
  ctx: PublishContext,
  previous: number | undefined,
  encoded: EncodedVersion,
  header: VersionHeader,
): Promise<void> {
  const v = header.version;
  const blobs: [string, BlobRole, Uint8Array][] = [];
  if (encoded.snapshot) blobs.push([ctx.layout.snapshot(v), 'snapshot', encoded.snapshot]);
  if (encoded.delta && previous !== undefined)
    blobs.push([ctx.layout.delta(previous, v), 'delta', encoded.delta]);
  if (encoded.reverse && previous !== undefined)
    blobs.push([ctx.layout.reverse(v, previous), 'reverse', encoded.reverse]);
  blobs.push([ctx.layout.header(v), 'header', encodeVersionHeader(header)]);
  await ctx.breaker.run(async () => {
    for (const [key, role, bytes] of blobs) {
      await pRetry(() => ctx.store.put(key, bytes), {
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
      ctx.emit('published', { key, role, bytes: bytes.byteLength });
    }
  });
}
