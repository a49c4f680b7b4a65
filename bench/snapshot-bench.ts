/**
 * Snapshot figures: encode, bytes per record, load (read + decode) against reading the file,
 * JSON.parse + Map and msgpackr + Map, heap held, and random lookups against Map.get.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { type AnyState, decodeSnapshot, encodeSnapshot, StateBuilder } from '../src/index.ts';
import { gc, held, mb, median, ms, ns, perOp, prng, type Row, ratio, table, verdict } from './harness.ts';
import { type MovieRecord, movieSchema, movies } from './movies.ts';

export async function snapshotBench(n: number, dir: string): Promise<AnyState> {
  const records = movies(n);
  let start = performance.now();
  const builder = new StateBuilder(movieSchema);
  for (const r of records) builder.add('Movie', r);
  const state = builder.build({ version: 1 });
  const buildMs = performance.now() - start;
  start = performance.now();
  const blob = encodeSnapshot(state);
  const encodeMs = performance.now() - start;

  const packr = new Packr({ useRecords: false });
  const blobFile = join(dir, 'movies.snapshot');
  const jsonFile = join(dir, 'movies.json');
  const packFile = join(dir, 'movies.msgpack');
  await writeFile(blobFile, blob);
  await writeFile(jsonFile, JSON.stringify(records));
  await writeFile(packFile, packr.pack(records));
  records.length = 0;
  await gc();

  const runs = 5;
  const readMs = await median(runs, () => readFile(blobFile));
  const bytes = await readFile(blobFile);
  const copyMs = await median(runs, () => Buffer.from(bytes));
  const loadMs = await median(runs, async () => decodeSnapshot(await readFile(blobFile)));
  const decodeOnlyMs = await median(runs, () => decodeSnapshot(bytes));
  // The structural scans decoding always runs (offsets, codes, index slots), and what verify adds.
  const noScanMs = await median(runs, () => decodeSnapshot(bytes, { scan: false }));
  const verifyMs = await median(3, () => decodeSnapshot(bytes, { verify: true }));
  const toMap = (list: MovieRecord[]) => new Map(list.map((m) => [m.id, m]));
  const jsonMs = await median(3, async () => toMap(JSON.parse(await readFile(jsonFile, 'utf8'))));
  const packMs = await median(3, async () => toMap(packr.unpack(await readFile(packFile))));

  const shoalHeld = await held(async () => decodeSnapshot(await readFile(blobFile)));
  const jsonHeld = await held(async () => toMap(JSON.parse(await readFile(jsonFile, 'utf8'))));
  const packHeld = await held(async () => toMap(packr.unpack(await readFile(packFile))));

  const loaded = shoalHeld.value.type('Movie') as unknown as import('../src/index.ts').TypeState<
    MovieRecord,
    number
  >;
  const map = jsonHeld.value;
  const random = prng(42);
  const lookups = 1_000_000;
  const keys = new Int32Array(lookups);
  for (let i = 0; i < lookups; i++) keys[i] = Math.floor(random() * n) * 7 + 3;
  const batch = 100;
  const shoalGet = perOp(lookups, batch, (a, b) => {
    let s = 0;
    for (let i = a; i < b; i++) s += loaded.get(keys[i]!)!.year;
    return s;
  });
  const mapGet = perOp(lookups, batch, (a, b) => {
    let s = 0;
    for (let i = a; i < b; i++) s += map.get(keys[i]!)!.year;
    return s;
  });
  const shoalObj = perOp(lookups / 4, batch, (a, b) => {
    let s = 0;
    for (let i = a; i < b; i++) s += loaded.get(keys[i]!)!.toObject().title.length;
    return s;
  });
  const mapObj = perOp(lookups / 4, batch, (a, b) => {
    let s = 0;
    for (let i = a; i < b; i++) s += map.get(keys[i]!)!.title.length;
    return s;
  });
  if (shoalGet.sink !== mapGet.sink) throw new Error('shoal and Map lookups disagree');

  const bpr = blob.byteLength / n;
  const rows: Row[] = [
    ['build state from records', ms(buildMs), `${((n / buildMs) * 1000).toFixed(0)} records/s`],
    ['encode snapshot', ms(encodeMs), `${(blob.byteLength / 1e6 / (encodeMs / 1000)).toFixed(0)} MB/s`],
    [
      'snapshot size',
      mb(blob.byteLength),
      `${bpr.toFixed(1)} B/record`,
      verdict(bpr <= 45, '≤ 45 B/record (Hollow 44)'),
    ],
    ['floor: Buffer copy of the blob', ms(copyMs), ratio(copyMs / readMs), '(vs reading the file)'],
    ['baseline: read the blob file', ms(readMs), ratio(1)],
    ['decode only (bytes in memory)', ms(decodeOnlyMs), ratio(decodeOnlyMs / readMs)],
    [
      '  of which structural checks',
      ms(decodeOnlyMs - noScanMs),
      `${ratio(decodeOnlyMs / noScanMs)} decode without them`,
    ],
    ['  decode with verify (checksums, index, json)', ms(verifyMs), ratio(verifyMs / readMs)],
    [
      'load: read + decode to ready',
      ms(loadMs),
      ratio(loadMs / readMs),
      verdict(loadMs <= 2 * readMs, '≤ 2× reading the file'),
    ],
    [
      'baseline: JSON.parse + Map',
      ms(jsonMs),
      `shoal ${(jsonMs / loadMs).toFixed(1)}× faster`,
      verdict(jsonMs >= 15 * loadMs, '≥ 15× faster'),
    ],
    ['baseline: msgpackr + Map', ms(packMs), `shoal ${(packMs / loadMs).toFixed(1)}× faster`],
    [
      'heap held: shoal state',
      mb(shoalHeld.heap),
      ratio(shoalHeld.heap / jsonHeld.heap),
      verdict(shoalHeld.heap <= 0.05 * jsonHeld.heap, '≤ 5% of JSON (0.05×)'),
    ],
    [
      '  + bytes its arrays view (off-heap)',
      mb(shoalHeld.value.byteLength),
      `${(shoalHeld.value.byteLength / n).toFixed(1)} B/record`,
      '(Hollow 44.9 MB + 5.3 MB index, on heap)',
    ],
    ['heap held: JSON objects in a Map', mb(jsonHeld.heap), ratio(1)],
    ['heap held: msgpackr objects in a Map', mb(packHeld.heap), ratio(packHeld.heap / jsonHeld.heap)],
    [
      'get(key).year, mean',
      ns(shoalGet.mean),
      ratio(shoalGet.mean / mapGet.mean),
      verdict(shoalGet.mean <= 0.2 * mapGet.mean, '≤ 0.2× Map.get (Hollow 463 ns)'),
    ],
    [
      '  p50 / p99 (batches of 100)',
      `${ns(shoalGet.p50)} / ${ns(shoalGet.p99)}`,
      `${ratio(shoalGet.p50 / mapGet.p50)} / ${ratio(shoalGet.p99 / mapGet.p99)}`,
    ],
    ['baseline: Map.get(key).year, mean', ns(mapGet.mean), ratio(1)],
    ['  p50 / p99 (batches of 100)', `${ns(mapGet.p50)} / ${ns(mapGet.p99)}`, ''],
    [
      'get(key).toObject(), mean',
      ns(shoalObj.mean),
      ratio(shoalObj.mean / mapObj.mean),
      '(Hollow 1.5 µs all fields)',
    ],
    ['  p50 / p99 (batches of 100)', `${ns(shoalObj.p50)} / ${ns(shoalObj.p99)}`, ''],
    ['baseline: Map.get(key) object, mean', ns(mapObj.mean), ratio(1)],
  ];
  table(`Snapshot: ${n.toLocaleString('en')} Movie records`, rows);
  return state;
}
