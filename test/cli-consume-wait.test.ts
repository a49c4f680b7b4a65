/**
 * `shoal consume` started before its data, as child processes on a real filesystem store:
 * it serves probes while it waits (503), says on stderr once what it waits for and which
 * namespaces exist, becomes ready after a `shoal produce`, and fails in one line when told
 * not to wait or when its wait times out.
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NamespaceLayout } from '../src/index.ts';
import { produce, type Target } from './real-data/shoal-cli.ts';
import { runCli, s3Env } from './support/cli.ts';
import { spawnConsume } from './support/consume-process.ts';
import { get, metric } from './support/http.ts';
import { type S3Server, startS3 } from './support/s3-server.ts';
import { useStores } from './support/stores.ts';

const { tempDir } = useStores('cli-consume-wait');
const examples = join(import.meta.dirname, '../examples');
const target = (cwd: string, namespace: string): Target => ({
  cwd,
  storeDir: join(cwd, 'shoal-data'),
  walDir: join(cwd, 'wal', namespace),
  namespace,
});
const publish = (cwd: string, namespace: string) =>
  produce(target(cwd, namespace), join(examples, 'movies.schema.json'), join(examples, 'movies.ndjson'));

describe('shoal consume before anything is announced', () => {
  it('waits not ready, says so once on stderr, and becomes ready after a shoal produce', async () => {
    const cwd = await tempDir();
    const consume = spawnConsume(cwd, ['--namespace', 'movies', '--port', '0']);
    try {
      const waiting = await consume.event('waiting');
      expect(waiting).toMatchObject({ namespace: 'movies' });
      const url = waiting.url as string;
      expect(consume.stderr()).toBe(
        'shoal: waiting for the first version of namespace "movies" in store ./shoal-data (no namespace is announced there yet); not ready until then\n',
      );
      expect(await get(`${url}/readyz`)).toEqual({
        status: 503,
        text: 'not ready: waiting for the first version of namespace "movies": nothing is announced there yet\n',
      });
      expect((await get(`${url}/healthz`)).status).toBe(200);
      const record = await get(`${url}/records/Movie/2`);
      expect(record.status).toBe(503);
      expect(JSON.parse(record.text)).toMatchObject({ error: 'NOT_LOADED' });
      expect(JSON.parse((await get(`${url}/status`)).text)).toMatchObject({
        namespace: 'movies',
        version: null,
      });

      const published = await publish(cwd, 'movies');
      const serving = await consume.event('serving');
      expect(serving).toEqual({ event: 'serving', url, version: published.version });
      expect(await get(`${url}/readyz`)).toEqual({ status: 200, text: 'ready\n' });
      expect(await get(`${url}/records/Movie/2`)).toEqual({
        status: 200,
        text: '{"id":2,"title":"Shoals","year":1968,"tags":["documentary","sea"]}\n',
      });
      // The first load is a refresh: counted, its bytes those of the snapshot it read.
      const snapshot = join(cwd, 'shoal-data', new NamespaceLayout('movies').snapshot(published.version));
      const { size } = await stat(snapshot);
      const metrics = (await get(`${url}/metrics`)).text;
      expect(metric(metrics, 'shoal_consumer_refreshes_total{outcome="success",kind="snapshot"}')).toBe(1);
      expect(metric(metrics, 'shoal_consumer_bytes_fetched_total')).toBe(size);
      const status = JSON.parse((await get(`${url}/status`)).text);
      expect(status).toMatchObject({
        version: published.version,
        counts: { Movie: 3 },
        lastRefresh: { to: published.version, kind: 'snapshot' },
      });
      expect(status.waitingSince).toBeUndefined();
      // Said once, however long the wait.
      expect(consume.stderr().match(/waiting for/g)).toHaveLength(1);
    } finally {
      expect(await consume.stop()).toBe(0);
    }
  }, 60_000);

  it('names the namespaces that do exist when the one asked for is mistyped, and times out in one line', async () => {
    const cwd = await tempDir();
    await publish(cwd, 'movies');
    const consume = spawnConsume(cwd, ['--namespace', 'moviez', '--port', '0', '--wait-timeout', '1s']);
    expect(await consume.exited).toBe(1);
    const lines = consume.stderr().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(
      'shoal: waiting for the first version of namespace "moviez" in store ./shoal-data (announced there: movies); not ready until then',
    );
    expect(lines[1]).toContain('NO_VERSION_ANNOUNCED');
    expect(lines[1]).toContain(
      'nothing was announced in namespace "moviez" in store ./shoal-data within 1s (announced there: movies). Check --namespace and that the producer runs, or raise --wait-timeout (0 waits forever).',
    );
  }, 30_000);

  it('--no-wait fails at once with one line naming what exists', async () => {
    const cwd = await tempDir();
    await publish(cwd, 'movies');
    const consume = spawnConsume(cwd, ['--namespace', 'moviez', '--port', '0', '--no-wait']);
    expect(await consume.exited).toBe(1);
    const lines = consume.stderr().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('BLOB_NOT_FOUND');
    expect(lines[0]).toContain(
      'nothing is announced in namespace "moviez" in store ./shoal-data (announced there: movies). Check --namespace, or start the producer first (without --no-wait, shoal consume waits for it).',
    );
    expect(consume.events).toEqual([]);
  }, 30_000);

  it('stops with 0 on SIGTERM while it waits', async () => {
    const cwd = await tempDir();
    const consume = spawnConsume(cwd, ['--namespace', 'movies', '--port', '0']);
    await consume.event('waiting');
    expect(await consume.stop()).toBe(0);
  }, 30_000);

  it('refuses a wait timeout without a unit, and --no-wait with --wait-timeout (exit 2)', async () => {
    const cwd = await tempDir();
    const bare = spawnConsume(cwd, ['--wait-timeout', '30']);
    expect(await bare.exited).toBe(2);
    expect(bare.stderr().split('\n')[0]).toBe(
      'shoal: --wait-timeout needs a duration such as 500ms, 30s, 5m or 1h (0 for no limit), got "30"',
    );
    const long = spawnConsume(cwd, ['--wait-timeout', '600h']);
    expect(await long.exited).toBe(2);
    expect(long.stderr()).toBe(
      'shoal: --wait-timeout is at most 596h (2147483647 ms, what a timer holds; 0 for no limit), got "600h"\nSee \'shoal consume --help\'.\n',
    );
    const both = spawnConsume(cwd, ['--no-wait', '--wait-timeout', '5s']);
    expect(await both.exited).toBe(2);
    expect(both.stderr().split('\n')[0]).toBe(
      'shoal: --no-wait and --wait-timeout contradict each other: give one',
    );
  }, 30_000);
});

describe('shoal consume on a store that is not there', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3.close();
  });

  // No bucket will appear by waiting: the consumer fails with the cause, with and without --no-wait.
  for (const wait of [[], ['--no-wait']]) {
    it(`fails at once with the missing bucket as the cause (${wait.join(' ') || 'waiting'})`, async () => {
      const r = await runCli(
        ['consume', '--store', 's3://nobucket/p1', '--namespace', 'geo', '--port', '0', ...wait],
        {
          env: s3Env(s3.endpoint),
        },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        'shoal: BLOB_NOT_FOUND: no blob at "s3://nobucket/p1/": the bucket "nobucket" does not exist. Check the bucket name, and the client\'s region and endpoint.\n',
      );
      expect(r.stdout).toBe('');
    });
  }

  for (const wait of [[], ['--no-wait']]) {
    it(`on a store path that is a file names the file (${wait.join(' ') || 'waiting'})`, async () => {
      const cwd = await tempDir();
      await writeFile(join(cwd, 'afile'), '');
      const args = ['consume', '--store', 'afile', '--namespace', 'geo', '--port', '0', ...wait];
      const r = await runCli(args, { cwd });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `shoal: BLOB_NOT_FOUND: no blob at "": the store's directory "${join(cwd, 'afile')}" is a file. Point the store at a directory.\n`,
      );
    });
  }
});
