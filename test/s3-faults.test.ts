import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnouncementWatcher } from '../src/blob/announcement-watcher.ts';
import { StoreAnnouncer } from '../src/blob/announcer.ts';
import type { RetryInfo } from '../src/blob/retry.ts';
import { S3BlobStore } from '../src/blob/s3-blob-store.ts';
import { Producer, t } from '../src/index.ts';
import { BUCKET } from './support/s3-server.ts';
import { useS3Front } from './support/stores.ts';
import { until } from './support/wait.ts';

const { s3, front } = useS3Front();

const code = (c: string) => expect.objectContaining({ code: c });
/** Options for a client the store makes itself (with its own timeouts), at `endpoint`. */
const madeClient = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
});
/**
 * Under `prefix`: an announcer of `ns` writing straight to s3rver, having announced version 1,
 * and a store reading through the front with the caller's client.
 */
async function announcedThroughFront(prefix: string, retries?: number) {
  const direct = new S3BlobStore({ client: s3().client(), bucket: BUCKET, prefix });
  const viaFront = new S3BlobStore({
    client: s3().client(front().endpoint),
    bucket: BUCKET,
    prefix,
    ...(retries !== undefined ? { retries } : {}),
  });
  const announcer = new StoreAnnouncer({ store: direct, namespace: 'ns' });
  await announcer.announce({ version: 1, announcedAt: Date.now(), producer: 'p' });
  return { viaFront, announcer };
}
const hits = (path: string) => front().requests.filter((r) => r.path.includes(path)).length;

describe('S3 store against failures', () => {
  const retries: RetryInfo[] = [];
  const store = () =>
    new S3BlobStore({
      client: s3().client(front().endpoint),
      bucket: BUCKET,
      prefix: 'faults',
      minDelayMs: 5,
      maxDelayMs: 20,
      retries: 4,
      onRetry: (i) => retries.push(i),
    });

  it('retries 5xx answers and succeeds', async () => {
    const s = store();
    await s.put('a/five', new Uint8Array([5]));
    const before = hits('a/five');
    front().failNext(2, 500);
    expect([...(await s.get('a/five'))]).toEqual([5]);
    expect(hits('a/five') - before).toBe(3);
    expect(retries.filter((r) => r.key === 'a/five').map((r) => r.attempt)).toEqual([1, 2]);
  });

  it('retries dropped connections and succeeds', async () => {
    const s = store();
    front().dropNext(2);
    await s.put('a/dropped', new Uint8Array([1, 2]));
    expect([...(await s.get('a/dropped'))]).toEqual([1, 2]);
    expect(hits('a/dropped')).toBeGreaterThanOrEqual(3);
  });

  it('does not retry a 403, and says what to check', async () => {
    const s = store();
    await s.put('a/forbidden', new Uint8Array([1]));
    const before = hits('a/forbidden');
    front().failNext(1, 403);
    await expect(s.get('a/forbidden')).rejects.toEqual(
      expect.objectContaining({ code: 'STORE_FORBIDDEN', message: expect.stringContaining('credentials') }),
    );
    expect(hits('a/forbidden') - before).toBe(1);
  });

  it('gives up with STORE_UNAVAILABLE when failures outlast the retries', async () => {
    const s = store();
    front().failNext(100, 503);
    await expect(s.head('a/five')).rejects.toEqual(code('STORE_UNAVAILABLE'));
    front().failNext(0, 503);
  });

  it('gives up on a connection that answers nothing after idleTimeoutMs, and retries', async () => {
    const s = new S3BlobStore({
      clientOptions: madeClient(front().endpoint),
      bucket: BUCKET,
      prefix: 'faults',
      idleTimeoutMs: 300,
      minDelayMs: 5,
      retries: 2,
    });
    await s.put('a/stalled', new Uint8Array([7, 7]));
    const before = hits('a/stalled');
    front().stallNext(1);
    const started = Date.now();
    expect([...(await s.get('a/stalled'))]).toEqual([7, 7]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(hits('a/stalled') - before).toBe(2);
    expect(() => new S3BlobStore({ clientOptions: {}, bucket: BUCKET, idleTimeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('idleTimeoutMs') }),
    );
    await s.close();
  });

  it('refuses a body without a declared length once it passes the most a blob may have', async () => {
    // An S3-compatible server that streams the object chunked, without Content-Length, forever.
    const http = await import('node:http');
    let sent = 0;
    const endless = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => {
        sent += 64 * 1024;
        res.write(Buffer.alloc(64 * 1024, 7));
      }, 1);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    const { port } = endless.address() as import('node:net').AddressInfo;
    const s = new S3BlobStore({
      clientOptions: madeClient(`http://127.0.0.1:${port}`),
      bucket: BUCKET,
      retries: 0,
      maxBlobBytes: 1024 * 1024,
    });
    await expect(s.get('a/endless')).rejects.toMatchObject({ code: 'BLOB_TOO_LARGE' });
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    // So is the read of an announcement (a GET that may answer 304): it read such a body whole.
    sent = 0;
    await expect(s.getIfChanged('a/endless', undefined)).rejects.toMatchObject({ code: 'BLOB_TOO_LARGE' });
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    await s.close();
    endless.closeAllConnections();
    endless.close();
  });

  it('reports a missing object as BLOB_NOT_FOUND without retrying', async () => {
    const s = store();
    const before = hits('a/missing');
    await expect(s.get('a/missing')).rejects.toEqual(code('BLOB_NOT_FOUND'));
    expect(hits('a/missing') - before).toBe(1);
  });
});

describe('S3 announcement watcher', () => {
  it('backs off to its maximum while idle or during an outage, and picks up the new version after', async () => {
    const { viaFront, announcer } = await announcedThroughFront('watch', 0);
    const watcher = new AnnouncementWatcher({
      store: viaFront,
      namespace: 'ns',
      minIntervalMs: 10,
      maxIntervalMs: 80,
      jitter: 0,
    });
    const intervals: number[] = [];
    const errors: string[] = [];
    const seen: number[] = [];
    watcher.on('check', (c) => intervals.push(c.intervalMs));
    watcher.on('error', (e) => errors.push(e.code));
    watcher.on('announcement', (a) => seen.push(a.version));
    expect((await watcher.start())?.version).toBe(1);
    // Idle: the interval doubles from the minimum to the maximum and stays there.
    await until(() => intervals.filter((i) => i === 80).length >= 2, 5000, 'idle backoff');
    expect(intervals.slice(0, 4)).toEqual([10, 20, 40, 80]);
    // Outage: checks fail, are reported, and stay at the maximum interval.
    front().outage(true);
    const failedFrom = intervals.length;
    await until(() => errors.length >= 3, 5000, 'errors during the outage');
    expect(new Set(errors)).toEqual(new Set(['STORE_UNAVAILABLE']));
    expect(intervals.slice(failedFrom).every((i) => i === 80)).toBe(true);
    // A version announced during the outage is picked up once the store answers again.
    await announcer.announce({ version: 2, announcedAt: Date.now(), producer: 'p', replaces: 1 });
    front().outage(false);
    await until(() => seen.includes(2), 5000, 'version 2');
    expect(watcher.current?.version).toBe(2);
    expect(watcher.interval).toBe(10);
    await watcher.close();
    await watcher.close();
  });
});

describe('a hung announcement check', () => {
  it('is abandoned after checkTimeoutMs, reported, and the next check finds the new version', async () => {
    // The caller's own client, with no timeouts of its own: only the watcher's bounds the check.
    const { viaFront, announcer } = await announcedThroughFront('hung');
    const watcher = new AnnouncementWatcher({
      store: viaFront,
      namespace: 'ns',
      minIntervalMs: 20,
      maxIntervalMs: 50,
      checkTimeoutMs: 400,
    });
    const errors: { code: string; message: string }[] = [];
    watcher.on('error', (e) => errors.push({ code: e.code, message: e.message }));
    expect((await watcher.start())?.version).toBe(1);
    front().stallNext(1);
    await announcer.announce({ version: 2, announcedAt: Date.now(), producer: 'p', replaces: 1 });
    await until(() => watcher.current?.version === 2, 5000, 'version 2 after the hung check');
    expect(errors).toEqual([
      { code: 'STORE_UNAVAILABLE', message: expect.stringContaining('raise checkTimeoutMs') },
    ]);
    await watcher.close();
    expect(
      () => new AnnouncementWatcher({ store: viaFront, namespace: 'ns', checkTimeoutMs: Number.NaN }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});

describe('one retry budget per operation', () => {
  it('with S3 down, a cycle fails after the store’s own retries of one write, and a watcher check makes one request', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-budget-'));
    try {
      // The store's defaults (3 retries, 100 ms doubling), no producer retries on top.
      const store = new S3BlobStore({
        client: s3().client(front().endpoint),
        bucket: BUCKET,
        prefix: 'budget',
      });
      const Item = t.object('Item', { id: t.int() }, { primaryKey: 'id' });
      const producer = await Producer.open({
        store,
        namespace: 'b',
        schema: t.schema([Item]),
        walDir: join(dir, 'wal'),
        fsync: false,
        cycleThread: 'main',
      });
      const watcher = new AnnouncementWatcher({
        store,
        namespace: 'b',
        minIntervalMs: 10,
        maxIntervalMs: 20,
      });
      const errors: unknown[] = [];
      watcher.on('error', (e) => errors.push(e));
      await watcher.start();

      front().outage(true);
      const before = front().requests.length;
      await expect(producer.runCycle((w) => w.add('Item', { id: 1 }))).rejects.toEqual(
        code('STORE_UNAVAILABLE'),
      );
      const puts = front()
        .requests.slice(before)
        .filter((r) => r.method === 'PUT');
      // The first blob, tried 1 + 3 times; nothing after it.
      expect(puts).toHaveLength(4);
      expect(new Set(puts.map((r) => r.path)).size).toBe(1);

      const failedBefore = errors.length;
      const from = front().requests.length;
      await until(() => errors.length >= failedBefore + 3, 5000, 'three failed checks');
      const checks = errors.length - failedBefore;
      const heads = front()
        .requests.slice(from)
        .filter((r) => r.method === 'HEAD').length;
      // One request per failed check (give or take the check in flight).
      expect(heads).toBeLessThanOrEqual(checks + 1);
      await watcher.close();
      front().outage(false);
      await producer.close().catch(() => {});
    } finally {
      front().outage(false);
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
