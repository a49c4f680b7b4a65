/**
 * An announcer that writes the store's announcement, as `StoreAnnouncer` does (the store stays
 * the truth: its precondition keeps one writer, and consumers without NATS poll it), then puts
 * the same bytes in the NATS key-value bucket, where every consumer with a
 * `NatsAnnouncementPush` hears it at once.
 *
 * The KV write never holds a cycle back: `announce` resolves once the store has the
 * announcement, and the KV put runs behind it, newest first (a put that has not started when a
 * newer announcement comes is dropped). A failed put is reported to `onError` and made again
 * once NATS is back, and on a timer (250 ms doubling to 5 s) for a failure while connected —
 * JetStream still recovering after a restart refuses puts on a live connection — so the bucket
 * ends up with the last announcement whatever NATS did meanwhile; consumers poll the store
 * until then. A put under way at a reconnection is made again at once: nats.js drops what was
 * written while disconnected, so that put would only time out, 5 s after NATS is back.
 */
import { ShoalError } from '../errors.ts';
import { msgpack } from '../format/msgpack.ts';
import { type Announcement, type Announcer, StoreAnnouncer } from './announcer.ts';
import type { BlobStore, CallOptions } from './blob-store.ts';
import { NatsBucket, type NatsOptions, natsError, natsKey } from './nats-bucket.ts';

/** The first wait before a failed put is made again; it doubles up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

/** A promise and what resolves it. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Options of {@link NatsAnnouncer}. */
export interface NatsAnnouncerOptions extends NatsOptions {
  readonly store: BlobStore;
  readonly namespace: string;
  /** Hears each failed KV put (`PUSH_UNAVAILABLE`); the announcement is in the store all the same. */
  readonly onError?: (error: ShoalError) => void;
}

/** Announces to the store and to a NATS key-value bucket. */
export class NatsAnnouncer implements Announcer {
  private readonly inner: StoreAnnouncer;
  private readonly bucket: NatsBucket;
  private readonly key: string;
  private readonly onError: ((error: ShoalError) => void) | undefined;
  /** The newest announcement not yet in the bucket. */
  private pending: Announcement | undefined;
  /** The newest announcement whose put failed, put again when the connection comes back. */
  private failed: Announcement | undefined;
  private putting: Promise<void> | undefined;
  private watchingStatus = false;
  private retry: NodeJS.Timeout | undefined;
  private retryDelayMs = RETRY_MIN_MS;
  /** Resolves at the next reconnection (then replaced): a put under way then is made again. */
  private reconnected = signal();
  private closed = false;

  constructor(options: NatsAnnouncerOptions) {
    this.inner = new StoreAnnouncer({ store: options.store, namespace: options.namespace });
    this.bucket = new NatsBucket(options);
    this.key = natsKey(options.namespace);
    this.onError = options.onError;
    this.bucket.onConnectError = (e) => this.onError?.(e);
  }

  /** The store's announcement. */
  read(options?: CallOptions): Promise<Announcement | undefined> {
    return this.inner.read(options);
  }

  async announce(next: Announcement, options?: CallOptions): Promise<void> {
    await this.inner.announce(next, options);
    this.publish(next);
  }

  /** Resolves once every announcement made so far is in the bucket, or failed to get there. */
  async flush(): Promise<void> {
    while (this.putting) await this.putting;
  }

  private publish(next: Announcement): void {
    if (!this.pending || this.pending.version <= next.version) this.pending = next;
    this.putting ??= this.drain().finally(() => {
      this.putting = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const a = this.pending;
      this.pending = undefined;
      try {
        const kv = await this.bucket.kv();
        this.watchStatus();
        // nats.js drops what was written while disconnected when it reconnects, so a put made
        // during an outage never reaches the server and would only time out (5 s) after NATS
        // is back: at a reconnection the put under way is made again at once instead.
        const reconnected = this.reconnected.promise;
        const put = kv.put(this.key, msgpack.pack(a)).then(() => true);
        put.catch(() => {});
        if (!(await Promise.race([put, reconnected.then(() => false)]))) {
          const newer = this.pending as Announcement | undefined;
          if (!newer || newer.version < a.version) this.pending = a;
          continue;
        }
      } catch (e) {
        // Closed before NATS could be reached: the store has the announcement; nothing to tell.
        if (this.closed && e instanceof ShoalError && e.code === 'CLOSED') return;
        // Kept for the retry, with any newer one that came meanwhile (else it waits for none).
        for (const b of [a, this.pending as Announcement | undefined])
          if (b && (!this.failed || this.failed.version < b.version)) this.failed = b;
        this.pending = undefined;
        this.onError?.(natsError(`putting announcement ${a.version}`, e));
        this.retryLater();
        return;
      }
      this.retryDelayMs = RETRY_MIN_MS;
      if (this.failed && this.failed.version <= a.version) this.failed = undefined;
    }
  }

  /** Puts the last failed announcement again after a wait, unless a newer one is on its way. */
  private retryLater(): void {
    if (this.retry || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.failed && !this.pending && !this.closed) this.publish(this.failed);
    }, this.retryDelayMs).unref();
    this.retryDelayMs = Math.min(RETRY_MAX_MS, this.retryDelayMs * 2);
  }

  /** Puts the last failed announcement again each time the connection comes back. */
  private watchStatus(): void {
    if (this.watchingStatus) return;
    this.watchingStatus = true;
    void this.bucket.connection().then(async (nc) => {
      for await (const s of nc.status()) {
        if (s.type !== 'reconnect') continue;
        this.reconnected.resolve();
        this.reconnected = signal();
        if (this.failed && !this.pending) this.publish(this.failed);
      }
    });
  }

  /**
   * Waits for the puts under way (at most `waitMs`: NATS may be down), then closes the
   * connection if shoal made it. Idempotent.
   */
  async close(waitMs = 2000): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    await this.bucket.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
