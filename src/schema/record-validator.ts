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

/** Deepest nesting of arrays and objects a json value may have. */
export const MAX_JSON_DEPTH = 64;
/** Largest json value, counted from its parts (strings by their length in code units). */
export const MAX_JSON_BYTES = 16 * 1024 * 1024;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * Why `value` is not a json value that reads back as written, or `undefined`. A json value is
 * stored as msgpack: null, booleans, numbers, well-formed strings, bigints in [-2^63, 2^64),
 * Uint8Arrays, arrays and plain objects, at most {@link MAX_JSON_DEPTH} deep, about
 * {@link MAX_JSON_BYTES} at most, with no cycle, no `__proto__` key (msgpack decoding renames
 * it), and no function, symbol, `undefined` in an array, or other class instance (Date, Map,
 * Set, … would read back as something else). `undefined` object properties are dropped, as
 * JSON drops them; -0 reads back as 0.
 */
export function jsonProblem(value: unknown): string | undefined {
  let bytes = 0;
  const open = new Set<object>();
  const walk = (v: unknown, depth: number): string | undefined => {
    switch (typeof v) {
      case 'number':
      case 'boolean':
        bytes += 9;
        return undefined;
      case 'string':
        bytes += 5 + v.length;
        return v.isWellFormed() ? undefined : 'well-formed strings (one has a lone surrogate)';
      case 'bigint':
        bytes += 9;
        return v >= LONG_MIN && v <= UINT64_MAX ? undefined : 'bigints within [-2^63, 2^64)';
      case 'undefined':
        return 'no undefined inside arrays (JSON would make it null)';
      case 'function':
        return 'no functions';
      case 'symbol':
        return 'no symbols';
    }
    if (v === null) {
      bytes += 1;
      return undefined;
    }
    const o = v as object;
    if (o instanceof Uint8Array) {
      bytes += 5 + o.byteLength;
      return undefined;
    }
    if (depth >= MAX_JSON_DEPTH) return `at most ${MAX_JSON_DEPTH} levels of nesting`;
    if (open.has(o)) return 'no cycles (a value contains itself)';
    const proto = Object.getPrototypeOf(o);
    const isArray = Array.isArray(o);
    if (!isArray && proto !== Object.prototype && proto !== null) {
      return `plain objects and arrays only (found a ${o.constructor?.name ?? 'class instance'})`;
    }
    open.add(o);
    bytes += 5;
    if (isArray) {
      for (const item of o as unknown[]) {
        const problem = walk(item, depth + 1);
        if (problem) return problem;
        if (bytes > MAX_JSON_BYTES) return `at most ${MAX_JSON_BYTES} bytes`;
      }
    } else {
      if (Object.hasOwn(o, '__proto__')) {
        return 'no "__proto__" key (msgpack decoding renames it, so it would not read back as written)';
      }
      if (Object.getOwnPropertySymbols(o).length > 0) return 'no symbol keys';
      for (const key of Object.keys(o)) {
        const item = (o as Record<string, unknown>)[key];
        if (item === undefined) continue;
        if (!key.isWellFormed()) return 'well-formed keys (one has a lone surrogate)';
        bytes += 5 + key.length;
        const problem = walk(item, depth + 1);
        if (problem) return problem;
        if (bytes > MAX_JSON_BYTES) return `at most ${MAX_JSON_BYTES} bytes`;
      }
    }
    open.delete(o);
    return undefined;
  };
  const problem = walk(value, 0);
  return problem && `a msgpack-encodable json value with ${problem}`;
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
      return typeof value === 'number' ? undefined : 'a number';
    case 'float':
      if (typeof value !== 'number') return 'a number';
      // Rounding to 32 bits is what a float means; turning a finite value into Infinity is not.
      return Number.isFinite(value) && !Number.isFinite(Math.fround(value))
        ? 'a number within the float range (|x| < 3.4028235e38; use t.double())'
        : undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'a boolean';
    case 'string':
      if (typeof value !== 'string') return 'a string';
      return value.isWellFormed() ? undefined : 'a well-formed string (it has a lone surrogate)';
    case 'bytes':
      return value instanceof Uint8Array ? undefined : 'a Uint8Array';
    case 'json':
      if (value === undefined) return 'a msgpack-encodable json value';
      return jsonProblem(value);
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
