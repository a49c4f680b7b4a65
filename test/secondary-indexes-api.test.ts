/**
 * Secondary indexes as a user meets them: declaring them (DSL and JSON form, and the errors of
 * a bad declaration), reading them across page boundaries and many deltas, indexes added and
 * dropped by a schema change, a consumer's own index, the typed errors of a wrong lookup, and
 * crafted index sections in a snapshot.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type AnyState,
  applyDelta,
  Consumer,
  decodeSnapshot,
  encodeDelta,
  encodeSnapshot,
  fromJSON,
  isShoalError,
  MemoryBlobStore,
  NamespaceLayout,
  Producer,
  StateBuilder,
  t,
  toJSON,
} from '../src/index.ts';
import { checkIndexChanges } from '../src/state/build/index-check.ts';
import { displacedLocalIndexes } from '../src/state/index/secondary-index.ts';
import { carryLocalIndexes } from '../src/state/read/local-indexes.ts';
import { State } from '../src/state/read/state.ts';
import { TypeState } from '../src/state/read/type-state.ts';
import { section, tamper } from './support/blob-surgery.ts';

const errorOf = (run: () => unknown): { code: string; message: string } => {
  try {
    run();
  } catch (e) {
    if (isShoalError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('no error');
};

const Movie = t.object(
  'Movie',
  { id: t.int(), title: t.string(), year: t.int(), rating: t.double(), tags: t.list(t.string()) },
  { primaryKey: 'id', indexes: { byYear: ['year'], byTitle: { fields: ['title'], prefix: true } } },
);
const movie = (i: number, gen = 0) => ({
  id: i * 7 + 3,
  title: `Movie title number ${i}${gen ? ` (v${gen})` : ''}`,
  year: 1950 + ((i + gen) % 70),
  rating: (i % 100) / 10,
  tags: ['drama'],
});

describe('declaring indexes', () => {
  it('carries them in the JSON form', () => {
    const schema = t.schema([Movie]);
    const json = toJSON(schema);
    expect(json.types[0]!.indexes).toEqual({
      byYear: ['year'],
      byTitle: { fields: ['title'], prefix: true },
    });
    expect(fromJSON(JSON.stringify(json)).type('Movie').indexes).toEqual(Movie.indexes);
  });

  it.each([
    [{ x: ['nope'] }, 'Movie: index x names "nope", which is not a field of the type'],
    [
      { x: ['rating'] },
      'Movie: index x: field "rating" is double; indexes cover int, long, string and boolean fields',
    ],
    [
      { x: ['tags'] },
      'Movie: index x: field "tags" is list<string>; indexes cover int, long, string and boolean fields',
    ],
    [
      { x: { fields: ['year'], prefix: true } },
      'Movie: index x is a prefix index, so its field must be a string, not int',
    ],
    [{ x: { fields: ['title', 'title'] } }, 'Movie: index x names a field twice'],
    [{ x: [] }, 'Movie: index x needs a non-empty list of field names (or { fields, prefix })'],
    [
      { 'a-b': ['year'] },
      'Movie: index name "a-b" is not valid: start with a letter or _, then use letters, digits and _',
    ],
    [
      { '1': ['year'] },
      'Movie: index name "1" is not valid: start with a letter or _, then use letters, digits and _',
    ],
    [JSON.parse('{"__proto__": ["year"]}'), 'Movie: index name "__proto__" is reserved; choose another'],
  ])('refuses %j', (indexes, message) => {
    const json = toJSON(t.schema([Movie])) as unknown as { types: Record<string, unknown>[] };
    const bad = { ...json, types: [{ ...json.types[0], indexes }] };
    expect(errorOf(() => fromJSON(bad))).toEqual({ code: 'INVALID_SCHEMA', message });
  });

  it.each([
    [
      { x: { fields: ['title'], prefx: true } },
      'R: index x has an unknown key "prefx"; an index takes fields and prefix',
    ],
    [JSON.parse('{"__proto__": ["title"]}'), 'R: index name "__proto__" is reserved; choose another'],
  ])('t.object refuses %j', (indexes, message) => {
    expect(
      errorOf(() =>
        t.object('R', { id: t.int(), title: t.string() }, { primaryKey: 'id', indexes } as never),
      ),
    ).toEqual({ code: 'INVALID_SCHEMA', message });
  });

  it('round-trips index names Object.prototype holds (constructor, hasOwnProperty, toString)', () => {
    const R = t.object(
      'R',
      { id: t.int(), s: t.string() },
      {
        primaryKey: 'id',
        // Object's own `constructor` and `toString` types would claim these keys in the literal.
        indexes: JSON.parse(
          '{"constructor": ["s"], "hasOwnProperty": {"fields": ["s"], "prefix": true}, "toString": ["id"]}',
        ),
      },
    );
    const b = new StateBuilder(t.schema([R]));
    for (let i = 0; i < 10; i++) b.add('R', { id: i, s: `v${i % 3}` });
    const back = decodeSnapshot(encodeSnapshot(b.build({ version: 1 }))).type('R');
    expect(back.indexNames).toEqual(['constructor', 'hasOwnProperty', 'toString']);
    expect([...back.index('constructor').find('v1')].map((r) => r.id)).toEqual([1, 4, 7]);
    expect(back.index('hasOwnProperty').countPrefix('v')).toBe(10);
    expect(back.index('toString').count(3)).toBe(1);
    expect(fromJSON(JSON.stringify(toJSON(t.schema([R])))).type('R').indexes).toEqual(R.indexes);
  });
});

describe('reading indexes', () => {
  const schema = t.schema([Movie]);
  const N = 5000;
  const build = () => {
    const b = new StateBuilder(schema);
    for (let i = 0; i < N; i++) b.add('Movie', movie(i));
    return b.build({ version: 1 });
  };

  it('follows many deltas across page boundaries, matching a model', () => {
    let state: AnyState = build();
    let consumer: AnyState = decodeSnapshot(encodeSnapshot(state));
    const model = new Map(Array.from({ length: N }, (_, i) => [i, movie(i)]));
    for (let v = 2; v <= 12; v++) {
      const b = StateBuilder.from(state);
      for (let k = 0; k < 600; k++) {
        const i = (v * 7919 + k * 104729) % (N + 2000);
        if (k % 3 === 0) {
          b.remove('Movie', i * 7 + 3);
          model.delete(i);
        } else {
          b.upsert('Movie', movie(i, v));
          model.set(i, movie(i, v));
        }
      }
      const next = b.build({ version: v });
      consumer = applyDelta(consumer, encodeDelta(state, next));
      state = next;
      for (const s of [state, consumer]) {
        const byYear = s.type('Movie').index('byYear');
        for (const year of [1950, 1999, 2019, 2020]) {
          const want: number[] = [...model.values()].filter((m) => m.year === year).map((m) => m.id);
          expect(byYear.count(year)).toBe(want.length);
          expect([...byYear.find(year)].map((m) => m.id as number).sort((a, b) => a - b)).toEqual(
            want.sort((a, b) => a - b),
          );
        }
        const byTitle = s.type('Movie').index('byTitle');
        for (const prefix of ['Movie title number 12', 'Movie title number 4999 (v', 'x']) {
          const want = [...model.values()].filter((m) => m.title.startsWith(prefix)).map((m) => m.title);
          expect([...byTitle.findPrefix(prefix)].map((m) => m.title)).toEqual(
            want.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
          );
        }
      }
    }
    decodeSnapshot(encodeSnapshot(consumer), { verify: true });
  });

  it('a prefix index follows a delta of a few changes (searched) and of many (one pass)', () => {
    for (const changes of [3, 900]) {
      const b = new StateBuilder(schema);
      for (let i = 0; i < 3000; i++) b.add('Movie', movie(i));
      const s1 = b.build({ version: 1 });
      const model = new Map(Array.from({ length: 3000 }, (_, i) => [i, movie(i)]));
      const nb = StateBuilder.from(s1);
      for (let k = 0; k < changes; k++) {
        const i = (k * 104729) % 3500;
        if (k % 3 === 0) {
          nb.remove('Movie', i * 7 + 3);
          model.delete(i);
        } else {
          nb.upsert('Movie', movie(i, 1));
          model.set(i, movie(i, 1));
        }
      }
      const s2 = nb.build({ version: 2 });
      const consumer = applyDelta(decodeSnapshot(encodeSnapshot(s1)), encodeDelta(s1, s2));
      for (const prefix of ['Movie title number 1', 'Movie title number 29', 'M']) {
        const want = [...model.values()].filter((m) => m.title.startsWith(prefix)).map((m) => m.title);
        expect([...consumer.type('Movie').index('byTitle').findPrefix(prefix)].map((m) => m.title)).toEqual(
          want.sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
        );
      }
      expect(decodeSnapshot(encodeSnapshot(consumer), { verify: true }).version).toBe(2);
    }
  });

  it('lists a hash index’s matches ascending by ordinal in a state built whole', () => {
    const state = build();
    const ordinals = [...state.type('Movie').index('byYear').find(1960)].map((m) => (m.id - 3) / 7);
    expect(ordinals).toEqual(Array.from({ length: N / 70 + 1 }, (_, k) => 10 + 70 * k).filter((i) => i < N));
  });

  it('answers a wrong lookup with a typed error', () => {
    const movies = build().type('Movie');
    expect(errorOf(() => movies.index('byGenre'))).toEqual({
      code: 'UNKNOWN_INDEX',
      message:
        'Movie has no index "byGenre"; it has: byYear, byTitle. Declare it in the schema (indexes), or make it with createIndex.',
    });
    expect(errorOf(() => movies.index('byYear').find('1999'))).toEqual({
      code: 'INVALID_KEY',
      message: 'Movie keys are a value of field "year"; got string. Pass the key as declared.',
    });
    expect(errorOf(() => movies.index('byYear').findPrefix('19'))).toEqual({
      code: 'INVALID_INDEX',
      message:
        'index byYear of Movie is not a prefix index; declare it with { fields: [...], prefix: true }.',
    });
    expect(errorOf(() => movies.createIndex('rating'))).toEqual({
      code: 'INVALID_INDEX',
      message:
        'Movie: index rating: field "rating" is double; indexes cover int, long, string and boolean fields',
    });
    for (const fields of [[], undefined])
      expect(errorOf(() => movies.createIndex(fields as never))).toEqual({
        code: 'INVALID_INDEX',
        message: 'createIndex on Movie needs a non-empty list of fields (or one field name).',
      });
    expect(errorOf(() => movies.createIndex('id', { name: 'byYear' }))).toEqual({
      code: 'INVALID_INDEX',
      message: 'Movie has an index "byYear" over other fields; give this one another name.',
    });
  });
});

describe('indexes across schema changes and consumers', () => {
  const Plain = t.object('Movie', { id: t.int(), title: t.string(), year: t.int() }, { primaryKey: 'id' });
  const Indexed = t.object(
    'Movie',
    { id: t.int(), title: t.string(), year: t.int() },
    { primaryKey: 'id', indexes: { byYear: ['year'] } },
  );
  const v1 = () => {
    const b = new StateBuilder(t.schema([Plain]));
    for (let i = 0; i < 100; i++) b.add('Movie', { id: i, title: `t${i}`, year: 2000 + (i % 5) });
    return b.build({ version: 1 });
  };

  it('builds an index a delta’s schema adds, and drops one it removes', () => {
    const s1 = v1();
    const consumer1 = decodeSnapshot(encodeSnapshot(s1));
    const s2 = StateBuilder.from(s1, t.schema([Indexed]))
      .upsert('Movie', { id: 1000, title: 'new', year: 2003 })
      .build({ version: 2 });
    const consumer2 = applyDelta(consumer1, encodeDelta(s1, s2));
    expect(consumer2.type('Movie').index('byYear').count(2003)).toBe(21);
    const s3 = StateBuilder.from(s2, t.schema([Plain]))
      .remove('Movie', 1000)
      .build({ version: 3 });
    const consumer3 = applyDelta(consumer2, encodeDelta(s2, s3));
    expect(consumer3.type('Movie').indexNames).toEqual([]);
    expect(errorOf(() => consumer3.type('Movie').index('byYear')).code).toBe('UNKNOWN_INDEX');
  });

  it('a declared index displaces a consumer’s own of its name, named by displacedLocalIndexes', () => {
    const s1 = v1();
    const s2 = StateBuilder.from(s1, t.schema([Indexed])).build({ version: 2 });
    const delta = encodeDelta(s1, s2);
    for (const [fields, displaced] of [
      [
        ['title'],
        [{ type: 'Movie', name: 'byYear', reason: 'the schema now declares an index "byYear" over year' }],
      ],
      [['year'], []],
    ] as const) {
      const consumer1 = decodeSnapshot(encodeSnapshot(s1));
      consumer1.type('Movie').createIndex(fields, { name: 'byYear' });
      consumer1.type('Movie').createIndex('title', { name: 'mine' });
      // As a consumer refreshes: by the delta, or by the snapshot with its own indexes made again.
      const bySnapshot = decodeSnapshot(encodeSnapshot(s2));
      carryLocalIndexes(consumer1, bySnapshot);
      for (const consumer2 of [applyDelta(consumer1, delta), bySnapshot]) {
        const movies = consumer2.type('Movie');
        expect(movies.indexNames).toEqual(['byYear', 'mine']);
        expect(movies.index('byYear').declared).toBe(true);
        expect(movies.index('byYear').count(2003)).toBe(20);
        expect(displacedLocalIndexes(consumer1, consumer2)).toEqual(displaced);
      }
    }
  });

  it('keeps a consumer’s own index current across deltas, and out of snapshots', () => {
    const s1 = v1();
    const consumer1 = decodeSnapshot(encodeSnapshot(s1));
    const mine = consumer1.type('Movie').createIndex(['title'], { prefix: true });
    expect(consumer1.type('Movie').createIndex(['title'], { prefix: true })).toBe(mine);
    expect(mine.countPrefix('t1')).toBe(11);
    const s2 = StateBuilder.from(s1)
      .upsert('Movie', { id: 1000, title: 't1-new', year: 2003 })
      .remove('Movie', 10)
      .build({ version: 2 });
    const consumer2 = applyDelta(consumer1, encodeDelta(s1, s2));
    expect([...consumer2.type('Movie').index('title').findPrefix('t1')].map((m) => m.title)).toEqual([
      't1',
      't1-new',
      't11',
      't12',
      't13',
      't14',
      't15',
      't16',
      't17',
      't18',
      't19',
    ]);
    expect(decodeSnapshot(encodeSnapshot(consumer2)).type('Movie').indexNames).toEqual([]);
  });
});

describe('a consumer’s own index', () => {
  it('follows refreshes by delta and by snapshot', async () => {
    const walDir = await mkdtemp(join(tmpdir(), 'shoal-index-wal-'));
    const store = new MemoryBlobStore();
    const schema = t.schema([Movie]);
    await using producer = await Producer.open({
      store,
      namespace: 'movies',
      schema,
      walDir,
      fsync: false,
      snapshotEvery: 1,
    });
    await producer.runCycle((w) => {
      for (let i = 0; i < 200; i++) w.add('Movie', movie(i));
    });
    await using consumer = await Consumer.open({ store, namespace: 'movies', watch: false });
    const byRating = consumer.state.type('Movie').createIndex('year', { name: 'mine' });
    expect(byRating.count(1950)).toBe(3);
    await producer.upsert('Movie', movie(1000));
    await producer.flush();
    await consumer.refresh();
    expect(
      consumer.state
        .type('Movie')
        .index('mine')
        .count(1950 + (1000 % 70)),
    ).toBe(4);
    const v2 = producer.version!;
    await producer.delete('Movie', 3);
    await producer.flush();
    // A broken delta: the consumer loads the snapshot, and makes its index again over it.
    await store.put(new NamespaceLayout('movies').delta(v2, producer.version!), new Uint8Array([1, 2, 3]));
    const kinds: string[] = [];
    consumer.on('refresh', (e) => kinds.push(e.kind));
    await consumer.refresh();
    expect(kinds).toEqual(['snapshot']);
    expect(consumer.state.type('Movie').index('mine').count(1950)).toBe(2);
    expect(consumer.state.type('Movie').index('mine').declared).toBe(false);
    await rm(walDir, { recursive: true, force: true });
  });
});

describe('a consumer’s own index displaced by a schema change', () => {
  it('emits index:dropped, and index(name) gives the declared one', async () => {
    const walDir = await mkdtemp(join(tmpdir(), 'shoal-index-wal-'));
    const store = new MemoryBlobStore();
    const Plain = t.object('Movie', { id: t.int(), title: t.string(), year: t.int() }, { primaryKey: 'id' });
    const Indexed = t.object(
      'Movie',
      { id: t.int(), title: t.string(), year: t.int() },
      { primaryKey: 'id', indexes: { byYear: ['year'] } },
    );
    const open = (schema: ReturnType<typeof t.schema>) =>
      Producer.open({ store, namespace: 'movies', schema, walDir, fsync: false });
    const first = await open(t.schema([Plain]));
    await first.runCycle((w) => {
      for (let i = 0; i < 10; i++) w.add('Movie', { id: i, title: `t${i}`, year: 2000 + (i % 2) });
    });
    await first.close();
    await using consumer = await Consumer.open({ store, namespace: 'movies', watch: false });
    consumer.state.type('Movie').createIndex('title', { name: 'byYear' });
    const dropped: unknown[] = [];
    consumer.on('index:dropped', (d) => dropped.push(d));
    await using second = await open(t.schema([Indexed]));
    await second.runCycle((w) => {
      for (let i = 0; i < 11; i++) w.add('Movie', { id: i, title: `t${i}`, year: 2000 + (i % 2) });
    });
    await consumer.refresh();
    expect(dropped).toEqual([
      { type: 'Movie', name: 'byYear', reason: 'the schema now declares an index "byYear" over year' },
    ]);
    expect(consumer.state.type('Movie').indexNames).toEqual(['byYear']);
    expect(consumer.state.type('Movie').index('byYear').count(2000)).toBe(6);
    await rm(walDir, { recursive: true, force: true });
  });
});

describe('the producer’s index check', () => {
  it('refuses a version whose index a transition left behind (CHECKSUM_MISMATCH)', () => {
    const b = new StateBuilder(t.schema([Movie]));
    for (let i = 0; i < 100; i++) b.add('Movie', movie(i));
    const s1 = b.build({ version: 1 });
    const s2 = StateBuilder.from(s1).upsert('Movie', movie(5, 1)).build({ version: 2 });
    expect(() => checkIndexChanges(s1, s2)).not.toThrow();
    const stale = s2.types[0]!.parts;
    const [byYear, byTitle] = s1.types[0]!.parts.indexes!;
    const forge = (indexes: NonNullable<typeof stale.indexes>) =>
      new State({
        schema: s2.schema,
        version: 2,
        tag: s2.tag,
        types: [new TypeState({ ...stale, indexes })],
      });
    expect(errorOf(() => checkIndexChanges(s1, forge([byYear!, stale.indexes![1]!])))).toEqual({
      code: 'CHECKSUM_MISMATCH',
      message:
        'index byYear of Movie at version 2 does not hold its records (removed ordinal 5 is still linked); nothing was published.',
    });
    const dropped = {
      ...stale.indexes![1]!,
      pages: byTitle!.kind === 'sorted' ? byTitle!.pages : [],
    } as typeof byTitle;
    expect(errorOf(() => checkIndexChanges(s1, forge([stale.indexes![0]!, dropped!]))).message).toBe(
      'index byTitle of Movie at version 2 does not hold its records (ordinal 100 is not where its value sorts); nothing was published.',
    );
  });
});

describe('crafted index sections', () => {
  const state = (() => {
    const b = new StateBuilder(t.schema([Movie]));
    for (let i = 0; i < 3000; i++) b.add('Movie', movie(i));
    return b.build({ version: 1 });
  })();
  const bytes = encodeSnapshot(state);
  const edited = (index: number, array: number, edit: (a: Uint32Array) => void) =>
    tamper(bytes, (blob) =>
      edit(section(blob, blob.header.types[0].indexes[index].arrays[array][0], Uint32Array)),
    );

  const codeOf = (run: () => unknown): string => {
    try {
      run();
      return 'none';
    } catch (e) {
      return isShoalError(e) ? e.code : `not a ShoalError: ${String(e)}`;
    }
  };
  /** Every read an index offers, every delta applied: a BLOB_CORRUPT at worst, never a TypeError. */
  const readAll = (blob: Uint8Array) => {
    const loaded = decodeSnapshot(blob);
    const movies = loaded.type('Movie');
    const codes = new Set<string>();
    for (let y = 1950; y < 2020; y++) {
      codes.add(codeOf(() => [...movies.index('byYear').find(y)].length + movies.index('byYear').count(y)));
    }
    codes.add(codeOf(() => [...movies.index('byTitle').findPrefix('Movie title number 1')].length));
    codes.add(codeOf(() => movies.index('byTitle').count('Movie title number 12')));
    const next = StateBuilder.from(state)
      .upsert('Movie', movie(7, 1))
      .remove('Movie', movie(8).id)
      .build({ version: 2 });
    codes.add(codeOf(() => applyDelta(loaded, encodeDelta(state, next))));
    codes.delete('none');
    return [...codes];
  };

  it.each([
    [
      'a slot pointing past the records',
      0,
      0,
      (a: Uint32Array) =>
        a.set(
          [4_000_000],
          a.findIndex((v) => v !== 0),
        ),
      'a slot points at no record',
    ],
    [
      'a count that does not add up',
      0,
      2,
      // Ordinal 0 heads the records of 1950: its back link is their count.
      (a: Uint32Array) => a.set([a[0]! + 1], 0),
      'its counts do not add up',
    ],
    [
      'a link past the records',
      0,
      1,
      (a: Uint32Array) => a.set([4_000_000], 5),
      'a link points past the records',
    ],
    [
      'an ordinal listed twice',
      1,
      0,
      (a: Uint32Array) => a.set([a[0]!], 1),
      'it lists an ordinal that holds no record of its own',
    ],
    [
      'an ordinal past the records',
      1,
      0,
      (a: Uint32Array) => a.set([4_000_000], 100),
      'it lists an ordinal that holds no record of its own',
    ],
  ])('%s: reads give BLOB_CORRUPT at worst, verify: true finds it', (_, index, array, edit, what) => {
    const name = index === 0 ? 'byYear' : 'byTitle';
    const blob = edited(index, array, edit);
    expect(readAll(blob).filter((c) => c !== 'BLOB_CORRUPT')).toEqual([]);
    expect(errorOf(() => decodeSnapshot(blob, { verify: true }))).toEqual({
      code: 'BLOB_CORRUPT',
      message: `the snapshot is corrupt: index ${name} of Movie does not match its records: ${what}. Fetch it again or republish it.`,
    });
  });

  it('a prefix page with two ordinals swapped: a wrong record is BLOB_CORRUPT, never given', () => {
    // Ordinal 0 ("… number 0") moved to where "… number 1099" sorts, inside the run of "… number 1".
    const blob = edited(1, 0, (a) => {
      const x = a[0]!;
      a[0] = a[100]!;
      a[100] = x;
    });
    const titles = decodeSnapshot(blob).type('Movie').index('byTitle');
    expect(errorOf(() => [...titles.findPrefix('Movie title number 1')])).toEqual({
      code: 'BLOB_CORRUPT',
      message:
        'index byTitle is corrupt: it lists ordinal 0 where its value does not belong. Load the version from a fresh snapshot (verify: true checks indexes whole).',
    });
  });

  it('random swaps in an index: every read gives only matching records or BLOB_CORRUPT, before and after a delta', () => {
    const next = StateBuilder.from(state)
      .upsert('Movie', movie(7, 1))
      .remove('Movie', movie(8).id)
      .build({ version: 2 });
    const delta = encodeDelta(state, next);
    const prefixes = [
      'Movie title number 1',
      'Movie title number 2',
      'Movie title number 29',
      'M',
      'Movie title number 7',
    ];
    /** Reads that gave a record the model does not have there (should be none). */
    const wrong = (s: AnyState): string[] => {
      const movies = s.type('Movie');
      const all = [...movies].map((m) => m.toObject()) as unknown as {
        id: number;
        title: string;
        year: number;
      }[];
      const out: string[] = [];
      const check = (
        what: string,
        read: () => { id: number }[],
        matches: (m: (typeof all)[0]) => boolean,
      ) => {
        try {
          const got = read();
          const ids = new Set(all.filter(matches).map((m) => m.id));
          if (got.some((g) => !ids.has(g.id))) out.push(what);
        } catch (e) {
          if (!isShoalError(e, 'BLOB_CORRUPT')) out.push(`${what}: ${String(e)}`);
        }
      };
      for (let y = 1950; y < 2020; y++)
        check(
          `year ${y}`,
          () => [...movies.index('byYear').find(y)] as never,
          (m) => m.year === y,
        );
      for (const p of prefixes) {
        check(
          `prefix ${p}`,
          () => [...movies.index('byTitle').findPrefix(p)] as never,
          (m) => m.title.startsWith(p),
        );
        check(
          `title ${p}`,
          () => [...movies.index('byTitle').find(p)] as never,
          (m) => m.title === p,
        );
      }
      return out;
    };
    let seed = 15;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const failures: string[] = [];
    for (let k = 0; k < 60; k++) {
      const [index, array, span] = k % 2 === 0 ? [1, 0, 3000] : [0, 1, 3000];
      const blob = edited(index, array, (a) => {
        const i = random(Math.min(span, a.length));
        const j = random(Math.min(span, a.length));
        const x = a[i]!;
        a[i] = a[j]!;
        a[j] = x;
      });
      const loaded = decodeSnapshot(blob);
      failures.push(...wrong(loaded).map((w) => `mutation ${k}: ${w}`));
      try {
        failures.push(...wrong(applyDelta(loaded, delta)).map((w) => `mutation ${k} after the delta: ${w}`));
      } catch (e) {
        if (!isShoalError(e, 'BLOB_CORRUPT')) throw e;
      }
    }
    expect(failures).toEqual([]);
  });

  it('a shape that cannot hold: BLOB_CORRUPT at decode', () => {
    const blob = tamper(bytes, (b) => {
      b.header.types[0].indexes[1].entries = 3001;
    });
    expect(errorOf(() => decodeSnapshot(blob))).toEqual({
      code: 'BLOB_CORRUPT',
      message:
        'the blob is corrupt: index byTitle of Movie is malformed: it holds more records than the type. Fetch it again or republish it.',
    });
  });

  it('verify: true finds a swapped link the structural checks cannot see', () => {
    const blob = edited(1, 0, (a) => {
      const x = a[0]!;
      a[0] = a[1]!;
      a[1] = x;
    });
    expect(decodeSnapshot(blob).type('Movie').index('byTitle').size).toBe(3000);
    expect(errorOf(() => decodeSnapshot(blob, { verify: true }))).toEqual({
      code: 'BLOB_CORRUPT',
      message:
        'the snapshot is corrupt: index byTitle of Movie does not match its records: it is not sorted. Fetch it again or republish it.',
    });
  });
});
