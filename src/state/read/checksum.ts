/**
 * The order-independent state checksum. Each record hashes to two 32-bit lanes from its
 * fields' canonical hashes; a type's sums are the lane-wise sums (mod 2^32) over its records;
 * the state checksum is the sum over types, as a 64-bit bigint (lane B high, lane A low).
 * Sums make insertion order irrelevant and let a delta update a checksum by subtracting the
 * removed records and adding the added ones, without a scan.
 */
import { fmix32, hashName, mixWord } from '../../format/hash.ts';
import type { ObjectType } from '../../schema/index.ts';
import { type Column, columnHasher } from '../column/column.ts';
import { testBit } from '../column/layout.ts';

/** Lane-wise sums of record hashes. */
export interface Sums {
  a: number;
  b: number;
}

/** Ordinals hashed at once by {@link recordHashes}: its scratch arrays stay small. */
const CHUNK = 8192;

/**
 * The two lane hashes of each record at `ordinals`, into `a` and `b` at [0, ordinals.length):
 * the fields' hashes mixed in order into each lane, then finalised. Computed a field at a time
 * over all the records, not a record at a time: the loads of one field at many ordinals do not
 * wait on each other, so the memory reads of records spread over a large state overlap (and
 * each loop calls one hasher only).
 */
export function recordHashes(
  type: ObjectType,
  columns: readonly Column[],
  ordinals: ArrayLike<number>,
  a: Uint32Array,
  b: Uint32Array,
): void {
  const seed = hashName(type.name);
  const n = columns.length;
  const len = ordinals.length;
  const la = new Int32Array(len).fill(seed);
  const lb = new Int32Array(len).fill(seed ^ 0x9e3779b9);
  for (const col of columns) {
    const hash = columnHasher(col);
    for (let r = 0; r < len; r++) {
      const v = hash(ordinals[r]!);
      la[r] = mixWord(la[r]!, v);
      lb[r] = mixWord(lb[r]!, v ^ 0x5bd1e995);
    }
  }
  for (let r = 0; r < len; r++) {
    a[r] = fmix32(la[r]! ^ n);
    b[r] = fmix32(lb[r]! ^ 0x2545f491);
  }
}

/** Adds (`sign` 1) or removes (-1) the records at `ordinals` to `sums`. */
export function sumOrdinals(
  type: ObjectType,
  columns: readonly Column[],
  ordinals: ArrayLike<number>,
  sums: Sums,
  sign: 1 | -1,
): void {
  const size = Math.min(CHUNK, ordinals.length);
  const chunk = new Uint32Array(size);
  const a = new Uint32Array(size);
  const b = new Uint32Array(size);
  for (let from = 0; from < ordinals.length; from += CHUNK) {
    const len = Math.min(CHUNK, ordinals.length - from);
    for (let r = 0; r < len; r++) chunk[r] = ordinals[from + r]!;
    recordHashes(type, columns, len === size ? chunk : chunk.subarray(0, len), a, b);
    let sa = sums.a;
    let sb = sums.b;
    for (let r = 0; r < len; r++) {
      sa = (sa + sign * a[r]!) >>> 0;
      sb = (sb + sign * b[r]!) >>> 0;
    }
    sums.a = sa;
    sums.b = sb;
  }
}

/** Sums over every populated ordinal below `capacity`. */
export function sumRecords(
  type: ObjectType,
  columns: readonly Column[],
  populated: Uint32Array,
  capacity: number,
): Sums {
  const sums = { a: 0, b: 0 };
  const ordinals = new Uint32Array(Math.min(CHUNK, capacity));
  let k = 0;
  for (let o = 0; o < capacity; o++) {
    if (!testBit(populated, o)) continue;
    ordinals[k++] = o;
    if (k === ordinals.length) {
      sumOrdinals(type, columns, ordinals, sums, 1);
      k = 0;
    }
  }
  if (k > 0) sumOrdinals(type, columns, ordinals.subarray(0, k), sums, 1);
  return sums;
}

/** The 64-bit checksum of a list of type sums. */
export function combineSums(all: readonly Sums[]): bigint {
  let a = 0;
  let b = 0;
  for (const s of all) {
    a = (a + s.a) >>> 0;
    b = (b + s.b) >>> 0;
  }
  return (BigInt(b) << 32n) | BigInt(a);
}
