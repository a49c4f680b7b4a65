/**
 * Watching a namespace's announcement. One watcher class checks the announcement with one
 * conditional read per check (S3: a GET with `If-None-Match`, a 304 when nothing changed;
 * filesystem: a stat) and reports a new version or pin as an event and through an async
 * iterator. What wakes it depends on the store:
 * - S3 (any store): polling on ./poll-schedule.ts: aimed just after the next version of a
 *   producer with a steady cadence, else backing off exponentially (with jitter) from
 *   `minIntervalMs` to `maxIntervalMs` while nothing changes or the store fails;
 * - filesystem: chokidar events on the namespace directory, with a poll every
 *   `fallbackPollMs` in case events are not delivered (network filesystems);
 * - memory: the store's change listener;
 * - and, on any store, a push path when given (`push`, e.g. NATS from `shoal/nats`): while it
 *   is up, the store is polled only every `pushPollMs`; while it is down, on the schedule above.
 * Failures are reported (`error` events) and retried by the next check, never thrown out of
 * the watch loop. Timers are unref'd: a watcher alone does not keep a process alive.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { isShoalError, ShoalError } from '../errors.ts';
import { TypedEvents } from '../typed-events.ts';
import type { AnnouncementPush } from './announcement-push.ts';
import { type Announcement, decodeAnnouncement } from './announcer.ts';
import { type BlobStore, getIfChanged, type TaggedBlob } from './blob-store.ts';
import { FsBlobStore } from './fs-blob-store.ts';
import { MemoryBlobStore } from './memory-blob-store.ts';
import { NamespaceLayout } from './namespace-layout.ts';
import { PollSchedule } from './poll-schedule.ts';
import { type TuningProfileName, tuningProfile } from './tuning-profiles.ts';

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
   * Aim polls just after the next version once the producer's cadence is steady (the last two
   * gaps between versions within 50%): about one request per version, and a version seen about
   * `pollSpreadMs / 2` after it is announced. `false`: back off from `minIntervalMs` after each
   * version instead (more requests per version, latency up to the interval reached).
   * @default true
   */
  readonly followCadence?: boolean;
  /**
   * Aimed polls are spread at random over this long after the expected time, so a fleet's
   * polls do not land in one instant; announce → seen grows by half of it on average.
   * @default a quarter of the cadence, at most 500 ms
   */
  readonly pollSpreadMs?: number;
  /**
   * When an expected version is late: the wait between re-checks, for up to half the
   * cadence (then the interval backs off).
   * @default 250
   */
  readonly recheckMs?: number;
  /**
   * A push path (`NatsAnnouncementPush` from `shoal/nats`): announcements come as they are made;
   * the store is polled every `pushPollMs` while the path is up, on the schedule above while down.
   * @default none: polling only
   */
  readonly push?: AnnouncementPush;
  /**
   * While the push path is up: the interval of the store polls that catch an announcement the
   * path missed (a producer without it). 0: none.
   * @default 300000 (5 minutes)
   */
  readonly pushPollMs?: number;
  /**
   * A check that takes longer is abandoned (its request aborted) and counts as a failed check,
   * so a hung connection to the store delays the next version by this much, not indefinitely.
   * @default 10000
   */
  readonly checkTimeoutMs?: number;
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
  /** The push path went up (store polls every `pushPollMs`) or down (polling on the schedule). */
  push: { readonly up: boolean };
}

/** `next` is another announcement than `prev`: another version or pin. */
function differs(next: Announcement, prev: Announcement | undefined): boolean {
  return !prev || prev.version !== next.version || prev.pinned !== next.pinned;
}

/** `next` is news after `prev`: a later version, or the same one with another pin made later. */
function isNewer(next: Announcement, prev: Announcement | undefined): boolean {
  if (!prev || next.version > prev.version) return true;
  return next.version === prev.version && next.pinned !== prev.pinned && next.announcedAt >= prev.announcedAt;
}

/** Watches one namespace's announcement. Call {@link start}; then events or `for await`. */
export class AnnouncementWatcher implements AsyncIterable<Announcement> {
  private readonly store: BlobStore;
  private readonly key: string;
  private readonly polls: PollSchedule;
  private readonly push: AnnouncementPush | undefined;
  private readonly pushPollMs: number;
  private readonly checkTimeoutMs: number;
  private readonly events = new TypedEvents<AnnouncementWatcherEvents>();
  private etag: string | undefined;
  private latest: Announcement | undefined;
  /** The version last delivered by the push path: a poll never goes back behind it. */
  private pushedVersion = 0;
  /** Announcements taken from the push path so far. */
  private pushes = 0;
  private pushUp = false;
  private waitMs: number;
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
    const min = fs ? fallback : (options.minIntervalMs ?? profile.minIntervalMs);
    const max = fs ? fallback : (options.maxIntervalMs ?? Math.max(profile.maxIntervalMs, min));
    const factor = options.backoffFactor ?? 2;
    const jitter = options.jitter ?? 0.2;
    const recheck = options.recheckMs ?? 250;
    const spread = options.pollSpreadMs;
    this.pushPollMs = options.pushPollMs ?? 300_000;
    this.checkTimeoutMs = options.checkTimeoutMs ?? 10_000;
    for (const [name, v] of [
      ['minIntervalMs', min],
      ['maxIntervalMs', max],
      ['recheckMs', recheck],
      ['checkTimeoutMs', this.checkTimeoutMs],
    ] as const) {
      // Under 1 ms is no wait a timer can make, and most likely seconds given as milliseconds:
      // 0.5 would poll the store a thousand times a second.
      if (!(v >= 1) || v > 2_147_483_647)
        throw new ShoalError(
          'INVALID_OPTION',
          `${name} is in milliseconds and must be from 1 to 2147483647, got ${v}${v > 0 && v < 1 ? ` (for ${v} s, write ${v * 1000})` : ''}`,
        );
    }
    if (!(factor >= 1) || !Number.isFinite(factor))
      throw new ShoalError(
        'INVALID_OPTION',
        `backoffFactor must be a finite number of at least 1 (each quiet poll waits that many times longer), got ${factor}`,
      );
    for (const [name, v] of [
      ['pollSpreadMs', spread ?? 0],
      ['pushPollMs', this.pushPollMs],
    ] as const) {
      if (!(v >= 0) || v > 2_147_483_647)
        throw new ShoalError(
          'INVALID_OPTION',
          `${name} must be 0 or more milliseconds (at most 2147483647), got ${v}`,
        );
    }
    if (max < min) throw new ShoalError('INVALID_OPTION', 'maxIntervalMs must be at least minIntervalMs');
    if (!(jitter >= 0 && jitter < 1)) throw new ShoalError('INVALID_OPTION', 'jitter must be in [0, 1)');
    // Filesystem stores hear changes as events: their polls are a fixed fallback.
    this.polls = new PollSchedule({
      minIntervalMs: min,
      maxIntervalMs: max,
      backoffFactor: factor,
      jitter,
      followCadence: !fs && options.followCadence !== false,
      spreadMs: spread,
      recheckMs: recheck,
    });
    this.push = options.push;
    this.waitMs = min;
    this.namespaceDir = fs
      ? join((options.store as FsBlobStore).dir, ...options.namespace.split('/'))
      : undefined;
  }

  /** The last announcement seen. */
  get current(): Announcement | undefined {
    return this.latest;
  }

  /** The polling interval reached (before jitter and aiming), in ms. */
  get interval(): number {
    return this.polls.intervalMs;
  }

  /** The wait before the next poll, in ms (0: none, while the push path is up with `pushPollMs: 0`). */
  get nextPollMs(): number {
    return this.waitMs;
  }

  /** The push path is up: announcements come by it, and the store is polled only every `pushPollMs`. */
  get pushed(): boolean {
    return this.pushUp;
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
    if (this.push) await this.subscribe(this.push);
    if (seen) {
      this.latest ??= seen.announcement;
      this.etag = seen.etag;
      this.schedule(this.polls.changed(Date.now(), seen.announcement, undefined));
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

  private async subscribe(push: AnnouncementPush): Promise<void> {
    const namespace = this.key.slice(0, -'/announced'.length);
    const stop = await push.subscribe(namespace, {
      announcement: (next) => {
        if (this.closed || !isNewer(next, this.latest)) return;
        const prev = this.latest;
        this.latest = next;
        this.pushedVersion = Math.max(this.pushedVersion, next.version);
        this.pushes++;
        // Learnt as a poll's find: when the path goes down, polls are already aimed.
        this.polls.changed(Date.now(), next, prev);
        this.announce(next);
      },
      state: (up) => {
        if (this.closed || up === this.pushUp) return;
        this.pushUp = up;
        this.events.emit('push', { up });
        // Down: catch up from the store at once, then poll on the schedule. Up: slow polls only.
        if (!up) void this.check();
        else this.schedule(this.waitMs);
      },
      error: (e) => {
        if (!this.closed) this.events.emit('error', e);
      },
    });
    this.stops.push(stop);
  }

  private announce(next: Announcement): void {
    this.events.emit('announcement', next);
    for (const w of this.waiters) w();
  }

  private async poll(): Promise<void> {
    clearTimeout(this.timer);
    const startedAt = Date.now();
    const prev = this.latest;
    const pushesBefore = this.pushes;
    let changed = false;
    let failed = false;
    try {
      const read = await this.read();
      // No etag (s3rver answers during a write with `""`): nothing to compare, so the next
      // poll looks again rather than trusting bytes that may be the write's half.
      if (read && !NO_ETAG.has(read.etag)) {
        const next = decodeAnnouncement(read.bytes, this.key);
        this.etag = read.etag;
        // A poll that started before a push landed may read the older announcement. One during
        // which nothing was pushed reads the truth (a producer announces to the store first):
        // it replaces whatever the push path said, even a higher version no store holds (a
        // staging producer on the same NATS, a bogus write), which would otherwise strand
        // this watcher above every real version.
        const pushedMeanwhile = this.pushes !== pushesBefore;
        if ((!pushedMeanwhile || next.version >= this.pushedVersion) && differs(next, this.latest)) {
          this.latest = next;
          if (!pushedMeanwhile) this.pushedVersion = next.version;
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
    const wait = changed
      ? this.polls.changed(startedAt, this.latest!, prev)
      : this.polls.quiet(startedAt, failed);
    this.events.emit('check', { changed, failed, intervalMs: this.pushUp ? this.pushPollMs : wait });
    if (changed) this.announce(this.latest!);
    this.schedule(wait);
  }

  /**
   * One conditional read of the announcement, abandoned after `checkTimeoutMs` (the request is
   * aborted; a store that ignores the signal is left to finish on its own). No store retries: a
   * failed check is retried by this watcher's own schedule.
   */
  private async read(): Promise<TaggedBlob | undefined> {
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new ShoalError(
          'STORE_UNAVAILABLE',
          `checking "${this.key}" took more than ${this.checkTimeoutMs} ms, so it was abandoned; the next check tries again. The connection to the store is slow or hung: check the network and the store, or raise checkTimeoutMs.`,
        );
        abort.abort(error);
        reject(error);
      }, this.checkTimeoutMs);
      timer.unref();
    });
    const reading = getIfChanged(this.store, this.key, this.etag, { retries: 0, signal: abort.signal });
    reading.catch(() => {});
    try {
      return await Promise.race([reading, timedOut]);
    } catch (e) {
      if (isShoalError(e, 'BLOB_NOT_FOUND')) return undefined;
      if (abort.signal.aborted) throw abort.signal.reason;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sets the next poll `wait` ms from now (every `pushPollMs` instead while the push path is up). */
  private schedule(wait: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.waitMs = this.pushUp ? this.pushPollMs : wait;
    if (this.waitMs === 0) return;
    this.timer = setTimeout(() => void this.check(), this.waitMs);
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
