/**
 * The next version of a column: the pages that received records are rebuilt (old slots copied
 * as bytes, new values written), every other page is shared with the previous column. Data of
 * slots that are not live in the next state is dropped from rebuilt pages. A dictionary that
 * meets new values grows (a new, longer dictionary; every page's codes widen from 8 to 16 bits
 * when it passes the 8-bit limit). A dictionary never drops an entry while it grows, so when
 * it would stop paying (see `dictionaryPays`: too many entries for the values, or past 65,536)
 * the column is re-encoded whole from its live values, which may give a smaller dictionary
 * again or a plain column.
 */
import type { ScalarKind } from '../../schema/index.ts';
import { type Column, columnReader, type Dictionary, dictEntries, fixedArrayType } from './column.ts';
import {
  buildColumn,
  dictionaryPays,
  dictKey,
  HeapWriter,
  isAbsent,
  narrowOffsets,
} from './column-builder.ts';
import {
  type Layout,
  PAGE_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  type PartArray,
  pageCount,
  pageLength,
} from './layout.ts';

/**
 * Values written at ordinals: `values[i]` goes to `ordinals[i]` (`undefined`/`null` = absent).
 * `source`, when given, holds the same values as a column (a delta's chunk: row i is
 * `values[i]`); dictionary codes and string bytes are then taken from it as they are stored,
 * without making JS values of them, and `values` is read only where that cannot be done.
 */
export interface Writes {
  readonly ordinals: readonly number[];
  readonly values: readonly unknown[];
  readonly source?: Column | undefined;
}

/**
 * A source column whose rows a page takes as stored: dictionary codes through `remap` (the
 * source's code → the next column's), or a var value's bytes.
 */
interface SourceRows {
  readonly col: Column;
  readonly remap: Int32Array | undefined;
}

/** Kinds whose source rows are taken as stored (the rest go through `values`). */
const ROW_KINDS: ReadonlySet<ScalarKind> = new Set(['string', 'int', 'long', 'double', 'float']);

/** Whether `source` holds what `col` stores in a way its pages can take row by row. */
function takesRows(col: Column, source: Column | undefined): source is Column {
  if (!source || source.spec.kind !== col.spec.kind || !ROW_KINDS.has(col.valueKind)) return false;
  if (source.valueKind !== col.valueKind || source.bigint !== col.bigint) return false;
  if (col.encoding === 'dict') return source.encoding === 'dict';
  return col.encoding === 'var' && source.encoding === 'var' && col.spec.kind !== 'list';
}

/** Where row `j`'s value (its bytes, or a list's elements) starts on its page of `offsets`. */
const rowStart = (offsets: readonly PartArray[], j: number): number =>
  offsets[j >>> PAGE_SHIFT]![j & PAGE_MASK] as number;

/** Where row `j`'s value ends on its page of `offsets`. */
const rowEnd = (offsets: readonly PartArray[], j: number): number =>
  offsets[j >>> PAGE_SHIFT]![(j & PAGE_MASK) + 1] as number;

/** Whether row `j` of a source column is absent (an optional field not set). */
function rowAbsent(src: Column, j: number): boolean {
  const present = src.present;
  if (!present) return false;
  return ((present[j >>> PAGE_SHIFT]![(j & PAGE_MASK) >>> 3]! >>> (j & 7)) & 1) === 0;
}

/** Map from a dictionary key (see `dictKey`) to its code, made once per dictionary. */
function dictLookup(dict: Dictionary & { lookup?: Map<unknown, number> }, kind: ScalarKind, bigint: boolean) {
  if (dict.lookup) return dict.lookup;
  const lookup = new Map<unknown, number>();
  if (dict.values) {
    for (let i = 0; i < dict.size; i++)
      lookup.set(dictKey(kind, bigint ? dict.values[i] : Number(dict.values[i])), i);
  } else if (kind === 'string') {
    const entries = dictEntries(dict, kind, bigint);
    for (let i = 0; i < entries.length; i++) lookup.set(entries[i], i);
  } else {
    for (let i = 0; i < dict.size; i++)
      lookup.set(dict.heap!.toString('latin1', dict.offsets![i]!, dict.offsets![i + 1]!), i);
  }
  dict.lookup = lookup;
  return lookup;
}

/** The dictionary with `fresh` values appended. */
function growDictionary(
  dict: Dictionary,
  kind: ScalarKind,
  bigint: boolean,
  fresh: readonly unknown[],
): Dictionary {
  const size = dict.size + fresh.length;
  if (dict.values) {
    const Fixed = fixedArrayType(kind, bigint)!;
    const values = new Fixed(size);
    (values as Float64Array).set(dict.values as Float64Array);
    for (let i = 0; i < fresh.length; i++) (values as unknown as unknown[])[dict.size + i] = fresh[i];
    return { size, values, offsets: undefined, heap: undefined };
  }
  const heap = new HeapWriter(dict.heap!.length * 2 + 64);
  heap.append(dict.heap!);
  const offsets = new Uint32Array(size + 1);
  offsets.set(dict.offsets!);
  for (let i = 0; i < fresh.length; i++) {
    heap.push(kind, fresh[i]);
    offsets[dict.size + i + 1] = heap.length;
  }
  return { size, values: undefined, offsets, heap: Buffer.from(heap.result()) };
}

/**
 * The values of `writes` (a list's elements; or, with `scalars`, the values themselves) not in
 * `lookup`, each once, in order of first appearance. (A plain loop, not a generator: a delta
 * brings thousands of values.)
 */
function freshValues(
  col: Column,
  lookup: Map<unknown, number>,
  values: readonly unknown[],
  scalars = false,
): unknown[] {
  const fresh: unknown[] = [];
  const freshKeys = new Set<unknown>();
  const kind = col.valueKind;
  const isList = !scalars && col.spec.kind === 'list';
  const consider = (v: unknown) => {
    const key = dictKey(kind, v);
    if (!lookup.has(key) && !freshKeys.has(key)) {
      freshKeys.add(key);
      fresh.push(v);
    }
  };
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (isAbsent(col.spec.kind, v)) continue;
    if (!isList) consider(v);
    else for (const e of v as unknown[]) consider(e);
  }
  return fresh;
}

/** Copies `a` into a SharedArrayBuffer-backed array of the same type. */
export function toShared<T extends PartArray>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  if (a instanceof Buffer) {
    const b = Buffer.from(new SharedArrayBuffer(a.byteLength));
    b.set(a);
    return b as unknown as T;
  }
  const Ctor = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  (out as unknown as Uint8Array).set(a as unknown as Uint8Array);
  return out;
}

interface PageSource {
  readonly parts: readonly PartArray[];
  readonly present: Uint8Array | undefined;
  readonly length: number;
}

/**
 * The writes falling on one page: `slots[i]` is the index in `values` of the value written at
 * slot i, or -1. One table serves every page in turn (set before, cleared after).
 */
interface PageWrites {
  readonly slots: Int32Array;
  readonly values: readonly unknown[];
  readonly rows: SourceRows | undefined;
}

/** A scalar as its page stores it: a dictionary code, 0/1 for a boolean, else the value. */
function encodeScalar(col: Column, codes: Map<unknown, number> | undefined, v: unknown): unknown {
  if (col.encoding === 'dict') return codes!.get(dictKey(col.valueKind, v));
  return col.valueKind === 'boolean' ? (v ? 1 : 0) : v;
}

/** An array for `n` values (codes when the column is a dictionary). */
function valueArray(col: Column, wideCodes: boolean, n: number): PartArray {
  if (col.encoding === 'dict') return wideCodes ? new Uint16Array(n) : new Uint8Array(n);
  return new (fixedArrayType(col.valueKind, col.bigint)!)(n) as PartArray;
}

/**
 * Moves the elements of the old page's lists in slots [from, to) to element `n` of the new
 * page at once (their bytes too, offsets shifted); returns the new element count.
 */
function moveElements(
  isVar: boolean,
  old: readonly PartArray[],
  from: number,
  to: number,
  n: number,
  heap: HeapWriter | undefined,
  elementOffsets: Uint32Array | undefined,
  values: PartArray | undefined,
): number {
  const [lists, a, b] = old as [PartArray, PartArray, PartArray | undefined];
  const e0 = lists[from] as number;
  const e1 = lists[to] as number;
  if (isVar) {
    const b0 = a[e0] as number;
    const shift = heap!.length - b0;
    for (let j = e0; j < e1; j++) elementOffsets![n + j - e0 + 1] = (a[j + 1] as number) + shift;
    heap!.append((b as Uint8Array).subarray(b0, a[e1] as number));
  } else {
    (values as Uint8Array).set((a as Uint8Array).subarray(e0, e1), n);
  }
  return n + e1 - e0;
}

/**
 * Builds one page of `col` (already carrying the next dictionary) of `length` slots: slot i
 * takes its written value when written, else the old page's slot when it is live, else nothing.
 */
function buildPage(
  col: Column,
  codes: Map<unknown, number> | undefined,
  old: PageSource | undefined,
  length: number,
  writes: PageWrites,
  live: (ordinal: number) => boolean,
  base: number,
  layout: Layout,
  wideCodes: boolean,
): { parts: PartArray[]; present: Uint8Array | undefined } {
  const kind = col.valueKind;
  const isList = col.spec.kind === 'list';
  const { slots, values: written, rows } = writes;
  const src = rows?.col;
  const remap = rows?.remap;
  // Slot i keeps its old value when it is not written and its ordinal stays live. (Plain
  // expressions, not closures: a delta builds thousands of pages.)
  const oldLength = old ? old.length : 0;
  let present: Uint8Array | undefined;
  if (col.spec.optional) {
    present = new Uint8Array((length + 7) >>> 3);
    if (old?.present) present.set(old.present.subarray(0, Math.min(old.present.length, present.length)));
    for (let i = 0; i < length; i++) {
      if (slots[i]! < 0) continue;
      if (src ? rowAbsent(src, slots[i]!) : isAbsent(col.spec.kind, written[slots[i]!]))
        present[i >>> 3]! &= ~(1 << (i & 7));
      else present[i >>> 3]! |= 1 << (i & 7);
    }
  }

  if (!isList) {
    if (col.encoding !== 'var') {
      const values = valueArray(col, wideCodes, length);
      if (old)
        (values as Uint8Array).set((old.parts[0]! as Uint8Array).subarray(0, Math.min(old.length, length)));
      if (src) {
        // A dictionary column from a dictionary chunk: its codes, mapped to the next column's.
        const codePages = src.parts[0]!;
        for (let i = 0; i < length; i++) {
          const j = slots[i]!;
          if (j < 0 || rowAbsent(src, j)) continue;
          values[i] = remap![codePages[j >>> PAGE_SHIFT]![j & PAGE_MASK] as number]!;
        }
        return { parts: [values], present };
      }
      for (let i = 0; i < length; i++) {
        if (slots[i]! < 0) continue;
        const v = written[slots[i]!];
        if (!isAbsent(kind, v)) (values as unknown as unknown[])[i] = encodeScalar(col, codes, v);
      }
      return { parts: [values], present };
    }
    // Sized for the old bytes and the written ones (a string's as one byte a character: exact
    // for ASCII), so a page of new values does not grow its heap by doubling.
    let bytes = old ? old.parts[1]!.byteLength + 64 : 64;
    for (let i = 0; i < length; i++) {
      const j = slots[i]!;
      if (j < 0) continue;
      if (src) bytes += rowEnd(src.parts[0]!, j) - rowStart(src.parts[0]!, j);
      else if (typeof written[j] === 'string') bytes += (written[j] as string).length;
    }
    const heap = new HeapWriter(bytes);
    const offsets = new Uint32Array(length + 1);
    const oldOffsets = old?.parts[0];
    const oldHeap = old?.parts[1] as Uint8Array | undefined;
    // Kept slots come in runs (a delta touches a few slots a page): each run's bytes are
    // copied at once, its offsets shifted, rather than one value at a time.
    let run = -1;
    let runEnd = 0;
    let shift = 0;
    for (let i = 0; i < length; i++) {
      const slot = slots[i]!;
      if (slot < 0 && i < oldLength && live(base + i)) {
        if (run < 0) {
          run = i;
          shift = heap.length - (oldOffsets![i] as number);
        }
        runEnd = i + 1;
        offsets[i + 1] = (oldOffsets![i + 1] as number) + shift;
        continue;
      }
      if (run >= 0) {
        heap.append(oldHeap!.subarray(oldOffsets![run] as number, oldOffsets![runEnd] as number));
        run = -1;
      }
      if (slot >= 0 && src) {
        // A var column from a var chunk: the value's bytes as the chunk stores them.
        if (!rowAbsent(src, slot)) {
          const bytes = src.parts[1]![slot >>> PAGE_SHIFT] as Uint8Array;
          heap.append(bytes.subarray(rowStart(src.parts[0]!, slot), rowEnd(src.parts[0]!, slot)));
        }
      } else if (slot >= 0) {
        const v = written[slot];
        if (!isAbsent(kind, v)) heap.push(kind, v);
      }
      offsets[i + 1] = heap.length;
    }
    if (run >= 0) heap.append(oldHeap!.subarray(oldOffsets![run] as number, oldOffsets![runEnd] as number));
    return { parts: [narrowOffsets(offsets, heap.length, layout), Buffer.from(heap.result())], present };
  }

  const isVar = col.encoding === 'var';
  const listOffsets = new Uint32Array(length + 1);
  const [oldLists, , oldB] = old?.parts ?? [];
  // Room for every element the page can hold: the old page's and the written ones.
  let bound = old ? (oldLists![old.length] as number) : 0;
  for (let i = 0; i < length; i++) {
    const slot = slots[i]!;
    if (slot < 0) continue;
    if (src) bound += rowEnd(src.parts[0]!, slot) - rowStart(src.parts[0]!, slot);
    else if (!isAbsent('list', written[slot])) bound += (written[slot] as unknown[]).length;
  }
  const heap = isVar ? new HeapWriter(old ? oldB!.byteLength + 64 : 256) : undefined;
  const elementOffsets = isVar ? new Uint32Array(bound + 1) : undefined;
  const values = isVar ? undefined : valueArray(col, wideCodes, bound);
  let n = 0;
  // As above, each run of kept slots moves its elements (and their bytes) at once.
  let run = -1;
  let runEnd = 0;
  for (let i = 0; i < length; i++) {
    const slot = slots[i]!;
    if (slot < 0 && i < oldLength && live(base + i)) {
      if (run < 0) run = i;
      runEnd = i + 1;
      listOffsets[i + 1] = n + (oldLists![i + 1] as number) - (oldLists![run] as number);
      continue;
    }
    if (run >= 0) {
      n = moveElements(isVar, old!.parts, run, runEnd, n, heap, elementOffsets, values);
      run = -1;
    }
    if (slot >= 0 && src) {
      // A list of dictionary codes from such a chunk: each element's code, mapped.
      if (!rowAbsent(src, slot)) {
        const elements = src.parts[1]![slot >>> PAGE_SHIFT]!;
        const end = rowEnd(src.parts[0]!, slot);
        for (let e = rowStart(src.parts[0]!, slot); e < end; e++)
          values![n++] = remap![elements[e] as number]!;
      }
    } else if (slot >= 0) {
      const v = written[slot];
      if (!isAbsent(col.spec.kind, v)) {
        for (const e of v as unknown[]) {
          if (isVar) {
            heap!.push(kind, e);
            elementOffsets![++n] = heap!.length;
          } else {
            (values as unknown as unknown[])[n++] = encodeScalar(col, codes, e);
          }
        }
      }
    }
    listOffsets[i + 1] = n;
  }
  if (run >= 0) n = moveElements(isVar, old!.parts, run, runEnd, n, heap, elementOffsets, values);
  const lists = narrowOffsets(listOffsets, n, layout);
  if (isVar) {
    return {
      parts: [
        lists,
        narrowOffsets(elementOffsets!.subarray(0, n + 1), heap!.length, layout),
        Buffer.from(heap!.result()),
      ],
      present,
    };
  }
  return { parts: [lists, n === bound ? values! : values!.subarray(0, n)], present };
}

/**
 * The column re-encoded whole (a new encoding chosen, as for a state built from records): slot
 * `o` takes its written value, else its old value when live, else nothing. A dictionary is
 * kept only if it could double and still pay, so a column near the limit turns plain instead
 * of being rebuilt by every delta that brings one more value: a rebuild comes at most once per
 * half a dictionary of new values.
 */
function reencoded(
  col: Column,
  oldCapacity: number,
  capacity: number,
  writes: Writes,
  live: (ordinal: number) => boolean,
  shared: boolean,
  layout: Layout,
): Column {
  const read = columnReader(col);
  const written = new Map<number, unknown>();
  for (let i = 0; i < writes.ordinals.length; i++) written.set(writes.ordinals[i]!, writes.values[i]);
  const valueAt = (o: number) =>
    written.has(o) ? written.get(o) : o < oldCapacity && live(o) ? read(o) : undefined;
  const next = buildColumn(col.spec, capacity, valueAt, layout, 2);
  if (!shared) return next;
  return {
    ...next,
    parts: next.parts.map((pages) => pages.map(toShared)),
    present: next.present?.map(toShared),
  };
}

/**
 * Rebuilds the pages of `next` (a copy of `prev`'s storage with the next dictionary) that
 * `writes` touch, plus any page whose length changes; shares the rest.
 */
function rebuildPages(
  next: Column,
  prev: Column,
  oldCapacity: number,
  capacity: number,
  writes: Writes,
  live: (ordinal: number) => boolean,
  shared: boolean,
  codes: Map<unknown, number> | undefined,
  layout: Layout,
  rows: SourceRows | undefined,
): Column {
  const pages = pageCount(capacity);
  const k = next.spec.kind === 'list' ? 1 : 0;
  // Every page of a dictionary column has codes of one width: the width its pages have.
  const first = next.parts[k]![0];
  const wideCodes =
    next.encoding === 'dict' &&
    (first ? first instanceof Uint16Array : next.dict!.size > layout.maxNarrowDict);
  const oldPages = pageCount(oldCapacity);
  const { ordinals } = writes;
  const order = inOrdinalOrder(ordinals);
  const slots = new Int32Array(PAGE_SIZE).fill(-1);
  const parts = next.parts.map((pp) => pp.slice(0, pages));
  const present = next.present?.slice(0, pages);
  let w = 0;
  for (let p = 0; p < pages; p++) {
    const length = pageLength(capacity, p);
    const oldLength = p < oldPages ? pageLength(oldCapacity, p) : 0;
    const from = w;
    while (w < order.length && ordinals[order[w]!]! >>> PAGE_SHIFT === p) w++;
    const touched = w > from;
    if (!touched && length === oldLength && p < parts[0]!.length) continue;
    // A page of fixed values or codes is cut as a view; one with a heap or list elements is
    // rebuilt, so its heap ends where its last offset does (a snapshot holds no dead bytes).
    if (!touched && length < oldLength && next.spec.kind !== 'list' && next.encoding !== 'var') {
      truncatePage(parts, present, p, length);
      continue;
    }
    const old: PageSource | undefined =
      p < oldPages && prev.encoding === next.encoding && prev.parts[0]![p]
        ? { parts: prev.parts.map((pp) => pp[p]!), present: prev.present?.[p], length: oldLength }
        : undefined;
    const base = p * PAGE_SIZE;
    for (let k = from; k < w; k++) slots[ordinals[order[k]!]! - base] = order[k]!;
    const page = buildPage(
      next,
      codes,
      old,
      length,
      { slots, values: rows ? [] : writes.values, rows },
      live,
      base,
      layout,
      wideCodes,
    );
    for (let k = from; k < w; k++) slots[ordinals[order[k]!]! - base] = -1;
    page.parts.forEach((a, k) => {
      parts[k]![p] = shared ? toShared(a) : a;
    });
    if (present) present[p] = shared ? toShared(page.present!) : page.present!;
  }
  return { ...next, parts, present };
}

/**
 * Indices of `ordinals` in ascending order of ordinal; for one ordinal written twice, the later
 * write comes later (and wins). Writes usually come in order already, which costs one scan.
 */
function inOrdinalOrder(ordinals: readonly number[]): Uint32Array {
  const order = new Uint32Array(ordinals.length);
  let sorted = true;
  for (let i = 0; i < ordinals.length; i++) {
    order[i] = i;
    if (i > 0 && ordinals[i]! < ordinals[i - 1]!) sorted = false;
  }
  if (sorted) return order;
  return Uint32Array.from([...order].sort((a, b) => ordinals[a]! - ordinals[b]! || a - b));
}

/** Cuts page p of a fixed or dict column down to `length` slots (a view; the bytes stay shared). */
function truncatePage(
  parts: PartArray[][],
  present: Uint8Array[] | undefined,
  p: number,
  length: number,
): void {
  parts[0]![p] = parts[0]![p]!.subarray(0, length);
  if (present) present[p] = present[p]!.subarray(0, (length + 7) >>> 3);
}

/** 8-bit codes as 16-bit ones, on a SharedArrayBuffer when the state's arrays are shared. */
function widened(codes: Uint8Array, shared: boolean): Uint16Array {
  const wide = Uint16Array.from(codes);
  return shared ? toShared(wide) : wide;
}

/** Elements of the lists of a list column (the last offset of each page). */
function elementCount(col: Column): number {
  let n = 0;
  for (const page of col.parts[0]!) n += page[page.length - 1] as number;
  return n;
}

/** How many values (a list's elements) the column holds after `writes`, at most. */
function valueCount(col: Column, size: number, writes: Writes, rows: boolean): number {
  if (col.spec.kind !== 'list') return size;
  let n = elementCount(col);
  if (rows) return n + elementCount(writes.source!);
  for (const v of writes.values) if (!isAbsent('list', v)) n += (v as unknown[]).length;
  return n;
}

/**
 * The next column: `writes` placed, capacity changed from `oldCapacity` to `capacity`, dead
 * slots (`live` false) dropped from rebuilt pages; `size` is the number of live slots after.
 */
export function transitionColumn(
  col: Column,
  oldCapacity: number,
  capacity: number,
  size: number,
  writes: Writes,
  live: (ordinal: number) => boolean,
  shared: boolean,
  layout: Layout,
): Column {
  let next = col;
  let codes: Map<unknown, number> | undefined;
  const fromRows = takesRows(col, writes.source);
  let remap: Int32Array | undefined;
  if (col.encoding === 'dict') {
    const lookup = dictLookup(col.dict!, col.valueKind, col.bigint);
    // From a dictionary chunk, the values to look up are its dictionary's entries alone.
    const entries = fromRows ? dictEntries(writes.source!.dict!, col.valueKind, col.bigint) : undefined;
    const fresh = freshValues(col, lookup, entries ?? writes.values, fromRows);
    const total = col.dict!.size + fresh.length;
    if (
      fresh.length > 0 &&
      !dictionaryPays(col.valueKind, total, valueCount(col, size, writes, fromRows), layout)
    ) {
      return reencoded(col, oldCapacity, capacity, writes, live, shared, layout);
    }
    if (fresh.length > 0) {
      const dict = growDictionary(col.dict!, col.valueKind, col.bigint, fresh);
      const k = col.spec.kind === 'list' ? 1 : 0;
      const widen = dict.size > layout.maxNarrowDict;
      const parts = widen
        ? col.parts.map((pp, i) =>
            i === k ? pp.map((a) => (a instanceof Uint8Array ? widened(a, shared) : a)) : pp,
          )
        : col.parts;
      next = { ...col, dict, parts };
      codes = new Map(lookup);
      for (let i = 0; i < fresh.length; i++) codes.set(dictKey(col.valueKind, fresh[i]), col.dict!.size + i);
    } else {
      codes = lookup;
    }
    if (entries) {
      remap = new Int32Array(entries.length);
      for (let c = 0; c < entries.length; c++) remap[c] = codes.get(dictKey(col.valueKind, entries[c]))!;
    }
  }
  const rows = fromRows ? { col: writes.source!, remap } : undefined;
  return rebuildPages(next, col, oldCapacity, capacity, writes, live, shared, codes, layout, rows);
}
