/**
 * Builds a column from JS values: chooses the encoding (a dictionary when a column has few
 * distinct values), then writes pages over flat typed arrays. Used for a state built from
 * records and for the record chunks of deltas.
 */

import { isShoalError, ShoalError } from '../errors.ts';
import { checkBlobSize, MAX_BLOB_BYTES } from '../format/blob-size.ts';
import { msgpack } from '../format/msgpack.ts';
import type { FieldSpec, ScalarKind } from '../schema/index.ts';
import { type Column, type Dictionary, type Encoding, fixedArrayType, isVarKind } from './column.ts';
import { DEFAULT_LAYOUT, type Layout, PAGE_SIZE, type PartArray, pageCount, pageLength } from './layout.ts';

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

/**
 * The encoding for the items of `kind`: a dictionary only when it pays (see `dictionaryPays`),
 * and when `slack` > 1, only when it would still pay with `slack` times its entries.
 */
function chooseEncoding(
  kind: ScalarKind,
  items: readonly unknown[],
  layout: Layout,
  slack: number,
): Encoding {
  const plain: Encoding = isVarKind(kind) ? 'var' : 'fixed';
  let count = 0;
  for (let i = 0; i < items.length; i++) if (items[i] !== ABSENT) count++;
  if (!dictionaryPays(kind, 1, count, layout)) return plain;
  const limit = Math.min(layout.maxDictSize, Math.floor(count / 4));
  const seen = new Set<unknown>();
  // Keys of large values (bytes, json) are strings as long as the values: past MAX_DICT_KEY_BYTES
  // of distinct ones the search would hold the column twice over, so a dictionary is not tried.
  let keyBytes = 0;
  const add = (value: unknown): boolean => {
    const key = dictKey(kind, value);
    const before = seen.size;
    seen.add(key);
    if (seen.size > before && typeof key === 'string') keyBytes += key.length;
    return seen.size <= limit && keyBytes <= MAX_DICT_KEY_BYTES;
  };
  // A column whose first 4,096 values are mostly distinct will not fit a dictionary: stop early.
  const sample = Math.min(items.length, 4096);
  for (let i = 0; i < sample; i++) if (items[i] !== ABSENT && !add(items[i])) return plain;
  if (seen.size > sample / 2 && seen.size > 256) return plain;
  for (let i = sample; i < items.length; i++) {
    if (items[i] !== ABSENT && !add(items[i])) return plain;
  }
  return dictionaryPays(kind, seen.size * slack, count, layout) ? 'dict' : plain;
}

/** Most bytes of distinct values a dictionary search keeps as keys (64 MiB). */
const MAX_DICT_KEY_BYTES = 64 * 2 ** 20;

/** Placeholder for an absent value in an item list. */
const ABSENT: unique symbol = Symbol('absent');

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
function bytesTotal(items: readonly unknown[]): number {
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    const v = items[i];
    if (v !== ABSENT) total += (v as Uint8Array).byteLength;
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

/** Builds a dictionary over the distinct items, in order of first appearance. */
function buildDictionary(
  kind: ScalarKind,
  bigint: boolean,
  items: readonly unknown[],
): {
  dict: Dictionary;
  codes: Map<unknown, number>;
} {
  const codes = new Map<unknown, number>();
  const distinct: unknown[] = [];
  for (const item of items) {
    if (item === ABSENT) continue;
    const key = dictKey(kind, item);
    if (!codes.has(key)) {
      codes.set(key, distinct.length);
      distinct.push(item);
    }
  }
  const Fixed = fixedArrayType(kind, bigint);
  if (Fixed) {
    const values = new Fixed(distinct.length);
    for (let i = 0; i < distinct.length; i++) (values as unknown as unknown[])[i] = distinct[i];
    return { dict: { size: distinct.length, values, offsets: undefined, heap: undefined }, codes };
  }
  const heap = new HeapWriter(distinct.length * 16);
  const offsets = new Uint32Array(distinct.length + 1);
  for (let i = 0; i < distinct.length; i++) {
    heap.push(kind, distinct[i]);
    offsets[i + 1] = heap.length;
  }
  return { dict: { size: distinct.length, values: undefined, offsets, heap: heap.result() }, codes };
}

/**
 * Writes `items` split into pages at `starts` (page p holds items starts[p]..starts[p+1]) in
 * `encoding`; returns the parts, each a list of page views over one flat array.
 */
function writeItems(
  kind: ScalarKind,
  bigint: boolean,
  encoding: Encoding,
  dictCodes: Map<unknown, number> | undefined,
  dictSize: number,
  items: readonly unknown[],
  starts: readonly number[],
  layout: Layout,
): PartArray[][] {
  const pages = starts.length - 1;
  const slice = (flat: PartArray, extra: number): PartArray[] =>
    Array.from({ length: pages }, (_, p) =>
      flat.subarray(starts[p]! + p * extra, starts[p + 1]! + p * extra + extra),
    );
  if (encoding === 'fixed') {
    const Fixed = fixedArrayType(kind, bigint)!;
    const flat = new Fixed(items.length);
    for (let i = 0; i < items.length; i++) {
      const v = items[i];
      if (v === ABSENT) continue;
      if (kind === 'boolean') flat[i] = v ? 1 : 0;
      else (flat as unknown as unknown[])[i] = v;
    }
    return [slice(flat, 0)];
  }
  if (encoding === 'dict') {
    const flat = codeArray(dictSize, items.length, layout);
    for (let i = 0; i < items.length; i++) {
      if (items[i] !== ABSENT) flat[i] = dictCodes!.get(dictKey(kind, items[i]))!;
    }
    return [slice(flat, 0)];
  }
  const heap = new HeapWriter(kind === 'bytes' ? bytesTotal(items) : items.length * 16);
  const offsets = new Uint32Array(items.length + pages);
  const heapStarts = new Array<number>(pages + 1);
  let max = 0;
  for (let p = 0; p < pages; p++) {
    const base = heap.length;
    heapStarts[p] = base;
    let at = starts[p]! + p;
    offsets[at++] = 0;
    for (let i = starts[p]!; i < starts[p + 1]!; i++) {
      if (items[i] !== ABSENT) heap.push(kind, items[i]);
      offsets[at++] = heap.length - base;
    }
    max = Math.max(max, heap.length - base);
  }
  heapStarts[pages] = heap.length;
  const bytes = heap.result();
  const heaps = Array.from({ length: pages }, (_, p) => bytes.subarray(heapStarts[p]!, heapStarts[p + 1]!));
  return [slice(narrowOffsets(offsets, max, layout), 1), heaps];
}

/**
 * Builds the column of `spec` over `capacity` ordinals; `valueAt(o)` is the record's raw field
 * value at ordinal `o` (records are already validated).
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
  const items: unknown[] = [];
  const itemStarts: number[] = [];
  let listOffsets: Uint32Array | undefined;
  let listMax = 0;
  if (isList) listOffsets = new Uint32Array(capacity + pages);
  for (let o = 0; o < capacity; o++) {
    const i = o % PAGE_SIZE;
    const p = (o - i) / PAGE_SIZE;
    if (i === 0) itemStarts.push(items.length);
    const raw = valueAt(o);
    const absent = isAbsent(spec.kind, raw);
    if (present && !absent) present[p]![i >>> 3]! |= 1 << (i & 7);
    if (!isList) {
      items.push(absent ? ABSENT : raw);
      continue;
    }
    if (!absent) for (const e of raw as unknown[]) items.push(e);
    const rel = items.length - itemStarts[p]!;
    listOffsets![o + p + 1] = rel;
    if (rel > listMax) listMax = rel;
  }
  itemStarts.push(items.length);
  const encoding = chooseEncoding(kind, items, layout, slack);
  let dict: Dictionary | undefined;
  let codes: Map<unknown, number> | undefined;
  if (encoding === 'dict') ({ dict, codes } = buildDictionary(kind, bigint, items));
  let valueParts: PartArray[][];
  try {
    valueParts = writeItems(kind, bigint, encoding, codes, dict?.size ?? 0, items, itemStarts, layout);
  } catch (e) {
    // Say which field: the heap and page checks below do not know it.
    if (!isShoalError(e, 'BLOB_TOO_LARGE')) throw e;
    throw new ShoalError('BLOB_TOO_LARGE', `field ${spec.name}: ${e.message}`, { cause: e });
  }
  let parts = valueParts;
  if (listOffsets) {
    const narrow = narrowOffsets(listOffsets, listMax, layout);
    const listPages = Array.from({ length: pages }, (_, p) =>
      narrow.subarray(p * (PAGE_SIZE + 1), p * (PAGE_SIZE + 1) + pageLength(capacity, p) + 1),
    );
    parts = [listPages, ...valueParts];
  }
  return { spec, valueKind: kind, bigint, encoding, dict, present, parts };
}
