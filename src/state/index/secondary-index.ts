/**
 * Secondary indexes of a type's state, whichever their kind (hash-index.ts, sorted-index.ts):
 * built with the state, moved along by every transition at the cost of the change, rebuilt
 * across a schema change only where the declaration changed, written to and read from a
 * blob, and checked.
 */
import type { BlobReader, BlobWriter } from '../../format/blob-envelope.ts';
import type { IndexSpec, ObjectType } from '../../schema/index.ts';
import type { Column } from '../column/column.ts';
import { toShared } from '../column/column-transition.ts';
import { PAGE_SIZE, pageCount } from '../column/layout.ts';
import {
  buildHashIndex,
  type HashIndexParts,
  hashIndexMismatch,
  hashIndexProblem,
  type IndexChange,
  isZeroPage,
  transitionHashIndex,
  zeroPage,
} from './hash-index.ts';
import {
  buildSortedIndex,
  type SortedIndexParts,
  sortedIndexMismatch,
  sortedIndexProblem,
  transitionSortedIndex,
} from './sorted-index.ts';

/** One secondary index's storage. */
export type IndexParts = HashIndexParts | SortedIndexParts;

/** True when two declarations index the same thing the same way. */
export const sameIndex = (a: IndexSpec, b: IndexSpec): boolean =>
  a.name === b.name && a.prefix === b.prefix && a.fields.join('\0') === b.fields.join('\0');

/** Builds one index over a type's columns. */
export function buildIndexParts(
  type: ObjectType,
  spec: IndexSpec,
  columns: readonly Column[],
  populated: Uint32Array,
  capacity: number,
  shared = false,
  local = false,
  sortedPage = PAGE_SIZE,
): IndexParts {
  return spec.prefix
    ? buildSortedIndex(type, spec, columns, populated, capacity, shared, local, sortedPage)
    : buildHashIndex(type, spec, columns, populated, capacity, shared, local);
}

/**
 * The indexes a type's state holds for `type`: those of `existing` still declared the same
 * way kept, the others built over `columns`; a consumer's own kept where its fields remain and
 * the schema declares no index of its name (one declared the same way takes its place; one
 * declared otherwise displaces it: {@link displacedLocalIndexes} names it).
 */
export function reconcileIndexes(
  type: ObjectType,
  existing: readonly IndexParts[] | undefined,
  columns: readonly Column[],
  populated: Uint32Array,
  capacity: number,
  sortedPage = PAGE_SIZE,
): IndexParts[] {
  const declared = type.indexes.map(
    (spec) =>
      existing?.find((i) => !i.local && sameIndex(i.spec, spec)) ??
      buildIndexParts(type, spec, columns, populated, capacity, false, false, sortedPage),
  );
  const local = (existing ?? []).filter(
    (i) => i.local && indexable(type, i.spec) && !type.indexes.some((d) => d.name === i.spec.name),
  );
  return [...declared, ...local];
}

/** A consumer's own index a new state does not carry, and why. */
export interface DisplacedIndex {
  readonly type: string;
  readonly name: string;
  readonly reason: string;
}

/**
 * The consumer's own indexes of `from` that `next` lost: its type gone, its fields gone, or
 * its name now declared by the schema over other fields (the same declaration takes it over,
 * and is not listed).
 */
export function displacedLocalIndexes(
  from: {
    readonly types: readonly {
      readonly name: string;
      readonly parts: { readonly indexes?: readonly IndexParts[] };
    }[];
  },
  next: {
    readonly types: readonly {
      readonly name: string;
      readonly parts: { readonly indexes?: readonly IndexParts[] };
    }[];
  },
): DisplacedIndex[] {
  const out: DisplacedIndex[] = [];
  for (const t of from.types) {
    const after = next.types.find((n) => n.name === t.name);
    for (const i of t.parts.indexes ?? []) {
      if (!i.local) continue;
      const now = after?.parts.indexes?.find((n) => n.spec.name === i.spec.name);
      if (now && sameIndex(now.spec, i.spec)) continue;
      const reason = !after
        ? `the schema no longer has type ${t.name}`
        : now
          ? `the schema now declares an index "${i.spec.name}" over ${now.spec.fields.join(', ')}${now.spec.prefix ? ' (prefix)' : ''}`
          : `the schema changed its fields (${i.spec.fields.join(', ')})`;
      out.push({ type: t.name, name: i.spec.name, reason });
    }
  }
  return out;
}

/** Whether `spec` still names fields of `type` (a consumer's index across a schema change). */
const indexable = (type: ObjectType, spec: IndexSpec) =>
  spec.fields.every((f) => type.field(f) !== undefined);

/** Every index moved along by one change. */
export function transitionIndexes(indexes: readonly IndexParts[] | undefined, c: IndexChange): IndexParts[] {
  return (indexes ?? []).map((i) =>
    i.kind === 'hash' ? transitionHashIndex(i, c) : transitionSortedIndex(i, c),
  );
}

/** The same index with every array on a SharedArrayBuffer. */
export function shareIndex(i: IndexParts): IndexParts {
  if (i.kind === 'sorted') return { ...i, pages: i.pages.map(toShared) };
  return {
    ...i,
    slots: i.slots.map(toShared),
    next: i.next.map(shareLinks),
    prev: i.prev.map(shareLinks),
  };
}

const shareLinks = (page: Uint32Array) => (isZeroPage(page) ? zeroPage(true) : toShared(page));

/** Bytes an index's arrays take (the shared page of zero links counts for nothing). */
export function indexBytes(i: IndexParts): number {
  const sum = (pages: readonly Uint32Array[]) =>
    pages.reduce((n, p) => n + (isZeroPage(p) ? 0 : p.byteLength), 0);
  return i.kind === 'sorted' ? sum(i.pages) : sum(i.slots) + sum(i.next) + sum(i.prev);
}

/** An index in a blob header: its name, counts, and one section of pages (+ page starts) per array. */
export interface IndexDescriptor {
  readonly name: string;
  readonly kind: 'hash' | 'sorted';
  readonly entries: number;
  readonly groups?: number;
  readonly tombstones?: number;
  /** Per array: its data section and its page-starts section. */
  readonly arrays: readonly (readonly [number, number])[];
}

function writePages(writer: BlobWriter, pages: readonly Uint32Array[], links = false): [number, number] {
  const starts = new Uint32Array(pages.length + 1);
  // A page of zero links is left out (an empty page), and read back as the shared one. (A
  // state that came through a worker holds copies of the shared page, hence the scan.)
  const zero = (p: Uint32Array) => links && (isZeroPage(p) || p.every((v) => v === 0));
  const kept: Uint32Array[] = [];
  for (let p = 0; p < pages.length; p++) {
    const page = pages[p]!;
    const skip = zero(page);
    if (!skip) kept.push(page);
    starts[p + 1] = starts[p]! + (skip ? 0 : page.length);
  }
  return [writer.add(...kept), writer.add(starts)];
}

/** Writes the declared indexes' sections (a consumer's own are not part of a version). */
export function writeIndexes(
  writer: BlobWriter,
  indexes: readonly IndexParts[] | undefined,
): IndexDescriptor[] {
  return (indexes ?? [])
    .filter((i) => !i.local)
    .map((i): IndexDescriptor => {
      if (i.kind === 'sorted')
        return {
          name: i.spec.name,
          kind: 'sorted',
          entries: i.entries,
          arrays: [writePages(writer, i.pages)],
        };
      return {
        name: i.spec.name,
        kind: 'hash',
        entries: i.entries,
        groups: i.groups,
        tombstones: i.tombstones,
        arrays: [
          writePages(writer, i.slots),
          writePages(writer, i.next, true),
          writePages(writer, i.prev, true),
        ],
      };
    });
}

/** Pages viewed from a section and its page starts, each within the section. */
function readPages(reader: BlobReader<unknown>, pair: unknown, fail: (what: string) => never): Uint32Array[] {
  if (!Array.isArray(pair) || pair.length !== 2) fail('an array is not described');
  const data = reader.view(pair[0] as number, Uint32Array);
  const starts = reader.view(pair[1] as number, Uint32Array);
  if (starts.length === 0 || starts[0] !== 0 || starts[starts.length - 1] !== data.length)
    fail('its pages do not cover their section');
  const out: Uint32Array[] = [];
  for (let p = 0; p + 1 < starts.length; p++) {
    if (starts[p + 1]! < starts[p]!) fail('its page starts decrease');
    out.push(data.subarray(starts[p]!, starts[p + 1]!));
  }
  return out;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Reads a type's declared indexes back (`corrupt` on a malformed one), checking their shape:
 * counts, pages and page lengths, in time of the pages, not of the records, so loading stays
 * as fast with indexes as without. What the pages hold is checked as it is read (an ordinal
 * past the records is `BLOB_CORRUPT`, never a read outside them), and whole by `verify`.
 */
export function readIndexes(
  reader: BlobReader<unknown>,
  type: ObjectType,
  descriptors: unknown,
  populated: Uint32Array,
  capacity: number,
  size: number,
  scan: boolean,
  corrupt: (what: string) => never,
): IndexParts[] {
  const list = descriptors === undefined ? [] : descriptors;
  if (!Array.isArray(list) || list.length !== type.indexes.length)
    corrupt(`the indexes of ${type.name} are not those its schema declares`);
  return type.indexes.map((spec, k): IndexParts => {
    const d = list[k] as IndexDescriptor;
    const fail = (what: string): never => corrupt(`index ${spec.name} of ${type.name} is malformed: ${what}`);
    if (
      typeof d !== 'object' ||
      d === null ||
      d.name !== spec.name ||
      d.kind !== (spec.prefix ? 'sorted' : 'hash')
    )
      fail('it is not the index its schema declares');
    if (!isCount(d.entries) || !Array.isArray(d.arrays)) fail('its counts are malformed');
    let index: IndexParts;
    if (d.kind === 'sorted') {
      if (d.arrays.length !== 1) fail('it has the wrong arrays');
      index = {
        kind: 'sorted',
        spec,
        local: false,
        entries: d.entries,
        pages: readPages(reader, d.arrays[0], fail),
      };
    } else {
      if (d.arrays.length !== 3 || !isCount(d.groups) || !isCount(d.tombstones))
        fail('its counts are malformed');
      const [slots, next, prev] = d.arrays.map((a) => readPages(reader, a, fail)) as [
        Uint32Array[],
        Uint32Array[],
        Uint32Array[],
      ];
      const shared = populated.buffer instanceof SharedArrayBuffer;
      const links = (pages: Uint32Array[]) => pages.map((p) => (p.length === 0 ? zeroPage(shared) : p));
      index = {
        kind: 'hash',
        spec,
        local: false,
        entries: d.entries,
        groups: d.groups!,
        tombstones: d.tombstones!,
        slots,
        next: links(next),
        prev: links(prev),
      };
    }
    const problem = scan ? indexShapeProblem(index, capacity, size) : undefined;
    if (problem) fail(problem);
    return index;
  });
}

/** What is wrong with an index's counts and pages, or undefined (no record is read). */
export function indexShapeProblem(i: IndexParts, capacity: number, size: number): string | undefined {
  if (i.entries > size) return 'it holds more records than the type';
  if (i.kind === 'sorted') {
    let n = 0;
    for (const page of i.pages) {
      if (page.length === 0 || page.length > 2 * PAGE_SIZE) return 'a page has the wrong length';
      n += page.length;
    }
    return n === i.entries ? undefined : 'its count does not add up';
  }
  const full = (pages: readonly Uint32Array[]) => pages.every((p) => p.length === PAGE_SIZE);
  if (i.slots.length === 0) return 'its table has no pages';
  if (i.next.length !== pageCount(capacity) || i.prev.length !== i.next.length)
    return 'its links do not cover the records';
  if (!full(i.slots) || !full(i.next) || !full(i.prev)) return 'a page has the wrong length';
  if (i.groups > i.entries || i.groups + i.tombstones >= i.slots.length * PAGE_SIZE)
    return 'its counts do not add up';
  return undefined;
}

/** What is wrong with an index's structure, or undefined (a scan of its arrays). */
export function indexProblem(
  i: IndexParts,
  populated: Uint32Array,
  capacity: number,
  size: number,
): string | undefined {
  return i.kind === 'hash'
    ? hashIndexProblem(i, populated, capacity, size)
    : sortedIndexProblem(i, populated, capacity, size);
}

/** What is wrong with an index's content against the columns, or undefined (a full scan). */
export function indexMismatch(
  i: IndexParts,
  type: ObjectType,
  columns: readonly Column[],
  populated: Uint32Array,
  capacity: number,
): string | undefined {
  return (
    indexProblem(i, populated, capacity, Number.MAX_SAFE_INTEGER) ??
    (i.kind === 'hash'
      ? hashIndexMismatch(i, type, columns, populated, capacity)
      : sortedIndexMismatch(i, type, columns, populated, capacity))
  );
}
