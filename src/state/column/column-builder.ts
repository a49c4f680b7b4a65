/**
 * Builds a column from JS values: chooses the encoding (a dictionary when a column has few
 * distinct values), then writes pages over flat typed arrays. Used for a state built from
 * records and for the record chunks of deltas.
 */

import { isShoalError, ShoalError } from '../../errors.ts';
import { checkBlobSize, MAX_BLOB_BYTES } from '../../format/blob-size.ts';
import { msgpack } from '../../format/msgpack.ts';
import type { FieldSpec, ScalarKind } from '../../schema/index.ts';
import { type Column, type Dictionary, type Encoding, fixedArrayType, isVarKind } from './column.ts';
import {
  DEFAULT_LAYOUT,
  type Layout,
  PAGE_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  type PartArray,
  pageCount,
  pageLength,
} from './layout.ts';

/** Whether `value` means "absent" for a field of `kind`. */
export const isAbsent = (kind: string, value: unknown): boolean =>
  value === undefined || (value === null && kind !== 'json');

/** A key under which equal values (by their stored bytes) collide in a Map. */
export function dictKey(kind: ScalarKind, value: unknown): unknown {
  switch (kind) {
    case 'double':
      return Object.is(value, -0) ? '-0' : value;
    case 'float': {
      const f = Math.fround(value as number);
      return Object.is(f, -0) ? '-0' : f;
    }
    case 'bytes':
      return Buffer.from(
        (value as Uint8Array).buffer,
        (value as Uint8Array).byteOffset,
        (value as Uint8Array).byteLength,
      ).toString('latin1');
    case 'json':
      return msgpack.pack(value).toString('latin1');
    default:
      return value;
  }
}

/**
 * Whether a dictionary of `distinct` entries pays for `count` values of `kind`: at most a
 * quarter as many entries as values, within the format's limit, and for 4-byte numbers only
 * with 8-bit codes (16-bit codes and the dictionary would save too little).
 */
export function dictionaryPays(kind: ScalarKind, distinct: number, count: number, layout: Layout): boolean {
  if (kind === 'boolean' || count < layout.minDictValues) return false;
  if (distinct > Math.min(layout.maxDictSize, Math.floor(count / 4))) return false;
  return (kind !== 'int' && kind !== 'float') || distinct <= layout.maxNarrowDict;
}

/** UTF-8 / raw / msgpack bytes of a var value. */
export function varBytes(kind: ScalarKind, value: unknown): Uint8Array {
  if (kind === 'string') return Buffer.from(value as string, 'utf8');
  if (kind === 'bytes') return value as Uint8Array;
  return msgpack.pack(value);
}

/** A growable byte heap. */
export class HeapWriter {
  buf: Buffer;
  length = 0;
  constructor(initial = 1024) {
    checkBlobSize(initial, "a column's heap of strings, bytes or json");
    this.buf = Buffer.allocUnsafe(Math.max(16, initial));
  }
  private reserve(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    // Doubling stops at the runtime's buffer limit; a heap that needs more is BLOB_TOO_LARGE.
    checkBlobSize(this.length + extra, "a column's heap of strings, bytes or json");
    const next = Buffer.allocUnsafe(
      Math.min(MAX_BLOB_BYTES, Math.max(this.buf.length * 2, this.length + extra)),
    );
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  /** Appends a var value. */
  push(kind: ScalarKind, value: unknown): void {
    if (kind === 'string') {
      const s = value as string;
      this.reserve(s.length * 3);
      this.length += (this.buf as Buffer & { utf8Write(s: string, at: number): number }).utf8Write(
        s,
        this.length,
      );
      return;
    }
    this.append(kind === 'bytes' ? (value as Uint8Array) : msgpack.pack(value));
  }
  /** Appends raw bytes. */
  append(bytes: Uint8Array): void {
    this.reserve(bytes.byteLength);
    this.buf.set(bytes, this.length);
    this.length += bytes.byteLength;
  }
  /** The written bytes (a view, not a copy). */
  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * The bytes of a run of `bytes` values: the heap is made that size at once, since doubling
 * a heap of large values copies it and, at its last step, holds half as much again.
 */
function bytesTotal(spec: FieldSpec, capacity: number, valueAt: (ordinal: number) => unknown): number {
  let total = 0;
  for (let o = 0; o < capacity; o++) {
    const raw = valueAt(o);
    if (isAbsent(spec.kind, raw)) continue;
    if (spec.kind !== 'list') total += (raw as Uint8Array).byteLength;
    else for (const e of raw as Uint8Array[]) total += e.byteLength;
  }
  return total;
}

/**
 * Offsets stored in 16 bits when every value fits, else 32; `max` is the page's heap length,
 * and a page past `maxPageHeap` (4 GiB: its offsets would have wrapped) is `BLOB_TOO_LARGE`.
 */
export function narrowOffsets(offsets: Uint32Array, max: number, layout: Layout): Uint16Array | Uint32Array {
  if (max > layout.maxPageHeap) {
    throw new ShoalError(
      'BLOB_TOO_LARGE',
      `one page of ${PAGE_SIZE} values holds ${max} bytes of strings, bytes or json; a page holds at most ${layout.maxPageHeap} (32-bit offsets). Keep values under ${Math.floor(layout.maxPageHeap / PAGE_SIZE)} bytes on average, or store the largest outside shoal.`,
    );
  }
  return max <= layout.maxNarrowOffset ? Uint16Array.from(offsets) : offsets;
}

/** An array for `n` dictionary codes of a dictionary of `size` entries. */
export function codeArray(size: number, n: number, layout: Layout): Uint8Array | Uint16Array {
  return size <= layout.maxNarrowDict ? new Uint8Array(n) : new Uint16Array(n);
}

/** Items in a column's first pass before a mostly distinct column stops being tracked. */
const SAMPLE = 4096;

/** Most bytes of distinct values a dictionary search keeps as keys (64 MiB). */
const MAX_DICT_KEY_BYTES = 64 * 2 ** 20;

/**
 * The first pass over a column's values: its items (one per ordinal, absent ones included, or
 * a list's elements) counted per page, and their distinct keys in order of first appearance
 * (the dictionary's codes) for as long as a dictionary could still pay.
 */
interface Scan {
  /** Item positions of every page: page p holds items starts[p]..starts[p+1]. */
  readonly starts: number[];
  /** Number of items that are present. */
  readonly count: number;
  /** Code of each distinct key, or undefined once a dictionary could no longer pay. */
  readonly codes: Map<unknown, number> | undefined;
  /** The distinct values, at their codes. */
  readonly distinct: unknown[];
}

function scanColumn(
  spec: FieldSpec,
  kind: ScalarKind,
  capacity: number,
  valueAt: (ordinal: number) => unknown,
  listOffsets: Uint32Array | undefined,
  layout: Layout,
): Scan & { listMax: number } {
  const starts: number[] = [];
  const distinct: unknown[] = [];
  // Past `cap` entries no dictionary pays (a quarter of the values at most, within the limit).
  const cap = listOffsets ? layout.maxDictSize : Math.min(layout.maxDictSize, Math.floor(capacity / 4));
  let codes: Map<unknown, number> | undefined = kind === 'boolean' || cap < 1 ? undefined : new Map();
  let positions = 0;
  let count = 0;
  let listMax = 0;
  // Keys of large values (bytes, json) are strings as long as the values: past MAX_DICT_KEY_BYTES
  // of distinct ones the search would hold the column twice over, so a dictionary is not tried.
  let keyBytes = 0;
  const note = (value: unknown): void => {
    count++;
    if (codes !== undefined) {
      const key = dictKey(kind, value);
      if (!codes.has(key)) {
        codes.set(key, distinct.length);
        distinct.push(value);
        if (typeof key === 'string') keyBytes += key.length;
        if (codes.size > cap || keyBytes > MAX_DICT_KEY_BYTES) codes = undefined;
      }
    }
    // A column whose first 4,096 values are mostly distinct will not fit a dictionary.
    if (++positions === SAMPLE && codes !== undefined && codes.size > SAMPLE / 2 && codes.size > 256) {
      codes = undefined;
    }
  };
  for (let o = 0; o < capacity; o++) {
    // Once no dictionary can pay, a scalar column has nothing more to learn: its items are its
    // ordinals (the write pass marks which are present).
    if (!listOffsets && codes === undefined) break;
    const i = o & PAGE_MASK;
    const p = o >>> PAGE_SHIFT;
    if (i === 0) starts.push(positions);
    const raw = valueAt(o);
    const absent = isAbsent(spec.kind, raw);
    if (!listOffsets) {
      if (absent) {
        if (++positions === SAMPLE && codes !== undefined && codes.size > SAMPLE / 2 && codes.size > 256) {
          codes = undefined;
        }
      } else note(raw);
      continue;
    }
    if (!absent) for (const e of raw as unknown[]) note(e);
    const rel = positions - starts[p]!;
    listOffsets[o + p + 1] = rel;
    if (rel > listMax) listMax = rel;
  }
  if (!listOffsets) {
    starts.length = 0;
    for (let p = 0; p * PAGE_SIZE < capacity; p++) starts.push(p * PAGE_SIZE);
    positions = capacity;
  }
  starts.push(positions);
  if (positions < SAMPLE && codes !== undefined && codes.size > positions / 2 && codes.size > 256) {
    codes = undefined;
  }
  return { starts, count, codes, distinct, listMax };
}

/** The dictionary of `distinct` values, at their codes. */
function buildDictionary(kind: ScalarKind, bigint: boolean, distinct: readonly unknown[]): Dictionary {
  const Fixed = fixedArrayType(kind, bigint);
  if (Fixed) {
    const values = new Fixed(distinct.length);
    for (let i = 0; i < distinct.length; i++) (values as unknown as unknown[])[i] = distinct[i];
    return { size: distinct.length, values, offsets: undefined, heap: undefined };
  }
  const heap = new HeapWriter(distinct.length * 16);
  const offsets = new Uint32Array(distinct.length + 1);
  for (let i = 0; i < distinct.length; i++) {
    heap.push(kind, distinct[i]);
    offsets[i + 1] = heap.length;
  }
  return { size: distinct.length, values: undefined, offsets, heap: heap.result() };
}

/**
 * The second pass: writes the items of `spec`'s values (read again through `valueAt`) in
 * `encoding`, split into pages at `starts`; returns the parts, each a list of page views over
 * one flat array.
 */
function writeItems(
  spec: FieldSpec,
  kind: ScalarKind,
  bigint: boolean,
  encoding: Encoding,
  scan: Scan,
  dictSize: number,
  capacity: number,
  valueAt: (ordinal: number) => unknown,
  present: Uint8Array[] | undefined,
  layout: Layout,
): PartArray[][] {
  const { starts, codes } = scan;
  const mark = (o: number): void => {
    present![o >>> PAGE_SHIFT]![(o & PAGE_MASK) >>> 3]! |= 1 << (o & 7);
  };
  const pages = starts.length - 1;
  const total = starts[pages]!;
  const isList = spec.kind === 'list';
  const slice = (flat: PartArray, extra: number): PartArray[] =>
    Array.from({ length: pages }, (_, p) =>
      flat.subarray(starts[p]! + p * extra, starts[p + 1]! + p * extra + extra),
    );
  if (encoding !== 'var') {
    const flat =
      encoding === 'dict' ? codeArray(dictSize, total, layout) : new (fixedArrayType(kind, bigint)!)(total);
    const out = flat as unknown as unknown[];
    const item =
      encoding === 'dict'
        ? (v: unknown) => codes!.get(dictKey(kind, v))
        : kind === 'boolean'
          ? (v: unknown) => (v ? 1 : 0)
          : (v: unknown) => v;
    let j = 0;
    for (let o = 0; o < capacity; o++) {
      const raw = valueAt(o);
      if (isAbsent(spec.kind, raw)) continue;
      if (present) mark(o);
      if (!isList) out[o] = item(raw);
      else for (const e of raw as unknown[]) out[j++] = item(e);
    }
    return [slice(flat, 0)];
  }
  const heap = new HeapWriter(kind === 'bytes' ? bytesTotal(spec, capacity, valueAt) : total * 16);
  const offsets = new Uint32Array(total + pages);
  const heapStarts = new Array<number>(pages + 1);
  let max = 0;
  let at = 0;
  let base = 0;
  for (let o = 0; o < capacity; o++) {
    if ((o & PAGE_MASK) === 0) {
      const p = o >>> PAGE_SHIFT;
      if (p > 0) max = Math.max(max, heap.length - base);
      base = heap.length;
      heapStarts[p] = base;
      offsets[at++] = 0;
    }
    const raw = valueAt(o);
    const absent = isAbsent(spec.kind, raw);
    if (present && !absent) mark(o);
    if (!isList) {
      if (!absent) heap.push(kind, raw);
      offsets[at++] = heap.length - base;
    } else if (!absent) {
      for (const e of raw as unknown[]) {
        heap.push(kind, e);
        offsets[at++] = heap.length - base;
      }
    }
  }
  if (pages > 0) max = Math.max(max, heap.length - base);
  heapStarts[pages] = heap.length;
  const bytes = heap.result();
  const heaps = Array.from({ length: pages }, (_, p) => bytes.subarray(heapStarts[p]!, heapStarts[p + 1]!));
  return [slice(narrowOffsets(offsets, max, layout), 1), heaps];
}

/**
 * Builds the column of `spec` over `capacity` ordinals; `valueAt(o)` is the record's raw field
 * value at ordinal `o` (records are already validated). Two passes over the values and no
 * array of them: a first that counts the items and finds a dictionary's entries (see
 * `dictionaryPays`; when `slack` > 1, a dictionary only if it would still pay with `slack` times
 * its entries), a second that writes them.
 */
export function buildColumn(
  spec: FieldSpec,
  capacity: number,
  valueAt: (ordinal: number) => unknown,
  layout: Layout = DEFAULT_LAYOUT,
  slack = 1,
): Column {
  const pages = pageCount(capacity);
  const isList = spec.kind === 'list';
  const kind = (isList ? spec.element!.kind : spec.kind) as ScalarKind;
  const bigint = isList ? spec.element!.bigint : spec.bigint;
  let present: Uint8Array[] | undefined;
  if (spec.optional) {
    const flat = new Uint8Array(pages * (PAGE_SIZE >>> 3));
    present = Array.from({ length: pages }, (_, p) =>
      flat.subarray(p * (PAGE_SIZE >>> 3), p * (PAGE_SIZE >>> 3) + ((pageLength(capacity, p) + 7) >>> 3)),
    );
  }
  const listOffsets = isList ? new Uint32Array(capacity + pages) : undefined;
  const scan = scanColumn(spec, kind, capacity, valueAt, listOffsets, layout);
  const plain: Encoding = isVarKind(kind) ? 'var' : 'fixed';
  const encoding: Encoding =
    scan.codes !== undefined && dictionaryPays(kind, scan.codes.size * slack, scan.count, layout)
      ? 'dict'
      : plain;
  const dict = encoding === 'dict' ? buildDictionary(kind, bigint, scan.distinct) : undefined;
  let valueParts: PartArray[][];
  try {
    valueParts = writeItems(
      spec,
      kind,
      bigint,
      encoding,
      scan,
      dict?.size ?? 0,
      capacity,
      valueAt,
      present,
      layout,
    );
  } catch (e) {
    // Say which field: the heap and page checks below do not know it.
    if (!isShoalError(e, 'BLOB_TOO_LARGE')) throw e;
    throw new ShoalError('BLOB_TOO_LARGE', `field ${spec.name}: ${e.message}`, { cause: e });
  }
  let parts = valueParts;
  if (listOffsets) {
    const narrow = narrowOffsets(listOffsets, scan.listMax, layout);
    const listPages = Array.from({ length: pages }, (_, p) =>
      narrow.subarray(p * (PAGE_SIZE + 1), p * (PAGE_SIZE + 1) + pageLength(capacity, p) + 1),
    );
    parts = [listPages, ...valueParts];
  }
  return { spec, valueKind: kind, bigint, encoding, dict, present, parts };
}
