/**
 * The consumer: holds one state of a namespace and keeps it current.
 *
 * `Consumer.open` loads the announced version (or the pin), then watches the announcement.
 * Each refresh plans the cheapest path (./refresh-planner.ts), fetches and applies it beside the
 * current state, and swaps the result in atomically: readers see one state at a time, and views
 * taken from the old state keep reading it. A blob that fails (missing, corrupt, or a result
 * that does not verify) is remembered and routed around, falling back to a snapshot. A failed
 * refresh keeps the served state, is reported, and is retried with backoff.
 */

import { BroadcastChannel } from 'node:worker_threads';
import { AnnouncementWatcher } from '../blob/announcement-watcher.ts';
import { type Announcement, StoreAnnouncer } from '../blob/announcer.ts';
import { aborted, type BlobStore, blobKeyOf } from '../blob/blob-store.ts';
import { findLabel } from '../blob/label-resolver.ts';
import { NamespaceLayout, type VersionHeader } from '../blob/namespace-layout.ts';
import { listNamespaces } from '../blob/namespace-list.ts';
import { VersionHeaderCache } from '../blob/version-header-cache.ts';
import { parseVersionRef, type VersionRef } from '../blob/version-metadata.ts';
import { isShoalError, ShoalError } from '../errors.ts';
import type { Schema } from '../schema/index.ts';
import { type DisplacedIndex, displacedLocalIndexes } from '../state/index/secondary-index.ts';
import type { State } from '../state/read/state.ts';
import { diffStates, type TypeDiff } from '../state/read/state-diff.ts';
import { shareState } from '../state/read/state-handle.ts';
import { TypedEvents } from '../typed-events.ts';
import type { ShareHandle, ShareMessage } from './attached-consumer.ts';
import {
  type ConsumerOptions,
  requestCostOption,
  retryDelayOptions,
  waitOption,
} from './consumer-options.ts';
import { nothingAnnounced, waitForFirstAnnouncement } from './first-version-wait.ts';
import { applyPlan } from './plan-applier.ts';
import { planRefresh, type RefreshPlan } from './refresh-planner.ts';

export type { ConsumerOptions, WaitForFirstVersion } from './consumer-options.ts';

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/** What a refresh changed. The first load is a refresh too, `from` nothing. */
export interface RefreshEvent {
  readonly from: number | undefined;
  readonly to: number;
  /** The label of the version reached, when its producer gave one. */
  readonly label?: string;
  /** The key/values of the version reached (`{}` when none). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly kind: RefreshPlan['kind'];
  /** Bytes of the snapshot and deltas fetched and applied to reach `to`. */
  readonly bytes: number;
  readonly durationMs: number;
  readonly types: Readonly<Record<string, TypeDiff>>;
}

/** Events a consumer emits, by name. */
export interface ConsumerEvents {
  refresh: RefreshEvent;
  /** A refresh failed; the served state is unchanged. `fellBack` when a blob was routed around. */
  'refresh:failure': { readonly target: number; readonly error: ShoalError; readonly failures: number };
  /** The target is the version already served: nothing to fetch. Ends a run of failures. */
  'refresh:skip': { readonly version: number };
  /**
   * An index this consumer made (`createIndex`) that the refresh could not carry: its type or
   * fields are gone, or the new schema declares an index of its name over other fields (which
   * `index(name)` now gives). Emitted after `refresh`, once per index.
   */
  'index:dropped': DisplacedIndex;
  /** A blob failed and will be routed around. */
  'blob:failure': { readonly key: string; readonly error: ShoalError };
  announcement: Announcement;
  /** Checking the announcement failed; the watcher goes on (with backoff on S3). */
  'watch:error': ShoalError;
  /**
   * The push path (`push`) went up (announcements come by it; the store is polled every
   * `pushPollMs`) or down (the store is polled on the schedule).
   */
  'watch:push': { readonly up: boolean };
  /** The announcement was read (`ok`), or could not be (the error comes as `watch:error`). */
  'announcement:check': { readonly ok: boolean };
  /**
   * `start()` found nothing announced and waits for a first version (`waitForFirstVersion`).
   * `namespaces`: those announced in the store (a mistyped namespace is the usual cause), or
   * `undefined` when the store could not be listed.
   */
  waiting: {
    readonly namespace: string;
    readonly since: number;
    readonly namespaces: readonly string[] | undefined;
  };
}

/** Any consumer, whatever its schema. */
// biome-ignore lint/suspicious/noExplicitAny: the one place a consumer of any schema is accepted.
export type AnyConsumer = Consumer<any>;

/**
 * How many times one refresh plans again around a blob that failed; each plan reads a bounded
 * number of headers, so a refresh makes a bounded number of requests.
 */
const MAX_REROUTES = 4;

/**
 * Holds the current state of a namespace. Create with {@link Consumer.open}; or with
 * {@link Consumer.create} and then {@link Consumer.start}, to hand the consumer to a health
 * server before it has loaded anything.
 */
export class Consumer<S extends Schema = Schema> {
  private readonly store: BlobStore;
  private readonly layout: NamespaceLayout;
  private readonly options: ConsumerOptions<S>;
  private readonly events = new TypedEvents<ConsumerEvents>();
  /** Blobs that failed since the last successful refresh (so few: cleared on success). */
  private readonly failedBlobs = new Set<string>();
  private readonly headers: VersionHeaderCache;
  private readonly requestCostBytes: number;
  private current: State<S> | undefined;
  private currentHeader: VersionHeader | undefined;
  private pinRef: VersionRef | undefined;
  private watcher: AnnouncementWatcher | undefined;
  private pinned: number | undefined;
  private announced: Announcement | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failuresInARow = 0;
  private readonly wait: { readonly timeoutMs: number | undefined } | undefined;
  private readonly retryDelay: { readonly base: number; readonly max: number };
  private starting: Promise<void> | undefined;
  /** Announcements start refreshes only once the first load is done. */
  private started = false;
  private waitStarted: number | undefined;
  private last: RefreshEvent | undefined;
  private readonly stopping = new AbortController();
  private closing: Promise<void> | undefined;
  private channel: BroadcastChannel | undefined;
  private closedResolve!: () => void;
  private readonly closedPromise = new Promise<void>((resolve) => (this.closedResolve = resolve));

  private constructor(options: ConsumerOptions<S>) {
    this.options = options;
    this.store = options.store;
    this.layout = new NamespaceLayout(options.namespace);
    this.pinRef = options.pin === undefined ? undefined : parseVersionRef(options.pin, 'pin');
    if (this.pinRef && 'version' in this.pinRef) this.pinned = this.pinRef.version;
    this.wait = waitOption(options.waitForFirstVersion);
    this.requestCostBytes = requestCostOption(options.requestCostBytes);
    this.retryDelay = retryDelayOptions(options.retryDelayMs, options.maxRetryDelayMs);
    this.headers = new VersionHeaderCache(this.store, this.layout);
  }

  /** Loads the announced version (or the pin) and starts watching: `create(options).start()`. */
  static async open<S extends Schema>(options: ConsumerOptions<S>): Promise<Consumer<S>> {
    return Consumer.create(options).start();
  }

  /** A consumer that has loaded nothing yet (no I/O; options are checked): call {@link start}. */
  static create<S extends Schema>(options: ConsumerOptions<S>): Consumer<S> {
    return new Consumer(options);
  }

  /**
   * Loads the announced version (or the pin), waiting for a first one if so told
   * (`waitForFirstVersion`), and starts watching. Resolves with this consumer once it is
   * loaded. When it rejects, the consumer is closed: create another to try again. Calling it
   * again gives the same outcome.
   */
  async start(): Promise<this> {
    this.starting ??= this.startOnce().catch(async (e: unknown) => {
      await this.close().catch(() => {});
      throw e;
    });
    await this.starting;
    return this;
  }

  private async startOnce(): Promise<void> {
    const { signal } = this.options;
    const stopped = () => {
      if (this.closing) throw new ShoalError('CLOSED', 'the consumer was closed before it loaded a version');
      if (signal?.aborted) throw aborted(signal.reason);
    };
    stopped();
    const announcer = new StoreAnnouncer({ store: this.store, namespace: this.options.namespace });
    const call = signal ? { signal } : {};
    // A watching consumer reads the announcement with its etag once and hands both to its
    // watcher, which then does not read it again.
    const seen = this.options.watch === false ? undefined : await announcer.readTagged(call);
    this.remember(seen ? seen.announcement : await announcer.read(call));
    this.events.emit('announcement:check', { ok: true });
    if (this.target() === undefined) {
      if (!this.wait) {
        throw await nothingAnnounced(this.store, this.options.namespace);
      }
      await this.waitForFirstVersion(this.wait.timeoutMs);
      stopped();
      if (this.options.watch === false) {
        await this.watcher?.close();
        this.watcher = undefined;
      }
    }
    if (this.pinRef && 'label' in this.pinRef) {
      const found = await findLabel(this.store, this.layout, this.pinRef.label, this.announced?.version);
      this.pinned = found.version;
    }
    const run = this.load(this.target()!);
    this.refreshing = run.catch(() => {});
    await run;
    stopped();
    this.started = true;
    if (this.options.watch === false) return;
    if (!this.watcher) await this.startWatcher(seen);
    else if (this.target() !== this.current!.version) void this.follow().catch(() => {});
  }

  private async waitForFirstVersion(timeoutMs: number | undefined): Promise<void> {
    const namespace = this.options.namespace;
    const since = Date.now();
    this.waitStarted = since;
    try {
      const watcher = await this.startWatcher().catch(async (e: unknown) => {
        // A watcher that cannot start on a store that is not there (a root that is a file):
        // that is the cause to give, not the watcher's ENOTDIR.
        await listNamespaces(this.store).catch((listing: unknown) => {
          if (isShoalError(listing, 'BLOB_NOT_FOUND')) throw listing;
        });
        throw e;
      });
      if (watcher.current) return;
      const missing = new AbortController();
      const signals = [this.stopping.signal, missing.signal];
      if (this.options.signal) signals.push(this.options.signal);
      const waited = waitForFirstAnnouncement(watcher, {
        store: this.store,
        namespace,
        signal: AbortSignal.any(signals),
        timeoutMs,
      });
      // Listing a large store takes a while: the wait (and its timeout) runs meanwhile, and
      // `waiting` is said only if it still is. A list that finds no store at all (BLOB_NOT_FOUND:
      // no such bucket, a root that is a file) ends the wait, as no version can appear there;
      // one that fails otherwise (the store unreachable for now) leaves the watcher to retry.
      const listed = listNamespaces(this.store).then(
        (namespaces) => {
          if (this.waitStarted === since) this.events.emit('waiting', { namespace, since, namespaces });
          return waited;
        },
        (e: unknown) => {
          if (!isShoalError(e, 'BLOB_NOT_FOUND')) {
            if (this.waitStarted === since)
              this.events.emit('waiting', { namespace, since, namespaces: undefined });
            return waited;
          }
          noStore = e;
          missing.abort();
          return undefined;
        },
      );
      let noStore: unknown;
      try {
        await Promise.race([waited, listed]);
      } catch (e) {
        throw noStore ?? e;
      }
    } catch (e) {
      if (this.closing) throw new ShoalError('CLOSED', 'the consumer was closed before it loaded a version');
      throw e;
    } finally {
      this.waitStarted = undefined;
    }
  }

  private async startWatcher(seen?: {
    readonly announcement: Announcement;
    readonly etag: string;
  }): Promise<AnnouncementWatcher> {
    const watcher = new AnnouncementWatcher({
      ...this.options,
      store: this.store,
      namespace: this.options.namespace,
    });
    this.watcher = watcher;
    watcher.on('error', (e) => this.events.emit('watch:error', e));
    watcher.on('check', (c) => this.events.emit('announcement:check', { ok: !c.failed }));
    watcher.on('push', (p) => this.events.emit('watch:push', p));
    watcher.on('announcement', (a) => {
      this.remember(a);
      this.events.emit('announcement', a);
      if (this.started) void this.follow().catch(() => {});
    });
    // The consumer's own read, once it has loaded: an announcement newer than the version
    // loaded then comes as the watcher's next change, never silently.
    const latest = seen && seen.announcement === this.announced ? seen : undefined;
    await watcher.start(latest);
    return watcher;
  }

  /** Takes `a` as the latest announcement, and the header it carries into the cache. */
  private remember(a: Announcement | undefined): void {
    if (!a) return;
    this.announced = a;
    if (a.header) this.headers.add(a.header);
  }

  /** The state served now; `NOT_LOADED` before the first version is loaded (see {@link loaded}). */
  get state(): State<S> {
    if (!this.current) throw this.notLoaded();
    return this.current;
  }

  /** The version served now; `NOT_LOADED` before the first version is loaded. */
  get version(): number {
    return this.state.version;
  }

  /** The label of the version served, when its producer gave one. */
  get label(): string | undefined {
    return this.currentHeader?.label;
  }

  /** The key/values of the version served (`{}` when none). */
  get metadata(): Readonly<Record<string, string>> {
    return this.currentHeader?.metadata ?? NO_METADATA;
  }

  /** A version is loaded: `state` and `version` can be read. */
  get loaded(): boolean {
    return this.current !== undefined;
  }

  /** The namespace followed. */
  get namespace(): string {
    return this.options.namespace;
  }

  /** Since when `start()` has waited for a first version to be announced (ms since the epoch), while it does. */
  get waitingSince(): number | undefined {
    return this.waitStarted;
  }

  /** The last successful refresh (the first load, to begin with). */
  get lastRefresh(): RefreshEvent | undefined {
    return this.last;
  }

  private notLoaded(): ShoalError {
    const why =
      this.waitStarted !== undefined
        ? 'it waits for the first version to be announced'
        : this.starting
          ? 'it is loading the first version, or failed to'
          : 'call start() first';
    return new ShoalError(
      'NOT_LOADED',
      `the consumer of namespace "${this.options.namespace}" has no version loaded yet (${why}). Await open() or start() before reading, or check consumer.loaded.`,
    );
  }

  /** The latest announcement seen. */
  get announcement(): Announcement | undefined {
    return this.announced;
  }

  /** The version pinned by `open({ pin })` or `refreshTo`, served whatever is announced, until `unpin`. */
  get pin(): number | undefined {
    return this.pinned;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof ConsumerEvents>(event: K, listener: (payload: ConsumerEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  private target(): number | undefined {
    return this.pinned ?? this.announced?.pinned ?? this.announced?.version;
  }

  /**
   * Reads the announcement and brings the state to its version (or the pin). Resolves when the
   * state is current; rejects when the refresh failed (the served state is unchanged, and a
   * retry is scheduled with backoff).
   */
  async refresh(): Promise<void> {
    // Watching: the watcher reads the announcement now (its failures are `watch:error` events),
    // rather than this waiting for its next poll.
    if (this.watcher) await this.watcher.check();
    else {
      let read: Announcement | undefined;
      try {
        read = await new StoreAnnouncer({ store: this.store, namespace: this.options.namespace }).read();
      } catch (e) {
        const error = isShoalError(e)
          ? e
          : new ShoalError('STORE_UNAVAILABLE', (e as Error).message, { cause: e });
        this.events.emit('watch:error', error);
        this.events.emit('announcement:check', { ok: false });
        throw error;
      }
      this.remember(read);
      this.events.emit('announcement:check', { ok: true });
    }
    await this.follow();
  }

  /**
   * Queues a load of the target, unless one is queued already: it loads whatever the target
   * is when it starts, so announcements that come during a slow refresh cost one load after
   * it, not one each (each for a version that may be gone by then).
   */
  private follow(): Promise<void> {
    if (this.queued) return this.queued;
    const run = this.refreshing.then(async () => {
      this.queued = undefined;
      const target = this.target();
      if (target !== undefined) await this.load(target);
    });
    this.queued = run;
    this.refreshing = run.catch(() => {});
    return run;
  }

  /**
   * Brings the state to a version and pins it there (until `refreshTo` another or `unpin`).
   * `ref` is a version number (a number, or a string of digits), or a label: the newest
   * retained version carrying it, found by walking the version headers back from the
   * announced version (`UNKNOWN_LABEL` when none does). A string is a label unless it is all
   * digits; `label:` before it makes it a label whatever it is (`label:2024`).
   */
  refreshTo(ref: number | string, pin = true): Promise<void> {
    let parsed: VersionRef;
    try {
      parsed = parseVersionRef(ref, 'refreshTo');
    } catch (e) {
      return Promise.reject(e);
    }
    if (pin && 'version' in parsed) this.pinned = parsed.version;
    const run = this.refreshing.then(async () => {
      const version = 'version' in parsed ? parsed.version : await this.findLabel(parsed.label);
      if (pin) this.pinned = version;
      await this.load(version);
    });
    this.refreshing = run.catch(() => {});
    return run;
  }

  /** The newest retained version carrying `label`, from the announcement read now. */
  private async findLabel(label: string): Promise<number> {
    const announced =
      (await new StoreAnnouncer({ store: this.store, namespace: this.options.namespace }).read()) ??
      this.announced;
    return (await findLabel(this.store, this.layout, label, announced?.version)).version;
  }

  /** Follows the announcement again after a pin. */
  unpin(): Promise<void> {
    this.pinned = undefined;
    return this.refresh();
  }

  private async load(version: number): Promise<void> {
    if (this.closing) return;
    clearTimeout(this.retryTimer);
    if (this.current?.version === version) {
      // Back on target (an announcement put back, a pin to the version held): whatever failed
      // before no longer stands between this consumer and what it should serve.
      this.failuresInARow = 0;
      this.events.emit('refresh:skip', { version });
      return;
    }
    const started = performance.now();
    const from = this.current;
    for (let attempt = 0; ; attempt++) {
      let plan: RefreshPlan | undefined;
      try {
        plan = await planRefresh({
          headers: this.headers,
          layout: this.layout,
          from: from?.version,
          to: version,
          failed: this.failedBlobs,
          requestCostBytes: this.requestCostBytes,
        });
        const { state: next, bytes } = await applyPlan(this.store, from, plan, {
          shared: this.options.sharedMemory === true,
          verifySnapshots: this.options.verifySnapshots === true,
          ...(this.options.layout ? { layout: this.options.layout } : {}),
          ...(this.options.schema ? { schema: this.options.schema } : {}),
        });
        this.current = next as unknown as State<S>;
        this.currentHeader = plan.target;
        this.failuresInARow = 0;
        this.failedBlobs.clear();
        this.last = {
          from: from?.version,
          to: next.version,
          ...(plan.target.label !== undefined ? { label: plan.target.label } : {}),
          metadata: plan.target.metadata ?? NO_METADATA,
          kind: plan.kind,
          bytes,
          durationMs: performance.now() - started,
          types: from ? diffStates(from, next) : {},
        };
        this.events.emit('refresh', this.last);
        if (from) for (const d of displacedLocalIndexes(from, next)) this.events.emit('index:dropped', d);
        return;
      } catch (e) {
        const error = isShoalError(e)
          ? e
          : new ShoalError('STORE_UNAVAILABLE', (e as Error).message, { cause: e });
        // Nothing routes around the target's own header: every path starts from it.
        const blob = blobKeyOf(e);
        const reroute =
          blob !== undefined && blob !== this.layout.header(version) && !this.failedBlobs.has(blob);
        if (reroute && attempt < MAX_REROUTES) {
          this.failedBlobs.add(blob);
          this.events.emit('blob:failure', { key: blob, error });
          continue; // plan again around it
        }
        this.failuresInARow++;
        this.events.emit('refresh:failure', { target: version, error, failures: this.failuresInARow });
        // The target's blobs are gone: retention has most likely moved on past it, so the
        // announcement is read again now rather than at the next poll.
        if (error.code === 'BLOB_NOT_FOUND') void this.watcher?.check();
        if (!from) throw error;
        this.scheduleRetry();
        throw error;
      }
    }
  }

  private scheduleRetry(): void {
    if (this.closing) return;
    const { base, max } = this.retryDelay;
    const delay = Math.min(max, base * 2 ** Math.min(this.failuresInARow - 1, 16));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(
      () => void this.refresh().catch(() => {}),
      delay * (0.8 + Math.random() * 0.4),
    );
    this.retryTimer.unref();
  }

  /**
   * A handle to post to worker threads; `attach(handle)` there gives a read-only consumer over
   * the same memory that follows this one's refreshes. Needs `sharedMemory: true`.
   */
  share(): ShareHandle {
    if (this.options.sharedMemory !== true) {
      throw new ShoalError(
        'INVALID_OPTION',
        'share() needs a consumer opened with sharedMemory: true, so states live on SharedArrayBuffers',
      );
    }
    // After close() a channel would stay open with nothing to keep it in step.
    if (this.closing) {
      throw new ShoalError(
        'CLOSED',
        'share() on a closed consumer: share an open one (a worker attached to it follows its refreshes)',
      );
    }
    const name = `shoal:${this.options.namespace}:${Math.random().toString(36).slice(2)}`;
    if (!this.channel) {
      this.channel = new BroadcastChannel(name);
      this.channel.unref();
      const channel = this.channel;
      // close() closes the channel before the refresh in flight ends: that refresh posts nothing.
      const post = () => {
        if (this.channel === channel)
          channel.postMessage({ kind: 'state', state: shareState(this.state) } satisfies ShareMessage);
      };
      channel.onmessage = (event) => {
        if ((event as unknown as { data: ShareMessage }).data.kind === 'sync') post();
      };
      this.on('refresh', post);
    }
    return { channel: this.channel.name as string, state: shareState(this.state) };
  }

  /** Resolves once the consumer is closed. */
  closed(): Promise<void> {
    return this.closedPromise;
  }

  /** Stops watching and retrying. Idempotent; the last state stays readable. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopping.abort();
      clearTimeout(this.retryTimer);
      const channel = this.channel;
      this.channel = undefined;
      channel?.close();
      try {
        await this.watcher?.close();
      } finally {
        await this.refreshing;
        this.closedResolve();
      }
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
