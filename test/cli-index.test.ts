/**
 * Index queries over HTTP (`shoal consume`) and the index listing of `shoal inspect`, against
 * a namespace a real producer wrote (so its integrity stage checked the indexes), read by real
 * child processes over loopback.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { queryIndex } from '../src/cli/index-query.ts';
import { FsBlobStore, Producer, StateBuilder, t } from '../src/index.ts';
import { until } from './support/wait.ts';

const tsx = pathToFileURL(join(import.meta.dirname, '../node_modules/tsx/dist/loader.mjs')).href;
const main = join(import.meta.dirname, '../src/cli/main.ts');
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGTERM');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const City = t.object(
  'City',
  { id: t.int(), name: t.string(), country: t.string(), admin1: t.string().optional(), capital: t.boolean() },
  {
    primaryKey: 'id',
    indexes: {
      byCountry: ['country'],
      byPlace: ['country', 'admin1'],
      byName: { fields: ['name'], prefix: true },
      byCapital: ['capital'],
    },
  },
);
const cities = [
  { id: 1, name: 'Paris', country: 'FR', admin1: 'IDF', capital: true },
  { id: 2, name: 'Lyon', country: 'FR', admin1: 'ARA', capital: false },
  { id: 3, name: 'Pau', country: 'FR', admin1: 'NAQ', capital: false },
  { id: 4, name: 'Berlin', country: 'DE', capital: true },
  { id: 5, name: 'Paderborn', country: 'DE', admin1: 'NW', capital: false },
];

async function namespace() {
  const cwd = await mkdtemp(join(tmpdir(), 'shoal-index-'));
  dirs.push(cwd);
  const producer = await Producer.open({
    store: new FsBlobStore({ dir: join(cwd, 'shoal-data') }),
    namespace: 'cities',
    schema: t.schema([City]),
    walDir: join(cwd, 'wal'),
    fsync: false,
  });
  await producer.runCycle((w) => {
    for (const c of cities) w.add('City', c);
  });
  return { cwd, producer };
}

describe('shoal consume: index queries', () => {
  it('answers GET /records/<type>?<index>=<value> as NDJSON, follows deltas, and refuses bad queries', async () => {
    const { cwd, producer } = await namespace();
    const child = spawn(
      process.execPath,
      ['--import', tsx, main, 'consume', '--namespace', 'cities', '--port', '0'],
      {
        cwd,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(child);
    const events: Record<string, unknown>[] = [];
    child.stdout!.on('data', (c: Buffer) => {
      for (const line of c.toString().split('\n').filter(Boolean)) events.push(JSON.parse(line));
    });
    await until(() => events.length > 0, 15_000, 'serving');
    const url = events[0]!.url as string;
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      return {
        status: res.status,
        type: res.headers.get('content-type'),
        matches: res.headers.get('x-shoal-matches'),
        text: await res.text(),
      };
    };
    const names = (text: string) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).name);

    const fr = await get('/records/City?byCountry=FR');
    expect(fr).toMatchObject({ status: 200, type: 'application/x-ndjson', matches: '3' });
    expect(names(fr.text)).toEqual(['Paris', 'Lyon', 'Pau']);
    expect(fr.text.split('\n')[0]).toBe(
      '{"id":1,"name":"Paris","country":"FR","admin1":"IDF","capital":true}',
    );
    expect(names((await get('/records/City?byCountry=FR&limit=2')).text)).toEqual(['Paris', 'Lyon']);
    expect(names((await get('/records/City?byName.prefix=Pa')).text)).toEqual(['Paderborn', 'Paris', 'Pau']);
    expect(
      names(
        (await get(`/records/City?byPlace=${encodeURIComponent('{"country":"FR","admin1":"ARA"}')}`)).text,
      ),
    ).toEqual(['Lyon']);
    expect(names((await get('/records/City?byCapital=true')).text)).toEqual(['Paris', 'Berlin']);
    expect(await get('/records/City?byCountry=XX')).toMatchObject({ status: 200, matches: '0', text: '' });

    expect(await get('/records/City?byRegion=FR')).toMatchObject({ status: 404 });
    expect(JSON.parse((await get('/records/City?byRegion=FR')).text).error).toBe('UNKNOWN_INDEX');
    expect(JSON.parse((await get('/records/Town?byCountry=FR')).text).error).toBe('UNKNOWN_TYPE');
    expect(JSON.parse((await get('/records/City')).text)).toEqual({
      error: 'INVALID_KEY',
      message:
        'name one index: /records/City?<index>=<value> or ?<index>.prefix=<prefix>; City has byCountry, byPlace, byName, byCapital',
    });
    expect(await get('/records/City?byCountry=FR&limit=0')).toMatchObject({
      status: 400,
      text: '{"error":"INVALID_OPTION","message":"limit must be a whole number from 1 to 10000 in plain decimal digits, got \\"0\\""}\n',
    });
    const error = async (path: string) => {
      const r = await get(path);
      return { status: r.status, ...JSON.parse(r.text) };
    };
    for (const limit of ['0x10', '1e3', '%205', '05', '+5', '2.0', ''])
      expect(await error(`/records/City?byCountry=FR&limit=${limit}`)).toMatchObject({
        status: 400,
        error: 'INVALID_OPTION',
      });
    expect(await error('/records/City?byCountry=FR&limit=1&limit=2')).toEqual({
      status: 400,
      error: 'INVALID_OPTION',
      message: 'the query gives "limit" twice; give it once',
    });
    expect(await error('/records/City?byCountry=FR&byCountry=DE')).toEqual({
      status: 400,
      error: 'INVALID_KEY',
      message: 'the query gives "byCountry" twice; give it once',
    });
    for (const bad of ['%ZZ', '%FF', 'F%'])
      expect(await error(`/records/City?byCountry=${bad}`)).toEqual({
        status: 400,
        error: 'INVALID_KEY',
        message: `the query's "${bad}" is not valid percent-encoded UTF-8; escape each byte as %XX (a literal % as %25)`,
      });
    for (const extra of ['foo=1', 'LIMIT=5'])
      expect(await error(`/records/City?byCountry=FR&${extra}`)).toEqual({
        status: 400,
        error: 'INVALID_KEY',
        message: `unknown parameter "${extra.split('=')[0]}": /records/City?<index>=<value> or ?<index>.prefix=<prefix>; City has byCountry, byPlace, byName, byCapital`,
      });
    // The value is everything after the first `?`: a literal `?` is part of it, not the end.
    expect(await get('/records/City?byCountry=FR?x&limit=2')).toMatchObject({ status: 200, matches: '0' });
    // Form encoding: `+` is a space.
    expect(await get('/records/City?byName.prefix=Par+')).toMatchObject({ status: 200, matches: '0' });
    expect(names((await get('/records/City?byName.prefix=Par%2B')).text)).toEqual([]);
    expect(names((await get('/records/City?byName.prefix=%50a')).text)).toEqual([
      'Paderborn',
      'Paris',
      'Pau',
    ]);
    // Booleans: bare true/false, JSON true/false inside JSON; nothing else.
    for (const bare of ['TRUE', '1'])
      expect(await error(`/records/City?byCapital=${bare}`)).toEqual({
        status: 400,
        error: 'INVALID_KEY',
        message: `field "capital" is a boolean: give true or false, got "${bare}"`,
      });
    expect(JSON.parse((await get('/records/City?byCountry.prefix=F')).text).error).toBe('INVALID_INDEX');
    expect(JSON.parse((await get('/records/City?byCapital=yes')).text)).toEqual({
      error: 'INVALID_KEY',
      message: 'field "capital" is a boolean: give true or false, got "yes"',
    });
    expect(JSON.parse((await get('/records/City?byPlace=FR')).text).error).toBe('INVALID_KEY');

    await producer.upsert('City', { id: 6, name: 'Nice', country: 'FR', capital: false });
    await producer.delete('City', 1);
    await producer.flush();
    await until(() => events.some((e) => e.event === 'refresh'), 15_000, 'a refresh');
    expect(names((await get('/records/City?byCountry=FR')).text)).toEqual(['Nice', 'Lyon', 'Pau']);
    await producer.close();
  });
});

describe('shoal inspect: indexes', () => {
  it('lists a version’s indexes, their records, values and bytes', async () => {
    const { cwd, producer } = await namespace();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        tsx,
        main,
        'inspect',
        '--store',
        'shoal-data',
        '--namespace',
        'cities',
        '--version',
        String(producer.version),
      ],
      { cwd },
    );
    // A page of 1,024 slots or links is 4 KiB; links of values held once are not stored.
    const kib = 4096;
    expect(JSON.parse(stdout).indexes).toEqual([
      {
        type: 'City',
        name: 'byCountry',
        fields: ['country'],
        kind: 'hash',
        records: 5,
        values: 2,
        bytes: 3 * kib,
      },
      {
        type: 'City',
        name: 'byPlace',
        fields: ['country', 'admin1'],
        kind: 'hash',
        records: 4,
        values: 4,
        bytes: kib,
      },
      { type: 'City', name: 'byName', fields: ['name'], kind: 'prefix', records: 5, bytes: 20 },
      {
        type: 'City',
        name: 'byCapital',
        fields: ['capital'],
        kind: 'hash',
        records: 5,
        values: 2,
        bytes: 3 * kib,
      },
    ]);
    await producer.close();
  });
});

describe('index queries: a boolean inside a composite value', () => {
  const Place = t.object(
    'Place',
    { id: t.int(), country: t.string(), capital: t.boolean() },
    { primaryKey: 'id', indexes: { byKind: ['country', 'capital'] } },
  );
  const b = new StateBuilder(t.schema([Place]));
  b.add('Place', { id: 1, country: 'FR', capital: true });
  b.add('Place', { id: 2, country: 'FR', capital: false });
  const state = b.build({ version: 1 });
  // Strings only: the boolean part is index-query's own.
  const text = (_: unknown, raw: unknown) => raw;
  const ask = (value: string) => queryIndex(state, 'Place', `byKind=${encodeURIComponent(value)}`, text);

  it('takes JSON true/false, and refuses the string "true"', () => {
    expect(ask('{"country":"FR","capital":true}')).toMatchObject({
      status: 200,
      body: '{"id":1,"country":"FR","capital":true}\n',
    });
    expect(ask('{"country":"FR","capital":"true"}')).toMatchObject({
      status: 400,
      body: '{"error":"INVALID_KEY","message":"field \\"capital\\" is a boolean: give JSON true or false, got \\"true\\""}\n',
    });
  });
});
