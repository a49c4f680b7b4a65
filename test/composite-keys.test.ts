/**
 * The two composite-key cases that broke on real data, at the default thresholds, through every
 * way in: the builder, the producer (both cycle threads, re-stated and upserted), `shoal produce`
 * and `shoal diff` as processes, and `shoal consume`'s HTTP lookup.
 *
 * - country + name: the country repeats (5 values), so its column is dictionary-coded;
 * - region + id: the region repeats (5 ints), so its column is dictionary-coded too.
 * Every record must be found by its key, a wrong key must find nothing, and a one-record change
 * must diff as one modified record.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AnyState,
  diffStates,
  encodeDelta,
  FsBlobStore,
  Producer,
  readDeltaHeader,
  StateBuilder,
  t,
  toJSON,
} from '../src/index.ts';
import { spawnConsume } from './support/consume-process.ts';
import { loadVersion } from './support/load.ts';

const C = t.object('C', { country: t.string(), name: t.string() }, { primaryKey: ['country', 'name'] });
const R = t.object('R', { region: t.int(), id: t.int(), v: t.string() }, { primaryKey: ['region', 'id'] });
const schema = t.schema([C, R]);
const city = (i: number) => ({ country: `C${i % 5}`, name: `n${i}` });
const region = (i: number, v = `v${i}`) => ({ region: 100 + (i % 5), id: i, v });
const CITIES = 100;
const REGIONS = 5000;

/** Every record found by its key, wrong keys not found. */
function expectLookups(state: AnyState) {
  const c = state.type('C');
  const r = state.type('R');
  expect(c.size).toBe(CITIES);
  expect(r.size).toBe(REGIONS);
  for (let i = 0; i < CITIES; i++) expect(c.get(city(i))?.toObject()).toEqual(city(i));
  for (let i = 0; i < REGIONS; i++) {
    expect(r.get({ region: 100 + (i % 5), id: i })?.toObject()).toEqual(region(i));
  }
  expect(c.get({ country: 'C1', name: 'n0' })).toBeUndefined();
  expect(c.get({ country: 'C9', name: 'n1' })).toBeUndefined();
  expect(r.get({ region: 1, id: 1 })).toBeUndefined();
  expect(r.get({ region: 102, id: 1 })).toBeUndefined();
  expect(r.has({ region: 101, id: 1 })).toBe(true);
  expect(c.parts.columns[0]!.encoding).toBe('dict');
  expect(r.parts.columns[0]!.encoding).toBe('dict');
}

const addAll = (w: { add(type: string, record: object): unknown }) => {
  for (let i = 0; i < CITIES; i++) w.add('C', city(i));
  for (let i = 0; i < REGIONS; i++) w.add('R', region(i));
};

const oneModified = {
  C: { added: [], removed: [], modified: [] },
  R: { added: [], removed: [], modified: [{ region: 101, id: 1 }] },
};

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-composite-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('composite keys over dictionary-coded columns', () => {
  it('StateBuilder: every key found, wrong keys miss, a one-record change diffs as one', () => {
    const b = new StateBuilder(schema);
    addAll({ add: (type, r) => b.add(type as 'C', r as never) });
    const first = b.build({ version: 1 });
    expectLookups(first);
    // Re-stated with one record changed, and as an upsert.
    const restate = new StateBuilder(schema, { previous: first });
    addAll({
      add: (type, r) =>
        restate.add(
          type as 'C',
          (type === 'R' && (r as { id: number }).id === 1 ? region(1, 'changed') : r) as never,
        ),
    });
    const second = restate.build({ version: 2 });
    expect(diffStates(first, second)).toEqual(oneModified);
    const upserted = StateBuilder.from(first).upsert('R', region(1, 'changed')).build({ version: 2 });
    expect(diffStates(first, upserted)).toEqual(oneModified);
    expect(upserted.checksum).toBe(second.checksum);
    expect(second.type('R').get({ region: 101, id: 1 })?.v).toBe('changed');
  });

  for (const cycleThread of ['main', 'worker'] as const) {
    it(`Producer (cycleThread ${cycleThread}): re-stated and upserted cycles`, async () => {
      const dir = await tempDir();
      const store = new FsBlobStore({ dir: join(dir, 'store') });
      const producer = await Producer.open({
        store,
        namespace: 'geo',
        schema,
        walDir: join(dir, 'wal'),
        fsync: false,
        cycleThread,
      });
      try {
        const first = await producer.runCycle(addAll);
        expect(first.outcome).toBe('published');
        const v1 = producer.state!;
        expectLookups(v1);
        await producer.upsert('R', region(1, 'changed'));
        const second = await producer.flush();
        expect(second.outcome).toBe('published');
        expect(diffStates(v1, producer.state!)).toEqual(oneModified);
        // The delta carries the one record, not the type.
        const header = readDeltaHeader(encodeDelta(v1, producer.state!));
        expect(header.types.map((td) => [td.name, td.count])).toEqual([
          ['C', undefined],
          ['R', 1],
        ]);
        const loaded = await loadVersion(store, 'geo');
        expect(loaded.version).toBe(producer.version);
        expect(loaded.type('R').get({ region: 101, id: 1 })?.v).toBe('changed');
        expect(loaded.type('R').get({ region: 100, id: 1 })).toBeUndefined();
      } finally {
        await producer.close();
      }
    });
  }
});

const run = promisify(execFile);
const tsx = pathToFileURL(join(import.meta.dirname, '../node_modules/tsx/dist/loader.mjs')).href;
const main = join(import.meta.dirname, '../src/cli/main.ts');
const cli = (cwd: string, ...args: string[]) =>
  run(process.execPath, ['--import', tsx, main, ...args], { cwd, maxBuffer: 64 * 1024 * 1024 });
const ndjson = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;

describe('composite keys through the CLI', () => {
  it('shoal produce twice, shoal diff shows one modified record, shoal consume serves every key', async () => {
    const cwd = await tempDir();
    const schemaFile = join(cwd, 'geo.schema.json');
    await writeFile(schemaFile, JSON.stringify(toJSON(t.schema([R]))));
    const rows = Array.from({ length: REGIONS }, (_, i) => region(i));
    const versions: number[] = [];
    for (const [name, content] of [
      ['r1.ndjson', rows],
      ['r2.ndjson', rows.map((r) => (r.id === 1 ? region(1, 'changed') : r))],
    ] as const) {
      await writeFile(join(cwd, name), ndjson(content));
      const { stdout } = await cli(
        cwd,
        'produce',
        '--schema',
        schemaFile,
        '--input',
        name,
        '--namespace',
        'geo',
      );
      versions.push(JSON.parse(stdout.trim().split('\n').at(-1)!).version);
    }
    const diff = JSON.parse(
      (await cli(cwd, 'diff', '--namespace', 'geo', String(versions[0]), String(versions[1]))).stdout,
    );
    expect(diff.types).toEqual({ R: oneModified.R });

    const child = spawnConsume(cwd, ['--namespace', 'geo', '--port', '0']);
    try {
      const serving = await child.event('serving');
      expect(serving).toMatchObject({ event: 'serving', version: versions[1] });
      const url = serving.url as string;
      const get = async (key: object | string) => {
        const res = await fetch(
          `${url}/records/R/${encodeURIComponent(typeof key === 'string' ? key : JSON.stringify(key))}`,
        );
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      for (let i = 0; i < REGIONS; i += 97) {
        expect(await get({ region: 100 + (i % 5), id: i })).toEqual({
          status: 200,
          body: i === 1 ? region(1, 'changed') : region(i),
        });
      }
      expect(await get({ region: 101, id: 1 })).toEqual({ status: 200, body: region(1, 'changed') });
      expect((await get({ region: 1, id: 1 })).status).toBe(404);
      expect((await get({ region: 102, id: 1 })).status).toBe(404);
      // Keys parse strictly: decimal strings are fine, hex, blanks and fractions are not.
      expect((await get({ region: '101', id: '1' })).status).toBe(200);
      for (const bad of [
        { region: '0x65', id: 1 },
        { region: 101, id: 1.5 },
        { region: 101 },
        { region: 101, id: 1, x: 2 },
        '[101,1]',
        'not json',
      ]) {
        const res = await get(bad);
        expect(res.status, JSON.stringify(bad)).toBe(400);
        expect(res.body.error).toBe('INVALID_KEY');
      }
    } finally {
      await child.stop();
    }
  }, 90_000);
});
