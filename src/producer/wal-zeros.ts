/**
 * -0 through the write-ahead log. msgpack writes -0 as the integer 0, so a double field of -0
 * upserted through a producer would come back from the log as 0. A record holding a -0 (in a
 * field, or as a list element) is logged as `[record, where]`, `where` naming each: a field name,
 * or `[name, index]` for a list element. Records are objects, never arrays, so the two read apart.
 */

type Rec = Record<string, unknown>;
type Where = (string | [string, number])[];

/** The value to log for an upserted record: itself, or `[record, where]` when it holds a -0. */
export function withZeros(record: unknown): unknown {
  const where: Where = [];
  for (const name in record as Rec) {
    const v = (record as Rec)[name];
    if (Object.is(v, -0)) where.push(name);
    else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (Object.is(v[i], -0)) where.push([name, i]);
    }
  }
  return where.length > 0 ? [record, where] : record;
}

/**
 * The record a logged upsert holds, its -0s put back. A malformed `where` (a damaged or crafted
 * log) is skipped, leaving the record as logged for the build to check.
 */
export function zerosRestored(logged: unknown): unknown {
  if (!Array.isArray(logged)) return logged;
  const [record, where] = logged as [unknown, unknown];
  if (typeof record !== 'object' || record === null || !Array.isArray(where)) return logged;
  const r = record as Rec;
  for (const w of where) {
    if (typeof w === 'string') {
      if (r[w] === 0) r[w] = -0;
    } else if (Array.isArray(w) && typeof w[0] === 'string' && Number.isInteger(w[1])) {
      const list = r[w[0]];
      if (Array.isArray(list) && list[w[1]] === 0) list[w[1]] = -0;
    }
  }
  return r;
}
