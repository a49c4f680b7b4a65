/**
 * `shoal produce` stopped by SIGINT while its input is read: a large NDJSON file, a directory
 * of large CSV files and a FIFO with no writer. The reader yields to the event loop as it goes,
 * so the signal is acted on at once, not once everything is read.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore, StoreAnnouncer } from '../src/index.ts';
import { spawnCli, watchChild } from './support/cli.ts';
import { until } from './support/wait.ts';

const SCHEMA = {
  format: 'shoal.schema/1',
  types: [
    {
      name: 'City',
      primaryKey: 'id',
      fields: [
        { name: 'id', kind: 'int' },
        { name: 'name', kind: 'string' },
        { name: 'population', kind: 'int' },
      ],
    },
    {
      name: 'Town',
      primaryKey: 'id',
      fields: [
        { name: 'id', kind: 'int' },
        { name: 'name', kind: 'string' },
      ],
    },
  ],
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-cli-interrupt-'));
  await writeFile(join(dir, 'geo.schema.json'), JSON.stringify(SCHEMA));
  const lines = Array.from({ length: 400_000 }, (_, i) =>
    JSON.stringify({ id: i, name: `City number ${i}`, population: i * 7 }),
  );
  await writeFile(join(dir, 'big.ndjson'), `${lines.join('\n')}\n`);
  await mkdir(join(dir, 'csv'));
  const rows = (n: number) => Array.from({ length: n }, (_, i) => `${i},place ${i}`);
  await writeFile(join(dir, 'csv', 'Town.csv'), `id,name\n${rows(300_000).join('\n')}\n`);
  const cities = Array.from({ length: 300_000 }, (_, i) => `${i},city ${i},${i}`);
  await writeFile(join(dir, 'csv', 'City.csv'), `id,name,population\n${cities.join('\n')}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts `shoal produce` into a fresh store, from `cwd`. */
async function start(...args: string[]) {
  const cwd = await mkdtemp(join(dir, 'run-'));
  const child = spawnCli(['produce', '--schema', join(dir, 'geo.schema.json'), ...args], { cwd });
  const announcer = new StoreAnnouncer({
    store: new FsBlobStore({ dir: join(cwd, 'shoal-data') }),
    namespace: 'default',
  });
  return { child, announcer, ...watchChild(child) };
}

describe('SIGINT while the input is read', () => {
  it('a large NDJSON file: exit 130 at once, nothing published', async () => {
    const { child, seen, exited, announcer } = await start(
      '--input',
      join(dir, 'big.ndjson'),
      '--type',
      'City',
    );
    await until(() => seen.stderr.includes('read 100,000 records'), 60_000, 'the first progress line');
    const sent = Date.now();
    child.kill('SIGINT');
    expect(await exited).toEqual({ code: 130, signal: null });
    expect(Date.now() - sent).toBeLessThan(1_000);
    expect(seen.stderr).toBe(
      'shoal: read 100,000 records\nshoal: SIGINT: stopped before publishing; nothing published\n',
    );
    expect(seen.stdout).toBe('');
    expect(await announcer.read()).toBeUndefined();
  });

  it('a directory of CSV files: exit 130 at once, nothing published', async () => {
    const { child, seen, exited, announcer } = await start('--input', join(dir, 'csv'));
    await until(() => seen.stderr.includes('read 100,000 records'), 60_000, 'the first progress line');
    const sent = Date.now();
    child.kill('SIGINT');
    expect(await exited).toEqual({ code: 130, signal: null });
    expect(Date.now() - sent).toBeLessThan(1_000);
    expect(seen.stderr).toMatch(/\nshoal: SIGINT: stopped before publishing; nothing published\n$/);
    expect(seen.stderr).not.toContain('read 600,000');
    expect(seen.stdout).toBe('');
    expect(await announcer.read()).toBeUndefined();
  });

  it('a FIFO no one writes to: exit 130 at once, nothing published', async () => {
    const fifo = join(dir, 'cities.ndjson');
    await promisify(execFile)('mkfifo', [fifo]);
    const { child, seen, exited, announcer } = await start(
      '--input',
      fifo,
      '--type',
      'City',
      '--health-port',
      '0',
    );
    await until(() => seen.stderr.includes('health on'), 30_000, 'the producer to open');
    const sent = Date.now();
    child.kill('SIGINT');
    expect(await exited).toEqual({ code: 130, signal: null });
    expect(Date.now() - sent).toBeLessThan(1_000);
    expect(seen.stderr).toMatch(/\nshoal: SIGINT: stopped before publishing; nothing published\n$/);
    expect(await announcer.read()).toBeUndefined();
  });
});
