/**
 * References for a lookup + one field, measured beside shoal's: the probe written out in the
 * loop (no call, no view, no tag bits), over the same records (key `7i + 3`, a one-byte year code
 * at ordinal i) laid out two ways. Both use one table of a power of two slots, at most 3/4 full,
 * probed linearly inside blocks of 4,096 slots:
 * - flat: one array a column and one array for the table;
 * - paged: the layout shoal keeps for copy-on-write, pages of 1,024 records and the table cut
 *   into shards of 4,096 slots, each its own typed array (so a read first finds its array).
 * The gap between the two rows is the price of pages, which let a delta copy what it changes
 * rather than the whole column. (shoal's own probe can beat the paged row: its slots carry tag
 * bits, so a slot of another key is passed over without reading that key.)
 */
import { hashInt } from '../src/format/hash.ts';

const SEED = 0x5eed;
const PAGE_SHIFT = 10;
const PAGE_MASK = (1 << PAGE_SHIFT) - 1;
const SHARD_SHIFT = 12;
const SHARD_MASK = (1 << SHARD_SHIFT) - 1;

/** Loops summing the year of `keys[from..to)`, one per layout. */
export function referenceMeasures(
  n: number,
  keys: Int32Array,
): Record<'flat' | 'paged', (from: number, to: number) => number> {
  const mask = 2 ** Math.max(SHARD_SHIFT, Math.ceil(Math.log2(n / 0.75))) - 1;
  const table = new Uint32Array(mask + 1);
  const ids = new Int32Array(n);
  const years = new Uint8Array(n);
  for (let o = 0; o < n; o++) {
    ids[o] = o * 7 + 3;
    years[o] = o % 70;
    let s = hashInt(ids[o]!, SEED) & mask;
    while (table[s] !== 0) s = (s & ~SHARD_MASK) | ((s + 1) & SHARD_MASK);
    table[s] = o + 1;
  }
  const idPages: Int32Array[] = [];
  const yearPages: Uint8Array[] = [];
  for (let at = 0; at < n; at += 1 << PAGE_SHIFT) {
    idPages.push(ids.subarray(at, at + (1 << PAGE_SHIFT)));
    yearPages.push(years.subarray(at, at + (1 << PAGE_SHIFT)));
  }
  const shards: Uint32Array[] = [];
  for (let at = 0; at < table.length; at += 1 << SHARD_SHIFT)
    shards.push(table.subarray(at, at + (1 << SHARD_SHIFT)));
  return {
    flat: (from, to) => {
      let sum = 0;
      for (let i = from; i < to; i++) {
        const key = keys[i]!;
        for (let s = hashInt(key, SEED) & mask; ; s = (s & ~SHARD_MASK) | ((s + 1) & SHARD_MASK)) {
          const v = table[s]!;
          if (v === 0) break;
          const year = years[v - 1]!;
          if (ids[v - 1] === key) {
            sum += 1950 + year;
            break;
          }
        }
      }
      return sum;
    },
    paged: (from, to) => {
      let sum = 0;
      for (let i = from; i < to; i++) {
        const key = keys[i]!;
        const home = hashInt(key, SEED) & mask;
        const shard = shards[home >>> SHARD_SHIFT]!;
        for (let s = home & SHARD_MASK; ; s = (s + 1) & SHARD_MASK) {
          const v = shard[s]!;
          if (v === 0) break;
          const o = v - 1;
          const year = yearPages[o >>> PAGE_SHIFT]![o & PAGE_MASK]!;
          if (idPages[o >>> PAGE_SHIFT]![o & PAGE_MASK] === key) {
            sum += 1950 + year;
            break;
          }
        }
      }
      return sum;
    },
  };
}
