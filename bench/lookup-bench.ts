/**
 * Lookup figures at growing sizes (issue 16): `get(key).year` and `read(key, 'year')` on a
 * loaded snapshot, against `Map.get(key).year` over the same records and the one-miss floor
 * (one random read of an Int32Array as large as the state), all measured in this run; then what
 * applying a 1-record delta copies (bytes of arrays the new state does not share with the old
 * one, primary-key index apart) and its time. Sizes: 100k, 1M, and `--n` when it is larger
 * (`--n 10000000` adds the 10M row: it needs ~4 GB and minutes).
 */
import { applyDelta, decodeSnapshot, encodeDelta, encodeSnapshot, StateBuilder } from '../src/index.ts';
import { gc, median, ms, ns, prng, type Row, ratio, table, verdict } from './harness.ts';
import { referenceMeasures } from './lookup-references.ts';
import { type MovieRecord, movie, movieSchema } from './movies.ts';

/**
 * CPU ns per call of `run` over `count` calls, the median of `rounds` rounds interleaved with
 * the other measures (CPU time, not wall time: on a loaded machine a descheduled process would
 * count another's time).
 */
function cpuPerOp(
  measures: Record<string, (from: number, to: number) => number>,
  count: number,
  rounds = 5,
): Record<string, { mean: number; sink: number }> {
  const times: Record<string, number[]> = {};
  const sinks: Record<string, number> = {};
  for (const [name, run] of Object.entries(measures)) {
    sinks[name] = run(0, Math.min(count, 200_000)); // warm-up
    times[name] = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of Object.entries(measures)) {
      const start = process.cpuUsage();
      const sink = run(0, count);
      const used = process.cpuUsage(start);
      times[name]!.push(((used.user + used.system) * 1000) / count);
      if (r === 0) sinks[name] = sink;
    }
  }
  const out: Record<string, { mean: number; sink: number }> = {};
  for (const name of Object.keys(measures)) {
    const sorted = times[name]!.sort((a, b) => a - b);
    out[name] = { mean: sorted[Math.floor(sorted.length / 2)]!, sink: sinks[name]! };
  }
  return out;
}

type Reader = {
  read?: (key: number, field: 'year') => number | undefined;
  fieldReader?: (field: 'year') => (key: number) => number | undefined;
};

/** Typed arrays reachable from `root`, each once. */
function arrays(
  root: unknown,
  out = new Set<ArrayBufferView>(),
  seen = new Set<object>(),
): Set<ArrayBufferView> {
  if (typeof root !== 'object' || root === null || seen.has(root)) return out;
  seen.add(root);
  if (ArrayBuffer.isView(root)) {
    out.add(root);
    return out;
  }
  for (const v of Object.values(root)) arrays(v, out, seen);
  return out;
}

const bytesOf = (set: Iterable<ArrayBufferView>) => {
  let total = 0;
  for (const a of set) total += a.byteLength;
  return total;
};

async function size(n: number): Promise<Row[]> {
  const records: MovieRecord[] = new Array(n);
  for (let i = 0; i < n; i++) records[i] = movie(i);
  const builder = new StateBuilder(movieSchema);
  for (const r of records) builder.add('Movie', r);
  const built = builder.build({ version: 1 });
  const state = decodeSnapshot(encodeSnapshot(built));
  const map = new Map(records.map((m) => [m.id, m]));
  const type = state.type('Movie');
  await gc();

  const random = prng(16);
  const lookups = 1_000_000;
  const keys = new Int32Array(lookups);
  const spots = new Int32Array(lookups);
  // The floor reads one random spot of memory as large as the state (its arrays' bytes), so it
  // misses the caches as often as a lookup's first read does: n Int32s alone (4 bytes a record,
  // a tenth of the state) stayed in the caches at 100k and 1M and measured no miss at all.
  const floorLength = Math.max(n, Math.ceil(bytesOf(arrays(state)) / 4));
  for (let i = 0; i < lookups; i++) {
    const r = Math.floor(random() * n);
    keys[i] = r * 7 + 3;
    spots[i] = Math.floor(random() * floorLength);
  }
  const floorArray = new Int32Array(floorLength).map((_, i) => i & 0xff);
  const reader = type as unknown as Reader;
  // Measured apart, after the lookups: interleaved, its reads would evict theirs from the caches.
  const floorMeasure = {
    floor: (a: number, b: number) => {
      let s = 0;
      for (let i = a; i < b; i++) s += floorArray[spots[i]!]!;
      return s;
    },
  };
  const measures: Record<string, (from: number, to: number) => number> = {
    map: (a, b) => {
      let s = 0;
      for (let i = a; i < b; i++) s += map.get(keys[i]!)!.year;
      return s;
    },
    get: (a, b) => {
      let s = 0;
      for (let i = a; i < b; i++) s += type.get(keys[i]!)!.year as number;
      return s;
    },
  };
  if (reader.read)
    measures.read = (a, b) => {
      let s = 0;
      for (let i = a; i < b; i++) s += reader.read!(keys[i]!, 'year')!;
      return s;
    };
  if (reader.fieldReader) {
    const year = reader.fieldReader('year');
    measures.fieldReader = (a, b) => {
      let s = 0;
      for (let i = a; i < b; i++) s += year(keys[i]!)!;
      return s;
    };
  }
  const references = referenceMeasures(n, keys);
  const m = {
    ...cpuPerOp({ ...measures, ...references }, lookups),
    ...cpuPerOp(floorMeasure, lookups),
  };
  const {
    floor,
    map: mapGet,
    get,
    flat,
    paged,
  } = m as Record<'floor' | 'map' | 'get' | 'flat' | 'paged', { mean: number; sink: number }>;
  const read = m.read;
  const fieldReader = m.fieldReader;
  for (const other of [get, read, fieldReader, flat, paged])
    if (other && other.sink !== mapGet.sink) throw new Error('shoal and Map lookups disagree');

  // A 1-record delta: one title changed.
  const one = StateBuilder.from(built).upsert('Movie', { ...records[n >>> 1]!, title: 'changed' });
  const next = one.build({ version: 2 });
  const delta = encodeDelta(built, next);
  const applied = applyDelta(state, delta);
  const before = arrays(state.type('Movie').parts);
  const fresh = new Set([...arrays(applied.type('Movie').parts)].filter((a) => !before.has(a)));
  const pk = arrays(applied.type('Movie').parts.index);
  const pkFresh = [...pk].filter((a) => fresh.has(a));
  const applyMs = await median(7, () => applyDelta(state, delta));

  const label = `${(n / 1e6).toLocaleString('en')}M`;
  const best = read ?? get;
  return [
    [`${label}: one-miss floor (random read, state-sized array)`, ns(floor.mean), ratio(1)],
    [`${label}: baseline Map.get(key).year`, ns(mapGet.mean), ratio(mapGet.mean / floor.mean)],
    [
      `${label}: get(key).year`,
      ns(get.mean),
      `${ratio(get.mean / mapGet.mean)} Map, ${ratio(get.mean / floor.mean)} floor`,
      // The goal is at 1M and 10M; at 100k the Map's objects still fit the caches.
      n >= 1_000_000 ? verdict(get.mean <= 0.6 * mapGet.mean, '≤ 0.6× Map') : '(goal at 1M and 10M)',
    ],
    ...(read
      ? [
          [
            `${label}: read(key, 'year') (no view)`,
            ns(read.mean),
            `${ratio(read.mean / mapGet.mean)} Map, ${ratio(read.mean / floor.mean)} floor`,
            n >= 1_000_000
              ? verdict(
                  read.mean <= 0.6 * mapGet.mean && read.mean <= 2 * floor.mean,
                  '≤ 0.6× Map, ≤ 2× floor',
                )
              : '(goal at 1M and 10M)',
          ] as Row,
        ]
      : []),
    ...(fieldReader
      ? [
          [
            `${label}: fieldReader('year')(key)`,
            ns(fieldReader.mean),
            `${ratio(fieldReader.mean / mapGet.mean)} Map`,
            n >= 1_000_000 ? verdict(fieldReader.mean <= 0.6 * mapGet.mean, '≤ 0.6× Map') : '',
          ] as Row,
        ]
      : []),
    [
      `${label}:   reference: the probe written in the loop, over pages and shards`,
      ns(paged.mean),
      `${ratio(paged.mean / mapGet.mean)} Map`,
      '(the layout shoal keeps)',
    ],
    [
      `${label}:   reference: the same over flat arrays (no pages)`,
      ns(flat.mean),
      `${ratio(flat.mean / mapGet.mean)} Map`,
      '(a delta would copy whole columns)',
    ],
    [
      `${label}: 1-record delta apply: bytes copied (PK index)`,
      `${(bytesOf(fresh) / 1024).toFixed(0)} KiB (${(bytesOf(pkFresh) / 1024).toFixed(0)} KiB)`,
      `index ${(bytesOf(pk) / 1024).toFixed(0)} KiB whole`,
      `${ms(applyMs)} apply`,
    ],
    [`${label}: index bytes / record`, (bytesOf(pk) / n).toFixed(2), `best lookup ${ns(best.mean)}`],
  ];
}

export async function lookupBench(n: number): Promise<void> {
  const sizes = [100_000, 1_000_000, ...(n > 1_000_000 ? [n] : [])];
  const rows: Row[] = [];
  for (const s of sizes) {
    rows.push(...(await size(s)));
    await gc();
  }
  table('lookups by size (issue 16)', rows);
}
