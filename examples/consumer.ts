// Serve reads from a consumer that follows the producer, and read the same state from a worker.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer, FsBlobStore, Producer, t } from 'shoal';

const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const dir = await mkdtemp(join(tmpdir(), 'shoal-example-'));
const store = new FsBlobStore({ dir });

const producer = await Producer.open({ store, namespace: 'movies', schema, walDir: join(dir, 'wal') });
await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'One' }));

await using consumer = await Consumer.open({ store, namespace: 'movies', schema, sharedMemory: true });
consumer.on('refresh', ({ from, to, kind, types }) =>
  console.log(`refreshed ${from} → ${to} by ${kind}`, types.Movie),
);
console.log(consumer.state.type('Movie').get(1)?.title); // One

await producer.upsert('Movie', { id: 1, title: 'One, revised' });
await producer.flush();
await consumer.refresh(); // the watcher would do this within milliseconds; here we ask
console.log(consumer.state.type('Movie').get(1)?.title); // One, revised

// consumer.share() gives a handle to post to a worker thread; attach(handle) there reads the
// same memory and follows refreshes (see test/worker-sharing.test.ts).
console.log(consumer.share().state.version === consumer.version); // true
await producer.close();
