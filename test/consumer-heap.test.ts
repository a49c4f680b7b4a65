import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Consumer, MemoryBlobStore, Producer, t } from '../src/index.ts';
import { until } from './support/wait.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('consumer memory over many refreshes', () => {
  it('holds about as much heap after 1,000 refreshes as after 100', async () => {
    const Item = t.object('Item', { id: t.int(), v: t.int(), label: t.string() }, { primaryKey: 'id' });
    const store = new MemoryBlobStore();
    const walDir = await mkdtemp(join(tmpdir(), 'shoal-heap-'));
    const producer = await Producer.open({
      store,
      namespace: 'h',
      schema: t.schema([Item]),
      walDir,
      fsync: false,
      snapshotEvery: 20,
      keepSnapshots: 2,
    });
    await producer.runCycle((w) => {
      for (let id = 0; id < 2000; id++) w.add('Item', { id, v: 0, label: `item ${id}` });
    });
    const consumer = await Consumer.open({ store, namespace: 'h', minIntervalMs: 5, maxIntervalMs: 20 });
    const heapAt = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    let after100 = 0;
    for (let v = 1; v <= 1000; v++) {
      await producer.upsert('Item', { id: v % 2000, v, label: `item ${v % 2000} at ${v}` });
      await producer.flush();
      await until(() => consumer.version === producer.version, 10_000, `refresh ${v}`);
      if (v === 100) after100 = heapAt();
    }
    const after1000 = heapAt();
    // Statistics are bounded and old states are released: growth stays within a few MB.
    expect(after1000 - after100).toBeLessThan(8 * 1024 * 1024);
    await consumer.close();
    await producer.close();
    await rm(walDir, { recursive: true, force: true });
  }, 120_000);
});
