import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Consumer, FsBlobStore, MemoryBlobStore, Producer, t } from '../src/index.ts';
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

  it('refuses to share a consumer not on shared memory, or one closed', async () => {
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
    // A closed consumer on shared memory shares nothing either: no channel left open.
    const shared = await Consumer.open({ store, namespace: 'n', watch: false, sharedMemory: true });
    expect(shared.share().state).toBeDefined();
    await shared.close();
    expect(() => shared.share()).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    await producer.close();
    await fs.rm(walDir, { recursive: true, force: true });
  });

  it('closes while a refresh is in flight: the refresh ends, and nothing is posted on the closed channel', async () => {
    const Item = t.object('Item', { id: t.int(), v: t.int() }, { primaryKey: 'id' });
    const schema = t.schema([Item]);
    const os = await import('node:os');
    const fs = await import('node:fs/promises');
    const dir = await fs.mkdtemp(join(os.tmpdir(), 'shoal-share-'));
    // A store that answers a held get only once released, with what it read before close()
    // aborted it (as a response already on its way does).
    const fsStore = new FsBlobStore({ dir: join(dir, 'blobs') });
    let held: Promise<void> | undefined;
    let fetched = 0;
    const store = Object.assign(Object.create(fsStore) as FsBlobStore, {
      async get(key: string) {
        const bytes = await fsStore.get(key);
        if (held && /\/(delta|snapshot|header)\//.test(key)) {
          fetched++;
          await held;
        }
        return bytes;
      },
    });
    const producer = await Producer.open({
      store,
      namespace: 'n',
      schema,
      walDir: join(dir, 'wal'),
      fsync: false,
    });
    await producer.runCycle((w) => w.add('Item', { id: 1, v: 1 }));
    const consumer = await Consumer.open({ store, namespace: 'n', schema, sharedMemory: true, watch: false });
    const handle = consumer.share();
    const listener = new BroadcastChannel(handle.channel);
    const posted: string[] = [];
    listener.onmessage = (e) => posted.push((e as unknown as { data: { kind: string } }).data.kind);
    // A listener error would surface as an uncaught error: collect those instead.
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      await producer.runCycle((w) => w.add('Item', { id: 1, v: 2 }));
      let release!: () => void;
      held = new Promise<void>((r) => (release = r));
      const refresh = consumer.refresh();
      await until(() => fetched > 0, 5000, 'the refresh to fetch');
      const closing = consumer.close();
      release();
      await refresh;
      await closing;
      await new Promise((r) => setTimeout(r, 50));
      expect(consumer.version).toBe(producer.version);
      expect(consumer.state.type('Item').read(1, 'v')).toBe(2);
      expect(uncaught).toEqual([]);
      expect(posted).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      listener.close();
      await producer.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
