/**
 * Read-side figures of issue 16, each beside a baseline measured in this run, with Hollow's
 * figures from the issue (same machine, 1M Movie records) quoted as fixed references:
 * get(key).toObject() against a copy of the same plain record out of a Map; decode from memory
 * and load from a file against JSON.parse of the records; the first delta applies of a fresh
 * process (a child of its own, so nothing has warmed the apply path) and warm ones against
 * a Map update of the same changes; and blob bytes per record, per column.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import {
  applyDelta,
  decodeSnapshot,
  encodeDelta,
  encodeSnapshot,
  readSnapshotHeader,
  StateBuilder,
  type TypeState,
} from '../src/index.ts';
import { gc, median, ms, ns, perOp, prng, type Row, ratio, table, verdict } from './harness.ts';
import { changeSet, type MovieRecord, movie, movieSchema, movies } from './movies.ts';

const APPLIES = 7;
const WARM = 15;

export async function readBench(n: number, dir: string): Promise<void> {
  const records = movies(n);
  const builder = new StateBuilder(movieSchema);
  for (const r of records) builder.add('Movie', r);
  const state = builder.build({ version: 1 });
  const blob = encodeSnapshot(state);
  const blobFile = join(dir, 'movies.snapshot');
  const jsonFile = join(dir, 'movies.json');
  await writeFile(blobFile, blob);
  await writeFile(jsonFile, JSON.stringify(records));

  // A chain of 1% deltas, for the cold child and the warm applies.
  const deltaFiles: string[] = [];
  const changes = [];
  let prev = state;
  for (let round = 1; round <= APPLIES + WARM; round++) {
    const change = changeSet(n, 1, round);
    const b = StateBuilder.from(prev);
    for (const r of change.modified) b.upsert('Movie', r);
    for (const id of change.removed) b.remove('Movie', id);
    for (const r of change.added) b.upsert('Movie', r);
    const next = b.build({ version: round + 1 });
    const file = join(dir, `delta-${round}`);
    await writeFile(file, encodeDelta(prev, next));
    deltaFiles.push(file);
    changes.push(change);
    prev = next;
  }
  const cold = coldApplies(blobFile, deltaFiles.slice(0, APPLIES));

  // Blob bytes per record, per column (the primary-key index apart: another change owns it).
  const header = readSnapshotHeader(blob);
  const sections = (header as unknown as { sections: number[] }).sections;
  const bytesOf = (id: number | undefined) => (id === undefined || id < 0 ? 0 : sections[2 * id + 1]!);
  const movieType = header.types[0]!;
  const byColumn: Row[] = movieType.columns.map((c) => {
    let total = 0;
    for (const p of c.parts) total += bytesOf(p.data) + bytesOf(p.starts);
    if (c.present) total += bytesOf(c.present.data) + bytesOf(c.present.starts);
    if (c.dict) total += bytesOf(c.dict.data) + bytesOf(c.dict.offsets);
    const how = `${c.encoding}: ${c.parts.map((p) => p.type).join(' + ')}`;
    return [`  column ${c.field} (${how})`, `${(total / n).toFixed(2)} B`, ''];
  });
  const indexBytes = bytesOf(movieType.index);
  const bpr = blob.byteLength / n;
  const bprNoIndex = (blob.byteLength - indexBytes) / n;

  // toObject against a copy of the same plain record (its fields, and its list copied).
  await gc();
  const decoded = decodeSnapshot(await readFile(blobFile));
  const movieState = decoded.type('Movie') as unknown as TypeState<MovieRecord, number>;
  const random = prng(42);
  const lookups = 250_000;
  const keys = new Int32Array(lookups);
  for (let i = 0; i < lookups; i++) keys[i] = Math.floor(random() * n) * 7 + 3;
  const map = new Map(records.map((m) => [m.id, m]));
  const toObject = perOp(lookups, 100, (a, b) => {
    let s = 0;
    for (let i = a; i < b; i++) s += movieState.get(keys[i]!)!.toObject().title.length;
    return s;
  });
  const cloned = perOp(lookups, 100, (a, b) => {
    let s = 0;
    for (let i = a; i < b; i++) {
      const m = map.get(keys[i]!)!;
      s += { ...m, tags: m.tags.slice() }.title.length;
    }
    return s;
  });
  const mapGet = perOp(lookups, 100, (a, b) => {
    let s = 0;
    for (let i = a; i < b; i++) s += map.get(keys[i]!)!.title.length;
    return s;
  });
  if (toObject.sink !== cloned.sink) throw new Error('toObject and the clone disagree');

  // Decode and load, against the CRC alone and JSON.parse.
  const bytes = await readFile(blobFile);
  const runs = 7;
  const readMs = await median(runs, () => readFile(blobFile));
  const crcMs = await median(runs, () => crc32(bytes));
  const decodeMs = await median(runs, () => decodeSnapshot(bytes));
  const loadMs = await median(runs, async () => decodeSnapshot(await readFile(blobFile)));
  const jsonMs = await median(3, async () => JSON.parse(await readFile(jsonFile, 'utf8')));

  // Warm applies, and the baseline: the same changes applied to a Map of plain records.
  let at = decoded;
  for (let i = 0; i < APPLIES; i++) at = applyDelta(at, await readFile(deltaFiles[i]!));
  const warm: number[] = [];
  const mapTimes: number[] = [];
  for (let i = APPLIES; i < APPLIES + WARM; i++) {
    const delta = await readFile(deltaFiles[i]!);
    let start = performance.now();
    at = applyDelta(at, delta);
    warm.push(performance.now() - start);
    const change = changes[i]!;
    start = performance.now();
    for (const r of change.modified) map.set(r.id, r);
    for (const id of change.removed) map.delete(id);
    for (const r of change.added) map.set(r.id, r);
    mapTimes.push(performance.now() - start);
  }
  const warmMs = mid(warm);
  const mapMs = mid(mapTimes);

  const rows: Row[] = [
    [
      'get(key).toObject(), mean',
      ns(toObject.mean),
      ratio(toObject.mean / cloned.mean),
      verdict(toObject.mean <= 375, '≤ 375 ns (0.5× Hollow 749 ns; issue: 1,001 ns)'),
    ],
    ['  p50 / p99 (batches of 100)', `${ns(toObject.p50)} / ${ns(toObject.p99)}`, ''],
    ['baseline: Map.get(key) copied ({...m, tags}), mean', ns(cloned.mean), ratio(1)],
    ['  Map.get(key) alone, mean', ns(mapGet.mean), ratio(mapGet.mean / cloned.mean)],
    ['decode from memory (CRC included)', ms(decodeMs), ratio(decodeMs / jsonMs), '(issue: 8 ms at 1M)'],
    ['  of which the CRC-32 of the blob', ms(crcMs), ratio(crcMs / jsonMs)],
    ['load: read file + decode', ms(loadMs), ratio(loadMs / jsonMs), '(Hollow 122 ms; issue: 28 ms)'],
    ['  read the file alone', ms(readMs), ratio(readMs / jsonMs)],
    ['baseline: read + JSON.parse', ms(jsonMs), ratio(1)],
    [
      `delta apply 1%, first ${APPLIES} in a process (median)`,
      ms(cold.median),
      ratio(cold.median / mapMs),
      verdict(cold.median <= 20, '≤ 20 ms (Hollow 118 ms; issue: 52 ms)'),
    ],
    ['  each, in order', cold.each.map((x) => x.toFixed(1)).join(' '), ''],
    [
      `delta apply 1%, warm (median of ${WARM})`,
      ms(warmMs),
      ratio(warmMs / mapMs),
      verdict(warmMs <= 12, '≤ 12 ms (Hollow 131 ms; issue: 17.7 ms)'),
    ],
    ['baseline: the same changes into a Map', ms(mapMs), ratio(1)],
    [
      'blob bytes per record',
      `${bpr.toFixed(2)} B`,
      '',
      verdict(bpr <= 40, '≤ 40 (Hollow 41.6; issue: 43.4)'),
    ],
    ['  without the primary-key index', `${bprNoIndex.toFixed(2)} B`, ''],
    ['  primary-key index', `${(indexBytes / n).toFixed(2)} B`, ''],
    ...byColumn,
  ];
  table(`Reads: ${n.toLocaleString('en')} Movie records`, rows);
}

function mid(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Times the first applies of a fresh process (a child: nothing in it has run an apply). */
function coldApplies(blobFile: string, deltaFiles: string[]): { median: number; each: number[] } {
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, new URL(import.meta.url).pathname, '--cold', blobFile, ...deltaFiles],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  if (child.status !== 0) throw new Error(`the cold-apply child failed (exit ${child.status})`);
  const each = JSON.parse(child.stdout) as number[];
  return { median: mid(each), each };
}

if (process.argv[2] === '--cold') {
  const [blobFile, ...deltaFiles] = process.argv.slice(3);
  let at = decodeSnapshot(await readFile(blobFile!));
  const times: number[] = [];
  for (const file of deltaFiles) {
    const delta = await readFile(file);
    const start = performance.now();
    at = applyDelta(at, delta);
    times.push(performance.now() - start);
  }
  if (at.type('Movie').get(movie(0).id) === undefined) throw new Error('record 0 is gone');
  process.stdout.write(JSON.stringify(times));
}
