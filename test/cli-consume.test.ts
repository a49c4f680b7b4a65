import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, Producer, t } from '../src/index.ts';
import { spawnConsume } from './support/consume-process.ts';
import { until } from './support/wait.ts';

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
    const child = spawnConsume(cwd, ['--namespace', 'movies', '--port', '0']);
    const serving = await child.event('serving');
    const url = serving.url as string;
    expect(serving).toMatchObject({ event: 'serving', version: producer.version });
    const events = child.events;
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
    expect(await child.stop()).toBe(0);
    await producer.close();
  }, 60_000);
});
