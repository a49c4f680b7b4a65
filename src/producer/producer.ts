/**
 * The producer: turns records into versions, publishes their blobs, then announces them.
 *
 * Two ways in: `runCycle(populate)` re-states the whole dataset; `upsert` / `delete` add to a
 * pending batch flushed into a cycle at `maxBatchRecords` or after `maxBatchDelayMs` (or on
 * `flush()`). The promise of `upsert` / `delete`: it resolves once the change is fsynced to the
 * write-ahead log, so it survives a crash and will be in a published version; it rejects with
 * `INVALID_RECORD` / `INVALID_KEY` before anything is logged, with `BACKPRESSURE` in `reject`
 * mode, or with `WAL_FAILED` when the log could not be written (such a change is not
 * acknowledged, though it may still be published).
 *
 * A cycle runs its stages in order (build → encode → integrity → validate → publish → announce
 * → retain, each in ./stages); a failure at any stage before the announcement leaves the
 * announced version as it was, keeps the batch's changes pending, and the producer ready for
 * the next cycle. Cycles never overlap. Build, encode and integrity run in a worker thread by
 * default (cycle-thread.ts), so upserts keep being logged while a cycle runs.
 */
import { hostname } from 'node:os';
import { type Announcer, StoreAnnouncer } from '../blob/announcer.ts';
import { NamespaceLayout, type VersionHeader } from '../blob/namespace-layout.ts';
import { applyRetention } from '../blob/retention.ts';
import { checkVersionMetadata, type VersionMetadata } from '../blob/version-metadata.ts';
import { isShoalError, ShoalError } from '../errors.ts';
import {
  assertCompatible,
  createKeyCopier,
  createKeyValidator,
  createRecordCopier,
  createRecordValidator,
  type RecordValidator,
  type Schema,
  type SchemaKey,
  type SchemaRecord,
  type TypeName,
} from '../schema/index.ts';
import type { State } from '../state/state.ts';
import { TypedEvents } from '../typed-events.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { CycleRunner, type CycleStages } from './cycle-runner.ts';
import { CycleThread } from './cycle-thread.ts';
import type { ProducerEvents, StageName } from './producer-events.ts';
import {
  type ProducerOptions,
  type ResolvedProducerOptions,
  resolveProducerOptions,
} from './producer-options.ts';
import { restoreAnnounced } from './restore.ts';
import { buildRestated, type CycleWriter } from './stages/build-stage.ts';
import { publishVersion, removeBlobs } from './stages/publish-stage.ts';
import { runValidators } from './stages/validate-stage.ts';
import { type LogDamage, WriteAheadLog } from './write-ahead-log.ts';

/** Options of {@link Producer.runCycle}: the version's label and metadata, and what it re-states. */
export interface RunCycleOptions<S extends Schema = Schema> extends VersionMetadata {
  /**
   * The types the cycle re-states; every other type keeps the records of the last version.
   * @default every type of the schema
   */
  readonly types?: readonly TypeName<S>[];
}

/** How a cycle ended. */
export type CycleResult =
  | {
      readonly outcome: 'published';
      readonly version: number;
      readonly snapshot: boolean;
      /** The label the version carries, when the cycle was given one. */
      readonly label?: string;
      /** The key/values the version carries (`{}` when none). */
      readonly metadata: Readonly<Record<string, string>>;
    }
  | { readonly outcome: 'skipped' };

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

class StageError extends Error {
  constructor(
    readonly stage: StageName,
    readonly error: unknown,
  ) {
    super(`stage ${stage} failed`);
  }
}

/** What an upsert's record or a delete's key of one type goes through before it is logged. */
interface TypeChecks {
  readonly record: RecordValidator;
  readonly key: (key: unknown) => void;
  readonly copyRecord: (record: unknown) => unknown;
  readonly copyKey: (key: unknown) => unknown;
}

/**
 * Any producer, whatever its schema: what functions that work on every producer take. Its
 * writes take any type name and plain-object records, checked at run time.
 */
// biome-ignore lint/suspicious/noExplicitAny: the one place a producer of any schema is accepted.
export type AnyProducer = Producer<any>;

/** Publishes versions of one namespace. Create with {@link Producer.open}. */
export class Producer<S extends Schema = Schema> {
  private readonly o: ResolvedProducerOptions<S>;
  private readonly layout: NamespaceLayout;
  private readonly announcer: Announcer;
  private readonly events = new TypedEvents<ProducerEvents>();
  private readonly breaker: CircuitBreaker;
  /** Per type: the checks an upsert's record and a delete's key pass before they are logged. */
  private readonly checks = new Map<string, TypeChecks>();
  private readonly wal: WriteAheadLog;
  private stages: CycleStages | undefined;
  private inFlight = 0;
  private inFlightBytes = 0;
  private current: State<S> | undefined;
  private header: VersionHeader | undefined;
  private announcedVersion: number | undefined;
  private sinceSnapshot: number;
  private lastVersion: number;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private flushSoon = false;
  private lost: ShoalError | undefined;
  private pendingReported = false;
  private drainWaiters: (() => void)[] = [];
  private pushingBack = false;
  private closing: Promise<void> | undefined;

  private constructor(
    o: ResolvedProducerOptions<S>,
    wal: WriteAheadLog,
    restored: Awaited<ReturnType<typeof restoreAnnounced>>,
  ) {
    this.o = o;
    this.layout = new NamespaceLayout(o.namespace);
    this.announcer = o.announcer ?? new StoreAnnouncer({ store: o.store, namespace: o.namespace });
    this.breaker = new CircuitBreaker(o.breakerThreshold, o.breakerCooldownMs, (state) =>
      this.events.emit('breaker', { state }),
    );
    this.wal = wal;
    this.current = restored.state as State<S> | undefined;
    this.header = restored.header;
    this.announcedVersion = restored.announcement?.version;
    this.sinceSnapshot = restored.sinceSnapshot;
    this.lastVersion = restored.announcement?.version ?? 0;
    for (const type of o.schema.types) {
      this.checks.set(type.name, {
        record: createRecordValidator(type),
        key: createKeyValidator(type),
        copyRecord: createRecordCopier(type),
        copyKey: createKeyCopier(type),
      });
    }
  }

  /**
   * Opens a producer: restores the announced state from the store (so the next version is a
   * delta from it); changes left in the write-ahead log are published by the first cycle,
   * which starts at once. A logged change that no longer fits the schema is dropped then,
   * with a `warning` event.
   */
  static async open<S extends Schema>(options: ProducerOptions<S>): Promise<Producer<S>> {
    const o = resolveProducerOptions(options, `${hostname()}:${process.pid}`);
    const layout = new NamespaceLayout(o.namespace);
    const restored = await restoreAnnounced(
      o.store,
      layout,
      o.announcer ?? new StoreAnnouncer({ store: o.store, namespace: o.namespace }),
      o.cycleThread === 'worker',
    );
    if (restored.state) assertCompatible(restored.state.schema, o.schema);
    let producer: Producer<S> | undefined;
    const wal = await WriteAheadLog.open({
      dir: o.walDir,
      fsync: o.fsync,
      onFailure: (error) => producer?.events.emit('wal:failure', { error }),
    });
    producer = new Producer(o, wal, restored);
    if (wal.backlog > 0) producer.schedule(0);
    // After open resolves, so that a listener added at once hears it.
    if (wal.damage.length > 0) setImmediate(() => producer.reportLogDamage());
    return producer;
  }

  /**
   * Damage found in the write-ahead log at open: runs of bytes between readable frames whose
   * changes could not be replayed. The frames around them were replayed; the damaged segments
   * are kept as `<segment>.damaged` once published, never deleted.
   */
  get logDamage(): readonly LogDamage[] {
    return this.wal.damage;
  }

  private reportLogDamage(): void {
    for (const d of this.wal.damage) {
      const lost = d.changes === undefined ? 'an unknown number of changes' : `${d.changes} change(s)`;
      this.events.emit('warning', {
        message: `the write-ahead log is damaged: ${d.bytes} bytes at offset ${d.offset} of ${d.file} held no readable frame (${lost} lost); the frames around them were replayed, and the segment is kept as ${d.file}.damaged once published. Re-send the changes acknowledged around that time if you can.`,
        error: new ShoalError('WAL_DAMAGED', `${lost} lost at offset ${d.offset} of ${d.file}`),
      });
    }
  }

  /** The last state this producer published or restored. */
  get state(): State<S> | undefined {
    return this.current;
  }

  /** The announced version, as far as this producer knows. */
  get version(): number | undefined {
    return this.announcedVersion;
  }

  /** Changes waiting for a published version (pending and in a cycle). */
  get pendingCount(): number {
    return this.wal.backlog + this.inFlight;
  }

  /** Bytes of the pending changes, as logged (see `highWatermarkBytes`). */
  get pendingBytes(): number {
    return this.wal.backlogBytes + this.inFlightBytes;
  }

  /** Past a high watermark (count or bytes): push back. */
  private overHigh(): boolean {
    return this.pendingCount >= this.o.highWatermark || this.pendingBytes >= this.o.highWatermarkBytes;
  }

  /** Still above a low watermark (count or bytes): keep pushing back. */
  private overLow(): boolean {
    return this.pendingCount >= this.o.lowWatermark || this.pendingBytes >= this.o.highWatermarkBytes / 2;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof ProducerEvents>(event: K, listener: (payload: ProducerEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** The checks of `type`; `UNKNOWN_TYPE` when the schema has no such type. */
  private checksOf(type: string): TypeChecks {
    const c = this.checks.get(type);
    if (!c) this.o.schema.type(type);
    return c!;
  }

  /** Where build, encode and integrity run: a worker (started again if it died), or here. */
  private cycleStages(): CycleStages {
    if (this.stages?.failed) this.stages = undefined;
    this.stages ??=
      this.o.cycleThread === 'worker'
        ? CycleThread.start(this.o.schema, this.current, this.o.layout)
        : new CycleRunner(this.o.schema, this.current, false, this.o.layout);
    return this.stages;
  }

  private checkOpen(): void {
    if (this.closing) throw new ShoalError('CLOSED', 'the producer is closed; open a new one');
    if (this.lost) throw this.lostError();
  }

  /**
   * Set once another producer announced in this producer's namespace: its state is no longer
   * the announced one, so it publishes nothing more (no cycle, no orphan blobs) and refuses
   * changes, until it is reopened (which restores the announced version and replays its log).
   */
  get conflict(): ShoalError | undefined {
    return this.lost;
  }

  private lostError(): ShoalError {
    return new ShoalError(
      'ANNOUNCE_CONFLICT',
      `this producer lost namespace "${this.o.namespace}" to another producer (${this.lost!.message}). It publishes nothing more; reopen it to resume from the announced version (changes already acknowledged are in its log and will be replayed).`,
      { cause: this.lost },
    );
  }

  /**
   * Re-states the whole dataset: `populate` adds every record of the next version, typed by
   * the schema as `upsert` is. With `options.types`, only those types are re-stated; the others
   * keep the records of the last version (adding one of theirs rejects with `INVALID_RECORD`).
   * `options.label` and `options.metadata` label that version (`{ label: '3.1.5', metadata:
   * { commit: 'abc' } }`; `INVALID_OPTION` when malformed); a cycle that changes nothing makes
   * no version, so its label names none.
   */
  runCycle(
    populate: (writer: CycleWriter<S>) => void | Promise<void>,
    options: RunCycleOptions<S> = {},
  ): Promise<CycleResult> {
    let checked: VersionMetadata;
    try {
      this.checkOpen();
      checked = checkVersionMetadata({
        ...(options.label !== undefined ? { label: options.label } : {}),
        ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
      });
      for (const name of options.types ?? []) this.o.schema.type(name);
    } catch (e) {
      return Promise.reject(e);
    }
    const shared = this.o.cycleThread === 'worker';
    return this.enqueue(() =>
      this.cycle(async (version, stages) => {
        const next = await buildRestated(
          this.current,
          this.o.schema,
          populate,
          version,
          shared,
          this.o.layout,
          options.types,
        );
        if (next) await stages.adopt(next);
        return next;
      }, checked),
    );
  }

  /**
   * Adds or replaces a record (see the class comment for what the promise means). Typed by the
   * schema: `record` is `t.Infer` of the type named (any object for a schema known only at run
   * time, see {@link SchemaRecord}); it is validated again at run time all the same.
   */
  upsert<N extends TypeName<S>>(type: N, record: SchemaRecord<S, N>): Promise<void> {
    return this.accept('upsert', type, record);
  }

  /** Deletes the record with `key`: the key field's value, or an object of the key fields. */
  delete<N extends TypeName<S>>(type: N, key: SchemaKey<S, N>): Promise<void> {
    return this.accept('delete', type, key);
  }

  /** Checks an upsert's record or a delete's key, waits below the watermark, then logs it. */
  private accept(op: 'upsert' | 'delete', type: string, given: unknown): Promise<void> {
    // Not async: the common path makes no promise of its own, only the log group's.
    let value: unknown;
    try {
      this.checkOpen();
      const checks = this.checksOf(type);
      // What is checked and logged is a copy: the caller may reuse its object at once.
      value = op === 'upsert' ? checks.copyRecord(given) : checks.copyKey(given);
      if (op === 'upsert') checks.record(value);
      else checks.key(value);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!this.overHigh()) return this.log(op, type, value);
    return this.admit().then(() => this.log(op, type, value));
  }

  private log(op: 'upsert' | 'delete', type: string, value: unknown): Promise<void> {
    // The pending count is reported at most once per log group, not once per change.
    if (!this.pendingReported) {
      this.pendingReported = true;
      setImmediate(() => {
        this.pendingReported = false;
        this.events.emit('pending', { count: this.pendingCount });
      });
    }
    const appended = this.wal.append(op, type, value);
    if (this.flushSoon) return appended;
    if (this.wal.backlog >= this.o.maxBatchRecords) {
      // One flush waits for its turn at a time, however many changes come meanwhile.
      this.flushSoon = true;
      this.schedule(0);
    } else if (!this.timer) {
      this.schedule(this.o.maxBatchDelayMs);
    }
    return appended;
  }

  private async admit(): Promise<void> {
    if (!this.overHigh()) return;
    if (!this.pushingBack) {
      this.pushingBack = true;
      this.events.emit('backpressure', { on: true, pending: this.pendingCount });
    }
    if (this.o.backpressure === 'reject') {
      throw new ShoalError(
        'BACKPRESSURE',
        `${this.pendingCount} changes (${this.pendingBytes} bytes) are waiting to be published (highWatermark ${this.o.highWatermark}, highWatermarkBytes ${this.o.highWatermarkBytes}). Retry after a while, or slow down.`,
      );
    }
    this.schedule(0);
    while (this.overLow() && !this.closing) {
      await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    }
  }

  private drained(): void {
    if (this.overLow()) return;
    if (this.pushingBack) {
      this.pushingBack = false;
      this.events.emit('backpressure', { on: false, pending: this.pendingCount });
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(() => {});
    }, delayMs);
    this.timer.unref();
  }

  /**
   * Publishes the pending changes now; resolves with the cycle's outcome. `about` labels the
   * version this flush cuts (`INVALID_OPTION` when malformed): it holds every change
   * acknowledged before the call that an earlier cycle did not take. With nothing pending
   * the outcome is `skipped` and the label names no version. Versions cut by the batch timer
   * or size carry no label.
   */
  flush(about?: VersionMetadata): Promise<CycleResult> {
    let checked: VersionMetadata;
    try {
      checked = checkVersionMetadata(about);
    } catch (e) {
      return Promise.reject(e);
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushSoon = true;
    return this.enqueue(async () => {
      this.flushSoon = false;
      const batch = await this.wal.take();
      if (!batch) return { outcome: 'skipped' } as const;
      this.inFlight = batch.count;
      this.inFlightBytes = batch.bytes;
      try {
        const result = await this.cycle(async (version, stages) => {
          const built = await stages.buildFromLog(batch.files, version);
          for (const message of built.dropped) this.events.emit('warning', { message });
          return built.next as State<S> | undefined;
        }, checked);
        await this.wal.trim(batch);
        return result;
      } catch (e) {
        this.wal.giveBack(batch);
        if (!this.closing && !this.lost) this.schedule(this.o.maxBatchDelayMs);
        throw e;
      } finally {
        this.inFlight = 0;
        this.inFlightBytes = 0;
        this.events.emit('pending', { count: this.pendingCount });
        this.drained();
      }
    });
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Announces `version` in place of the one announced. On any failure, an announcement found
   * to be this cycle's own (its write landed, its answer was lost) is success; on a conflict
   * with another producer's, this version's blobs are left unreachable, so they are removed
   * before it fails.
   */
  private async announce(header: VersionHeader, blobs: readonly string[]): Promise<void> {
    const { version, tag } = header;
    try {
      await this.announcer.announce({
        version,
        announcedAt: Date.now(),
        producer: this.o.producerId,
        tag,
        // What a consumer one version behind needs to plan its refresh without reading headers.
        header,
        ...(this.announcedVersion !== undefined ? { replaces: this.announcedVersion } : {}),
      });
    } catch (error) {
      // The write may have landed although its answer was lost (a timeout, a dropped
      // connection, a retry that then met its own write): the announcement says whose it is.
      const found = await this.announcer.read().catch(() => undefined);
      if (found?.version === version && found.tag === tag) return;
      if (isShoalError(error, 'ANNOUNCE_CONFLICT')) await removeBlobs(this.o.store, blobs);
      throw error;
    }
  }

  private async cycle(
    build: (version: number, stages: CycleStages) => Promise<State<S> | undefined>,
    about: VersionMetadata,
  ): Promise<CycleResult> {
    if (this.lost) throw this.lostError();
    const version = Math.max(this.o.clock(), this.lastVersion + 1);
    const started = performance.now();
    const stages: Partial<Record<StageName, number>> = {};
    const stage = async <T>(name: StageName, fn: () => T | Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        await this.o.beforeStage?.(name);
        return await fn();
      } catch (error) {
        throw new StageError(name, error);
      } finally {
        stages[name] = performance.now() - t;
      }
    };
    const prev = this.current;
    this.events.emit('cycle:start', { version });
    let runner: CycleStages | undefined;
    try {
      const next = await stage('build', () => {
        runner = this.cycleStages();
        return build(version, runner);
      });
      if (!next) {
        this.events.emit('cycle:skip', { reason: 'no change' });
        return { outcome: 'skipped' };
      }
      const withSnapshot = !prev || this.sinceSnapshot + 1 >= this.o.snapshotEvery;
      await stage('encode', () => runner!.encode(withSnapshot, about));
      const encoded = await stage('integrity', () => runner!.integrity());
      await stage('validate', () =>
        runValidators(prev, next, this.o.maxRecordCountChange, this.o.validators),
      );
      const header: VersionHeader = {
        version,
        tag: next.tag,
        checksum: next.checksum,
        ...(this.announcedVersion !== undefined ? { previous: this.announcedVersion } : {}),
        snapshot: encoded.snapshot ? version : this.header!.snapshot,
        bytes: {
          ...(encoded.snapshot ? { snapshot: encoded.snapshot.byteLength } : {}),
          ...(encoded.delta ? { delta: encoded.delta.byteLength } : {}),
          ...(encoded.reverse ? { reverse: encoded.reverse.byteLength } : {}),
        },
        counts: next.counts(),
        publishedAt: Date.now(),
        producer: this.o.producerId,
        ...about,
      };
      const label = about.label !== undefined ? { label: about.label } : {};
      const metadata = about.metadata ?? NO_METADATA;
      const ctx = {
        store: this.o.store,
        layout: this.layout,
        breaker: this.breaker,
        retries: this.o.publishRetries,
        emit: this.events.emit.bind(this.events),
      };
      const blobs = await stage('publish', () => publishVersion(ctx, this.announcedVersion, encoded, header));
      await stage('announce', () => this.announce(header, blobs));
      runner!.commit();
      this.current = next;
      this.header = header;
      this.announcedVersion = version;
      this.lastVersion = version;
      this.sinceSnapshot = encoded.snapshot ? 0 : this.sinceSnapshot + 1;
      this.events.emit('announced', { version, ...label, metadata });
      await stage('retain', async () => {
        try {
          await applyRetention({
            store: this.o.store,
            namespace: this.o.namespace,
            keepSnapshots: this.o.keepSnapshots,
            protect: [version],
          });
        } catch (error) {
          this.events.emit('warning', {
            message: 'retention failed; old blobs stay until the next cycle',
            error,
          });
        }
      });
      this.events.emit('cycle:success', {
        version,
        durationMs: performance.now() - started,
        stages,
        counts: next.counts(),
        snapshot: encoded.snapshot !== undefined,
        ...label,
        metadata,
      });
      return { outcome: 'published', version, snapshot: encoded.snapshot !== undefined, ...label, metadata };
    } catch (e) {
      runner?.discard();
      const failed = e instanceof StageError ? e : new StageError('build', e);
      const cause = failed.error;
      const error = isShoalError(cause)
        ? cause
        : new ShoalError(
            'CYCLE_FAILED',
            `the ${failed.stage} stage of version ${version} failed: ${(cause as Error)?.message ?? String(cause)}. The announced version is unchanged; the next cycle tries again.`,
            { cause },
          );
      this.lastVersion = Math.max(this.lastVersion, version);
      if (error.code === 'ANNOUNCE_CONFLICT') this.lost ??= error;
      this.events.emit('cycle:failure', {
        version,
        stage: failed.stage,
        error,
        durationMs: performance.now() - started,
      });
      throw error;
    }
  }

  /** Finishes the cycle in flight, publishes what is pending, closes the log. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.timer);
      const errors: unknown[] = [];
      try {
        if (this.wal.backlog > 0) await this.flush();
        else await this.queue;
      } catch (e) {
        errors.push(e);
      }
      try {
        await this.wal.close();
      } catch (e) {
        errors.push(e);
      }
      await this.stages?.close();
      for (const w of this.drainWaiters) w();
      this.drainWaiters = [];
      if (errors.length > 0) throw errors[0];
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
