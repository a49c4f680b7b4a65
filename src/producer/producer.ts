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
 * → retain: version-cycle.ts, each stage in ./stages); a failure at any stage before the
 * announcement leaves the announced version as it was, keeps the batch's changes pending, and
 * the producer ready for the next cycle. Cycles never overlap. Build, encode and integrity run
 * in a worker thread by default (cycle-thread.ts), so upserts keep being logged while a cycle
 * runs. Single changes come in through change-intake.ts (checks, backpressure, the log, the
 * batch timer); this class holds the lifecycle and runs one cycle at a time.
 */
import { hostname } from 'node:os';
import { StoreAnnouncer } from '../blob/announcer.ts';
import { NamespaceLayout } from '../blob/namespace-layout.ts';
import { checkVersionMetadata, type VersionMetadata } from '../blob/version-metadata.ts';
import { ShoalError } from '../errors.ts';
import {
  assertCompatible,
  type Schema,
  type SchemaKey,
  type SchemaRecord,
  type TypeName,
} from '../schema/index.ts';
import type { State } from '../state/read/state.ts';
import { TypedEvents } from '../typed-events.ts';
import { ChangeIntake } from './change-intake.ts';
import type { ProducerEvents } from './producer-events.ts';
import {
  type ProducerOptions,
  type ResolvedProducerOptions,
  resolveProducerOptions,
} from './producer-options.ts';
import { restoreAnnounced } from './restore.ts';
import { buildRestated, type CycleWriter } from './stages/build-stage.ts';
import { type BuildNext, type CycleResult, VersionCycles } from './version-cycle.ts';
import { type LogDamage, WriteAheadLog } from './write-ahead-log.ts';

export type { CycleResult } from './version-cycle.ts';

/** Options of {@link Producer.runCycle}: the version's label and metadata, and what it re-states. */
export interface RunCycleOptions<S extends Schema = Schema> extends VersionMetadata {
  /**
   * The types the cycle re-states; every other type keeps the records of the last version.
   * @default every type of the schema
   */
  readonly types?: readonly TypeName<S>[];
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
  private readonly events = new TypedEvents<ProducerEvents>();
  private readonly wal: WriteAheadLog;
  private readonly intake: ChangeIntake;
  private readonly cycles: VersionCycles<S>;
  private queue: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;

  private constructor(
    o: ResolvedProducerOptions<S>,
    wal: WriteAheadLog,
    restored: Awaited<ReturnType<typeof restoreAnnounced>>,
  ) {
    this.o = o;
    this.wal = wal;
    this.cycles = new VersionCycles(o, this.events, restored);
    this.intake = new ChangeIntake(o, wal, this.events, () => void this.flush().catch(() => {}));
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
    if (wal.backlog > 0) producer.intake.schedule(0);
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
    return this.cycles.current;
  }

  /** The announced version, as far as this producer knows. */
  get version(): number | undefined {
    return this.cycles.announcedVersion;
  }

  /** Changes waiting for a published version (pending and in a cycle). */
  get pendingCount(): number {
    return this.intake.pendingCount;
  }

  /** Bytes of the pending changes, as logged (see `highWatermarkBytes`). */
  get pendingBytes(): number {
    return this.intake.pendingBytes;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof ProducerEvents>(event: K, listener: (payload: ProducerEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  private checkOpen(): void {
    if (this.closing) throw new ShoalError('CLOSED', 'the producer is closed; open a new one');
    if (this.cycles.lost) throw this.cycles.lostError();
  }

  /**
   * Set once another producer announced in this producer's namespace: its state is no longer
   * the announced one, so it publishes nothing more (no cycle, no orphan blobs) and refuses
   * changes, until it is reopened (which restores the announced version and replays its log).
   */
  get conflict(): ShoalError | undefined {
    return this.cycles.lost;
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
    const build: BuildNext<S> = async (version, stages) => {
      const next = await buildRestated(
        this.cycles.current,
        this.o.schema,
        populate,
        version,
        shared,
        this.o.layout,
        options.types,
        this.o.compactAbove,
      );
      if (next) await stages.adopt(next);
      return next;
    };
    return this.enqueue(() => this.cycles.run(build, checked));
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

  private accept(op: 'upsert' | 'delete', type: string, given: unknown): Promise<void> {
    try {
      this.checkOpen();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.intake.accept(op, type, given);
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
    this.intake.flushing();
    return this.enqueue(async () => {
      this.intake.taking();
      const batch = await this.wal.take();
      if (!batch) return { outcome: 'skipped' } as const;
      this.intake.inFlight = batch.count;
      this.intake.inFlightBytes = batch.bytes;
      try {
        const result = await this.cycles.run(async (version, stages) => {
          const built = await stages.buildFromLog(batch.files, version);
          for (const message of built.dropped) this.events.emit('warning', { message });
          return built.next as State<S> | undefined;
        }, checked);
        await this.wal.trim(batch);
        return result;
      } catch (e) {
        this.wal.giveBack(batch);
        if (!this.closing && !this.cycles.lost) this.intake.schedule(this.o.maxBatchDelayMs);
        throw e;
      } finally {
        this.intake.inFlight = 0;
        this.intake.inFlightBytes = 0;
        this.events.emit('pending', { count: this.pendingCount });
        this.intake.drained();
      }
    });
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Finishes the cycle in flight, publishes what is pending, closes the log. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.intake.close();
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
      await this.cycles.close();
      this.intake.release();
      if (errors.length > 0) throw errors[0];
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
