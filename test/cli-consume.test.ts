import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, Producer, t } from '../src/index.ts';
import { until } from './support/wait.ts';

const tsx = pathToFileURL(join(import.meta.dirname, '../node_modules/tsx/dist/loader.mjs')).href;
const main = join(import.meta.dirname, '../src/cli/main.ts');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const metric = (text: string, name: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(name))
      ?.slice(name.length)
      .trim(),
  );

describe('shoal consume', () => {
  it('serves records, health and metrics, follows new versions, and stops on SIGTERM', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'shoal-consume-'));
    dirs.push(cwd);
    const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
    const producer = await Producer.open({
      store: new FsBlobStore({ dir: join(cwd, 'shoal-data') }),
      namespace: 'movies',
      schema: t.schema([Movie]),
      walDir: join(cwd, 'wal'),
      fsync: false,
    });
    await producer.runCycle((w) => {
      w.add('Movie', { id: 1, title: 'One' });
      w.add('Movie', { id: 2, title: 'Two' });
    });
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', tsx, main, 'consume', '--namespace', 'movies', '--port', '0'],
      {
        cwd,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const events: Record<string, unknown>[] = [];
    child.stdout!.on('data', (c: Buffer) => {
      for (const line of c.toString().split('\n').filter(Boolean)) events.push(JSON.parse(line));
    });
    await until(() => events.length > 0, 15_000, 'serving');
    const url = events[0]!.url as string;
    expect(events[0]).toMatchObject({ event: 'serving', version: producer.version });
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      return { status: res.status, text: await res.text() };
    };
    expect(await get('/records/Movie/2')).toEqual({ status: 200, text: '{"id":2,"title":"Two"}\n' });
    expect((await get('/records/Movie/99')).status).toBe(404);
    expect((await get('/records/Actor/1')).status).toBe(404);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    await producer.upsert('Movie', { id: 2, title: 'Two, again' });
    await producer.flush();
    await until(() => events.some((e) => e.event === 'refresh'), 15_000, 'a refresh');
    expect(await get('/records/Movie/2')).toEqual({ status: 200, text: '{"id":2,"title":"Two, again"}\n' });
    const metrics = (await get('/metrics')).text;
    expect(metric(metrics, 'shoal_consumer_version')).toBe(producer.version);
    expect(metric(metrics, 'shoal_consumer_records{type="Movie"}')).toBe(2);
    expect(metric(metrics, 'shoal_consumer_refreshes_total{outcome="success",kind="delta"}')).toBe(1);
    const status = JSON.parse((await get('/status')).text);
    expect(status).toMatchObject({
      version: producer.version,
      announcedVersion: producer.version,
      lagMs: 0,
      counts: { Movie: 2 },
    });
    expect(status.bytes).toBeGreaterThan(0);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await producer.close();
  }, 60_000);
});
