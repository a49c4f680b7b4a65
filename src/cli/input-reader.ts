/**
 * Reading producer input for `shoal produce`: NDJSON, a JSON array, CSV, or a msgpack stream,
 * from a file, every such file of a directory, or stdin. Each record is a plain record (of its
 * file's type: input-types.ts) or an envelope `{ "type": ..., "record": ... }`. This
 * module walks the files, decodes text and hands each record to validation; the formats and
 * the conversion of values live beside it (exact-json-parser.ts, csv-parser.ts,
 * csv-record-reader.ts, msgpack-record-reader.ts, field-value-converter.ts).
 *
 * The contract: every input yields exactly the values written, or a problem at its
 * `file:line` with the reason; never a rounded number, a dropped row or a thrown stack.
 * - Text must be UTF-8; a byte-order mark at the start of a file is skipped. An NDJSON line
 *   that is not UTF-8 is a problem for that line; any other file with one is not read.
 * - JSON numbers are exact (exact-json-parser.ts), and the field's kind decides what each is
 *   (field-value-converter.ts). Nesting is the validator's to limit; the reader walks no deeper.
 * - CSV is RFC 4180, strictly (csv-parser.ts): a row that breaks the grammar, or whose cell
 *   count is not the header's, is a problem for that row, and reading goes on at the next line.
 * - msgpack that does not decode is a problem at the record's byte offset; the rest of that
 *   file cannot be framed, so it is not read (msgpack-record-reader.ts).
 * - A record's key must not repeat one earlier in the input, of any file.
 */
import { isUtf8 } from 'node:buffer';
import { closeSync, createReadStream, constants as fsConstants, openSync, writeSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { createRecordValidator, type ObjectType, type RecordValidator, type Schema } from '../index.ts';
import { readCsv } from './csv-record-reader.ts';
import { JsonNumber, parseJson } from './exact-json-parser.ts';
import { FieldProblem, fromJsonRecord, isPlainObject } from './field-value-converter.ts';
import { type InputProblem, type InputRecord, pacer, type Take } from './input-record.ts';
import { readMsgpack } from './msgpack-record-reader.ts';

export type { InputProblem, InputRecord } from './input-record.ts';

/** An input file's format: from `--format`, else from its extension, else NDJSON. */
export type InputFormat = 'ndjson' | 'json' | 'csv' | 'msgpack';

const BY_EXTENSION: Record<string, InputFormat> = {
  '.ndjson': 'ndjson',
  '.jsonl': 'ndjson',
  '.json': 'json',
  '.csv': 'csv',
  '.msgpack': 'msgpack',
  '.mp': 'msgpack',
};

/** How many records are read between two progress reports. */
export const PROGRESS_EVERY = 100_000;

/** The format a file's extension names, in any case (`City.CSV` is CSV). */
const byExtension = (file: string): InputFormat | undefined => BY_EXTENSION[extname(file).toLowerCase()];

/** A file's format: `format` if given, else by its extension, else NDJSON. */
export const formatOf = (file: string, format?: InputFormat): InputFormat =>
  format ?? byExtension(file) ?? 'ndjson';

/** Reading options. */
export interface ReadOptions {
  readonly schema: Schema;
  /**
   * The type of each file's plain records (input-types.ts decides it).
   * @default none: every record must be an envelope
   */
  readonly fileTypes?: ReadonlyMap<string, string | undefined>;
  readonly format?: InputFormat;
  /** Called every {@link PROGRESS_EVERY} records. */
  readonly onProgress?: (records: number) => void;
  /** Stops reading (stdin too): the read rejects with the signal's `AbortError`. */
  readonly signal?: AbortSignal;
}

/**
 * The files an input path names, and those of a directory that are not read for want of an
 * input extension (`notes.txt`), for the caller to report. Hidden files are neither.
 */
export async function inputFiles(input: string): Promise<{ files: string[]; skipped: string[] }> {
  if (input === '-') return { files: ['-'], skipped: [] };
  const s = await stat(input);
  if (!s.isDirectory()) return { files: [input], skipped: [] };
  const names = (await readdir(input)).filter((name) => !name.startsWith('.')).sort();
  const read = (name: string) => byExtension(name) !== undefined;
  return {
    files: names.filter(read).map((name) => join(input, name)),
    skipped: names.filter((name) => !read(name)),
  };
}

/**
 * A file's bytes, read as a stream so that `signal` ends the read at once: between chunks of a
 * large file, and while a FIFO or stdin waits for a writer (its open or read may never return,
 * so the read is raced against the signal rather than awaited to its end).
 */
async function readAll(file: string, signal: AbortSignal | undefined): Promise<Buffer> {
  const fifo = signal !== undefined && file !== '-' && (await stat(file)).isFIFO();
  signal?.throwIfAborted();
  const source = file === '-' ? process.stdin : createReadStream(file);
  // Destroying the stream on abort ends the wait for a writer that never closes it.
  const stream = signal ? addAbortSignal(signal, source) : source;
  const read = (async () => {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  })();
  if (!signal) return read;
  read.catch(() => {});
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      if (fifo) {
        // The stream's open may not have reached the thread pool yet (then no reader waits, and
        // a wake now finds none): wake again until the stream has closed, for at most 10 s.
        wake(file);
        const retry = setInterval(() => wake(file), 50);
        const stop = setTimeout(() => clearInterval(retry), 10_000);
        source.once('close', () => {
          clearInterval(retry);
          clearTimeout(stop);
        });
      }
      reject(signal.reason);
    };
  });
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  try {
    return await Promise.race([read, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Ends a read of a FIFO that waits in the thread pool, for a writer to open it or to write: the
 * process could not exit while it waits. A newline written (or an open and close of the write
 * end) completes that read; what it reads is dropped with the rest of the aborted input.
 */
function wake(fifo: string): void {
  try {
    const fd = openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    try {
      writeSync(fd, '\n');
    } finally {
      closeSync(fd);
    }
  } catch {
    // No reader waits (ENXIO), or the pipe is full (EAGAIN) so no read waits: nothing to wake.
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

/**
 * A valid record's key as a user writes it: `9`, `"abc"`, or a composite key as JSON
 * (`{"country":"FR","id":7}`, a bigint part as its digits). Distinct keys give distinct texts.
 */
function keyText(type: ObjectType, record: Record<string, unknown>): string {
  const part = (v: unknown) => (typeof v === 'bigint' ? String(v) : JSON.stringify(v));
  if (!type.compositeKey) return part(record[type.primaryKey[0]!]);
  return `{${type.primaryKey.map((k) => `${JSON.stringify(k)}:${part(record[k])}`).join(',')}}`;
}

/** Reads and validates every record of `files`; problems are collected, not thrown. */
export async function readInput(
  files: readonly string[],
  options: ReadOptions,
): Promise<{ records: InputRecord[]; problems: InputProblem[] }> {
  const { schema } = options;
  let defaultType: string | undefined;
  const validators = new Map<string, RecordValidator>(
    schema.types.map((t) => [t.name, createRecordValidator(t)]),
  );
  const seenKeys = new Map<string, Set<string>>(schema.types.map((t) => [t.name, new Set()]));
  const records: InputRecord[] = [];
  const problems: InputProblem[] = [];
  const pace = pacer(options.signal);

  const take: Take = (file, line, typeName, keySource, build) => {
    let type: ObjectType | undefined;
    try {
      if (!typeName)
        throw new Error(
          'the schema has several types: give --type or --type-of, or records as {"type": ..., "record": ...}',
        );
      if (!schema.has(typeName)) throw new Error(`the schema has no type "${typeName}"`);
      type = schema.type(typeName);
      const record = build(type) as Record<string, unknown>;
      validators.get(typeName)!(record);
      if (type.primaryKey.length > 0) {
        const key = keyText(type, record);
        const seen = seenKeys.get(typeName)!;
        if (seen.has(key))
          throw new Error(`${typeName} key ${key} appears twice in the input (DUPLICATE_KEY)`);
        seen.add(key);
      }
      records.push({ type: typeName, record });
      if (records.length % PROGRESS_EVERY === 0) options.onProgress?.(records.length);
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
    options.signal?.throwIfAborted();
    defaultType = options.fileTypes?.get(file);
    const format = formatOf(file, options.format);
    const bytes = await readAll(file, options.signal);
    if (format === 'msgpack') {
      await readMsgpack(file, bytes, takeItem, problems, pace);
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
      else
        for (let i = 0; i < items.length; i++) {
          await pace();
          takeItem(file, i + 1, items[i]);
        }
    } else if (format === 'csv') {
      await readCsv(file, text, defaultType ? schema.type(defaultType) : undefined, take, problems, pace);
    } else {
      const bad = new Set(badLines);
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        await pace();
        const lineText = lines[i]!;
        if (bad.has(i + 1)) {
          problems.push({ file, line: i + 1, message: 'not valid UTF-8' });
          continue;
        }
        if (lineText.trim() === '') continue;
        let item: unknown;
        try {
          item = parseJson(lineText);
        } catch (e) {
          problems.push({ file, line: i + 1, message: `not valid JSON: ${(e as Error).message}` });
          continue;
        }
        takeItem(file, i + 1, item);
      }
    }
  }
  return { records, problems };
}
