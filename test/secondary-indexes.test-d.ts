import { describe, expectTypeOf, it } from 'vitest';
import { StateBuilder, t } from '../src/index.ts';

describe('index declarations and reads are typed', () => {
  it('names only the type’s fields, and reads typed views', () => {
    const City = t.object(
      'City',
      { id: t.int(), name: t.string(), country: t.string() },
      { primaryKey: 'id', indexes: { byCountry: ['country'], byName: { fields: ['name'], prefix: true } } },
    );
    // @ts-expect-error: "region" is not a field of City
    t.object('City', { id: t.int(), country: t.string() }, { indexes: { byRegion: ['region'] } });
    const state = new StateBuilder(t.schema([City])).build({ version: 1 });
    const [first] = state.type('City').index('byCountry').find('FR');
    expectTypeOf(first!.name).toEqualTypeOf<string>();
    expectTypeOf(state.type('City').index('byName').count('P')).toEqualTypeOf<number>();
  });
});
