import { describe, expectTypeOf, it } from 'vitest';
import { t } from '../src/schema/index.ts';
import type { State } from '../src/state/read/state.ts';
import type { RecordView } from '../src/state/read/type-state.ts';

const Movie = t.object(
  'Movie',
  {
    id: t.int(),
    title: t.string(),
    year: t.int().optional(),
    tags: t.list(t.string()),
    gross: t.long({ bigint: true }),
    meta: t.json<{ a: number }>().optional(),
  },
  { primaryKey: 'id' },
);
const Edge = t.object('Edge', { from: t.int(), to: t.string() }, { primaryKey: ['from', 'to'] });
const schema = t.schema([Movie, Edge]);

describe('type inference', () => {
  it('infers the record type from the schema', () => {
    expectTypeOf<t.Infer<typeof Movie>>().toEqualTypeOf<{
      id: number;
      title: string;
      tags: string[];
      gross: bigint;
      year?: number | undefined;
      meta?: { a: number } | undefined;
    }>();
  });

  it('infers one-field and composite keys', () => {
    expectTypeOf<t.Key<typeof Movie>>().toEqualTypeOf<number>();
    expectTypeOf<t.Key<typeof Edge>>().toEqualTypeOf<{ from: number; to: string }>();
  });

  it('types lookups on a state by type name', () => {
    const state = {} as State<typeof schema>;
    expectTypeOf(state.type('Movie').get).parameter(0).toEqualTypeOf<number>();
    expectTypeOf(state.type('Edge').get).parameter(0).toEqualTypeOf<{ from: number; to: string }>();
    expectTypeOf(state.type('Movie').get(1)).toEqualTypeOf<RecordView<t.Infer<typeof Movie>> | undefined>();
    expectTypeOf<RecordView<t.Infer<typeof Movie>>['title']>().toEqualTypeOf<string>();
  });
});
