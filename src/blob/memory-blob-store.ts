/**
 * A store in process memory: for tests, and for a producer and consumers in one process.
 * Bytes are copied in and out, so callers cannot change a stored blob. Listeners hear every
 * put and delete (the memory announcement watcher uses them).
 */
import { crc32 } from 'node:zlib';
import {
  type BlobInfo,
  type BlobStore,
  type CallOptions,
  checkKey,
  checkPrefix,
  notFound,
  type PutOptions,
  preconditionFailed,
  type TaggedBlob,
  throwIfAborted,
} from './blob-store.ts';

interface Entry {
  readonly bytes: Uint8Array;
  readonly etag: string;
}

/** A blob store in memory. */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Entry>();
  private readonly listeners = new Set<(key: string) => void>();
  private writes = 0;

  async get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    checkKey(key);
    throwIfAborted(options.signal);
    const e = this.blobs.get(key);
    if (!e) throw notFound(key);
    return e.bytes.slice();
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<BlobInfo> {
    checkKey(key);
    throwIfAborted(options.signal);
    const current = this.blobs.get(key);
    if (options.ifNoneMatch && current) throw preconditionFailed(key);
    if (options.ifMatch !== undefined && current?.etag !== options.ifMatch) throw preconditionFailed(key);
    const etag = `"${crc32(bytes).toString(16)}-${++this.writes}"`;
    this.blobs.set(key, { bytes: bytes.slice(), etag });
    for (const l of this.listeners) l(key);
    return { key, size: bytes.byteLength, etag };
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    checkKey(key);
    throwIfAborted(options.signal);
    if (this.blobs.delete(key)) for (const l of this.listeners) l(key);
  }

  async list(prefix: string, options: CallOptions = {}): Promise<string[]> {
    checkPrefix(prefix);
    throwIfAborted(options.signal);
    return [...this.blobs.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async head(key: string, options: CallOptions = {}): Promise<BlobInfo> {
    checkKey(key);
    throwIfAborted(options.signal);
    const e = this.blobs.get(key);
    if (!e) throw notFound(key);
    return { key, size: e.bytes.byteLength, etag: e.etag };
  }

  async getIfChanged(
    key: string,
    etag: string | undefined,
    options: CallOptions = {},
  ): Promise<TaggedBlob | undefined> {
    checkKey(key);
    throwIfAborted(options.signal);
    const e = this.blobs.get(key);
    if (!e) throw notFound(key);
    return e.etag === etag ? undefined : { bytes: e.bytes.slice(), etag: e.etag };
  }

  /** Calls `listener` with the key of every put and delete; returns a function that stops it. */
  onChange(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
