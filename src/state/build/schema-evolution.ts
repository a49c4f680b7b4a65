/**
 * Moving a state to a compatible schema (schema/compatibility.ts): new types start empty, new
 * optional fields start absent, fields that became optional get a presence bitmap, dropped
 * optional fields go. Record hashes change with the fields, so the sums are recomputed: one
 * scan, once per schema change.
 */
import { assertCompatible, type Schema, toJSON } from '../../schema/index.ts';
import type { Column } from '../column/column.ts';
import { buildColumn } from '../column/column-builder.ts';
import { pageLength } from '../column/layout.ts';
import { reconcileIndexes } from '../index/secondary-index.ts';
import { sumRecords } from '../read/checksum.ts';
import type { TypeStateParts } from '../read/type-state.ts';
import { buildTypeState } from './type-state-builder.ts';

/** True when two schemas are the same (same JSON form). */
export function sameSchema(a: Schema, b: Schema): boolean {
  return a === b || JSON.stringify(toJSON(a)) === JSON.stringify(toJSON(b));
}

/** `prev`'s types moved to `schema`; `SCHEMA_INCOMPATIBLE` when it cannot follow `prevSchema`. */
export function evolveTypes(
  prevSchema: Schema,
  prev: readonly TypeStateParts[],
  schema: Schema,
): TypeStateParts[] {
  assertCompatible(prevSchema, schema);
  return schema.types.map((type) => {
    const old = prev.find((p) => p.type.name === type.name);
    if (!old) return buildTypeState(type, []);
    const columns = type.fields.map((spec): Column => {
      const col = old.columns.find((c) => c.spec.name === spec.name);
      if (!col) return buildColumn(spec, old.capacity, () => undefined);
      if (spec.optional && !col.present) {
        const present = col.parts[0]!.map((_, p) =>
          new Uint8Array((pageLength(old.capacity, p) + 7) >>> 3).fill(0xff),
        );
        return { ...col, spec, present };
      }
      return { ...col, spec };
    });
    const sums = sumRecords(type, columns, old.populated, old.capacity);
    const indexes = reconcileIndexes(type, old.indexes, columns, old.populated, old.capacity);
    return { ...old, type, columns, sums, indexes };
  });
}
