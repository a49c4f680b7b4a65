/**
 * The storage role: a flat namespace of immutable blobs by key, plus the one mutable object
 * (the announcement), written with a precondition. Adapters: filesystem (the default), S3,
 * memory. Keys are `/`-separated relative paths of safe segments; every adapter refuses the
 * same bad keys with `INVALID_KEY`, so a namespace works the same on all of them.
 */
import { ShoalError } from '../errors.ts';

/** What a store knows about a blob without reading it. */
export interface BlobInfo {
  readonly key: string;
  readonly size: number;
  /** Changes whenever the content changes; what `ifMatch` compares. */
  readonly etag: string;
}

/** Options of every store call. */
export interface CallOptions {
  /** Abandons the call (`ABORTED`). */
  readonly signal?: AbortSignal;
  /**
   * Retries of a transient failure for this call, instead of the store's own number (a caller
   * that has a backoff of its own, like the announcement watcher, passes 0). Stores that never
   * retry (filesystem, memory) ignore it.
   * @default the store's `retries`
   */
  readonly retries?: number;
}

/** Options of {@link BlobStore.put}. */
export interface PutOptions extends CallOptions {
  /** Write only if the blob's current etag is this (`PRECONDITION_FAILED` otherwise). */
  readonly ifMatch?: string;
  /** Write only if no blob has this key (`PRECONDITION_FAILED` otherwise). */
  readonly ifNoneMatch?: true;
}

/** A blob's bytes with the etag they were read at. */
export interface TaggedBlob {
  readonly bytes: Uint8Array;
  readonly etag: string;
}

/** A blob store. Every method rejects with a `ShoalError`. */
export interface BlobStore {
  /** The blob's bytes; `BLOB_NOT_FOUND` when missing. */
  get(key: string, options?: CallOptions): Promise<Uint8Array>;
  /** Writes the blob whole (readers see the old or the new bytes, never a mix); its new info. */
  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<BlobInfo>;
  /** Deletes the blob; deleting a missing blob is not an error. */
  delete(key: string, options?: CallOptions): Promise<void>;
  /** Keys that start with `prefix`, sorted. */
  list(prefix: string, options?: CallOptions): Promise<string[]>;
  /** The blob's info; `BLOB_NOT_FOUND` when missing. */
  head(key: string, options?: CallOptions): Promise<BlobInfo>;
  /**
   * One conditional read: the blob's bytes and etag, or `undefined` when its etag is still
   * `etag` (S3: a GET with `If-None-Match`, answered 304 without a body; filesystem: a stat).
   * `BLOB_NOT_FOUND` when missing. Optional: the announcement watcher falls back to a `head`,
   * then a `get` when the etag moved, on a store without it.
   */
  getIfChanged?(
    key: string,
    etag: string | undefined,
    options?: CallOptions,
  ): Promise<TaggedBlob | undefined>;
}

/**
 * `store.getIfChanged`, or on a store without it a `head`, then a `get` when the etag moved
 * (the etag is the head's: a write between the two is seen again by the next read).
 */
export async function getIfChanged(
  store: BlobStore,
  key: string,
  etag: string | undefined,
  options: CallOptions = {},
): Promise<TaggedBlob | undefined> {
  if (store.getIfChanged) return store.getIfChanged(key, etag, options);
  const info = await store.head(key, options);
  if (etag !== undefined && info.etag === etag) return undefined;
  return { bytes: await store.get(key, options), etag: info.etag };
}

/** The longest segment of a key. */
export const MAX_SEGMENT = 200;
// A segment never starts with '.', so stores can keep hidden files (temp files, locks) beside blobs.
const SEGMENT = /^[A-Za-z0-9_=+-][A-Za-z0-9._=+@-]*$/;

/**
 * Throws `INVALID_KEY` unless `key` is a relative path of safe segments: no empty, `.` or
 * `..` segment, no leading `/`, no backslash, NUL or other control character.
 */
export function checkKey(key: string, what = 'key'): void {
  const bad = (why: string): never => {
    throw new ShoalError(
      'INVALID_KEY',
      `${what} ${JSON.stringify(key)} ${why}. Keys are relative paths like "ns/snapshot/0001".`,
    );
  };
  if (typeof key !== 'string' || key.length === 0) bad('is empty');
  if (key.length > 1024) bad('is longer than 1024 characters');
  if (key.startsWith('/')) bad('is absolute');
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') bad('has an empty, "." or ".." segment');
    // Filesystems take names of 255 bytes at most, and a store adds a little for its lock and
    // temp files: refused here, on every store, rather than failing (and being retried) later.
    if (segment.length > MAX_SEGMENT) bad(`has a segment longer than ${MAX_SEGMENT} characters`);
    if (!SEGMENT.test(segment))
      bad(
        `has a segment (${JSON.stringify(segment)}) that starts with "." or has characters other than letters, digits and . _ = + - @`,
      );
  }
}

/** Throws `INVALID_KEY` unless `prefix` is empty or a key prefix (a key, or a key plus `/`). */
export function checkPrefix(prefix: string): void {
  if (prefix === '') return;
  checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, 'prefix');
}

/** A failure that is one blob's: the key it was about (every `BLOB_NOT_FOUND` carries one). */
export type BlobError = ShoalError & { readonly blobKey?: string };

/** `error`, saying it is about the blob at `key` (so a reader can route around that blob). */
export function withBlobKey<E extends object>(error: E, key: string): E & { readonly blobKey: string } {
  return Object.assign(error, { blobKey: key });
}

/** The key of the blob `error` is about, when it says. */
export function blobKeyOf(error: unknown): string | undefined {
  const key = (error as { blobKey?: unknown } | null | undefined)?.blobKey;
  return typeof key === 'string' ? key : undefined;
}

/** `BLOB_NOT_FOUND` for `key`, carrying the key as `blobKey`. */
export function notFound(key: string, cause?: unknown): BlobError {
  return withBlobKey(
    new ShoalError('BLOB_NOT_FOUND', `no blob at "${key}". Check the store, namespace and version.`, {
      cause,
    }),
    key,
  );
}

/** `PRECONDITION_FAILED` for `key`. */
export function preconditionFailed(key: string, cause?: unknown): ShoalError {
  return new ShoalError(
    'PRECONDITION_FAILED',
    `"${key}" changed since it was read (another writer?). Read it again before writing.`,
    { cause },
  );
}

/** Throws `ABORTED` if `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw aborted(signal.reason);
}

/** `ABORTED`, with the abort reason as its cause. */
export function aborted(reason?: unknown): ShoalError {
  return new ShoalError('ABORTED', 'the operation was aborted', { cause: reason });
}
