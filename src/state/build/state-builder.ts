/**
 * Builds states. Three ways:
 * - `new StateBuilder(schema)`: a state from scratch, records at ordinals in the order added;
 * - `new StateBuilder(schema, { previous })`: the whole next dataset is added; records equal to
 *   the previous state's keep their ordinals, the rest are changes, and previous records not
 *   added again are removed (with `keep`, the types it names stay as they were instead);
 * - `StateBuilder.from(previous)`: the next state is the previous one plus `upsert`s and
 *   `remove`s.
 * A modified record is a removal plus an addition at a new ordinal (as in Hollow), so deltas
 * carry whole records and untouched pages stay shared. `add` validates each record
 * (`INVALID_RECORD`) and refuses a key added twice (`DUPLICATE_KEY`).
 */
import { ShoalError } from '../../errors.ts';
import {
  createKeyValidator,
  createRecordValidator,
  describeKey,
  type ObjectType,
  type RecordValidator,
  type Schema,
  type SchemaKey,
  type SchemaRecord,
  type TypeName,
} from '../../schema/index.ts';
import { columnReader } from '../column/column.ts';
import { type Layout, layoutOf } from '../column/layout.ts';
import { recordEquals } from '../read/record-equality.ts';
import { type AnyState, checkVersion, randomTag, State } from '../read/state.ts';
import { shareParts } from '../read/state-handle.ts';
import { TypeState, type TypeStateParts } from '../read/type-state.ts';
import { longZeroCanonicaliser } from './canonical-record.ts';
import { planOrdinals } from './ordinal-allocator.ts';
import { evolveTypes, sameSchema } from './schema-evolution.ts';
import { buildTypeState } from './type-state-builder.ts';
import { type TypeChanges, transitionType } from './type-transition.ts';

/** Options of {@link StateBuilder.build}. */
export interface BuildOptions {
  /** The state's version: a non-negative safe integer. */
  readonly version: number;
  /**
   * The state's 64-bit tag.
   * @default a random tag
   */
  readonly tag?: bigint;
  /**
   * Place the state's arrays on SharedArrayBuffers, so it can be handed to worker threads
   * without a copy (arrays of a previous state that are shared already are kept as they are).
   * @default false
   */
  readonly shared?: boolean;
  /** @internal Encoding thresholds, for tests (see `Layout`). */
  readonly layout?: Partial<Layout>;
  /**
   * Compaction: when a type's sparseness (empty ordinals over its capacity) would pass this
   * share, records at the top of its ordinal range move down into holes until it is half
   * this, at most 1% of the type's records (at least 1,024) a build, so a long-lived state
   * stays near a fresh one's size. Pages are also refilled sooner (once this share of them is
   * free, up to a quarter). A moved record is unchanged: it costs a delta what an added record
   * costs, and readers see it as before (by key, by index, in iteration). 1 turns it off.
   * @default 0.05
   */
  readonly compactAbove?: number;
}

/** Default of {@link BuildOptions.compactAbove}. */
export const DEFAULT_COMPACT_ABOVE = 0.05;

function checkCompactAbove(value: number | undefined): number {
  if (value === undefined) return DEFAULT_COMPACT_ABOVE;
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    throw new ShoalError(
      'INVALID_OPTION',
      `compactAbove must be a share in (0, 1] (1 turns compaction off); got ${String(value)}.`,
    );
  }
  return value;
}

/** Options of the {@link StateBuilder} constructor. */
export interface StateBuilderOptions {
  /**
   * The previous state: records added that equal its records keep their ordinals, and its
   * records not added again are removed. Its schema must be compatible with the builder's.
   * @default none: the state is built from scratch
   */
  readonly previous?: AnyState;
  /**
   * Types whose previous records stay as they are (a cycle that re-states only the other
   * types); adding a record of one is refused (`INVALID_RECORD`). Without `previous`, a kept
   * type is empty.
   * @default none: every type is re-stated
   */
  readonly keep?: readonly string[];
}

/** A pending removal of `key`. */
class Removal {
  constructor(readonly key: unknown) {}
}

/** A pending change of one key: the record it will hold (no wrapper), or its removal. */
type Pending = Readonly<Record<string, unknown>> | Removal;

const isRecord = (p: Pending | undefined): boolean => p !== undefined && !(p instanceof Removal);

const duplicateKey = (type: ObjectType, record: Readonly<Record<string, unknown>>): ShoalError =>
  new ShoalError(
    'DUPLICATE_KEY',
    `${type.name} (${describeKey(type, record)}) was added twice. Keys are unique: merge the records, or upsert instead.`,
  );

/**
 * A set of int keys in typed arrays (open addressing): a fresh build's duplicate check on a
 * single `int` key without a Map entry per record. A Map of millions of entries was most of
 * what a build allocated on the JS heap, and each of its growths brought the next full
 * collection of the records nearer.
 */
class IntKeySet {
  private keys = new Int32Array(1024);
  private used = new Uint8Array(1024);
  private shift = 22; // 32 - log2(capacity)
  private count = 0;

  /** Adds `key`; false when it is there already. */
  add(key: number): boolean {
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    return this.insert(key);
  }

  private insert(key: number): boolean {
    const mask = this.keys.length - 1;
    let s = Math.imul(key, 0x9e3779b1) >>> this.shift;
    while (this.used[s] === 1) {
      if (this.keys[s] === key) return false;
      s = (s + 1) & mask;
    }
    this.used[s] = 1;
    this.keys[s] = key;
    this.count++;
    return true;
  }

  private grow(): void {
    const { keys, used } = this;
    this.keys = new Int32Array(keys.length * 2);
    this.used = new Uint8Array(keys.length * 2);
    this.shift--;
    this.count = 0;
    for (let i = 0; i < keys.length; i++) if (used[i] === 1) this.insert(keys[i]!);
  }
}

interface TypePending {
  readonly type: ObjectType;
  readonly validate: RecordValidator;
  /** The record with each long -0 written as 0 (canonical-record.ts). */
  readonly canonical: (record: Readonly<Record<string, unknown>>) => Readonly<Record<string, unknown>>;
  /** Checks a key given to `remove` (`INVALID_KEY`, naming the part that is wrong). */
  readonly validateKey: (key: unknown) => void;
  /** Keyed types: by key identity. */
  readonly byKey: Map<unknown, Pending>;
  /**
   * Types without a key: records in order. A fresh build's type keyed by one `int` field, while
   * it was only given `add`s: those records, their keys in `intKeys` (`byKey` is empty).
   */
  list: Readonly<Record<string, unknown>>[];
  intKeys: IntKeySet | undefined;
}

/** A Map key equal for equal primary keys. */
export function keyIdentity(type: ObjectType, key: unknown): unknown {
  if (!type.compositeKey) return key;
  const k = key as Record<string, unknown>;
  return JSON.stringify(type.primaryKey.map((f) => (typeof k[f] === 'bigint' ? `${k[f]}n` : k[f])));
}

/** The primary key of a record (a value, or an object for a composite key). */
export function keyOfRecord(type: ObjectType, record: Readonly<Record<string, unknown>>): unknown {
  if (!type.compositeKey) return record[type.primaryKey[0]!];
  return Object.fromEntries(type.primaryKey.map((f) => [f, record[f]]));
}

type Mode = 'fresh' | 'restate' | 'incremental';

/** Collects records and changes, then builds a {@link State}. */
export class StateBuilder<S extends Schema = Schema> {
  readonly schema: S;
  private readonly previous: AnyState | undefined;
  private mode: Mode;
  private readonly pending: Map<string, TypePending>;
  private readonly keep: ReadonlySet<string>;

  constructor(schema: S, options: StateBuilderOptions = {}) {
    this.schema = schema;
    this.previous = options.previous;
    for (const name of options.keep ?? []) schema.type(name);
    this.keep = new Set(options.keep);
    this.mode = options.previous ? 'restate' : 'fresh';
    this.pending = new Map(
      schema.types.map((type) => [
        type.name,
        {
          type,
          validate: createRecordValidator(type),
          canonical: longZeroCanonicaliser(type),
          validateKey: type.primaryKey.length > 0 ? createKeyValidator(type) : () => {},
          byKey: new Map(),
          list: [],
          intKeys:
            options.previous === undefined &&
            type.primaryKey.length === 1 &&
            type.fields.find((f) => f.name === type.primaryKey[0])?.kind === 'int'
              ? new IntKeySet()
              : undefined,
        },
      ]),
    );
  }

  /**
   * A builder whose next state is `previous` plus the upserts and removes given to it, in
   * `schema` (by default the previous state's; another must be compatible with it).
   */
  static from<S extends Schema>(previous: State<S>): StateBuilder<S>;
  static from<S extends Schema>(previous: AnyState, schema: S): StateBuilder<S>;
  static from(previous: AnyState, schema?: Schema): StateBuilder {
    const builder = new StateBuilder(schema ?? previous.schema, { previous });
    builder.mode = 'incremental';
    return builder;
  }

  private typePending(typeName: string): TypePending {
    const p = this.pending.get(typeName);
    if (!p) this.schema.type(typeName);
    return p!;
  }

  /**
   * Adds a record: `INVALID_RECORD` if it breaks the schema, `DUPLICATE_KEY` if this builder
   * has its key already. Typed by the schema ({@link SchemaRecord}); checked at run time too.
   */
  add<N extends TypeName<S>>(typeName: N, record: SchemaRecord<S, N>): this {
    return this.put(typeName, record, false);
  }

  /** Adds or replaces the record with this key. */
  upsert<N extends TypeName<S>>(typeName: N, record: SchemaRecord<S, N>): this {
    return this.put(typeName, record, true);
  }

  /**
   * Removes the record with `key` (from the previous state, or added to this builder): the key
   * field's value, or an object of the key fields ({@link SchemaKey}).
   */
  remove<N extends TypeName<S>>(typeName: N, key: SchemaKey<S, N>): this {
    const p = this.typePending(typeName);
    if (p.type.primaryKey.length === 0) {
      throw new ShoalError(
        'INVALID_KEY',
        `${typeName} has no primary key, so records cannot be removed by key.`,
      );
    }
    p.validateKey(key);
    this.keyedByMap(p);
    p.byKey.set(keyIdentity(p.type, key), new Removal(key));
    return this;
  }

  private put(typeName: string, record: unknown, replace: boolean): this {
    const p = this.typePending(typeName);
    if (this.keep.has(typeName)) {
      throw new ShoalError(
        'INVALID_RECORD',
        `${typeName} keeps its previous records in this build, so none can be added. Re-state ${typeName} too, or add no ${typeName} record.`,
      );
    }
    p.validate(record);
    const r = p.canonical(record as Readonly<Record<string, unknown>>);
    if (p.type.primaryKey.length === 0) {
      p.list.push(r);
      return this;
    }
    if (p.intKeys && !replace) {
      if (!p.intKeys.add(r[p.type.primaryKey[0]!] as number)) throw duplicateKey(p.type, r);
      p.list.push(r);
      return this;
    }
    this.keyedByMap(p);
    const id = keyIdentity(p.type, keyOfRecord(p.type, r));
    if (!replace && p.byKey.size > 0 && isRecord(p.byKey.get(id))) throw duplicateKey(p.type, r);
    p.byKey.set(id, r);
    return this;
  }

  /** Moves a keyed type's records added so far by `add` alone into `byKey` (an upsert or remove came). */
  private keyedByMap(p: TypePending): void {
    if (!p.intKeys) return;
    for (const r of p.list) p.byKey.set(keyIdentity(p.type, keyOfRecord(p.type, r)), r);
    p.list = [];
    p.intKeys = undefined;
  }

  /** Builds the next state. The builder can go on collecting and build again. */
  build(options: BuildOptions): State<S> {
    checkVersion(options.version);
    const tag = options.tag ?? randomTag();
    const shared = options.shared === true;
    const layout = layoutOf(options.layout);
    const compactAbove = checkCompactAbove(options.compactAbove);
    const prev = this.previous;
    let types: TypeStateParts[];
    if (!prev) {
      types = [...this.pending.values()].map((p) => buildTypeState(p.type, this.recordsOf(p), layout));
    } else {
      const base = sameSchema(prev.schema, this.schema)
        ? prev.types.map((t) => t.parts)
        : evolveTypes(
            prev.schema,
            prev.types.map((t) => t.parts),
            this.schema,
          );
      types = base.map((parts) => {
        const changes = this.keep.has(parts.type.name)
          ? undefined
          : this.changesOf(new TypeState(parts), this.pending.get(parts.type.name)!, compactAbove);
        if (!changes || (changes.removed.length === 0 && changes.added.length === 0)) {
          return parts.ghosts.length === 0 ? parts : { ...parts, ghosts: new Uint32Array(0) };
        }
        return transitionType(parts, changes, shared, layout);
      });
    }
    return new State({
      schema: this.schema,
      version: options.version,
      tag,
      types: types.map((t) => new TypeState(shared ? shareParts(t) : t)),
    });
  }

  private recordsOf(p: TypePending): Readonly<Record<string, unknown>>[] {
    if (p.byKey.size === 0) return p.list;
    // Sized once: a list grown by push to millions of records is copied at every growth.
    const out = new Array<Readonly<Record<string, unknown>>>(p.byKey.size);
    let n = 0;
    for (const v of p.byKey.values()) if (!(v instanceof Removal)) out[n++] = v;
    out.length = n;
    return out;
  }

  /** What changes in a type, against its previous state. */
  private changesOf(prev: TypeState, p: TypePending, compactAbove: number): TypeChanges {
    const removed: number[] = [];
    const added: Readonly<Record<string, unknown>>[] = [];
    const restate = this.mode === 'restate';
    if (p.type.primaryKey.length === 0) {
      // Without a key there is no telling a record from its update: re-stating replaces them all.
      if (restate) removed.push(...prev.ordinals());
      added.push(...p.list);
    } else {
      const seen = restate ? new Uint8Array(prev.capacity) : undefined;
      for (const change of p.byKey.values()) {
        if (change instanceof Removal) {
          if (restate) continue;
          const o = prev.ordinalOf(change.key);
          if (o >= 0) removed.push(o);
          continue;
        }
        const o = prev.ordinalOf(keyOfRecord(p.type, change));
        if (o >= 0) {
          if (seen) seen[o] = 1;
          if (recordEquals(p.type, prev.view(o) as unknown as Record<string, unknown>, change)) continue;
          removed.push(o);
        }
        added.push(change);
      }
      if (seen) for (const o of prev.ordinals()) if (seen[o] === 0) removed.push(o);
    }
    const plan = planOrdinals(prev.parts, removed, added.length, compactAbove);
    if (plan.moved.length === 0) {
      return { removed, added: plan.added, values: (field) => added.map((r) => r[field.name]) };
    }
    const columns = prev.parts.columns;
    return {
      removed: removed.concat(plan.moved),
      added: plan.added.concat(plan.movedTo),
      values: (field) => {
        const read = columnReader(columns[field.index]!);
        return added.map((r) => r[field.name]).concat(plan.moved.map(read));
      },
      ...(plan.capacity === undefined ? {} : { capacity: plan.capacity }),
    };
  }
}
