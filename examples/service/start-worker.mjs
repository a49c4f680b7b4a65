// Runs a TypeScript worker from the sources (a built package would load the .js directly).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.script);
