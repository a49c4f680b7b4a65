/**
 * Secondary indexes against a plain model: after every version of random upserts and removes,
 * every index (hash and prefix, one field and several, every indexable kind, required and
 * optional, every column encoding through small layout thresholds) must give exactly the
 * records the model's filter gives, in: the state the producer built, the state a consumer
 * reaches by applying each delta (with an index of its own made at the start), and the state
 * decoded from each version's snapshot with `verify: true`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AnyState,
  applyDelta,
  decodeSnapshot,
  encodeDelta,
  encodeReverseDelta,
  encodeSnapshot,
  StateBuilder,
  t,
} from '../src/index.ts';
import type { Layout } from '../src/state/column/layout.ts';

const SMALL: Partial<Layout> = {
  minDictValues: 4,
  maxNarrowDict: 4,
  maxDictSize: 12,
  maxNarrowOffset: 40,
  maxIndexPage: 4,
};

const Item = t.object(
  'Item',
  {
    id: t.int(),
    n: t.int(),
    l: t.long(),
    big: t.long({ bigint: true }),
    s: t.string(),
    flag: t.boolean(),
    os: t.string().optional(),
    on: t.int().optional(),
  },
  {
    primaryKey: 'id',
    indexes: {
      byN: ['n'],
      byL: ['l'],
      byBig: ['big'],
      byS: ['s'],
      byFlag: ['flag'],
      byOs: ['os'],
      bySN: ['s', 'n'],
      byTriple: ['flag', 'os', 'on'],
      sPrefix: { fields: ['s'], prefix: true },
      osPrefix: { fields: ['os'], prefix: true },
    },
  },
);
const schema = t.schema([Item]);
type Rec = t.Infer<typeof Item>;

/** Strings with shared prefixes, multi-byte characters, an astral one, the empty string. */
const STRINGS = [
  '',
  'a',
  'ab',
  'abc',
  'abd',
  'b',
  'ba',
  'é',
  'éa',
  '日本',
  '日',
  '😀x',
  'zzzzzzzzzzzzzzzzzzzzzz',
];

const record = (pool: number): fc.Arbitrary<Omit<Rec, 'id'>> =>
  fc.record(
    {
      n: fc.integer({ min: -3, max: pool }),
      l: fc.oneof(fc.integer({ min: 0, max: pool }), fc.constant(2 ** 40)),
      big: fc.bigInt({ min: -2n, max: BigInt(pool) }),
      s: fc.oneof(
        fc.constantFrom(...STRINGS),
        fc.string({ maxLength: 6 }).filter((x) => x.isWellFormed()),
      ),
      flag: fc.boolean(),
      os: fc.constantFrom(...STRINGS),
      on: fc.integer({ min: 0, max: 3 }),
    },
    { requiredKeys: ['n', 'l', 'big', 's', 'flag'] },
  );

interface Step {
  readonly upserts: readonly (Omit<Rec, 'id'> & { readonly key: number })[];
  readonly removes: readonly number[];
}
const step = (pool: number, keys: number) =>
  fc.record({
    upserts: fc.array(
      fc.tuple(fc.nat(keys), record(pool)).map(([key, r]) => ({ ...r, key })),
      {
        maxLength: 40,
      },
    ),
    removes: fc.array(fc.nat(keys), { maxLength: 20 }),
  });

type Model = Map<number, Rec>;

/** Every index's value space: each field's values seen, plus one nobody holds. */
function probes(model: Model) {
  const seen = (f: keyof Rec) => [...new Set([...model.values()].map((r) => r[f]))];
  return {
    n: [...seen('n'), 999],
    l: [...seen('l'), 12345],
    big: [...seen('big'), 999n],
    s: [...seen('s'), 'nope'],
    flag: [true, false],
    os: [...seen('os').filter((x) => x !== undefined), 'nope'],
    on: [...seen('on').filter((x) => x !== undefined), 77],
  };
}

const ids = (views: Iterable<{ readonly id: number }>) => [...views].map((v) => v.id).sort((a, b) => a - b);
const modelIds = (model: Model, keep: (r: Rec) => boolean) =>
  [...model.values()]
    .filter(keep)
    .map((r) => r.id)
    .sort((a, b) => a - b);
const utf8 = (s: string) => Buffer.from(s, 'utf8');

function checkState(state: AnyState, model: Model, local: boolean): void {
  const type = state.type('Item');
  const p = probes(model);
  const single: [string, keyof Rec][] = [
    ['byN', 'n'],
    ['byL', 'l'],
    ['byBig', 'big'],
    ['byS', 's'],
    ['byFlag', 'flag'],
    ['byOs', 'os'],
    ['sPrefix', 's'],
    ['osPrefix', 'os'],
  ];
  if (local) single.push(['mine', 'l']);
  for (const [name, field] of single) {
    const index = type.index(name);
    for (const v of p[field as keyof typeof p]) {
      const want = modelIds(model, (r) => r[field] === v);
      expect(ids(index.find(v) as Iterable<Rec>), `${name} = ${String(v)}`).toEqual(want);
      expect(index.count(v)).toBe(want.length);
      expect(index.has(v)).toBe(want.length > 0);
    }
  }
  const bySN = type.index('bySN');
  for (const s of p.s)
    for (const n of p.n) {
      const want = modelIds(model, (r) => r.s === s && r.n === n);
      expect(ids(bySN.find({ s, n }) as Iterable<Rec>)).toEqual(want);
      expect(bySN.count({ s, n })).toBe(want.length);
    }
  const byTriple = type.index('byTriple');
  for (const flag of p.flag)
    for (const os of p.os)
      for (const on of p.on) {
        const want = modelIds(model, (r) => r.flag === flag && r.os === os && r.on === on);
        expect(ids(byTriple.find({ flag, os, on }) as Iterable<Rec>)).toEqual(want);
      }
  const prefixes = new Set<string>(['', 'nope']);
  for (const s of [...p.s, ...p.os] as string[])
    for (const c of [...s].keys()) prefixes.add([...s].slice(0, c + 1).join(''));
  for (const [name, field] of [
    ['sPrefix', 's'],
    ['osPrefix', 'os'],
  ] as const) {
    const index = type.index(name);
    for (const prefix of prefixes) {
      const matches = [...index.findPrefix(prefix)] as unknown as Rec[];
      const want = modelIds(model, (r) => r[field] !== undefined && (r[field] as string).startsWith(prefix));
      expect(
        matches.map((r) => r.id).sort((a, b) => a - b),
        `${name} prefix ${prefix}`,
      ).toEqual(want);
      expect(index.countPrefix(prefix)).toBe(want.length);
      // Sorted by the string's bytes.
      for (let i = 1; i < matches.length; i++)
        expect(Buffer.compare(utf8(matches[i - 1]![field]!), utf8(matches[i]![field]!))).toBeLessThanOrEqual(
          0,
        );
    }
  }
}

function apply(model: Model, s: Step): Model {
  const next = new Map(model);
  for (const { key, ...r } of s.upserts) next.set(key, { id: key, ...r } as Rec);
  for (const key of s.removes) next.delete(key);
  return next;
}

describe('secondary indexes', () => {
  it('give the model’s matches across versions, by delta and by snapshot, in every encoding', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 30 })
          .chain((pool) =>
            fc.tuple(fc.constant(pool), fc.array(step(pool, 80), { minLength: 20, maxLength: 24 })),
          ),
        ([, steps]) => {
          let model: Model = new Map();
          let prev: AnyState = new StateBuilder(schema).build({ version: 1, layout: SMALL });
          let consumer: AnyState = decodeSnapshot(encodeSnapshot(prev), { verify: true });
          consumer.type('Item').createIndex('l', { name: 'mine' });
          steps.forEach((s, i) => {
            const builder = StateBuilder.from(prev);
            for (const { key, ...r } of s.upserts) builder.upsert('Item', { id: key, ...r } as Rec);
            for (const key of s.removes) builder.remove('Item', key);
            const next = builder.build({ version: i + 2, layout: SMALL });
            model = apply(model, s);
            const delta = encodeDelta(prev, next, { layout: SMALL });
            consumer = applyDelta(consumer, delta, { layout: SMALL });
            const snapshot = decodeSnapshot(encodeSnapshot(next), { verify: true });
            checkState(next, model, false);
            checkState(consumer, model, true);
            checkState(snapshot, model, false);
            // The reverse delta takes the consumer's indexes back as well.
            const back = applyDelta(consumer, encodeReverseDelta(prev, next, { layout: SMALL }), {
              layout: SMALL,
            });
            expect(back.type('Item').index('byN').size).toBe(prev.type('Item').index('byN').size);
            decodeSnapshot(encodeSnapshot(consumer), { verify: true });
            prev = next;
          });
        },
      ),
      { numRuns: 12 },
    );
    // 12 histories of 20+ versions, each checked four ways: slow on a loaded two-core machine.
  }, 180_000);
});
