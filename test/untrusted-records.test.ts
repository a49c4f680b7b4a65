/**
 * Records handed to the library: a json value that cannot be stored as written is refused by
 * the call that brought it (`INVALID_RECORD`), the producer goes on, and no exception escapes
 * a timer of the library (it would kill the process; this file's process is the witness).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, isShoalError, Producer, StateBuilder, t } from '../src/index.ts';
import { MAX_JSON_DEPTH } from '../src/schema/record-validator.ts';

const Doc = t.object('Doc', { id: t.int(), meta: t.json().optional() }, { primaryKey: 'id' });
const schema = t.schema([Doc]);

const nested = (depth: number, leaf: unknown = 1): unknown => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};
const circular = () => {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
};

/** Json values that would not read back as written, and a word the refusal must say. */
const BAD: [string, () => unknown, string][] = [
  ['a circular object', circular, 'cycles'],
  ['5,000 levels of nesting', () => nested(5000), 'nesting'],
  [`${MAX_JSON_DEPTH + 1} levels of nesting`, () => nested(MAX_JSON_DEPTH + 1), 'nesting'],
  ['a bigint of 2^64', () => ({ n: 2n ** 64n }), 'bigints'],
  ['a symbol', () => ({ s: Symbol('x') }), 'symbols'],
  ['a function', () => ({ f: () => 1 }), 'functions'],
  ['a "__proto__" key 71 levels down', () => nested(70, JSON.parse('{"__proto__": 1}')), 'nesting'],
  ['a "__proto__" key 3 levels down', () => nested(2, JSON.parse('{"__proto__": 1}')), '__proto__'],
  ['a Date', () => ({ d: new Date(0) }), 'Date'],
  ['a Map', () => new Map([['a', 1]]), 'Map'],
  ['undefined in an array', () => [1, undefined], 'undefined'],
  ['a lone surrogate key', () => ({ '\ud800': 1 }), 'surrogate'],
  ['a 17 MiB string', () => ({ s: 'x'.repeat(17 * 1024 * 1024) }), 'bytes'],
];

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A producer of `schema` on a fresh store and log, removed after the file's tests. */
async function openProducer(of: typeof schema | ReturnType<typeof t.schema>, cycleThread: 'main' | 'worker') {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-records-'));
  dirs.push(dir);
  return Producer.open({
    store: new FsBlobStore({ dir: join(dir, 'store') }),
    namespace: 'records',
    schema: of,
    walDir: join(dir, 'wal'),
    fsync: false,
    cycleThread,
  });
}

describe('json values that cannot be stored as written', () => {
  it.each(BAD)('StateBuilder refuses %s with INVALID_RECORD', (_, make, says) => {
    let error: unknown;
    try {
      new StateBuilder(schema).add('Doc', { id: 1, meta: make() });
    } catch (e) {
      error = e;
    }
    expect(isShoalError(error) && error.code).toBe('INVALID_RECORD');
    expect((error as Error).message).toContain(says);
  });

  it('keeps what JSON keeps: plain objects, arrays, numbers, bigints, bytes, 64 levels', () => {
    const meta = {
      list: [1, 'two', null, true, { deep: nested(MAX_JSON_DEPTH - 3) }],
      big: 2n ** 63n,
      small: -(2n ** 63n),
      bytes: new Uint8Array([1, 2, 3]),
      nan: Number.NaN,
      dropped: undefined,
    };
    const state = new StateBuilder(schema).add('Doc', { id: 1, meta }).build({ version: 1 });
    const { dropped: _, ...kept } = meta;
    expect(state.type('Doc').get(1)?.meta).toEqual({ ...kept, bytes: Buffer.from([1, 2, 3]) });
  });

  for (const cycleThread of ['main', 'worker'] as const) {
    it(`Producer.upsert (cycleThread ${cycleThread}) rejects each, logs none, and publishes the good ones`, async () => {
      const producer = await openProducer(schema, cycleThread);
      try {
        const good = producer.upsert('Doc', { id: 1, meta: { ok: true } });
        const outcomes = await Promise.allSettled(
          BAD.map(([, make], i) => producer.upsert('Doc', { id: 100 + i, meta: make() })),
        );
        for (const o of outcomes) {
          expect(o.status).toBe('rejected');
          expect(
            isShoalError((o as PromiseRejectedResult).reason) && (o as PromiseRejectedResult).reason.code,
          ).toBe('INVALID_RECORD');
        }
        await good;
        await producer.upsert('Doc', { id: 2, meta: [1, 2] });
        const result = await producer.flush();
        expect(result.outcome).toBe('published');
        expect([...producer.state!.type('Doc')].map((v) => v.toObject())).toEqual([
          { id: 1, meta: { ok: true } },
          { id: 2, meta: [1, 2] },
        ]);
      } finally {
        await producer.close();
      }
    });
  }
});

describe('field names every object inherits', () => {
  it.each(['toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf'])(
    '"%s" is refused with INVALID_SCHEMA',
    (name) => {
      let error: unknown;
      try {
        t.object('T', { id: t.int(), [name]: t.string().optional() }, { primaryKey: 'id' });
      } catch (e) {
        error = e;
      }
      expect(isShoalError(error) && error.code).toBe('INVALID_SCHEMA');
      expect((error as Error).message).toContain('inherits');
    },
  );
});

describe('a caller that reuses or changes its object after upsert', () => {
  const Row = t.object(
    'Row',
    { id: t.int(), s: t.string(), tags: t.list(t.string()), meta: t.json().optional() },
    { primaryKey: 'id' },
  );
  for (const cycleThread of ['main', 'worker'] as const) {
    it(`publishes what each upsert was given (cycleThread ${cycleThread})`, async () => {
      const producer = await openProducer(t.schema([Row]), cycleThread);
      try {
        // One object, reused for every row, as a loop over a cursor does.
        const r: { id: number; s: string; tags: string[]; meta?: unknown } = { id: 0, s: '', tags: [] };
        const acks: Promise<void>[] = [];
        for (let i = 1; i <= 3; i++) {
          r.id = i;
          r.s = `row ${i}`;
          r.tags.push(`t${i}`);
          r.meta = { n: i, nested: { list: [i] } };
          acks.push(producer.upsert('Row', r));
        }
        // And changed into something invalid right after its last upsert.
        (r as Record<string, unknown>).s = 12345;
        (r.meta as { nested: { list: unknown[] } }).nested.list.push(Symbol('late'));
        await Promise.all(acks);
        expect((await producer.flush()).outcome).toBe('published');
        expect([...producer.state!.type('Row')].map((v) => v.toObject())).toEqual([
          { id: 1, s: 'row 1', tags: ['t1'], meta: { n: 1, nested: { list: [1] } } },
          { id: 2, s: 'row 2', tags: ['t1', 't2'], meta: { n: 2, nested: { list: [2] } } },
          { id: 3, s: 'row 3', tags: ['t1', 't2', 't3'], meta: { n: 3, nested: { list: [3] } } },
        ]);
      } finally {
        await producer.close();
      }
    });
  }

  it('a getter that throws is refused with INVALID_RECORD by the call that brought it', async () => {
    const producer = await openProducer(t.schema([Row]), 'main');
    try {
      const bad = {
        id: 1,
        tags: [],
        get s(): string {
          throw new Error('no');
        },
      };
      const good = producer.upsert('Row', { id: 2, s: 'two', tags: [] });
      await expect(producer.upsert('Row', bad)).rejects.toMatchObject({ code: 'INVALID_RECORD' });
      await good;
      expect((await producer.flush()).outcome).toBe('published');
      expect(producer.state!.type('Row').size).toBe(1);
    } finally {
      await producer.close();
    }
  });
});

describe('a float past the float range', () => {
  it('is refused rather than stored as Infinity', () => {
    const F = t.object('F', { id: t.int(), x: t.float() }, { primaryKey: 'id' });
    let error: unknown;
    try {
      new StateBuilder(t.schema([F])).add('F', { id: 1, x: 1e39 });
    } catch (e) {
      error = e;
    }
    expect(isShoalError(error) && error.code).toBe('INVALID_RECORD');
    const kept = new StateBuilder(t.schema([F]))
      .add('F', { id: 1, x: 3.4e38 })
      .add('F', { id: 2, x: Number.POSITIVE_INFINITY })
      .build({ version: 1 });
    expect(kept.type('F').get(1)?.x).toBe(Math.fround(3.4e38));
    expect(kept.type('F').get(2)?.x).toBe(Number.POSITIVE_INFINITY);
  });
});
