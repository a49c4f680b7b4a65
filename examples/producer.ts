// Publish versions with a producer: re-state the dataset, then change it record by record.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBlobStore, Producer, t } from 'shoal';

const Movie = t.object('Movie', { id: t.int(), title: t.string(), year: t.int() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const dir = await mkdtemp(join(tmpdir(), 'shoal-example-'));

const producer = await Producer.open({
  store: new FsBlobStore({ dir }),
  namespace: 'movies',
  schema,
  walDir: join(dir, 'wal'),
});
producer.on('announced', ({ version }) => console.log('announced', version));

await producer.runCycle((w) => {
  w.add('Movie', { id: 1, title: 'One', year: 2001 });
  w.add('Movie', { id: 2, title: 'Two', year: 2002 });
});
await producer.upsert('Movie', { id: 3, title: 'Three', year: 2003 }); // durable once resolved
await producer.delete('Movie', 1);
await producer.close(); // publishes what is pending

console.log(producer.state?.counts()); // { Movie: 2 }
