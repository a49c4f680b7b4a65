import { describe, expectTypeOf, it } from 'vitest';
import { StateBuilder, t } from '../src/index.ts';

describe('read(key, field) is typed like the views', () => {
  it('takes the key type and a field name, and gives that field’s type or undefined', () => {
    const Movie = t.object(
      'Movie',
      { id: t.int(), title: t.string(), year: t.int().optional(), tags: t.list(t.string()) },
      { primaryKey: 'id' },
    );
    const type = new StateBuilder(t.schema([Movie])).build({ version: 1 }).type('Movie');
    expectTypeOf(type.read(1, 'title')).toEqualTypeOf<string | undefined>();
    expectTypeOf(type.read(1, 'year')).toEqualTypeOf<number | undefined>();
    expectTypeOf(type.read(1, 'tags')).toEqualTypeOf<string[] | undefined>();
    // @ts-expect-error: "rating" is not a field of Movie
    type.read(1, 'rating');
    // @ts-expect-error: the key is an int
    type.read('1', 'title');
  });
});
