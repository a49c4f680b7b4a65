/**
 * Copy-on-write pages of a Uint32 array, as index transitions write them: the next state
 * shares every page of the previous one until its first write to it, which copies that page
 * alone. So the cost of a change follows the pages it touches.
 */
import { PAGE_MASK, PAGE_SHIFT, PAGE_SIZE } from '../column/layout.ts';

/** A new zeroed page (on a SharedArrayBuffer when `shared`). */
export function newPage(length: number, shared: boolean): Uint32Array {
  return new Uint32Array(shared ? new SharedArrayBuffer(length * 4) : new ArrayBuffer(length * 4));
}

/** `flat` cut into views of PAGE_SIZE elements. */
export function paged(flat: Uint32Array): Uint32Array[] {
  const out: Uint32Array[] = [];
  for (let s = 0; s < flat.length; s += PAGE_SIZE) out.push(flat.subarray(s, s + PAGE_SIZE));
  return out;
}

/** Element `i` of pages of PAGE_SIZE. */
export const pageGet = (pages: readonly Uint32Array[], i: number): number =>
  pages[i >>> PAGE_SHIFT]![i & PAGE_MASK]!;

/** Pages of PAGE_SIZE being written: the previous pages, copied on first write. */
export class CowPages {
  readonly pages: Uint32Array[];
  private readonly owned: Uint8Array;

  /** `count` pages: the first of `prev`, then zeroed ones. */
  constructor(
    prev: readonly Uint32Array[],
    count: number,
    private readonly shared: boolean,
  ) {
    this.pages = prev.slice(0, count);
    this.owned = new Uint8Array(count);
    for (let p = this.pages.length; p < count; p++) {
      this.pages.push(newPage(PAGE_SIZE, shared));
      this.owned[p] = 1;
    }
  }

  get(i: number): number {
    return this.pages[i >>> PAGE_SHIFT]![i & PAGE_MASK]!;
  }

  set(i: number, v: number): void {
    const p = i >>> PAGE_SHIFT;
    if (this.owned[p] === 0) {
      // Writing what a page holds already copies nothing (clearing a link that is clear).
      if (this.pages[p]![i & PAGE_MASK] === v) return;
      const copy = newPage(PAGE_SIZE, this.shared);
      copy.set(this.pages[p]!);
      this.pages[p] = copy;
      this.owned[p] = 1;
    }
    this.pages[p]![i & PAGE_MASK] = v;
  }
}
