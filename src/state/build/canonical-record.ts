/**
 * Records as the state stores them: a `long` (stored as a JS number) of -0 is the integer 0,
 * as it is in an `int` field (an Int32Array has no -0). Without this a -0 stored first in a
 * dictionary column would be the one entry for 0 and -0 alike, and every record holding 0
 * would read back -0.
 */
import type { ObjectType } from '../../schema/index.ts';

type Rec = Readonly<Record<string, unknown>>;

/**
 * A function giving `record` with each long -0 (in a field or a list of longs) written as 0:
 * the record itself when it holds none, a copy otherwise (the caller's record is left alone).
 * The identity for a type without number longs.
 */
export function longZeroCanonicaliser(type: ObjectType): (record: Rec) => Rec {
  const scalars: string[] = [];
  const lists: string[] = [];
  for (const f of type.fields) {
    const value = f.kind === 'list' ? f.element! : f;
    if (value.kind !== 'long' || value.bigint) continue;
    (f.kind === 'list' ? lists : scalars).push(f.name);
  }
  if (scalars.length === 0 && lists.length === 0) return (record) => record;
  return (record) => {
    let out: Record<string, unknown> | undefined;
    for (const name of scalars) {
      if (!Object.is(record[name], -0)) continue;
      out ??= { ...record };
      out[name] = 0;
    }
    for (const name of lists) {
      const list = record[name];
      if (!Array.isArray(list) || !list.some((v) => Object.is(v, -0))) continue;
      out ??= { ...record };
      out[name] = list.map((v) => (v === 0 ? 0 : v));
    }
    return out ?? record;
  };
}
