/**
 * A real store behind a counter: every call is passed on, and counted by method and by what
 * the key holds (`get delta`, `head announced`, …). Tests assert the requests a consumer
 * makes with it; `hold` parks the gets of some keys (a slow network) until released.
 */
import type { BlobInfo, BlobStore, CallOptions, PutOptions } from '../../src/blob/blob-store.ts';

/** What a key of any namespace holds. */
export function keyKind(key: string): string {
  if (key.endsWith('/announced')) return 'announced';
  const m = /\/(snapshot|delta|reverse|header)\/[^/]+$/.exec(key);
  return m ? m[1]! : 'other';
}

export class CountingStore implements BlobStore {
  readonly inner: BlobStore;
  private counted = new Map<string, number>();
  private held: { match: (key: string) => boolean; release: Promise<void> } | undefined;

  /** A conditional read, counted as a `get` (S3 bills a 304 as one); absent when the inner store has none. */
  readonly getIfChanged?: NonNullable<BlobStore['getIfChanged']>;

  constructor(inner: BlobStore) {
    this.inner = inner;
    if (inner.getIfChanged) {
      const read = inner.getIfChanged.bind(inner);
      this.getIfChanged = async (key, etag, options) => {
        this.count('get', key);
        if (this.held?.match(key)) await this.held.release;
        return read(key, etag, options);
      };
    }
  }

  private count(method: string, key: string): void {
    const name = `${method} ${keyKind(key)}`;
    this.counted.set(name, (this.counted.get(name) ?? 0) + 1);
  }

  /** Requests by `method kind` since the last reset, sorted by name. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.counted].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Requests of one `method kind` since the last reset. */
  of(name: string): number {
    return this.counted.get(name) ?? 0;
  }

  /** All requests since the last reset. */
  total(): number {
    return [...this.counted.values()].reduce((a, b) => a + b, 0);
  }

  reset(): void {
    this.counted = new Map();
  }

  /** Parks every get of a key `match` accepts until the returned function is called. */
  hold(match: (key: string) => boolean): () => void {
    let release!: () => void;
    this.held = { match, release: new Promise<void>((r) => (release = r)) };
    return () => {
      this.held = undefined;
      release();
    };
  }

  async get(key: string, options?: CallOptions): Promise<Uint8Array> {
    this.count('get', key);
    if (this.held?.match(key)) await this.held.release;
    return this.inner.get(key, options);
  }
  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<BlobInfo> {
    this.count('put', key);
    return this.inner.put(key, bytes, options);
  }
  delete(key: string, options?: CallOptions): Promise<void> {
    this.count('delete', key);
    return this.inner.delete(key, options);
  }
  list(prefix: string, options?: CallOptions): Promise<string[]> {
    this.count('list', prefix);
    return this.inner.list(prefix, options);
  }
  head(key: string, options?: CallOptions): Promise<BlobInfo> {
    this.count('head', key);
    return this.inner.head(key, options);
  }
}
