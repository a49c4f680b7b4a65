/**
 * A delta's added records reach the next state's pages as the delta stores them: dictionary
 * codes re-mapped to the state's dictionary, string bytes copied (column-transition.ts), with
 * JS values made only for the other kinds. Every kind, optional or not, against a Map model,
 * with small thresholds so that dictionaries start, widen past 8-bit codes and stop paying
 * within a run, on both sides of the delta.
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

const Item = t.object(
  'Item',
  {
    id: t.int(),
    colour: t.string(),
    shade: t.string().optional(),
    size: t.int(),
    grade: t.int().optional(),
    price: t.double(),
    weight: t.float(),
    serial: t.long({ bigint: true }),
    stamp: t.long(),
    name: t.string(),
    note: t.string().optional(),
    tags: t.list(t.string()),
    codes: t.list(t.int()).optional(),
    raw: t.bytes(),
    meta: t.json().optional(),
  },
  { primaryKey: 'id' },
);
const schema = t.schema([Item]);
type ItemRecord = t.Infer<typeof Item>;

/** Dictionaries from 4 values, 8-bit codes up to 4 entries, none past 8 entries. */
const LAYOUT = { keyShard: 16, minDictValues: 4, maxNarrowDict: 4, maxDictSize: 8 } as const;

const COLOURS = ['red', 'green', 'blue', 'cyan', 'magenta', 'yellow', 'black', 'white', 'grey', 'pink'];
const PRICES = [0, -0, 1.5, Number.NaN, -2.25, 1e300];

/** The record of `id` at revision `rev`; `spread` widens the values' variety (dictionaries stop paying). */
const item = (id: number, rev: number, spread: number): ItemRecord => ({
  id,
  colour: COLOURS[(id + rev) % spread]!,
  ...((id + rev) % 3 ? { shade: `s${(id * rev) % spread}` } : {}),
  size: (id * 7 + rev) % spread,
  ...(id % 4 ? { grade: (id + rev) % 3 } : {}),
  price: PRICES[(id + rev) % PRICES.length]!,
  weight: Math.fround(((id + rev) % spread) * 0.25),
  serial: BigInt((id + rev) % spread) * 10_000_000_019n - 1n,
  stamp: ((id + rev) % spread) * 1_000_003 - 2 ** 40,
  name: `item ${id} rev ${rev} ${'é'.repeat(id % 3)}`,
  ...(id % 2 ? { note: `n${(id + rev) % spread}` } : {}),
  tags: id % 5 ? [COLOURS[id % spread]!, `t${rev % spread}`, 'a'] : [],
  ...(id % 3 ? { codes: [rev % spread, id % 2] } : {}),
  raw: new Uint8Array([id & 255, rev & 255]),
  ...(id % 2 ? { meta: { rev, id } } : {}),
});

/** Every record of `model` read whole from `state`, and nothing else. */
function expectRecords(state: AnyState, model: ReadonlyMap<number, ItemRecord>): void {
  const type = state.type('Item');
  expect(type.size).toBe(model.size);
  for (const [id, r] of model) expect(type.get(id)?.toObject()).toEqual(r);
}

describe('delta records taken as stored', () => {
  it('applies deltas of every field kind to the records the model holds', () => {
    const op = fc.record({
      upsert: fc.uniqueArray(fc.integer({ min: 0, max: 300 }), { maxLength: 80 }),
      remove: fc.uniqueArray(fc.integer({ min: 0, max: 300 }), { maxLength: 40 }),
      spread: fc.constantFrom(2, 3, 4, 6, 10),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 6 }), fc.constantFrom(2, 3, 10), (ops, spread) => {
        const model = new Map<number, ItemRecord>();
        const first = new StateBuilder(schema);
        for (let id = 0; id < 120; id++) {
          model.set(id, item(id, 0, spread));
          first.add('Item', item(id, 0, spread));
        }
        let producer: AnyState = first.build({ version: 1, layout: LAYOUT });
        let consumer = decodeSnapshot(encodeSnapshot(producer));
        for (const [round, o] of ops.entries()) {
          const b = StateBuilder.from(producer);
          for (const id of o.remove) if (model.delete(id)) b.remove('Item', id);
          for (const id of o.upsert) {
            const r = item(id, round + 1, o.spread);
            model.set(id, r);
            b.upsert('Item', r);
          }
          const next = b.build({ version: round + 2, layout: LAYOUT });
          if (next === producer) continue;
          consumer = applyDelta(consumer, encodeDelta(producer, next, { layout: LAYOUT }), {
            layout: LAYOUT,
          });
          producer = next;
          expect(consumer.checksum).toBe(producer.checksum);
          expectRecords(consumer, model);
          expectRecords(decodeSnapshot(encodeSnapshot(consumer), { verify: true }), model);
        }
      }),
      { numRuns: 12 },
    );
  });

  it('applies a delta whose dictionary chunk would take far more than the delta written out', () => {
    // Names from four values (a dictionary column); 2,048 added records share one 4 KiB name,
    // which the delta stores once: 8 MiB if written out, from a delta of a few KB. Such a delta
    // is checked against its sums before it is applied; this one is right, so it applies.
    const Named = t.object('Named', { id: t.int(), name: t.string() }, { primaryKey: 'id' });
    const named = t.schema([Named]);
    const b = new StateBuilder(named);
    for (let id = 0; id < 3000; id++) b.add('Named', { id, name: `name ${id % 4}` });
    const first = b.build({ version: 1 });
    const long = 'é'.repeat(2048);
    const next = StateBuilder.from(first);
    for (let id = 0; id < 100; id++) next.remove('Named', id);
    for (let id = 5000; id < 7048; id++) next.upsert('Named', { id, name: long });
    const second = next.build({ version: 2 });
    const delta = encodeDelta(first, second);
    expect(delta.byteLength).toBeLessThan(64 * 1024);
    const consumer = applyDelta(decodeSnapshot(encodeSnapshot(first)), delta);
    expect(consumer.checksum).toBe(second.checksum);
    expect(consumer.type('Named').size).toBe(3000 - 100 + 2048);
    expect(consumer.type('Named').read(7047, 'name')).toBe(long);
    expect(consumer.type('Named').read(101, 'name')).toBe('name 1');
    expect(consumer.type('Named').get(99)).toBeUndefined();
    expect(applyDelta(consumer, encodeDelta(second, first)).checksum).toBe(first.checksum);
  });

  it('takes a dictionary chunk into a state column of 16-bit codes, and a plain chunk into a dictionary', () => {
    // 300 records over 6 colours: the state's colour dictionary has 6 entries (16-bit codes
    // past maxNarrowDict 4); a delta of 8 records over 2 colours carries a dictionary of its
    // own; a delta of 3 records (under minDictValues) carries plain strings.
    const model = new Map<number, ItemRecord>();
    const builder = new StateBuilder(schema);
    for (let id = 0; id < 300; id++) {
      model.set(id, item(id, 0, 6));
      builder.add('Item', item(id, 0, 6));
    }
    let producer: AnyState = builder.build({ version: 1, layout: LAYOUT });
    let consumer = decodeSnapshot(encodeSnapshot(producer));
    for (const [version, ids] of [
      [2, [1, 3, 5, 7, 9, 11, 13, 15]],
      [3, [2, 4, 6]],
    ] as const) {
      const b = StateBuilder.from(producer);
      for (const id of ids) {
        const r = item(id, version, 2);
        model.set(id, r);
        b.upsert('Item', r);
      }
      const next = b.build({ version, layout: LAYOUT });
      consumer = applyDelta(consumer, encodeDelta(producer, next, { layout: LAYOUT }), { layout: LAYOUT });
      producer = next;
      expectRecords(consumer, model);
    }
    expect(consumer.type('Item').read(1, 'colour')).toBe(item(1, 2, 2).colour);
    expect(consumer.type('Item').get(4)?.toObject()).toEqual(item(4, 3, 2));
  });
});
