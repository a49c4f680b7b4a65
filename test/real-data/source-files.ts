/**
 * The converted source side of the suite, computed without shoal: the input files `shoal
 * produce` reads, the records' canonical text (what "reads back exactly" compares), and the
 * diff between two releases from their converted files alone.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ObjectType, type Schema, toJSON } from '../../src/index.ts';
import { type ConvertedRelease, keyId, keyOf, type Row } from './dataset.ts';

/**
 * A record's text for comparison: top-level fields sorted by name, everything below them
 * (list elements, json values) in its own order, since a json value must read back with its
 * keys in the order they were written.
 */
export function canonical(row: Row): string {
  const sorted: Row = {};
  for (const name of Object.keys(row).sort()) sorted[name] = row[name];
  return JSON.stringify(sorted);
}

/** The bytes of a record as an NDJSON line of the input (its JSON text and the newline). */
export const lineBytes = (row: Row): number => Buffer.byteLength(JSON.stringify(row)) + 1;

/** Writes `schema.json` and one `<Type>.ndjson` of `{ "type", "record" }` lines per type. */
export async function writeInput(
  dir: string,
  schema: Schema,
  release: ConvertedRelease,
): Promise<{ schemaFile: string; inputDir: string; bytes: number }> {
  const inputDir = join(dir, 'input');
  await mkdir(inputDir, { recursive: true });
  const schemaFile = join(dir, 'schema.json');
  await writeFile(schemaFile, JSON.stringify(toJSON(schema), null, 2));
  let bytes = 0;
  for (const [type, rows] of release.records) {
    const text = rows.map((record) => `${JSON.stringify({ type, record })}\n`).join('');
    bytes += Buffer.byteLength(text);
    await writeFile(join(inputDir, `${type}.ndjson`), text);
  }
  return { schemaFile, inputDir, bytes };
}

/** Keys (as {@link keyId}s, sorted) added, removed and modified in one type. */
export interface KeyChanges {
  readonly added: string[];
  readonly removed: string[];
  readonly modified: string[];
  /** Bytes of the added and modified records of the later release, as NDJSON lines. */
  readonly changedBytes: number;
  /** Bytes of the removed and modified records of the earlier release: what a reverse delta brings back. */
  readonly goneBytes: number;
}

/** The records of one type by key id. */
export function byKey(type: ObjectType, rows: readonly Row[]): Map<string, Row> {
  return new Map(rows.map((row) => [keyId(type, keyOf(type, row)), row]));
}

/** Per type, what changed from `prev` to `next`, from the converted records alone. */
export function sourceDiff(
  schema: Schema,
  prev: ConvertedRelease,
  next: ConvertedRelease,
): Record<string, KeyChanges> {
  const out: Record<string, KeyChanges> = {};
  for (const type of schema.types) {
    const before = byKey(type, prev.records.get(type.name) ?? []);
    const after = byKey(type, next.records.get(type.name) ?? []);
    const added: string[] = [];
    const modified: string[] = [];
    let changedBytes = 0;
    for (const [id, row] of after) {
      const old = before.get(id);
      if (old !== undefined && canonical(old) === canonical(row)) continue;
      (old === undefined ? added : modified).push(id);
      changedBytes += lineBytes(row);
    }
    const removed = [...before.keys()].filter((id) => !after.has(id));
    let goneBytes = 0;
    for (const id of [...removed, ...modified]) goneBytes += lineBytes(before.get(id)!);
    out[type.name] = {
      added: added.sort(),
      removed: removed.sort(),
      modified: modified.sort(),
      changedBytes,
      goneBytes,
    };
  }
  return out;
}

/**
 * How two lists of key ids differ, in a form small enough to read in a failed assertion:
 * the counts, and the first few ids on either side only.
 */
export function keySetDifference(got: readonly string[], expected: readonly string[], show = 5) {
  const want = new Set(expected);
  const have = new Set(got);
  return {
    count: got.length,
    duplicates: got.length - have.size,
    missing: expected.filter((id) => !have.has(id)).slice(0, show),
    unexpected: got.filter((id) => !want.has(id)).slice(0, show),
  };
}
