/**
 * `read(key, field)` on an int key reads the key and the field in one wait (the keyed path of
 * fixed and dictionary columns): every field of every key, against a Map model, across deltas
 * that leave tombstones on probe paths, and on the decoded snapshot.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AnyState,
  applyDelta,
  decodeSnapshot,
  encodeDelta,
  encodeSnapshot,
  StateBuilder,
  t,
} from '../src/index.ts';
import { errorCode } from './support/error-code.ts';

const Item = t.object(
  'Item',
  {
    id: t.int(),
    count: t.int(),
    price: t.double(),
    weight: t.float(),
    stamp: t.long(),
    serial: t.long({ bigint: true }),
    colour: t.string(),
    size: t.int(),
    name: t.string(),
    note: t.string().optional(),
    tags: t.list(t.string()),
    active: t.boolean(),
  },
  { primaryKey: 'id' },
);
const schema = t.schema([Item]);
type ItemRecord = t.Infer<typeof Item>;
const FIELDS = Item.fields.map((f) => f.name) as (keyof ItemRecord & string)[];

/** Small thresholds: the dictionaries of colour and size start and stop paying within a run. */
const LAYOUT = { keyShard: 16, minDictValues: 4, maxNarrowDict: 4, maxDictSize: 8 } as const;

const item = (id: number, rev: number): ItemRecord => ({
  id,
  // -1 and 0 are values as much as any other: a miss must not be read as either.
  count: (id % 3) - 1,
  price: id / 7 + rev,
  weight: Math.fround(id * 0.5),
  stamp: id * 1_000_003 - 2 ** 40,
  serial: BigInt(id) * 10_000_000_019n - 1n,
  colour: ['red', 'green', 'blue'][(id + rev) % 3]!,
  size: rev % 2 === 0 ? id % 4 : id,
  name: `item ${id} rev ${rev}`,
  ...(id % 2 ? { note: `n${id}` } : {}),
  tags: id % 4 ? ['a', `t${id % 5}`] : [],
  active: id % 2 === 0,
});

/** Every field of every key in `model` read as the record has it; keys around them miss. */
function expectReads(state: AnyState, model: ReadonlyMap<number, ItemRecord>): void {
  const type = state.type('Item');
  const readers = FIELDS.map((f) => type.fieldReader(f));
  for (const [id, r] of model) {
    FIELDS.forEach((f, i) => {
      expect(type.read(id, f)).toEqual(r[f]);
      expect(readers[i]!(id)).toEqual(r[f]);
    });
  }
  for (let id = -2; id < 260; id++) {
    if (model.has(id)) continue;
    FIELDS.forEach((f, i) => {
      expect(type.read(id, f)).toBeUndefined();
      expect(readers[i]!(id)).toBeUndefined();
    });
  }
}

describe('read(key, field) on an int key', () => {
  it('reads each field kind by key through deltas, as the model has it (fast path on fixed and dict columns)', () => {
    const op = fc.record({
      upsert: fc.uniqueArray(fc.integer({ min: 0, max: 250 }), { maxLength: 60 }),
      remove: fc.uniqueArray(fc.integer({ min: 0, max: 250 }), { maxLength: 60 }),
    });
    const reached = new Set<string>();
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 6 }), (ops) => {
        // A first version of 100 records, so colour and size start out as dictionaries.
        const model = new Map<number, ItemRecord>();
        const first = new StateBuilder(schema);
        for (let id = 0; id < 100; id++) {
          model.set(id, item(id, 0));
          first.add('Item', item(id, 0));
        }
        let producer: AnyState = first.build({ version: 1, layout: LAYOUT });
        let consumer = decodeSnapshot(encodeSnapshot(producer));
        for (const [round, o] of ops.entries()) {
          const b = StateBuilder.from(producer);
          for (const id of o.remove) if (model.delete(id)) b.remove('Item', id);
          for (const id of o.upsert) {
            const r = item(id, round + 1);
            model.set(id, r);
            b.upsert('Item', r);
          }
          const next = b.build({ version: round + 2, layout: LAYOUT });
          if (next === producer) continue;
          consumer = applyDelta(consumer, encodeDelta(producer, next, { layout: LAYOUT }), {
            layout: LAYOUT,
          });
          producer = next;
          expectReads(producer, model);
          expectReads(consumer, model);
          expectReads(decodeSnapshot(encodeSnapshot(consumer)), model);
          for (const f of FIELDS) if (consumer.type('Item').fieldReader(f).name === 'keyed') reached.add(f);
        }
      }),
      { numRuns: 6 },
    );
    // The fast path served the plain fixed and dictionary columns; optional, list, var and
    // boolean fields were read the ordinary way (and matched the model just the same).
    expect([...reached].sort().join()).toEqual('colour,count,id,price,serial,size,stamp,weight');
  });

  it('refuses a key of the wrong shape with INVALID_KEY, and an unknown field with UNKNOWN_FIELD', () => {
    const state = new StateBuilder(schema).add('Item', item(1, 0)).build({ version: 1 });
    const type = state.type('Item');
    expect(errorCode(() => type.read('1' as unknown as number, 'count'))).toBe('INVALID_KEY');
    expect(errorCode(() => type.read(1, 'nope' as 'count'))).toBe('UNKNOWN_FIELD');
    // No prototype answers for a field the type lacks.
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty'])
      expect(errorCode(() => type.fieldReader(name as 'count'))).toBe('UNKNOWN_FIELD');
    expect(errorCode(() => type.fieldReader('count')('1' as unknown as number))).toBe('INVALID_KEY');
    expect(type.fieldReader('count')(1.5)).toBeUndefined();
    expect(type.fieldReader('count')(1)).toBe(0);
    expect(type.read(1.5, 'count')).toBeUndefined();
    expect(type.read(1, 'count')).toBe(0);
  });
});
