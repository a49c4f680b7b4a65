/**
 * Object types: a named set of fields with an optional primary key. `ObjectType` keeps the
 * declared field types for inference and a flat `fields` list (declaration order) that every
 * other layer walks; that order is the column order of the format.
 */
import { ShoalError } from '../errors.ts';
import { type FieldKind, type FieldType, KEY_KINDS } from './field-type.ts';

/** The fields of an object type, by name. */
export type FieldMap = { readonly [name: string]: FieldType<unknown, boolean> };

/** One field, flattened: what the format and the validators work from. */
export interface FieldSpec {
  readonly name: string;
  readonly index: number;
  readonly kind: FieldKind;
  readonly optional: boolean;
  /** `long` stored and read as `bigint`. */
  readonly bigint: boolean;
  /** Element of a list. */
  readonly element: { readonly kind: FieldKind; readonly bigint: boolean } | undefined;
}

/** Options of {@link object}. */
export interface ObjectTypeOptions<K extends string> {
  /**
   * The primary key: one field name (`get(value)`) or several (`get({ a, b })`).
   * Key fields must be required `int`, `long` or `string` fields.
   * @default none: records are reached by iteration only
   */
  readonly primaryKey?: K | readonly K[];
  /**
   * Secondary indexes, by name: a list of fields (`find(value)`, or `find({ a, b })` for
   * several), or `{ fields, prefix: true }` on one string field for an index sorted by the
   * string's bytes (`findPrefix`). Index fields are `int`, `long`, `string` or `boolean`,
   * required or optional; a record with an indexed field absent is not in the index.
   * @default none
   */
  readonly indexes?: { readonly [name: string]: IndexDeclaration<K> };
}

/** How an index is declared: its fields, or its fields and whether it is a prefix index. */
export type IndexDeclaration<K extends string = string> =
  | readonly K[]
  | { readonly fields: readonly K[]; readonly prefix?: boolean };

/** A secondary index, as every other layer reads it. */
export interface IndexSpec {
  readonly name: string;
  readonly fields: readonly string[];
  /** Sorted by the bytes of its one string field (prefix queries), rather than hashed. */
  readonly prefix: boolean;
}

/** Kinds a secondary index may cover. */
const INDEX_KINDS: ReadonlySet<string> = new Set(['int', 'long', 'string', 'boolean']);

export function indexSpecs(
  typeName: string,
  fields: readonly FieldSpec[],
  declared: { readonly [name: string]: IndexDeclaration } | undefined,
): readonly IndexSpec[] {
  if (declared === undefined) return [];
  const bad = (what: string): never => {
    throw new ShoalError('INVALID_SCHEMA', `${typeName}: ${what}`);
  };
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared))
    bad('indexes must be an object of index name to fields');
  return Object.entries(declared).map(([name, d]): IndexSpec => {
    if (!NAME.test(name))
      bad(`index name "${name}" is not valid: start with a letter or _, then use letters, digits and _`);
    // An object literal (and the JSON form read back into one) cannot hold this name as a key.
    if (name === '__proto__') bad('index name "__proto__" is reserved; choose another');
    if (!Array.isArray(d) && typeof d === 'object' && d !== null) {
      // A misspelt `prefx: true` would otherwise make a hash index without a word.
      const unknown = Object.keys(d).find((k) => k !== 'fields' && k !== 'prefix');
      if (unknown !== undefined)
        bad(`index ${name} has an unknown key ${JSON.stringify(unknown)}; an index takes fields and prefix`);
    }
    const list: unknown = Array.isArray(d) ? d : (d as { fields?: unknown })?.fields;
    const prefix = !Array.isArray(d) && (d as { prefix?: unknown })?.prefix;
    if (!Array.isArray(list) || list.length === 0 || !list.every((f) => typeof f === 'string'))
      bad(`index ${name} needs a non-empty list of field names (or { fields, prefix })`);
    if (prefix !== undefined && prefix !== false && prefix !== true)
      bad(`index ${name}: prefix must be a boolean`);
    const names = list as string[];
    if (new Set(names).size !== names.length) bad(`index ${name} names a field twice`);
    for (const f of names) {
      const field = fields.find((x) => x.name === f);
      if (!field) bad(`index ${name} names "${f}", which is not a field of the type`);
      if (!INDEX_KINDS.has(field!.kind))
        bad(
          `index ${name}: field "${f}" is ${describeField(field!)}; indexes cover int, long, string and boolean fields`,
        );
      if (prefix === true && field!.kind !== 'string')
        bad(`index ${name} is a prefix index, so its field must be a string, not ${describeField(field!)}`);
    }
    if (prefix === true && names.length !== 1)
      bad(`index ${name} is a prefix index: give it exactly one field`);
    return Object.freeze({ name, fields: Object.freeze([...names]), prefix: prefix === true });
  });
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names record views use for their own methods. */
const RESERVED: ReadonlySet<string> = new Set(['toObject', 'toJSON', 'constructor', '__proto__']);
/**
 * Names every object inherits (`toString`, `valueOf`, …): a record that leaves such a field
 * out would still seem to hold it, so they cannot be field names.
 */
const INHERITED: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/** A named record type. Create with `t.object(...)`. */
export class ObjectType<
  Name extends string = string,
  F extends FieldMap = FieldMap,
  PK extends string | readonly string[] | undefined = string | readonly string[] | undefined,
> {
  /** Phantom: the primary-key declaration, for key inference. */
  declare readonly _primaryKey: PK;
  readonly name: Name;
  readonly shape: F;
  readonly fields: readonly FieldSpec[];
  /** Key field names in key order; empty when the type has no primary key. */
  readonly primaryKey: readonly string[];
  /** True when the key was declared as a list: lookups take an object. */
  readonly compositeKey: boolean;
  /** Secondary indexes, in declaration order. */
  readonly indexes: readonly IndexSpec[];

  constructor(name: Name, shape: F, primaryKey: PK, indexes?: { readonly [name: string]: IndexDeclaration }) {
    if (!NAME.test(name)) {
      throw new ShoalError('INVALID_SCHEMA', `type name "${name}" is not valid: use letters, digits and _`);
    }
    const fields: FieldSpec[] = [];
    for (const [fieldName, type] of Object.entries(shape)) {
      if (RESERVED.has(fieldName)) {
        throw new ShoalError(
          'INVALID_SCHEMA',
          `${name}: "${fieldName}" cannot be a field name: record views use it. Rename the field.`,
        );
      }
      if (INHERITED.has(fieldName)) {
        throw new ShoalError(
          'INVALID_SCHEMA',
          `${name}: "${fieldName}" cannot be a field name: every JS object inherits it, so a record without the field would seem to hold it. Rename the field.`,
        );
      }
      if (!NAME.test(fieldName)) {
        throw new ShoalError(
          'INVALID_SCHEMA',
          `${name}: field name "${fieldName}" is not valid: use letters, digits and _`,
        );
      }
      fields.push({
        name: fieldName,
        index: fields.length,
        kind: type.kind,
        optional: type.isOptional,
        bigint: type.bigint,
        element: type.element && { kind: type.element.kind, bigint: type.element.bigint },
      });
    }
    if (fields.length === 0) {
      throw new ShoalError('INVALID_SCHEMA', `${name}: a type needs at least one field`);
    }
    const key =
      primaryKey === undefined ? [] : typeof primaryKey === 'string' ? [primaryKey] : [...primaryKey];
    if (Array.isArray(primaryKey) && key.length === 0) {
      throw new ShoalError(
        'INVALID_SCHEMA',
        `${name}: primaryKey is an empty list; name a field or leave it out`,
      );
    }
    for (const k of key) {
      const field = fields.find((f) => f.name === k);
      if (!field) {
        throw new ShoalError(
          'INVALID_SCHEMA',
          `${name}: primary key field "${k}" is not a field of the type`,
        );
      }
      if (field.optional || !KEY_KINDS.has(field.kind)) {
        throw new ShoalError(
          'INVALID_SCHEMA',
          `${name}: primary key field "${k}" must be a required int, long or string field, not ${describeField(field)}`,
        );
      }
    }
    if (new Set(key).size !== key.length) {
      throw new ShoalError('INVALID_SCHEMA', `${name}: primary key names a field twice`);
    }
    this.name = name;
    this.shape = shape;
    this.fields = fields;
    this.primaryKey = key;
    this.compositeKey = Array.isArray(primaryKey);
    this.indexes = Object.freeze(indexSpecs(name, fields, indexes));
    Object.freeze(this);
  }

  /** The field called `name`, or `undefined`. */
  field(name: string): FieldSpec | undefined {
    return this.fields.find((f) => f.name === name);
  }

  /** The secondary index called `name`, or `undefined`. */
  index(name: string): IndexSpec | undefined {
    return this.indexes.find((i) => i.name === name);
  }
}

/** Declare an object type: `t.object('Movie', { id: t.int(), ... }, { primaryKey: 'id' })`. */
export function object<
  const Name extends string,
  const F extends FieldMap,
  const PK extends (keyof F & string) | readonly (keyof F & string)[] | undefined = undefined,
>(
  name: Name,
  fields: F,
  options?: {
    readonly primaryKey?: PK;
    readonly indexes?: { readonly [name: string]: IndexDeclaration<keyof F & string> };
  },
): ObjectType<Name, F, PK> {
  return new ObjectType(name, fields, options?.primaryKey as PK, options?.indexes);
}

/** `int`, `list<string>`, `optional double`: for messages. */
export function describeField(field: Pick<FieldSpec, 'kind' | 'optional' | 'element'>): string {
  const base = field.kind === 'list' ? `list<${field.element?.kind}>` : field.kind;
  return field.optional ? `optional ${base}` : base;
}
