import { readFileSync } from 'node:fs';
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
import { section, tamper } from './support/blob-surgery.ts';
import { errorCode } from './support/error-code.ts';

const Movie = t.object(
  'Movie',
  { id: t.int(), title: t.string(), year: t.int().optional() },
  { primaryKey: 'id', indexes: { byYear: ['year'] } },
);
const schema = t.schema([Movie]);
type MovieRecord = t.Infer<typeof Movie>;
const movie = (id: number, rev = 0): MovieRecord => ({
  id,
  title: `Movie ${id}${rev ? ` rev ${rev}` : ''}`,
  ...(id % 5 === 0 ? {} : { year: 1950 + (id % 70) }),
});

/** Shards of 16 slots: a few hundred records make dozens, each filling and emptying. */
const SMALL = { keyShard: 16 } as const;

const shardsOf = (s: AnyState) => s.type('Movie').parts.index!.shards;

/** Every key in `model` found with its record, and the keys around them missed. */
function expectHolds(state: AnyState, model: ReadonlyMap<number, MovieRecord>): void {
  const type = state.type('Movie');
  expect(type.size).toBe(model.size);
  for (const [id, r] of model) {
    expect(type.get(id)?.toObject()).toEqual(r);
    expect(type.read(id, 'title')).toBe(r.title);
    expect(type.read(id, 'year')).toBe(r.year);
  }
  for (let id = -3; id < 700; id += 1) if (!model.has(id)) expect(type.get(id)).toBeUndefined();
}

describe('the primary-key index in shards', () => {
  it('finds every key across deltas that grow, empty and re-shard the index (shards of 16 slots)', () => {
    const op = fc.record({
      add: fc.uniqueArray(fc.integer({ min: 0, max: 600 }), { maxLength: 120 }),
      remove: fc.uniqueArray(fc.integer({ min: 0, max: 600 }), { maxLength: 120 }),
      modify: fc.uniqueArray(fc.integer({ min: 0, max: 600 }), { maxLength: 20 }),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 8 }), (ops) => {
        const model = new Map<number, MovieRecord>();
        let producer: AnyState = new StateBuilder(schema).build({ version: 1, layout: SMALL });
        let consumer = decodeSnapshot(encodeSnapshot(producer), { verify: true });
        let version = 1;
        for (const [round, o] of ops.entries()) {
          const b = StateBuilder.from(producer);
          for (const id of o.remove) if (model.delete(id)) b.remove('Movie', id);
          for (const id of [...o.add, ...o.modify]) {
            const r = movie(id, round + 1);
            model.set(id, r);
            b.upsert('Movie', r);
          }
          const next = b.build({ version: ++version, layout: SMALL });
          if (next === producer) continue;
          const before = new Map(model);
          const delta = encodeDelta(producer, next, { layout: SMALL });
          const old = consumer;
          const oldSize = old.type('Movie').size;
          consumer = applyDelta(consumer, delta, { layout: SMALL });
          producer = next;
          expectHolds(producer, before);
          expectHolds(consumer, before);
          // The old state reads as it did: same size, and its records where they were.
          expect(old.type('Movie').size).toBe(oldSize);
          expectHolds(decodeSnapshot(encodeSnapshot(consumer), { verify: true }), before);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('keeps the old state reading its own records after a delta made the next one', () => {
    const b = new StateBuilder(schema);
    for (let id = 0; id < 500; id++) b.add('Movie', movie(id));
    const v1 = b.build({ version: 1, layout: SMALL });
    const next = StateBuilder.from(v1);
    for (let id = 0; id < 500; id += 3) next.remove('Movie', id);
    for (let id = 1; id < 500; id += 3) next.upsert('Movie', movie(id, 9));
    for (let id = 500; id < 800; id++) next.upsert('Movie', movie(id));
    const v2 = next.build({ version: 2, layout: SMALL });

    const consumer1 = decodeSnapshot(encodeSnapshot(v1));
    const held = consumer1.type('Movie').get(3)!;
    const shardsBefore = shardsOf(consumer1).map((s) => Uint32Array.from(s));
    const consumer2 = applyDelta(consumer1, encodeDelta(v1, v2, { layout: SMALL }), { layout: SMALL });

    const t1 = consumer1.type('Movie');
    const t2 = consumer2.type('Movie');
    for (let id = 0; id < 800; id++) {
      const inOld = id < 500;
      const inNew = id % 3 !== 0 || id >= 500;
      expect(t1.read(id, 'title')).toBe(inOld ? movie(id).title : undefined);
      expect(t2.read(id, 'title')).toBe(
        inNew ? movie(id, id < 500 && id % 3 === 1 ? 9 : 0).title : undefined,
      );
    }
    expect(held.title).toBe('Movie 3');
    // Not a slot of the old index was written.
    expect(shardsOf(consumer1).map((s) => Uint32Array.from(s))).toEqual(shardsBefore);
  });

  it('copies one shard for a 1-record delta and shares every other', () => {
    const b = new StateBuilder(schema);
    for (let id = 0; id < 20_000; id++) b.add('Movie', movie(id));
    const v1 = b.build({ version: 1 });
    const v2 = StateBuilder.from(v1).upsert('Movie', movie(777, 1)).build({ version: 2 });
    const consumer1 = decodeSnapshot(encodeSnapshot(v1));
    const consumer2 = applyDelta(consumer1, encodeDelta(v1, v2));
    const before = shardsOf(consumer1);
    const after = shardsOf(consumer2);
    expect(before.length).toBeGreaterThan(4);
    expect(after.length).toBe(before.length);
    const copied = after.filter((s, k) => s !== before[k]);
    expect(copied.length).toBe(1);
    // One shard of ~4096 slots copied: 16 KiB, not the whole table.
    expect(copied[0]!.byteLength).toBeLessThanOrEqual(4 * 4096 * 1.1);
    const whole = after.reduce((n, s) => n + s.byteLength, 0);
    expect(copied[0]!.byteLength * 4).toBeLessThan(whole);
    expect(consumer2.type('Movie').read(777, 'title')).toBe('Movie 777 rev 1');
    expect(consumer1.type('Movie').read(777, 'title')).toBe('Movie 777');
  });

  it('re-shards once the records outgrow the shard count, keeping every key', () => {
    let s: AnyState = new StateBuilder(schema).add('Movie', movie(0)).build({ version: 1, layout: SMALL });
    const counts = new Set<number>([shardsOf(s).length]);
    for (let round = 1; round <= 6; round++) {
      const b = StateBuilder.from(s);
      for (let id = round * 100; id < round * 100 + 100; id++) b.upsert('Movie', movie(id));
      s = b.build({ version: round + 1, layout: SMALL });
      counts.add(shardsOf(s).length);
    }
    expect(counts.size).toBeGreaterThan(2);
    const type = s.type('Movie');
    for (let id = 100; id < 700; id++) expect(type.read(id, 'title')).toBe(movie(id).title);
    expect(() => decodeSnapshot(encodeSnapshot(s), { verify: true })).not.toThrow();
  });
});

describe('read(key, field)', () => {
  const b = new StateBuilder(schema);
  for (let id = 0; id < 50; id++) b.add('Movie', movie(id));
  const type = b.build({ version: 1 }).type('Movie');

  it('reads a field without a view; undefined for a missing key or an absent field', () => {
    expect(type.read(12, 'year')).toBe(1962);
    expect(type.read(12, 'title')).toBe('Movie 12');
    expect(type.read(10, 'year')).toBeUndefined();
    expect(type.read(10, 'title')).toBe('Movie 10');
    expect(type.read(99, 'title')).toBeUndefined();
  });

  it('refuses an unknown field (UNKNOWN_FIELD) and a wrong key (INVALID_KEY)', () => {
    expect(errorCode(() => type.read(1, 'rating' as 'title'))).toBe('UNKNOWN_FIELD');
    expect(errorCode(() => type.read('1' as unknown as number, 'title'))).toBe('INVALID_KEY');
  });
});

describe('format versions', () => {
  const dir = new URL('./fixtures/format-v1/', import.meta.url);
  const v1Snapshot = readFileSync(new URL('movies-v1.snapshot', dir));
  const v1Delta = readFileSync(new URL('movies-v1-to-v2.delta', dir));

  it('loads a format-1 snapshot (its flat index built again) and applies a format-1 delta to it', () => {
    const s1 = decodeSnapshot(v1Snapshot, { verify: true });
    const type = s1.type('Movie');
    expect(type.size).toBe(300);
    for (let i = 0; i < 300; i++) expect(type.read(i * 7 + 3, 'title')).toBe(`Movie ${i}`);
    expect(type.get(4)).toBeUndefined();
    const s2 = applyDelta(s1, v1Delta);
    const t2 = s2.type('Movie');
    expect(t2.get(3)).toBeUndefined();
    expect(t2.read(10, 'title')).toBe('Changed');
    expect(t2.read(5000, 'year')).toBe(2020);
    expect([...t2.index('byYear').find(2020)].map((v) => v.id)).toEqual([5000]);
    // What it writes back is format 2, and reads the same.
    const again = decodeSnapshot(encodeSnapshot(s2), { verify: true });
    expect(new DataView(encodeSnapshot(s2).buffer).getUint16(4, true)).toBe(2);
    expect(again.type('Movie').read(10, 'title')).toBe('Changed');
  });

  it('refuses a blob of a format version it does not know with BLOB_UNSUPPORTED_VERSION', () => {
    for (const version of [0, 3]) {
      const bytes = Uint8Array.from(v1Snapshot);
      new DataView(bytes.buffer).setUint16(4, version, true);
      expect(errorCode(() => decodeSnapshot(bytes))).toBe('BLOB_UNSUPPORTED_VERSION');
    }
  });

  it('catches a slot whose key tag is wrong in verify (a plain load misses that key)', () => {
    const b = new StateBuilder(schema);
    for (let id = 0; id < 100; id++) b.add('Movie', movie(id));
    const bytes = encodeSnapshot(b.build({ version: 1 }));
    let flipped = -1;
    const crafted = tamper(bytes, (blob) => {
      const slots = section(blob, blob.header.types[0].index, Uint32Array);
      const s = slots.findIndex((v) => v !== 0);
      flipped = (slots[s]! & 0x7f) - 1;
      slots[s] = (slots[s]! ^ 0x80000000) >>> 0;
    });
    const key = decodeSnapshot(bytes).type('Movie').view(flipped).id;
    expect(decodeSnapshot(crafted).type('Movie').get(key)).toBeUndefined();
    expect(errorCode(() => decodeSnapshot(crafted, { verify: true }))).toBe('BLOB_CORRUPT');
  });
});
