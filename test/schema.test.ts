import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShoalError } from '../src/errors.ts';
import { assertCompatible, type Schema, schemaIncompatibilities, t } from '../src/schema/index.ts';
import { StateBuilder } from '../src/state/build/state-builder.ts';
import { schemaOf, typePlan } from './support/arbitraries.ts';

const Movie = t.object(
  'Movie',
  {
    id: t.int(),
    title: t.string(),
    year: t.int().optional(),
    tags: t.list(t.string()),
    gross: t.long({ bigint: true }).optional(),
    meta: t.json().optional(),
  },
  { primaryKey: 'id' },
);
const schema = t.schema([Movie]);

function errorOf(fn: () => unknown): ShoalError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ShoalError) return e;
    throw e;
  }
  throw new Error('expected a ShoalError');
}

describe('record validation', () => {
  const builder = () => new StateBuilder(schema);

  it('names the type, the key, the field and what was expected', () => {
    const e = errorOf(() => builder().add('Movie', { id: 7, title: 'x', tags: [], year: '1999' as never }));
    expect(e.code).toBe('INVALID_RECORD');
    expect(e.message).toContain('Movie (id=7): field "year" expected a 32-bit integer, got "1999" (string)');
  });

  it('refuses a missing required field, an unknown field, a bad list element', () => {
    expect(errorOf(() => builder().add('Movie', { id: 1, tags: [] } as never)).message).toContain(
      'field "title" is required (string) but absent',
    );
    expect(
      errorOf(() => builder().add('Movie', { id: 1, title: 'a', tags: [], rating: 3 } as never)).message,
    ).toContain('has field "rating", which the type does not declare');
    expect(
      errorOf(() => builder().add('Movie', { id: 1, title: 'a', tags: ['a', 2 as never] })).message,
    ).toContain('field "tags" element 1: expected a string, got 2 (number)');
  });

  it('refuses out-of-range ints, unsafe longs, lone surrogates', () => {
    expect(errorOf(() => builder().add('Movie', { id: 2 ** 31, title: 'a', tags: [] })).code).toBe(
      'INVALID_RECORD',
    );
    expect(errorOf(() => builder().add('Movie', { id: 1, title: '\ud800', tags: [] })).message).toContain(
      'lone surrogate',
    );
    expect(
      errorOf(() => builder().add('Movie', { id: 1, title: 'a', tags: [], gross: 2n ** 64n })).code,
    ).toBe('INVALID_RECORD');
  });

  it('refuses a json value with a "__proto__" key, which would not read back as written', () => {
    const meta = JSON.parse('{"a": [{"__proto__": 1}]}');
    const e = errorOf(() => builder().add('Movie', { id: 1, title: 'a', tags: [], meta }));
    expect(e.code).toBe('INVALID_RECORD');
    expect(e.message).toContain(
      'field "meta" expected a msgpack-encodable json value with no "__proto__" key',
    );
    const kept = builder()
      .add('Movie', { id: 1, title: 'a', tags: [], meta: { proto: 1 } })
      .build({ version: 1 });
    expect(kept.type('Movie').get(1)?.toObject().meta).toEqual({ proto: 1 });
  });

  it('takes null and undefined as absent for optional fields, and null as a json value', () => {
    const state = builder()
      .add('Movie', { id: 1, title: 'a', tags: [], year: undefined, meta: null })
      .add('Movie', { id: 2, title: 'b', tags: [], year: null as never })
      .build({ version: 1 });
    expect(state.type('Movie').get(1)?.toObject()).toEqual({ id: 1, title: 'a', tags: [], meta: null });
    expect('year' in state.type('Movie').get(2)!.toObject()).toBe(false);
  });

  it('refuses a duplicate key with DUPLICATE_KEY', () => {
    const b = builder().add('Movie', { id: 1, title: 'a', tags: [] });
    const e = errorOf(() => b.add('Movie', { id: 1, title: 'b', tags: [] }));
    expect(e.code).toBe('DUPLICATE_KEY');
    expect(e.message).toContain('Movie (id=1) was added twice');
  });

  it('refuses an unknown type with UNKNOWN_TYPE', () => {
    expect(errorOf(() => builder().add('Actor' as never, {} as never)).code).toBe('UNKNOWN_TYPE');
  });
});

describe('schema declarations', () => {
  it('refuses bad keys and names with INVALID_SCHEMA', () => {
    expect(errorOf(() => t.object('M', { id: t.int().optional() }, { primaryKey: 'id' })).message).toContain(
      'must be a required int, long or string field',
    );
    expect(errorOf(() => t.object('M', { d: t.double() }, { primaryKey: 'd' })).code).toBe('INVALID_SCHEMA');
    expect(errorOf(() => t.object('M', { id: t.int() }, { primaryKey: 'nope' as never })).code).toBe(
      'INVALID_SCHEMA',
    );
    expect(errorOf(() => t.object('M', { toObject: t.int() })).message).toContain('record views use it');
    expect(errorOf(() => t.object('bad name', { id: t.int() })).code).toBe('INVALID_SCHEMA');
    expect(errorOf(() => t.schema([Movie, Movie])).message).toContain('declares type "Movie" twice');
    expect(() => t.list(t.list(t.int()) as never)).toThrow(/nested lists/);
  });
});

describe('schema JSON form', () => {
  it('round-trips random schemas', () => {
    fc.assert(
      fc.property(fc.array(typePlan, { minLength: 1, maxLength: 4 }), (plans) => {
        const s = schemaOf(plans);
        const back = t.fromJSON(JSON.parse(JSON.stringify(t.toJSON(s))));
        expect(t.toJSON(back)).toEqual(t.toJSON(s));
        expect(schemaIncompatibilities(s, back)).toEqual([]);
        for (const type of s.types) {
          expect(back.type(type.name).fields).toEqual(type.fields);
          expect(back.type(type.name).compositeKey).toBe(type.compositeKey);
        }
      }),
    );
  });

  it('reads the documented form', () => {
    const s = t.fromJSON(`{
      "format": "shoal.schema/1",
      "types": [{ "name": "Movie", "primaryKey": "id", "fields": [
        { "name": "id", "kind": "int" },
        { "name": "tags", "kind": "list", "element": { "kind": "string" } },
        { "name": "year", "kind": "int", "optional": true }
      ] }]
    }`);
    expect(s.type('Movie').fields.map((f) => `${f.name}:${f.kind}${f.optional ? '?' : ''}`)).toEqual([
      'id:int',
      'tags:list',
      'year:int?',
    ]);
  });

  it('says what is wrong with a bad document', () => {
    expect(errorOf(() => t.fromJSON('{')).message).toContain('not valid JSON');
    expect(errorOf(() => t.fromJSON({ format: 'x', types: [] })).message).toContain(
      '"format" must be "shoal.schema/1"',
    );
    expect(
      errorOf(() =>
        t.fromJSON({
          format: 'shoal.schema/1',
          types: [{ name: 'M', fields: [{ name: 'a', kind: 'char' }] }],
        }),
      ).message,
    ).toContain('types[0] ("M").fields[0] ("a"): kind "char" is not one of');
  });
});

describe('schema compatibility', () => {
  const base = t.schema([
    t.object('M', { id: t.int(), a: t.string(), b: t.int().optional() }, { primaryKey: 'id' }),
  ]);
  const next = (fields: Parameters<typeof t.object>[1], pk: string | string[] = 'id'): Schema =>
    t.schema([t.object('M', fields, { primaryKey: pk as never })]);

  it('accepts new types, new optional fields, required → optional, dropping an optional field', () => {
    const added = t.schema([...base.types, t.object('N', { x: t.int() })]);
    expect(schemaIncompatibilities(base, added)).toEqual([]);
    expect(
      schemaIncompatibilities(
        base,
        next({ id: t.int(), a: t.string(), b: t.int().optional(), c: t.json().optional() }),
      ),
    ).toEqual([]);
    expect(schemaIncompatibilities(base, next({ id: t.int(), a: t.string().optional() }))).toEqual([]);
  });

  it('refuses changed kinds, removed required fields, new required fields, changed keys, removed types', () => {
    const reasons = (s: Schema) => schemaIncompatibilities(base, s).map((p) => p.reason);
    expect(reasons(next({ id: t.int(), a: t.int(), b: t.int().optional() }))).toEqual([
      'the kind changed from string to int',
    ]);
    expect(reasons(next({ id: t.int(), b: t.int().optional() }))).toEqual(['a required field was removed']);
    expect(reasons(next({ id: t.int(), a: t.string(), b: t.int().optional(), c: t.int() }))).toEqual([
      'a required field was added (add it as optional)',
    ]);
    expect(reasons(next({ id: t.int(), a: t.string(), b: t.int().optional() }, 'a'))[0]).toContain(
      'primary key changed',
    );
    expect(reasons(t.schema([t.object('Other', { x: t.int() })]))).toContain('the type was removed');
    const e = errorOf(() => assertCompatible(base, next({ id: t.long(), a: t.string() })));
    expect(e.code).toBe('SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain('new namespace');
  });
});
