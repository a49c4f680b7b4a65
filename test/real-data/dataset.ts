/**
 * What a real dataset gives the real-data suite: a schema, its releases (npm packages installed
 * side by side under aliases), and a converter from one release's files to records of that
 * schema. Converted records are already in the form a state reads back (`toObject()`): fields
 * in schema order, absent optional fields left out, numbers parsed from the source's strings;
 * so "reads back exactly" is a plain comparison with them.
 */
import { join } from 'node:path';
import type { ObjectType, Schema } from '../../src/index.ts';

/** A plain record, as `toObject()` gives it. */
export type Row = Record<string, unknown>;

/**
 * How much of a release to take. `subset` is what `npm test` runs (seconds), `full` what
 * `npm run real-data` runs (every record of every release).
 */
export type Scope = 'subset' | 'full';

/** One release of a dataset: the package version, and the alias it is installed under. */
export interface Release {
  readonly version: string;
  readonly alias: string;
}

/** One release converted: records per type (every type of the schema, in schema order). */
export interface ConvertedRelease {
  readonly release: string;
  readonly records: ReadonlyMap<string, readonly Row[]>;
  /** Records dropped because their key was already taken, per type (the first one is kept). */
  readonly dropped: Readonly<Record<string, number>>;
}

/** A dataset the suite publishes release by release. */
export interface RealDataset {
  /** The namespace it is published to, and its name in the figures. */
  readonly name: string;
  /** The npm package the releases come from. */
  readonly packageName: string;
  readonly schema: Schema;
  readonly releases: readonly Release[];
  /** Converts the release installed in `dir` (its package root). */
  convert(dir: string, release: string, scope: Scope): ConvertedRelease;
}

/** Where an aliased release is installed. */
export const packageDir = (alias: string): string => join(import.meta.dirname, '../../node_modules', alias);

/** A record's key as `diffStates` and `shoal diff` give it: the value, or `{ field: value }` for a composite key. */
export function keyOf(type: ObjectType, row: Row): unknown {
  if (!type.compositeKey) return row[type.primaryKey[0]!];
  return Object.fromEntries(type.primaryKey.map((f) => [f, row[f]]));
}

/** A string that identifies a key (of a record, or as `shoal diff` printed it). */
export function keyId(type: ObjectType, key: unknown): string {
  if (!type.compositeKey) return JSON.stringify([key]);
  return JSON.stringify(type.primaryKey.map((f) => (key as Row)[f]));
}

/**
 * Collects a release's records per type, in schema field order, leaving out `undefined`
 * fields; a record whose key was already taken is dropped (and counted), so the first one in
 * source order wins, which makes the choice deterministic.
 */
export class RecordCollector {
  private readonly rows = new Map<string, Row[]>();
  private readonly keys = new Map<string, Set<string>>();
  private readonly droppedByType: Record<string, number> = {};

  constructor(private readonly schema: Schema) {
    for (const type of schema.types) {
      this.rows.set(type.name, []);
      this.keys.set(type.name, new Set());
      this.droppedByType[type.name] = 0;
    }
  }

  add(typeName: string, fields: Row): void {
    const type = this.schema.type(typeName);
    const row: Row = {};
    for (const f of type.fields) {
      const v = fields[f.name];
      if (v !== undefined) row[f.name] = v;
    }
    const extra = Object.keys(fields).filter((k) => !type.fields.some((f) => f.name === k));
    if (extra.length > 0)
      throw new Error(`${typeName}: the converter set unknown fields ${extra.join(', ')}`);
    const id = keyId(type, keyOf(type, row));
    const seen = this.keys.get(typeName)!;
    if (seen.has(id)) {
      this.droppedByType[typeName]! += 1;
      return;
    }
    seen.add(id);
    this.rows.get(typeName)!.push(row);
  }

  result(release: string): ConvertedRelease {
    return { release, records: this.rows, dropped: { ...this.droppedByType } };
  }
}

/** A number written as a string in the source; throws on anything that is not one. */
export function decimal(text: unknown, what: string): number {
  const n = typeof text === 'string' && text.trim() !== '' ? Number(text) : Number.NaN;
  if (!Number.isFinite(n)) throw new Error(`${what}: ${JSON.stringify(text)} is not a number`);
  return n;
}

/** A whole number written as a string in the source (for `int` and `long` fields). */
export function whole(text: unknown, what: string): number {
  const n = decimal(text, what);
  if (!Number.isSafeInteger(n)) throw new Error(`${what}: ${JSON.stringify(text)} is not a whole number`);
  return n;
}
