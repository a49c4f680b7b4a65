/**
 * What a lookup + one field could cost in JS at best, measured beside shoal's: the same probe
 * written out in the loop (no call, no view, no page of its own to find), once over flat arrays
 * (one array a column, one table) and once over the layout shoal keeps for copy-on-write (pages
 * of 1,024 records, index shards of 4,096 slots). The records are those of the lookup bench:
 * key `7i + 3` and a one-byte year code at ordinal i. The gap between the two rows is the price
 * of pages, which let a delta copy what it changes rather than the whole column.
 */
import { hashInt } from '../src/format/hash.ts';

const SEED = 0x5eed;
const PAGE_SHIFT = 10;
const PAGE_MASK = (1 << PAGE_SHIFT) - 1;
const SHARD_SHIFT = 12;

/** Loops summing the year of `keys[from..to)`, one per layout. */
export function ceilingMeasures(
  n: number,
  keys: Int32Array,
): Record<'flat' | 'paged', (from: number, to: number) => number> {
  // 3/4 full at most, as shoal's index: shards of 4,096 slots, a hash's high bits pick one.
  const scale = Math.ceil(n / 0.75 / (1 << SHARD_SHIFT)) * 2 ** -32;
  const slotMask = (1 << SHARD_SHIFT) - 1;
  const homeOf = (h: number) => (Math.floor(h * scale) << SHARD_SHIFT) | (h & slotMask);
  const table = new Uint32Array(Math.ceil(n / 0.75 / (1 << SHARD_SHIFT)) << SHARD_SHIFT);
  const ids = new Int32Array(n);
  const years = new Uint8Array(n);
  for (let o = 0; o < n; o++) {
    ids[o] = o * 7 + 3;
    years[o] = o % 70;
    // Probes wrap inside a shard of 4,096 slots, in both layouts.
    const home = homeOf(hashInt(ids[o]!, SEED));
    let s = home;
    while (table[s] !== 0) s = (home & ~slotMask) | ((s + 1) & slotMask);
    table[s] = o + 1;
  }
  const idPages: Int32Array[] = [];
  const yearPages: Uint8Array[] = [];
  for (let at = 0; at < n; at += 1 << PAGE_SHIFT) {
    idPages.push(ids.subarray(at, at + (1 << PAGE_SHIFT)));
    yearPages.push(years.subarray(at, at + (1 << PAGE_SHIFT)));
  }
  const shards: Uint32Array[] = [];
  for (let at = 0; at < table.length; at += 1 << SHARD_SHIFT) shards.push(table.subarray(at, at + (1 << SHARD_SHIFT)));
  return {
    flat: (from, to) => {
      let sum = 0;
      for (let i = from; i < to; i++) {
        const key = keys[i]!;
        const home = homeOf(hashInt(key, SEED));
        for (let s = home; ; s = (home & ~slotMask) | ((s + 1) & slotMask)) {
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
        const home = homeOf(hashInt(key, SEED));
        const shard = shards[home >>> SHARD_SHIFT]!;
        for (let s = home & slotMask; ; s = (s + 1) & slotMask) {
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
