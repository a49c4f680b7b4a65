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
import { AnnouncementWatcher, type AnnouncementWatcherOptions } from '../blob/announcement-watcher.ts';
import { type Announcement, StoreAnnouncer } from '../blob/announcer.ts';
import type { BlobStore } from '../blob/blob-store.ts';
import { isVersion, NamespaceLayout } from '../blob/namespace-layout.ts';
import { isShoalError, ShoalError } from '../errors.ts';
import { assertCompatible, type Schema } from '../schema/index.ts';
import { applyDelta } from '../state/delta.ts';
import type { Layout } from '../state/layout.ts';
import { carryLocalIndexes } from '../state/local-indexes.ts';
import { decodeSnapshot } from '../state/snapshot.ts';
import type { AnyState, State } from '../state/state.ts';
import { diffStates, type TypeDiff } from '../state/state-diff.ts';
import { shareState } from '../state/state-handle.ts';
import { TypedEvents } from '../typed-events.ts';
import type { ShareHandle, ShareMessage } from './attached-consumer.ts';
import { planRefresh, type RefreshPlan } from './refresh-planner.ts';

/** A version to pin: a non-negative safe integer (`INVALID_OPTION` otherwise). */
function checkPin(version: unknown, name: string): void {
  if (!isVersion(version)) {
    throw new ShoalError(
      'INVALID_OPTION',
      `${name} needs a version (a non-negative integer), got ${String(version)}`,
    );
  }
}

/** Options of {@link Consumer.open}. */
export interface ConsumerOptions<S extends Schema = Schema> extends AnnouncementWatcherOptions {
  readonly store: BlobStore;
  readonly namespace: string;
  /** The schema the caller reads with; the served schema must be compatible with it. */
  readonly schema?: S;
  /**
   * Follow new announcements.
   * @default true
   */
  readonly watch?: boolean;
  /**
   * Serve this version instead of the announced one (until `refreshTo`).
   * @default the announcement's pin, or its version
   */
  readonly pin?: number;
  /**
   * Build states on SharedArrayBuffers.
   * @default false
   */
  readonly sharedMemory?: boolean;
  /**
   * The first wait before retrying a failed refresh; it doubles up to `maxRetryDelayMs`.
   * @default 500
   */
  readonly retryDelayMs?: number;
  /**
   * The longest wait between retries of a failed refresh.
   * @default 30000
   */
  readonly maxRetryDelayMs?: number;
  /**
   * Decode snapshots with `verify: true`: recompute their checksum, look every key up through
   * the index and check every string and json value (about 0.5 s per million records here,
   * against ~40 ms without). Deltas are always checked by checksum, and every blob's structure
   * always.
   * @default false
   */
  readonly verifySnapshots?: boolean;
  /** @internal Encoding thresholds of the columns deltas rebuild, for tests (see `Layout`). */
  readonly layout?: Partial<Layout>;
}

/** What a refresh changed. */
export interface RefreshEvent {
  readonly from: number | undefined;
  readonly to: number;
  readonly kind: RefreshPlan['kind'];
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
  /** A blob failed and will be routed around. */
  'blob:failure': { readonly key: string; readonly error: ShoalError };
  announcement: Announcement;
  /** Checking the announcement failed; the watcher goes on (with backoff on S3). */
  'watch:error': ShoalError;
  /** The announcement was read (`ok`), or could not be (the error comes as `watch:error`). */
  'announcement:check': { readonly ok: boolean };
}

/** Any consumer, whatever its schema. */
// biome-ignore lint/suspicious/noExplicitAny: the one place a consumer of any schema is accepted.
export type AnyConsumer = Consumer<any>;

/** Holds the current state of a namespace. Create with {@link Consumer.open}. */
export class Consumer<S extends Schema = Schema> {
  private readonly store: BlobStore;
  private readonly layout: NamespaceLayout;
  private readonly options: ConsumerOptions<S>;
  private readonly events = new TypedEvents<ConsumerEvents>();
  private readonly failedBlobs = new Set<string>();
  private current: State<S> | undefined;
  private watcher: AnnouncementWatcher | undefined;
  private pinned: number | undefined;
  private announced: Announcement | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private failuresInARow = 0;
  private closing: Promise<void> | undefined;
  private channel: BroadcastChannel | undefined;
  private closedResolve!: () => void;
  private readonly closedPromise = new Promise<void>((resolve) => (this.closedResolve = resolve));

  private constructor(options: ConsumerOptions<S>) {
    this.options = options;
    this.store = options.store;
    this.layout = new NamespaceLayout(options.namespace);
    if (options.pin !== undefined) checkPin(options.pin, 'pin');
    this.pinned = options.pin;
  }

  /** Loads the announced version (or the pin) and starts watching. */
  static async open<S extends Schema>(options: ConsumerOptions<S>): Promise<Consumer<S>> {
    const consumer = new Consumer(options);
    consumer.announced = await new StoreAnnouncer({
      store: options.store,
      namespace: options.namespace,
    }).read();
    const target = consumer.target();
    if (target === undefined) {
      throw new ShoalError(
        'BLOB_NOT_FOUND',
        `nothing is announced in namespace "${options.namespace}" yet. Start the producer first, or open later.`,
      );
    }
    await consumer.load(target);
    if (options.watch !== false) {
      const watcher = new AnnouncementWatcher({
        ...options,
        store: options.store,
        namespace: options.namespace,
      });
      consumer.watcher = watcher;
      watcher.on('error', (e) => consumer.events.emit('watch:error', e));
      watcher.on('check', (c) => consumer.events.emit('announcement:check', { ok: !c.failed }));
      watcher.on('announcement', (a) => {
        consumer.announced = a;
        consumer.events.emit('announcement', a);
        void consumer.refresh().catch(() => {});
      });
      await watcher.start();
    }
    return consumer;
  }

  /** The state served now. */
  get state(): State<S> {
    return this.current!;
  }

  /** The version served now. */
  get version(): number {
    return this.current!.version;
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
    if (!this.watcher) {
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
      this.announced = read ?? this.announced;
      this.events.emit('announcement:check', { ok: true });
    }
    const target = this.target();
    if (target !== undefined) await this.refreshTo(target, false);
  }

  /** Brings the state to `version` and pins it there (until `refreshTo` another or `unpin`). */
  refreshTo(version: number, pin = true): Promise<void> {
    try {
      checkPin(version, 'refreshTo');
    } catch (e) {
      return Promise.reject(e);
    }
    if (pin) this.pinned = version;
    const run = this.refreshing.then(() => this.load(version));
    this.refreshing = run.catch(() => {});
    return run;
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
        plan = await planRefresh(this.store, this.layout, from?.version, version, this.failedBlobs);
        const next = await this.apply(from, plan);
        this.current = next as unknown as State<S>;
        this.failuresInARow = 0;
        this.events.emit('refresh', {
          from: from?.version,
          to: next.version,
          kind: plan.kind,
          bytes: plan.bytes,
          durationMs: performance.now() - started,
          types: from ? diffStates(from, next) : {},
        });
        return;
      } catch (e) {
        const error = isShoalError(e)
          ? e
          : new ShoalError('STORE_UNAVAILABLE', (e as Error).message, { cause: e });
        const blob = (e as { blobKey?: string }).blobKey;
        if (blob && !this.failedBlobs.has(blob) && attempt < 3) {
          this.failedBlobs.add(blob);
          this.events.emit('blob:failure', { key: blob, error });
          continue; // plan again around it
        }
        this.failuresInARow++;
        this.events.emit('refresh:failure', { target: version, error, failures: this.failuresInARow });
        if (!from) throw error;
        this.scheduleRetry();
        throw error;
      }
    }
  }

  private async apply(from: AnyState | undefined, plan: RefreshPlan): Promise<AnyState> {
    const shared = this.options.sharedMemory === true;
    const fetch = async (key: string) => {
      try {
        return await this.store.get(key);
      } catch (e) {
        if (isShoalError(e, 'BLOB_NOT_FOUND')) throw Object.assign(e, { blobKey: key });
        throw e;
      }
    };
    // Whatever goes wrong decoding or applying a blob is that blob's fault: it is marked, so
    // the next plan routes around it (another delta path, or a snapshot).
    const guard = <T>(key: string, fn: () => T): T => {
      try {
        return fn();
      } catch (e) {
        if (!isShoalError(e)) {
          throw Object.assign(
            new ShoalError(
              'BLOB_CORRUPT',
              `${key} could not be applied (${(e as Error)?.message ?? String(e)})`,
              {
                cause: e,
              },
            ),
            { blobKey: key },
          );
        }
        if (
          e.code.startsWith('BLOB_') ||
          e.code === 'CHECKSUM_MISMATCH' ||
          e.code === 'DELTA_ORIGIN_MISMATCH' ||
          e.code === 'SCHEMA_INCOMPATIBLE'
        )
          throw Object.assign(e, { blobKey: key });
        throw e;
      }
    };
    let state: AnyState;
    if (plan.kind === 'snapshot') {
      const key = plan.snapshot!;
      const bytes = await fetch(key);
      state = guard(key, () =>
        decodeSnapshot(bytes, { shared, verify: this.options.verifySnapshots === true }),
      );
      if (from) carryLocalIndexes(from, state);
    } else {
      state = from!;
    }
    for (const key of plan.steps) {
      const bytes = await fetch(key);
      const base = state;
      state = guard(key, () =>
        applyDelta(base, bytes, this.options.layout ? { shared, layout: this.options.layout } : { shared }),
      );
    }
    if (state.version !== plan.target.version || state.tag !== plan.target.tag) {
      // The last blob applied claims to reach the target but does not: route around it.
      throw Object.assign(
        new ShoalError(
          'CHECKSUM_MISMATCH',
          `refreshing reached version ${state.version}, not ${plan.target.version}`,
        ),
        { blobKey: plan.steps.at(-1) ?? plan.snapshot },
      );
    }
    if (this.options.schema) assertCompatible(state.schema, this.options.schema);
    return state;
  }

  private scheduleRetry(): void {
    if (this.closing) return;
    const base = this.options.retryDelayMs ?? 500;
    const delay = Math.min(
      this.options.maxRetryDelayMs ?? 30_000,
      base * 2 ** Math.min(this.failuresInARow - 1, 16),
    );
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
    const name = `shoal:${this.options.namespace}:${Math.random().toString(36).slice(2)}`;
    if (!this.channel) {
      this.channel = new BroadcastChannel(name);
      this.channel.unref();
      const channel = this.channel;
      channel.onmessage = (event) => {
        if ((event as unknown as { data: ShareMessage }).data.kind === 'sync')
          channel.postMessage({ kind: 'state', state: shareState(this.state) } satisfies ShareMessage);
      };
      this.on('refresh', () =>
        channel.postMessage({ kind: 'state', state: shareState(this.state) } satisfies ShareMessage),
      );
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
      clearTimeout(this.retryTimer);
      this.channel?.close();
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
