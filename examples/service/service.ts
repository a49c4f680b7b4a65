// End to end: a producer daemon publishes a changing catalogue; an HTTP service answers
// GET /movies/<id> from a consumer's state through a pool of worker threads sharing its memory.
// `--demo` runs a short scripted session and exits; without it the service runs until Ctrl-C.
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Consumer, FsBlobStore, Producer, t } from 'shoal';
import { serveConsumerHealth } from 'shoal/observability';

const Movie = t.object('Movie', { id: t.int(), title: t.string(), views: t.int() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const dir = await mkdtemp(join(tmpdir(), 'shoal-service-'));
const store = new FsBlobStore({ dir });

// The producer daemon: the whole catalogue first, then view counts that change every 200 ms.
const producer = await Producer.open({
  store,
  namespace: 'catalogue',
  schema,
  walDir: join(dir, 'wal'),
  maxBatchDelayMs: 100,
});
await producer.runCycle((w) => {
  for (let id = 1; id <= 1000; id++) w.add('Movie', { id, title: `Movie ${id}`, views: 0 });
});
let tick = 0;
const daemon = setInterval(() => {
  tick++;
  for (let k = 0; k < 10; k++) {
    const id = ((tick * 37 + k * 101) % 1000) + 1;
    void producer.upsert('Movie', { id, title: `Movie ${id}`, views: tick });
  }
}, 200);

// The service: a consumer on shared memory and a pool of workers attached to it.
const consumer = await Consumer.open({ store, namespace: 'catalogue', schema, sharedMemory: true });
const handle = consumer.share();
const script = pathToFileURL(join(import.meta.dirname, 'lookup-worker.ts')).href;
const pool = [0, 1].map(
  () =>
    new Worker(join(import.meta.dirname, 'start-worker.mjs'), {
      workerData: { handle, script },
      execArgv: ['--conditions=shoal-source'],
    }),
);
const waiting = new Map<number, (reply: { version: number; movie?: unknown }) => void>();
for (const w of pool) w.on('message', (reply) => waiting.get(reply.id)?.(reply));
let next = 0;
const ask = (key: number) =>
  new Promise<{ version: number; movie?: unknown }>((resolve) => {
    const id = next++;
    waiting.set(id, (reply) => {
      waiting.delete(id);
      resolve(reply);
    });
    pool[id % pool.length]!.postMessage({ id, key });
  });

const server = createServer(async (req, res) => {
  const m = /^\/movies\/(\d+)$/.exec(req.url ?? '');
  if (!m) return void res.writeHead(404).end('try /movies/<id>\n');
  const { version, movie } = await ask(Number(m[1]));
  res.writeHead(movie ? 200 : 404, {
    'content-type': 'application/json',
    'x-shoal-version': String(version),
  });
  res.end(`${JSON.stringify(movie ?? { error: 'not found' })}\n`);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const health = await serveConsumerHealth(consumer, { port: 0 });
console.log(`lookups on ${url}/movies/<id>, health on ${health.url}`);

const stop = async () => {
  clearInterval(daemon);
  server.close();
  await health.close();
  await Promise.all(pool.map((w) => w.terminate()));
  await consumer.close();
  await producer.close();
};

if (process.argv.includes('--demo')) {
  const first = await (await fetch(`${url}/movies/38`)).json();
  await new Promise((r) => setTimeout(r, 1500)); // the daemon publishes a few versions
  const later = await fetch(`${url}/movies/38`);
  console.log('movie 38 at first:', first);
  console.log(`movie 38 now (version ${later.headers.get('x-shoal-version')}):`, await later.json());
  console.log('served version', consumer.version, '= announced', consumer.announcement?.version);
  await stop();
} else {
  process.once('SIGINT', () => void stop());
}
