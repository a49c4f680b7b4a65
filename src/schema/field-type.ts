/**
 * Field kinds of the schema DSL. A `FieldType` is a small immutable value: its runtime part
 * (`kind`, `isOptional`, `element`, `bigint`) is what the format stores; its phantom `_output`
 * type is what `t.Infer` reads, so one definition gives both the runtime schema and the type.
 */

/** Kinds a list element or a plain field may have. */
export type ScalarKind = 'int' | 'long' | 'double' | 'float' | 'boolean' | 'string' | 'bytes' | 'json';
/** Every field kind. */
export type FieldKind = ScalarKind | 'list';

/** Kinds a primary-key field may have. */
export const KEY_KINDS: ReadonlySet<FieldKind> = new Set<FieldKind>(['int', 'long', 'string']);

/** A field's type: its kind, whether it may be absent, and (for lists) its element type. */
export class FieldType<Out = unknown, Optional extends boolean = boolean> {
  /** Phantom: the JS type of a value of this field. Never set at run time. */
  declare readonly _output: Out;
  /** Phantom: whether the field may be absent. */
  declare readonly _optional: Optional;

  readonly kind: FieldKind;
  readonly isOptional: Optional;
  /** Element type of a `list`. */
  readonly element: FieldType<unknown, false> | undefined;
  /** For `long`: values are `bigint` instead of safe-integer `number`s. */
  readonly bigint: boolean;

  constructor(kind: FieldKind, isOptional: Optional, element?: FieldType<unknown, false>, bigint = false) {
    this.kind = kind;
    this.isOptional = isOptional;
    this.element = element;
    this.bigint = bigint;
    Object.freeze(this);
  }

  /** The same type, but a record may leave the field absent (`undefined` or `null` on input). */
  optional(): FieldType<Out, true> {
    return new FieldType<Out, true>(this.kind, true, this.element, this.bigint);
  }
}

/** A field type that is not optional: what a list may hold. */
export type RequiredFieldType<Out = unknown> = FieldType<Out, false>;

/** 32-bit signed integer. */
export const int = (): FieldType<number, false> => new FieldType('int', false);
/** 64-bit integer: a safe-integer `number` by default, or a `bigint` with `{ bigint: true }`. */
export function long(): FieldType<number, false>;
export function long(options: { bigint: true }): FieldType<bigint, false>;
export function long(options?: { bigint?: boolean }): FieldType<number | bigint, false> {
  return new FieldType('long', false, undefined, options?.bigint === true);
}
/** 64-bit float. */
export const double = (): FieldType<number, false> => new FieldType('double', false);
/** 32-bit float: values are rounded with `Math.fround` when stored. */
export const float = (): FieldType<number, false> => new FieldType('float', false);
/** `true` or `false`. */
export const boolean = (): FieldType<boolean, false> => new FieldType('boolean', false);
/** A UTF-8 string (well-formed UTF-16 on input). */
export const string = (): FieldType<string, false> => new FieldType('string', false);
/** Raw bytes; read back as a read-only `Uint8Array` view over the state's memory. */
export const bytes = (): FieldType<Uint8Array, false> => new FieldType('bytes', false);
/** Any msgpack-encodable value, stored with msgpackr and decoded on each read. */
export const json = <T = unknown>(): FieldType<T, false> => new FieldType('json', false);
/** A list of non-optional scalar elements. */
export const list = <E>(element: FieldType<E, false>): FieldType<E[], false> => {
  if (element.kind === 'list') {
    throw new TypeError('t.list(t.list(...)) is not supported: use t.json() for nested lists');
  }
  if (element.isOptional) {
    throw new TypeError('list elements cannot be optional: drop .optional() on the element type');
  }
  return new FieldType<E[], false>('list', false, element);
};
