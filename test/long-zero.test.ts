/**
 * A `long` -0 is the integer 0. A state stores it as 0, so a dictionary column holding both
 * never makes 0 read back as -0 (it did: the first of the two stored became the one entry).
 * Doubles keep -0 apart from 0, as written.
 */
import { describe, expect, it } from 'vitest';
import { applyDelta, decodeSnapshot, encodeDelta, encodeSnapshot, StateBuilder, t } from '../src/index.ts';

const Row = t.object(
  'Row',
  {
    id: t.int(),
    few: t.long(), // few distinct values: a dictionary column
    many: t.long(), // one per record: fixed
    list: t.list(t.long()),
    ratio: t.double(),
  },
  { primaryKey: 'id' },
);
const ByLong = t.object('ByLong', { key: t.long(), n: t.int() }, { primaryKey: 'key' });
const schema = t.schema([Row, ByLong]);

const row = (id: number, rev: number) => {
  // Record 0 (and, after the delta, record 1) writes -0 everywhere; the others write 0 or more.
  const negative = id === 0 || (rev === 1 && id === 1);
  const zero = negative ? -0 : 0;
  return {
    id,
    few: id % 3 === 0 ? zero : id % 3,
    many: id % 3 === 0 ? zero : id * 1_000_003,
    list: [zero, id % 2, 0],
    ratio: id % 3 === 0 ? zero : id / 4,
  };
};

describe('long -0', () => {
  it('reads back as 0 in every record, dictionary or not, through snapshots and deltas', () => {
    const b = new StateBuilder(schema);
    for (let id = 0; id < 300; id++) b.add('Row', row(id, 0));
    b.add('ByLong', { key: -0, n: 7 });
    const first = b.build({ version: 1 });
    const second = StateBuilder.from(first)
      .upsert('Row', row(1, 1))
      .upsert('Row', row(3, 1))
      .build({ version: 2 });
    expect(first.type('Row').parts.columns[1]!.encoding).toBe('dict');
    expect(first.type('Row').parts.columns[2]!.encoding).toBe('fixed');
    const states = [
      [first, 0],
      [decodeSnapshot(encodeSnapshot(first)), 0],
      [second, 1],
      [applyDelta(decodeSnapshot(encodeSnapshot(first)), encodeDelta(first, second)), 1],
    ] as const;
    for (const [state, rev] of states) {
      const rows = state.type('Row');
      for (let id = 0; id < 300; id++) {
        const want = row(id, id === 1 || id === 3 ? rev : 0);
        const got = rows.get(id)!.toObject() as ReturnType<typeof row>;
        for (const f of ['few', 'many'] as const) {
          expect(Object.is(got[f], -0)).toBe(false);
          expect(rows.read(id, f)).toBe(want[f] === 0 ? 0 : want[f]);
          expect(Object.is(rows.read(id, f), -0)).toBe(false);
        }
        expect(got.list.some((v) => Object.is(v, -0))).toBe(false);
        expect(got.list).toEqual(want.list.map((v) => (v === 0 ? 0 : v)));
        // A double keeps its sign.
        expect(Object.is(got.ratio, want.ratio)).toBe(true);
      }
      expect(state.type('ByLong').read(0, 'n')).toBe(7);
      expect(state.type('ByLong').read(-0, 'n')).toBe(7);
      expect(Object.is([...state.type('ByLong')][0]!.key, -0)).toBe(false);
    }
  });

  it('leaves the caller’s record as it was', () => {
    const mine = row(0, 0);
    new StateBuilder(schema).add('Row', mine).build({ version: 1 });
    expect(Object.is(mine.few, -0)).toBe(true);
    expect(Object.is(mine.list[0], -0)).toBe(true);
  });
});
