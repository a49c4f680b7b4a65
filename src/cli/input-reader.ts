/**
 * Reading producer input for `shoal produce`: NDJSON, a JSON array, CSV, or a msgpack stream,
 * from a file, every such file of a directory, or stdin. Each record is a plain record (of
 * `--type`, or the schema's only type) or an envelope `{ "type": ..., "record": ... }`. Values
 * are taken as the schema says: base64 strings become bytes, strings or numbers become
 * bigints for `long({ bigint: true })`; CSV cells are parsed by their field's kind. Every
 * record is validated; a bad one is reported with its file and line.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
// The pure-JS build, as everywhere in shoal (see src/format/msgpack.ts).
import { unpackMultiple } from 'msgpackr/unpack';
import {
  createRecordValidator,
  type FieldSpec,
  type ObjectType,
  type RecordValidator,
  type Schema,
} from '../index.ts';

export type InputFormat = 'ndjson' | 'json' | 'csv' | 'msgpack';

const BY_EXTENSION: Record<string, InputFormat> = {
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.json': 'json',
  '.csv': 'csv',
  '.msgpack': 'msgpack',
  '.mp': 'msgpack',
};

/** A record that passed validation. */
export interface InputRecord {
  readonly type: string;
  readonly record: Record<string, unknown>;
}

/** A record that did not, with where it was. */
export interface InputProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

/** Reading options. */
export interface ReadOptions {
  readonly schema: Schema;
  readonly type?: string;
  readonly format?: InputFormat;
  /** Called every 100,000 records. */
  readonly onProgress?: (records: number) => void;
}

/** The files an input path names. */
export async function inputFiles(input: string): Promise<string[]> {
  if (input === '-') return ['-'];
  const s = await stat(input);
  if (!s.isDirectory()) return [input];
  return (await readdir(input))
    .filter((name) => !name.startsWith('.') && BY_EXTENSION[extname(name)])
    .sort()
    .map((name) => join(input, name));
}

async function readAll(file: string): Promise<Buffer> {
  if (file !== '-') return readFile(file);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Splits CSV text into rows of cells (RFC 4180: quotes, doubled quotes, CRLF). */
export function parseCsv(text: string): { cells: string[]; line: number }[] {
  const rows: { cells: string[]; line: number }[] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
    } else if (c === '"' && cell === '') {
      quoted = true;
    } else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      if (row.length > 1 || row[0] !== '') rows.push({ cells: row, line: rowLine });
      row = [];
      cell = '';
      line++;
      rowLine = line;
    } else {
      cell += c;
    }
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push({ cells: row, line: rowLine });
  }
  return rows;
}

function fromCell(field: FieldSpec, cell: string): unknown {
  if (cell === '') return undefined;
  const kind = field.kind === 'list' ? 'list' : field.kind;
  switch (kind) {
    case 'int':
    case 'double':
    case 'float':
      return Number(cell);
    case 'long':
      return field.bigint ? BigInt(cell) : Number(cell);
    case 'boolean':
      return cell === 'true' || cell === '1' ? true : cell === 'false' || cell === '0' ? false : cell;
    case 'string':
      return cell;
    case 'bytes':
      return Buffer.from(cell, 'base64');
    default:
      return JSON.parse(cell);
  }
}

/** Turns JSON-shaped values into what the schema stores (bytes, bigints). */
function fromJsonValues(type: ObjectType, record: Record<string, unknown>): Record<string, unknown> {
  for (const f of type.fields) {
    const v = record[f.name];
    if (v === undefined || v === null) continue;
    const kind = f.kind === 'list' ? f.element!.kind : f.kind;
    const bigint = f.kind === 'list' ? f.element!.bigint : f.bigint;
    const convert = (x: unknown) =>
      kind === 'bytes' && typeof x === 'string'
        ? new Uint8Array(Buffer.from(x, 'base64'))
        : kind === 'long' && bigint && (typeof x === 'string' || typeof x === 'number')
          ? BigInt(x)
          : x;
    record[f.name] = f.kind === 'list' && Array.isArray(v) ? v.map(convert) : convert(v);
  }
  return record;
}

/** Reads and validates every record of `files`; problems are collected, not thrown. */
export async function readInput(
  files: readonly string[],
  options: ReadOptions,
): Promise<{ records: InputRecord[]; problems: InputProblem[] }> {
  const { schema } = options;
  const defaultType = options.type ?? (schema.types.length === 1 ? schema.types[0]!.name : undefined);
  const validators = new Map<string, RecordValidator>(
    schema.types.map((t) => [t.name, createRecordValidator(t)]),
  );
  const seenKeys = new Map<string, Set<string>>(schema.types.map((t) => [t.name, new Set()]));
  const records: InputRecord[] = [];
  const problems: InputProblem[] = [];
  const take = (file: string, line: number, item: unknown) => {
    let typeName = defaultType;
    let record = item as Record<string, unknown>;
    if (
      item &&
      typeof item === 'object' &&
      'type' in item &&
      'record' in item &&
      Object.keys(item).length === 2
    ) {
      typeName = String((item as { type: unknown }).type);
      record = (item as { record: Record<string, unknown> }).record;
    }
    try {
      if (!typeName)
        throw new Error(
          'the schema has several types: give --type, or records as {"type": ..., "record": ...}',
        );
      if (!schema.has(typeName)) throw new Error(`the schema has no type "${typeName}"`);
      const type = schema.type(typeName);
      if (record && typeof record === 'object') record = fromJsonValues(type, record);
      validators.get(typeName)!(record);
      if (type.primaryKey.length > 0) {
        const key = JSON.stringify(type.primaryKey.map((k) => String(record[k])));
        const seen = seenKeys.get(typeName)!;
        if (seen.has(key))
          throw new Error(`${typeName} key ${key} appears twice in the input (DUPLICATE_KEY)`);
        seen.add(key);
      }
      records.push({ type: typeName, record });
      if (records.length % 100_000 === 0) options.onProgress?.(records.length);
    } catch (e) {
      problems.push({ file, line, message: (e as Error).message });
    }
  };
  for (const file of files) {
    const format = options.format ?? BY_EXTENSION[extname(file)] ?? 'ndjson';
    const bytes = await readAll(file);
    if (format === 'msgpack') {
      const items = unpackMultiple(bytes) as unknown[];
      for (let i = 0; i < items.length; i++) take(file, i + 1, items[i]);
    } else if (format === 'json') {
      let items: unknown;
      try {
        items = JSON.parse(bytes.toString('utf8'));
      } catch (e) {
        problems.push({ file, line: 1, message: `not valid JSON: ${(e as Error).message}` });
        continue;
      }
      if (!Array.isArray(items))
        problems.push({ file, line: 1, message: 'a .json input must be an array of records' });
      else for (let i = 0; i < items.length; i++) take(file, i + 1, items[i]);
    } else if (format === 'csv') {
      const rows = parseCsv(bytes.toString('utf8'));
      const header = rows.shift();
      if (!header || !defaultType) {
        problems.push({
          file,
          line: 1,
          message: !header ? 'the CSV file is empty' : 'CSV input needs --type',
        });
        continue;
      }
      const type = schema.type(defaultType);
      const fields = header.cells.map((name) => type.field(name.trim()));
      for (const { cells, line } of rows) {
        const record: Record<string, unknown> = {};
        try {
          cells.forEach((cell, i) => {
            const f = fields[i];
            if (!f) throw new Error(`column "${header.cells[i]}" is not a field of ${type.name}`);
            const v = fromCell(f, cell);
            if (v !== undefined) record[f.name] = v;
          });
        } catch (e) {
          problems.push({ file, line, message: (e as Error).message });
          continue;
        }
        take(file, line, record);
      }
    } else {
      const lines = bytes.toString('utf8').split('\n');
      lines.forEach((text, i) => {
        if (text.trim() === '') return;
        let item: unknown;
        try {
          item = JSON.parse(text);
        } catch (e) {
          problems.push({ file, line: i + 1, message: `not valid JSON: ${(e as Error).message}` });
          return;
        }
        take(file, i + 1, item);
      });
    }
  }
  return { records, problems };
}
