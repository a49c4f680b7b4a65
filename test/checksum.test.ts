/**
 * The state checksum is summed a field at a time over chunks of records (checksum.ts). Here it
 * is held to its definition, a record at a time, on states of several chunks: built, applied
 * from deltas that remove and add thousands of records, and decoded.
 */
import { describe, expect, it } from 'vitest';
import { fmix32, hashName, mixWord } from '../src/format/hash.ts';
import {
  type AnyState,
  applyDelta,
  decodeSnapshot,
  encodeDelta,
  encodeSnapshot,
  StateBuilder,
  t,
} from '../src/index.ts';
import { columnHasher } from '../src/state/column/column.ts';
import { testBit } from '../src/state/column/layout.ts';

const Movie = t.object(
  'Movie',
  {
    id: t.int(),
    title: t.string(),
    year: t.int().optional(),
    tags: t.list(t.string()),
    rating: t.double(),
  },
  { primaryKey: 'id' },
);
const schema = t.schema([Movie]);
type MovieRecord = t.Infer<typeof Movie>;
const movie = (id: number, rev = 0): MovieRecord => ({
  id,
  title: `Movie ${id}${rev ? ` rev ${rev}` : ''}`,
  ...(id % 5 === 0 ? {} : { year: 1950 + ((id + rev) % 70) }),
  tags: id % 7 === 0 ? [] : ['drama', `tag${id % 13}`],
  rating: ((id * 31) % 100) / 10,
});

/** The sums by the checksum's definition: each record's fields mixed in order, one record at a time. */
function definedSums(state: AnyState): { a: number; b: number } {
  const { type, columns, populated, capacity } = state.type('Movie').parts;
  const seed = hashName(type.name);
  const hashers = columns.map(columnHasher);
  let sa = 0;
  let sb = 0;
  for (let o = 0; o < capacity; o++) {
    if (!testBit(populated, o)) continue;
    let a = seed;
    let b = seed ^ 0x9e3779b9;
    for (const hash of hashers) {
      const v = hash(o);
      a = mixWord(a, v);
      b = mixWord(b, v ^ 0x5bd1e995);
    }
    sa = (sa + fmix32(a ^ hashers.length)) >>> 0;
    sb = (sb + fmix32(b ^ 0x2545f491)) >>> 0;
  }
  return { a: sa, b: sb };
}

const sumsOf = (state: AnyState) => {
  const { sums } = state.type('Movie').parts;
  return { a: sums.a, b: sums.b };
};

describe('the state checksum over many chunks of records', () => {
  // 20,000 records: past two chunks of 8,192, and a last one cut short.
  const N = 20_000;

  it('matches its record-at-a-time definition when built, after deltas and when decoded', () => {
    const builder = new StateBuilder(schema);
    for (let id = 0; id < N; id++) builder.add('Movie', movie(id));
    const first = builder.build({ version: 1 });
    expect(sumsOf(first)).toEqual(definedSums(first));

    // 9,000 removed (more than a chunk), every 3rd modified, 5,000 added.
    const b = StateBuilder.from(first);
    for (let id = 0; id < N; id++) {
      if (id % 20 < 9) b.remove('Movie', id);
      else if (id % 3 === 0) b.upsert('Movie', movie(id, 1));
    }
    for (let id = N; id < N + 5000; id++) b.upsert('Movie', movie(id));
    const second = b.build({ version: 2 });
    expect(second.type('Movie').size).toBe(N - 9000 + 5000);
    expect(sumsOf(second)).toEqual(definedSums(second));

    const applied = applyDelta(first, encodeDelta(first, second));
    expect(sumsOf(applied)).toEqual(definedSums(second));
    expect(applied.checksum).toBe(second.checksum);
    const back = applyDelta(second, encodeDelta(second, first));
    expect(sumsOf(back)).toEqual(definedSums(first));

    const decoded = decodeSnapshot(encodeSnapshot(second), { verify: true });
    expect(sumsOf(decoded)).toEqual(definedSums(second));
    expect(
      decoded
        .type('Movie')
        .get(N + 4999)
        ?.toObject(),
    ).toEqual(movie(N + 4999));
  });
});
