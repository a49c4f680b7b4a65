/**
 * The JSON form of a schema: what snapshot headers carry and what the CLI reads from a file.
 * `fromJSON(toJSON(s))` gives a schema equal to `s` (same types, fields, order and keys).
 */
import { ShoalError } from '../errors.ts';
import { FieldType, type ScalarKind } from './field-type.ts';
import { type FieldMap, ObjectType } from './object-type.ts';
import { Schema } from './schema.ts';

/** Format marker of the JSON form. */
export const SCHEMA_JSON_FORMAT = 'shoal.schema/1';

/** One field in JSON form. */
export interface FieldJson {
  readonly name: string;
  readonly kind: string;
  readonly optional?: boolean;
  readonly bigint?: boolean;
  readonly element?: { readonly kind: string; readonly bigint?: boolean };
}

/** One type in JSON form. `primaryKey` is a string for a one-field key, a list for a composite key. */
export interface TypeJson {
  readonly name: string;
  readonly primaryKey?: string | readonly string[];
  readonly fields: readonly FieldJson[];
  /** Secondary indexes by name: a list of fields, or `{ fields, prefix: true }`. */
  readonly indexes?: {
    readonly [name: string]: readonly string[] | { fields: readonly string[]; prefix: true };
  };
}

/** A schema in JSON form. */
export interface SchemaJson {
  readonly format: typeof SCHEMA_JSON_FORMAT;
  readonly types: readonly TypeJson[];
}

/** The JSON form of a schema. */
export function toJSON(schema: Schema): SchemaJson {
  return {
    format: SCHEMA_JSON_FORMAT,
    types: schema.types.map((type) => {
      const fields = type.fields.map((f): FieldJson => {
        const out: { -readonly [K in keyof FieldJson]: FieldJson[K] } = { name: f.name, kind: f.kind };
        if (f.optional) out.optional = true;
        if (f.bigint) out.bigint = true;
        if (f.element)
          out.element = f.element.bigint ? { kind: f.element.kind, bigint: true } : { kind: f.element.kind };
        return out;
      });
      const out: { -readonly [K in keyof TypeJson]?: TypeJson[K] } = { name: type.name };
      if (type.primaryKey.length > 0)
        out.primaryKey = type.compositeKey ? [...type.primaryKey] : (type.primaryKey[0] as string);
      out.fields = fields;
      if (type.indexes.length > 0) {
        out.indexes = Object.fromEntries(
          type.indexes.map((i) => [
            i.name,
            i.prefix ? { fields: [...i.fields], prefix: true as const } : [...i.fields],
          ]),
        );
      }
      return out as TypeJson;
    }),
  };
}

const SCALARS: ReadonlySet<string> = new Set([
  'int',
  'long',
  'double',
  'float',
  'boolean',
  'string',
  'bytes',
  'json',
]);

function invalid(where: string, what: string): never {
  throw new ShoalError('INVALID_SCHEMA', `schema JSON${where ? ` ${where}` : ''}: ${what}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The keys each level of the JSON form may hold. */
const KNOWN_KEYS = {
  schema: ['format', 'types'],
  type: ['name', 'primaryKey', 'fields', 'indexes'],
  index: ['fields', 'prefix'],
  field: ['name', 'kind', 'optional', 'bigint', 'element'],
  element: ['kind', 'bigint'],
} as const;

/** Edit distance between two short strings (insertions, deletions, substitutions, swaps). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Refuses a key the JSON form does not define: a misspelt `"optinal": true` would otherwise be
 * ignored and the field silently made required.
 */
function refuseUnknownKeys(object: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const lower = key.toLowerCase();
    const [nearest] = known
      .map((k) => ({ k, d: distance(lower, k.toLowerCase()) }))
      .filter(({ k, d }) => d <= Math.max(1, Math.floor(k.length / 3)))
      .sort((x, y) => x.d - y.d);
    const hint = nearest ? ` (did you mean "${nearest.k}"?)` : '';
    invalid(where, `unknown key ${JSON.stringify(key)}${hint}. Known keys here: ${known.join(', ')}.`);
  }
}

function scalarType(kind: unknown, bigint: unknown, where: string): FieldType<unknown, false> {
  if (typeof kind !== 'string' || !SCALARS.has(kind)) {
    invalid(where, `kind ${JSON.stringify(kind)} is not one of ${[...SCALARS, 'list'].join(', ')}`);
  }
  if (bigint !== undefined && typeof bigint !== 'boolean') invalid(where, '"bigint" must be a boolean');
  if (bigint === true && kind !== 'long') invalid(where, '"bigint" applies to long fields only');
  return new FieldType(kind as ScalarKind, false, undefined, bigint === true);
}

/** Parse and validate the JSON form of a schema (an object, or a JSON string). */
export function fromJSON(json: unknown): Schema {
  const doc = typeof json === 'string' ? parseText(json) : json;
  if (!isRecord(doc)) invalid('', 'expected an object with "format" and "types"');
  refuseUnknownKeys(doc, KNOWN_KEYS.schema, '');
  if (doc.format !== SCHEMA_JSON_FORMAT) {
    invalid('', `"format" must be "${SCHEMA_JSON_FORMAT}", got ${JSON.stringify(doc.format)}`);
  }
  if (!Array.isArray(doc.types)) invalid('', '"types" must be a list');
  const types = doc.types.map((raw: unknown, i: number) => {
    const where = `types[${i}]`;
    if (!isRecord(raw)) invalid(where, 'expected an object');
    if (typeof raw.name !== 'string') invalid(where, '"name" must be a string');
    const typeWhere = `${where} (${JSON.stringify(raw.name)})`;
    refuseUnknownKeys(raw, KNOWN_KEYS.type, typeWhere);
    if (!Array.isArray(raw.fields)) invalid(typeWhere, '"fields" must be a list');
    // A Map, not an object literal: `shape["__proto__"] = ...` would set the prototype and drop
    // the field without a word; Object.fromEntries makes it an own key, which ObjectType refuses.
    const shape = new Map<string, FieldType>();
    raw.fields.forEach((f: unknown, j: number) => {
      if (!isRecord(f) || typeof f.name !== 'string') {
        invalid(`${typeWhere}.fields[${j}]`, 'expected an object with a string "name"');
      }
      const fw = `${typeWhere}.fields[${j}] (${JSON.stringify(f.name)})`;
      refuseUnknownKeys(f, KNOWN_KEYS.field, fw);
      if (f.element !== undefined && f.kind !== 'list') invalid(fw, '"element" applies to list fields only');
      if (shape.has(f.name)) invalid(fw, `field "${f.name}" is declared twice`);
      let type: FieldType =
        f.kind === 'list' ? listOf(f.element, `${fw}.element`) : scalarType(f.kind, f.bigint, fw);
      if (f.optional !== undefined && typeof f.optional !== 'boolean')
        invalid(fw, '"optional" must be a boolean');
      if (f.optional === true) type = type.optional();
      shape.set(f.name, type);
    });
    const pk = raw.primaryKey;
    if (
      pk !== undefined &&
      typeof pk !== 'string' &&
      !(Array.isArray(pk) && pk.every((k) => typeof k === 'string'))
    ) {
      invalid(typeWhere, '"primaryKey" must be a field name or a list of field names');
    }
    const indexes = raw.indexes;
    if (indexes !== undefined && !isRecord(indexes))
      invalid(where, '"indexes" must be an object of index name to a list of fields or { fields, prefix }');
    for (const [name, spec] of Object.entries(indexes ?? {})) {
      if (isRecord(spec))
        refuseUnknownKeys(spec, KNOWN_KEYS.index, `${typeWhere}.indexes[${JSON.stringify(name)}]`);
    }
    return new ObjectType(
      raw.name,
      Object.fromEntries(shape) as FieldMap,
      pk as string | string[] | undefined,
      indexes as Record<string, string[]> | undefined,
    );
  });
  return new Schema(types);
}

function listOf(element: unknown, where: string): FieldType {
  if (!isRecord(element)) invalid(where, 'a list field needs an "element" object with a "kind"');
  refuseUnknownKeys(element, KNOWN_KEYS.element, where);
  return new FieldType('list', false, scalarType(element.kind, element.bigint, where));
}

function parseText(text: string): unknown {
  try {
    // A byte-order mark, as some editors write one, is not part of the JSON.
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (cause) {
    // JSON.parse quotes the text around the fault, newlines and all: one line is what a CLI prints.
    const reason = (cause as Error).message.replace(/\s+/g, ' ');
    throw new ShoalError('INVALID_SCHEMA', `schema JSON is not valid JSON: ${reason}`, {
      cause,
    });
  }
}
