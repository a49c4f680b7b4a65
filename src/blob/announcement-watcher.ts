/**
 * Watching a namespace's announcement. One watcher class checks the announcement (a cheap
 * `head`; a `get` only when the etag moved) and reports a new version or pin as an event and
 * through an async iterator. What wakes it depends on the store:
 * - S3 (any store): polling, every `minIntervalMs` while versions keep coming, backing off
 *   exponentially (with jitter) to `maxIntervalMs` while nothing changes or the store fails,
 *   and back to the minimum on a new version;
 * - filesystem: chokidar events on the namespace directory, with a poll every
 *   `fallbackPollMs` in case events are not delivered (network filesystems);
 * - memory: the store's change listener.
 * Failures are reported (`error` events) and retried by the next check, never thrown out of
 * the watch loop. Timers are unref'd: a watcher alone does not keep a process alive.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { isShoalError, ShoalError } from '../errors.ts';
import { TypedEvents } from '../typed-events.ts';
import { type Announcement, decodeAnnouncement } from './announcer.ts';
import type { BlobStore } from './blob-store.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import { MemoryBlobStore } from './memory-blob-store.ts';
import { NamespaceLayout } from './namespace-layout.ts';
import { type TuningProfileName, tuningProfile } from './tuning-profiles.ts';

const NO_RETRIES = { retries: 0 } as const;
const NO_ETAG = new Set(['', '""']);

/** Options of {@link AnnouncementWatcher}. */
export interface AnnouncementWatcherOptions {
  /**
   * The shortest time between polls, used while new versions keep coming.
   * @default 1000
   */
  readonly minIntervalMs?: number;
  /**
   * The longest time between polls, reached while nothing changes or the store fails.
   * @default 30000
   */
  readonly maxIntervalMs?: number;
  /**
   * How much each quiet or failed poll stretches the interval.
   * @default 2
   */
  readonly backoffFactor?: number;
  /**
   * Random spread of each interval, as a share of it (0.2 = ±20%).
   * @default 0.2
   */
  readonly jitter?: number;
  /**
   * Filesystem stores: the poll interval behind the file events.
   * @default 1000
   */
  readonly fallbackPollMs?: number;
  /**
   * A tuning profile: sets `minIntervalMs`, `maxIntervalMs` and `fallbackPollMs` together
   * (README, "Tuning profiles"); options given here win over it.
   * @default 'balanced' (the defaults above)
   */
  readonly profile?: TuningProfileName;
}

/** Events of a watcher, by name, with their payloads. */
export interface AnnouncementWatcherEvents {
  /** A new version or pin was announced. */
  announcement: Announcement;
  /** A check failed; the watcher goes on. */
  error: ShoalError;
  /** A check finished; `intervalMs` is the wait before the next poll. */
  check: { readonly changed: boolean; readonly failed: boolean; readonly intervalMs: number };
}

/** Watches one namespace's announcement. Call {@link start}; then events or `for await`. */
export class AnnouncementWatcher implements AsyncIterable<Announcement> {
  private readonly store: BlobStore;
  private readonly key: string;
  private readonly min: number;
  private readonly max: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly events = new TypedEvents<AnnouncementWatcherEvents>();
  private etag: string | undefined;
  private latest: Announcement | undefined;
  private intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly stops: (() => void | Promise<void>)[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly namespaceDir: string | undefined;

  constructor(
    options: AnnouncementWatcherOptions & { readonly store: BlobStore; readonly namespace: string },
  ) {
    const layout = new NamespaceLayout(options.namespace);
    this.store = options.store;
    this.key = layout.announced;
    const fs = options.store instanceof FsBlobStore;
    const profile = tuningProfile(options.profile);
    const fallback = options.fallbackPollMs ?? profile.fallbackPollMs;
    this.min = fs ? fallback : (options.minIntervalMs ?? profile.minIntervalMs);
    this.max = fs ? fallback : (options.maxIntervalMs ?? Math.max(profile.maxIntervalMs, this.min));
    this.factor = options.backoffFactor ?? 2;
    this.jitter = options.jitter ?? 0.2;
    for (const [name, v] of [
      ['minIntervalMs', this.min],
      ['maxIntervalMs', this.max],
      ['backoffFactor', this.factor],
    ] as const) {
      if (!(v > 0) || !Number.isFinite(v))
        throw new ShoalError('INVALID_OPTION', `${name} must be a positive number, got ${v}`);
    }
    if (this.max < this.min)
      throw new ShoalError('INVALID_OPTION', 'maxIntervalMs must be at least minIntervalMs');
    if (!(this.jitter >= 0 && this.jitter < 1))
      throw new ShoalError('INVALID_OPTION', 'jitter must be in [0, 1)');
    this.intervalMs = this.min;
    this.namespaceDir = fs
      ? join((options.store as FsBlobStore).dir, ...options.namespace.split('/'))
      : undefined;
  }

  /** The last announcement seen. */
  get current(): Announcement | undefined {
    return this.latest;
  }

  /** The wait before the next poll, in ms. */
  get interval(): number {
    return this.intervalMs;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<E extends keyof AnnouncementWatcherEvents>(
    event: E,
    listener: (payload: AnnouncementWatcherEvents[E]) => void,
  ): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Reads the announcement once, then watches. Resolves with what it read (errors go to
   * `error` events). `seen`: the announcement and etag the caller has just read itself
   * (`StoreAnnouncer.readTagged`), taken as the first check instead of reading it again.
   */
  async start(seen?: {
    readonly announcement: Announcement;
    readonly etag: string;
  }): Promise<Announcement | undefined> {
    if (this.namespaceDir) {
      await mkdir(this.namespaceDir, { recursive: true });
      const watcher: FSWatcher = chokidarWatch(this.namespaceDir, {
        depth: 0,
        ignoreInitial: true,
        atomic: false,
      });
      watcher.on('all', (_event, path) => {
        if (path.endsWith('announced')) void this.check();
      });
      // chokidar drops a 'change' when two renames land within one mtime tick; raw events do not.
      watcher.on('raw', (_event, path) => {
        if (String(path).endsWith('announced')) void this.check();
      });
      watcher.on('error', (e) =>
        this.events.emit(
          'error',
          new ShoalError(
            'STORE_UNAVAILABLE',
            `watching ${this.namespaceDir} failed: ${(e as Error).message}`,
            { cause: e },
          ),
        ),
      );
      await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
      this.stops.push(() => watcher.close());
    }
    if (this.store instanceof MemoryBlobStore) {
      this.stops.push(this.store.onChange((key) => key === this.key && void this.check()));
    }
    if (seen) {
      this.latest = seen.announcement;
      this.etag = seen.etag;
      this.schedule();
    } else {
      await this.check();
    }
    return this.latest;
  }

  /** Checks the announcement now (a check already running is followed by one more). */
  check(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.poll().finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.check();
      }
    });
    return this.running;
  }

  private async poll(): Promise<void> {
    clearTimeout(this.timer);
    let changed = false;
    let failed = false;
    try {
      // No store retries: a failed check is retried by this watcher's own backoff.
      const info = await this.store.head(this.key, NO_RETRIES).catch((e: unknown) => {
        if (isShoalError(e, 'BLOB_NOT_FOUND')) return undefined;
        throw e;
      });
      // No etag (s3rver answers a HEAD during a write with `""`): nothing to compare, so the
      // next poll looks again rather than paying a GET now and another then.
      if (info && !NO_ETAG.has(info.etag) && info.etag !== this.etag) {
        const next = decodeAnnouncement(await this.store.get(this.key, NO_RETRIES), this.key);
        this.etag = info.etag;
        const prev = this.latest;
        if (!prev || prev.version !== next.version || prev.pinned !== next.pinned) {
          this.latest = next;
          changed = true;
        }
      }
    } catch (e) {
      failed = true;
      const error =
        e instanceof ShoalError ? e : new ShoalError('STORE_UNAVAILABLE', (e as Error).message, { cause: e });
      this.events.emit('error', error);
    }
    if (this.closed) return;
    this.intervalMs = changed ? this.min : Math.min(this.max, this.intervalMs * this.factor);
    this.events.emit('check', { changed, failed, intervalMs: this.intervalMs });
    if (changed) {
      this.events.emit('announcement', this.latest!);
      for (const w of this.waiters) w();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const spread = this.intervalMs * this.jitter * (Math.random() * 2 - 1);
    this.timer = setTimeout(() => void this.check(), Math.max(1, this.intervalMs + spread));
    this.timer.unref();
  }

  /** New announcements as they come; a slow reader gets the latest one, not every one in between. */
  async *[Symbol.asyncIterator](): AsyncIterator<Announcement> {
    let seen: Announcement | undefined;
    while (!this.closed) {
      if (this.latest && this.latest !== seen) {
        seen = this.latest;
        yield seen;
        continue;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
      });
    }
  }

  /** Stops watching. Idempotent; runs every cleanup step even if one fails. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.waiters) w();
    const results = await Promise.allSettled(this.stops.map((stop) => stop()));
    await this.running?.catch(() => {});
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw (failure as PromiseRejectedResult).reason;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
