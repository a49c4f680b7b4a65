import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, fromJSON, Producer } from '../src/index.ts';
import { cli, examples, produceExamples, spawnCli, tsx } from './support/cli.ts';
import { loadVersion, recordsOf } from './support/load.ts';
import { until } from './support/wait.ts';

const run = promisify(execFile);

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-cli-produce-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/**
 * `shoal produce --watch` of the example schema on `input`, namespace "w", as a child process;
 * its rewrites shrink the dataset, so the shrink guards are off.
 */
const watchProducer = (cwd: string, input: string, ...extra: string[]) =>
  spawnCli(
    [
      'produce',
      '--schema',
      join(examples, 'movies.schema.json'),
      '--input',
      input,
      '--watch',
      '--namespace',
      'w',
      '--allow-shrink',
      ...extra,
    ],
    { cwd },
  );

const movie = (id: number, title: string) => ({ id, title, year: 2000 + id, tags: ['t'] });
const ndjson = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;

describe('shoal produce', () => {
  it('publishes a file as a version equal to its content', async () => {
    const cwd = await tempDir();
    const args = produceExamples();
    const { stdout } = await cli(cwd, ...args);
    const event = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(event).toMatchObject({ event: 'published', snapshot: true, counts: { Movie: 3 } });
    const state = await loadVersion(new FsBlobStore({ dir: join(cwd, 'shoal-data') }), 'movies');
    expect(state.version).toBe(event.version);
    expect(recordsOf(state, 'Movie')).toEqual([
      { id: 1, title: 'The Ghost Ship', year: 1952, tags: ['drama'], rating: 7.5 },
      { id: 2, title: 'Shoals', year: 1968, tags: ['documentary', 'sea'] },
      { id: 3, title: 'Low Water', year: 1971, tags: ['drama', 'sea'], rating: 6.1 },
    ]);
    // Same input again: nothing changed, no version.
    const again = await cli(cwd, ...args);
    expect(JSON.parse(again.stdout.trim())).toEqual({ event: 'skipped', reason: 'no change' });
  });

  it('reports bad records with their line; stops, or skips them when told to', async () => {
    const cwd = await tempDir();
    const input = join(cwd, 'in.ndjson');
    await writeFile(
      input,
      ndjson([movie(1, 'a'), { id: 2, title: 'b', year: 'x', tags: [] }]) +
        '{not json\n' +
        ndjson([movie(1, 'dup')]),
    );
    const schema = join(examples, 'movies.schema.json');
    await expect(cli(cwd, 'produce', '--schema', schema, '--input', input)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /in\.ndjson:2: Movie \(id=2\): field "year" expected a 32-bit integer[\s\S]*in\.ndjson:3: not valid JSON[\s\S]*in\.ndjson:4: .*appears twice[\s\S]*nothing published/,
      ),
    });
    const { stdout } = await cli(
      cwd,
      'produce',
      '--schema',
      schema,
      '--input',
      input,
      '--on-invalid',
      'skip',
    );
    expect(JSON.parse(stdout.trim())).toMatchObject({ event: 'published', counts: { Movie: 1 } });
    expect(
      recordsOf(await loadVersion(new FsBlobStore({ dir: join(cwd, 'shoal-data') }), 'default'), 'Movie'),
    ).toEqual([movie(1, 'a')]);
  });

  it('reads CSV, converting cells by field kind', async () => {
    const cwd = await tempDir();
    const input = join(cwd, 'in.csv');
    await writeFile(
      input,
      'id,title,year,tags,rating\r\n1,"Quoted, ""with"" commas",1999,"[""a"",""b""]",\r\n2,Plain,2001,[],8.5\r\n',
    );
    await cli(
      cwd,
      'produce',
      '--schema',
      join(examples, 'movies.schema.json'),
      '--input',
      input,
      '--store',
      join(cwd, 'store'),
    );
    expect(
      recordsOf(await loadVersion(new FsBlobStore({ dir: join(cwd, 'store') }), 'default'), 'Movie'),
    ).toEqual([
      { id: 1, title: 'Quoted, "with" commas', year: 1999, tags: ['a', 'b'] },
      { id: 2, title: 'Plain', year: 2001, tags: [], rating: 8.5 },
    ]);
  });

  it('with --watch publishes a new version for each rewrite of the input, and stops cleanly on SIGTERM', async () => {
    const cwd = await tempDir();
    const input = join(cwd, 'movies.ndjson');
    await copyFile(join(examples, 'movies.ndjson'), input);
    const child = watchProducer(cwd, input, '--health-port', '0');
    const events: { version: number }[] = [];
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      for (const line of c.toString().split('\n').filter(Boolean)) events.push(JSON.parse(line));
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    await until(() => events.length === 1 && stderr.includes('watching'), 15_000, 'the first version');
    const contents = [
      [movie(1, 'one')],
      [movie(1, 'one'), movie(2, 'two')],
      [movie(2, 'two b'), movie(3, 'three')],
    ];
    for (const [i, rows] of contents.entries()) {
      await writeFile(input, ndjson(rows));
      await until(() => events.length === i + 2, 15_000, `version ${i + 2}`);
    }
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const store = new FsBlobStore({ dir: join(cwd, 'shoal-data') });
    for (const [i, rows] of contents.entries()) {
      const state = await loadVersion(store, 'w', events[i + 1]!.version);
      expect(recordsOf(state, 'Movie').sort((a, b) => (a.id as number) - (b.id as number))).toEqual(rows);
    }
  }, 60_000);

  // msgpackr-extract 3.0.4's native decoder crashed the second process on exactly this data
  // (SIGSEGV or "Unexpected end of buffer"); shoal now decodes msgpack in pure JS.
  it('publishes json data again from a second process, and a third', async () => {
    const cwd = await tempDir();
    const schema = join(cwd, 'docs.schema.json');
    await writeFile(
      schema,
      JSON.stringify({
        format: 'shoal.schema/1',
        types: [
          {
            name: 'Doc',
            primaryKey: 'id',
            fields: [
              { name: 'id', kind: 'int' },
              { name: 'meta', kind: 'json' },
            ],
          },
        ],
      }),
    );
    const doc = (id: number, round: number) => ({
      id,
      meta: {
        description: `a long description text number ${id}${' '.repeat(id * 5)}é漢字 round ${round}`,
        tags: ['alpha', 'beta', `gamma${id}`],
        obj: { k1: 'v'.repeat(100 + id), k2: 'short', k3: [{ x: 'y'.repeat(40) }] },
      },
    });
    const store = new FsBlobStore({ dir: join(cwd, 'shoal-data') });
    for (const round of [1, 2, 3]) {
      const rows = Array.from({ length: 30 }, (_, id) => doc(id, round));
      const input = join(cwd, `docs-${round}.ndjson`);
      await writeFile(input, ndjson(rows));
      const { stdout } = await cli(
        cwd,
        'produce',
        '--schema',
        schema,
        '--input',
        input,
        '--namespace',
        'docs',
      );
      const event = JSON.parse(stdout.trim().split('\n').at(-1)!);
      expect(event).toMatchObject({ event: 'published', snapshot: round === 1, counts: { Doc: 30 } });
      const state = await loadVersion(store, 'docs');
      expect(state.version).toBe(event.version);
      expect(recordsOf(state, 'Doc')).toEqual(rows);
    }
  }, 60_000);

  it('never loads the native msgpack decoder', async () => {
    const script = `await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../src/index.ts')).href)});
      const { isNativeAccelerationEnabled } = await import('msgpackr/unpack');
      console.log(JSON.stringify({ native: isNativeAccelerationEnabled }));`;
    const { stdout } = await run(
      process.execPath,
      ['--conditions=shoal-source', '--import', tsx, '--input-type=module', '-e', script],
      {
        cwd: join(import.meta.dirname, '..'),
      },
    );
    expect(JSON.parse(stdout)).toEqual({ native: false });
  });
});

describe('shoal produce --watch when another producer takes the namespace', () => {
  it('stops and exits 1 with ANNOUNCE_CONFLICT instead of publishing orphans', async () => {
    const cwd = await tempDir();
    const input = join(cwd, 'movies.ndjson');
    await copyFile(join(examples, 'movies.ndjson'), input);
    const child = watchProducer(cwd, input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await until(() => stderr.includes('watching'), 15_000, 'watching');
    // Another producer announces a newer version in the same namespace.
    const store = new FsBlobStore({ dir: join(cwd, 'shoal-data') });
    const schema = fromJSON(JSON.parse(await readFile(join(examples, 'movies.schema.json'), 'utf8')));
    const other = await Producer.open({
      store,
      namespace: 'w',
      schema,
      walDir: join(cwd, 'other-wal'),
      fsync: false,
    });
    await other.runCycle((w) => w.add('Movie', movie(9, 'other')));
    await other.close();
    await writeFile(input, ndjson([movie(1, 'changed')]));
    expect(await exited).toBe(1);
    expect(stderr).toContain('ANNOUNCE_CONFLICT');
    expect(stdout.trim().split('\n')).toHaveLength(1); // the first version only
  }, 60_000);
});
