/**
 * Copies of records and keys as they are when handed over. The producer acknowledges a change
 * once it is logged, and logs it a moment later with its group: a caller that reuses or
 * mutates its object meanwhile (`r.id = i; upsert(r)` in a loop) must not change what was
 * acknowledged. So each field is read once, into a copy the validator then checks and the log
 * writes: lists and bytes are copied, json values deep-copied; strings, numbers and bigints are
 * immutable already.
 */
import { ShoalError } from '../errors.ts';
import type { FieldSpec, ObjectType } from './object-type.ts';

function copyValue(field: FieldSpec | undefined, value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (field?.kind === 'json') return structuredClone(value);
  if (value instanceof Uint8Array) return value.slice();
  if (Array.isArray(value)) return value.map((v) => (v instanceof Uint8Array ? v.slice() : v));
  return value;
}

/** A function copying records of `type` (every own field, declared or not, read once). */
export function createRecordCopier(type: ObjectType): (record: unknown) => unknown {
  const fields = new Map(type.fields.map((f) => [f.name, f]));
  return (record) => {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) return record;
    try {
      const copy: Record<string, unknown> = {};
      for (const name of Object.keys(record)) {
        copy[name] = copyValue(fields.get(name), (record as Record<string, unknown>)[name]);
      }
      return copy;
    } catch (cause) {
      throw new ShoalError(
        'INVALID_RECORD',
        `${type.name}: the record could not be copied (${(cause as Error)?.message ?? String(cause)}). Pass plain data: no functions, symbols or throwing getters.`,
        { cause },
      );
    }
  };
}

/** A function copying keys of `type` (a composite key's parts into a fresh object). */
export function createKeyCopier(type: ObjectType): (key: unknown) => unknown {
  if (!type.compositeKey) return (key) => key;
  return (key) => {
    if (typeof key !== 'object' || key === null) return key;
    try {
      const copy: Record<string, unknown> = {};
      for (const name of type.primaryKey) copy[name] = (key as Record<string, unknown>)[name];
      return copy;
    } catch (cause) {
      throw new ShoalError('INVALID_KEY', `${type.name}: the key could not be read. Pass plain data.`, {
        cause,
      });
    }
  };
}
