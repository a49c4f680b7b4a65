/**
 * A state: the whole dataset at one version, read-only. It is a set of type states over
 * typed arrays (over SharedArrayBuffers when built for sharing), plus the version, the random
 * 64-bit tag that deltas are bound to, and the order-independent checksum.
 */
import { randomFillSync } from 'node:crypto';
import { ShoalError } from '../../errors.ts';
import type { Infer, KeyOf, Schema, TypeName, TypeOf } from '../../schema/index.ts';
import { keyIndexBytes } from '../index/key-index.ts';
import { indexBytes } from '../index/secondary-index.ts';
import { combineSums } from './checksum.ts';
import type { TypeState } from './type-state.ts';

/** What makes a state, as builders and decoders hand it over. */
export interface StateInit<S extends Schema> {
  readonly schema: S;
  readonly version: number;
  readonly tag: bigint;
  readonly types: readonly TypeState[];
}

/** A read-only state at one version. */
export class State<S extends Schema = Schema> {
  readonly schema: S;
  /** The version: an integer that only grows along a namespace's history. */
  readonly version: number;
  /** A random 64-bit tag; deltas name the tag they start from and the one they produce. */
  readonly tag: bigint;
  /** Order-independent checksum of every record (see state/read/checksum.ts). */
  readonly checksum: bigint;
  /** Type states, in schema order. */
  readonly types: readonly TypeState[];
  private readonly byName: ReadonlyMap<string, TypeState>;

  constructor(init: StateInit<S>) {
    checkVersion(init.version);
    this.schema = init.schema;
    this.version = init.version;
    this.tag = init.tag;
    this.types = init.types;
    this.byName = new Map(init.types.map((t) => [t.name, t]));
    this.checksum = combineSums(init.types.map((t) => t.parts.sums));
  }

  /** The state of type `name`; `UNKNOWN_TYPE` when the schema has no such type. */
  type<N extends TypeName<S>>(name: N): TypeState<Infer<TypeOf<S, N>>, KeyOf<TypeOf<S, N>>>;
  type(name: string): TypeState;
  type(name: string): TypeState {
    const t = this.byName.get(name);
    if (!t) {
      throw new ShoalError(
        'UNKNOWN_TYPE',
        `the state has no type "${name}"; it has: ${[...this.byName.keys()].join(', ')}`,
      );
    }
    return t;
  }

  /**
   * Bytes of memory the state's arrays view: columns, dictionaries, bitsets and indexes.
   * Pages shared with other states are counted in each.
   */
  get byteLength(): number {
    let total = 0;
    for (const t of this.types) {
      const p = t.parts;
      total += p.populated.byteLength + (p.index ? keyIndexBytes(p.index) : 0) + p.ghosts.byteLength;
      for (const i of p.indexes ?? []) total += indexBytes(i);
      for (const col of p.columns) {
        for (const pages of col.parts) for (const page of pages) total += page.byteLength;
        for (const page of col.present ?? []) total += page.byteLength;
        const d = col.dict;
        if (d)
          total += (d.values?.byteLength ?? 0) + (d.offsets?.byteLength ?? 0) + (d.heap?.byteLength ?? 0);
      }
    }
    return total;
  }

  /** Record count per type. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.types.map((t) => [t.name, t.size]));
  }
}

/**
 * Any state, whatever its schema: what functions that work on every state take. (`State<S>` is
 * invariant in `S` because `type()` is typed by name.)
 */
// biome-ignore lint/suspicious/noExplicitAny: the one place a state of any schema is accepted.
export type AnyState = State<any>;

/** Throws `INVALID_OPTION` unless `version` is a positive safe integer. */
export function checkVersion(version: unknown): asserts version is number {
  if (!Number.isSafeInteger(version) || (version as number) < 0) {
    throw new ShoalError(
      'INVALID_OPTION',
      `version must be a non-negative safe integer, got ${String(version)}`,
    );
  }
}

/** A random, non-zero 64-bit tag. */
export function randomTag(): bigint {
  const words = new BigUint64Array(1);
  do randomFillSync(words);
  while (words[0] === 0n);
  return words[0]!;
}
