/**
 * Consumer health under faults, over real HTTP on loopback and a real filesystem: what
 * `/readyz` and `/status` answer when the announcement cannot be read, after a bogus
 * announcement is put back, while serving a pin, and what they say about paths.
 */
import { chmod, cp, mkdir, mkdtemp, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Consumer, FsBlobStore, Producer, StoreAnnouncer, t } from '../src/index.ts';
import type { ConsumerStatus } from '../src/observability/consumer-metrics.ts';
import { serveConsumerHealth } from '../src/observability.ts';
import { spawnConsume } from './support/consume-process.ts';

const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-consumer-health-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) {
    await chmod(join(d, 'shoal-data', 'movies'), 0o755).catch(() => {});
    await rm(d, { recursive: true, force: true });
  }
});

const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
};
const status = async (base: string) => JSON.parse((await get(`${base}/status`)).text) as ConsumerStatus;

/** Polls `probe` every 10 ms until it holds; rejects after `timeoutMs`. */
async function eventually<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = 10_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const produce = async (dir: string) =>
  Producer.open({
    store: new FsBlobStore({ dir: join(dir, 'shoal-data'), fsync: false }),
    namespace: 'movies',
    schema,
    walDir: join(dir, 'wal'),
    fsync: false,
    cycleThread: 'main',
  });

/** `shoal consume` in a child process (as `user` when given); resolves once it serves. */
async function consume(cwd: string, args: string[], user: { uid?: number; gid?: number } = {}) {
  const child = spawnConsume(cwd, ['--namespace', 'movies', '--port', '0', ...args], user);
  const serving = await child.event('serving');
  return { url: serving.url as string, version: serving.version as number, stop: child.stop };
}

describe('consumer health under faults', () => {
  it('turns unready with an unknown lag while the namespace is unreadable (STORE_FORBIDDEN), and recovers', async () => {
    const cwd = await tempDir();
    await chmod(cwd, 0o755);
    const producer = await produce(cwd);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one' }));
    const v1 = producer.version!;
    // Root reads through any permission, so the consumer runs as nobody; the producer, as root,
    // can then announce a newer version the consumer cannot see.
    const root = process.getuid?.() === 0;
    const consumer = await consume(
      cwd,
      ['--max-staleness-ms', '300'],
      root ? { uid: 65534, gid: 65534 } : {},
    );
    expect((await get(`${consumer.url}/readyz`)).status).toBe(200);
    const namespaceDir = join(cwd, 'shoal-data', 'movies');
    await chmod(namespaceDir, 0o000);
    if (root) await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'two' }));
    // The announcement is polled every second; the file watcher's own errors may come between.
    const ready = await eventually(
      () => get(`${consumer.url}/readyz`),
      (r) => r.status === 503 && r.text.includes('STORE_FORBIDDEN'),
      '503',
    );
    expect(ready.text).toContain(
      'the announcement has not been read for over 300 ms (last: STORE_FORBIDDEN)',
    );
    const s = await eventually(
      () => status(consumer.url),
      (x) => x.lastError?.code === 'STORE_FORBIDDEN',
      'STORE_FORBIDDEN in /status',
    );
    expect(s).toMatchObject({
      version: v1,
      announcedVersion: v1, // the last one read, not a claim about now
      announcementCheckFailed: true,
      lagMs: null,
      lastError: { code: 'STORE_FORBIDDEN' },
    });
    expect(Date.now() - s.announcementCheckedAt!).toBeGreaterThan(300);
    expect(JSON.stringify(s)).not.toContain(cwd);

    await chmod(namespaceDir, 0o755);
    if (!root) await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'two' }));
    const v2 = producer.version!;
    expect(v2).toBeGreaterThan(v1);
    await eventually(
      () => status(consumer.url),
      (x) => x.version === v2,
      'catching up',
    );
    expect(await status(consumer.url)).toMatchObject({
      announcedVersion: v2,
      announcementCheckFailed: false,
      lagMs: 0,
    });
    expect((await get(`${consumer.url}/readyz`)).status).toBe(200);
    expect(await consumer.stop()).toBe(0);
    await producer.close();
  }, 60_000);

  it('is ready again as soon as a bogus announcement is put back, not at the next version', async () => {
    const dir = await tempDir();
    const producer = await produce(dir);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one' }));
    const v1 = producer.version!;
    await producer.close();
    const store = new FsBlobStore({ dir: join(dir, 'shoal-data'), fsync: false });
    await using consumer = await Consumer.open({
      store,
      namespace: 'movies',
      fallbackPollMs: 20,
      retryDelayMs: 5,
      maxRetryDelayMs: 20,
    });
    await using health = await serveConsumerHealth(consumer, { maxFailedRefreshes: 2 });
    const announcer = new StoreAnnouncer({ store, namespace: 'movies' });
    const real = (await announcer.read())!;
    const bogus = v1 + 1000; // no blobs behind it
    await announcer.announce({ version: bogus, announcedAt: Date.now(), producer: 'bogus', replaces: v1 });
    const unready = await eventually(
      () => get(`${health.url}/readyz`),
      (r) => r.status === 503,
      '503',
    );
    expect(unready.text).toMatch(/\d+ refreshes failed in a row \(last: BLOB_NOT_FOUND\)/);
    // The lag is the time spent behind (versions need not be timestamps), here under a minute.
    const behind = await status(health.url);
    expect(behind).toMatchObject({ version: v1, announcedVersion: bogus });
    expect(behind.lagMs).toBeGreaterThan(0);
    expect(behind.lagMs).toBeLessThan(60_000);
    expect(behind.lagMs).toBeLessThanOrEqual(Date.now() - (behind.behindSince as number) + 1);

    await announcer.announce({ ...real, announcedAt: Date.now(), replaces: bogus });
    const putBack = Date.now();
    await eventually(
      () => get(`${health.url}/readyz`),
      (r) => r.status === 200,
      '200 after the put-back',
    );
    expect(Date.now() - putBack).toBeLessThan(2000);
    const s = await status(health.url);
    expect(s).toMatchObject({ version: v1, announcedVersion: v1, lagMs: 0, failuresInARow: 0 });
    expect(s.behindSince).toBeUndefined();
    // The retry of the bogus version was dropped: nothing fails on later.
    await new Promise((r) => setTimeout(r, 200));
    expect((await status(health.url)).failuresInARow).toBe(0);
    expect((await get(`${health.url}/readyz`)).status).toBe(200);
  });

  it('stays ready while serving its pin, however long newer versions are announced (consume --pin)', async () => {
    const cwd = await tempDir();
    const producer = await produce(cwd);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one' }));
    const v1 = producer.version!;
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'two' }));
    const consumer = await consume(cwd, ['--pin', String(v1), '--max-staleness-ms', '200']);
    expect(consumer.version).toBe(v1);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'three' }));
    const v3 = producer.version!;
    const seen = await eventually(
      () => status(consumer.url),
      (s) => s.announcedVersion === v3,
      'v3 seen',
    );
    await new Promise((r) => setTimeout(r, 500)); // well past maxStalenessMs behind the announcement
    expect((await get(`${consumer.url}/readyz`)).status).toBe(200);
    expect(await status(consumer.url)).toMatchObject({
      version: v1,
      pinned: v1,
      announcedVersion: v3,
      lagMs: 0,
    });
    expect(seen.version).toBe(v1);
    expect(await get(`${consumer.url}/records/Movie/1`)).toEqual({
      status: 200,
      text: '{"id":1,"title":"one"}\n',
    });
    expect(await consumer.stop()).toBe(0);
    await producer.close();
  }, 60_000);

  it('serves no filesystem path in /status or /readyz unless exposePaths is set', async () => {
    // A store whose path has blanks in it: redaction must take the whole path.
    const dir = join(await tempDir(), 'my secret dir');
    await mkdir(dir);
    const data = join(dir, 'shoal-data');
    const producer = await produce(dir);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'one' }));
    await producer.close();
    // The namespace is a link inside the store, then re-pointed out of it.
    await rename(join(data, 'movies'), join(data, 'movies-real'));
    await symlink('movies-real', join(data, 'movies'));
    const store = new FsBlobStore({ dir: data, fsync: false });
    await using consumer = await Consumer.open({ store, namespace: 'movies', fallbackPollMs: 20 });
    await using health = await serveConsumerHealth(consumer, { maxStalenessMs: 100 });
    await using verbose = await serveConsumerHealth(consumer, { maxStalenessMs: 100, exposePaths: true });
    await cp(join(data, 'movies-real'), join(dir, 'elsewhere'), { recursive: true });
    await symlink(join(dir, 'elsewhere'), join(data, 'movies.next'));
    await rename(join(data, 'movies.next'), join(data, 'movies'));

    const ready = await eventually(
      () => get(`${health.url}/readyz`),
      (r) => r.status === 503,
      '503',
    );
    expect(ready.text).toContain('(last: INVALID_KEY)');
    const text = (await get(`${health.url}/status`)).text;
    const s = JSON.parse(text) as ConsumerStatus;
    expect(s.lastError).toMatchObject({ code: 'INVALID_KEY' });
    expect(s.lastError!.message).toContain('leads out of "<path>" through a symlink');
    expect(text).not.toContain('secret');
    expect(s.lagMs).toBeNull();
    expect(text).not.toContain(dir);
    expect(text).not.toMatch(/["\s]\/(tmp|proc|home|var)\//);
    expect((await status(verbose.url)).lastError!.message).toContain(
      `leads out of "${data}" through a symlink`,
    );
  });
});
