import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, Producer, t } from '../src/index.ts';
import { serveProducerHealth } from '../src/observability.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const metric = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? undefined : Number(line.slice(name.length).trim());
};

describe('producer health and metrics', () => {
  it('serves liveness, readiness, metrics and status from the producer events', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-health-'));
    dirs.push(dir);
    let fail = false;
    const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
    const producer = await Producer.open({
      store: new FsBlobStore({ dir, fsync: false }),
      namespace: 'm',
      schema: t.schema([Movie]),
      walDir: join(dir, 'wal'),
      fsync: false,
      beforeStage: (s) => {
        if (fail && s === 'publish') throw new Error('store down (injected)');
      },
    });
    await using health = await serveProducerHealth(producer, { port: 0, maxFailedCycles: 2 });
    const get = async (path: string) => {
      const res = await fetch(`${health.url}${path}`);
      return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
    };
    expect(await get('/healthz')).toMatchObject({ status: 200, text: 'ok\n' });
    expect((await get('/readyz')).status).toBe(200);
    const r = await producer.runCycle((w) => {
      w.add('Movie', { id: 1, title: 'One' });
      w.add('Movie', { id: 2, title: 'Two' });
    });
    await producer.upsert('Movie', { id: 3, title: 'Three' });
    await producer.flush();
    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(m.type).toContain('text/plain');
    expect(metric(m.text, 'shoal_producer_cycles_total{outcome="published"}')).toBe(2);
    expect(metric(m.text, 'shoal_producer_records{type="Movie"}')).toBe(3);
    expect(metric(m.text, 'shoal_producer_announced_version')).toBe(producer.version);
    expect(metric(m.text, 'shoal_producer_blob_bytes_total{kind="snapshot"}')).toBeGreaterThan(0);
    expect(metric(m.text, 'shoal_producer_blob_bytes_total{kind="delta"}')).toBeGreaterThan(0);
    expect(metric(m.text, 'shoal_producer_cycle_duration_seconds_count')).toBe(2);
    expect(metric(m.text, 'shoal_producer_pending_changes')).toBe(0);
    expect(r.outcome).toBe('published');

    fail = true;
    for (let i = 0; i < 2; i++)
      await expect(producer.runCycle((w) => w.add('Movie', { id: 9, title: 'x' }))).rejects.toMatchObject({
        code: 'CYCLE_FAILED',
      });
    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.text).toContain('2 cycles failed in a row');
    const status = JSON.parse((await get('/status')).text);
    expect(status).toMatchObject({
      announcedVersion: producer.version,
      failuresInARow: 2,
      lastCycle: { outcome: 'failed', stage: 'publish' },
      counts: { Movie: 3 },
    });
    expect(metric((await get('/metrics')).text, 'shoal_producer_cycles_total{outcome="failed"}')).toBe(2);
    fail = false;
    await producer.runCycle((w) => w.add('Movie', { id: 9, title: 'x' }));
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/nope')).status).toBe(404);
    await producer.close();
  });
});
