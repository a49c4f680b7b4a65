/**
 * Key hashing and matching: a primary key's (or a secondary index's) fields hashed from their
 * stored bytes (format/hash.ts) and compared with the columns, in every encoding. The index
 * itself is key-index.ts (primary key) and hash-index.ts (secondary).
 */
import { ShoalError } from '../../errors.ts';
import { fmix32, hashBigInt, hashBytes, hashInt, hashLong, mixWord } from '../../format/hash.ts';
import type { ObjectType } from '../../schema/index.ts';
import type { Column } from '../column/column.ts';
import { PAGE_MASK, PAGE_SHIFT } from '../column/layout.ts';

/** The seed of every key hash. */
export const KEY_SEED = 0x6b657973;
/** A slot whose entry was removed: probes go past it, inserts may take it. */
export const TOMBSTONE = 0xffffffff;

/** Table size for `n` keys when an index is built whole. */
export const indexSizeFor = (n: number): number => Math.max(8, Math.ceil((n * 4) / 3) + 1);

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

  /** The pages of the key column when the key is one fixed-width int field (lookups' fast path). */
  intKeyPages(): readonly Int32Array[] | undefined {
    const col = this.columns[0]!;
    if (this.composite || col.valueKind !== 'int' || col.encoding !== 'fixed') return undefined;
    return col.parts[0] as readonly Int32Array[];
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
