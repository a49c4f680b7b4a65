/**
 * The producer's write-ahead log: an acknowledged upsert or delete survives a crash.
 *
 * Appends made in one turn of the event loop, and any made while the previous group is being
 * written, form a group: one frame (u32 length, u32 CRC-32, msgpack payload), written in one
 * synchronous write (the segment is opened O_DSYNC); each `append` resolves once its group is
 * on disk. Frames go to numbered segment files in a local directory. The payload is one flat array: the type names the frame
 * uses, then per entry a code (name index × 2, + 1 for a delete) and the record or key. Flat,
 * it packs twice as fast as an object per entry, and the array's length gives the count.
 *
 * The segments are also how a cycle gets its changes: `take()` cuts the log (it seals the group
 * being collected into the current segment and moves appends to the next one) and names the
 * segments not yet published, which the cycle reads back, in its own thread, once they are
 * written. Every entry of the batch is in those segments, every later entry in a later one:
 * once a version holding the batch is announced, `trim` deletes them. After a failed cycle
 * they stay, and the next cut takes them again with whatever came since.
 *
 * On open, the entries of every remaining segment are counted as the backlog; a
 * torn frame at the end of a segment (a group the crash cut short, never acknowledged) ends that
 * segment. Replaying is idempotent: entries set or delete a key, so applying a suffix of history
 * to a state that already holds part of it gives the same state.
 *
 * A failed write fails the log closed: that group and every later append are refused with
 * `WAL_FAILED`, so no acknowledged frame can sit behind a torn one. Reopen the producer.
 */

import type { FileHandle } from 'node:fs/promises';
import { constants, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ShoalError } from '../errors.ts';
import { Packr } from '../format/msgpack.ts';
import { withZeros, zerosRestored } from './wal-zeros.ts';

/**
 * The log's codec: msgpack with msgpackr's record extension, which writes each object shape
 * once per frame (about twice as fast as plain maps here). Frames are self-contained.
 */
const walCodec = new Packr({ useRecords: true, int64AsType: 'bigint' });

/** One logged change. */
export type WalEntry =
  | { readonly op: 'upsert'; readonly type: string; readonly record: Readonly<Record<string, unknown>> }
  | { readonly op: 'delete'; readonly type: string; readonly key: unknown };

/** Changes taken from the log for one cycle. */
export interface LogBatch {
  /** The segment files holding them, oldest first: read them with {@link readSegments}. */
  readonly files: readonly string[];
  /** Entries in the batch, and the bytes of their frames. */
  readonly count: number;
  readonly bytes: number;
  /** The last segment holding the batch's entries. */
  readonly segment: number;
}

/** Options of {@link WriteAheadLog.open}. */
export interface WriteAheadLogOptions {
  /** The log's directory (created if missing); keep it on a local disk. */
  readonly dir: string;
  /**
   * fsync each group before acknowledging it (off only for throwaway data).
   * @default true
   */
  readonly fsync?: boolean;
  /** Told once, when the log first fails to write (every later change is refused with it). */
  readonly onFailure?: (error: ShoalError) => void;
}

const segmentName = (n: number) => `segment-${String(n).padStart(10, '0')}.wal`;
const SEGMENT = /^segment-(\d{10})\.wal$/;
const FRAME_HEAD = 8;

/**
 * The entries of a frame's decoded payload, or -1 when it is not a frame this log writes: a
 * flat frame is `[names, code, value, code, value, ...]` (code = name index * 2 + delete bit);
 * a frame of shoal 0.1's first log format is an array of `{ op, type, record | key }`.
 */
function entriesOf(flat: unknown): number {
  if (!Array.isArray(flat)) return -1;
  if (flat.length === 0) return 0;
  const names = flat[0];
  if (!Array.isArray(names)) {
    for (const e of flat as WalEntry[]) {
      if (typeof e !== 'object' || e === null || typeof e.type !== 'string') return -1;
      if (e.op !== 'upsert' && e.op !== 'delete') return -1;
    }
    return flat.length;
  }
  if (flat.length % 2 !== 1 || !names.every((n) => typeof n === 'string')) return -1;
  for (let i = 1; i < flat.length; i += 2) {
    const code = flat[i];
    if (!Number.isInteger(code) || (code as number) < 0 || (code as number) >>> 1 >= names.length) return -1;
  }
  return (flat.length - 1) / 2;
}

/** About the bytes `value` takes in a frame (an upper estimate for strings and bytes). */
function approximateSize(value: unknown, depth: number): number {
  if (typeof value === 'string') return 5 + value.length * 3;
  if (typeof value !== 'object' || value === null) return 9;
  if (value instanceof Uint8Array) return 5 + value.byteLength;
  if (depth > 64) return 9;
  let n = 5;
  if (Array.isArray(value)) for (const v of value) n += approximateSize(v, depth + 1);
  else
    for (const k in value) n += k.length + approximateSize((value as Record<string, unknown>)[k], depth + 1);
  return n;
}

/** A frame's payload decoded, or undefined when it does not decode. */
function decodeFrame(payload: Uint8Array): unknown {
  try {
    return walCodec.unpack(payload);
  } catch {
    return undefined;
  }
}

/** A run of bytes in a segment that holds no readable frame, between readable ones. */
export interface LogDamage {
  /** The segment file. */
  readonly file: string;
  /** Where the damage starts, in bytes from the start of the segment, and how long it is. */
  readonly offset: number;
  readonly bytes: number;
  /**
   * Changes known to be lost: those of a frame whose header and payload are whole but fail
   * their CRC; `undefined` when the damaged bytes cannot be read as frames at all.
   */
  readonly changes: number | undefined;
}

/** The frame at `at` when it is whole, intact and a frame this log writes: its size and entries. */
function frameAt(
  bytes: Uint8Array,
  dv: DataView,
  at: number,
): { size: number; entries: number; flat: unknown } | undefined {
  if (at + FRAME_HEAD > bytes.byteLength) return undefined;
  const length = dv.getUint32(at, true);
  if (length === 0 || at + FRAME_HEAD + length > bytes.byteLength) return undefined;
  const payload = bytes.subarray(at + FRAME_HEAD, at + FRAME_HEAD + length);
  if (crc32(payload) !== dv.getUint32(at + 4, true)) return undefined;
  const flat = decodeFrame(payload);
  const entries = entriesOf(flat);
  return entries < 0 ? undefined : { size: FRAME_HEAD + length, entries, flat };
}

/** A readable frame of a segment: where it is and how many entries it holds. */
interface Frame {
  readonly at: number;
  readonly size: number;
  readonly entries: number;
  /** Its payload, decoded (when the scan keeps them: a frame is decoded to be checked). */
  readonly flat?: unknown;
}

/**
 * The readable frames of a segment, and its damage. Frames are self-delimiting and each has a
 * CRC, so past a damaged one the scan resynchronises at the next offset where a whole, intact
 * frame starts. Bytes after the last readable frame that hold none are a torn tail (a group
 * whose write was cut short: never acknowledged), not damage. With `keep`, each frame carries
 * its payload as decoded (to read its entries without decoding it again).
 */
export function scanSegment(
  bytes: Uint8Array,
  file = '',
  keep = false,
): { readonly frames: readonly Frame[]; readonly count: number; readonly damage: readonly LogDamage[] } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Frame[] = [];
  const damage: LogDamage[] = [];
  let count = 0;
  let at = 0;
  while (at + FRAME_HEAD <= bytes.byteLength) {
    const frame = frameAt(bytes, dv, at);
    if (frame) {
      frames.push(keep ? { at, ...frame } : { at, size: frame.size, entries: frame.entries });
      count += frame.entries;
      at += frame.size;
      continue;
    }
    let next = at + 1;
    while (next + FRAME_HEAD <= bytes.byteLength && !frameAt(bytes, dv, next)) next++;
    if (next + FRAME_HEAD > bytes.byteLength) {
      // No readable frame after it. A frame whose declared length runs past the end is a torn
      // tail (a write cut short: never acknowledged); one that is whole but unreadable is damage.
      const length = dv.getUint32(at, true);
      if (length > 0 && at + FRAME_HEAD + length <= bytes.byteLength) {
        const end = at + FRAME_HEAD + length;
        damage.push({
          file,
          offset: at,
          bytes: bytes.byteLength - at,
          changes: lostChanges(bytes, dv, at, end),
        });
      }
      break;
    }
    damage.push({ file, offset: at, bytes: next - at, changes: lostChanges(bytes, dv, at, next) });
    at = next;
  }
  return { frames, count, damage };
}

/** The entries of a damaged frame at `at` that fills exactly up to `next` and still decodes. */
function lostChanges(bytes: Uint8Array, dv: DataView, at: number, next: number): number | undefined {
  const length = dv.getUint32(at, true);
  if (at + FRAME_HEAD + length !== next) return undefined;
  const entries = entriesOf(decodeFrame(bytes.subarray(at + FRAME_HEAD, next)));
  return entries < 0 ? undefined : entries;
}

/** The bytes of segment files, in order (a file that is gone reads as empty). */
export async function readSegments(files: readonly string[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const file of files) {
    out.push(
      await readFile(file).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return new Uint8Array(0);
        throw e;
      }),
    );
  }
  return out;
}

/** Visits a segment's entries in order, in every readable frame (past damage too). */
export function forEachEntry(
  segment: Uint8Array,
  visit: (op: WalEntry['op'], type: string, value: unknown) => void,
): void {
  // Each frame is decoded once: the scan decodes it to check it, and keeps what it decoded.
  for (const frame of scanSegment(segment, '', true).frames) {
    const flat = frame.flat as unknown[];
    if (!Array.isArray(flat[0])) {
      // The first log format: one object per entry.
      for (const e of flat as WalEntry[]) visit(e.op, e.type, e.op === 'upsert' ? e.record : e.key);
      continue;
    }
    const names = flat[0] as string[];
    for (let i = 1; i < flat.length; i += 2) {
      const code = flat[i] as number;
      visit(
        code & 1 ? 'delete' : 'upsert',
        names[code >>> 1]!,
        code & 1 ? flat[i + 1] : zerosRestored(flat[i + 1]),
      );
    }
  }
}

/**
 * Opens segment `n` for appending. With `sync`, every write returns once its data is on disk
 * (O_DSYNC: one system call a group instead of a write and an fsync), and the directory is
 * fsynced so the new file's name survives a power cut too.
 */
async function openSegment(dir: string, n: number, sync: boolean): Promise<FileHandle> {
  const flags =
    constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | (sync ? (constants.O_DSYNC ?? 0) : 0);
  const file = await open(join(dir, segmentName(n)), flags);
  if (sync) {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
  return file;
}

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An open write-ahead log. */
export class WriteAheadLog {
  private readonly dir: string;
  private readonly fsync: boolean;
  /** The oldest segment not trimmed, and the one appended to. */
  private first: number;
  private segment: number;
  private file: Promise<FileHandle>;
  /** The group being collected, as its payload will be: names, then code and value per entry. */
  private group: unknown[] = [[]];
  private groupNames = new Map<string, number>();
  private groupAck: Deferred | undefined;
  /** Entries not yet taken into a cycle, and the bytes of their frames. */
  private count = 0;
  private bytes = 0;
  private groupBytes = 0;
  /** Writes and closes, in order; one runs at a time. */
  private readonly jobs: (() => Promise<void>)[] = [];
  private writing = false;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  private failure: ShoalError | undefined;
  private onFailure: ((error: ShoalError) => void) | undefined;
  private closed = false;
  /** Damage found in the segments at open: their files are kept, never trimmed. */
  damage: readonly LogDamage[] = [];

  private constructor(dir: string, fsync: boolean, first: number, segment: number, file: FileHandle) {
    this.dir = dir;
    this.fsync = fsync;
    this.first = first;
    this.segment = segment;
    this.file = Promise.resolve(file);
  }

  private path(segment: number): string {
    return join(this.dir, segmentName(segment));
  }

  /** Opens the log: the entries left from before are its backlog; appends go to a new segment. */
  static async open(options: WriteAheadLogOptions): Promise<WriteAheadLog> {
    await mkdir(options.dir, { recursive: true });
    const segments = (await readdir(options.dir))
      .map((name) => SEGMENT.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    let count = 0;
    let bytes = 0;
    const damage: LogDamage[] = [];
    for (const n of segments) {
      const file = join(options.dir, segmentName(n));
      const scan = scanSegment(await readFile(file), file);
      count += scan.count;
      for (const f of scan.frames) bytes += f.size;
      damage.push(...scan.damage);
    }
    const next = (segments.at(-1) ?? 0) + 1;
    const fsync = options.fsync ?? true;
    const file = await openSegment(options.dir, next, fsync);
    const wal = new WriteAheadLog(options.dir, fsync, segments[0] ?? next, next, file);
    wal.onFailure = options.onFailure;
    wal.count = count;
    wal.bytes = bytes;
    wal.damage = damage;
    return wal;
  }

  /** Entries logged (or read back on open) and not yet taken into a cycle. */
  get backlog(): number {
    return this.count;
  }

  /**
   * Bytes of the frames of the backlog: the sealed groups, plus an estimate of the group
   * being collected (so a burst within one turn of the event loop counts at once).
   */
  get backlogBytes(): number {
    return this.bytes + this.groupBytes;
  }

  /** The segment being appended to. */
  get currentSegment(): number {
    return this.segment;
  }

  /**
   * Appends an upsert of `value` (a record) or a delete of `value` (a key); resolves once it is
   * written (and fsynced) with its group.
   */
  append(op: WalEntry['op'], type: string, value: unknown): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new ShoalError('CLOSED', 'the write-ahead log is closed'));
    let name = this.groupNames.get(type);
    if (name === undefined) {
      name = this.groupNames.size;
      this.groupNames.set(type, name);
      (this.group[0] as string[]).push(type);
    }
    this.group.push(name * 2 + (op === 'delete' ? 1 : 0), op === 'upsert' ? withZeros(value) : value);
    this.groupBytes += approximateSize(value, 0);
    this.count++;
    this.groupAck ??= deferred();
    if (!this.scheduled && !this.writing) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    }
    return this.groupAck.promise;
  }

  /** Turns the group being collected into a frame, queued for the current segment. */
  private seal(): void {
    if (this.group.length === 1) return;
    const payloadValue = this.group;
    const ack = this.groupAck!;
    this.groupBytes = 0;
    this.group = [[]];
    this.groupNames = new Map();
    this.groupAck = undefined;
    if (this.failure) {
      ack.reject(this.failure);
      return;
    }
    // msgpackr never writes over a buffer it returned, so the payload is written as it is.
    let payload: Uint8Array;
    try {
      payload = walCodec.pack(payloadValue);
    } catch (cause) {
      // Values are validated before they are appended, so this is a bug; it must still fail
      // the appends it concerns, never escape from the timer that sealed them.
      ack.reject(
        new ShoalError(
          'INVALID_RECORD',
          `a change could not be encoded for the write-ahead log (${(cause as Error).message}); it was not logged. Check the record's json values.`,
          { cause },
        ),
      );
      return;
    }
    this.bytes += FRAME_HEAD + payload.byteLength;
    const head = Buffer.allocUnsafe(FRAME_HEAD);
    head.writeUInt32LE(payload.byteLength, 0);
    head.writeUInt32LE(crc32(payload), 4);
    const file = this.file;
    this.jobs.push(async () => {
      try {
        if (this.failure) throw this.failure;
        const fh = await file;
        // A full disk may take part of a frame and report it: that group is not on disk, so
        // it must not be acknowledged (the torn frame ends the segment at replay).
        const { bytesWritten } = await fh.writev([head, payload]);
        const expected = head.byteLength + payload.byteLength;
        if (bytesWritten !== expected) {
          throw new Error(
            `a short write: ${bytesWritten} of ${expected} bytes reached the disk (is it full?)`,
          );
        }
        if (this.fsync && constants.O_DSYNC === undefined) await fh.sync();
        ack.resolve();
      } catch (e) {
        if (!this.failure) {
          this.failure = new ShoalError(
            'WAL_FAILED',
            `the write-ahead log in ${this.dir} could not be written (${(e as Error).message}). Changes are refused until the producer is reopened; acknowledged changes are safe.`,
            { cause: e },
          );
          this.onFailure?.(this.failure);
        }
        ack.reject(this.failure);
      }
    });
  }

  /** Runs the next job when none is running, sealing the group collected meanwhile first. */
  private pump(): void {
    if (this.writing) return;
    this.seal();
    const job = this.jobs.shift();
    if (!job) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    this.writing = true;
    void job().finally(() => {
      this.writing = false;
      this.pump();
    });
  }

  /**
   * Takes the changes not yet published for a cycle (`undefined` when there are none): seals
   * the group being collected into the current segment, moves appends to the next one, and
   * resolves once the batch's segments are written.
   */
  async take(): Promise<LogBatch | undefined> {
    this.seal();
    if (this.count === 0) return undefined;
    const count = this.count;
    const bytes = this.bytes;
    this.count = 0;
    this.bytes = 0;
    const from = this.first;
    const segment = this.segment;
    const old = this.file;
    this.segment++;
    this.file = openSegment(this.dir, this.segment, this.fsync);
    this.file.catch(() => {}); // a failure to open surfaces at the next write
    const written = deferred();
    this.jobs.push(async () => {
      try {
        await (await old).close();
      } catch {
        // The segment never opened (the failure is the log's already), or is gone.
      } finally {
        written.resolve();
      }
    });
    this.pump();
    await written.promise;
    const files: string[] = [];
    for (let n = from; n <= segment; n++) files.push(this.path(n));
    return { files, count, bytes, segment };
  }

  /** Gives back a batch whose cycle failed: its segments stay, and the next `take` has it again. */
  giveBack(batch: LogBatch): void {
    this.count += batch.count;
    this.bytes += batch.bytes;
  }

  /** Deletes the segments of a published batch. */
  async trim(batch: LogBatch): Promise<void> {
    const damaged = new Set(this.damage.map((d) => d.file));
    for (const file of batch.files) {
      // A damaged segment is kept, renamed out of the log, for whoever recovers what it lost.
      if (damaged.has(file)) await rename(file, `${file}.damaged`).catch(() => {});
      else await unlink(file).catch(() => {});
    }
    this.first = Math.max(this.first, batch.segment + 1);
  }

  /** Waits for every append so far to be on disk (or refused). */
  settle(): Promise<void> {
    if (!this.writing && !this.scheduled && this.jobs.length === 0 && this.group.length === 1) {
      return Promise.resolve();
    }
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.pump();
    return idle;
  }

  /**
   * Writes what is pending and closes the file; a segment nothing was written to is removed, so
   * that runs which log nothing (a one-shot `shoal produce` each) leave no empty files behind.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settle();
    const file = await this.file.catch(() => undefined);
    if (!file) return;
    const empty = await file.stat().then(
      (s) => s.size === 0,
      () => false,
    );
    await file.close().catch(() => {});
    if (empty) await unlink(this.path(this.segment)).catch(() => {});
  }
}
