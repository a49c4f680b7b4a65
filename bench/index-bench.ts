/**
 * Secondary-index figures on the Movie dataset, three indexes declared: `year` (a hash index,
 * 70 distinct values), `title` (a hash index, every value distinct) and `title` as a prefix
 * index. Build time at encode, bytes per record added to the snapshot, load with the indexes
 * against load without, `find` (time to the first view, then per view), `count`, a prefix
 * query, and a 1% delta applied with the indexes against without. The baseline, built in the
 * same run from the same records: what a service builds after each refresh without indexes,
 * `Map<value, object[]>` per field (and titles sorted, for prefixes), its build time and heap.
 */
import {
  type AnyState,
  applyDelta,
  decodeSnapshot,
  encodeDelta,
  encodeSnapshot,
  type RecordIndex,
  StateBuilder,
  t,
} from '../src/index.ts';
import { gc, held, mb, median, ms, ns, prng, type Row, ratio, table, verdict } from './harness.ts';
import { changeSet, type MovieRecord, movieSchema, movies } from './movies.ts';

const IndexedMovie = t.object(
  'Movie',
  { id: t.int(), title: t.string(), year: t.int(), tags: t.list(t.string()), rating: t.double() },
  {
    primaryKey: 'id',
    indexes: { byYear: ['year'], byTitle: ['title'], titlePrefix: { fields: ['title'], prefix: true } },
  },
);
const indexedSchema = t.schema([IndexedMovie]);

function build(schema: typeof movieSchema | typeof indexedSchema, records: readonly MovieRecord[]) {
  const b = new StateBuilder(schema as typeof movieSchema);
  for (const r of records) b.add('Movie', r);
  return b.build({ version: 1 });
}

function next(base: AnyState, n: number): AnyState {
  const change = changeSet(n, 1);
  const b = StateBuilder.from(base);
  for (const r of change.modified) b.upsert('Movie', r);
  for (const id of change.removed) b.remove('Movie', id);
  for (const r of change.added) b.upsert('Movie', r);
  return b.build({ version: 2 });
}

/** Time of `run` per call, in ns, over `count` calls. */
function each(count: number, run: (i: number) => number): { ns: number; sink: number } {
  let sink = 0;
  for (let i = 0; i < Math.min(count, 1000); i++) sink += run(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) sink += run(i);
  return { ns: Number(process.hrtime.bigint() - start) / count, sink };
}

export async function indexBench(n: number): Promise<void> {
  const records = movies(n);
  let start = performance.now();
  const plain = build(movieSchema, records);
  const plainBuildMs = performance.now() - start;
  start = performance.now();
  const indexed = build(indexedSchema, records);
  const indexedBuildMs = performance.now() - start;
  const plainBlob = encodeSnapshot(plain);
  const indexedBlob = encodeSnapshot(indexed);

  const runs = 7;
  // Loads are measured before the baseline's objects fill the heap, so no collection of
  // theirs lands in them.
  records.length = 0;
  await gc();
  const loadPlainMs = await median(runs, () => decodeSnapshot(plainBlob));
  const loadIndexedMs = await median(runs, () => decodeSnapshot(indexedBlob));

  // The baseline: the maps a service builds from the same records, and titles sorted.
  await gc();
  start = performance.now();
  const baseline = await held(() => {
    const recs = movies(n);
    const byYear = new Map<number, MovieRecord[]>();
    const byTitle = new Map<string, MovieRecord[]>();
    for (const r of recs) {
      const y = byYear.get(r.year);
      if (y) y.push(r);
      else byYear.set(r.year, [r]);
      const tl = byTitle.get(r.title);
      if (tl) tl.push(r);
      else byTitle.set(r.title, [r]);
    }
    const sorted = recs.slice().sort((a, b) => (a.title < b.title ? -1 : a.title > b.title ? 1 : 0));
    return { byYear, byTitle, sorted };
  });
  const mapBuildMs = performance.now() - start;
  const { byYear: mapYear, byTitle: mapTitle, sorted } = baseline.value;

  const loaded = decodeSnapshot(indexedBlob).type('Movie');
  const year = loaded.index('byYear') as RecordIndex<MovieRecord>;
  const title = loaded.index('byTitle') as RecordIndex<MovieRecord>;
  const prefix = loaded.index('titlePrefix') as RecordIndex<MovieRecord>;
  const per = (i: RecordIndex) => `${(i.byteLength / n).toFixed(1)} B/record`;

  // find of one year: to the first view, then per view over its ~n/70 records.
  const years = Array.from({ length: 70 }, (_, k) => 1950 + k);
  const first = each(
    70_000,
    (i) =>
      (
        year
          .find(years[i % 70]!)
          [Symbol.iterator]()
          .next().value as MovieRecord
      ).id,
  );
  const mapFirst = each(70_000, (i) => mapYear.get(years[i % 70]!)![0]!.id);
  let views = 0;
  const walkMs = await median(runs, () => {
    let s = 0;
    for (const y of years.slice(0, 7)) for (const m of year.find(y)) s += m.id;
    views = year.count(1950) * 7;
    return s;
  });
  const mapWalkMs = await median(runs, () => {
    let s = 0;
    for (const y of years.slice(0, 7)) for (const m of mapYear.get(y)!) s += m.id;
    return s;
  });
  const count = each(1_000_000, (i) => year.count(years[i % 70]!));
  const mapCount = each(1_000_000, (i) => mapYear.get(years[i % 70]!)!.length);

  // find of one title (one match each), random titles.
  const random = prng(7);
  const titles = Array.from({ length: 100_000 }, () => `Movie title number ${Math.floor(random() * n)}`);
  const one = each(titles.length, (i) => {
    for (const m of title.find(titles[i]!)) return m.year;
    return 0;
  });
  const mapOne = each(titles.length, (i) => mapTitle.get(titles[i]!)![0]!.year);

  // Prefix queries: "Movie title number 1234" matches 1234 and 12340..12349 (and so on).
  const prefixes = Array.from(
    { length: 10_000 },
    () => `Movie title number ${Math.floor((random() * Math.min(n, 100_000)) / 10)}`,
  );
  const pre = each(prefixes.length, (i) => {
    let s = 0;
    for (const m of prefix.findPrefix(prefixes[i]!)) s += m.year;
    return s;
  });
  const lower = (p: string) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]!.title < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const mapPre = each(prefixes.length, (i) => {
    const p = prefixes[i]!;
    let s = 0;
    for (let k = lower(p); k < sorted.length && sorted[k]!.title.startsWith(p); k++) s += sorted[k]!.year;
    return s;
  });

  // A 1% delta, applied to a consumer's state with the indexes and without.
  const plainNext = next(plain, n);
  const indexedNext = next(indexed, n);
  const plainDelta = encodeDelta(plain, plainNext);
  const indexedDelta = encodeDelta(indexed, indexedNext);
  const plainConsumer = decodeSnapshot(plainBlob);
  const indexedConsumer = decodeSnapshot(indexedBlob);
  await gc();
  const applyPlainMs = await median(runs, () => applyDelta(plainConsumer, plainDelta));
  const applyIndexedMs = await median(runs, () => applyDelta(indexedConsumer, indexedDelta));
  const after = applyDelta(indexedConsumer, indexedDelta).type('Movie').index('byYear');
  if (after.count(1950) !== indexedNext.type('Movie').index('byYear').count(1950))
    throw new Error('the applied delta does not reproduce the index');

  const addedBytes = indexedBlob.byteLength - plainBlob.byteLength;
  const rows: Row[] = [
    [
      'build at encode: state without / with the 3 indexes',
      `${ms(plainBuildMs)} / ${ms(indexedBuildMs)}`,
      ratio(indexedBuildMs / mapBuildMs),
      'vs building the Maps + sorted titles',
    ],
    ['  baseline: Map<year>, Map<title>, titles sorted (records made too)', ms(mapBuildMs), ratio(1)],
    ['snapshot bytes added by the indexes', mb(addedBytes), `${(addedBytes / n).toFixed(1)} B/record`],
    ['  byYear (hash, 70 values)', mb(year.byteLength), per(year)],
    ['  byTitle (hash, n values)', mb(title.byteLength), per(title)],
    ['  titlePrefix (sorted)', mb(prefix.byteLength), per(prefix)],
    [
      '  baseline: JS heap of the records + Maps + sorted array',
      mb(baseline.heap),
      `${(baseline.heap / n).toFixed(1)} B/record`,
    ],
    [
      'load (decode) with the 3 indexes',
      ms(loadIndexedMs),
      ratio(loadIndexedMs / loadPlainMs),
      verdict(loadIndexedMs <= 1.2 * loadPlainMs, '≤ 1.2× load without'),
    ],
    ['  baseline: load without indexes', ms(loadPlainMs), ratio(1)],
    [
      `find(year): to the first view`,
      ns(first.ns),
      ratio(first.ns / mapFirst.ns),
      `Map.get: ${ns(mapFirst.ns)}`,
    ],
    [
      `find(year): per view (${views.toLocaleString('en')} views, reading id)`,
      ns((walkMs * 1e6) / views),
      ratio(walkMs / mapWalkMs),
      `array walk: ${ns((mapWalkMs * 1e6) / views)}`,
    ],
    ['count(year)', ns(count.ns), ratio(count.ns / mapCount.ns), `Map.get().length: ${ns(mapCount.ns)}`],
    [
      'find(title), one match, random titles',
      ns(one.ns),
      ratio(one.ns / mapOne.ns),
      `Map.get: ${ns(mapOne.ns)}`,
    ],
    [
      'findPrefix(title), ~11 matches each',
      ns(pre.ns),
      ratio(pre.ns / mapPre.ns),
      `sorted array: ${ns(mapPre.ns)}`,
    ],
    [
      'apply a 1% delta with the 3 indexes',
      ms(applyIndexedMs),
      ratio(applyIndexedMs / applyPlainMs),
      `vs the Maps rebuilt: ${ratio(applyIndexedMs / mapBuildMs)}`,
    ],
    ['  baseline: apply it without indexes', ms(applyPlainMs), ratio(1)],
  ];
  table(`Secondary indexes: ${n.toLocaleString('en')} Movie records`, rows);
  if (
    first.sink +
      mapFirst.sink +
      one.sink +
      mapOne.sink +
      pre.sink +
      mapPre.sink +
      count.sink +
      mapCount.sink ===
    -1
  )
    console.log('');
}
