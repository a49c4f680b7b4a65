/**
 * `shoal produce` refusing to lose data quietly, as a child process on a real filesystem
 * store: per-type re-stating, the shrink guards, an empty input, CSV files named for their
 * types, and signals before, during and twice during a cycle.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore, StoreAnnouncer } from '../src/index.ts';
import { examples, outcome, spawnCli, watchChild } from './support/cli.ts';
import { loadVersion, recordsOf } from './support/load.ts';
import { until } from './support/wait.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-cli-safety-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const GEO = {
  format: 'shoal.schema/1',
  types: [
    {
      name: 'Country',
      primaryKey: 'code',
      fields: [
        { name: 'code', kind: 'string' },
        { name: 'name', kind: 'string' },
      ],
    },
    {
      name: 'State',
      primaryKey: 'id',
      fields: [
        { name: 'id', kind: 'int' },
        { name: 'name', kind: 'string' },
      ],
    },
    {
      name: 'City',
      primaryKey: 'id',
      fields: [
        { name: 'id', kind: 'int' },
        { name: 'name', kind: 'string' },
      ],
    },
  ],
};
const COUNTRIES = 'code,name\nFR,France\nDE,Germany\n';
const STATES = 'id,name\n1,Bavaria\n2,Brittany\n';
const citiesCsv = (n: number) =>
  `id,name\n${Array.from({ length: n }, (_, i) => `${i + 1},city ${i + 1}\n`).join('')}`;

/** A directory with the geo schema, and its three types published from one CSV file each. */
async function geoNamespace(cities = 4) {
  const cwd = await tempDir();
  await writeFile(join(cwd, 'geo.schema.json'), JSON.stringify(GEO));
  await mkdir(join(cwd, 'all'));
  await writeFile(join(cwd, 'all', 'Country.csv'), COUNTRIES);
  // Matched ignoring case: there is no type "state".
  await writeFile(join(cwd, 'all', 'state.csv'), STATES);
  await writeFile(join(cwd, 'all', 'City.csv'), citiesCsv(cities));
  const produce = (...args: string[]) => outcome(cwd, 'produce', '--schema', 'geo.schema.json', ...args);
  const first = await produce('--input', 'all');
  expect(first).toMatchObject({ code: 0, stderr: '' });
  expect(JSON.parse(first.stdout)).toMatchObject({
    event: 'published',
    counts: { Country: 2, State: 2, City: cities },
    restated: ['Country', 'State', 'City'],
  });
  const store = new FsBlobStore({ dir: join(cwd, 'shoal-data') });
  const announced = async () => (await new StoreAnnouncer({ store, namespace: 'default' }).read())?.version;
  return { cwd, produce, store, announced, version: JSON.parse(first.stdout).version as number };
}

describe('shoal produce re-states only the types of its input', () => {
  it('publishing City alone keeps the Country and State records', async () => {
    const { cwd, produce, store } = await geoNamespace();
    await writeFile(join(cwd, 'city.csv'), citiesCsv(5));
    const r = await produce('--input', 'city.csv', '--type', 'City');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const event = JSON.parse(r.stdout);
    expect(event).toMatchObject({
      event: 'published',
      counts: { Country: 2, State: 2, City: 5 },
      restated: ['City'],
    });
    const state = await loadVersion(store, 'default');
    expect(state.version).toBe(event.version);
    expect(recordsOf(state, 'Country')).toEqual([
      { code: 'FR', name: 'France' },
      { code: 'DE', name: 'Germany' },
    ]);
    expect(recordsOf(state, 'State')).toEqual([
      { id: 1, name: 'Bavaria' },
      { id: 2, name: 'Brittany' },
    ]);
  });

  it('--replace-all empties the absent types, and only past the guard with --allow-shrink', async () => {
    const { cwd, produce, store, announced, version } = await geoNamespace();
    await writeFile(join(cwd, 'city.csv'), citiesCsv(4));
    const refused = await produce('--input', 'city.csv', '--replace-all');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /^shoal: VALIDATION_FAILED: version \d+ was refused: noEmptyTypes: Country would go from 2 records to none \(pass --allow-shrink to publish it anyway\)\. Nothing was published\.\n$/,
    );
    expect(await announced()).toBe(version);

    const allowed = await produce('--input', 'city.csv', '--replace-all', '--allow-shrink');
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({
      counts: { Country: 0, State: 0, City: 4 },
      restated: 'all',
    });
    expect(recordsOf(await loadVersion(store, 'default'), 'Country')).toEqual([]);
  });

  it('refuses a type shrunk past --max-shrink (0.25 by default) and publishes it with a larger share', async () => {
    const { cwd, produce, announced, version } = await geoNamespace();
    await writeFile(join(cwd, 'City.csv'), citiesCsv(2));
    const refused = await produce('--input', 'City.csv');
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(
      /^shoal: VALIDATION_FAILED: version \d+ was refused: maxShrink: City would shrink from 4 records to 2 \(50% fewer\), more than the 25% allowed \(pass --max-shrink with a larger share, or --allow-shrink, to publish it anyway\)\. Nothing was published\.\n$/,
    );
    expect(await announced()).toBe(version);

    const allowed = await produce('--input', 'City.csv', '--max-shrink', '0.5');
    expect(allowed.code).toBe(0);
    const event = JSON.parse(allowed.stdout);
    expect(event).toMatchObject({ counts: { Country: 2, State: 2, City: 2 } });
    expect(await announced()).toBe(event.version);

    expect(await produce('--input', 'City.csv', '--max-shrink', '1.5')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /^shoal: --max-shrink needs a share between 0 and 1 \(0\.25 = 25%\), got "1\.5"\n/,
      ),
    });
  });

  it('publishes nothing from an empty input file unless told to', async () => {
    const { cwd, produce, announced, version } = await geoNamespace();
    await writeFile(join(cwd, 'empty.ndjson'), '');
    expect(await produce('--input', 'empty.ndjson', '--type', 'City')).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'shoal: EMPTY_INPUT: empty.ndjson holds no records; nothing published. Pass --allow-empty to publish it anyway.\n',
    });
    expect(await announced()).toBe(version);
    // Told to, the type it names (City) is emptied: the guard still stands in the way.
    const guarded = await produce('--input', 'empty.ndjson', '--type', 'City', '--allow-empty');
    expect(guarded.code).toBe(1);
    expect(guarded.stderr).toContain('noEmptyTypes: City would go from 4 records to none');
    expect(await announced()).toBe(version);
    // The first version of a namespace has nothing to shrink from.
    const fresh = await produce(
      '--input',
      'empty.ndjson',
      '--type',
      'City',
      '--allow-empty',
      '--namespace',
      'new',
    );
    expect(fresh.code).toBe(0);
    expect(JSON.parse(fresh.stdout)).toMatchObject({
      event: 'published',
      counts: { Country: 0, State: 0, City: 0 },
    });
  });
});

describe('shoal produce of a directory of CSV files', () => {
  it('takes each file type from --type-of, and refuses a name that names no type', async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, 'geo.schema.json'), JSON.stringify(GEO));
    await mkdir(join(cwd, 'in'));
    await writeFile(join(cwd, 'in', 'countries.csv'), COUNTRIES);
    await writeFile(join(cwd, 'in', 'cities.csv'), citiesCsv(3));
    const produce = (...args: string[]) =>
      outcome(cwd, 'produce', '--schema', 'geo.schema.json', '--input', 'in', ...args);

    const unnamed = await produce('--type-of', 'cities.csv=City');
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr.split('\n')[0]).toBe(
      `shoal: ${join('in', 'countries.csv')}: a CSV file holds one type, and its name names none of the schema's types (Country, State, City). Name the file for its type (City.csv), or pass --type-of countries.csv=<type>.`,
    );
    const unknown = await produce('--type-of', 'cities.csv=Town');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split('\n')[0]).toBe(
      'shoal: --type-of cities.csv=Town: the schema has no type "Town" (its types: Country, State, City)',
    );
    const store = new FsBlobStore({ dir: join(cwd, 'shoal-data') });
    expect(await new StoreAnnouncer({ store, namespace: 'default' }).read()).toBeUndefined();

    const r = await produce('--type-of', 'cities.csv=City', '--type-of', 'countries.csv=Country');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ counts: { Country: 2, State: 0, City: 3 } });
    const state = await loadVersion(store, 'default');
    expect(recordsOf(state, 'City')).toEqual([
      { id: 1, name: 'city 1' },
      { id: 2, name: 'city 2' },
      { id: 3, name: 'city 3' },
    ]);
  });
});

describe('shoal produce on SIGINT and SIGTERM', () => {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} while the input is still being read publishes nothing and exits ${code}`, async () => {
      const cwd = await tempDir();
      const child = spawnCli(
        ['produce', '--schema', join(examples, 'movies.schema.json'), '--input', '-', '--health-port', '0'],
        { cwd },
      );
      const { seen, exited } = watchChild(child);
      // stdin stays open: the command is reading it when the signal comes.
      child.stdin!.write('{"id":1,"title":"a","year":2001,"tags":[]}\n');
      await until(() => seen.stderr.includes('health on'), 15_000, 'the producer to open');
      child.kill(signal);
      expect(await exited).toEqual({ code, signal: null });
      expect(seen.stderr).toMatch(
        new RegExp(`\\nshoal: ${signal}: stopped before publishing; nothing published\\n$`),
      );
      expect(seen.stdout).toBe('');
      const store = new FsBlobStore({ dir: join(cwd, 'shoal-data') });
      expect(await new StoreAnnouncer({ store, namespace: 'default' }).read()).toBeUndefined();
    });
  }

  describe('during a cycle', () => {
    // Large enough that a cycle takes far longer than a signal takes to arrive.
    let big: string;
    beforeAll(async () => {
      const dir = await tempDir();
      big = join(dir, 'big.ndjson');
      const lines = Array.from({ length: 300_000 }, (_, i) =>
        JSON.stringify({ id: i, title: `Movie title number ${i}`, year: 1950 + (i % 70), tags: ['drama'] }),
      );
      await writeFile(big, `${lines.join('\n')}\n`);
    });
    const start = async () => {
      const cwd = await tempDir();
      const child = spawnCli(['produce', '--schema', join(examples, 'movies.schema.json'), '--input', big], {
        cwd,
      });
      const watched = watchChild(child);
      await until(() => /publishing version \d+/.test(watched.seen.stderr), 50_000, 'the cycle to start');
      const version = Number(/publishing version (\d+)/.exec(watched.seen.stderr)![1]);
      const announcer = new StoreAnnouncer({
        store: new FsBlobStore({ dir: join(cwd, 'shoal-data') }),
        namespace: 'default',
      });
      return { child, ...watched, version, announcer };
    };

    it('one SIGINT lets the cycle finish: its version is announced, exit 0', async () => {
      const { child, seen, exited, version, announcer } = await start();
      child.kill('SIGINT');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(seen.stderr).toContain(
        `shoal: SIGINT: finishing version ${version} first (send it again to exit at once)\n`,
      );
      expect(JSON.parse(seen.stdout)).toMatchObject({
        event: 'published',
        version,
        counts: { Movie: 300_000 },
      });
      expect((await announcer.read())?.version).toBe(version);
    });

    it('a second SIGINT exits at once with 130, announcing nothing', async () => {
      const { child, seen, exited, announcer } = await start();
      child.kill('SIGINT');
      await until(() => seen.stderr.includes('finishing version'), 10_000, 'the first SIGINT');
      child.kill('SIGINT');
      expect(await exited).toEqual({ code: 130, signal: null });
      expect(seen.stderr).toMatch(/\nshoal: SIGINT while stopping: exiting at once\n$/);
      expect(seen.stdout).toBe('');
      expect(await announcer.read()).toBeUndefined();
    });
  });
});
