/**
 * A column: one field's values for every ordinal of a type, as pages of typed arrays.
 *
 * How values of a scalar kind are stored (the column's `encoding`):
 * - `fixed`: one typed array of values (int → Int32, long → Float64 or BigInt64, double →
 *   Float64, float → Float32, boolean → Uint8);
 * - `dict`: Uint8 or Uint16 codes into a dictionary of distinct values, for low-cardinality
 *   columns of any kind but boolean;
 * - `var`: offsets (Uint16 or Uint32, relative to the page's heap) into a byte heap, for
 *   string, bytes and json (json as msgpack).
 *
 * A column's `parts[k][page]` are its typed arrays. For a plain field the parts are the
 * values (fixed), the codes (dict), or offsets + heap (var). A list field has list offsets
 * (relative to the page's first element) first, then the parts of its elements. Optional
 * fields have a presence bitmap per page (bit set = value present).
 */

import { ShoalError } from '../../errors.ts';
import { hashBigInt, hashBytes, hashDouble, hashInt, hashLong, hashName } from '../../format/hash.ts';
import { msgpack } from '../../format/msgpack.ts';
import type { FieldSpec, ScalarKind } from '../../schema/index.ts';
import { PAGE_MASK, PAGE_SHIFT, type PartArray } from './layout.ts';

/** How a column's values (or a list's elements) are stored. */
export type Encoding = 'fixed' | 'dict' | 'var';

/** Distinct values of a `dict` column; numbers in `values`, or var data in `offsets` + `heap`. */
export interface Dictionary {
  readonly size: number;
  readonly values: PartArray | undefined;
  readonly offsets: Uint32Array | undefined;
  readonly heap: Buffer | undefined;
  /** Decoded entries, made on first read (bounded by the dictionary's size). */
  decoded?: unknown[];
  /** Value key → code, made on first write into the column's next version. */
  lookup?: Map<unknown, number>;
}

/** One field's storage. Immutable once a state holds it. */
export interface Column {
  readonly spec: FieldSpec;
  /** Kind of the values, or of a list's elements. */
  readonly valueKind: ScalarKind;
  readonly bigint: boolean;
  readonly encoding: Encoding;
  readonly dict: Dictionary | undefined;
  /** Presence bitmap pages (optional fields only). */
  readonly present: readonly Uint8Array[] | undefined;
  readonly parts: readonly (readonly PartArray[])[];
}

/** The typed-array constructor of a fixed column of `kind`. */
export function fixedArrayType(kind: ScalarKind, bigint: boolean) {
  switch (kind) {
    case 'int':
      return Int32Array;
    case 'long':
      return bigint ? BigInt64Array : Float64Array;
    case 'double':
      return Float64Array;
    case 'float':
      return Float32Array;
    case 'boolean':
      return Uint8Array;
    default:
      return undefined;
  }
}

/** True for kinds stored in a heap (string, bytes, json). */
export const isVarKind = (kind: ScalarKind): boolean =>
  kind === 'string' || kind === 'bytes' || kind === 'json';

/** Number of parts holding a value encoding (a list adds one for its offsets). */
export const valueParts = (encoding: Encoding): number => (encoding === 'var' ? 2 : 1);

/** Decodes the var value in `heap[start, end)`. */
export function decodeVar(kind: ScalarKind, heap: Buffer, start: number, end: number): unknown {
  if (kind === 'string') return heap.toString('utf8', start, end);
  if (kind === 'bytes') return new Uint8Array(heap.buffer, heap.byteOffset + start, end - start);
  return unpackJson(heap.subarray(start, end));
}

/** A stored json value; `BLOB_CORRUPT` (not msgpackr's plain error) when its bytes do not decode. */
function unpackJson(bytes: Uint8Array): unknown {
  try {
    return msgpack.unpack(bytes);
  } catch (cause) {
    throw new ShoalError(
      'BLOB_CORRUPT',
      'a stored json value does not decode: the blob is corrupt. Load the version from a fresh snapshot.',
      { cause },
    );
  }
}

/** Decoded dictionary entries (built once; json entries are decoded on each read instead). */
export function dictEntries(dict: Dictionary, kind: ScalarKind, bigint: boolean): unknown[] {
  if (dict.decoded) return dict.decoded;
  const out = new Array<unknown>(dict.size);
  for (let i = 0; i < dict.size; i++) {
    // `+ 0`: a long -0 stored by an earlier release reads as 0 (canonical-record.ts).
    if (dict.values)
      out[i] = bigint
        ? dict.values[i]
        : kind === 'long'
          ? Number(dict.values[i]) + 0
          : Number(dict.values[i]);
    else out[i] = decodeVar(kind, dict.heap!, dict.offsets![i]!, dict.offsets![i + 1]!);
  }
  dict.decoded = out;
  return out;
}

/** Reads element `i` of a run of values stored as `parts[first...]` on one page. */
type ChunkReader = (page: number, i: number) => unknown;

function chunkReader(col: Column, first: number): ChunkReader {
  const kind = col.valueKind;
  if (col.encoding === 'fixed') {
    const pages = col.parts[first]!;
    if (kind === 'boolean') return (p, i) => pages[p]![i] === 1;
    if (kind === 'long' && !col.bigint) return (p, i) => (pages[p]![i] as number) + 0;
    return (p, i) => pages[p]![i];
  }
  if (col.encoding === 'dict') {
    const codes = col.parts[first]!;
    const dict = col.dict!;
    if (kind === 'json') {
      return (p, i) => {
        const c = codes[p]![i] as number;
        return unpackJson(dict.heap!.subarray(dict.offsets![c]!, dict.offsets![c + 1]!));
      };
    }
    const entries = dictEntries(dict, kind, col.bigint);
    return (p, i) => entries[codes[p]![i] as number];
  }
  const offsets = col.parts[first]!;
  const heaps = col.parts[first + 1] as readonly Buffer[];
  if (kind === 'string') {
    return (p, i) => {
      const o = offsets[p]!;
      return heaps[p]!.toString('utf8', o[i] as number, o[i + 1] as number);
    };
  }
  return (p, i) => {
    const o = offsets[p]!;
    return decodeVar(kind, heaps[p]!, o[i] as number, o[i + 1] as number);
  };
}

/**
 * A function that reads the column's value at an ordinal (`undefined` when absent). Each
 * encoding gets a closure of its own that reads its arrays directly (no reader inside a
 * reader), so a call site that reads one column stays monomorphic.
 */
export function columnReader(col: Column): (ordinal: number) => unknown {
  const read = col.spec.kind === 'list' ? listReader(col) : scalarReader(col);
  const present = col.present;
  if (!present) return read;
  return (o) => ((present[o >>> PAGE_SHIFT]![(o & PAGE_MASK) >>> 3]! >>> (o & 7)) & 1 ? read(o) : undefined);
}

function scalarReader(col: Column): (ordinal: number) => unknown {
  const kind = col.valueKind;
  if (col.encoding === 'fixed') {
    const pages = col.parts[0]!;
    if (kind === 'boolean') return (o) => pages[o >>> PAGE_SHIFT]![o & PAGE_MASK] === 1;
    // A long -0 stored by an earlier release reads as 0 (canonical-record.ts).
    if (kind === 'long' && !col.bigint) return (o) => (pages[o >>> PAGE_SHIFT]![o & PAGE_MASK] as number) + 0;
    return (o) => pages[o >>> PAGE_SHIFT]![o & PAGE_MASK];
  }
  if (col.encoding === 'dict' && kind !== 'json') {
    const codes = col.parts[0]!;
    const entries = dictEntries(col.dict!, kind, col.bigint);
    return (o) => entries[codes[o >>> PAGE_SHIFT]![o & PAGE_MASK] as number];
  }
  if (col.encoding === 'var' && kind === 'string') {
    const offsets = col.parts[0]!;
    const heaps = col.parts[1] as readonly Buffer[];
    return (o) => {
      const p = o >>> PAGE_SHIFT;
      const i = o & PAGE_MASK;
      const at = offsets[p]!;
      return heaps[p]!.toString('utf8', at[i] as number, at[i + 1] as number);
    };
  }
  const value = chunkReader(col, 0);
  return (o) => value(o >>> PAGE_SHIFT, o & PAGE_MASK);
}

/** A list column's reader: one loop per element encoding, reading the element arrays inline. */
function listReader(col: Column): (ordinal: number) => unknown {
  const listOffsets = col.parts[0]!;
  const kind = col.valueKind;
  if (col.encoding === 'dict' && kind !== 'json') {
    const codes = col.parts[1]!;
    const entries = dictEntries(col.dict!, kind, col.bigint);
    return (o) => {
      const p = o >>> PAGE_SHIFT;
      const i = o & PAGE_MASK;
      const lo = listOffsets[p]!;
      const start = lo[i] as number;
      const n = (lo[i + 1] as number) - start;
      const page = codes[p]!;
      const out = new Array<unknown>(n);
      for (let j = 0; j < n; j++) out[j] = entries[page[start + j] as number];
      return out;
    };
  }
  if (col.encoding === 'var' && kind === 'string') {
    const offsets = col.parts[1]!;
    const heaps = col.parts[2] as readonly Buffer[];
    return (o) => {
      const p = o >>> PAGE_SHIFT;
      const i = o & PAGE_MASK;
      const lo = listOffsets[p]!;
      const start = lo[i] as number;
      const n = (lo[i + 1] as number) - start;
      const at = offsets[p]!;
      const heap = heaps[p]!;
      const out = new Array<unknown>(n);
      for (let j = 0; j < n; j++)
        out[j] = heap.toString('utf8', at[start + j] as number, at[start + j + 1] as number);
      return out;
    };
  }
  const element = chunkReader(col, 1);
  return (o) => {
    const p = o >>> PAGE_SHIFT;
    const i = o & PAGE_MASK;
    const lo = listOffsets[p]!;
    const start = lo[i] as number;
    const end = lo[i + 1] as number;
    const out = new Array<unknown>(end - start);
    for (let j = start; j < end; j++) out[j - start] = element(p, j);
    return out;
  };
}

/** Hash of one value of a chunk, seeded; equal for equal values whatever the encoding. */
type ChunkHasher = (page: number, i: number, seed: number) => number;

function hashScalar(kind: ScalarKind, bigint: boolean, value: number | bigint, seed: number): number {
  if (kind === 'int' || kind === 'boolean') return hashInt(value as number, seed);
  if (kind === 'long') return bigint ? hashBigInt(value as bigint, seed) : hashLong(value as number, seed);
  return hashDouble(value as number, seed);
}

function chunkHasher(col: Column, first: number): ChunkHasher {
  const { valueKind: kind, bigint } = col;
  if (col.encoding === 'fixed') {
    const pages = col.parts[first]!;
    return (p, i, seed) => hashScalar(kind, bigint, pages[p]![i]!, seed);
  }
  if (col.encoding === 'dict') {
    const codes = col.parts[first]!;
    const dict = col.dict!;
    // Each entry is hashed once per seed, not once per record holding it (a hasher is used
    // with one seed in a checksum: its field's).
    let cacheSeed = 0;
    let hashes: Uint32Array | undefined;
    let known: Uint8Array | undefined;
    return (p, i, seed) => {
      const c = codes[p]![i] as number;
      if (hashes === undefined || seed !== cacheSeed) {
        hashes = new Uint32Array(dict.size);
        known = new Uint8Array(dict.size);
        cacheSeed = seed;
      }
      if (known![c] === 1) return hashes[c]!;
      const h = dict.values
        ? hashScalar(kind, bigint, dict.values[c]!, seed)
        : hashBytes(dict.heap!, dict.offsets![c]!, dict.offsets![c + 1]!, seed);
      if (c < hashes.length) {
        hashes[c] = h;
        known![c] = 1;
      }
      return h;
    };
  }
  const offsets = col.parts[first]!;
  const heaps = col.parts[first + 1] as readonly Buffer[];
  return (p, i, seed) => {
    const o = offsets[p]!;
    return hashBytes(heaps[p]!, o[i] as number, o[i + 1] as number, seed);
  };
}

/** A function giving the hash of the column's value at an ordinal (absent hashes as a marker). */
export function columnHasher(col: Column): (ordinal: number) => number {
  // Seeded by the field's name, not its position, so a schema change keeps record hashes.
  const seed = hashName(col.spec.name);
  let hash: (o: number) => number;
  if (col.spec.kind === 'list') {
    const listOffsets = col.parts[0]!;
    const element = chunkHasher(col, 1);
    hash = (o) => {
      const p = o >>> PAGE_SHIFT;
      const lo = listOffsets[p]!;
      const start = lo[o & PAGE_MASK] as number;
      const end = lo[(o & PAGE_MASK) + 1] as number;
      let h = hashInt(end - start, seed);
      for (let j = start; j < end; j++) h = hashInt(element(p, j, seed) ^ h, j - start);
      return h;
    };
  } else {
    const value = chunkHasher(col, 0);
    hash = (o) => value(o >>> PAGE_SHIFT, o & PAGE_MASK, seed);
  }
  const present = col.present;
  if (!present) return hash;
  const absent = hashInt(0x7ab5e47, seed);
  return (o) => ((present[o >>> PAGE_SHIFT]![(o & PAGE_MASK) >>> 3]! >>> (o & 7)) & 1 ? hash(o) : absent);
}
