/**
 * Compatibility between two schemas: can states of `next` follow states of `prev` in one
 * namespace, read by consumers that know either? Adding a type or an optional field is
 * compatible, as is making a required field optional or dropping an optional one. Changing a
 * kind, dropping a type or a required field, adding a required field, or changing a primary
 * key is not.
 */
import { ShoalError } from '../errors.ts';
import { describeField } from './object-type.ts';
import type { Schema } from './schema.ts';

/** One reason two schemas are not compatible. */
export interface SchemaIncompatibility {
  readonly type: string;
  readonly field?: string;
  readonly reason: string;
}

/** Every reason `next` cannot follow `prev`; empty when it can. */
export function schemaIncompatibilities(prev: Schema, next: Schema): SchemaIncompatibility[] {
  const out: SchemaIncompatibility[] = [];
  for (const before of prev.types) {
    if (!next.has(before.name)) {
      out.push({ type: before.name, reason: 'the type was removed' });
      continue;
    }
    const after = next.type(before.name);
    if (
      before.primaryKey.join(',') !== after.primaryKey.join(',') ||
      before.compositeKey !== after.compositeKey
    ) {
      out.push({
        type: before.name,
        reason: `the primary key changed from [${before.primaryKey}] to [${after.primaryKey}]`,
      });
    }
    for (const f of before.fields) {
      const g = after.field(f.name);
      if (!g) {
        if (!f.optional)
          out.push({ type: before.name, field: f.name, reason: 'a required field was removed' });
        continue;
      }
      if (
        f.kind !== g.kind ||
        f.bigint !== g.bigint ||
        f.element?.kind !== g.element?.kind ||
        f.element?.bigint !== g.element?.bigint
      ) {
        out.push({
          type: before.name,
          field: f.name,
          reason: `the kind changed from ${describeField(f)} to ${describeField(g)}`,
        });
      } else if (f.optional && !g.optional) {
        out.push({ type: before.name, field: f.name, reason: 'an optional field became required' });
      }
    }
    for (const g of after.fields) {
      if (!before.field(g.name) && !g.optional) {
        out.push({
          type: before.name,
          field: g.name,
          reason: 'a required field was added (add it as optional)',
        });
      }
    }
  }
  return out;
}

/** Throws `SCHEMA_INCOMPATIBLE` unless `next` can follow `prev`. */
export function assertCompatible(prev: Schema, next: Schema): void {
  const problems = schemaIncompatibilities(prev, next);
  if (problems.length === 0) return;
  const list = problems.map((p) => `${p.type}${p.field ? `.${p.field}` : ''}: ${p.reason}`).join('; ');
  throw new ShoalError(
    'SCHEMA_INCOMPATIBLE',
    `the new schema is not compatible with the previous one (${list}). Publish it under a new namespace, or make the change compatible (new types and new optional fields are).`,
  );
}
