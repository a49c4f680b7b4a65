/**
 * `GET /records/<type>?<index>=<value>` and `?<index>.prefix=<prefix>` for `shoal consume`:
 * the matches of one secondary index as NDJSON (one record a line, in the index's order), at
 * most `limit` of them (default 100, at most 10000); the `x-shoal-matches` header gives how
 * many there are in all. A value is parsed by its field's kind as keys are (integers in
 * decimal, `true`/`false`), and for an index of several fields is a JSON object of them
 * (booleans as JSON true/false). The query is form-encoded (`+` is a space) and read strictly.
 */
import { type AnyState, type FieldSpec, isShoalError, type ObjectType, ShoalError } from '../index.ts';
import { recordReplacer } from './json-output.ts';

/** Matches a query returns unless it asks for another `limit`. */
export const DEFAULT_LIMIT = 100;
/** The most matches one query returns. */
export const MAX_LIMIT = 10_000;

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly type?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const json = (status: number, error: string, message: string): Answer => ({
  status,
  body: `${JSON.stringify({ error, message })}\n`,
  type: 'application/json',
});

/** Parses one key part by its field's kind (consume-command.ts's, shared with primary keys). */
export type PartParser = (field: FieldSpec, raw: unknown) => unknown;

/** A boolean part: `true`/`false` as text when bare, JSON true/false inside a JSON value. */
function part(field: FieldSpec, raw: unknown, keyPart: PartParser, bare: boolean): unknown {
  if (field.kind !== 'boolean') return keyPart(field, raw);
  if (bare ? raw === 'true' : raw === true) return true;
  if (bare ? raw === 'false' : raw === false) return false;
  throw new ShoalError(
    'INVALID_KEY',
    `field "${field.name}" is a boolean: give ${bare ? 'true or false' : 'JSON true or false'}, got ${JSON.stringify(raw)}`,
  );
}

/** The lookup value of an index of `fields` from its query text. */
function parseValue(type: ObjectType, fields: readonly string[], text: string, keyPart: PartParser): unknown {
  const specs = fields.map((f) => type.field(f)!);
  if (specs.length === 1) return part(specs[0]!, text, keyPart, true);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ShoalError(
      'INVALID_KEY',
      `this index takes a JSON object of ${fields.join(', ')}; got ${JSON.stringify(text)}`,
    );
  }
  const given = parsed as Record<string, unknown>;
  const extra = Object.keys(given).filter((k) => !fields.includes(k));
  if (extra.length > 0)
    throw new ShoalError('INVALID_KEY', `${extra.join(', ')} not indexed here; give ${fields.join(', ')}`);
  const out: Record<string, unknown> = {};
  for (const f of specs) {
    if (!Object.hasOwn(given, f.name)) throw new ShoalError('INVALID_KEY', `the value lacks "${f.name}"`);
    out[f.name] = part(f, given[f.name], keyPart, false);
  }
  return out;
}

/**
 * The query's parameters, as form encoding has them (`+` is a space), strictly: a
 * percent-escape that is not one, or not UTF-8, and a parameter given twice are refused
 * rather than matched as something else.
 */
function parseQuery(search: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of search.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const [rawName, rawValue] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
    const decode = (raw: string) => {
      try {
        return decodeURIComponent(raw.replaceAll('+', ' '));
      } catch {
        throw new ShoalError(
          'INVALID_KEY',
          `the query's ${JSON.stringify(raw)} is not valid percent-encoded UTF-8; escape each byte as %XX (a literal % as %25)`,
        );
      }
    };
    const name = decode(rawName);
    if (out.has(name))
      throw new ShoalError(
        name === 'limit' ? 'INVALID_OPTION' : 'INVALID_KEY',
        `the query gives "${name}" twice; give it once`,
      );
    out.set(name, decode(rawValue));
  }
  return out;
}

const DIGITS = /^[1-9][0-9]*$/;

/** Answers an index query on `typeName` of `state`; `search` is the query as sent after the `?`. */
export function queryIndex(state: AnyState, typeName: string, search: string, keyPart: PartParser): Answer {
  try {
    const type = state.type(typeName);
    const query = parseQuery(search);
    const rawLimit = query.get('limit');
    const limit =
      rawLimit === undefined ? DEFAULT_LIMIT : DIGITS.test(rawLimit) ? Number(rawLimit) : Number.NaN;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT)
      return json(
        400,
        'INVALID_OPTION',
        `limit must be a whole number from 1 to ${MAX_LIMIT} in plain decimal digits, got ${JSON.stringify(rawLimit)}`,
      );
    const asked = [...query.keys()].filter((k) => k !== 'limit');
    const names = type.indexNames;
    const usage = `/records/${typeName}?<index>=<value> or ?<index>.prefix=<prefix>; ${typeName} has ${names.length > 0 ? names.join(', ') : 'no indexes'}`;
    if (asked.length > 1) {
      const isIndex = (k: string) =>
        names.includes(k.endsWith('.prefix') ? k.slice(0, -'.prefix'.length) : k);
      const unknown = asked.find((k) => !isIndex(k));
      return json(
        400,
        'INVALID_KEY',
        unknown !== undefined
          ? `unknown parameter "${unknown}": ${usage}`
          : `name one index, not ${asked.length}: ${usage}`,
      );
    }
    if (asked.length === 0) return json(400, 'INVALID_KEY', `name one index: ${usage}`);
    const param = asked[0]!;
    const prefix = param.endsWith('.prefix');
    const index = type.index(prefix ? param.slice(0, -'.prefix'.length) : param);
    const text = query.get(param)!;
    const value = prefix ? text : parseValue(type.type, index.fields, text, keyPart);
    const matches = prefix ? index.findPrefix(text) : index.find(value);
    const total = prefix ? index.countPrefix(text) : index.count(value);
    const lines: string[] = [];
    for (const view of matches) {
      if (lines.length === limit) break;
      lines.push(JSON.stringify(view.toObject(), recordReplacer));
    }
    return {
      status: 200,
      body: lines.map((l) => `${l}\n`).join(''),
      type: 'application/x-ndjson',
      headers: { 'x-shoal-matches': String(total) },
    };
  } catch (e) {
    if (isShoalError(e) && (e.code === 'UNKNOWN_TYPE' || e.code === 'UNKNOWN_INDEX'))
      return json(404, e.code, e.message);
    if (isShoalError(e)) return json(400, e.code, e.message);
    throw e;
  }
}
