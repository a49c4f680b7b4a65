/**
 * The read side of one type in a state: its columns, populated bitset, primary-key index and
 * checksum sums, plus record views. A view reads its state's columns through getters defined
 * once per type on a prototype; it stays valid while the state is held, and no later state
 * changes what it reads (pages are never written once shared).
 */
import { ShoalError } from '../../errors.ts';
import type { ObjectType } from '../../schema/index.ts';
import { type Column, columnReader, dictEntries } from '../column/column.ts';
import { testBit } from '../column/layout.ts';
import { type KeyIndex, keyedFieldReader, keyFinder } from '../index/key-index.ts';
import { PrimaryKey } from '../index/primary-key.ts';
import { buildIndexParts, type IndexParts, sameIndex } from '../index/secondary-index.ts';
import type { Sums } from './checksum.ts';
import { indexSpec, RecordIndex } from './record-index.ts';
import type { RecordView } from './record-view.ts';

export type { RecordView } from './record-view.ts';

const ORDINAL: unique symbol = Symbol('shoal.ordinal');

/** The ordinal a view reads. */
export function viewOrdinal(view: object): number {
  const o = (view as { [ORDINAL]?: number })[ORDINAL];
  if (o === undefined) throw new TypeError('not a shoal record view');
  return o;
}

/** Parts of a type's state, as builders and decoders hand them over. */
export interface TypeStateParts {
  readonly type: ObjectType;
  /** Ordinals 0..capacity-1 may be populated. */
  readonly capacity: number;
  /** Populated ordinals. */
  readonly size: number;
  readonly columns: readonly Column[];
  readonly populated: Uint32Array;
  /** The primary-key index (key-index.ts); undefined for a type without a primary key. */
  readonly index: KeyIndex | undefined;
  /** Tombstones in the index. */
  readonly tombstones: number;
  readonly sums: Readonly<Sums>;
  /** Ordinals removed by the change that made this state: not reused by the next one. */
  readonly ghosts: Uint32Array;
  /**
   * Secondary indexes: the declared ones in declaration order, then any a consumer made
   * (`createIndex` appends to this list, which every later transition carries on).
   * @default none
   */
  readonly indexes?: IndexParts[];
}

type ViewClass = new (ordinal: number) => RecordView<Record<string, unknown>>;
type ObjectMaker = (ordinal: number) => Record<string, unknown>;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Compiled makers by their source, so the states of one type (a new one per delta) share one
 * function and its optimised code rather than each warming a fresh one. Bounded: a process
 * sees few record shapes; past the bound a shape is compiled without being kept.
 */
type MakerFactory = (readers: readonly ((ordinal: number) => unknown)[]) => ObjectMaker;
const compiled = new Map<string, MakerFactory>();
const MAX_COMPILED = 256;

/**
 * The function `toObject` runs: one object literal with the type's fields in field order, so
 * every record of a type gets one hidden class and each field has a call site (and a store)
 * of its own. It is compiled once per record shape from the field names (identifiers the
 * schema has checked); where code generation is disallowed, a loop over the readers does the
 * same.
 */
export function objectMaker(
  names: readonly string[],
  optional: readonly boolean[],
  readers: readonly ((ordinal: number) => unknown)[],
  compile = true,
): ObjectMaker {
  if (compile && names.every((n) => IDENTIFIER.test(n) && n !== '__proto__')) {
    const source = makerSource(names, optional);
    let factory = compiled.get(source);
    if (!factory) {
      try {
        factory = new Function('r', source) as MakerFactory;
      } catch {
        // --disallow-code-generation-from-strings, or a CSP: the loop below.
      }
      if (factory && compiled.size < MAX_COMPILED) compiled.set(source, factory);
    }
    if (factory) return factory(readers);
  }
  return (o) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < readers.length; i++) {
      const v = readers[i]!(o);
      if (v !== undefined) out[names[i]!] = v;
    }
    return out;
  };
}

/** The body of a maker's factory: `r` is the readers, in field order. */
function makerSource(names: readonly string[], optional: readonly boolean[]): string {
  const lines: string[] = [];
  let literal: string[] | undefined = [];
  names.forEach((name, i) => {
    if (literal && !optional[i]) {
      literal.push(`${name}: r${i}(o)`);
      return;
    }
    if (literal) lines.push(`const out = { ${literal.join(', ')} };`, 'let v;');
    literal = undefined;
    if (optional[i]) lines.push(`v = r${i}(o);`, `if (v !== undefined) out.${name} = v;`);
    else lines.push(`out.${name} = r${i}(o);`);
  });
  if (literal) lines.push(`const out = { ${(literal as string[]).join(', ')} };`);
  const bind = names.map((_, i) => `const r${i} = r[${i}];`).join('\n');
  return `${bind}\nreturn function toObject(o) {\n${lines.join('\n')}\nreturn out;\n};`;
}

function viewClass(type: ObjectType, readers: readonly ((ordinal: number) => unknown)[]): ViewClass {
  const names = type.fields.map((f) => f.name);
  const toObject = objectMaker(
    names,
    type.fields.map((f) => f.optional),
    readers,
  );
  class View {
    [ORDINAL]: number;
    constructor(ordinal: number) {
      this[ORDINAL] = ordinal;
    }
    toObject(): Record<string, unknown> {
      return toObject(this[ORDINAL]);
    }
    toJSON(): Record<string, unknown> {
      return toObject(this[ORDINAL]);
    }
  }
  Object.defineProperty(View, 'name', { value: `${type.name}View` });
  readers.forEach((read, i) => {
    Object.defineProperty(View.prototype, names[i]!, {
      get(this: View) {
        return read(this[ORDINAL]);
      },
      enumerable: true,
    });
  });
  return View as unknown as ViewClass;
}

/**
 * A reader by key of the column's field that reads the key and the value in one wait, when
 * the key is one int field and the column holds one fixed-width value or dictionary code a
 * record (not optional, not a list, not json or boolean); otherwise undefined.
 */
function keyedReader(
  pk: PrimaryKey | undefined,
  index: KeyIndex | undefined,
  col: Column,
): ((key: unknown) => unknown) | undefined {
  const kind = col.valueKind;
  if (!pk || !index || col.spec.kind === 'list' || col.present) return undefined;
  if (kind === 'boolean' || kind === 'json' || (col.encoding !== 'fixed' && col.encoding !== 'dict'))
    return undefined;
  const values = col.encoding === 'dict' ? dictEntries(col.dict!, kind, col.bigint) : undefined;
  // A fixed long column may hold a -0 an earlier release stored: it reads as 0.
  const longZero = kind === 'long' && !col.bigint && col.encoding === 'fixed';
  return keyedFieldReader(pk, index, col.parts[0]!, values, longZero);
}

/**
 * An object of one property per field, with no prototype chain to find `toString` or
 * `constructor` in: `read(key, 'year')` finds its reader as a property of a fixed shape (a
 * Map lookup or an `Object.create(null)` object, which V8 keeps as a hash table, measured
 * 40-50 ns slower a call at 10M records).
 */
const FieldTable = function FieldTable() {} as unknown as new () => Record<
  string,
  ((key: unknown) => unknown) | undefined
>;
FieldTable.prototype = Object.create(null);

/**
 * What {@link TypeState.fieldReader} returns: the field's value for a key, `undefined` when no
 * record has it. (Written as a method's type, so a state's type stays assignable to the state
 * of an unknown key, as its `read` method lets it.)
 */
export type FieldReader<K, V> = { read(key: K): V | undefined }['read'];

/** Options of {@link TypeState.createIndex}. */
export interface CreateIndexOptions {
  /**
   * The index's name, for `index(name)`.
   * @default the field names joined by `_`
   */
  readonly name?: string;
  /**
   * Sort by the bytes of the one string field (`findPrefix`) rather than hash.
   * @default false
   */
  readonly prefix?: boolean;
}

/** One type of a state: lookups by key, iteration, record views, secondary indexes. */
export class TypeState<R = Record<string, unknown>, K = unknown> implements Iterable<RecordView<R>> {
  readonly type: ObjectType;
  readonly capacity: number;
  readonly size: number;
  /** @internal storage, shared with states derived from this one */
  readonly parts: TypeStateParts;
  private readonly View: ViewClass;
  private readonly find: ((key: unknown) => number) | undefined;
  private readonly readers = new Map<string, RecordIndex<R>>();
  /** Each field's reader by key, for {@link read} and {@link fieldReader}. */
  private readonly byKey = new FieldTable();

  constructor(parts: TypeStateParts) {
    this.parts = parts;
    this.type = parts.type;
    this.capacity = parts.capacity;
    this.size = parts.size;
    const readers = parts.columns.map(columnReader);
    this.View = viewClass(parts.type, readers);
    const pk = parts.index ? new PrimaryKey(parts.type, parts.columns) : undefined;
    this.find = pk && parts.index ? keyFinder(pk, parts.index) : undefined;
    parts.type.fields.forEach((f, i) => {
      const read = readers[i]!;
      const keyed = keyedReader(pk, parts.index, parts.columns[i]!);
      this.byKey[f.name] =
        keyed ??
        ((key) => {
          const o = this.find ? this.find(key) : this.ordinalOf(key as K);
          return o < 0 ? undefined : read(o);
        });
    });
  }

  /**
   * The secondary index called `name` (declared in the schema, or made by {@link createIndex});
   * `UNKNOWN_INDEX` when there is none.
   */
  index(name: string): RecordIndex<R> {
    const cached = this.readers.get(name);
    if (cached) return cached;
    const parts = (this.parts.indexes ?? []).find((i) => i.spec.name === name);
    if (!parts) {
      const names = (this.parts.indexes ?? []).map((i) => i.spec.name);
      throw new ShoalError(
        'UNKNOWN_INDEX',
        `${this.type.name} has no index "${name}"; ${names.length > 0 ? `it has: ${names.join(', ')}` : 'it has none'}. Declare it in the schema (indexes), or make it with createIndex.`,
      );
    }
    const reader = new RecordIndex<R>(this.type, this.parts, parts, (o) => new this.View(o) as RecordView<R>);
    this.readers.set(name, reader);
    return reader;
  }

  /** Names of the type's secondary indexes. */
  get indexNames(): readonly string[] {
    return (this.parts.indexes ?? []).map((i) => i.spec.name);
  }

  /**
   * Makes an index the schema does not declare, over `fields` (see `ObjectTypeOptions.indexes`
   * for the rules), built once here as typed arrays and kept current by every delta applied to
   * this state and its successors. Asking again for the same index returns it (a declared
   * one, when the schema declares it the same way). `INVALID_INDEX` when the fields cannot be
   * indexed, or the name is taken by another index. Meant for a consumer's state: a producer
   * builds each cycle's state anew from its records, so an index made on `producer.state`
   * is gone at the next cycle (declare it in the schema instead).
   */
  createIndex(fields: string | readonly string[], options: CreateIndexOptions = {}): RecordIndex<R> {
    const spec = indexSpec(this.type, fields, options);
    const existing = (this.parts.indexes ?? []).find((i) => i.spec.name === spec.name);
    if (existing) {
      if (!sameIndex(existing.spec, spec)) {
        throw new ShoalError(
          'INVALID_INDEX',
          `${this.type.name} has an index "${spec.name}" over other fields; give this one another name.`,
        );
      }
      return this.index(spec.name);
    }
    const { type, columns, populated, capacity } = this.parts;
    const shared = populated.buffer instanceof SharedArrayBuffer;
    const built = buildIndexParts(type, spec, columns, populated, capacity, shared, true);
    const mutable = this.parts as { indexes?: IndexParts[] };
    if (mutable.indexes) mutable.indexes.push(built);
    else mutable.indexes = [built];
    return this.index(spec.name);
  }

  /** The type's name. */
  get name(): string {
    return this.type.name;
  }

  /** The ordinal of the record with `key`, or -1. `INVALID_KEY` when the key has the wrong shape. */
  ordinalOf(key: K): number {
    const find = this.find;
    if (!find) {
      throw new ShoalError(
        'INVALID_KEY',
        `${this.type.name} has no primary key: iterate it, or declare primaryKey.`,
      );
    }
    return find(key);
  }

  /** The record with `key`, or `undefined`. */
  get(key: K): RecordView<R> | undefined {
    const o = this.find ? this.find(key) : this.ordinalOf(key);
    return o < 0 ? undefined : (new this.View(o) as RecordView<R>);
  }

  /**
   * One field of the record with `key`, read straight from its column without making a view:
   * `undefined` when no record has the key (or the field is optional and absent there). The
   * cheapest lookup, for a hot path that wants a field or two; `get` for more.
   * `UNKNOWN_FIELD` when the type has no such field, `INVALID_KEY` as for `get`.
   */
  read<F extends keyof R & string>(key: K, field: F): R[F] | undefined {
    const read = this.byKey[field];
    if (read === undefined) this.unknownField(field);
    return read(key) as R[F] | undefined;
  }

  /**
   * A function that reads one field by key: `fieldReader(field)(key)` is `read(key, field)`,
   * with the field looked up once rather than on every call, for a loop over many keys. It
   * reads this state, as a view does (hold the state while you use it).
   * `UNKNOWN_FIELD` when the type has no such field.
   */
  fieldReader<F extends keyof R & string>(field: F): FieldReader<K, R[F]> {
    const read = this.byKey[field];
    if (read === undefined) this.unknownField(field);
    return read as FieldReader<K, R[F]>;
  }

  private unknownField(field: string): never {
    throw new ShoalError(
      'UNKNOWN_FIELD',
      `${this.type.name} has no field "${String(field)}"; it has: ${this.type.fields.map((f) => f.name).join(', ')}.`,
    );
  }

  /** True when a record with `key` exists. */
  has(key: K): boolean {
    return this.ordinalOf(key) >= 0;
  }

  /** True when `ordinal` holds a record. */
  isPopulated(ordinal: number): boolean {
    return ordinal >= 0 && ordinal < this.capacity && testBit(this.parts.populated, ordinal);
  }

  /** The record at `ordinal`; `INVALID_KEY` when the ordinal holds none. */
  view(ordinal: number): RecordView<R> {
    if (!this.isPopulated(ordinal)) {
      throw new ShoalError('INVALID_KEY', `${this.type.name} has no record at ordinal ${ordinal}`);
    }
    return new this.View(ordinal) as RecordView<R>;
  }

  /** Populated ordinals, ascending. */
  *ordinals(): IterableIterator<number> {
    const bits = this.parts.populated;
    for (let w = 0; w < bits.length; w++) {
      let word = bits[w]!;
      while (word !== 0) {
        const low = word & -word;
        yield w * 32 + 31 - Math.clz32(low);
        word ^= low;
      }
    }
  }

  /** Every record, in ordinal order. */
  *[Symbol.iterator](): IterableIterator<RecordView<R>> {
    for (const o of this.ordinals()) yield new this.View(o) as RecordView<R>;
  }
}
