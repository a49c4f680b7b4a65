/**
 * A type's state built whole from records, at ordinals 0..n-1 in the order given.
 */
import type { ObjectType } from '../../schema/index.ts';
import { buildColumn } from '../column/column-builder.ts';
import { DEFAULT_LAYOUT, type Layout } from '../column/layout.ts';
import { buildKeyIndex } from '../index/key-index.ts';
import { PrimaryKey } from '../index/primary-key.ts';
import { reconcileIndexes } from '../index/secondary-index.ts';
import { sumRecords } from '../read/checksum.ts';
import type { TypeStateParts } from '../read/type-state.ts';

/** The parts of a type state holding `records` at ordinals 0..n-1. */
export function buildTypeState(
  type: ObjectType,
  records: readonly Readonly<Record<string, unknown>>[],
  layout: Layout = DEFAULT_LAYOUT,
): TypeStateParts {
  const capacity = records.length;
  const columns = type.fields.map((spec) =>
    buildColumn(spec, capacity, (o) => records[o]![spec.name], layout),
  );
  const populated = new Uint32Array(Math.ceil(capacity / 32)).fill(0xffffffff);
  if (capacity & 31) populated[populated.length - 1] = (1 << (capacity & 31)) - 1;
  const index =
    type.primaryKey.length > 0
      ? buildKeyIndex(new PrimaryKey(type, columns), populated, capacity, capacity, layout.keyShard)
      : undefined;
  const sums = sumRecords(type, columns, populated, capacity);
  return {
    type,
    capacity,
    size: capacity,
    columns,
    populated,
    index,
    tombstones: 0,
    sums,
    ghosts: new Uint32Array(0),
    indexes: reconcileIndexes(type, undefined, columns, populated, capacity, layout.maxIndexPage >>> 1),
  };
}
