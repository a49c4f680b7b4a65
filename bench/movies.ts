/**
 * The benchmark dataset of DESIGN.md: `Movie` records and the "p%" change sets.
 */
import { t } from '../src/index.ts';

export const Movie = t.object(
  'Movie',
  { id: t.int(), title: t.string(), year: t.int(), tags: t.list(t.string()), rating: t.double() },
  { primaryKey: 'id' },
);
export const movieSchema = t.schema([Movie]);
export type MovieRecord = t.Infer<typeof Movie>;

/** Record i of the dataset. */
export function movie(i: number): MovieRecord {
  return {
    id: i * 7 + 3,
    title: `Movie title number ${i}`,
    year: 1950 + (i % 70),
    tags: ['drama', `tag${i % 50}`, i % 3 ? 'x' : 'classic'],
    rating: (i % 100) / 10,
  };
}

/** Records 0..n-1. */
export function movies(n: number): MovieRecord[] {
  const out = new Array<MovieRecord>(n);
  for (let i = 0; i < n; i++) out[i] = movie(i);
  return out;
}

/** A change set of `percent`% over records 0..n-1 (DESIGN.md): who is modified, removed, added. */
export interface ChangeSet {
  readonly modified: MovieRecord[];
  readonly removed: number[];
  readonly added: MovieRecord[];
}

/**
 * Modifies title and year of every (100/p)-th record, removes p/10 % of records (spread out,
 * never one that is modified) and adds as many new ones (indices from n on). `round` varies
 * the values so successive change sets differ.
 */
export function changeSet(n: number, percent: number, round = 1): ChangeSet {
  const step = Math.round(100 / percent);
  const modified: MovieRecord[] = [];
  for (let i = 0; i < n; i += step) {
    modified.push({
      ...movie(i),
      title: `Movie title number ${i} (rev ${round})`,
      year: 1900 + ((i + round) % 100),
    });
  }
  const churn = Math.max(1, Math.round((n * percent) / 1000));
  const removeStep = Math.floor(n / churn);
  const removed: number[] = [];
  for (let k = 0; k < churn; k++) removed.push(movie(k * removeStep + Math.floor(step / 2) + round).id);
  const added: MovieRecord[] = [];
  for (let k = 0; k < churn; k++) added.push(movie(n + (round - 1) * churn + k));
  return { modified, removed, added };
}

/**
 * Upserts movies 0..total-1 into `producer` as a source would: chunks of 1,000, at most 10,000
 * unacknowledged; resolves once every one is acknowledged (logged), not yet published.
 */
export async function upsertAcknowledged(
  producer: { upsert(type: 'Movie', record: MovieRecord): Promise<void> },
  total: number,
): Promise<void> {
  const chunk = 1_000;
  const window = 10_000;
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i += chunk) {
    const acks: Promise<void>[] = [];
    for (let j = i; j < Math.min(total, i + chunk); j++) acks.push(producer.upsert('Movie', movie(j)));
    inFlight.push(Promise.all(acks));
    if (inFlight.length * chunk >= window) await inFlight.shift();
    else await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(inFlight);
}
