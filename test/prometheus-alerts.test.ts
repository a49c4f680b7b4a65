/**
 * The shipped alerts in a real Prometheus (Debian's `prometheus` package): it scrapes a real
 * producer and consumer over loopback every second and evaluates deploy/prometheus/shoal-alerts.yml
 * every second. The healthy pair fires nothing; a consumer kept behind its announcement (a
 * version announced with no blobs behind it) fires ShoalConsumerStale and
 * ShoalConsumerRefreshFailing, and both resolve once it catches up.
 *
 * The rules are the shipped file with two edits, each checked to apply: every `for:` is 1s, and
 * the stale threshold is 2 s instead of 300 s. Nothing else differs.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Consumer, FsBlobStore, Producer, StoreAnnouncer, t } from '../src/index.ts';
import { serveConsumerHealth, serveProducerHealth } from '../src/observability.ts';

const hasPrometheus = spawnSync('prometheus', ['--version']).status === 0;
const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** A port free on loopback now (Prometheus takes a port, not 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `probe` every 200 ms until `ok`; rejects with the last value after `timeoutMs`. */
async function eventually<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch((e: Error) => e as unknown as T);
    if (!(v instanceof Error) && ok(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${String(JSON.stringify(v))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The shipped rules with every `for:` at 1s and the stale threshold at 2 s. */
async function fastRules(): Promise<string> {
  const shipped = await readFile(join(import.meta.dirname, '../deploy/prometheus/shoal-alerts.yml'), 'utf8');
  const stale = 'shoal_consumer_lag_seconds > 300';
  expect(shipped).toContain(stale);
  expect(shipped).toMatch(/^ {8}for: \w+$/m);
  return shipped.replace(stale, 'shoal_consumer_lag_seconds > 2').replace(/^( {8}for:) \w+$/gm, '$1 1s');
}

interface Alert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: 'pending' | 'firing';
}

describe('the shipped alerts in a real Prometheus', () => {
  it('fire nothing on a healthy pair, fire ShoalConsumerStale on a consumer kept behind, and resolve it once it catches up', async (ctx) => {
    if (!hasPrometheus && !process.env.CI) {
      ctx.skip(
        'prometheus is not installed (Debian: apt-get install prometheus): the real-Prometheus alert test is skipped',
      );
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'shoal-prometheus-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new FsBlobStore({ dir: join(dir, 'store'), fsync: false });
    const producer = await Producer.open({
      store,
      namespace: 'movies',
      schema: t.schema([Movie]),
      walDir: join(dir, 'wal'),
      fsync: false,
      cycleThread: 'main',
    });
    cleanups.push(() => producer.close());
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one' }));
    const v1 = producer.version!;
    const consumer = await Consumer.open({
      store,
      namespace: 'movies',
      fallbackPollMs: 50,
      retryDelayMs: 20,
      maxRetryDelayMs: 200,
    });
    cleanups.push(() => consumer.close());
    const producerHealth = await serveProducerHealth(producer);
    cleanups.push(() => producerHealth.close());
    const consumerHealth = await serveConsumerHealth(consumer);
    cleanups.push(() => consumerHealth.close());

    await writeFile(join(dir, 'shoal-alerts.yml'), await fastRules());
    const target = (url: string) => url.replace('http://', '');
    // JSON is YAML: Prometheus reads it as its config.
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: ['shoal-alerts.yml'],
      scrape_configs: [
        { job_name: 'shoal-producer', static_configs: [{ targets: [target(producerHealth.url)] }] },
        { job_name: 'shoal-consumer', static_configs: [{ targets: [target(consumerHealth.url)] }] },
      ],
    };
    await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
    const port = await freePort();
    const api = `http://127.0.0.1:${port}`;
    let log = '';
    const prometheus: ChildProcess = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr!.on('data', (c: Buffer) => {
      log += c.toString();
    });
    const exited = new Promise((resolve) => prometheus.once('exit', resolve));
    cleanups.push(async () => {
      prometheus.kill('SIGTERM');
      await exited;
    });
    const json = async <T>(path: string) => {
      const res = await fetch(`${api}${path}`);
      return ((await res.json()) as { data: T }).data;
    };
    const alerts = () => json<{ alerts: Alert[] }>('/api/v1/alerts').then((d) => d.alerts);
    const named = (list: Alert[], name: string) => list.filter((a) => a.labels.alertname === name);

    await eventually(
      async () => (await fetch(`${api}/-/ready`)).status,
      (s) => s === 200,
      `prometheus to be ready (${log})`,
    );
    // Both targets scraped, and the lag series evaluated a few times.
    await eventually(
      () => json<{ result: { value: [number, string] }[] }>('/api/v1/query?query=sum(up)'),
      (d) => d.result[0]?.value[1] === '2',
      'both targets up',
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(await json('/api/v1/query?query=shoal_consumer_lag_seconds')).toMatchObject({
      result: [{ metric: { job: 'shoal-consumer' }, value: [expect.any(Number), '0'] }],
    });
    expect(await alerts()).toEqual([]);

    // A version announced with no blobs behind it: the consumer sees it, fails to load it, and
    // goes on serving v1 while its lag grows.
    const announcer = new StoreAnnouncer({ store, namespace: 'movies' });
    const real = (await announcer.read())!;
    const bogus = v1 + 1000;
    await announcer.announce({ version: bogus, announcedAt: Date.now(), producer: 'bogus', replaces: v1 });
    const firing = await eventually(
      alerts,
      (list) => named(list, 'ShoalConsumerStale').some((a) => a.state === 'firing'),
      'ShoalConsumerStale to fire',
    );
    expect(consumer.version).toBe(v1);
    expect(named(firing, 'ShoalConsumerStale')[0]).toMatchObject({
      labels: { severity: 'warning', job: 'shoal-consumer', instance: target(consumerHealth.url) },
      annotations: { summary: `shoal consumer ${target(consumerHealth.url)} serves a stale version` },
    });
    await eventually(
      alerts,
      (list) => named(list, 'ShoalConsumerRefreshFailing').some((a) => a.state === 'firing'),
      'ShoalConsumerRefreshFailing to fire',
    );

    // The real announcement put back, then a new version: the consumer catches up to it.
    await announcer.announce({ ...real, announcedAt: Date.now(), replaces: bogus });
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'two' }));
    const v2 = producer.version!;
    await eventually(
      async () => consumer.version,
      (v) => v === v2,
      'the consumer to catch up',
    );
    // Both resolve, each at its own rule evaluation (a scrape apart on a loaded machine).
    const resolved = await eventually(
      alerts,
      (list) =>
        named(list, 'ShoalConsumerStale').length === 0 &&
        named(list, 'ShoalConsumerRefreshFailing').length === 0,
      'ShoalConsumerStale and ShoalConsumerRefreshFailing to resolve',
    );
    expect(named(resolved, 'ShoalConsumerRefreshFailing')).toEqual([]);
    expect(resolved).toEqual([]);
  }, 60_000);
});
