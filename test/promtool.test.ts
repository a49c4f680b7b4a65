import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Consumer, MemoryBlobStore, Producer, t } from '../src/index.ts';
import { serveConsumerHealth, serveProducerHealth } from '../src/observability.ts';

// CI installs Debian's prometheus package for promtool (.ci/run); elsewhere the check runs when
// promtool is on the PATH.
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

describe('metrics exposition', () => {
  it.runIf(hasPromtool || process.env.CI)(
    'passes promtool check metrics, producer and consumer',
    async () => {
      const walDir = await mkdtemp(join(tmpdir(), 'shoal-promtool-'));
      const store = new MemoryBlobStore();
      const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
      const producer = await Producer.open({
        store,
        namespace: 'm',
        schema: t.schema([Movie]),
        walDir,
        fsync: false,
      });
      const producerHealth = await serveProducerHealth(producer, { port: 0 });
      await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'One' }));
      const consumer = await Consumer.open({ store, namespace: 'm', watch: false });
      const consumerHealth = await serveConsumerHealth(consumer, { port: 0 });
      await producer.upsert('Movie', { id: 2, title: 'Two' });
      await producer.flush();
      await consumer.refresh();
      for (const url of [producerHealth.url, consumerHealth.url]) {
        const text = await (await fetch(`${url}/metrics`)).text();
        const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
        expect(`${check.stdout}${check.stderr}`.trim(), url).toBe('');
        expect(check.status).toBe(0);
      }
      await producerHealth.close();
      await consumerHealth.close();
      await consumer.close();
      await producer.close();
      await rm(walDir, { recursive: true, force: true });
    },
  );
});
