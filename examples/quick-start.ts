// Define a schema, build a state, write a snapshot file, read a record back.
import { readFile, writeFile } from 'node:fs/promises';
import { decodeSnapshot, encodeSnapshot, StateBuilder, t } from 'shoal';

const Movie = t.object(
  'Movie',
  {
    id: t.int(),
    title: t.string(),
    year: t.int(),
    tags: t.list(t.string()),
    rating: t.double().optional(),
  },
  { primaryKey: 'id' },
);
const schema = t.schema([Movie]);

const builder = new StateBuilder(schema);
builder.add('Movie', { id: 1, title: 'The Ghost Ship', year: 1952, tags: ['drama'], rating: 7.5 });
builder.add('Movie', { id: 2, title: 'Shoals', year: 1968, tags: ['documentary', 'sea'] });
const state = builder.build({ version: Date.now() });

await writeFile('movies.snapshot', encodeSnapshot(state));

const loaded = decodeSnapshot(await readFile('movies.snapshot'));
const movie = loaded.type('Movie').get(2);
console.log(movie?.title, movie?.year); // Shoals 1968
console.log(movie?.toObject()); // { id: 2, title: 'Shoals', year: 1968, tags: [ 'documentary', 'sea' ] }
console.log(loaded.version === state.version, loaded.checksum === state.checksum); // true true
