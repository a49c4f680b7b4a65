/**
 * Announcement figures: filesystem announce → watcher event latency, and how many requests an
 * idle S3 watcher makes once backed off (measured at a short maximum interval, then stated at
 * the default one, since a backed-off watcher makes one request per interval).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnnouncementWatcher, FsBlobStore, StoreAnnouncer } from '../src/index.ts';
import { S3BlobStore } from '../src/s3.ts';
import { BUCKET, startFront, startS3 } from '../test/support/s3-server.ts';
import { ms, type Row, table, verdict } from './harness.ts';

const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

export async function blobBench(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-watch-'));
  const store = new FsBlobStore({ dir });
  const announcer = new StoreAnnouncer({ store, namespace: 'bench' });
  const watcher = new AnnouncementWatcher({ store, namespace: 'bench', fallbackPollMs: 60_000 });
  await watcher.start();
  const latencies: number[] = [];
  const totals: number[] = [];
  let waiting: ((v: number) => void) | undefined;
  watcher.on('announcement', (a) => waiting?.(a.version));
  for (let v = 1; v <= 40; v++) {
    const seen = new Promise<number>((resolve) => (waiting = resolve));
    const start = performance.now();
    await announcer.announce({
      version: v,
      announcedAt: Date.now(),
      producer: 'bench',
      ...(v > 1 ? { replaces: v - 1 } : {}),
    });
    const announced = performance.now();
    await seen;
    const now = performance.now();
    if (v > 5) {
      latencies.push(now - announced);
      totals.push(now - start);
    }
    await sleep(20);
  }
  await watcher.close();
  await rm(dir, { recursive: true, force: true });
  const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!;
  const p50 = pct(latencies, 0.5);
  const p95 = pct(latencies, 0.95);

  const s3 = await startS3();
  const front = await startFront(s3.endpoint);
  const maxIntervalMs = 200;
  const s3store = new S3BlobStore({ client: s3.client(front.endpoint), bucket: BUCKET, prefix: 'bench' });
  await new StoreAnnouncer({ store: s3store, namespace: 'idle' }).announce({
    version: 1,
    announcedAt: Date.now(),
    producer: 'b',
  });
  const idle = new AnnouncementWatcher({
    store: s3store,
    namespace: 'idle',
    minIntervalMs: 10,
    maxIntervalMs,
  });
  await idle.start();
  await sleep(1000); // backs off to the maximum
  const before = front.requests.length;
  const windowMs = 4000;
  await sleep(windowMs);
  const perMinute = ((front.requests.length - before) / windowMs) * 60_000;
  await idle.close();
  await front.close();
  await s3.close();
  const atDefault = (perMinute * maxIntervalMs) / 30_000;

  const rows: Row[] = [
    ['filesystem announce → watcher event, p50', ms(p50), '', verdict(p50 <= 50, '≤ 50 ms')],
    ['  p95 (35 announcements, fsync on)', ms(p95), ''],
    [
      '  from the start of announce() (lock, write, fsync), p50 / p95',
      `${ms(pct(totals, 0.5))} / ${ms(pct(totals, 0.95))}`,
      '',
    ],
    [
      `S3 watcher idle, backed off to ${maxIntervalMs} ms`,
      `${perMinute.toFixed(0)} requests/min`,
      `${(60_000 / maxIntervalMs).toFixed(0)} expected`,
    ],
    [
      '  the same at the default maximum (30 s)',
      `${atDefault.toFixed(1)} requests/min`,
      '1 HEAD per interval',
    ],
  ];
  table('Announcements', rows);
}
