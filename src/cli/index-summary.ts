/**
 * What `shoal inspect` shows of a version's secondary indexes: per index its type, name,
 * fields, kind, the records it holds, its distinct values (hash indexes) and its bytes.
 */
import type { AnyState } from '../index.ts';

/** One line per index of `state`, in schema order. */
export function indexSummary(state: AnyState) {
  return state.types.flatMap((t) =>
    t.indexNames.map((name) => {
      const i = t.index(name);
      return {
        type: t.name,
        name,
        fields: i.fields,
        kind: i.prefix ? 'prefix' : 'hash',
        records: i.size,
        ...(i.distinctValues !== undefined ? { values: i.distinctValues } : {}),
        bytes: i.byteLength,
      };
    }),
  );
}
