// A worker of the lookup pool: reads the consumer's shared state without a copy.
import { parentPort, workerData } from 'node:worker_threads';
import { attach, type ShareHandle } from 'shoal';

const consumer = attach(workerData.handle as ShareHandle);
parentPort!.on('message', ({ id, key }: { id: number; key: number }) => {
  const movie = consumer.state.type('Movie').get(key as never);
  parentPort!.postMessage({ id, version: consumer.version, movie: movie?.toObject() });
});
