/**
 * The next version of one type's state from a set of changes: ordinals removed, records added
 * at given ordinals, and the capacity. Used by the builder (changes it worked out) and by the
 * delta applier (changes a delta carries). The previous state is never written: the next one
 * shares its untouched pages, copies the populated bitset, copies the index shards it writes, and
 * updates the checksum sums by the removed and added records only.
 */
import { ShoalError } from '../../errors.ts';
import type { FieldSpec } from '../../schema/index.ts';
import type { Column } from '../column/column.ts';
import { toShared, transitionColumn, type Writes } from '../column/column-transition.ts';
import { DEFAULT_LAYOUT, type Layout, testBit } from '../column/layout.ts';
import { type KeyIndex, transitionKeyIndex } from '../index/key-index.ts';
import { PrimaryKey } from '../index/primary-key.ts';
import { transitionIndexes } from '../index/secondary-index.ts';
import { type Sums, sumOrdinals } from '../read/checksum.ts';
import type { TypeStateParts } from '../read/type-state.ts';

/** What changes in a type from one state to the next. */
export interface TypeChanges {
  /** Ordinals whose records go (each populated before). */
  readonly removed: readonly number[];
  /** Ordinals of the records that come (each free). */
  readonly added: readonly number[];
  /** The added records' values of one field, in the order of `added`. */
  readonly values: (field: FieldSpec) => readonly unknown[];
  /**
   * The same values as a column (a delta's chunk), when there is one: a column takes
   * dictionary codes and string bytes from it as stored, and asks `values` only otherwise.
   */
  readonly source?: (field: FieldSpec) => Column | undefined;
  /** The next capacity; by default the previous one, grown to fit the added ordinals. */
  readonly capacity?: number;
}

function mismatch(type: string, what: string): never {
  throw new ShoalError(
    'BLOB_CORRUPT',
    `the changes to ${type} do not fit the state they apply to: ${what}. Load the target version from a snapshot.`,
  );
}

function nextPopulated(
  prev: TypeStateParts,
  changes: TypeChanges,
  capacity: number,
  shared: boolean,
): Uint32Array {
  const name = prev.type.name;
  const words = Math.ceil(capacity / 32);
  const populated = new Uint32Array(shared ? new SharedArrayBuffer(words * 4) : new ArrayBuffer(words * 4));
  populated.set(prev.populated.subarray(0, Math.min(words, prev.populated.length)));
  // Past the next capacity (when it shrinks) removals are tracked apart from the bitset.
  const removedPast = new Set<number>();
  for (const o of changes.removed) {
    // Within the capacity the next bitset is tested, so an ordinal removed twice is caught too.
    const twice = o < words * 32 ? !testBit(populated, o) : removedPast.has(o);
    if (o >= prev.capacity || !testBit(prev.populated, o) || twice)
      mismatch(name, `ordinal ${o} is removed but holds no record (or is removed twice)`);
    if (o >= words * 32) removedPast.add(o);
    populated[o >>> 5]! &= ~(1 << (o & 31));
  }
  if (capacity < prev.capacity) {
    const gone = new Set(changes.removed);
    for (let o = capacity; o < prev.capacity; o++) {
      if (testBit(prev.populated, o) && !gone.has(o)) mismatch(name, `ordinal ${o} lies past the capacity`);
    }
    if (capacity & 31) populated[words - 1]! &= (1 << (capacity & 31)) - 1;
  }
  for (const o of changes.added) {
    if (o >= capacity || testBit(populated, o)) mismatch(name, `ordinal ${o} is added but is not free`);
    populated[o >>> 5]! |= 1 << (o & 31);
  }
  return populated;
}

/**
 * The next type state. `shared` places new arrays on SharedArrayBuffers; `layout` is for
 * tests (see `Layout`).
 */
export function transitionType(
  prev: TypeStateParts,
  changes: TypeChanges,
  shared = false,
  layout: Layout = DEFAULT_LAYOUT,
): TypeStateParts {
  const { type } = prev;
  const { added, removed } = changes;
  let capacity = changes.capacity ?? prev.capacity;
  if (changes.capacity === undefined) for (const o of added) if (o >= capacity) capacity = o + 1;
  const populated = nextPopulated(prev, changes, capacity, shared);

  const sums: Sums = { a: prev.sums.a, b: prev.sums.b };
  sumOrdinals(type, prev.columns, removed, sums, -1);
  const size = prev.size - removed.length + added.length;
  const live = (o: number) => testBit(populated, o);
  const columns = prev.columns.map((col) => {
    let values: readonly unknown[] | undefined;
    const writes: Writes = {
      ordinals: added,
      source: changes.source?.(col.spec),
      // Made only if the column asks for them.
      get values() {
        values ??= changes.values(col.spec);
        return values;
      },
    };
    return transitionColumn(col, prev.capacity, capacity, size, writes, live, shared, layout);
  });
  sumOrdinals(type, columns, added, sums, 1);

  let index: KeyIndex | undefined;
  let tombstones = 0;
  if (prev.index) {
    ({ index, tombstones } = transitionKeyIndex(prev.index, prev.tombstones, {
      prevKey: new PrimaryKey(type, prev.columns),
      key: new PrimaryKey(type, columns),
      removed,
      added,
      populated,
      capacity,
      size,
      shared,
      shardSlots: layout.keyShard,
      missing: (o) => mismatch(type.name, `ordinal ${o} is not in the index`),
    }));
  }
  const indexes = transitionIndexes(prev.indexes, {
    type,
    prevColumns: prev.columns,
    columns,
    removed,
    added,
    populated,
    capacity,
    shared,
    prevCapacity: prev.capacity,
    maxIndexPage: layout.maxIndexPage,
    wasPopulated: (o) => o < prev.capacity && testBit(prev.populated, o),
  });
  // Compaction may shrink the capacity below removed ordinals: those are simply gone.
  const ghosts = Uint32Array.from(
    capacity < prev.capacity ? removed.filter((o) => o < capacity) : removed,
  ).sort();
  return {
    type,
    capacity,
    size,
    columns,
    populated,
    index,
    tombstones,
    sums,
    ghosts: shared ? toShared(ghosts) : ghosts,
    indexes,
  };
}
