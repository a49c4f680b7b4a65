/**
 * A secondary hash index: every record with a given value of the index's fields, for any
 * number of records per value. Four arrays, each as pages of PAGE_SIZE:
 * - `slots`: an open-addressing table (linear probing) of the distinct values; a slot holds the
 *   head ordinal + 1 of its value's group (0 empty, TOMBSTONE a group that emptied). Like the
 *   primary-key table it holds no values: a probe hashes the value's stored bytes and confirms
 *   against the columns (primary-key.ts does both, for every encoding);
 * - `next` and `prev`: per ordinal, the next and previous ordinal + 1 in its group (0 = none),
 *   a doubly linked list, so a delta unlinks a removed record and links an added one in a few
 *   writes. A group's head has no previous record: its `prev` holds the group's count instead
 *   (0 for one record), so a value held once costs no link at all, and pages of links that
 *   are all zero are one shared page, left out of blobs (ZERO_PAGE).
 * A transition copies only the pages it writes (cow-pages.ts). A record with an indexed field
 * absent is in no group. A group built whole lists its ordinals ascending; a delta puts the
 * records it adds first.
 */
import { ShoalError } from '../../errors.ts';
import type { IndexSpec, ObjectType } from '../../schema/index.ts';
import type { Column } from '../column/column.ts';
import { PAGE_SIZE, pageCount, testBit } from '../column/layout.ts';
import { CowPages, newPage, paged, pageGet } from './cow-pages.ts';
import { indexSizeFor, PrimaryKey, slotOf, TOMBSTONE } from './primary-key.ts';

/** A hash index's storage. Immutable once a state holds it. */
export interface HashIndexParts {
  readonly kind: 'hash';
  readonly spec: IndexSpec;
  /** Made by a consumer (`createIndex`), not declared: never written to a blob. */
  readonly local: boolean;
  /** Records in the index: those with every indexed field present. */
  readonly entries: number;
  /** Distinct values: live slots. */
  readonly groups: number;
  readonly tombstones: number;
  readonly slots: readonly Uint32Array[];
  readonly next: readonly Uint32Array[];
  readonly prev: readonly Uint32Array[];
}

/**
 * The page of links every ordinal without any takes (a value held by one record links
 * nothing), shared rather than stored: a blob leaves it out, and a transition copies it on
 * its first write like any other page.
 */
export const ZERO_PAGE = newPage(PAGE_SIZE, false);
const SHARED_ZERO_PAGE = newPage(PAGE_SIZE, true);
export const zeroPage = (shared: boolean) => (shared ? SHARED_ZERO_PAGE : ZERO_PAGE);
export const isZeroPage = (page: Uint32Array) => page === ZERO_PAGE || page === SHARED_ZERO_PAGE;

/** `flat` as pages, every page of zeros replaced by the shared one. */
function linkPages(flat: Uint32Array, shared: boolean): Uint32Array[] {
  return paged(flat).map((page) => {
    for (let i = 0; i < page.length; i++) if (page[i] !== 0) return page;
    return zeroPage(shared);
  });
}

/** Records in the group whose head is `head`: kept in the head's back link, 0 meaning 1. */
export const groupCount = (prev: readonly Uint32Array[], head: number): number => pageGet(prev, head) || 1;

/** The key hashing and matching of an index's fields over `columns`. */
export function indexKey(type: ObjectType, spec: IndexSpec, columns: readonly Column[]): PrimaryKey {
  return new PrimaryKey(type, columns, spec.fields, spec.fields.length > 1);
}

const flat = (n: number, shared: boolean) => newPage(n, shared);
const slotPagesFor = (groups: number) => Math.ceil(indexSizeFor(groups) / PAGE_SIZE);

/** Builds the index of every populated ordinal below `capacity`. */
export function buildHashIndex(
  type: ObjectType,
  spec: IndexSpec,
  columns: readonly Column[],
  populated: Uint32Array,
  capacity: number,
  shared: boolean,
  local: boolean,
): HashIndexParts {
  const key = indexKey(type, spec, columns);
  const links = pageCount(capacity) * PAGE_SIZE;
  const next = flat(links, shared);
  const prev = flat(links, shared);
  let m = PAGE_SIZE;
  let slots = new Uint32Array(m);
  let counts = new Uint32Array(m);
  let tails = new Uint32Array(m);
  let groups = 0;
  let entries = 0;
  const grow = () => {
    const m2 = m * 2;
    const s2 = new Uint32Array(m2);
    const c2 = new Uint32Array(m2);
    const t2 = new Uint32Array(m2);
    for (let s = 0; s < m; s++) {
      const v = slots[s]!;
      if (v === 0) continue;
      let j = slotOf(key.hashAt(v - 1), m2);
      while (s2[j] !== 0) if (++j === m2) j = 0;
      s2[j] = v;
      c2[j] = counts[s]!;
      t2[j] = tails[s]!;
    }
    m = m2;
    slots = s2;
    counts = c2;
    tails = t2;
  };
  for (let o = 0; o < capacity; o++) {
    if (!testBit(populated, o) || !key.presentAt(o)) continue;
    entries++;
    let s = slotOf(key.hashAt(o), m);
    for (;;) {
      const v = slots[s]!;
      if (v === 0) {
        slots[s] = o + 1;
        counts[s] = 1;
        tails[s] = o + 1;
        if (++groups * 4 > m * 3) grow();
        break;
      }
      if (key.equalAt(v - 1, o)) {
        const t = tails[s]!;
        next[t - 1] = o + 1;
        prev[o] = t;
        tails[s] = o + 1;
        counts[s]!++;
        break;
      }
      if (++s === m) s = 0;
    }
  }
  // The table is sized for its groups at the end, not for the growth on the way.
  const size = slotPagesFor(groups) * PAGE_SIZE;
  const outSlots = flat(size, shared);
  for (let s = 0; s < m; s++) {
    const v = slots[s]!;
    if (v === 0) continue;
    if (counts[s]! > 1) prev[v - 1] = counts[s]!;
    if (size === m) {
      outSlots[s] = v;
      continue;
    }
    let j = slotOf(key.hashAt(v - 1), size);
    while (outSlots[j] !== 0) if (++j === size) j = 0;
    outSlots[j] = v;
  }
  return {
    kind: 'hash',
    spec,
    local,
    entries,
    groups,
    tombstones: 0,
    slots: paged(outSlots),
    next: linkPages(next, shared),
    prev: linkPages(prev, shared),
  };
}

/** The records a transition removes and adds, and the states on either side. */
export interface IndexChange {
  readonly type: ObjectType;
  readonly prevColumns: readonly Column[];
  readonly columns: readonly Column[];
  readonly removed: readonly number[];
  readonly added: readonly number[];
  readonly populated: Uint32Array;
  readonly capacity: number;
  readonly shared: boolean;
  readonly prevCapacity: number;
  /** Layout.maxIndexPage. */
  readonly maxIndexPage: number;
  /** Whether an ordinal held a record in the previous state. */
  readonly wasPopulated: (o: number) => boolean;
}

/**
 * The next index: the removed records unlinked (matched with the previous columns), then the
 * added ones linked (with the next ones: a kept record's value is the same in both). Rebuilt
 * whole instead when the table would pass 7/8 full, or falls under 1/8 live.
 */
export function transitionHashIndex(prev: HashIndexParts, c: IndexChange): HashIndexParts {
  const rebuild = () =>
    buildHashIndex(c.type, prev.spec, c.columns, c.populated, c.capacity, c.shared, prev.local);
  const m = prev.slots.length * PAGE_SIZE;
  const slots = new CowPages(prev.slots, prev.slots.length, c.shared);
  const pages = Math.max(prev.next.length, pageCount(c.capacity));
  const grown = (links: readonly Uint32Array[]) => {
    const out = links.slice();
    while (out.length < pages) out.push(zeroPage(c.shared));
    return out;
  };
  const next = new CowPages(grown(prev.next), pages, c.shared);
  const back = new CowPages(grown(prev.prev), pages, c.shared);
  let { entries, groups, tombstones } = prev;
  // A group's head keeps its count in its back link (0 for 1); every other record keeps its
  // predecessor + 1 there.
  const setCount = (head: number, count: number) => back.set(head, count > 1 ? count : 0);

  // Ordinals the index holds are checked before they are read: from an untrusted snapshot,
  // one past the records (or past the links) makes the index built again rather than read.
  const prevLinks = prev.next.length * PAGE_SIZE;
  const prevKey = indexKey(c.type, prev.spec, c.prevColumns);
  for (const o of c.removed) {
    if (!prevKey.presentAt(o)) continue;
    let s = slotOf(prevKey.hashAt(o), m);
    let probes = 0;
    for (; probes < m; probes++) {
      const v = slots.get(s);
      if (v === 0 || (v !== TOMBSTONE && !c.wasPopulated(v - 1))) return rebuild();
      if (v !== TOMBSTONE && prevKey.equalAt(v - 1, o)) break;
      if (++s === m) s = 0;
    }
    if (probes === m) return rebuild();
    const head = slots.get(s) - 1;
    const count = back.get(head) || 1;
    const n = next.get(o);
    const p = o === head ? 0 : back.get(o);
    if (n > prevLinks || p > prevLinks || (o !== head && p === 0) || (count > 1 && o === head && n === 0))
      return rebuild();
    if (count === 1) {
      if (o !== head) return rebuild();
      slots.set(s, TOMBSTONE);
      groups--;
      tombstones++;
    } else if (o === head) {
      slots.set(s, n);
      setCount(n - 1, count - 1);
    } else {
      next.set(p - 1, n);
      if (n !== 0) back.set(n - 1, p);
      setCount(head, count - 1);
    }
    next.set(o, 0);
    back.set(o, 0);
    entries--;
  }

  const key = indexKey(c.type, prev.spec, c.columns);
  for (const o of c.added) {
    if (!key.presentAt(o)) continue;
    let s = slotOf(key.hashAt(o), m);
    let free = -1;
    let joined = false;
    for (let probes = 0; probes < m; probes++) {
      const v = slots.get(s);
      if (v === 0) {
        if (free < 0) free = s;
        break;
      }
      if (v === TOMBSTONE) {
        if (free < 0) free = s;
      } else if (v > c.capacity || !testBit(c.populated, v - 1)) {
        return rebuild();
      } else if (key.equalAt(v - 1, o)) {
        const count = back.get(v - 1) || 1;
        next.set(o, v);
        back.set(v - 1, o + 1);
        setCount(o, count + 1);
        slots.set(s, o + 1);
        joined = true;
        break;
      }
      if (++s === m) s = 0;
    }
    entries++;
    if (joined) continue;
    if (free < 0) return rebuild();
    const reused = slots.get(free) === TOMBSTONE;
    if (!reused && (groups + tombstones + 1) * 8 > m * 7) return rebuild();
    slots.set(free, o + 1);
    next.set(o, 0);
    back.set(o, 0);
    groups++;
    if (reused) tombstones--;
  }
  if (m > 4 * PAGE_SIZE && groups * 8 < m) return rebuild();
  const keep = pageCount(c.capacity);
  return {
    kind: 'hash',
    spec: prev.spec,
    local: prev.local,
    entries,
    groups,
    tombstones,
    slots: slots.pages,
    next: next.pages.slice(0, keep),
    prev: back.pages.slice(0, keep),
  };
}

/** `BLOB_CORRUPT`: an index read found an ordinal that holds no record. */
export function corruptIndex(spec: IndexSpec, o: number): never {
  throw new ShoalError(
    'BLOB_CORRUPT',
    `index ${spec.name} is corrupt: it lists ordinal ${o}, which holds no record. Load the version from a fresh snapshot (verify: true checks indexes whole).`,
  );
}

/** `BLOB_CORRUPT`: an index read found a record under a value (or in an order) it does not hold. */
export function misplacedInIndex(spec: IndexSpec, o: number): never {
  throw new ShoalError(
    'BLOB_CORRUPT',
    `index ${spec.name} is corrupt: it lists ordinal ${o} where its value does not belong. Load the version from a fresh snapshot (verify: true checks indexes whole).`,
  );
}

/** The slot of the value staged in `key`, or -1; records lie in `populated`, below `capacity`. */
export function findGroup(
  index: HashIndexParts,
  key: PrimaryKey,
  populated: Uint32Array,
  capacity: number,
): number {
  const m = index.slots.length * PAGE_SIZE;
  let s = slotOf(key.stagedHash(), m);
  for (let probes = 0; probes < m; probes++) {
    const v = pageGet(index.slots, s);
    if (v === 0) return -1;
    if (v !== TOMBSTONE && (v > capacity || !testBit(populated, v - 1))) corruptIndex(index.spec, v - 1);
    if (v !== TOMBSTONE && key.stagedEqualsAt(v - 1)) return s;
    if (++s === m) s = 0;
  }
  return -1;
}

/**
 * What is wrong with the index's structure, or undefined: every array has its pages, every
 * slot is empty, a tombstone or a populated ordinal, every link an ordinal below the capacity
 * (or a count), and the counts add up to the header's. Linear in the table and the capacity.
 * (That the groups hold the right records is {@link hashIndexMismatch}'s part.)
 */
export function hashIndexProblem(
  index: HashIndexParts,
  populated: Uint32Array,
  capacity: number,
  size: number,
): string | undefined {
  const links = pageCount(capacity);
  const full = (pages: readonly Uint32Array[]) => pages.every((p) => p.length === PAGE_SIZE);
  if (index.slots.length === 0) return 'its table has no pages';
  if (index.next.length !== links || index.prev.length !== links) return 'its links do not cover the records';
  if (!full(index.slots) || !full(index.next) || !full(index.prev)) return 'a page has the wrong length';
  if (index.entries > size) return 'it holds more records than the type';
  const limit = Math.max(capacity, 1) + 1;
  for (const pages of [index.next, index.prev])
    for (const page of pages)
      for (let i = 0; i < page.length; i++) if (page[i]! >= limit) return 'a link points past the records';
  let groups = 0;
  let dead = 0;
  let total = 0;
  const m = index.slots.length * PAGE_SIZE;
  for (let s = 0; s < m; s++) {
    const v = pageGet(index.slots, s);
    if (v === 0) continue;
    if (v === TOMBSTONE) {
      dead++;
      continue;
    }
    if (v - 1 >= capacity || !testBit(populated, v - 1)) return 'a slot points at no record';
    groups++;
    total += groupCount(index.prev, v - 1);
  }
  if (groups !== index.groups || dead !== index.tombstones || total !== index.entries)
    return 'its counts do not add up';
  if (groups + dead >= m) return 'its table is full';
  return undefined;
}

/**
 * What is wrong with the index's content, or undefined: each group holds records with its
 * value only, linked both ways, each record in one group, every record with its fields present
 * in one, and a lookup of a group's value finds that group.
 */
export function hashIndexMismatch(
  index: HashIndexParts,
  type: ObjectType,
  columns: readonly Column[],
  populated: Uint32Array,
  capacity: number,
): string | undefined {
  const key = indexKey(type, index.spec, columns);
  const seen = new Uint32Array(Math.ceil(capacity / 32));
  const m = index.slots.length * PAGE_SIZE;
  let listed = 0;
  for (let s = 0; s < m; s++) {
    const head = pageGet(index.slots, s);
    if (head === 0 || head === TOMBSTONE) continue;
    let j = slotOf(key.hashAt(head - 1), m);
    while (j !== s) {
      const v = pageGet(index.slots, j);
      if (v === 0 || (v !== TOMBSTONE && key.equalAt(v - 1, head - 1)))
        return 'a value is not found where it lies';
      if (++j === m) j = 0;
    }
    let o = head - 1;
    let before = 0;
    for (let k = groupCount(index.prev, head - 1); k > 0; k--) {
      if (!testBit(populated, o) || testBit(seen, o) || !key.presentAt(o) || !key.equalAt(head - 1, o))
        return `ordinal ${o} is in the wrong group`;
      if (before !== 0 && pageGet(index.prev, o) !== before) return `the links at ordinal ${o} disagree`;
      seen[o >>> 5]! |= 1 << (o & 31);
      listed++;
      before = o + 1;
      const n = pageGet(index.next, o);
      if (k === 1) {
        if (n !== 0) return 'a group is longer than its count';
      } else if (n === 0) return 'a group is shorter than its count';
      o = n - 1;
    }
  }
  let present = 0;
  for (let o = 0; o < capacity; o++) if (testBit(populated, o) && key.presentAt(o)) present++;
  if (present !== listed) return 'records are missing from it';
  return undefined;
}
