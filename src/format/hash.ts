/**
 * 32-bit hashing shared by the primary-key index and the state checksum. Every function hashes
 * a value's canonical bytes (an int's 32 bits, a double's 64, a string's UTF-8), so a key
 * hashed from a JS value and the same key hashed from a column agree.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** Murmur3's finaliser: a full-avalanche mix of 32 bits. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One Murmur3 round: fold a 32-bit word into a running hash. */
export function mixWord(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Murmur3-32 of `bytes[start, end)`, seeded. */
export function hashBytes(bytes: Uint8Array, start: number, end: number, seed: number): number {
  let h = seed | 0;
  let i = start;
  const tail = end - ((end - start) & 3);
  for (; i < tail; i += 4) {
    h = mixWord(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  const rest = end - i;
  if (rest > 0) {
    let k = bytes[i]!;
    if (rest > 1) k |= bytes[i + 1]! << 8;
    if (rest > 2) k |= bytes[i + 2]! << 16;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  return fmix32(h ^ (end - start));
}

/** Hash of a 32-bit integer. */
export function hashInt(value: number, seed: number): number {
  return fmix32(mixWord(seed, value) ^ 4);
}

/** Hash of an integral `number` up to ±2^53 (a `long`): its low and high 32 bits. */
export function hashLong(value: number, seed: number): number {
  return fmix32(mixWord(mixWord(seed, value >>> 0), Math.floor(value / 4294967296) | 0) ^ 8);
}

/** Hash of a 64-bit `bigint`. */
export function hashBigInt(value: bigint, seed: number): number {
  const lo = Number(BigInt.asUintN(32, value));
  const hi = Number(BigInt.asIntN(32, value >> 32n));
  return fmix32(mixWord(mixWord(seed, lo), hi) ^ 8);
}

const scratch = new Float64Array(1);
const scratchWords = new Int32Array(scratch.buffer);

/** Hash of a double's 64 bits (so -0 and 0 differ, and NaN equals NaN). */
export function hashDouble(value: number, seed: number): number {
  scratch[0] = value;
  return fmix32(mixWord(mixWord(seed, scratchWords[0]!), scratchWords[1]!) ^ 8);
}

/** The hash of a type or field name, used as a seed. */
export function hashName(name: string): number {
  const bytes = new TextEncoder().encode(name);
  return hashBytes(bytes, 0, bytes.length, 0x5eed);
}
