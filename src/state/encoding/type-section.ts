/**
 * How one type's state lies in a blob: the populated bitset, the primary-key index, the
 * ghosts, and per column its parts. Each part is one section holding its pages back to back
 * plus a section of page starts, so decoding makes a view per page and touches no record.
 * Snapshots hold every type this way; deltas hold their added records this way.
 */

import { ShoalError } from '../../errors.ts';
import type { ArrayCtor, BlobReader, BlobWriter } from '../../format/blob-envelope.ts';
import type { ObjectType, ScalarKind } from '../../schema/index.ts';
import type { Column, Dictionary, Encoding } from '../column/column.ts';
import { isVarKind } from '../column/column.ts';
import {
  DEFAULT_LAYOUT,
  type Layout,
  type PartArray,
  pageCount,
  pageLength,
  popcount,
  testBit,
} from '../column/layout.ts';
import { buildKeyIndex, type KeyIndex, keyIndexProblem, ordinalBits } from '../index/key-index.ts';
import { PrimaryKey, TOMBSTONE } from '../index/primary-key.ts';
import { type IndexDescriptor, readIndexes, writeIndexes } from '../index/secondary-index.ts';
import type { Sums } from '../read/checksum.ts';

import type { TypeStateParts } from '../read/type-state.ts';

type ArrayName = 'u8' | 'u16' | 'u32' | 'i32' | 'f32' | 'f64' | 'i64';
const CTORS: Record<ArrayName, ArrayCtor> = {
  u8: Uint8Array,
  u16: Uint16Array,
  u32: Uint32Array,
  i32: Int32Array,
  f32: Float32Array,
  f64: Float64Array,
  i64: BigInt64Array,
};

function arrayName(a: PartArray): ArrayName {
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof Uint16Array) return 'u16';
  if (a instanceof Uint32Array) return 'u32';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  return 'i64';
}

/**
 * A part in the header: its element type, its data section and its page-starts section
 * (32-bit, or 64-bit floats when `wideStarts`: a heap past 4 GiB, in a version-2 blob).
 */
interface PartDescriptor {
  readonly type: ArrayName;
  readonly data: number;
  readonly starts: number;
  readonly wideStarts?: true;
}

/** The format version that brought 64-bit page starts. */
const WIDE_STARTS_VERSION = 2;

interface DictDescriptor {
  readonly size: number;
  readonly values?: PartDescriptor['type'];
  readonly data: number;
  readonly offsets?: number;
}

/** A column in a blob header. */
export interface ColumnDescriptor {
  readonly field: string;
  readonly encoding: Encoding;
  readonly present?: PartDescriptor;
  readonly dict?: DictDescriptor;
  readonly parts: readonly PartDescriptor[];
}

/** A type in a blob header. */
export interface TypeDescriptor {
  readonly name: string;
  readonly capacity: number;
  readonly size: number;
  readonly sums: readonly [number, number];
  readonly populated: number;
  /** The primary-key index's slots, its shards back to back (-1 without a primary key). */
  readonly index: number;
  /** Where each shard starts in `index`, and where the last ends (format 2 on). */
  readonly indexShards?: number;
  /** The ordinal bits of a slot (format 2 on). */
  readonly indexBits?: number;
  readonly tombstones: number;
  readonly ghosts: number;
  readonly columns: readonly ColumnDescriptor[];
  /** The declared secondary indexes, in declaration order (absent when there are none). */
  readonly indexes?: readonly IndexDescriptor[];
}

/** Unsigned widths a section may widen its pages to, narrowest first. */
const UNSIGNED = [Uint8Array, Uint16Array, Uint32Array] as const;

function writePart(writer: BlobWriter, pages: readonly PartArray[], layout: Layout): PartDescriptor {
  // Offsets pages may mix 16- and 32-bit arrays (and codes 8- and 16-bit ones, in principle);
  // a section has one type, so it takes the widest.
  let widest = -1;
  let mixed = false;
  for (const p of pages) {
    const w = p instanceof Uint8Array ? 0 : p instanceof Uint16Array ? 1 : p instanceof Uint32Array ? 2 : -1;
    if (widest >= 0 && w !== widest) mixed = true;
    if (w > widest) widest = w;
  }
  const To = UNSIGNED[widest];
  const chunks =
    mixed && To ? pages.map((p) => (p instanceof To ? p : (To.from(p as Uint8Array) as PartArray))) : pages;
  let total = 0;
  for (const p of pages) total += p.length;
  const wide = total > layout.maxNarrowStart;
  const starts = wide ? new Float64Array(pages.length + 1) : new Uint32Array(pages.length + 1);
  for (let p = 0; p < pages.length; p++) starts[p + 1] = starts[p]! + pages[p]!.length;
  const type = chunks.length > 0 ? arrayName(chunks[0]!) : 'u8';
  if (!wide) return { type, data: writer.add(...chunks), starts: writer.add(starts) };
  writer.needVersion(WIDE_STARTS_VERSION);
  return { type, data: writer.add(...chunks), starts: writer.add(starts), wideStarts: true };
}

function writeDict(writer: BlobWriter, dict: Dictionary): DictDescriptor {
  if (dict.values) return { size: dict.size, values: arrayName(dict.values), data: writer.add(dict.values) };
  return { size: dict.size, data: writer.add(dict.heap!), offsets: writer.add(dict.offsets!) };
}

/** Writes columns' sections; returns their header descriptors. */
export function writeColumns(
  writer: BlobWriter,
  columns: readonly Column[],
  layout: Layout = DEFAULT_LAYOUT,
): ColumnDescriptor[] {
  return columns.map((col): ColumnDescriptor => {
    const out: { -readonly [K in keyof ColumnDescriptor]: ColumnDescriptor[K] } = {
      field: col.spec.name,
      encoding: col.encoding,
      parts: col.parts.map((pages) => writePart(writer, pages, layout)),
    };
    if (col.present) out.present = writePart(writer, col.present, layout);
    if (col.dict) out.dict = writeDict(writer, col.dict);
    return out;
  });
}

/** Writes a type state's sections; returns its header descriptor. */
export function writeTypeSection(
  writer: BlobWriter,
  parts: TypeStateParts,
  layout: Layout = DEFAULT_LAYOUT,
): TypeDescriptor {
  return {
    name: parts.type.name,
    capacity: parts.capacity,
    size: parts.size,
    sums: [parts.sums.a, parts.sums.b],
    populated: writer.add(parts.populated),
    ...writeKeyIndex(writer, parts.index),
    tombstones: parts.tombstones,
    ghosts: writer.add(parts.ghosts),
    columns: writeColumns(writer, parts.columns, layout),
    ...(parts.type.indexes.length > 0 ? { indexes: writeIndexes(writer, parts.indexes) } : {}),
  };
}

/** The most ordinals a type may have: an index slot holds ordinal + 1 below the tombstone. */
export const MAX_CAPACITY = TOMBSTONE - 1;

function writeKeyIndex(writer: BlobWriter, index: KeyIndex | undefined) {
  if (!index) return { index: -1 };
  const starts = new Uint32Array(index.shards.length + 1);
  index.shards.forEach((shard, k) => {
    starts[k + 1] = starts[k]! + shard.length;
  });
  return { index: writer.add(...index.shards), indexShards: writer.add(starts), indexBits: index.bits };
}

/**
 * The primary-key index of a format-2 type: shards viewed in place, their structure checked
 * with `scan` (every slot empty, a tombstone or a populated ordinal held once).
 */
function readKeyIndex(
  reader: BlobReader<unknown>,
  d: TypeDescriptor,
  populated: Uint32Array,
  capacity: number,
  scan: boolean,
  name: string,
): KeyIndex {
  const data = reader.view(d.index, Uint32Array);
  if (!isUint(d.indexShards) || !isUint(d.indexBits) || !isUint(d.tombstones))
    corrupt(`the index of ${name} is not described`);
  const starts = reader.view(d.indexShards, Uint32Array);
  if (starts.length < 2 || starts[0] !== 0 || starts[starts.length - 1] !== data.length)
    corrupt(`the index shards of ${name} do not cover its slots`);
  const shards: Uint32Array[] = [];
  for (let k = 0; k + 1 < starts.length; k++) {
    if (starts[k + 1]! <= starts[k]!) corrupt(`an index shard of ${name} is empty`);
    shards.push(data.subarray(starts[k]!, starts[k + 1]!));
  }
  const index: KeyIndex = { shards, bits: d.indexBits };
  if (data.length <= d.size + d.tombstones) corrupt(`the index of ${name} has the wrong size`);
  if (index.bits > 32 || index.bits < ordinalBits(capacity))
    corrupt(`the index of ${name} has the wrong ordinal width`);
  const problem = scan ? keyIndexProblem(index, populated, capacity, d.size, d.tombstones) : undefined;
  if (problem) corrupt(`the index of ${name} is malformed (${problem})`);
  return index;
}

export function corrupt(what: string): never {
  throw new ShoalError('BLOB_CORRUPT', `the blob is corrupt: ${what}. Fetch it again or republish it.`);
}

export function isUint(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/**
 * Reads part pages; `lengthOf(p)` is each page's expected length and `types` the element types
 * the part may have (a column holding ints where the schema says string is refused). Checks
 * every page start against the data, so no view can reach past its section.
 */
function readPart(
  reader: BlobReader<unknown>,
  d: PartDescriptor | undefined,
  pages: number,
  lengthOf: (page: number) => number,
  types: readonly ArrayName[],
  asBuffer = false,
): PartArray[] {
  if (!d || !(d.type in CTORS)) corrupt('a column part is missing or has an unknown type');
  // A part with no pages is written as u8 whatever it holds.
  if (pages > 0 && !types.includes(d.type))
    corrupt(`a column part holds ${d.type} where ${types.join(' or ')} belongs`);
  const data = reader.view(d.data, CTORS[d.type]) as PartArray;
  if (d.wideStarts !== undefined && (d.wideStarts !== true || reader.version < WIDE_STARTS_VERSION))
    corrupt('a column part claims 64-bit page starts its format version does not have');
  const starts = reader.view(d.starts, d.wideStarts ? Float64Array : Uint32Array);
  if (starts.length !== pages + 1) corrupt('a column part has the wrong number of pages');
  const out = new Array<PartArray>(pages);
  for (let p = 0; p < pages; p++) {
    const s = starts[p]!;
    const e = starts[p + 1]!;
    if (!Number.isSafeInteger(s) || e < s || e > data.length || e - s !== lengthOf(p))
      corrupt('a column page has the wrong length');
    out[p] = asBuffer ? Buffer.from(data.buffer, data.byteOffset + s, e - s) : data.subarray(s, e);
  }
  return out;
}

/** The last offset of an offsets page: the length of what it indexes. */
const lastOffset = (pages: readonly PartArray[], p: number): number => {
  const page = pages[p]!;
  return page[page.length - 1] as number;
};

/** Offsets pages start at 0 and never decrease, so every value's range lies inside its page. */
function checkOffsets(pages: readonly PartArray[], what: string): void {
  for (const page of pages) {
    if (page[0] !== 0) corrupt(`${what} offsets do not start at 0`);
    for (let i = 1; i < page.length; i++) {
      if ((page[i] as number) < (page[i - 1] as number)) corrupt(`${what} offsets decrease`);
    }
  }
}

/** The largest value of a page of codes (one loop per width, so each stays monomorphic). */
function maxU8(codes: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < codes.length; i++) if (codes[i]! > max) max = codes[i]!;
  return max;
}
function maxU16(codes: Uint16Array): number {
  let max = 0;
  for (let i = 0; i < codes.length; i++) if (codes[i]! > max) max = codes[i]!;
  return max;
}

/** Dictionary codes inside the dictionary (nothing to scan when every code of the width fits). */
function checkCodes(
  pages: readonly PartArray[],
  size: number,
  present: readonly Uint8Array[] | undefined,
): void {
  for (let p = 0; p < pages.length; p++) {
    const page = pages[p]!;
    const wide = page instanceof Uint16Array;
    if (size > (wide ? 0xffff : 0xff)) continue;
    const bits = present?.[p];
    if (bits) {
      for (let i = 0; i < page.length; i++) {
        if ((page[i] as number) >= size && ((bits[i >>> 3]! >>> (i & 7)) & 1) === 1)
          corrupt('a dictionary code lies past its dictionary');
      }
      continue;
    }
    const max = wide ? maxU16(page) : maxU8(page as Uint8Array);
    if (page.length > 0 && max >= size) corrupt('a dictionary code lies past its dictionary');
  }
}

/**
 * A `long` held as a double is a safe integer: the checksum hashes its two 32-bit halves, so
 * 1 and 1.5 (or 0 and NaN) would hash alike and a changed value pass every check.
 */
function checkLongs(values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isSafeInteger(values[i])) corrupt('a long value is not a safe integer');
  }
}

/** Booleans stored as 0 or 1 only. */
function checkBooleans(pages: readonly PartArray[]): void {
  for (const page of pages)
    for (let i = 0; i < page.length; i++)
      if ((page[i] as number) > 1) corrupt('a boolean is neither 0 nor 1');
}

/** The element type of a fixed column (or of a dictionary's values) of `kind`. */
function fixedType(kind: ScalarKind, bigint: boolean): ArrayName {
  switch (kind) {
    case 'int':
      return 'i32';
    case 'long':
      return bigint ? 'i64' : 'f64';
    case 'double':
      return 'f64';
    case 'float':
      return 'f32';
    default:
      return 'u8';
  }
}

const OFFSET_TYPES: readonly ArrayName[] = ['u16', 'u32'];
const CODE_TYPES: readonly ArrayName[] = ['u8', 'u16'];

function readDict(
  reader: BlobReader<unknown>,
  d: DictDescriptor | undefined,
  kind: ScalarKind,
  bigint: boolean,
): Dictionary {
  if (!d || !isUint(d.size) || d.size > 65536) corrupt('a dictionary is missing or too large');
  if (kind === 'boolean') corrupt('a boolean column has a dictionary');
  const fixed = !isVarKind(kind);
  if (fixed !== (d.values !== undefined)) corrupt(`a ${kind} dictionary has the wrong shape`);
  if (d.values !== undefined) {
    if (d.values !== fixedType(kind, bigint))
      corrupt(`a ${kind} dictionary holds ${String(d.values)} values`);
    const values = reader.view(d.data, CTORS[d.values], d.size) as PartArray;
    if (kind === 'long' && !bigint) checkLongs(values as Float64Array);
    return { size: d.size, values, offsets: undefined, heap: undefined };
  }
  if (d.offsets === undefined) corrupt(`a ${kind} dictionary has no offsets`);
  const offsets = reader.view(d.offsets, Uint32Array, d.size + 1);
  const data = reader.view(d.data, Uint8Array);
  checkOffsets([offsets], 'dictionary');
  if (offsets[d.size]! > data.length) corrupt('a dictionary offset points past its heap');
  return {
    size: d.size,
    values: undefined,
    offsets,
    heap: Buffer.from(data.buffer, data.byteOffset, data.length),
  };
}

/**
 * Reads columns of `capacity` ordinals back. Checks structure always: part types and page
 * lengths, and with `scan` (the default; off only to measure its cost) every offset, code and
 * boolean, so no value can be read from outside its place.
 */
export function readColumns(
  reader: BlobReader<unknown>,
  type: ObjectType,
  descriptors: readonly ColumnDescriptor[],
  capacity: number,
  scan = true,
): Column[] {
  if (!Array.isArray(descriptors) || descriptors.length !== type.fields.length)
    corrupt(`type ${type.name} has the wrong columns`);
  const pages = pageCount(capacity);
  return type.fields.map((spec, i): Column => {
    const cd = descriptors[i]!;
    if (typeof cd !== 'object' || cd === null) corrupt(`column ${i} of ${type.name} is not described`);
    if (cd.field !== spec.name) corrupt(`column ${i} of ${type.name} is not field ${spec.name}`);
    const isList = spec.kind === 'list';
    const kind = (isList ? spec.element!.kind : spec.kind) as ScalarKind;
    const bigint = isList ? spec.element!.bigint : spec.bigint;
    const encoding = cd.encoding;
    if (encoding !== 'fixed' && encoding !== 'dict' && encoding !== 'var') corrupt('unknown column encoding');
    if ((encoding === 'var') !== isVarKind(kind) && encoding !== 'dict')
      corrupt(`column ${spec.name} of ${type.name} is ${encoding} but holds ${kind} values`);
    if (!Array.isArray(cd.parts) || cd.parts.length !== (isList ? 1 : 0) + (encoding === 'var' ? 2 : 1))
      corrupt(`column ${spec.name} of ${type.name} has the wrong number of parts`);
    const records = (p: number) => pageLength(capacity, p);
    const parts: PartArray[][] = [];
    let items = records;
    let k = 0;
    if (isList) {
      const listOffsets = readPart(reader, cd.parts[k++], pages, (p) => records(p) + 1, OFFSET_TYPES);
      if (scan) checkOffsets(listOffsets, 'list');
      parts.push(listOffsets);
      items = (p) => lastOffset(listOffsets, p);
    }
    const dict = encoding === 'dict' ? readDict(reader, cd.dict, kind, bigint) : undefined;
    if (encoding === 'var') {
      const offsets = readPart(reader, cd.parts[k++], pages, (p) => items(p) + 1, OFFSET_TYPES);
      if (scan) checkOffsets(offsets, kind);
      parts.push(
        offsets,
        readPart(reader, cd.parts[k++], pages, (p) => lastOffset(offsets, p), ['u8'], true),
      );
    } else if (encoding === 'dict') {
      parts.push(readPart(reader, cd.parts[k++], pages, items, CODE_TYPES));
    } else {
      const values = readPart(reader, cd.parts[k++], pages, items, [fixedType(kind, bigint)]);
      if (scan && kind === 'boolean') checkBooleans(values);
      if (scan && kind === 'long' && !bigint) for (const page of values) checkLongs(page as Float64Array);
      parts.push(values);
    }
    const present = spec.optional
      ? readPart(reader, cd.present, pages, (p) => (records(p) + 7) >>> 3, ['u8'])
      : undefined;
    // An absent value's code is never read (it may be 0 of an empty dictionary): only the
    // codes of present values, and every element of a list, must lie in the dictionary.
    if (scan && dict)
      checkCodes(parts[isList ? 1 : 0]!, dict.size, isList ? undefined : (present as Uint8Array[]));
    return {
      spec,
      valueKind: kind,
      bigint,
      encoding,
      dict,
      present: present as Uint8Array[] | undefined,
      parts,
    };
  });
}

/** Reads a type state's sections back, checking its structure (see `readColumns`) and index slots. */
export function readTypeSection(
  reader: BlobReader<unknown>,
  type: ObjectType,
  d: TypeDescriptor,
  scan = true,
): TypeStateParts {
  if (
    !d ||
    d.name !== type.name ||
    !isUint(d.capacity) ||
    d.capacity > MAX_CAPACITY ||
    !isUint(d.size) ||
    d.size > d.capacity
  ) {
    corrupt(`the header of type ${type.name} is malformed`);
  }
  const capacity = d.capacity;
  // The bitset's section bounds the capacity by the blob's size before anything is allocated.
  const populated = reader.view(d.populated, Uint32Array);
  if (populated.length !== Math.ceil(capacity / 32))
    corrupt(`the populated set of ${type.name} has the wrong length`);
  let count = 0;
  for (let i = 0; i < populated.length; i++) count += popcount(populated[i]!);
  if (capacity & 31 && populated[populated.length - 1]! >>> (capacity & 31) !== 0)
    corrupt(`the populated set of ${type.name} has ordinals past its capacity`);
  if (count !== d.size) corrupt(`the populated set of ${type.name} does not hold ${d.size} records`);
  const columns = readColumns(reader, type, d.columns, capacity, scan);
  let index: KeyIndex | undefined;
  let tombstones = 0;
  if (type.primaryKey.length > 0 && reader.version >= 2) {
    index = readKeyIndex(reader, d, populated, capacity, scan, type.name);
    tombstones = d.tombstones;
  } else if (type.primaryKey.length > 0) {
    // Format 1's flat table of ordinals has no key tags: built again from the key columns.
    const old = reader.view(d.index, Uint32Array);
    if (old.length <= d.size) corrupt(`the index of ${type.name} has the wrong size`);
    const pk = new PrimaryKey(type, columns);
    index = buildKeyIndex(
      pk,
      populated,
      capacity,
      d.size,
      DEFAULT_LAYOUT.keyShard,
      reader.bytes.buffer instanceof SharedArrayBuffer,
    );
  }
  const indexes = readIndexes(reader, type, d.indexes, populated, capacity, d.size, scan, corrupt);
  if (!Array.isArray(d.sums) || !isUint(d.sums[0]) || !isUint(d.sums[1]))
    corrupt(`the checksum of ${type.name} is malformed`);
  const sums: Sums = { a: d.sums[0], b: d.sums[1] };
  const ghosts = reader.view(d.ghosts, Uint32Array);
  for (const g of ghosts) {
    if (g >= capacity || testBit(populated, g)) corrupt(`a ghost ordinal of ${type.name} is not a free slot`);
  }
  return {
    type,
    capacity,
    size: d.size,
    columns,
    populated,
    index,
    tombstones,
    sums,
    ghosts,
    indexes,
  };
}
