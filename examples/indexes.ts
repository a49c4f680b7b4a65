// Secondary indexes: declared in the schema, stored in the snapshot, kept current by deltas.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer, FsBlobStore, Producer, t } from 'shoal';

const City = t.object(
  'City',
  { id: t.int(), name: t.string(), country: t.string(), admin1: t.string().optional() },
  {
    primaryKey: 'id',
    indexes: {
      byCountry: ['country'],
      byPlace: ['country', 'admin1'],
      byName: { fields: ['name'], prefix: true },
    },
  },
);
const schema = t.schema([City]);
const dir = await mkdtemp(join(tmpdir(), 'shoal-indexes-'));
const store = new FsBlobStore({ dir });

const producer = await Producer.open({ store, namespace: 'cities', schema, walDir: join(dir, 'wal') });
await producer.runCycle((w) => {
  w.add('City', { id: 1, name: 'Paris', country: 'FR', admin1: 'IDF' });
  w.add('City', { id: 2, name: 'Lyon', country: 'FR', admin1: 'ARA' });
  w.add('City', { id: 3, name: 'Berlin', country: 'DE' });
  w.add('City', { id: 4, name: 'Pau', country: 'FR', admin1: 'NAQ' });
});

await using consumer = await Consumer.open({ store, namespace: 'cities', schema });
const cities = () => consumer.state.type('City');
console.log([...cities().index('byCountry').find('FR')].map((c) => c.name)); // [ 'Paris', 'Lyon', 'Pau' ]
console.log(cities().index('byCountry').count('DE')); // 1
console.log([...cities().index('byPlace').find({ country: 'FR', admin1: 'ARA' })].map((c) => c.name)); // [ 'Lyon' ]
console.log([...cities().index('byName').findPrefix('Pa')].map((c) => c.name)); // [ 'Paris', 'Pau' ]

// An index the schema does not declare: built once, here, and kept current by every refresh.
cities().createIndex('admin1');

await producer.upsert('City', { id: 5, name: 'Nice', country: 'FR', admin1: 'PAC' });
await producer.delete('City', 1);
await producer.flush();
await consumer.refresh(); // the watcher would do this within milliseconds; here we ask
console.log([...cities().index('byCountry').find('FR')].map((c) => c.name)); // [ 'Nice', 'Lyon', 'Pau' ]
console.log(cities().index('admin1').has('IDF'), cities().index('admin1').has('PAC')); // false true
await producer.close();
