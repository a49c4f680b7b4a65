/**
 * Where added records go, and which records compaction moves. A free ordinal is one that holds
 * no record and was not removed by the change that made the previous state (Hollow's ghost
 * rule: a reader still holding the previous state may read it).
 *
 * Added records fill pages that are at least a quarter free, emptiest first, then new ordinals
 * at the end. So a change that touches every 100th record (a modified record gets a new
 * ordinal) rebuilds a few pages at the end rather than every page, and holes are reclaimed
 * once a page has enough of them to pay for its rebuild.
 *
 * That alone leaves a long-lived state with pages between three quarters full and full (about
 * 12% of its ordinals empty), and a state whose records are removed faster than added grows
 * ever sparser. So, with compaction (`compactAbove`), pages are refilled sooner (once the
 * threshold's share of them is free, when that is under a quarter: pages then average about
 * half the threshold, so compaction need not run at a constant count), and when the next state's sparseness
 * (empty ordinals over its capacity) would pass the threshold, the records at the top of the
 * ordinal range move down into holes, emptiest pages first, and the capacity shrinks, until
 * the sparseness is half the threshold. A move is a removal plus an addition of the same
 * record, so it costs a delta what an added record costs: at most MOVE_SHARE of a type's
 * records (and at least a page) move per cycle, so compaction spreads over cycles.
 */
import { PAGE_SHIFT, PAGE_SIZE, pageCount, pageLength, popcount, testBit } from '../column/layout.ts';
import type { TypeStateParts } from '../read/type-state.ts';

/** A page is refilled once this share of it is free. */
const REFILL_SHARE = 0.25;

/** Most records compaction moves in one cycle, as a share of the type's records. */
export const MOVE_SHARE = 0.01;

/** Where the next state's records go: added ones, and those compaction moves. */
export interface OrdinalPlan {
  /** Ordinals of the added records, in the order given. */
  readonly added: number[];
  /** Ordinals of the records compaction moves (each populated and not removed), ascending. */
  readonly moved: number[];
  /** Where each of `moved` goes. */
  readonly movedTo: number[];
  /** The next capacity when compaction shrinks it; otherwise undefined (grown to fit). */
  readonly capacity: number | undefined;
}

/** Free ordinals per page within [0, end): `free[p]`. */
function freePerPage(prev: TypeStateParts, ghosts: Uint8Array, end: number): Int32Array {
  const pages = pageCount(end);
  const free = new Int32Array(pages);
  for (let p = 0; p < pages; p++) {
    const length = pageLength(end, p);
    let used = 0;
    const first = p * (PAGE_SIZE >>> 5);
    const words = (length + 31) >>> 5;
    for (let w = first; w < first + words; w++) used += popcount(prev.populated[w] ?? 0);
    // The last page may be cut inside a word: count its bits past `end` back out.
    for (let o = end; o < Math.min((first + words) * 32, prev.capacity); o++)
      if (testBit(prev.populated, o)) used--;
    free[p] = length - used;
  }
  for (let g = 0; g < prev.ghosts.length; g++) {
    const o = prev.ghosts[g]!;
    if (o < end && ghosts[o] === 1) free[o >>> PAGE_SHIFT]!--;
  }
  return free;
}

/** Free ordinals of pages with at least `minFree` free within [0, end), emptiest page first. */
function takeFree(
  prev: TypeStateParts,
  ghosts: Uint8Array,
  end: number,
  count: number,
  minFree: number,
  out: number[],
): void {
  if (count === 0) return;
  const free = freePerPage(prev, ghosts, end);
  const candidates: number[] = [];
  for (let p = 0; p < free.length; p++) if (free[p]! > 0 && free[p]! >= minFree) candidates.push(p);
  candidates.sort((a, b) => free[b]! - free[a]! || a - b);
  const want = out.length + count;
  for (const page of candidates) {
    const last = Math.min((page + 1) * PAGE_SIZE, end);
    for (let o = page * PAGE_SIZE; o < last && out.length < want; o++) {
      if (!testBit(prev.populated, o) && ghosts[o] !== 1) out.push(o);
    }
    if (out.length === want) return;
  }
}

function ghostMarks(prev: TypeStateParts): Uint8Array {
  const marks = new Uint8Array(prev.capacity);
  for (const g of prev.ghosts) if (g < prev.capacity) marks[g] = 1;
  return marks;
}

/** `count` free ordinals for the next state of `prev`, pages refilled at `share` free. */
function allocate(prev: TypeStateParts, ghosts: Uint8Array, count: number, share: number): number[] {
  const out: number[] = [];
  // Only full pages are refilled: a short last page grows at the end anyway.
  const full = prev.capacity - (prev.capacity % PAGE_SIZE);
  takeFree(prev, ghosts, full, count, Math.max(1, Math.ceil(PAGE_SIZE * share)), out);
  for (let o = prev.capacity; out.length < count; o++) out.push(o);
  return out;
}

/** `count` free ordinals for the next state of `prev` (no compaction), ascending within each page. */
export function allocateOrdinals(prev: TypeStateParts, count: number): number[] {
  return count === 0 ? [] : allocate(prev, ghostMarks(prev), count, REFILL_SHARE);
}

/**
 * Ordinals for the next state of `prev`, which loses the records at `removed` and gains
 * `count` records, compacted when its sparseness would pass `compactAbove` (1 or more: never).
 */
export function planOrdinals(
  prev: TypeStateParts,
  removed: readonly number[],
  count: number,
  compactAbove: number,
): OrdinalPlan {
  const none: OrdinalPlan = { added: [], moved: [], movedTo: [], capacity: undefined };
  if (compactAbove >= 1) return count === 0 ? none : { ...none, added: allocateOrdinals(prev, count) };
  const ghosts = ghostMarks(prev);
  const size = prev.size - removed.length + count;
  const share = Math.min(REFILL_SHARE, compactAbove);
  const added = count === 0 ? [] : allocate(prev, ghosts, count, share);
  let capacity = prev.capacity;
  for (const o of added) if (o >= capacity) capacity = o + 1;
  if (capacity === 0 || (capacity - size) / capacity <= compactAbove) return { ...none, added };

  // Compaction: shrink the capacity from the top while the holes below it can take the added
  // records and those the shrinking leaves above it, within the budget of moves.
  const gone = new Uint8Array(prev.capacity);
  for (const o of removed) gone[o] = 1;
  const goal = Math.ceil(size / (1 - compactAbove / 2));
  const budget = Math.max(PAGE_SIZE, Math.ceil(size * MOVE_SHARE));
  let freeBelow = 0;
  for (let o = 0; o < prev.capacity; o++) if (!testBit(prev.populated, o) && ghosts[o] !== 1) freeBelow++;
  let end = prev.capacity;
  let moves = 0;
  while (end > goal) {
    const o = end - 1;
    const live = testBit(prev.populated, o) && gone[o] !== 1;
    const m = live ? moves + 1 : moves;
    const f = !live && !testBit(prev.populated, o) && ghosts[o] !== 1 ? freeBelow - 1 : freeBelow;
    // A reverse delta may grow the capacity back by at most the records it adds and removes
    // plus a page (delta.ts bounds it so): those this one removes or moves, and adds or moves.
    if (m > budget || f < count + m || prev.capacity - o > 2 * m + removed.length + count + PAGE_SIZE) break;
    moves = m;
    freeBelow = f;
    end = o;
  }
  const slots: number[] = [];
  takeFree(prev, ghosts, end, count + moves, 1, slots);
  for (let o = prev.capacity; slots.length < count + moves; o++) slots.push(o);
  const moved: number[] = [];
  for (let o = end; o < prev.capacity; o++) if (testBit(prev.populated, o) && gone[o] !== 1) moved.push(o);
  return {
    added: slots.slice(0, count),
    moved,
    movedTo: slots.slice(count),
    capacity: end < prev.capacity ? end : undefined,
  };
}
