/**
 * The producer's check of a version's secondary indexes, at the cost of the change: per index,
 * every record the version added is where a lookup of its value looks, every record it removed
 * is linked nowhere, and the index holds as many records as the previous one minus those
 * removed plus those added. An index the previous version did not have (a schema change) is
 * checked whole.
 */
import { ShoalError } from '../../errors.ts';
import { PAGE_SIZE } from '../column/layout.ts';
import { pageGet } from '../index/cow-pages.ts';
import { type HashIndexParts, indexKey } from '../index/hash-index.ts';
import { slotOf, TOMBSTONE } from '../index/primary-key.ts';
import { type IndexParts, indexMismatch, sameIndex } from '../index/secondary-index.ts';
import { lowerBound, type SortedIndexParts, StringOrder } from '../index/sorted-index.ts';
import type { AnyState } from '../read/state.ts';
import { ordinalChanges } from '../read/state-diff.ts';
import type { TypeStateParts } from '../read/type-state.ts';

/** Throws `CHECKSUM_MISMATCH` when an index of `next` does not follow from `prev`'s. */
export function checkIndexChanges(prev: AnyState | undefined, next: AnyState): void {
  for (const t of next.types) {
    const parts = t.parts;
    const before = prev?.types.find((p) => p.name === t.name)?.parts;
    for (const index of parts.indexes ?? []) {
      if (index.local) continue;
      const old = before?.indexes?.find((i) => !i.local && sameIndex(i.spec, index.spec));
      const wrong =
        old && before
          ? changeMismatch(before, parts, old, index)
          : indexMismatch(index, parts.type, parts.columns, parts.populated, parts.capacity);
      if (wrong) {
        throw new ShoalError(
          'CHECKSUM_MISMATCH',
          `index ${index.spec.name} of ${t.name} at version ${next.version} does not hold its records (${wrong}); nothing was published.`,
        );
      }
    }
  }
}

function changeMismatch(
  before: TypeStateParts,
  after: TypeStateParts,
  old: IndexParts,
  index: IndexParts,
): string | undefined {
  const { removed, added } = ordinalChanges(before, after);
  const prevKey = indexKey(before.type, index.spec, before.columns);
  const key = indexKey(after.type, index.spec, after.columns);
  let expected = old.entries;
  for (const o of removed) if (prevKey.presentAt(o)) expected--;
  for (const o of added) if (key.presentAt(o)) expected++;
  if (index.entries !== expected) return `it holds ${index.entries} records, not ${expected}`;
  if (index.kind === 'hash') return hashChanges(index, after, removed, added);
  return sortedChanges(index, after, added);
}

function hashChanges(
  index: HashIndexParts,
  after: TypeStateParts,
  removed: readonly number[],
  added: readonly number[],
): string | undefined {
  const key = indexKey(after.type, index.spec, after.columns);
  const m = index.slots.length * PAGE_SIZE;
  const links = index.next.length * PAGE_SIZE;
  for (const o of removed) {
    if (o < links && (pageGet(index.next, o) !== 0 || pageGet(index.prev, o) !== 0))
      return `removed ordinal ${o} is still linked`;
  }
  for (const o of added) {
    if (!key.presentAt(o)) continue;
    let s = slotOf(key.hashAt(o), m);
    let head = -1;
    for (let probes = 0; probes < m; probes++) {
      const v = pageGet(index.slots, s);
      if (v === 0) break;
      if (v !== TOMBSTONE && key.equalAt(v - 1, o)) {
        head = v - 1;
        break;
      }
      if (++s === m) s = 0;
    }
    if (head < 0) return `a lookup of the value at ordinal ${o} finds nothing`;
    const p = pageGet(index.prev, o);
    const n = pageGet(index.next, o);
    // A head's back link is its group's count; any other record's, its predecessor + 1.
    const linked = head === o || (p !== 0 && pageGet(index.next, p - 1) === o + 1 && key.equalAt(p - 1, o));
    if (!linked || (n !== 0 && (pageGet(index.prev, n - 1) !== o + 1 || !key.equalAt(n - 1, o))))
      return `ordinal ${o} is not linked into its value's records`;
  }
  return undefined;
}

function sortedChanges(
  index: SortedIndexParts,
  after: TypeStateParts,
  added: readonly number[],
): string | undefined {
  const order = new StringOrder(after.type, index.spec, after.columns, after.capacity);
  for (const o of added) {
    if (!order.presentAt(o)) continue;
    const [p, i] = lowerBound(index.pages, (x) => order.compare(x, o) < 0);
    if (index.pages[p]?.[i] !== o) return `ordinal ${o} is not where its value sorts`;
  }
  return undefined;
}
