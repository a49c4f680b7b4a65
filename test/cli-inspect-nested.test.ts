import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, Producer, t } from '../src/index.ts';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../src/cli/main.ts'), ...args]);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('shoal inspect and diff over nested namespaces', () => {
  it('refuses a namespace inside another, or holding one, with INVALID_KEY; reads its neighbours', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-nested-'));
    dirs.push(dir);
    const store = new FsBlobStore({ dir, fsync: false });
    const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
    const versions: Record<string, number[]> = { a: [], 'a/header': [], b: [] };
    for (const namespace of Object.keys(versions)) {
      const producer = await Producer.open({
        store,
        namespace,
        schema: t.schema([Movie]),
        walDir: join(dir, '.wal', namespace.replace('/', '-')),
        fsync: false,
        cycleThread: 'main',
      });
      for (const title of ['one', 'two']) {
        await producer.runCycle((w) => w.add('Movie', { id: 1, title }));
        versions[namespace]!.push(producer.version!);
      }
      await producer.close();
    }
    const [v1, v2] = versions.a!;
    const refusals = await Promise.allSettled([
      cli('inspect', '--store', dir, '--namespace', 'a'),
      cli('inspect', '--store', dir, '--namespace', 'a', '--version', String(v2)),
      cli('diff', '--store', dir, '--namespace', 'a', String(v1), String(v2)),
      cli('inspect', '--store', dir, '--namespace', 'a/header'),
    ]);
    const others = ['a/header', 'a/header', 'a/header', 'a'];
    refusals.forEach((r, i) => {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as { code: number; stderr: string; stdout: string };
      expect(e.code).toBe(1);
      expect(e.stderr).toMatch(/^shoal: INVALID_KEY: namespace "a(\/header)?" nests with namespace "/);
      expect(e.stderr).toContain(`nests with namespace "${others[i]}"`);
      expect(e.stdout).toBe('');
    });
    const { stdout } = await cli('inspect', '--store', dir, '--namespace', 'b');
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.version)).toEqual(versions.b);
    expect(lines[1]).toMatchObject({ announced: true, counts: { Movie: 1 } });
  }, 60_000);
});
