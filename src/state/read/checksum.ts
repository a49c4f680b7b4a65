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

/** A function adding (sign 1) or removing (sign -1) the record at `ordinal` to `sums`. */
export type RecordSummer = (ordinal: number, sums: Sums, sign: 1 | -1) => void;

/** The record hasher of a type's columns. */
export function recordSummer(type: ObjectType, columns: readonly Column[]): RecordSummer {
  const seed = hashName(type.name);
  const hashers = columns.map(columnHasher);
  const n = hashers.length;
  return (o, sums, sign) => {
    let a = seed;
    let b = seed ^ 0x9e3779b9;
    for (let i = 0; i < n; i++) {
      const v = hashers[i]!(o);
      a = mixWord(a, v);
      b = mixWord(b, v ^ 0x5bd1e995);
    }
    sums.a = (sums.a + sign * fmix32(a ^ n)) >>> 0;
    sums.b = (sums.b + sign * fmix32(b ^ 0x2545f491)) >>> 0;
  };
}

/** Sums over every populated ordinal. */
export function sumRecords(summer: RecordSummer, populated: Uint32Array, capacity: number): Sums {
  const sums = { a: 0, b: 0 };
  for (let o = 0; o < capacity; o++) if (testBit(populated, o)) summer(o, sums, 1);
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
