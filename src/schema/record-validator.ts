/**
 * Validation of a record against its object type. A validator is made once per type and run
 * on every record a builder takes in; a failure is an `INVALID_RECORD` error that names the
 * type, the record's key, the field, what was expected and what was found.
 */
import { ShoalError } from '../errors.ts';
import type { FieldKind } from './field-type.ts';
import { describeField, type FieldSpec, type ObjectType } from './object-type.ts';

/** Checks one record; throws `INVALID_RECORD` when it breaks the type. */
export type RecordValidator = (record: unknown) => void;

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** Whether a json value has an own `__proto__` key at any depth (checked 64 levels down). */
function hasProtoKey(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null || depth > 64 || ArrayBuffer.isView(value)) return false;
  if (Array.isArray(value)) return value.some((v) => hasProtoKey(v, depth + 1));
  if (value instanceof Map) {
    return value.has('__proto__') || [...value.values()].some((v) => hasProtoKey(v, depth + 1));
  }
  if (Object.hasOwn(value, '__proto__')) return true;
  for (const k in value) if (hasProtoKey((value as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/** Why `value` is not a valid value of `kind`, or `undefined` when it is. */
function scalarProblem(kind: FieldKind, bigint: boolean, value: unknown): string | undefined {
  switch (kind) {
    case 'int':
      return Number.isInteger(value) && (value as number) >= INT_MIN && (value as number) <= INT_MAX
        ? undefined
        : 'a 32-bit integer';
    case 'long':
      if (bigint) {
        return typeof value === 'bigint' && value >= LONG_MIN && value <= LONG_MAX
          ? undefined
          : 'a 64-bit bigint';
      }
      return Number.isSafeInteger(value)
        ? undefined
        : 'a safe integer (|n| < 2^53; use t.long({ bigint: true }))';
    case 'double':
    case 'float':
      return typeof value === 'number' ? undefined : 'a number';
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'a boolean';
    case 'string':
      if (typeof value !== 'string') return 'a string';
      return value.isWellFormed() ? undefined : 'a well-formed string (it has a lone surrogate)';
    case 'bytes':
      return value instanceof Uint8Array ? undefined : 'a Uint8Array';
    case 'json':
      if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
        return 'a msgpack-encodable value';
      }
      return hasProtoKey(value, 0)
        ? 'a value without a "__proto__" key (msgpack decoding renames it, so it would not read back as written)'
        : undefined;
    case 'list':
      return 'a scalar';
  }
}

function show(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `${value.constructor.name}(${value.length})`;
  if (Array.isArray(value)) return `array(${value.length})`;
  if (typeof value === 'bigint') return `${value}n (bigint)`;
  if (typeof value === 'string')
    return `${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} (string)`;
  if (typeof value === 'object') return 'object';
  return `${String(value)} (${typeof value})`;
}

/** `id=42` or `a=1, b="x"`, from whatever key fields the record has. */
export function describeKey(type: ObjectType, record: unknown): string {
  if (type.primaryKey.length === 0 || typeof record !== 'object' || record === null) return '';
  const r = record as Record<string, unknown>;
  return type.primaryKey
    .map((k) => `${k}=${typeof r[k] === 'string' ? JSON.stringify(r[k]) : String(r[k])}`)
    .join(', ');
}

/** The validator for records of `type`. */
export function createRecordValidator(type: ObjectType): RecordValidator {
  const fields = type.fields;
  const names = new Set(fields.map((f) => f.name));
  const fail = (record: unknown, field: FieldSpec | undefined, message: string): never => {
    const key = describeKey(type, record);
    const where = `${type.name}${key ? ` (${key})` : ''}${field ? `: field "${field.name}"` : ''}`;
    throw new ShoalError('INVALID_RECORD', `${where} ${message}. Fix the record, or change the schema.`);
  };
  return (record: unknown): void => {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      fail(record, undefined, `expected an object, got ${show(record)}`);
    }
    const r = record as Record<string, unknown>;
    for (const field of fields) {
      const value = r[field.name];
      if (value === undefined || (value === null && field.kind !== 'json')) {
        if (!field.optional) fail(record, field, `is required (${describeField(field)}) but absent`);
        continue;
      }
      if (field.kind === 'list') {
        if (!Array.isArray(value))
          fail(record, field, `expected ${describeField(field)}, got ${show(value)}`);
        const element = field.element!;
        const list = value as unknown[];
        for (let i = 0; i < list.length; i++) {
          const problem = scalarProblem(element.kind, element.bigint, list[i]);
          if (problem) fail(record, field, `element ${i}: expected ${problem}, got ${show(list[i])}`);
        }
        continue;
      }
      const problem = scalarProblem(field.kind, field.bigint, value);
      if (problem) fail(record, field, `expected ${problem}, got ${show(value)}`);
    }
    for (const name in r) {
      if (!names.has(name) && r[name] !== undefined) {
        fail(record, undefined, `has field "${name}", which the type does not declare`);
      }
    }
  };
}

/**
 * The validator of primary keys of `type` (a value, or an object of the key fields for a
 * composite key); throws `INVALID_KEY` for a type without a key or a key of the wrong shape.
 */
export function createKeyValidator(type: ObjectType): (key: unknown) => void {
  const keyFields = type.primaryKey.map((name) => type.fields.find((f) => f.name === name)!);
  const fail = (message: string): never => {
    throw new ShoalError('INVALID_KEY', `${type.name}: ${message}.`);
  };
  return (key: unknown): void => {
    if (keyFields.length === 0) fail('the type has no primary key, so records cannot be removed by key');
    if (!type.compositeKey) {
      const field = keyFields[0]!;
      const problem = scalarProblem(field.kind, field.bigint, key);
      if (problem) fail(`the key (${field.name}) must be ${problem}, got ${show(key)}`);
      return;
    }
    if (typeof key !== 'object' || key === null) {
      fail(`the key must be an object of ${type.primaryKey.join(', ')}, got ${show(key)}`);
    }
    for (const field of keyFields) {
      const value = (key as Record<string, unknown>)[field.name];
      const problem = scalarProblem(field.kind, field.bigint, value);
      if (problem) fail(`key field "${field.name}" must be ${problem}, got ${show(value)}`);
    }
  };
}
