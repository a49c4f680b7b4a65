/**
 * A `long` -0 is the integer 0. A state stores it as 0, so a dictionary column holding both
 * never makes 0 read back as -0 (it did: the first of the two stored became the one entry).
 * Doubles keep -0 apart from 0, as written.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyDelta,
  Consumer,
  decodeSnapshot,
  encodeDelta,
  encodeSnapshot,
  FsBlobStore,
  Producer,
  StateBuilder,
  t,
} from '../src/index.ts';
import { zerosRestored } from '../src/producer/wal-zeros.ts';
import { tamper } from './support/blob-surgery.ts';

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

  it('reads as 0 where an earlier release stored -0, and a 0 written over it reads 0', () => {
    const Old = t.object('Old', { id: t.int(), few: t.long(), many: t.long() }, { primaryKey: 'id' });
    const oldSchema = t.schema([Old]);
    const b = new StateBuilder(oldSchema);
    for (let id = 0; id < 300; id++)
      b.add('Old', { id, few: [0, 5, 9][id % 3]!, many: id % 3 === 0 ? 0 : id * 1_000_003 });
    const bytes = encodeSnapshot(b.build({ version: 1 }));
    // What an earlier release wrote for a first record of -0: the dictionary's entry for 0, and
    // the fixed column's value at ordinal 0, each with its sign bit set.
    const flipSign = (body: Uint8Array, values: number[]) => {
      const want = new Uint8Array(new Float64Array(values).buffer);
      for (let at = 0; at + want.length <= body.length; at += 8) {
        if (want.every((v, i) => body[at + i] === v)) {
          body[at + 7]! |= 0x80;
          return;
        }
      }
      throw new Error(`no ${values} in the body`);
    };
    const old = tamper(bytes, (blob) => {
      flipSign(blob.body, [0, 5, 9]);
      flipSign(blob.body, [0, 1_000_003, 2_000_006]);
    });
    const loaded = decodeSnapshot(old, { verify: true });
    const later = StateBuilder.from(loaded).upsert('Old', { id: 900, few: 0, many: 0 }).build({ version: 2 });
    for (const state of [loaded, later, decodeSnapshot(encodeSnapshot(later))]) {
      const type = state.type('Old');
      for (const id of [0, 3, 900]) {
        if (!type.has(id)) continue;
        for (const f of ['few', 'many'] as const) {
          expect(Object.is(type.read(id, f), 0), `${f} of ${id}`).toBe(true);
          expect(Object.is(type.fieldReader(f)(id), 0)).toBe(true);
          expect(Object.is(type.get(id)!.toObject()[f], 0)).toBe(true);
        }
      }
    }
    expect(later.type('Old').read(900, 'few')).toBe(0);
  });
});

describe('-0 through a producer', () => {
  it('a double of -0 upserted comes back -0 (msgpack in the log writes 0), longs and lists of longs as 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-zero-'));
    try {
      const store = new FsBlobStore({ dir: join(dir, 'store') });
      const open = () =>
        Producer.open({
          store,
          namespace: 'z',
          schema,
          walDir: join(dir, 'wal'),
          fsync: false,
          maxBatchDelayMs: 60_000,
        });
      const producer = await open();
      await producer.upsert('Row', { id: 1, few: -0, many: -0, list: [-0, 1], ratio: -0 });
      await producer.upsert('Row', { id: 2, few: 0, many: 0, list: [0], ratio: 0 });
      // Logged, then published by the next producer from its log.
      await producer.close();
      const next = await open();
      await next.flush();
      const consumer = await Consumer.open({ store, namespace: 'z', watch: false });
      for (const state of [next.state!, consumer.state]) {
        const rows = state.type('Row');
        expect(Object.is(rows.read(1, 'ratio'), -0)).toBe(true);
        expect(Object.is(rows.read(2, 'ratio'), 0)).toBe(true);
        expect(Object.is(rows.read(1, 'many'), 0)).toBe(true);
        expect(Object.is(rows.read(1, 'few'), 0)).toBe(true);
        expect(rows.get(1)!.toObject().list).toEqual([0, 1]);
      }
      await consumer.close();
      await next.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('leaves a logged record as it is where what names its -0s is malformed', () => {
    expect(Object.is((zerosRestored([{ a: 0, l: [0, 0] }, ['a', ['l', 1]]]) as { a: number }).a, -0)).toBe(
      true,
    );
    expect(
      (zerosRestored([{ a: 0, l: [0, 0] }, ['a', ['l', 1]]]) as { l: number[] }).l.map((v) =>
        Object.is(v, -0),
      ),
    ).toEqual([false, true]);
    // Not a -0 slot (a value other than 0, a missing list, a bad index): left alone.
    expect(zerosRestored([{ a: 5, l: [0] }, ['a', ['l', 9], ['m', 0], ['l', 0.5], 7, null]])).toEqual({
      a: 5,
      l: [0],
    });
    // Not the logged form at all: handed on as it is, for the build to refuse.
    expect(zerosRestored([1, 2])).toEqual([1, 2]);
    expect(zerosRestored([{ a: 0 }, 'a'])).toEqual([{ a: 0 }, 'a']);
  });
});
