import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Consumer, MemoryBlobStore, Producer, t } from '../src/index.ts';
import { until } from './support/wait.ts';

describe('worker threads on a shared state', () => {
  it('read without a copy, follow refreshes, and never see a record of two versions', async () => {
    const Item = t.object('Item', { id: t.int(), v: t.int(), label: t.string() }, { primaryKey: 'id' });
    const schema = t.schema([Item]);
    const store = new MemoryBlobStore();
    const os = await import('node:os');
    const fs = await import('node:fs/promises');
    const walDir = await fs.mkdtemp(join(os.tmpdir(), 'shoal-share-'));
    const producer = await Producer.open({
      store,
      namespace: 'items',
      schema,
      walDir,
      fsync: false,
      snapshotEvery: 50,
      keepSnapshots: 2,
    });
    const publish = (v: number) =>
      producer.runCycle((w) => {
        for (let id = 0; id < 40; id++) w.add('Item', { id, v, label: `item ${id} at ${v}` });
      });
    await publish(0);
    const consumer = await Consumer.open({
      store,
      namespace: 'items',
      schema,
      sharedMemory: true,
      minIntervalMs: 10,
      maxIntervalMs: 50,
    });
    const handle = consumer.share();
    const script = pathToFileURL(join(import.meta.dirname, 'fixtures/shared-reader.ts')).href;
    const workers = [0, 1].map(
      () => new Worker(join(import.meta.dirname, '../src/ts-worker.mjs'), { workerData: { handle, script } }),
    );
    const ready = workers.map(
      (w) =>
        new Promise((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
    );
    await Promise.all(ready);
    let mainViolations = 0;
    const refreshes = 1000;
    for (let v = 1; v <= refreshes; v++) {
      await publish(v);
      await until(() => consumer.version === producer.version, 10_000, `refresh ${v}`);
      const seen = new Set<unknown>();
      for (const item of consumer.state.type('Item')) seen.add(item.v);
      if (seen.size !== 1 || !seen.has(v)) mainViolations++;
    }
    const results = await Promise.all(
      workers.map(
        (w) =>
          new Promise<{
            checks: number;
            violations: number;
            versions: number;
            refreshes: number;
            zeroCopy: boolean;
          }>((resolve) => {
            w.once('message', resolve);
            w.postMessage('stop');
          }),
      ),
    );
    for (const w of workers) await w.terminate();
    expect(mainViolations).toBe(0);
    for (const r of results) {
      expect(r.violations).toBe(0);
      expect(r.zeroCopy).toBe(true);
      expect(r.versions).toBeGreaterThan(10);
      expect(r.refreshes).toBeGreaterThan(10);
    }
    await consumer.close();
    await producer.close();
    await fs.rm(walDir, { recursive: true, force: true });
  }, 120_000);

  it('refuses to share a consumer not on shared memory', async () => {
    const store = new MemoryBlobStore();
    const Item = t.object('Item', { id: t.int() }, { primaryKey: 'id' });
    const os = await import('node:os');
    const fs = await import('node:fs/promises');
    const walDir = await fs.mkdtemp(join(os.tmpdir(), 'shoal-share-'));
    const producer = await Producer.open({
      store,
      namespace: 'n',
      schema: t.schema([Item]),
      walDir,
      fsync: false,
    });
    await producer.runCycle((w) => w.add('Item', { id: 1 }));
    const consumer = await Consumer.open({ store, namespace: 'n', watch: false });
    expect(() => consumer.share()).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    await consumer.close();
    await producer.close();
    await fs.rm(walDir, { recursive: true, force: true });
  });
});
