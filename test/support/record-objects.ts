/** A type whose optional fields lie between required ones, and three records of it. */
import { t } from '../../src/schema/index.ts';
import { StateBuilder } from '../../src/state/build/state-builder.ts';
import { decodeSnapshot, encodeSnapshot } from '../../src/state/encoding/snapshot.ts';
import type { State } from '../../src/state/read/state.ts';

const Item = t.object(
  'Item',
  {
    id: t.int(),
    note: t.string().optional(),
    name: t.string(),
    tags: t.list(t.string()),
    score: t.double().optional(),
    flags: t.list(t.boolean()).optional(),
  },
  { primaryKey: 'id' },
);
const schema = t.schema([Item]);

export const records = [
  { id: 1, note: 'first', name: 'ünïcode ✓', tags: ['a', 'b'], score: 1.5, flags: [true, false] },
  { id: 2, name: 'plain', tags: [] },
  { id: 3, note: '', name: '', tags: ['only'], flags: [] },
];

/** The records' state, through a snapshot. */
export function decoded(): State {
  const b = new StateBuilder(schema);
  for (const r of records) b.add('Item', r);
  return decodeSnapshot(encodeSnapshot(b.build({ version: 1 })));
}

/** Each record as toObject and JSON.stringify give it, and its keys in the order they come. */
export function objects(state: State): string[] {
  return records.map((r) => {
    const view = state.type('Item').get(r.id)!;
    return `${JSON.stringify(view.toObject())} ${JSON.stringify(view)} ${Object.keys(view.toObject())}`;
  });
}
