/**
 * Whether a stored record equals an input record, field by field, as the state would store
 * it (floats rounded to 32 bits, -0 and NaN by identity, json compared as msgpack bytes).
 * The builder uses it to keep an unchanged record at its ordinal.
 */
import { msgpack } from '../../format/msgpack.ts';
import type { FieldSpec, ObjectType } from '../../schema/index.ts';
import { isAbsent } from '../column/column-builder.ts';

function sameScalar(kind: string, stored: unknown, input: unknown): boolean {
  switch (kind) {
    case 'double':
      return Object.is(stored, input);
    case 'float':
      return Object.is(stored, Math.fround(input as number));
    case 'bytes': {
      const a = stored as Uint8Array;
      const b = input as Uint8Array;
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
      return true;
    }
    case 'json':
      return msgpack.pack(stored).equals(msgpack.pack(input));
    default:
      return stored === input;
  }
}

function sameField(field: FieldSpec, stored: unknown, input: unknown): boolean {
  if (isAbsent(field.kind, input)) return stored === undefined;
  if (stored === undefined) return false;
  if (field.kind !== 'list') return sameScalar(field.kind, stored, input);
  const a = stored as unknown[];
  const b = input as unknown[];
  if (a.length !== b.length) return false;
  const kind = field.element!.kind;
  for (let i = 0; i < a.length; i++) if (!sameScalar(kind, a[i], b[i])) return false;
  return true;
}

/** True when `view` (a record view of `type`) holds exactly `record`. */
export function recordEquals(
  type: ObjectType,
  view: Readonly<Record<string, unknown>>,
  record: Readonly<Record<string, unknown>>,
): boolean {
  for (const field of type.fields) {
    if (!sameField(field, view[field.name], record[field.name])) return false;
  }
  return true;
}
