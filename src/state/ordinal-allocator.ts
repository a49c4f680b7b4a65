/**
 * Where added records go. A free ordinal is one that holds no record and was not removed by
 * the change that made the previous state (Hollow's ghost rule: a reader still holding the
 * previous state may read it). Added records fill pages that are at least a quarter free,
 * emptiest first, then new ordinals at the end. So a change that touches every 100th record
 * (a modified record gets a new ordinal) rebuilds a few pages at the end rather than every
 * page, and holes are reclaimed once a page has enough of them to pay for its rebuild.
 */
import { PAGE_SHIFT, PAGE_SIZE, pageCount, pageLength, popcount, testBit } from './layout.ts';
import type { TypeStateParts } from './type-state.ts';

/** A page is refilled once this share of it is free. */
const REFILL_SHARE = 0.25;

/** `count` free ordinals for the next state of `prev`, ascending within each page. */
export function allocateOrdinals(prev: TypeStateParts, count: number): number[] {
  const out: number[] = [];
  if (count === 0) return out;
  const pages = pageCount(prev.capacity);
  const ghostsPerPage = new Map<number, number>();
  for (const g of prev.ghosts)
    ghostsPerPage.set(g >>> PAGE_SHIFT, (ghostsPerPage.get(g >>> PAGE_SHIFT) ?? 0) + 1);
  const candidates: { page: number; free: number }[] = [];
  for (let p = 0; p < pages; p++) {
    const length = pageLength(prev.capacity, p);
    if (length < PAGE_SIZE) continue;
    let used = 0;
    for (let w = p * (PAGE_SIZE >>> 5); w < (p + 1) * (PAGE_SIZE >>> 5); w++)
      used += popcount(prev.populated[w]!);
    const free = length - used - (ghostsPerPage.get(p) ?? 0);
    if (free >= PAGE_SIZE * REFILL_SHARE) candidates.push({ page: p, free });
  }
  candidates.sort((a, b) => b.free - a.free || a.page - b.page);
  const ghosts = new Set(prev.ghosts);
  for (const { page } of candidates) {
    for (let o = page * PAGE_SIZE; o < (page + 1) * PAGE_SIZE && out.length < count; o++) {
      if (!testBit(prev.populated, o) && !ghosts.has(o)) out.push(o);
    }
    if (out.length === count) return out;
  }
  for (let o = prev.capacity; out.length < count; o++) out.push(o);
  return out;
}
