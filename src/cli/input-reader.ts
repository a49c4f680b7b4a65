/**
 * Reading producer input for `shoal produce`: NDJSON, a JSON array, CSV, or a msgpack stream,
 * from a file, every such file of a directory, or stdin. Each record is a plain record (of
 * `--type`, or the schema's only type) or an envelope `{ "type": ..., "record": ... }`.
 *
 * The contract: every input yields exactly the values written, or a problem at its
 * `file:line` with the reason; never a rounded number, a dropped row or a thrown stack.
 * - Text must be UTF-8; a byte-order mark at the start of a file is skipped.
 * - JSON numbers are exact. Text that holds a number `JSON.parse` may round (16 or more digits,
 *   or a 3-digit exponent) is parsed again keeping each number's source, and the field's kind
 *   decides: integers must be exact and in range; doubles take the nearest value but may not
 *   overflow to ±Infinity or underflow to 0; an integer in a json value that a double cannot
 *   hold is a bigint. Nesting is the validator's to limit; the reader walks no deeper.
 * - CSV is RFC 4180, strictly: a quote never closed, a quote inside an unquoted cell, text after
 *   a closing quote, or a row whose cell count is not the header's is a problem for that row,
 *   and reading goes on at the next line. Numbers are plain decimal; a blank cell is absent.
 * - msgpack that does not decode is a problem at the record's byte offset; the rest of that
 *   file cannot be framed, so it is not read. Map keys must be strings.
 */
import { isUtf8 } from 'node:buffer';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
// The pure-JS build, as everywhere in shoal (see src/format/msgpack.ts).
import { Unpackr } from 'msgpackr/unpack';
import {
  createRecordValidator,
  type FieldKind,
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

/**
 * How deep the reader walks a json value (`[[1]]` is 2 levels): the validator's limit for json
 * values, which refuses anything deeper per record (README, field kinds).
 */
const JSON_DEPTH = 64;

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

/** A value refused before validation, reported as `Type (key): field "name" <message>`. */
class FieldProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Text

/** 1-based numbers of the lines of `bytes` that are not UTF-8 (only called when some is not). */
function nonUtf8Lines(bytes: Buffer): number[] {
  const bad: number[] = [];
  for (let start = 0, line = 1; start <= bytes.length; line++) {
    const end = bytes.indexOf(0x0a, start);
    const stop = end < 0 ? bytes.length : end;
    if (!isUtf8(bytes.subarray(start, stop))) bad.push(line);
    start = stop + 1;
  }
  return bad;
}

const withoutBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

// ---------------------------------------------------------------------------------------------
// Exact JSON

/** A JSON number kept as its source text until the schema says what it is. */
class JsonNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Number text `JSON.parse` may not read exactly: 16+ digits, or an exponent of 3+ digits. */
const MAYBE_INEXACT = /[0-9.]{16}|[eE][+-]?0*[1-9][0-9]{2}/;
const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * Parses JSON text. When the text holds a number `JSON.parse` may have rounded (or a string that
 * looks like one: that only costs time), it is parsed again with every number as a
 * {@link JsonNumber}. Throws `JSON.parse`'s SyntaxError for text that is not JSON.
 */
function parseJson(text: string): unknown {
  const value = JSON.parse(text);
  return MAYBE_INEXACT.test(text) ? parseJsonExact(text) : value;
}

/**
 * Parses text that `JSON.parse` accepted, keeping numbers as source text. Iterative, so depth
 * costs heap rather than stack; `__proto__` keys stay own properties, as with `JSON.parse`.
 */
function parseJsonExact(text: string): unknown {
  const stack: { container: unknown[] | Record<string, unknown>; key: string | undefined }[] = [];
  let result: unknown;
  let i = 0;
  const put = (value: unknown) => {
    const top = stack.at(-1);
    if (!top) result = value;
    else if (Array.isArray(top.container)) top.container.push(value);
    else {
      const key = top.key!;
      if (key !== '__proto__') top.container[key] = value;
      else
        Object.defineProperty(top.container, key, {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      top.key = undefined;
    }
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ',' || c === ':') {
      i++;
    } else if (c === '{' || c === '[') {
      stack.push({ container: c === '{' ? {} : [], key: undefined });
      i++;
    } else if (c === '}' || c === ']') {
      put(stack.pop()!.container);
      i++;
    } else if (c === '"') {
      let end = i + 1;
      for (; ; end++) {
        end = text.indexOf('"', end);
        let backslashes = 0;
        while (text[end - 1 - backslashes] === '\\') backslashes++;
        if (backslashes % 2 === 0) break;
      }
      const raw = text.slice(i + 1, end);
      const s = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      const top = stack.at(-1);
      if (top && !Array.isArray(top.container) && top.key === undefined) top.key = s;
      else put(s);
      i = end + 1;
    } else if (c === 't' || c === 'f' || c === 'n') {
      const word = c === 't' ? 'true' : c === 'f' ? 'false' : 'null';
      put(c === 't' ? true : c === 'f' ? false : null);
      i += word.length;
    } else {
      JSON_NUMBER.lastIndex = i;
      const token = JSON_NUMBER.exec(text)![0];
      put(new JsonNumber(token));
      i += token.length;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Values by field kind

const INT_MIN = -(2n ** 31n);
const INT_MAX = 2n ** 31n - 1n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

const DECIMAL_INTEGER = /^-?[0-9]+$/;
const DECIMAL = /^-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const NUMBER_PARTS = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;
/** How an infinity or NaN is written, in a CSV cell or as a JSON string for a double or float. */
const SPELLED_DOUBLES: ReadonlyMap<string, number> = new Map([
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['NaN', Number.NaN],
]);

/** Input text as a message shows it: a long number or cell is cut, not copied whole to stderr. */
const clip = (text: string): string => (text.length > 40 ? `${text.slice(0, 40)}…` : text);

/** A scalar kind as fields and list elements have it. */
interface Scalar {
  readonly kind: FieldKind;
  readonly bigint: boolean;
}

/** The integer decimal `text` denotes exactly; `undefined` when it is not one or is past 64 bits. */
function exactInteger(text: string): bigint | undefined {
  const [, sign, whole, fraction = '', exponentText = '0'] = NUMBER_PARTS.exec(text)!;
  const all = `${whole}${fraction}`;
  // Loops, not /0+$/: that regex is quadratic on a long run of zeros followed by another digit.
  let first = 0;
  while (all[first] === '0') first++;
  let end = all.length;
  while (end > first && all[end - 1] === '0') end--;
  if (end === first) return 0n;
  const digits = all.slice(first, end);
  const exponent = Number(exponentText) - fraction.length + (all.length - end);
  if (exponent < 0 || digits.length + exponent > 20) return undefined;
  const value = BigInt(digits) * 10n ** BigInt(exponent);
  return sign ? -value : value;
}

/** An `int` or `long` field's value from decimal `text`, exact and in range, or a problem. */
function integerValue(name: string, s: Scalar, text: string): number | bigint {
  const n = exactInteger(text);
  const [min, max, what] =
    s.kind === 'int'
      ? [INT_MIN, INT_MAX, 'a 32-bit integer']
      : s.bigint
        ? [LONG_MIN, LONG_MAX, 'a 64-bit integer']
        : [-SAFE_MAX, SAFE_MAX, 'a safe integer (|n| < 2^53; declare the field "bigint": true for more)'];
  if (n === undefined || n < min || n > max)
    throw new FieldProblem(name, `expected ${what}, got ${clip(text)}`);
  return s.bigint ? n : Number(n);
}

/** A `double` or `float` field's value from decimal `text`: the nearest, but not ±Infinity or 0. */
function doubleValue(name: string, s: Scalar, text: string): number {
  const spelled = SPELLED_DOUBLES.get(text);
  if (spelled !== undefined) return spelled;
  const value = Number(text);
  if (!Number.isFinite(value)) {
    throw new FieldProblem(
      name,
      `expected a finite ${s.kind}, got ${clip(text)}, which is beyond its range (write Infinity or -Infinity for an infinity)`,
    );
  }
  if (value === 0 && /[1-9]/.test(text.split(/[eE]/)[0]!)) {
    throw new FieldProblem(
      name,
      `got ${clip(text)}, which is too small for a ${s.kind} and would be stored as 0`,
    );
  }
  return s.kind === 'float' ? floatValue(name, value, text) : value;
}

/** A number a `float` field takes as it is (rounded to 32 bits when stored), but not to ±Infinity or 0. */
function floatValue(name: string, value: number, text: string): number {
  if (Number.isFinite(value) && !Number.isFinite(Math.fround(value))) {
    throw new FieldProblem(
      name,
      `expected a float (|x| ≤ 3.4028235e38), got ${clip(text)}: use a double field`,
    );
  }
  if (value !== 0 && Math.fround(value) === 0) {
    throw new FieldProblem(
      name,
      `got ${clip(text)}, which is too small for a float and would be stored as 0`,
    );
  }
  return value;
}

/** Strict base64 (padded) or base64url (unpadded): any other text would decode to other bytes. */
function bytesValue(name: string, text: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text && bytes.toString('base64url') !== text) {
    throw new FieldProblem(
      name,
      `expected base64 (padded with =) or base64url, got ${JSON.stringify(clip(text))}`,
    );
  }
  return new Uint8Array(bytes);
}

/**
 * A json value with its numbers made exact: an integer a double cannot hold becomes a bigint
 * (json values hold those in [-2^63, 2^64)). Below {@link JSON_DEPTH} levels it is left as it
 * is, for the validator to refuse.
 */
function jsonValue(name: string, value: unknown, depth: number): unknown {
  if (value instanceof JsonNumber) {
    const { text } = value;
    if (!DECIMAL_INTEGER.test(text)) return doubleValue(name, { kind: 'double', bigint: false }, text);
    const n = Number(text);
    // 21 digits are past 64 bits; a longer text is not worth turning into a bigint to say so.
    const exact = text.replace(/^-?0*/, '').length <= 21 ? BigInt(text) : undefined;
    if (exact !== undefined && BigInt(n) === exact) return n;
    if (exact !== undefined && exact >= LONG_MIN && exact <= UINT64_MAX) return exact;
    throw new FieldProblem(name, `holds ${clip(text)}, which is past 64 bits: write it as a string`);
  }
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || depth >= JSON_DEPTH) {
    return value;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = jsonValue(name, value[i], depth + 1);
  } else {
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = jsonValue(name, o[k], depth + 1);
  }
  return value;
}

/** A scalar from JSON or msgpack input, as the field's kind stores it; what it cannot take is left for the validator. */
function scalarFromJson(name: string, s: Scalar, v: unknown): unknown {
  switch (s.kind) {
    case 'int':
    case 'long':
      if (v instanceof JsonNumber) return integerValue(name, s, v.text);
      if (s.bigint && typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
      if (s.bigint && typeof v === 'string' && DECIMAL_INTEGER.test(v)) return integerValue(name, s, v);
      return v;
    case 'double':
    case 'float':
      if (v instanceof JsonNumber || (typeof v === 'string' && SPELLED_DOUBLES.has(v))) {
        return doubleValue(name, s, String(v));
      }
      return s.kind === 'float' && typeof v === 'number' ? floatValue(name, v, String(v)) : v;
    case 'bytes':
      return typeof v === 'string' ? bytesValue(name, v) : v;
    case 'json':
      return jsonValue(name, v, 0);
    default:
      return v instanceof JsonNumber ? Number(v.text) : v;
  }
}

/** A field's value from JSON or msgpack input. */
function fromJsonField(f: FieldSpec, v: unknown): unknown {
  if (v === undefined || (v === null && f.kind !== 'json')) return v;
  if (f.kind !== 'list') return scalarFromJson(f.name, f, v);
  if (!Array.isArray(v)) return v instanceof JsonNumber ? Number(v.text) : v;
  return v.map((x) => scalarFromJson(f.name, f.element!, x));
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

/** A JSON or msgpack record with its values as the schema stores them (in place). */
function fromJsonRecord(type: ObjectType, item: unknown): unknown {
  if (item instanceof JsonNumber) return Number(item.text);
  if (!isPlainObject(item)) return item;
  for (const f of type.fields) {
    if (!Object.hasOwn(item, f.name)) continue;
    const v = item[f.name];
    // Key fields are scalars; a container there is refused before anything renders it as text.
    if (
      type.primaryKey.includes(f.name) &&
      typeof v === 'object' &&
      v !== null &&
      !(v instanceof JsonNumber)
    ) {
      const got = Array.isArray(v) ? 'an array' : 'an object';
      throw new FieldProblem(f.name, `expected ${f.kind} (it is a key field), got ${got}`);
    }
    item[f.name] = fromJsonField(f, v);
  }
  return item;
}

// ---------------------------------------------------------------------------------------------
// msgpack

/** A decoded msgpack value with its maps as plain objects (string keys only). */
function fromMsgpack(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  // A bound well past any json value's (checked per field later, with the field's name), so that
  // this walk never runs out of stack on what msgpackr could decode.
  if (depth > 4 * JSON_DEPTH) throw new Error(`the record is nested deeper than ${JSON_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((v) => fromMsgpack(v, depth + 1));
  if (!(value instanceof Map)) return value;
  const entries: [string, unknown][] = [];
  for (const [k, v] of value) {
    if (typeof k !== 'string') {
      throw new Error(`a msgpack map key must be a string, got a key of type ${typeof k}`);
    }
    entries.push([k, fromMsgpack(v, depth + 1)]);
  }
  return Object.fromEntries(entries);
}

// ---------------------------------------------------------------------------------------------
// CSV

interface CsvRow {
  readonly line: number;
  readonly cells: readonly string[];
  /** Per cell: written in quotes (so `""` is an empty string, not a blank). */
  readonly quoted: readonly boolean[];
}

/**
 * Splits CSV text into rows (RFC 4180: quoted cells, doubled quotes, line breaks inside quotes;
 * rows end with LF, CRLF or CR; blank lines are skipped). A row that breaks the grammar is
 * reported and reading goes on at the next line.
 */
function parseCsv(text: string, problem: (line: number, message: string) => void): CsvRow[] {
  const rows: CsvRow[] = [];
  const n = text.length;
  let line = 1;
  const isBreak = (j: number) => text[j] === '\n' || text[j] === '\r';
  /** Line breaks in text[from, to): LF, CRLF and a lone CR count one each. */
  const breaks = (from: number, to: number) => {
    let count = 0;
    for (let j = from; j < to; j++)
      if (text[j] === '\n' || (text[j] === '\r' && text[j + 1] !== '\n')) count++;
    return count;
  };
  /** Just past the line break at or after `from`, counting it. */
  const nextLine = (from: number) => {
    let j = from;
    while (j < n && !isBreak(j)) j++;
    if (j < n) {
      line++;
      j += text[j] === '\r' && text[j + 1] === '\n' ? 2 : 1;
    }
    return j;
  };
  let i = 0;
  while (i < n) {
    const rowLine = line;
    const cells: string[] = [];
    const quoted: boolean[] = [];
    let bad: string | undefined;
    for (;;) {
      const cell = cells.length + 1;
      if (text[i] === '"') {
        let value = '';
        let from = i + 1;
        for (;;) {
          const q = text.indexOf('"', from);
          if (q < 0) {
            bad = `cell ${cell}: a quote opened on line ${line} is never closed`;
            break;
          }
          value += text.slice(from, q);
          from = q + 1;
          if (text[from] !== '"') break;
          value += '"';
          from++;
        }
        if (bad) break;
        line += breaks(i, from);
        cells.push(value);
        quoted.push(true);
        i = from;
      } else {
        let j = i;
        while (j < n && text[j] !== ',' && !isBreak(j)) j++;
        const value = text.slice(i, j);
        i = j;
        if (value.includes('"')) {
          bad = `cell ${cell} has a quote but does not start with one: quote the whole cell, doubling the quotes inside`;
          break;
        }
        cells.push(value);
        quoted.push(false);
      }
      if (text[i] === ',') i++;
      else if (i < n && !isBreak(i)) {
        bad = `cell ${cell} has text after its closing quote`;
        break;
      } else break;
    }
    i = nextLine(i);
    if (bad) problem(rowLine, `not valid CSV: ${bad}`);
    else if (cells.length > 1 || cells[0] !== '' || quoted[0]) rows.push({ line: rowLine, cells, quoted });
  }
  return rows;
}

/** A field's value from a CSV cell: scalars by kind, plain decimal; lists and json as JSON. */
function fromCell(f: FieldSpec, cell: string, quoted: boolean): unknown {
  if (cell === '')
    return quoted && f.kind === 'string' ? '' : quoted && f.kind === 'bytes' ? new Uint8Array() : undefined;
  switch (f.kind) {
    case 'int':
    case 'long':
      if (!DECIMAL_INTEGER.test(cell)) {
        throw new FieldProblem(f.name, `expected a decimal integer, got ${JSON.stringify(clip(cell))}`);
      }
      return integerValue(f.name, f, cell);
    case 'double':
    case 'float':
      if (!DECIMAL.test(cell) && !SPELLED_DOUBLES.has(cell)) {
        throw new FieldProblem(
          f.name,
          `expected a decimal number, Infinity, -Infinity or NaN, got ${JSON.stringify(clip(cell))}`,
        );
      }
      return doubleValue(f.name, f, cell);
    case 'boolean':
      return cell === 'true' || cell === '1' ? true : cell === 'false' || cell === '0' ? false : cell;
    case 'string':
      return cell;
    case 'bytes':
      return bytesValue(f.name, cell);
    default: {
      let parsed: unknown;
      try {
        parsed = parseJson(cell);
      } catch (e) {
        throw new FieldProblem(f.name, `is not valid JSON: ${(e as Error).message}`);
      }
      return fromJsonField(f, parsed);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/** `id=42` or `a=1, b="x"` from whatever key values `source` holds, for messages. */
function describeKey(type: ObjectType, source: unknown): string {
  if (!isPlainObject(source)) return '';
  const scalar = (v: unknown) =>
    (typeof v !== 'object' && typeof v !== 'function') || v instanceof JsonNumber;
  return type.primaryKey
    .filter((k) => Object.hasOwn(source, k) && scalar(source[k]))
    .map((k) => {
      const v = source[k];
      return `${k}=${typeof v === 'string' && type.field(k)?.kind === 'string' ? JSON.stringify(v) : String(v)}`;
    })
    .join(', ');
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

  const take: Take = (file, line, typeName, keySource, build) => {
    let type: ObjectType | undefined;
    try {
      if (!typeName)
        throw new Error(
          'the schema has several types: give --type, or records as {"type": ..., "record": ...}',
        );
      if (!schema.has(typeName)) throw new Error(`the schema has no type "${typeName}"`);
      type = schema.type(typeName);
      const record = build(type) as Record<string, unknown>;
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
      let message = (e as Error).message;
      if (e instanceof FieldProblem && type) {
        const key = describeKey(type, keySource);
        message = `${type.name}${key ? ` (${key})` : ''}: field "${e.field}" ${message}. Fix the record, or change the schema.`;
      }
      problems.push({ file, line, message });
    }
  };
  /** A JSON or msgpack item: a plain record or an envelope. */
  const takeItem = (file: string, line: number, item: unknown) => {
    if (isPlainObject(item) && 'type' in item && 'record' in item && Object.keys(item).length === 2) {
      if (typeof item.type !== 'string') {
        problems.push({
          file,
          line,
          message: 'the "type" of a {"type": ..., "record": ...} envelope must be a string',
        });
        return;
      }
      take(file, line, item.type, item.record, (type) => fromJsonRecord(type, item.record));
    } else {
      take(file, line, defaultType, item, (type) => fromJsonRecord(type, item));
    }
  };

  for (const file of files) {
    const format = options.format ?? BY_EXTENSION[extname(file)] ?? 'ndjson';
    const bytes = await readAll(file);
    if (format === 'msgpack') {
      readMsgpack(file, bytes, takeItem, problems);
      continue;
    }
    const badLines = isUtf8(bytes) ? [] : nonUtf8Lines(bytes);
    if (format !== 'ndjson' && badLines.length > 0) {
      const message = 'not valid UTF-8 (the first such line); nothing of this file is read';
      problems.push({ file, line: badLines[0]!, message });
      continue;
    }
    const text = withoutBom(bytes.toString('utf8'));
    if (format === 'json') {
      let items: unknown;
      try {
        items = parseJson(text);
      } catch (e) {
        problems.push({ file, line: 1, message: `not valid JSON: ${(e as Error).message}` });
        continue;
      }
      if (!Array.isArray(items))
        problems.push({ file, line: 1, message: 'a .json input must be an array of records' });
      else for (let i = 0; i < items.length; i++) takeItem(file, i + 1, items[i]);
    } else if (format === 'csv') {
      readCsv(file, text, defaultType ? schema.type(defaultType) : undefined, take, problems);
    } else {
      const bad = new Set(badLines);
      text.split('\n').forEach((lineText, i) => {
        if (bad.has(i + 1)) {
          problems.push({ file, line: i + 1, message: 'not valid UTF-8' });
          return;
        }
        if (lineText.trim() === '') return;
        let item: unknown;
        try {
          item = parseJson(lineText);
        } catch (e) {
          problems.push({ file, line: i + 1, message: `not valid JSON: ${(e as Error).message}` });
          return;
        }
        takeItem(file, i + 1, item);
      });
    }
  }
  return { records, problems };
}

/** Validates and keeps one record (converted by `build`), or keeps its problem. */
type Take = (
  file: string,
  line: number,
  typeName: string | undefined,
  keySource: unknown,
  build: (type: ObjectType) => unknown,
) => void;

/** Reads a msgpack stream: one record per top-level value; `line` is the value's position. */
function readMsgpack(
  file: string,
  bytes: Buffer,
  takeItem: (file: string, line: number, item: unknown) => void,
  problems: InputProblem[],
): void {
  const items: { value: unknown; offset: number }[] = [];
  if (bytes.length === 0) return;
  // Maps decode as Maps, so that a `__proto__` key reaches the validator as itself: with
  // `mapsAsObjects` msgpackr renames it to `__proto_`, which would change the value silently.
  const unpackr = new Unpackr({ mapsAsObjects: false });
  try {
    unpackr.unpackMultiple(bytes, (value: unknown, offset?: number) => {
      items.push({ value, offset: offset ?? 0 });
    });
  } catch (e) {
    const offset = (e as { lastPosition?: unknown }).lastPosition;
    const why =
      e instanceof RangeError && /call stack/.test(e.message)
        ? 'it is nested too deeply'
        : (e as Error).message;
    problems.push({
      file,
      line: items.length + 1,
      message: `not valid msgpack at byte offset ${typeof offset === 'number' ? offset : '?'} (${why}); the rest of the file is not read`,
    });
  }
  for (let i = 0; i < items.length; i++) {
    let item: unknown;
    try {
      item = fromMsgpack(items[i]!.value, 0);
    } catch (e) {
      problems.push({
        file,
        line: i + 1,
        message: `${(e as Error).message} (at byte offset ${items[i]!.offset})`,
      });
      continue;
    }
    takeItem(file, i + 1, item);
  }
}

/** Reads CSV: a header row naming fields, then one record per row. */
function readCsv(
  file: string,
  text: string,
  type: ObjectType | undefined,
  take: Take,
  problems: InputProblem[],
): void {
  const report = (line: number, message: string) => problems.push({ file, line, message });
  if (!type) {
    report(1, 'CSV input needs --type');
    return;
  }
  const before = problems.length;
  readCsvRows(file, text, type, take, problems);
  // Grammar problems are found before the rows are read: report the file's problems in line order.
  for (const p of problems.splice(before).sort((a, b) => a.line - b.line)) problems.push(p);
}

function readCsvRows(
  file: string,
  text: string,
  type: ObjectType,
  take: Take,
  problems: InputProblem[],
): void {
  const report = (line: number, message: string) => problems.push({ file, line, message });
  const before = problems.length;
  const rows = parseCsv(text, report);
  const header = rows.shift();
  const first = problems[before];
  if (first && (!header || first.line < header.line)) {
    // The header itself is broken: no row can be read against it.
    problems[before] = {
      ...first,
      message: `${first.message}; it is the header, so nothing of this file is read`,
    };
    problems.length = before + 1;
    return;
  }
  if (!header) {
    report(1, 'the CSV file is empty');
    return;
  }
  const columns: FieldSpec[] = [];
  for (const [i, cell] of header.cells.entries()) {
    const name = cell.trim();
    const f = type.field(name);
    const why = !f
      ? `column ${i + 1}, ${JSON.stringify(name)}, is not a field of ${type.name}`
      : columns.includes(f)
        ? `column ${i + 1} names field "${name}" again`
        : undefined;
    if (why) {
      report(header.line, `${why}; nothing of this file is read`);
      return;
    }
    columns.push(f!);
  }
  for (const row of rows) {
    if (row.cells.length !== columns.length) {
      report(row.line, `the row has ${row.cells.length} cells, the header ${columns.length}`);
      continue;
    }
    const cells = Object.fromEntries(columns.map((f, i) => [f.name, row.cells[i]]));
    take(file, row.line, type.name, cells, () => {
      const record: Record<string, unknown> = {};
      columns.forEach((f, i) => {
        const v = fromCell(f, row.cells[i]!, row.quoted[i]!);
        if (v !== undefined) record[f.name] = v;
      });
      return record;
    });
  }
}
