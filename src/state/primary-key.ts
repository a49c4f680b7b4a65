/**
 * The primary-key index: an open-addressing hash table (linear probing) in one Uint32Array,
 * slot = ordinal + 1, 0 = empty. It is stored in the snapshot as it is, so loading never
 * rebuilds it. Load factor at most 3/4, i.e. ~5.3 bytes per record.
 *
 * Lookups hash the key's canonical bytes (format/hash.ts) and confirm a hit against the key
 * columns, so the table holds no keys of its own. A removal leaves a tombstone (one probe,
 * no key reads); inserts reuse tombstones, and a transition rebuilds the table once live
 * entries and tombstones fill 7/8 of it.
 */
import { ShoalError } from '../errors.ts';
import { fmix32, hashBigInt, hashBytes, hashInt, hashLong, mixWord } from '../format/hash.ts';
import type { ObjectType } from '../schema/index.ts';
import type { Column } from './column.ts';
import { PAGE_MASK, PAGE_SHIFT, testBit } from './layout.ts';

const KEY_SEED = 0x6b657973;
/** A slot whose entry was removed: probes go past it, inserts may take it. */
export const TOMBSTONE = 0xffffffff;

/** Table size for `n` keys when an index is built whole. */
export const indexSizeFor = (n: number): number => Math.max(8, Math.ceil((n * 4) / 3) + 1);

/**
 * Whether a table of `slots` should be rebuilt for `n` keys and `tombstones` dead slots: past
 * 7/8 used (probes grow long), or under 1/4 live (memory wasted). Between, a transition
 * updates a copy of the table in place.
 */
export const indexNeedsRebuild = (slots: number, n: number, tombstones: number): boolean =>
  (n + tombstones) * 8 > slots * 7 || (slots > 64 && n * 4 < slots);

/** One key field: stages a lookup value, hashes it, and compares it with a stored record. */
interface KeyField {
  stage(value: unknown): boolean;
  stagedHash(seed: number): number;
  stagedEqualsAt(ordinal: number): boolean;
  hashAt(ordinal: number, seed: number): number;
  /** Whether the values at two ordinals are equal. */
  equalAt(a: number, b: number): boolean;
}

/** Where the stored string at an ordinal lies: `bytes[start, end)` after a call to `locate`. */
export interface StringCursor {
  bytes: Uint8Array;
  start: number;
  end: number;
}

/** A function pointing `cursor` at the UTF-8 bytes of the string column's value at an ordinal. */
export function stringLocator(col: Column): (o: number, cursor: StringCursor) => void {
  if (col.encoding === 'dict') {
    const codes = col.parts[0]!;
    const { heap, offsets } = col.dict!;
    return (o, cursor) => {
      const c = codes[o >>> PAGE_SHIFT]![o & PAGE_MASK] as number;
      cursor.bytes = heap!;
      cursor.start = offsets![c]!;
      cursor.end = offsets![c + 1]!;
    };
  }
  const offsets = col.parts[0]!;
  const heaps = col.parts[1] as readonly Buffer[];
  return (o, cursor) => {
    const off = offsets[o >>> PAGE_SHIFT]!;
    cursor.bytes = heaps[o >>> PAGE_SHIFT]!;
    cursor.start = off[o & PAGE_MASK] as number;
    cursor.end = off[(o & PAGE_MASK) + 1] as number;
  };
}

/** A function reading the numeric column's value at an ordinal, whatever its encoding. */
function numberReader(col: Column): (o: number) => number | bigint {
  const pages = col.parts[0]!;
  if (col.encoding === 'dict') {
    const values = col.dict!.values!;
    return (o) => values[pages[o >>> PAGE_SHIFT]![o & PAGE_MASK] as number]!;
  }
  return (o) => pages[o >>> PAGE_SHIFT]![o & PAGE_MASK]!;
}

function stringKeyField(col: Column): KeyField {
  const locate = stringLocator(col);
  const at: StringCursor = { bytes: new Uint8Array(0), start: 0, end: 0 };
  const other: StringCursor = { bytes: new Uint8Array(0), start: 0, end: 0 };
  let scratch = Buffer.allocUnsafe(256);
  let length = 0;
  // A string with a lone surrogate is never stored (writes refuse it), but its UTF-8 bytes are
  // those of U+FFFD: such a key must match nothing rather than the record with U+FFFD.
  let impossible = false;
  return {
    stage(value) {
      if (typeof value !== 'string') return false;
      if (value.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(value.length * 3);
      length = scratch.write(value, 0, 'utf8');
      impossible = !value.isWellFormed();
      return true;
    },
    stagedHash: (seed) => hashBytes(scratch, 0, length, seed),
    stagedEqualsAt(o) {
      if (impossible) return false;
      locate(o, at);
      if (at.end - at.start !== length) return false;
      const { bytes, start } = at;
      for (let i = 0; i < length; i++) if (bytes[start + i] !== scratch[i]) return false;
      return true;
    },
    hashAt(o, seed) {
      locate(o, at);
      return hashBytes(at.bytes, at.start, at.end, seed);
    },
    equalAt(a, b) {
      locate(a, at);
      locate(b, other);
      const n = at.end - at.start;
      if (other.end - other.start !== n) return false;
      for (let i = 0; i < n; i++) if (at.bytes[at.start + i] !== other.bytes[other.start + i]) return false;
      return true;
    },
  };
}

/**
 * One key field over its column, in any encoding (fixed, dictionary or var): the hash and the
 * match are of the stored value, never of a code, so they agree across encodings.
 */
function keyField(col: Column): KeyField {
  if (col.valueKind === 'string') return stringKeyField(col);
  const at = numberReader(col);
  if (col.valueKind === 'boolean') {
    let staged = 0;
    return {
      stage(value) {
        if (typeof value !== 'boolean') return false;
        staged = value ? 1 : 0;
        return true;
      },
      stagedHash: (seed) => hashInt(staged, seed),
      stagedEqualsAt: (o) => at(o) === staged,
      hashAt: (o, seed) => hashInt(at(o) as number, seed),
      equalAt: (a, b) => at(a) === at(b),
    };
  }
  if (col.valueKind === 'int') {
    let staged = 0;
    return {
      stage(value) {
        if (typeof value !== 'number') return false;
        staged = value;
        return true;
      },
      stagedHash: (seed) => hashInt(staged, seed),
      stagedEqualsAt: (o) => at(o) === staged,
      hashAt: (o, seed) => hashInt(at(o) as number, seed),
      equalAt: (a, b) => at(a) === at(b),
    };
  }
  if (col.bigint) {
    let staged = 0n;
    return {
      stage(value) {
        if (typeof value !== 'bigint') return false;
        staged = value;
        return true;
      },
      stagedHash: (seed) => hashBigInt(staged, seed),
      stagedEqualsAt: (o) => at(o) === staged,
      hashAt: (o, seed) => hashBigInt(at(o) as bigint, seed),
      equalAt: (a, b) => at(a) === at(b),
    };
  }
  let staged = 0;
  return {
    stage(value) {
      if (typeof value !== 'number') return false;
      staged = value;
      return true;
    },
    stagedHash: (seed) => hashLong(staged, seed),
    stagedEqualsAt: (o) => at(o) === staged,
    hashAt: (o, seed) => hashLong(at(o) as number, seed),
    equalAt: (a, b) => at(a) === at(b),
  };
}

/**
 * Key hashing and matching for one type's state: of its primary key, or (given `names`) of the
 * fields of a secondary index, which may be optional or boolean.
 */
export class PrimaryKey {
  private readonly columns: readonly Column[];
  private readonly fields: readonly KeyField[];
  private readonly names: readonly string[];
  private readonly composite: boolean;
  private readonly typeName: string;
  private readonly presence: readonly (readonly Uint8Array[])[];

  constructor(
    type: ObjectType,
    columns: readonly Column[],
    names: readonly string[] = type.primaryKey,
    composite = type.compositeKey,
  ) {
    this.names = names;
    this.composite = composite;
    this.typeName = type.name;
    this.columns = names.map((name) => columns[type.field(name)!.index]!);
    this.fields = this.columns.map(keyField);
    this.presence = this.columns.flatMap((c) => (c.present ? [c.present] : []));
  }

  /** Whether every key field has a value at `ordinal` (always, for a primary key). */
  presentAt(o: number): boolean {
    for (const pages of this.presence) {
      if (((pages[o >>> PAGE_SHIFT]![(o & PAGE_MASK) >>> 3]! >>> (o & 7)) & 1) === 0) return false;
    }
    return true;
  }

  /** The key field names, in order. */
  get fieldNames(): readonly string[] {
    return this.names;
  }

  /**
   * A lookup function over `table`: the ordinal of a key, or -1. A one-field int key gets a
   * loop of its own (hash, probe, compare against the key column) with no calls in it.
   */
  finder(table: Uint32Array): (key: unknown) => number {
    const m = table.length;
    const col = this.columns[0]!;
    if (!this.composite && col.valueKind === 'int' && col.encoding === 'fixed') {
      const pages = col.parts[0] as readonly Int32Array[];
      return (key) => {
        if (typeof key !== 'number') this.invalid(key);
        let s = slotOf(hashInt(key, KEY_SEED), m);
        for (let probes = 0; probes < m; probes++) {
          const v = table[s]!;
          if (v === 0) return -1;
          if (v !== TOMBSTONE) {
            const o = v - 1;
            if (pages[o >>> PAGE_SHIFT]![o & PAGE_MASK] === key) return o;
          }
          if (++s === m) s = 0;
        }
        return -1;
      };
    }
    return (key) => {
      this.stage(key);
      return findStaged(table, this);
    };
  }

  /** Hash of the key stored at `ordinal`. */
  hashAt(ordinal: number): number {
    if (!this.composite) return this.fields[0]!.hashAt(ordinal, KEY_SEED);
    let h = KEY_SEED;
    for (const f of this.fields) h = mixWord(h, f.hashAt(ordinal, KEY_SEED));
    return fmix32(h);
  }

  /** Stages `key` for {@link stagedHash} and {@link stagedEqualsAt}; `INVALID_KEY` on a wrong shape. */
  stage(key: unknown): void {
    if (!this.composite) {
      if (!this.fields[0]!.stage(key)) this.invalid(key);
      return;
    }
    if (typeof key !== 'object' || key === null) this.invalid(key);
    for (let i = 0; i < this.fields.length; i++) {
      if (!this.fields[i]!.stage((key as Record<string, unknown>)[this.names[i]!])) this.invalid(key);
    }
  }

  stagedHash(): number {
    if (!this.composite) return this.fields[0]!.stagedHash(KEY_SEED);
    let h = KEY_SEED;
    for (const f of this.fields) h = mixWord(h, f.stagedHash(KEY_SEED));
    return fmix32(h);
  }

  stagedEqualsAt(ordinal: number): boolean {
    for (const f of this.fields) if (!f.stagedEqualsAt(ordinal)) return false;
    return true;
  }

  /** Whether the records at two ordinals have the same key. */
  equalAt(a: number, b: number): boolean {
    for (const f of this.fields) if (!f.equalAt(a, b)) return false;
    return true;
  }

  private invalid(key: unknown): never {
    const shape = this.composite
      ? `an object with ${this.names.join(', ')}`
      : `a value of field "${this.names[0]}"`;
    throw new ShoalError(
      'INVALID_KEY',
      `${this.typeName} keys are ${shape}; got ${typeof key}. Pass the key as declared.`,
    );
  }
}

export const slotOf = (hash: number, size: number): number =>
  Math.floor(hash * size * 2.3283064365386963e-10);

/** Builds the index of every populated ordinal below `capacity`. */
export function buildIndex(
  pk: PrimaryKey,
  populated: Uint32Array,
  capacity: number,
  size: number,
): Uint32Array {
  const table = new Uint32Array(indexSizeFor(size));
  for (let o = 0; o < capacity; o++) if (testBit(populated, o)) insertOrdinal(table, pk.hashAt(o), o);
  return table;
}

/** Puts `ordinal` (whose key hashes to `hash`) into `table`; true when it took a tombstone's slot. */
export function insertOrdinal(table: Uint32Array, hash: number, ordinal: number): boolean {
  const m = table.length;
  let s = slotOf(hash, m);
  for (let probes = 0; probes < m; probes++) {
    const v = table[s]!;
    if (v === 0 || v === TOMBSTONE) {
      table[s] = ordinal + 1;
      return v === TOMBSTONE;
    }
    if (++s === m) s = 0;
  }
  throw new ShoalError(
    'BLOB_CORRUPT',
    'the primary-key index is full: the changes applied to it do not add up. Load the version from a snapshot.',
  );
}

/** Replaces `ordinal` (whose key hashes to `hash`) in `table` with a tombstone; false when absent. */
export function removeOrdinal(table: Uint32Array, hash: number, ordinal: number): boolean {
  const m = table.length;
  let s = slotOf(hash, m);
  for (let probes = 0; probes < m; probes++) {
    const v = table[s]!;
    if (v === 0) return false;
    if (v === ordinal + 1) {
      table[s] = TOMBSTONE;
      return true;
    }
    if (++s === m) s = 0;
  }
  return false;
}

/** The ordinal of the staged key, or -1. */
export function findStaged(table: Uint32Array, pk: PrimaryKey): number {
  const m = table.length;
  let s = slotOf(pk.stagedHash(), m);
  for (let probes = 0; probes < m; probes++) {
    const v = table[s]!;
    if (v === 0) return -1;
    if (v !== TOMBSTONE && pk.stagedEqualsAt(v - 1)) return v - 1;
    if (++s === m) s = 0;
  }
  return -1;
}

/**
 * The first populated ordinal that a lookup of its own key would not return (its probe path in
 * `table` meets an empty slot, or another record with the same key, first), or -1.
 */
export function firstMisindexed(
  pk: PrimaryKey,
  table: Uint32Array,
  populated: Uint32Array,
  capacity: number,
): number {
  const m = table.length;
  for (let o = 0; o < capacity; o++) {
    if (!testBit(populated, o)) continue;
    let s = slotOf(pk.hashAt(o), m);
    let found = false;
    for (let probes = 0; probes < m; probes++) {
      const v = table[s]!;
      if (v === 0) break;
      if (v === o + 1) {
        found = true;
        break;
      }
      if (v !== TOMBSTONE && pk.equalAt(v - 1, o)) break;
      if (++s === m) s = 0;
    }
    if (!found) return o;
  }
  return -1;
}
