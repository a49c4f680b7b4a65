/**
 * A secondary prefix index on one string field: the ordinals of the records that hold a value,
 * sorted by the value's UTF-8 bytes and then by ordinal, as a list of pages of at most
 * 2 × PAGE_SIZE ordinals. A lookup binary-searches the pages, then the page; the records
 * whose value starts with a prefix, or equals a value, lie in one run. A delta copies only the
 * pages it inserts into or removes from (splitting one that grows past its bound, dropping one
 * that empties), plus the list of pages.
 */
import type { IndexSpec, ObjectType } from '../../schema/index.ts';
import type { Column } from '../column/column.ts';
import { PAGE_SIZE, testBit } from '../column/layout.ts';
import { newPage } from './cow-pages.ts';
import { corruptIndex, type IndexChange } from './hash-index.ts';
import { type StringCursor, stringLocator } from './primary-key.ts';

/** A prefix index's storage. Immutable once a state holds it. */
export interface SortedIndexParts {
  readonly kind: 'sorted';
  readonly spec: IndexSpec;
  /** Made by a consumer (`createIndex`), not declared: never written to a blob. */
  readonly local: boolean;
  readonly entries: number;
  readonly pages: readonly Uint32Array[];
}

const MAX_PAGE = 2 * PAGE_SIZE;

/** Byte order of the index's string values at ordinals, and of a staged string. */
export class StringOrder {
  private readonly locate: (o: number, cursor: StringCursor) => void;
  private readonly present: readonly Uint8Array[] | undefined;
  private readonly a: StringCursor = { bytes: new Uint8Array(0), start: 0, end: 0 };
  private readonly b: StringCursor = { bytes: new Uint8Array(0), start: 0, end: 0 };

  /** `capacity`: ordinals at or past it are refused (`BLOB_CORRUPT`) rather than read. */
  constructor(
    type: ObjectType,
    private readonly spec: IndexSpec,
    columns: readonly Column[],
    private readonly capacity: number,
  ) {
    const col = columns[type.field(spec.fields[0]!)!.index]!;
    this.locate = stringLocator(col);
    this.present = col.present;
  }

  presentAt(o: number): boolean {
    const p = this.present;
    return !p || ((p[o >>> 10]![(o & 1023) >>> 3]! >>> (o & 7)) & 1) === 1;
  }

  /** Sign of (value at x, x) against (value at y, y). */
  compare(x: number, y: number): number {
    const { a, b } = this;
    if (x >= this.capacity || y >= this.capacity) corruptIndex(this.spec, Math.max(x, y));
    this.locate(x, a);
    this.locate(y, b);
    const la = a.end - a.start;
    const lb = b.end - b.start;
    const n = la < lb ? la : lb;
    for (let i = 0; i < n; i++) {
      const d = a.bytes[a.start + i]! - b.bytes[b.start + i]!;
      if (d !== 0) return d;
    }
    return la !== lb ? la - lb : x - y;
  }

  /** Whether (value at x, x) sorts before (value at o, o): `o` is located once, not per call. */
  before(o: number): (x: number) => boolean {
    if (o >= this.capacity) corruptIndex(this.spec, o);
    const b: StringCursor = { bytes: new Uint8Array(0), start: 0, end: 0 };
    this.locate(o, b);
    const { a } = this;
    const lb = b.end - b.start;
    return (x) => {
      if (x >= this.capacity) corruptIndex(this.spec, x);
      this.locate(x, a);
      const la = a.end - a.start;
      const n = la < lb ? la : lb;
      for (let i = 0; i < n; i++) {
        const d = a.bytes[a.start + i]! - b.bytes[b.start + i]!;
        if (d !== 0) return d < 0;
      }
      return la !== lb ? la < lb : x < o;
    };
  }

  /**
   * `ordinals` in index order. Each value is read once, as a latin1 string (a char per byte,
   * so the engine's string order is the bytes' order), rather than located per comparison.
   */
  sorted(ordinals: number[]): number[] {
    const keys = new Map<number, string>();
    const a = this.a;
    for (const o of ordinals) {
      if (o >= this.capacity) corruptIndex(this.spec, o);
      this.locate(o, a);
      const b = a.bytes;
      keys.set(o, Buffer.from(b.buffer, b.byteOffset + a.start, a.end - a.start).toString('latin1'));
    }
    return ordinals.sort((x, y) => {
      const kx = keys.get(x)!;
      const ky = keys.get(y)!;
      return kx < ky ? -1 : kx > ky ? 1 : x - y;
    });
  }

  /**
   * Sign of the value at `o` against `bytes[0, length)`; with `prefix`, 0 for any value that
   * starts with them.
   */
  compareTo(o: number, bytes: Uint8Array, length: number, prefix: boolean): number {
    const a = this.a;
    if (o >= this.capacity) corruptIndex(this.spec, o);
    this.locate(o, a);
    const la = a.end - a.start;
    const n = la < length ? la : length;
    for (let i = 0; i < n; i++) {
      const d = a.bytes[a.start + i]! - bytes[i]!;
      if (d !== 0) return d;
    }
    if (prefix && la >= length) return 0;
    return la - length;
  }
}

/** Builds the index of every populated ordinal below `capacity`. */
export function buildSortedIndex(
  type: ObjectType,
  spec: IndexSpec,
  columns: readonly Column[],
  populated: Uint32Array,
  capacity: number,
  shared: boolean,
  local: boolean,
  pageSize = PAGE_SIZE,
): SortedIndexParts {
  const order = new StringOrder(type, spec, columns, capacity);
  let n = 0;
  for (let o = 0; o < capacity; o++) if (testBit(populated, o) && order.presentAt(o)) n++;
  const all = newPage(n, shared);
  let k = 0;
  for (let o = 0; o < capacity; o++) if (testBit(populated, o) && order.presentAt(o)) all[k++] = o;
  all.sort((x, y) => order.compare(x, y));
  const pages: Uint32Array[] = [];
  for (let s = 0; s < n; s += pageSize) pages.push(all.subarray(s, s + pageSize));
  return { kind: 'sorted', spec, local, entries: n, pages };
}

/** The first page from `from` whose last element `before` does not hold for (pages.length when none). */
function pageOf(pages: readonly Uint32Array[], before: (o: number) => boolean, from = 0): number {
  let lo = from;
  let hi = pages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const page = pages[mid]!;
    if (before(page[page.length - 1]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first position in `page` where `before` does not hold. */
function positionIn(page: Uint32Array, before: (o: number) => boolean): number {
  let lo = 0;
  let hi = page.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(page[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where the run of elements for which `before` fails starts: [page, position]. */
export function lowerBound(pages: readonly Uint32Array[], before: (o: number) => boolean): [number, number] {
  const p = pageOf(pages, before);
  if (p === pages.length) return [p, 0];
  return [p, positionIn(pages[p]!, before)];
}

/** The number of elements from `from` up to `to` ([page, position] each). */
export function distance(
  pages: readonly Uint32Array[],
  from: [number, number],
  to: [number, number],
): number {
  if (from[0] === to[0]) return to[1] - from[1];
  let n = pages[from[0]]!.length - from[1];
  for (let p = from[0] + 1; p < to[0]; p++) n += pages[p]!.length;
  return n + to[1];
}

/**
 * The next index: removed records taken out (found by the previous columns), then added ones
 * put in (ordered by the next ones), a page at a time: each page that changes is copied once,
 * and one that grows past its bound is split.
 */
export function transitionSortedIndex(prev: SortedIndexParts, c: IndexChange): SortedIndexParts {
  let entries = prev.entries;
  const rebuild = () =>
    buildSortedIndex(
      c.type,
      prev.spec,
      c.columns,
      c.populated,
      c.capacity,
      c.shared,
      prev.local,
      c.maxIndexPage >>> 1,
    );
  const prevOrder = new StringOrder(c.type, prev.spec, c.prevColumns, c.prevCapacity);
  const removed = c.removed.filter((o) => prevOrder.presentAt(o));
  // Positions are found in the previous pages, unchanged until all are known: by a search per
  // record for a few, by one pass over the pages testing a bit per element for many (a bit
  // test costs a small part of the ~20 string comparisons a search takes).
  const gone = new Map<number, number[]>();
  const note = (p: number, i: number) => {
    const list = gone.get(p);
    if (list) list.push(i);
    else gone.set(p, [i]);
  };
  if (removed.length * 256 > prev.entries) {
    const marked = new Uint32Array((c.prevCapacity >>> 5) + 1);
    for (const o of removed) marked[o >>> 5]! |= 1 << (o & 31);
    let found = 0;
    for (let p = 0; p < prev.pages.length; p++) {
      const page = prev.pages[p]!;
      for (let i = 0; i < page.length; i++) {
        const o = page[i]!;
        if (o < c.prevCapacity && (marked[o >>> 5]! >>> (o & 31)) & 1) {
          note(p, i);
          found++;
        }
      }
    }
    // A record listed twice, or not at all: the index is not what it should be.
    if (found !== removed.length) return rebuild();
  } else {
    for (const o of removed) {
      const [p, i] = lowerBound(prev.pages, prevOrder.before(o));
      if (prev.pages[p]?.[i] !== o) return rebuild();
      note(p, i);
    }
  }
  entries -= removed.length;
  let pages: Uint32Array[] = [];
  for (let p = 0; p < prev.pages.length; p++) {
    const page = prev.pages[p]!;
    const at = gone.get(p);
    if (!at) {
      pages.push(page);
      continue;
    }
    if (at.length === page.length) continue;
    const drop = new Uint8Array(page.length);
    for (const i of at) drop[i] = 1;
    const kept = newPage(page.length - at.length, c.shared);
    let k = 0;
    for (let i = 0; i < page.length; i++) if (drop[i] === 0) kept[k++] = page[i]!;
    pages.push(kept);
  }

  const order = new StringOrder(c.type, prev.spec, c.columns, c.capacity);
  const adds = order.sorted(c.added.filter((o) => order.presentAt(o)));
  if (adds.length === 0) return { kind: 'sorted', spec: prev.spec, local: prev.local, entries, pages };
  entries += adds.length;
  // Each added record goes to the first page whose last element sorts after it (the last page
  // when none does); in sorted order, those pages never go back.
  const into = new Map<number, number[]>();
  const lastPage = Math.max(0, pages.length - 1);
  let p = 0;
  for (const o of adds) {
    // The adds come in order, so p only moves on: one comparison while it stays, a search of
    // the pages after it when it moves.
    if (p < lastPage) {
      const before = order.before(o);
      const page = pages[p]!;
      if (before(page[page.length - 1]!)) p = Math.min(pageOf(pages, before, p + 1), lastPage);
    }
    const list = into.get(p);
    if (list) list.push(o);
    else into.set(p, [o]);
  }
  const out: Uint32Array[] = [];
  const pageCount = Math.max(pages.length, 1);
  for (let p = 0; p < pageCount; p++) {
    const page = pages[p] ?? new Uint32Array(0);
    const list = into.get(p);
    if (!list) {
      out.push(page);
      continue;
    }
    const merged = newPage(page.length + list.length, c.shared);
    let from = 0;
    let k = 0;
    for (const o of list) {
      const i = from + positionIn(page.subarray(from), order.before(o));
      merged.set(page.subarray(from, i), k);
      k += i - from;
      merged[k++] = o;
      from = i;
    }
    merged.set(page.subarray(from), k);
    if (merged.length <= c.maxIndexPage) {
      out.push(merged);
      continue;
    }
    const parts = Math.ceil(merged.length / Math.max(1, c.maxIndexPage >>> 1));
    const step = Math.ceil(merged.length / parts);
    for (let s = 0; s < merged.length; s += step) out.push(merged.subarray(s, s + step));
  }
  pages = out;
  return { kind: 'sorted', spec: prev.spec, local: prev.local, entries, pages };
}

/** What is wrong with the index's structure, or undefined: each element a record, once, all counted. */
export function sortedIndexProblem(
  index: SortedIndexParts,
  populated: Uint32Array,
  capacity: number,
  size: number,
): string | undefined {
  if (index.entries > size) return 'it holds more records than the type';
  const seen = new Uint32Array(Math.ceil(capacity / 32));
  let n = 0;
  for (const page of index.pages) {
    if (page.length === 0 || page.length > MAX_PAGE) return 'a page has the wrong length';
    for (let i = 0; i < page.length; i++) {
      const o = page[i]!;
      if (o >= capacity || !testBit(populated, o) || testBit(seen, o))
        return 'it lists an ordinal that holds no record of its own';
      seen[o >>> 5]! |= 1 << (o & 31);
      n++;
    }
  }
  return n === index.entries ? undefined : 'its count does not add up';
}

/** What is wrong with the index's content, or undefined: sorted, and every record with a value in it. */
export function sortedIndexMismatch(
  index: SortedIndexParts,
  type: ObjectType,
  columns: readonly Column[],
  populated: Uint32Array,
  capacity: number,
): string | undefined {
  const order = new StringOrder(type, index.spec, columns, capacity);
  let last = -1;
  let n = 0;
  for (const page of index.pages) {
    for (let i = 0; i < page.length; i++) {
      const o = page[i]!;
      if (!order.presentAt(o)) return `ordinal ${o} has no value`;
      if (last >= 0 && order.compare(last, o) >= 0) return 'it is not sorted';
      last = o;
      n++;
    }
  }
  let present = 0;
  for (let o = 0; o < capacity; o++) if (testBit(populated, o) && order.presentAt(o)) present++;
  return present === n ? undefined : 'records are missing from it';
}
