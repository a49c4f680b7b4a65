import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSnapshot, StateBuilder, t } from '../src/index.ts';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../src/cli/main.ts'), ...args]);

describe('shoal inspect', () => {
  let dir: string;
  let file: string;
  const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-cli-'));
    file = join(dir, 'movies.snapshot');
    const state = new StateBuilder(t.schema([Movie]))
      .add('Movie', { id: 1, title: 'One' })
      .add('Movie', { id: 2, title: 'Two' })
      .build({ version: 17, tag: 255n });
    await writeFile(file, encodeSnapshot(state));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints version, tag and counts', async () => {
    const { stdout } = await cli('inspect', file);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ version: 17, tag: '0xff', counts: { Movie: 2 } });
    expect(summary.schema).toEqual([{ name: 'Movie', primaryKey: ['id'], fields: ['id', 'title'] }]);
  });

  it('dumps records as NDJSON', async () => {
    const { stdout } = await cli('inspect', file, '--records');
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { type: 'Movie', record: { id: 1, title: 'One' } },
      { type: 'Movie', record: { id: 2, title: 'Two' } },
    ]);
  });

  it('exits 1 with the error code on a corrupt file, 2 on bad usage', async () => {
    const bad = join(dir, 'bad.snapshot');
    await writeFile(bad, 'not a snapshot at all');
    await expect(cli('inspect', bad)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('BLOB_BAD_MAGIC'),
    });
    await expect(cli('frobnicate')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown command'),
    });
  });
});

describe('shoal inspect and diff on a store', () => {
  it('lists versions, shows and dumps one, and diffs two', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-cli-store-'));
    try {
      const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
      const { Producer, FsBlobStore } = await import('../src/index.ts');
      const producer = await Producer.open({
        store: new FsBlobStore({ dir: join(dir, 'data') }),
        namespace: 'm',
        schema: t.schema([Movie]),
        walDir: join(dir, 'wal'),
        fsync: false,
      });
      const datasets = [
        [
          { id: 1, title: 'a' },
          { id: 2, title: 'b' },
        ],
        [
          { id: 1, title: 'a' },
          { id: 2, title: 'B' },
          { id: 3, title: 'c' },
        ],
        [
          { id: 2, title: 'B' },
          { id: 3, title: 'c' },
        ],
      ];
      const versions: number[] = [];
      for (const rows of datasets) {
        await producer.runCycle((w) => {
          for (const r of rows) w.add('Movie', r);
        });
        versions.push(producer.version!);
      }
      await producer.close();
      const store = ['--store', join(dir, 'data'), '--namespace', 'm'];
      const lines = (text: string) =>
        text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
      const listed = lines((await cli('inspect', ...store)).stdout);
      expect(listed.map((v) => v.version)).toEqual(versions);
      expect(listed.map((v) => [v.snapshot, v.announced ?? false])).toEqual([
        [true, false],
        [false, false],
        [false, true],
      ]);
      expect(listed[1].counts).toEqual({ Movie: 3 });
      const shown = JSON.parse((await cli('inspect', ...store, '--version', String(versions[1]))).stdout);
      expect(shown).toMatchObject({ version: versions[1], counts: { Movie: 3 } });
      const records = lines(
        (await cli('inspect', ...store, '--version', String(versions[1]), '--records')).stdout,
      );
      expect(records.map((r) => r.record).sort((a, b) => a.id - b.id)).toEqual(datasets[1]);
      const diff = JSON.parse((await cli('diff', ...store, String(versions[0]), String(versions[2]))).stdout);
      expect(diff).toEqual({
        from: { version: versions[0] },
        to: { version: versions[2] },
        types: { Movie: { added: [3], removed: [1], modified: [2] } },
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
