/**
 * The run-time side of typed writes (test/typed-writes.test-d.ts is the compile-time side):
 * the mistakes the types refuse, smuggled past them with a cast, are still refused at run time
 * with their code and nothing is logged or published; and a schema known only at run time
 * (`fromJSON`, as the CLI loads it) writes plain objects without casts.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoreAnnouncer } from '../src/blob/announcer.ts';
import { FsBlobStore } from '../src/blob/fs-blob-store.ts';
import { Producer } from '../src/producer/producer.ts';
import { fromJSON, type Schema, t, toJSON } from '../src/schema/index.ts';
import { StateBuilder } from '../src/state/build/state-builder.ts';
import { useStores } from './support/stores.ts';

const City = t.object(
  'City',
  { id: t.int(), name: t.string(), lat: t.double(), nickname: t.string().optional() },
  { primaryKey: 'id' },
);
const Road = t.object('Road', { from: t.int(), to: t.string() }, { primaryKey: ['from', 'to'] });
const Note = t.object('Note', { text: t.string() });
const schema = t.schema([City, Road, Note]);
const oslo = { id: 1, name: 'Oslo', lat: 59.9 };

const { tempDir } = useStores('typed-writes');

const open = async <S extends Schema>(of: S) => {
  const dir = await tempDir();
  const store = new FsBlobStore({ dir: join(dir, 'store'), fsync: false });
  const producer = await Producer.open({
    store,
    namespace: 'cities',
    schema: of,
    walDir: join(dir, 'wal'),
    fsync: false,
    cycleThread: 'main',
    maxBatchDelayMs: 60_000,
  });
  return { producer, announcer: new StoreAnnouncer({ store, namespace: 'cities' }) };
};

/** Each mistake the types refuse, the code it gets at run time, and what the message names. */
const BAD_RECORDS = [
  ['a field of the wrong type', 'City', { ...oslo, lat: 'north' }, 'INVALID_RECORD', 'field "lat"'],
  ['an unknown field', 'City', { ...oslo, mayor: 'x' }, 'INVALID_RECORD', 'field "mayor"'],
  ['a missing required field', 'City', { id: 1, lat: 59.9 }, 'INVALID_RECORD', 'field "name"'],
  ['an unknown type name', 'Town', oslo, 'UNKNOWN_TYPE', 'no type "Town"'],
] as const;
const BAD_KEYS = [
  ['a key of the wrong type', 'City', '42', 'INVALID_KEY', 'must be a 32-bit integer'],
  ['a composite key missing a part', 'Road', { from: 1 }, 'INVALID_KEY', 'key field "to"'],
  ['a key of a type without one', 'Note', 'x', 'INVALID_KEY', 'no primary key'],
] as const;

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
};

describe('writes the types refuse, cast past them', () => {
  it('Producer.upsert and delete reject each with its code and log nothing', async () => {
    const { producer } = await open(schema);
    try {
      for (const [what, type, record, code, names] of BAD_RECORDS) {
        await expect(producer.upsert(type as never, record as never), what).rejects.toMatchObject({
          code,
          message: expect.stringContaining(names),
        });
      }
      for (const [what, type, key, code, names] of BAD_KEYS) {
        await expect(producer.delete(type as never, key as never), what).rejects.toMatchObject({
          code,
          message: expect.stringContaining(names),
        });
      }
      expect(producer.pendingCount).toBe(0);
      expect(await producer.flush()).toEqual({ outcome: 'skipped' });
    } finally {
      await producer.close();
    }
  });

  it('the writer of runCycle rejects each and leaves the announced version as it was', async () => {
    const { producer, announcer } = await open(schema);
    try {
      const first = await producer.runCycle((w) => w.add('City', oslo));
      expect(first.outcome).toBe('published');
      for (const [what, type, record, code, names] of BAD_RECORDS) {
        await expect(
          producer.runCycle((w) => {
            w.add('City', oslo);
            w.add(type as never, record as never);
          }),
          what,
        ).rejects.toMatchObject({ code, message: expect.stringContaining(names) });
        expect((await announcer.read())?.version, what).toBe(producer.version);
      }
      expect([...producer.state!.type('City')].map((v) => v.toObject())).toEqual([oslo]);
    } finally {
      await producer.close();
    }
  });

  it('StateBuilder.add and remove throw each with its code', () => {
    for (const [what, type, record, code, names] of BAD_RECORDS) {
      expect(
        thrown(() => new StateBuilder(schema).add(type as never, record as never)),
        what,
      ).toMatchObject({ code, message: expect.stringContaining(names) });
    }
    const base = new StateBuilder(schema).add('City', oslo).build({ version: 1 });
    for (const [what, type, key, code, names] of BAD_KEYS) {
      expect(
        thrown(() => StateBuilder.from(base).remove(type as never, key as never)),
        what,
      ).toMatchObject({ code, message: expect.stringContaining(names) });
    }
  });
});

describe('a schema known only at run time', () => {
  it('writes plain objects through the producer and the builder, checked at run time', async () => {
    const loaded = fromJSON(toJSON(schema));
    const { producer } = await open(loaded);
    try {
      const records: Record<string, unknown>[] = [oslo, { id: 2, name: 'Bergen', lat: 60.4 }];
      await producer.runCycle((w) => {
        for (const r of records) w.add('City', r);
        w.add('Road', { from: 1, to: 'Bergen' });
      });
      await producer.upsert('City', { id: 3, name: 'Tromsø', lat: 69.6, nickname: null });
      await producer.delete('Road', { from: 1, to: 'Bergen' });
      await expect(producer.upsert('City', { ...oslo, lat: 'north' })).rejects.toMatchObject({
        code: 'INVALID_RECORD',
      });
      await producer.flush();
      const state = producer.state!;
      expect([...state.type('City')].map((v) => v.toObject())).toEqual([
        oslo,
        { id: 2, name: 'Bergen', lat: 60.4 },
        { id: 3, name: 'Tromsø', lat: 69.6 },
      ]);
      expect(state.type('Road').size).toBe(0);
      const next = StateBuilder.from(state)
        .remove('City', 2)
        .add('Note', { text: 'x' })
        .build({ version: 9 });
      expect(next.counts()).toEqual({ City: 2, Road: 0, Note: 1 });
    } finally {
      await producer.close();
    }
  });
});
