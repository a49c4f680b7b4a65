/**
 * Paging of ordinals. Every column is a list of pages of PAGE_SIZE ordinals; a page is a typed
 * array (or a few, for strings and lists) that is never written once a state holds it. A state
 * derived from another shares every page it did not change, so the cost of a delta follows the
 * pages it touches, not the size of the dataset.
 *
 * 1024 ordinals a page: small enough that a touched page is a cheap copy (4 KiB for an int
 * column), large enough that a million records are ~1,000 pages a column, and that the offsets
 * of a page of typical strings (under 64 bytes each) fit in 16 bits.
 */
import { ShoalError } from '../../errors.ts';

export const PAGE_SHIFT = 10;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PAGE_MASK = PAGE_SIZE - 1;

/** Number of pages that hold `capacity` ordinals. */
export const pageCount = (capacity: number): number => (capacity + PAGE_MASK) >>> PAGE_SHIFT;

/** Number of ordinals on page `page` of a column of `capacity` ordinals. */
export const pageLength = (capacity: number, page: number): number =>
  Math.min(PAGE_SIZE, capacity - page * PAGE_SIZE);

/** Typed arrays a column part may be. */
export type PartArray =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array;

/** Whether bit `i` of a Uint32 bitset is set. */
export const testBit = (bits: Uint32Array, i: number): boolean => ((bits[i >>> 5]! >>> (i & 31)) & 1) === 1;

/** Count of set bits in a 32-bit word. */
export function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/**
 * The thresholds that choose a column's encoding. The defaults are the only ones shoal uses;
 * tests inject small ones (through an internal option of the builder, the delta functions,
 * the producer and the consumer) so that a few records reach every encoding. A blob never
 * depends on them: decoding reads the encoding and widths each part declares.
 */
export interface Layout {
  /** Fewer values than this never get a dictionary: it would not pay for itself. */
  readonly minDictValues: number;
  /** Most entries a dictionary holds (its codes are 16-bit). */
  readonly maxDictSize: number;
  /** Most entries a dictionary with 8-bit codes holds. */
  readonly maxNarrowDict: number;
  /** Largest offset stored in a 16-bit offsets page; past it the page's offsets are 32-bit. */
  readonly maxNarrowOffset: number;
  /**
   * Most ordinals a page of a prefix index holds: a delta splits a page that grows past it,
   * and a build fills pages to half of it.
   */
  readonly maxIndexPage: number;
  /**
   * Largest page start a part's 32-bit page-starts section holds; a part whose pages reach
   * past it (a string or bytes heap past 4 GiB) writes 64-bit starts, in a version-2 blob.
   */
  readonly maxNarrowStart: number;
  /**
   * Most bytes one page of a heap holds (its offsets are 32-bit): past it a build or a delta
   * is `BLOB_TOO_LARGE` rather than a wrapped offset.
   */
  readonly maxPageHeap: number;
  /**
   * Slots a shard of the primary-key index holds when it is built (shards then grow or shrink
   * alone): a delta copies the shards it writes, 16 KiB each by default.
   */
  readonly keyShard: number;
}

export const DEFAULT_LAYOUT: Layout = Object.freeze({
  minDictValues: 64,
  maxDictSize: 65536,
  maxNarrowDict: 256,
  maxNarrowOffset: 0xffff,
  maxIndexPage: 2048,
  maxNarrowStart: 0xffffffff,
  maxPageHeap: 0xffffffff,
  keyShard: 4096,
});

/** `DEFAULT_LAYOUT` with some thresholds replaced; each must stay within the format's limits. */
export function layoutOf(overrides: Partial<Layout> | undefined): Layout {
  if (!overrides) return DEFAULT_LAYOUT;
  const layout = { ...DEFAULT_LAYOUT, ...overrides };
  const { minDictValues, maxDictSize, maxNarrowDict, maxNarrowOffset, maxIndexPage, keyShard } = layout;
  const { maxNarrowStart, maxPageHeap } = layout;
  const ok =
    Number.isSafeInteger(minDictValues) &&
    minDictValues >= 1 &&
    Number.isSafeInteger(maxNarrowDict) &&
    maxNarrowDict >= 1 &&
    maxNarrowDict <= 256 &&
    Number.isSafeInteger(maxDictSize) &&
    maxDictSize >= maxNarrowDict &&
    maxDictSize <= 65536 &&
    Number.isSafeInteger(maxNarrowOffset) &&
    maxNarrowOffset >= 0 &&
    maxNarrowOffset <= 0xffff &&
    Number.isSafeInteger(maxIndexPage) &&
    maxIndexPage >= 2 &&
    maxIndexPage <= 2048 &&
    Number.isSafeInteger(maxNarrowStart) &&
    maxNarrowStart >= 0 &&
    maxNarrowStart <= 0xffffffff &&
    Number.isSafeInteger(maxPageHeap) &&
    maxPageHeap >= 1 &&
    maxPageHeap <= 0xffffffff &&
    Number.isSafeInteger(keyShard) &&
    keyShard >= 8 &&
    keyShard <= 1 << 20;
  if (!ok) {
    throw new ShoalError(
      'INVALID_OPTION',
      `layout thresholds out of range: ${JSON.stringify(overrides)}. Keep minDictValues >= 1, 1 <= maxNarrowDict <= 256, maxNarrowDict <= maxDictSize <= 65536, 0 <= maxNarrowOffset <= 65535, 2 <= maxIndexPage <= 2048, 0 <= maxNarrowStart <= 4294967295, 1 <= maxPageHeap <= 4294967295 and 8 <= keyShard <= 1048576.`,
    );
  }
  return Object.freeze(layout);
}
