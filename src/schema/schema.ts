/**
 * A schema: the set of object types a state holds, in a fixed order (the type order of the
 * format). Also the static helpers that read record and key types off the DSL values.
 */
import { ShoalError } from '../errors.ts';
import type { FieldType } from './field-type.ts';
import type { FieldMap, ObjectType } from './object-type.ts';

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OptionalKeys<F extends FieldMap> = {
  [K in keyof F]: F[K] extends FieldType<unknown, true> ? K : never;
}[keyof F];
type RequiredKeys<F extends FieldMap> = Exclude<keyof F, OptionalKeys<F>>;

/** The record type of a field map. Optional fields may be absent. */
export type InferFields<F extends FieldMap> = Simplify<
  { -readonly [K in RequiredKeys<F>]: F[K]['_output'] } & {
    -readonly [K in OptionalKeys<F>]?: F[K]['_output'] | undefined;
  }
>;

/** The record type of an object type: `t.Infer<typeof Movie>`. */
export type Infer<T extends ObjectType> =
  T extends ObjectType<string, infer F, infer _PK> ? InferFields<F> : never;

/**
 * The key a lookup takes: the key field's value for a one-field key, an object of the key
 * fields for a composite key (`primaryKey: ['a', 'b']`), `never` for a type without a key.
 */
export type KeyOf<T extends ObjectType> =
  T extends ObjectType<string, infer F, infer PK>
    ? PK extends string
      ? F[PK]['_output']
      : PK extends readonly string[]
        ? Simplify<{ -readonly [K in PK[number]]: F[K]['_output'] }>
        : never
    : never;

/** A set of object types. Create with `t.schema([...])`. */
export class Schema<Types extends readonly ObjectType[] = readonly ObjectType[]> {
  readonly types: Types;
  private readonly byName: ReadonlyMap<string, ObjectType>;

  constructor(types: Types) {
    if (types.length === 0) {
      throw new ShoalError('INVALID_SCHEMA', 'a schema needs at least one type');
    }
    const byName = new Map<string, ObjectType>();
    for (const type of types) {
      if (byName.has(type.name)) {
        throw new ShoalError('INVALID_SCHEMA', `the schema declares type "${type.name}" twice`);
      }
      byName.set(type.name, type);
    }
    this.types = types;
    this.byName = byName;
    Object.freeze(this);
  }

  /** The type called `name`; `UNKNOWN_TYPE` when the schema has none. */
  type(name: string): ObjectType {
    const type = this.byName.get(name);
    if (!type) {
      throw new ShoalError(
        'UNKNOWN_TYPE',
        `the schema has no type "${name}"; it has: ${[...this.byName.keys()].join(', ')}`,
      );
    }
    return type;
  }

  /** True when the schema has a type called `name`. */
  has(name: string): boolean {
    return this.byName.has(name);
  }
}

/** The names of a schema's types. */
export type TypeName<S extends Schema> = S['types'][number]['name'];
/** A schema's type by name. */
export type TypeOf<S extends Schema, N extends string> =
  string extends TypeName<S> ? ObjectType : Extract<S['types'][number], { name: N }>;

/**
 * True when a schema's type names are known only at run time (`Schema`, `fromJSON(...)`, a
 * producer of any schema): its writes then take any type name, plain-object records and keys
 * checked at run time only.
 */
export type IsWideSchema<S extends Schema> = string extends TypeName<S> ? true : false;

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void
  ? I
  : never;

/**
 * True when `N` is a union of several type names (`'City' | 'Log'`). A write then names one
 * of them, unknown which, so no record or key is known to fit: `Infer<City | Log>` would take
 * a Log record for a City. Writes refuse such a name rather than guess.
 */
type IsUnion<N> = [N] extends [UnionToIntersection<N>] ? false : true;

/**
 * The record a write of type `N` takes (`Producer.upsert`, `StateBuilder.add`, a cycle's
 * `add`): `t.Infer` of that type, the same shape reads give, so an optional field is left out
 * or `undefined` and a `bigint` long is a `bigint`. For a wide schema: any plain object. For a
 * union of names (`'City' | 'Log'`): `never`, so that the write does not compile (name one type).
 */
export type SchemaRecord<S extends Schema, N extends string> =
  IsWideSchema<S> extends true
    ? Readonly<Record<string, unknown>>
    : IsUnion<N> extends true
      ? never
      : Infer<TypeOf<S, N>>;

/**
 * The key a delete of type `N` takes (`Producer.delete`, `StateBuilder.remove`): the key
 * field's value, or an object of exactly the key fields for a composite key; `never` for a
 * type without a key, and for a union of names (as {@link SchemaRecord}). For a wide schema:
 * `unknown`, checked at run time (`INVALID_KEY`).
 */
export type SchemaKey<S extends Schema, N extends string> =
  IsWideSchema<S> extends true ? unknown : IsUnion<N> extends true ? never : KeyOf<TypeOf<S, N>>;

/** Declare a schema: `t.schema([Movie, Actor])`. */
export function schema<const Types extends readonly ObjectType[]>(types: Types): Schema<Types> {
  return new Schema(types);
}
