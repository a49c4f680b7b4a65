/**
 * Input values to field values, by the field's kind: a JSON or msgpack record converted in
 * place, or a CSV cell. It runs before the record validator and does only what the validator
 * cannot: it decides what number text means, and refuses what would otherwise be stored as
 * something other than what was written.
 *
 * Invariants: integers must be exact and in range; doubles take the nearest value but may not
 * overflow to ±Infinity or underflow to 0; an integer in a json value that a double cannot hold
 * is a bigint. CSV numbers are plain decimal; a blank cell is absent, a quoted empty one is an
 * empty string or bytes. Any other mismatch of value and kind is left for the validator, whose
 * messages say it; a refusal here is a {@link FieldProblem} naming the field.
 */
import type { FieldKind, FieldSpec, ObjectType } from '../index.ts';
import { JsonNumber, parseJson } from './exact-json-parser.ts';

/**
 * How deep the reader walks a json value (`[[1]]` is 2 levels): the validator's limit for json
 * values, which refuses anything deeper per record (README, field kinds).
 */
export const JSON_DEPTH = 64;

/** A value refused before validation, reported as `Type (key): field "name" <message>`. */
export class FieldProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

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

/** A JSON object or msgpack map: not null, an array or bytes. */
export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

/** A JSON or msgpack record with its values as the schema stores them (in place). */
export function fromJsonRecord(type: ObjectType, item: unknown): unknown {
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

/** A field's value from a CSV cell: scalars by kind, plain decimal; lists and json as JSON. */
export function fromCell(f: FieldSpec, cell: string, quoted: boolean): unknown {
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
