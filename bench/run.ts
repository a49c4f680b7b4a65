/**
 * `npm run bench`: shoal's figures on the Movie dataset of DESIGN.md, each beside a baseline
 * measured in the same run. Flags: --n <records> (default 1,000,000); --section <name> runs one
 * section (any of `sections` below; or one of `optIn`, such as big, a 5 GiB state, that only
 * runs when asked for) in this process.
 *
 * Without --section, each section runs in a child process of its own, so none is measured on a
 * heap (and memory) another left behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bigBench } from './big-bench.ts';
import { blobBench } from './blob-bench.ts';
import { compactBench } from './compact-bench.ts';
import { consumerBench } from './consumer-bench.ts';
import { deltaBench } from './delta-bench.ts';
import { fleetBench } from './fleet-bench.ts';
import { indexBench } from './index-bench.ts';
import { lookupBench } from './lookup-bench.ts';
import { planBench } from './plan-bench.ts';
import { producerBench } from './producer-bench.ts';
import { profileBench } from './profile-bench.ts';
import { readBench } from './read-bench.ts';
import { snapshotBench } from './snapshot-bench.ts';
import { writeBench } from './write-bench.ts';

const sections: Record<string, (n: number, dir: string) => Promise<unknown>> = {
  // The delta figures start from the snapshot section's state.
  snapshot: async (n, dir) => deltaBench(await snapshotBench(n, dir), n, dir),
  blob: () => blobBench(),
  producer: (n) => producerBench(n),
  consumer: (n) => consumerBench(n),
  index: (n) => indexBench(n),
  plan: (n) => planBench(n),
  profiles: (n) => profileBench(n),
  read: (n, dir) => readBench(n, dir),
  // SHOAL_BENCH_WRITE_10X=1 adds build + encode at 10× the records.
  write: (n) => writeBench(n, { tenX: process.env.SHOAL_BENCH_WRITE_10X === '1' }),
  compact: (n) => compactBench(n),
  lookup: (n) => lookupBench(n),
  fleet: () => fleetBench(process.argv.slice(2)),
};

// Not in the default run (CI runs that): a 5 GiB state, only with --section big.
const optIn: typeof sections = { big: (_n, dir) => bigBench(dir) };

const { values } = parseArgs({
  options: { n: { type: 'string', default: '1000000' }, section: { type: 'string' } },
  strict: false, // a section's own flags (fleet: --consumers) pass through to it
});
const n = Number(values.n);
if (!Number.isSafeInteger(n) || n < 1000) throw new Error('--n must be an integer ≥ 1000');
// The benchmark owns its processes (the sections inherit this): the AWS SDK's Node 20 notice,
// printed on the blob section's first S3 client, says nothing about the figures.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

if (values.section === undefined) {
  console.log(`# shoal benchmark — node ${process.version}, ${n.toLocaleString('en')} records`);
  // SHOAL_BENCH_SKIP=a,b leaves sections out of the default run.
  const skip = new Set((process.env.SHOAL_BENCH_SKIP ?? '').split(',').filter(Boolean));
  for (const section of Object.keys(sections).filter((s) => !skip.has(s))) {
    const child = spawnSync(
      process.execPath,
      [
        ...process.execArgv,
        process.argv[1]!,
        ...process.argv.slice(2),
        '--n',
        String(n),
        '--section',
        section,
      ],
      { stdio: 'inherit' },
    );
    if (child.status !== 0) throw new Error(`the ${section} section failed (exit ${child.status})`);
  }
} else {
  const run = sections[String(values.section)] ?? optIn[String(values.section)];
  if (!run) throw new Error(`--section must be one of ${Object.keys(sections).join(', ')}`);
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-'));
  try {
    await run(n, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
