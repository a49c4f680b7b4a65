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

  constructor(name: Name, shape: F, primaryKey: PK) {
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
    Object.freeze(this);
  }

  /** The field called `name`, or `undefined`. */
  field(name: string): FieldSpec | undefined {
    return this.fields.find((f) => f.name === name);
  }
}

/** Declare an object type: `t.object('Movie', { id: t.int(), ... }, { primaryKey: 'id' })`. */
export function object<
  const Name extends string,
  const F extends FieldMap,
  const PK extends (keyof F & string) | readonly (keyof F & string)[] | undefined = undefined,
>(name: Name, fields: F, options?: { readonly primaryKey?: PK }): ObjectType<Name, F, PK> {
  return new ObjectType(name, fields, options?.primaryKey as PK);
}

/** `int`, `list<string>`, `optional double`: for messages. */
export function describeField(field: Pick<FieldSpec, 'kind' | 'optional' | 'element'>): string {
  const base = field.kind === 'list' ? `list<${field.element?.kind}>` : field.kind;
  return field.optional ? `optional ${base}` : base;
}
