/**
 * The write-ahead log on a disk that fills up (a small tmpfs, mounted by the test: it runs as
 * root in CI; elsewhere it is skipped with a message). A group that only partly reached the
 * disk must not be acknowledged, and every acknowledged upsert must be published: by the
 * running producer, and by a producer reopened on the log.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, isShoalError, Producer, t } from '../src/index.ts';
import { producerMetrics } from '../src/observability.ts';

const Row = t.object('Row', { id: t.int(), body: t.string() }, { primaryKey: 'id' });
const schema = t.schema([Row]);

const dirs: string[] = [];
const mounts: string[] = [];
afterAll(async () => {
  // Lazily: a failed test may leave a file open on it.
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Mounts a tmpfs of `size` at `dir`; false when this process may not mount. */
function mountTmpfs(dir: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    mounts.push(dir);
    return true;
  } catch {
    return false;
  }
}

describe('a write-ahead log whose disk fills up', () => {
  it('acknowledges only what reached the disk, and every acknowledged upsert is published', async (ctx) => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-fullwal-'));
    dirs.push(dir);
    const walDir = join(dir, 'wal');
    await mkdir(walDir);
    if (!mountTmpfs(walDir, '256k')) {
      ctx.skip('mounting a tmpfs needs root (CI runs as root): the full-disk test is skipped');
      return;
    }
    const open = (wal: string, store: string) =>
      Producer.open({
        store: new FsBlobStore({ dir: join(dir, store), fsync: false }),
        namespace: 'rows',
        schema,
        walDir: wal,
        maxBatchDelayMs: 60_000,
        maxBatchRecords: 1_000_000,
        cycleThread: 'main',
      });
    const producer = await open(walDir, 'store');
    const registry = new Registry();
    const metrics = producerMetrics(producer, registry);
    const acked: number[] = [];
    let failure: unknown;
    // Groups of 50 upserts of 1.5 KB each: a group meets the end of the disk part-way.
    for (let round = 0; failure === undefined && round < 100; round++) {
      const ids = Array.from({ length: 50 }, (_, k) => round * 50 + k);
      const outcomes = await Promise.allSettled(
        ids.map((id) => producer.upsert('Row', { id, body: `${id}:${'x'.repeat(1500)}` })),
      );
      outcomes.forEach((o, k) => {
        if (o.status === 'fulfilled') acked.push(ids[k]!);
        else failure ??= o.reason;
      });
    }
    expect(isShoalError(failure) && failure.code).toBe('WAL_FAILED');
    expect(acked.length).toBeGreaterThan(0);
    // What ShoalProducerWalFailed alerts on, counted once however many changes were refused.
    const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values;
    expect(await value('shoal_producer_wal_failed')).toMatchObject([{ value: 1 }]);
    expect(await value('shoal_producer_errors_total')).toMatchObject([
      { labels: { stage: 'wal', code: 'WAL_FAILED' }, value: 1 },
    ]);
    metrics.stop();
    // The log as it is on the full disk, for a producer reopened elsewhere.
    const copy = join(dir, 'wal-copy');
    await cp(walDir, copy, { recursive: true });

    // The running producer publishes every acknowledged upsert.
    expect((await producer.flush()).outcome).toBe('published');
    const published = new Set([...producer.state!.type('Row')].map((v) => v.id));
    expect(acked.filter((id) => !published.has(id))).toEqual([]);
    await producer.close().catch(() => {});

    // So does a producer reopened on the log, into a fresh store.
    const reopened = await open(copy, 'store2');
    expect((await reopened.flush()).outcome).toBe('published');
    const replayed = new Set([...reopened.state!.type('Row')].map((v) => v.id));
    expect(acked.filter((id) => !replayed.has(id))).toEqual([]);
    for (const v of reopened.state!.type('Row')) expect(v.body).toBe(`${v.id}:${'x'.repeat(1500)}`);
    await reopened.close();
  }, 60_000);
});

describe('a store whose disk fills up while upserts keep coming', () => {
  it('pushes back by bytes: the pending batch stays within highWatermarkBytes', async (ctx) => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-fullstore-'));
    dirs.push(dir);
    const storeDir = join(dir, 'store');
    await mkdir(storeDir);
    if (!mountTmpfs(storeDir, '512k')) {
      ctx.skip('mounting a tmpfs needs root (CI runs as root): the full-store test is skipped');
      return;
    }
    const highWatermarkBytes = 1024 * 1024;
    const producer = await Producer.open({
      store: new FsBlobStore({ dir: storeDir, fsync: false }),
      namespace: 'rows',
      schema,
      walDir: join(dir, 'wal'),
      fsync: false,
      cycleThread: 'main',
      maxBatchRecords: 200,
      maxBatchDelayMs: 10,
      publishRetries: 0,
      backpressure: 'reject',
      highWatermarkBytes,
    });
    let refused: unknown;
    let peak = 0;
    // 1.5 KB records, far more than the store's 512 KB disk holds: cycles fail, batches stay.
    for (let id = 0; id < 5000 && refused === undefined; id++) {
      try {
        await producer.upsert('Row', { id, body: `${id}:${'x'.repeat(1500)}` });
      } catch (e) {
        refused = e;
      }
      peak = Math.max(peak, producer.pendingBytes);
    }
    expect(isShoalError(refused) && refused.code).toBe('BACKPRESSURE');
    expect((refused as Error).message).toContain('highWatermarkBytes');
    // Within the watermark, give or take the group logged as it was crossed.
    expect(peak).toBeLessThan(highWatermarkBytes + 64 * 1024);
    expect(producer.pendingBytes).toBeGreaterThanOrEqual(highWatermarkBytes / 2);
    await producer.close().catch(() => {});
  }, 60_000);
});

describe('a burst of large upserts within one turn of the event loop', () => {
  it('is bounded by highWatermarkBytes too (the group being collected counts at once)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-burst-'));
    dirs.push(dir);
    const producer = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'store'), fsync: false }),
      namespace: 'rows',
      schema,
      walDir: join(dir, 'wal'),
      fsync: false,
      cycleThread: 'main',
      maxBatchDelayMs: 60_000,
      backpressure: 'reject',
      highWatermarkBytes: 1024 * 1024,
    });
    // 200 upserts of 100 KB each, none awaited before the next.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 200 }, (_, id) => producer.upsert('Row', { id, body: 'x'.repeat(100_000) })),
    );
    const acked = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter((o) => o.status === 'rejected' && isShoalError(o.reason, 'BACKPRESSURE'));
    expect(refused.length).toBe(200 - acked);
    // Within the watermark (the estimate counts strings at 3 bytes a character), not 20 MB.
    expect(acked).toBeGreaterThan(0);
    expect(acked * 100_000).toBeLessThanOrEqual(1024 * 1024);
    await producer.close().catch(() => {});
  });
});
