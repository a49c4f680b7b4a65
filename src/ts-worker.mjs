// Starts a worker from shoal's TypeScript sources (tests, benchmarks, `npm run shoal`): registers
// tsx in the worker, then imports `workerData.script`. The built package starts its .js workers
// directly and never loads this file.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.script);
