/**
 * The producer's way in for single changes: an upsert's record or a delete's key is copied and
 * checked, waits while the pending changes are over the high watermark (or is refused, in
 * `reject` mode), then is appended to the write-ahead log; its promise is the log group's
 * fsync. The intake also cuts batches: a flush is asked for at `maxBatchRecords` logged
 * changes, or `maxBatchDelayMs` after the first change of a batch.
 *
 * Pending = logged and not yet taken by a cycle, plus the batch a cycle holds (`inFlight`).
 */
import { ShoalError } from '../errors.ts';
import {
  createKeyCopier,
  createKeyValidator,
  createRecordCopier,
  createRecordValidator,
  type RecordValidator,
  type Schema,
} from '../schema/index.ts';
import type { TypedEvents } from '../typed-events.ts';
import type { ProducerEvents } from './producer-events.ts';
import type { ResolvedProducerOptions } from './producer-options.ts';
import type { WriteAheadLog } from './write-ahead-log.ts';

/** What an upsert's record or a delete's key of one type goes through before it is logged. */
interface TypeChecks {
  readonly record: RecordValidator;
  readonly key: (key: unknown) => void;
  readonly copyRecord: (record: unknown) => unknown;
  readonly copyKey: (key: unknown) => unknown;
}

type IntakeOptions = Pick<
  ResolvedProducerOptions<Schema>,
  | 'schema'
  | 'highWatermark'
  | 'lowWatermark'
  | 'highWatermarkBytes'
  | 'backpressure'
  | 'maxBatchRecords'
  | 'maxBatchDelayMs'
>;

export class ChangeIntake {
  private readonly o: IntakeOptions;
  private readonly wal: WriteAheadLog;
  private readonly events: TypedEvents<ProducerEvents>;
  /** Asked to publish the pending changes (the batch is full, or its delay is up). */
  private readonly onBatch: () => void;
  /** Per type: the checks an upsert's record and a delete's key pass before they are logged. */
  private readonly checks = new Map<string, TypeChecks>();
  /** Changes (and their logged bytes) of the batch a cycle holds. */
  inFlight = 0;
  inFlightBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushSoon = false;
  private pendingReported = false;
  private drainWaiters: (() => void)[] = [];
  private pushingBack = false;
  private closing = false;

  constructor(
    o: IntakeOptions,
    wal: WriteAheadLog,
    events: TypedEvents<ProducerEvents>,
    onBatch: () => void,
  ) {
    this.o = o;
    this.wal = wal;
    this.events = events;
    this.onBatch = onBatch;
    for (const type of o.schema.types) {
      this.checks.set(type.name, {
        record: createRecordValidator(type),
        key: createKeyValidator(type),
        copyRecord: createRecordCopier(type),
        copyKey: createKeyCopier(type),
      });
    }
  }

  /** Changes waiting for a published version (pending and in a cycle). */
  get pendingCount(): number {
    return this.wal.backlog + this.inFlight;
  }

  /** Bytes of the pending changes, as logged. */
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

  /** The checks of `type`; `UNKNOWN_TYPE` when the schema has no such type. */
  private checksOf(type: string): TypeChecks {
    const c = this.checks.get(type);
    if (!c) this.o.schema.type(type);
    return c!;
  }

  /** Checks an upsert's record or a delete's key, waits below the watermark, then logs it. */
  accept(op: 'upsert' | 'delete', type: string, given: unknown): Promise<void> {
    // Not async: the common path makes no promise of its own, only the log group's.
    let value: unknown;
    try {
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

  /** A cycle ended: writers pushed back go on once the pending changes are below the low watermark. */
  drained(): void {
    if (this.overLow()) return;
    if (this.pushingBack) {
      this.pushingBack = false;
      this.events.emit('backpressure', { on: false, pending: this.pendingCount });
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /** Asks for a flush in `delayMs` (in place of one asked for before). */
  schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onBatch();
    }, delayMs);
    this.timer.unref();
  }

  /** A flush was asked for: no timer needed, and no other flush until it takes its batch. */
  flushing(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushSoon = true;
  }

  /** The flush asked for is taking its batch: changes from now on start the next one. */
  taking(): void {
    this.flushSoon = false;
  }

  /** The producer is closing: no more flushes asked for; writers pushed back stop waiting once woken. */
  close(): void {
    this.closing = true;
    clearTimeout(this.timer);
  }

  /** The producer closed: writers still pushed back are let go. */
  release(): void {
    this.wake();
  }
}
