/**
 * The type of each input file's plain records (an envelope `{"type": ..., "record": ...}`
 * names its own): the file's `--type-of FILE=TYPE`, else `--type`, else for a CSV file its
 * name without the extension (`City.csv` is `City`: the exact type name, else the one type
 * whose name matches ignoring case), else the schema's only type.
 *
 * Invariant: every mistake is found before anything is read, as a usage error naming what
 * to pass — an unknown type, a `--type-of` that names no file of the input, a CSV file whose
 * type nothing gives.
 */
import { basename, extname } from 'node:path';
import type { Schema } from '../index.ts';
import { formatOf, type InputFormat } from './input-reader.ts';
import { UsageError } from './usage-error.ts';

/** How the types are given on the command line. */
export interface TypeFlags {
  /** `--type`: the type of every file's plain records. */
  readonly type?: string | undefined;
  /** `--type-of`, repeatable: `FILE=TYPE`, FILE a file's name or its path as listed. */
  readonly typeOf?: readonly string[] | undefined;
  /** `--format`: every file's format. */
  readonly format?: InputFormat | undefined;
}

const typesOf = (schema: Schema) => schema.types.map((t) => t.name).join(', ');

function checkType(schema: Schema, type: string, flag: string): string {
  if (!schema.has(type)) {
    throw new UsageError(`${flag}: the schema has no type "${type}" (its types: ${typesOf(schema)})`);
  }
  return type;
}

/** The type a file's name gives, if any: the exact name, else a unique case-insensitive match. */
function typeByName(schema: Schema, file: string): string | undefined {
  const name = basename(file, extname(file));
  if (schema.has(name)) return name;
  const matches = schema.types.filter((t) => t.name.toLowerCase() === name.toLowerCase());
  return matches.length === 1 ? matches[0]!.name : undefined;
}

/** Per file of the input: the type of its plain records, or `undefined` when none is given. */
export function fileTypes(
  files: readonly string[],
  schema: Schema,
  flags: TypeFlags,
): Map<string, string | undefined> {
  const type = flags.type === undefined ? undefined : checkType(schema, flags.type, '--type');
  const mapped = new Map<string, string>();
  for (const spec of flags.typeOf ?? []) {
    const eq = spec.lastIndexOf('=');
    if (eq <= 0 || eq === spec.length - 1) {
      throw new UsageError(`--type-of needs FILE=TYPE (such as cities.csv=City), got "${spec}"`);
    }
    const file = spec.slice(0, eq);
    if (!files.some((f) => f === file || basename(f) === file)) {
      throw new UsageError(
        `--type-of ${spec}: ${file} is not a file of the input (its files: ${files.map((f) => basename(f)).join(', ') || 'none'})`,
      );
    }
    mapped.set(file, checkType(schema, spec.slice(eq + 1), `--type-of ${spec}`));
  }
  const only = schema.types.length === 1 ? schema.types[0]!.name : undefined;
  const out = new Map<string, string | undefined>();
  for (const file of files) {
    const csv = formatOf(file, flags.format) === 'csv';
    const found =
      mapped.get(file) ??
      mapped.get(basename(file)) ??
      type ??
      (csv ? typeByName(schema, file) : undefined) ??
      only;
    if (csv && found === undefined) {
      throw new UsageError(
        `${file}: a CSV file holds one type, and its name names none of the schema's types (${typesOf(schema)}). Name the file for its type (City.csv), or pass --type-of ${basename(file)}=<type>.`,
      );
    }
    out.set(file, found);
  }
  return out;
}
