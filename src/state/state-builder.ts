/**
 * Builds a state from records. `add` validates each record against its type and refuses a
 * second record with the same primary key (`DUPLICATE_KEY`); `build` lays out the columns,
 * the primary-key index and the checksum. Records get ordinals in the order they were added.
 */
import { ShoalError } from '../errors.ts';
import {
  createRecordValidator,
  describeKey,
  type Infer,
  type ObjectType,
  type RecordValidator,
  type Schema,
  type TypeName,
  type TypeOf,
} from '../schema/index.ts';
import { recordSummer, sumRecords } from './checksum.ts';
import { buildColumn } from './column-builder.ts';
import { buildIndex, PrimaryKey } from './primary-key.ts';
import { checkVersion, randomTag, State } from './state.ts';
import { TypeState } from './type-state.ts';

/** Options of {@link StateBuilder.build}. */
export interface BuildOptions {
  /** The state's version: a non-negative safe integer. */
  readonly version: number;
  /**
   * The state's 64-bit tag.
   * @default a random tag
   */
  readonly tag?: bigint;
}

interface Pending {
  readonly type: ObjectType;
  readonly validate: RecordValidator;
  readonly records: Record<string, unknown>[];
  readonly keys: Map<unknown, number> | undefined;
}

/** A Map key equal for equal primary keys. */
export function keyIdentity(type: ObjectType, record: Record<string, unknown>): unknown {
  if (type.primaryKey.length === 1) return record[type.primaryKey[0]!];
  return JSON.stringify(
    type.primaryKey.map((k) => {
      const v = record[k];
      return typeof v === 'bigint' ? `${v}n` : v;
    }),
  );
}

/** Collects records, then builds a {@link State}. */
export class StateBuilder<S extends Schema = Schema> {
  readonly schema: S;
  private readonly pending: Map<string, Pending>;

  constructor(schema: S) {
    this.schema = schema;
    this.pending = new Map(
      schema.types.map((type) => [
        type.name,
        {
          type,
          validate: createRecordValidator(type),
          records: [],
          keys: type.primaryKey.length > 0 ? new Map() : undefined,
        },
      ]),
    );
  }

  /** Adds a record of type `typeName`: `INVALID_RECORD` if it breaks the schema, `DUPLICATE_KEY` if its key is taken. */
  add<N extends TypeName<S>>(typeName: N, record: Infer<TypeOf<S, N>>): this;
  add(typeName: string, record: unknown): this;
  add(typeName: string, record: unknown): this {
    const p = this.pending.get(typeName);
    if (!p) this.schema.type(typeName);
    const { type, validate, records, keys } = p!;
    validate(record);
    const r = record as Record<string, unknown>;
    if (keys) {
      const id = keyIdentity(type, r);
      if (keys.has(id)) {
        throw new ShoalError(
          'DUPLICATE_KEY',
          `${type.name} (${describeKey(type, r)}) was added twice. Keys are unique: merge the records, or upsert instead.`,
        );
      }
      keys.set(id, records.length);
    }
    records.push(r);
    return this;
  }

  /** Builds the state of every record added so far. */
  build(options: BuildOptions): State<S> {
    checkVersion(options.version);
    const types = [...this.pending.values()].map(({ type, records }) => buildTypeState(type, records));
    return new State({
      schema: this.schema,
      version: options.version,
      tag: options.tag ?? randomTag(),
      types,
    });
  }
}

/** A type state holding `records` at ordinals 0..n-1. */
export function buildTypeState(type: ObjectType, records: readonly Record<string, unknown>[]): TypeState {
  const capacity = records.length;
  const columns = type.fields.map((spec) => buildColumn(spec, capacity, (o) => records[o]![spec.name]));
  const populated = new Uint32Array((capacity + 31) >>> 5).fill(0xffffffff);
  if (capacity & 31) populated[populated.length - 1] = (1 << (capacity & 31)) - 1;
  const index =
    type.primaryKey.length > 0
      ? buildIndex(new PrimaryKey(type, columns), populated, capacity, capacity)
      : undefined;
  const sums = sumRecords(recordSummer(type, columns), populated, capacity);
  return new TypeState({
    type,
    capacity,
    size: capacity,
    columns,
    populated,
    index,
    sums,
    ghosts: new Uint32Array(0),
  });
}
