/**
 * Version headers, cached. A header is immutable once written (it is written before its
 * version is announced and never again), so a cached one never goes stale; the cache is
 * bounded (least recently used out), so a consumer that runs for months holds at most
 * `capacity` of them. Headers also come in with announcements (`Announcement.header`), so a
 * consumer that follows every version reads none from the store.
 */
import type { BlobStore, CallOptions } from './blob-store.ts';
import { readVersionHeader } from './chain-planner.ts';
import type { NamespaceLayout, VersionHeader } from './namespace-layout.ts';

/** How many headers a cache holds by default: a few hundred KiB, well past any chain planned. */
export const DEFAULT_HEADER_CACHE = 1024;

/** The version headers of one namespace, read through a bounded cache. */
export class VersionHeaderCache {
  private readonly store: BlobStore;
  private readonly layout: NamespaceLayout;
  private readonly capacity: number;
  private readonly headers = new Map<number, VersionHeader>();

  constructor(store: BlobStore, layout: NamespaceLayout, capacity = DEFAULT_HEADER_CACHE) {
    this.store = store;
    this.layout = layout;
    this.capacity = capacity;
  }

  /** The header of `version`: cached, or read (`BLOB_NOT_FOUND` / `BLOB_CORRUPT` with `blobKey`). */
  async get(version: number, options: CallOptions = {}): Promise<VersionHeader> {
    const cached = this.headers.get(version);
    if (cached) {
      // Re-inserted: a Map iterates in insertion order, so the first key is the least recently used.
      this.headers.delete(version);
      this.headers.set(version, cached);
      return cached;
    }
    const header = await readVersionHeader(this.store, this.layout, version, options);
    this.add(header);
    return header;
  }

  /** Remembers a header known to be `header/<header.version>`'s (one an announcement carried). */
  add(header: VersionHeader): void {
    this.headers.delete(header.version);
    this.headers.set(header.version, header);
    while (this.headers.size > this.capacity) this.headers.delete(this.headers.keys().next().value!);
  }

  /** How many headers are held. */
  get size(): number {
    return this.headers.size;
  }
}
