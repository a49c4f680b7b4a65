/**
 * Writes are typed by the schema, as reads are: `Producer.upsert` / `delete`, `StateBuilder`'s
 * `add` / `upsert` / `remove`, and the writer `runCycle(populate)` hands over. Each mistake is a
 * compile error (`@ts-expect-error` fails the run if the line compiles); a schema known only at
 * run time (`fromJSON`) takes any type name, plain-object records and any key.
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { AnyProducer, CycleWriter, SchemaKey, SchemaRecord } from '../src/index.ts';
import type { Producer } from '../src/producer/producer.ts';
import { fromJSON, type Schema, t } from '../src/schema/index.ts';
import { StateBuilder } from '../src/state/build/state-builder.ts';
import type { State } from '../src/state/read/state.ts';

const City = t.object(
  'City',
  {
    id: t.int(),
    name: t.string(),
    lat: t.double(),
    population: t.long({ bigint: true }),
    nickname: t.string().optional(),
  },
  { primaryKey: 'id' },
);
const Road = t.object(
  'Road',
  { from: t.int(), to: t.string(), km: t.float() },
  { primaryKey: ['from', 'to'] },
);
const Note = t.object('Note', { text: t.string() });
const schema = t.schema([City, Road, Note]);
type S = typeof schema;

declare const producer: Producer<S>;
declare const builder: StateBuilder<S>;
declare const state: State<S>;
declare const wideProducer: Producer<Schema>;
declare const anyProducer: AnyProducer;
declare const typeName: string;
declare const record: Record<string, unknown>;
declare const key: unknown;

const city = { id: 1, name: 'Oslo', lat: 59.9, population: 709_000n };

describe('the shapes writes take', () => {
  it('a record is t.Infer of the type named; a key is its key', () => {
    expectTypeOf<SchemaRecord<S, 'City'>>().toEqualTypeOf<t.Infer<typeof City>>();
    expectTypeOf<SchemaRecord<S, 'City'>>().toEqualTypeOf<{
      id: number;
      name: string;
      lat: number;
      population: bigint;
      nickname?: string | undefined;
    }>();
    expectTypeOf<SchemaKey<S, 'City'>>().toEqualTypeOf<number>();
    expectTypeOf<SchemaKey<S, 'Road'>>().toEqualTypeOf<{ from: number; to: string }>();
    expectTypeOf<SchemaKey<S, 'Note'>>().toBeNever();
  });

  it('a schema known only at run time takes any plain object and any key', () => {
    expectTypeOf<SchemaRecord<Schema, string>>().toEqualTypeOf<Readonly<Record<string, unknown>>>();
    expectTypeOf<SchemaKey<Schema, string>>().toBeUnknown();
    expectTypeOf(fromJSON({})).toEqualTypeOf<Schema>();
  });
});

describe('Producer', () => {
  it('takes records and keys of the schema', () => {
    expectTypeOf(producer.upsert('City', city)).toEqualTypeOf<Promise<void>>();
    // An optional field left out, or undefined.
    producer.upsert('City', { id: 2, name: 'Bergen', lat: 60.4, population: 1n, nickname: undefined });
    producer.upsert('Road', { from: 1, to: 'Bergen', km: 463 });
    producer.upsert('Note', { text: 'no key' });
    expectTypeOf(producer.delete('City', 42)).toEqualTypeOf<Promise<void>>();
    producer.delete('Road', { from: 1, to: 'Bergen' });
  });

  it('refuses every mistake at compile time', () => {
    // @ts-expect-error lat is a double
    producer.upsert('City', { ...city, lat: 'north' });
    // @ts-expect-error City has no field mayor
    producer.upsert('City', { id: 1, name: 'Oslo', lat: 59.9, population: 1n, mayor: 'x' });
    // @ts-expect-error name is required
    producer.upsert('City', { id: 1, lat: 59.9, population: 1n });
    // @ts-expect-error population is a bigint long
    producer.upsert('City', { ...city, population: 709_000 });
    // @ts-expect-error the schema has no type Town
    producer.upsert('Town', city);
    // @ts-expect-error a type name known only at run time
    producer.upsert(typeName, record);
    // @ts-expect-error City's key is its int id
    producer.delete('City', '42');
    // @ts-expect-error Road's key is { from, to }
    producer.delete('Road', { from: 1 });
    // @ts-expect-error a composite key is exactly its key fields
    producer.delete('Road', { from: 1, to: 'Bergen', km: 463 });
    // @ts-expect-error Note has no primary key
    producer.delete('Note', 'no key');
    // @ts-expect-error the schema has no type Town
    producer.delete('Town', 42);
  });

  it('refuses a union of type names: the record or key must fit the one type written', () => {
    const n = 'City' as 'City' | 'Note';
    // @ts-expect-error a Note record is no City, and n may be City
    producer.upsert(n, { text: 'hi' });
    // @ts-expect-error not even a record both would take: name one type
    producer.upsert(n, { ...city, text: 'hi' });
    // @ts-expect-error Note has no key, and n may be Note
    producer.delete(n, 1);
    // @ts-expect-error the same for a cycle's writer
    producer.runCycle((w) => w.add(n, { text: 'hi' }));
    // @ts-expect-error and for a StateBuilder
    builder.add(n, { text: 'hi' });
    // @ts-expect-error and its remove
    builder.remove(n, 1);
    expectTypeOf<SchemaRecord<S, 'City' | 'Note'>>().toBeNever();
    expectTypeOf<SchemaKey<S, 'City' | 'Road'>>().toBeNever();
    // One literal name is as before, and a schema known only at run time takes any name.
    producer.upsert('Note', { text: 'hi' });
    wideProducer.upsert(n, { text: 'hi' });
    wideProducer.delete(n, 1);
  });
});

describe('StateBuilder', () => {
  it('takes records and keys of the schema', () => {
    expectTypeOf(builder.add('City', city)).toEqualTypeOf<StateBuilder<S>>();
    builder.add('City', { id: 2, name: 'Bergen', lat: 60.4, population: 1n }).add('Note', { text: 'x' });
    builder.upsert('Road', { from: 1, to: 'Bergen', km: 463 }).remove('Road', { from: 1, to: 'Bergen' });
    StateBuilder.from(state).upsert('City', city).remove('City', 1);
    new StateBuilder(schema).add('City', city);
  });

  it('refuses every mistake at compile time', () => {
    // @ts-expect-error lat is a double
    builder.add('City', { ...city, lat: 'north' });
    // @ts-expect-error City has no field mayor
    builder.add('City', { id: 1, name: 'Oslo', lat: 59.9, population: 1n, mayor: 'x' });
    // @ts-expect-error name is required
    builder.add('City', { id: 1, lat: 59.9, population: 1n });
    // @ts-expect-error population is a bigint long
    builder.upsert('City', { ...city, population: 709_000 });
    // @ts-expect-error the schema has no type Town
    builder.add('Town', city);
    // @ts-expect-error City's key is its int id
    builder.remove('City', '42');
    // @ts-expect-error Road's key is { from, to }
    StateBuilder.from(state).remove('Road', { from: 1 });
    // @ts-expect-error lat is a double
    new StateBuilder(schema).add('City', { ...city, lat: 'north' });
  });
});

describe('the writer of runCycle(populate)', () => {
  it('is typed by the producer schema', () => {
    producer.runCycle((w) => {
      expectTypeOf(w).toEqualTypeOf<CycleWriter<S>>();
      w.add('City', city);
      w.add('City', { id: 2, name: 'Bergen', lat: 60.4, population: 1n });
      w.add('Road', { from: 1, to: 'Bergen', km: 463 });
    });
  });

  it('refuses every mistake at compile time', () => {
    producer.runCycle((w) => {
      // @ts-expect-error lat is a double
      w.add('City', { ...city, lat: 'north' });
      // @ts-expect-error City has no field mayor
      w.add('City', { id: 1, name: 'Oslo', lat: 59.9, population: 1n, mayor: 'x' });
      // @ts-expect-error name is required
      w.add('City', { id: 1, lat: 59.9, population: 1n });
      // @ts-expect-error population is a bigint long
      w.add('City', { ...city, population: 709_000 });
      // @ts-expect-error the schema has no type Town
      w.add('Town', city);
    });
  });
});

describe('a schema known only at run time', () => {
  it('takes any type name, plain-object records and any key, without casts', () => {
    const loaded = fromJSON({});
    const b = new StateBuilder(loaded).add(typeName, record).upsert(typeName, { id: 1 });
    b.remove(typeName, key);
    StateBuilder.from(state, loaded).remove('City', key);
    wideProducer.upsert(typeName, record);
    wideProducer.delete(typeName, key);
    wideProducer.runCycle((w) => w.add(typeName, record));
    anyProducer.upsert(typeName, record);
    anyProducer.delete(typeName, key);
    anyProducer.runCycle((w) => w.add(typeName, record));
    const asAny: AnyProducer = producer;
    expectTypeOf(asAny.upsert).parameter(1).toEqualTypeOf<Readonly<Record<string, unknown>>>();
  });

  it('still wants an object for a record', () => {
    // @ts-expect-error a record is an object
    wideProducer.upsert(typeName, 42);
    // @ts-expect-error a record is an object
    new StateBuilder(fromJSON({})).add(typeName, 'x');
    // @ts-expect-error a record is an object
    wideProducer.runCycle((w) => w.add(typeName, null));
  });
});
