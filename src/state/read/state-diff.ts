/**
 * What changed between two states of one history, per type. Ordinals are stable, so a record
 * that stayed at its ordinal is unchanged; the rest is found by comparing the populated
 * bitsets word by word, which costs a scan of the bitsets (a bit per ordinal), not of records.
 */
import type { ObjectType } from '../../schema/index.ts';
import { recordEquals } from './record-equality.ts';
import type { AnyState } from './state.ts';
import type { TypeStateParts } from './type-state.ts';

/** Ordinals that left and ordinals that came, in one type. */
export interface OrdinalChanges {
  readonly removed: number[];
  readonly added: number[];
}

const NO_BITS = new Uint32Array(0);

/** Ordinals populated in `prev` but not `next`, and the other way round. */
export function ordinalChanges(
  prev: TypeStateParts | undefined,
  next: TypeStateParts | undefined,
): OrdinalChanges {
  const a = prev?.populated ?? NO_BITS;
  const b = next?.populated ?? NO_BITS;
  const removed: number[] = [];
  const added: number[] = [];
  if (a === b) return { removed, added };
  const words = Math.max(a.length, b.length);
  for (let w = 0; w < words; w++) {
    const x = a[w] ?? 0;
    const y = b[w] ?? 0;
    if (x === y) continue;
    let gone = x & ~y;
    while (gone !== 0) {
      const low = gone & -gone;
      removed.push(w * 32 + 31 - Math.clz32(low));
      gone ^= low;
    }
    let come = y & ~x;
    while (come !== 0) {
      const low = come & -come;
      added.push(w * 32 + 31 - Math.clz32(low));
      come ^= low;
    }
  }
  return { removed, added };
}

/** Keys (ordinals, for a type without a key) added, removed and modified in one type. */
export interface TypeDiff<K = unknown> {
  readonly added: K[];
  readonly removed: K[];
  readonly modified: K[];
}

function keyAt(type: ObjectType, view: (o: number) => Record<string, unknown>, o: number): unknown {
  if (type.primaryKey.length === 0) return o;
  const v = view(o);
  if (!type.compositeKey) return v[type.primaryKey[0]!];
  return Object.fromEntries(type.primaryKey.map((f) => [f, v[f]]));
}

/**
 * Per type of `next`'s schema: keys added, removed and modified from `prev` to `next` (two
 * states of one history, e.g. consecutive versions). A modified record is one whose key is
 * in both states at different ordinals with other values (a record compaction moved is not).
 */
export function diffStates(prev: AnyState, next: AnyState): Record<string, TypeDiff> {
  const out: Record<string, TypeDiff> = {};
  for (const nextType of next.types) {
    const name = nextType.name;
    const prevType = prev.schema.has(name) ? prev.type(name) : undefined;
    const { removed, added } = ordinalChanges(prevType?.parts, nextType.parts);
    const type = nextType.type;
    const identity = (k: unknown) =>
      typeof k === 'object' && k !== null
        ? JSON.stringify(k, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))
        : k;
    const removedKeys = new Map<unknown, unknown>();
    const removedOrdinal = new Map<unknown, number>();
    for (const o of removed) {
      const k = keyAt(type, (x) => prevType!.view(x) as unknown as Record<string, unknown>, o);
      const id = type.primaryKey.length === 0 ? `#${o}` : identity(k);
      removedKeys.set(id, k);
      removedOrdinal.set(id, o);
    }
    const diff: TypeDiff = { added: [], removed: [], modified: [] };
    for (const o of added) {
      const k = keyAt(type, (x) => nextType.view(x) as unknown as Record<string, unknown>, o);
      const id = type.primaryKey.length === 0 ? `+${o}` : identity(k);
      if (removedKeys.has(id)) {
        // A record compaction moved is at another ordinal and unchanged: no change at all.
        const before = removedOrdinal.get(id)!;
        const stored = prevType!.view(before) as unknown as Record<string, unknown>;
        if (!recordEquals(type, stored, nextType.view(o).toObject() as Record<string, unknown>))
          diff.modified.push(k);
        removedKeys.delete(id);
      } else {
        diff.added.push(k);
      }
    }
    diff.removed.push(...removedKeys.values());
    out[name] = diff;
  }
  return out;
}
