/**
 * Framing a msgpack stream into records: one record per top-level value, numbered from 1 as a
 * text file's lines are, with maps turned into plain objects.
 *
 * Invariants: a value that does not decode is a problem at its byte offset, and the rest of
 * that file cannot be framed, so it is not read; the values before it are. Map keys must be
 * strings, and a `__proto__` key stays an own property, so the validator sees what was written.
 */
// The pure-JS build, as everywhere in shoal (see src/format/msgpack.ts).
import { Unpackr } from 'msgpackr/unpack';
import { JSON_DEPTH } from './field-value-converter.ts';
import type { InputProblem, Pace } from './input-record.ts';

/** Reads a msgpack stream: one record per top-level value; `line` is the value's position. */
export async function readMsgpack(
  file: string,
  bytes: Buffer,
  takeItem: (file: string, line: number, item: unknown) => void,
  problems: InputProblem[],
  pace: Pace,
): Promise<void> {
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
    await pace();
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
