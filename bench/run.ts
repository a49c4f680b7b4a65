/**
 * `npm run bench`: shoal's figures on the Movie dataset of DESIGN.md, each beside a baseline
 * measured in the same run. Flags: --n <records> (default 1,000,000).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { blobBench } from './blob-bench.ts';
import { consumerBench } from './consumer-bench.ts';
import { deltaBench } from './delta-bench.ts';
import { producerBench } from './producer-bench.ts';
import { snapshotBench } from './snapshot-bench.ts';

const { values } = parseArgs({ options: { n: { type: 'string', default: '1000000' } } });
const n = Number(values.n);
if (!Number.isSafeInteger(n) || n < 1000) throw new Error('--n must be an integer ≥ 1000');

console.log(`# shoal benchmark — node ${process.version}, ${n.toLocaleString('en')} records`);
const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-'));
try {
  // Each section starts on a clean heap: the snapshot section's state is dropped after the deltas.
  await deltaBench(await snapshotBench(n, dir), n, dir);
  await blobBench();
  await producerBench(n);
  await consumerBench(n);
} finally {
  await rm(dir, { recursive: true, force: true });
}
