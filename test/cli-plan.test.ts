import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Calibration,
  CHECKS_PER_VERSION_AT_CADENCE,
  consumerRequestsPerVersion,
  DEFAULT_SETTINGS,
  deltaCycleMs,
  loadedCycleMs,
  maxSustainedRate,
  plan,
  REFERENCE_CALIBRATION,
  simulateBatching,
} from '../src/cli/capacity-model.ts';
import { encodeSnapshot, FsBlobStore, Producer, StateBuilder, t } from '../src/index.ts';

const run = promisify(execFile);
const main = join(import.meta.dirname, '../src/cli/main.ts');
const cli = (...args: string[]) =>
  run(process.execPath, ['--conditions=shoal-source', '--import', 'tsx', main, ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

/** A calibration with round figures, so expectations can be worked out by hand. */
const ROUND: Calibration = {
  ...REFERENCE_CALIBRATION,
  source: 'test',
  ackMsPerChange: 0.001, // 1M acknowledged changes/s
  cycleMsFixed: 100,
  cycleMsPerRecord: 0,
  cycleMsPerChange: 0.01, // 100k changes/s once batches are large
  sampleBytesPerRecord: 43,
};

/** The plan for one type of `records` records of 43 bytes, under the test calibration. */
const planOneType = (records: number, changesPerSecond: number, consumers: number, cadenceMs: number) =>
  plan(
    { types: [{ name: 'T', records, bytesPerRecord: 43 }], changesPerSecond, consumers, cadenceMs },
    ROUND,
  );

describe('the batching simulation', () => {
  const cycle = (c: number) => deltaCycleMs(ROUND, 0, c);

  it('settles on the batch that back-to-back cycles reach, below the drain rate', () => {
    // At r changes/ms, back-to-back cycles converge to C = r·a / (1 − r·b).
    const r = 50; // per ms: 50k/s
    const settings = { maxBatchRecords: 1, maxBatchDelayMs: 1, highWatermark: 1e9 };
    const s = simulateBatching(r * 1000, cycle, settings);
    expect(s.msToHighWatermark).toBeNull();
    expect(s.batch).toBeCloseTo((r * 100) / (1 - r * 0.01), 0); // 10,000
    expect(s.intervalMs).toBeCloseTo(200, 3);
  });

  it('waits for maxBatchDelayMs when cycles are quicker than the delay', () => {
    const s = simulateBatching(1000, cycle, {
      maxBatchRecords: 1e9,
      maxBatchDelayMs: 5000,
      highWatermark: 1e9,
    });
    expect(s.intervalMs).toBe(5000);
    expect(s.batch).toBe(5000);
  });

  it('reaches the high watermark past the drain rate, when the backlog passes it', () => {
    // 200k/s against a 100k/s drain: pending grows by ~100 per ms.
    const s = simulateBatching(200_000, cycle, {
      maxBatchRecords: 10_000,
      maxBatchDelayMs: 1000,
      highWatermark: 1e6,
    });
    expect(s.msToHighWatermark).not.toBeNull();
    expect(s.msToHighWatermark!).toBeGreaterThan(4_000); // at least 1e6 / 200 per ms
    expect(s.msToHighWatermark!).toBeLessThan(12_000); // at most 1e6 / 100 per ms, plus a cycle
  });

  it('finds the highest sustained rate just under the drain rate the watermark allows', () => {
    const settings = { maxBatchRecords: 10_000, maxBatchDelayMs: 1000, highWatermark: 1e6 };
    const max = maxSustainedRate(ROUND, 0, settings);
    // Pending peaks at C + r·T'(C) = C + C (back to back) = 2C; 2C = 1e6 gives r = C / T'(C),
    // T' = T / (1 − r·ack) the cycle beside the ingest: r = X / (1 + X·ack), X = C / T(C).
    const c = 5e5;
    const x = c / (cycle(c) / 1000);
    expect(max).toBeCloseTo(x / (1 + (x * ROUND.ackMsPerChange) / 1000), -2);
    const loaded = (r: number) => (n: number) => loadedCycleMs(ROUND, 0, n, r);
    expect(simulateBatching(max * 1.01, loaded(max * 1.01), settings).msToHighWatermark).not.toBeNull();
    expect(simulateBatching(max * 0.99, loaded(max * 0.99), settings).msToHighWatermark).toBeNull();
  });
});

describe('the plan', () => {
  it('counts the watcher requests of one version at the defaults', () => {
    // Past the longest interval (30 s) the watcher backs off: checks 1, 2, 4, 8, 16 s after a
    // version (at 1, 3, 7, 15, 31 s), then the one that sees the next at 60 s; and the delta.
    expect(consumerRequestsPerVersion(DEFAULT_SETTINGS, 60_000)).toEqual({ check: 6, get: 1 });
    // Up to it, versions at a steady cadence are followed: about one check a version.
    expect(consumerRequestsPerVersion(DEFAULT_SETTINGS, 1000)).toEqual({
      check: CHECKS_PER_VERSION_AT_CADENCE,
      get: 1,
    });
    expect(consumerRequestsPerVersion(DEFAULT_SETTINGS, 30_000).check).toBe(CHECKS_PER_VERSION_AT_CADENCE);
  });

  it('sizes blobs and memory from the shape, and recommends options from the rates', () => {
    const p = plan(
      {
        types: [
          { name: 'Movie', records: 1_000_000, bytesPerRecord: 40 },
          { name: 'Actor', records: 500_000, bytesPerRecord: 20 },
        ],
        changesPerSecond: 1_000,
        consumers: 100,
        cadenceMs: 10_000,
      },
      ROUND,
    );
    expect(p.records).toBe(1_500_000);
    expect(p.snapshotBytes).toBe(50_000_000);
    expect(p.changesPerVersion).toBeCloseTo(10_000, 0);
    const perRecord = 50_000_000 / 1_500_000;
    expect(p.deltaBytes).toBeCloseTo(10_000 * perRecord * ROUND.deltaBytesPerChange, 0);
    expect(p.consumerMemory.steadyBytes).toBe(
      ROUND.consumerBaseBytes + 50_000_000 * ROUND.residentPerSnapshotByte,
    );
    expect(p.consumerMemory.snapshotRefreshBytes).toBe(p.consumerMemory.steadyBytes + 50_000_000);
    // A delta refresh holds the delta, the index shards it writes (10,000 changes over 488
    // shards of 4,096 slots: every one) and its records' pages and garbage, per change.
    const index = (1_500_000 * 16) / 3;
    expect(p.consumerMemory.deltaRefreshBytes).toBeCloseTo(
      p.consumerMemory.steadyBytes +
        p.deltaBytes +
        index * (1 - Math.exp(-p.changesPerVersion / (index / 4 / 4096))) +
        p.changesPerVersion * ROUND.refreshBytesPerChange! * (perRecord / ROUND.sampleBytesPerRecord!),
      0,
    );
    expect(p.producer.deltaCycleMs).toBeCloseTo(100 + 0.01 * 10_000, 6);
    expect(p.options.maxBatchDelayMs).toBe(10_000);
    expect(p.options.maxBatchRecords).toBe(20_000);
    expect(p.options.lowWatermark / p.options.highWatermark).toBeCloseTo(0.75, 2);
    // snapshotEvery: deltas after a snapshot stay under half of it.
    expect(p.options.snapshotEvery).toBe(Math.round(50_000_000 / (2 * p.deltaBytes)));
    // An hour of downtime at a version per 10 s is 360 versions.
    expect(p.options.keepSnapshots).toBe(Math.ceil(360 / p.options.snapshotEvery) + 1);
    expect(p.warnings).toEqual([]);
    // Requests: checks and GETs per consumer per version, at 6 versions a minute.
    const perVersion = consumerRequestsPerVersion(p.options, 10_000);
    expect(p.requests.perMinute.check).toBeCloseTo(100 * perVersion.check * 6, 6);
    const cost =
      (((p.requests.perMinute.get + p.requests.perMinute.check) / 1000) * 0.0004 +
        ((p.requests.perMinute.put + p.requests.perMinute.list) / 1000) * 0.005) *
      43_800;
    expect(p.requests.monthlyCost.requests).toBeCloseTo(cost, 6);
  });

  it('warns when the change rate is past what the producer sustains, or the fleet past S3', () => {
    const shape = [{ name: 'T', records: 1000, bytesPerRecord: 10 }];
    const over = plan({ types: shape, changesPerSecond: 5e6, consumers: 1e6, cadenceMs: 1000 }, ROUND);
    expect(over.warnings).toHaveLength(2);
    expect(over.warnings[0]).toMatch(/^5000000 changes\/s is past the \d+\/s this producer sustains/);
    // Even at the longest interval (30 s), a million consumers read the announcement too often.
    expect(over.warnings[1]).toMatch(/^33333 reads\/s of the announcement is past half of S3/);
    // Ten thousand consumers fit by polling less often: no warning, and under half of S3's rate.
    const fleet = plan({ types: shape, changesPerSecond: 100, consumers: 10_000, cadenceMs: 1000 }, ROUND);
    expect(fleet.warnings.filter((w) => w.includes('S3'))).toEqual([]);
    expect(fleet.options.minIntervalMs).toBe(Math.ceil((10_000 / 2750) * 1000));
    expect(fleet.requests.announcementReadsPerSecond).toBeLessThanOrEqual(2_750);
  });
});

describe('plans a user can trust at the edges', () => {
  it('sustains no rate whose backlog keeps growing, however high the watermark', () => {
    const shape = [{ name: 'T', records: 1_000_000, bytesPerRecord: 43 }];
    const at = (maxLagMs: number) =>
      plan({ types: shape, changesPerSecond: 1000, consumers: 1, cadenceMs: 1000, maxLagMs }, ROUND).producer
        .maxSustainedChangesPerSecond;
    // Cycles of 100 ms + 0.01 ms a change drain under 100k changes/s: a longer allowed lag
    // (a higher watermark) reached after the simulated hour used to pass for a higher rate.
    for (const lag of [60_000, 3_600_000, 3_600_000_000]) expect(at(lag)).toBeLessThan(100_000);
    expect(Math.abs(at(3_600_000_000) / at(60_000) - 1)).toBeLessThan(0.02);
  });

  it('says when it cannot batch at the cadence asked, and caps a delta at the dataset', () => {
    const p = planOneType(1000, 100, 1, 3_600_000);
    expect(p.options.maxBatchDelayMs).toBe(600_000);
    expect(p.warnings.some((w) => w.includes('3600000 ms is outside'))).toBe(true);
    // 60,000 changes to 1,000 records: the delta carries each record once, at most.
    expect(p.deltaBytes).toBeCloseTo(1000 * 43 * ROUND.deltaBytesPerChange, 6);
  });
});

describe('a quiet source', () => {
  it('makes no versions: consumers only poll, at their longest interval', () => {
    const p = planOneType(1e6, 0, 1000, 1000);
    expect(p.changesPerVersion).toBe(0);
    expect(p.requests.versionsPerMinute).toBe(0);
    expect(p.requests.perMinute).toEqual({
      check: 1000 * (60_000 / p.options.maxIntervalMs),
      get: 0,
      put: 0,
      list: 0,
    });
    expect(p.producer.cpuCores).toBe(0);
  });

  it('counts polls in closed form, however long the time between versions', () => {
    // 1, 2, 4, 8, 16 s, then every 30 s: a day between versions is 5 + 2,880 − 1 polls, + 1.
    expect(consumerRequestsPerVersion(DEFAULT_SETTINGS, 86_400_000).check).toBe(
      1 + 5 + Math.ceil((86_400_000 - 31_000) / 30_000) - 1,
    );
  });
});

describe('shoal plan', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-plan-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints the plan of a given shape as JSON', async () => {
    const { code, stdout } = await cli(
      'plan',
      '--records',
      'Movie=1000000',
      '--bytes-per-record',
      '43',
      '--changes-per-second',
      '2000',
      '--consumers',
      '1000',
      '--cadence',
      '60s',
      '--json',
    );
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.input).toMatchObject({ changesPerSecond: 2000, consumers: 1000, cadenceMs: 60_000 });
    expect(out.plan.snapshotBytes).toBe(43_000_000);
    expect(out.plan.options.maxBatchDelayMs).toBe(60_000);
    expect(out.plan.options.maxBatchRecords).toBe(240_000);
    expect(out.calibration.source).toMatch(/reference machine/);
    // The bytes watermark: twice what highWatermark changes of the average size log.
    const hw = out.plan.options.highWatermark;
    expect(out.plan.options.highWatermarkBytes).toBe(
      Math.ceil(Math.max(1024 * 1024, 2 * hw * 43 * REFERENCE_CALIBRATION.logBytesPerChange)),
    );
    // shoal produce holds the input as objects while it re-states it: 930 bytes a 43-byte record.
    const states = REFERENCE_CALIBRATION.consumerBaseBytes + 2 * 43_000_000;
    expect(out.plan.producer.restateMemoryBytes).toBeCloseTo(states + 1_000_000 * 930, 0);
    expect(out.plan.producer.memoryBytes).toBeLessThan(out.plan.producer.restateMemoryBytes);
    expect(out.measured).toEqual([]);
  });

  it('prints a table by default, naming the recommended options', async () => {
    const { code, stdout } = await cli('plan', '--records', 'Movie=1000', '--bytes-per-record', 'Movie=50');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^records +1,000$/m);
    expect(stdout).toMatch(/^snapshot +0\.1 MB$/m);
    expect(stdout).toMatch(/^ {2}highWatermark: \d+$/m);
    expect(stdout).toMatch(/^ {2}highWatermarkBytes: \d+$/m);
    expect(stdout).toMatch(/^ {2}shoal produce, re-stating +\d+\.\d MB$/m);
    expect(stdout).toMatch(/^measured: nothing/m);
  });

  it('measures the shape of a snapshot file and of an announced namespace', async () => {
    const A = t.object('A', { id: t.int(), name: t.string() }, { primaryKey: 'id' });
    const B = t.object('B', { id: t.int() }, { primaryKey: 'id' });
    const schema = t.schema([A, B]);
    const builder = new StateBuilder(schema);
    for (let i = 0; i < 300; i++) builder.add('A', { id: i, name: `name ${i}` });
    for (let i = 0; i < 100; i++) builder.add('B', { id: i });
    const bytes = encodeSnapshot(builder.build({ version: 1, tag: 1n }));
    const file = join(dir, 'x.snapshot');
    await writeFile(file, bytes);
    const fromFile = JSON.parse((await cli('plan', '--snapshot', file, '--json')).stdout);
    expect(fromFile.input.types.map((x: { name: string; records: number }) => [x.name, x.records])).toEqual([
      ['A', 300],
      ['B', 100],
    ]);
    expect(fromFile.plan.snapshotBytes).toBeCloseTo(bytes.byteLength, 6);

    const producer = await Producer.open({
      store: new FsBlobStore({ dir: join(dir, 'store') }),
      namespace: 'ns',
      schema,
      walDir: join(dir, 'wal'),
      fsync: false,
    });
    await producer.runCycle((w) => {
      for (let i = 0; i < 300; i++) w.add('A', { id: i, name: `name ${i}` });
    });
    await new Promise((r) => setTimeout(r, 20));
    await producer.upsert('B', { id: 1 });
    let deltaBytes = 0;
    producer.on('published', (p) => {
      if (p.role === 'delta') deltaBytes = p.bytes;
    });
    await producer.flush();
    await producer.close();
    expect(deltaBytes).toBeGreaterThan(0);
    const fromStore = JSON.parse(
      (await cli('plan', '--store', join(dir, 'store'), '--namespace', 'ns', '--json')).stdout,
    );
    expect(fromStore.input.types.map((x: { name: string; records: number }) => [x.name, x.records])).toEqual([
      ['A', 300],
      ['B', 1],
    ]);
    // The cadence is measured from the two versions' publish times, the delta from the second
    // version's header (no change rate given: the rate follows from the delta).
    expect(fromStore.input.cadenceMs).toBeGreaterThan(0);
    expect(fromStore.measured).toEqual([
      'records',
      'bytesPerRecord',
      'cadenceMs',
      'deltaBytes',
      'changesPerSecond',
    ]);
    expect(fromStore.plan.deltaBytes).toBe(deltaBytes);
    expect(fromStore.input.measuredDeltaBytes).toBe(deltaBytes);
    const table = (await cli('plan', '--store', join(dir, 'store'), '--namespace', 'ns')).stdout;
    expect(table).toMatch(/^delta \(and reverse delta\) .*\(measured: median of 1 recent deltas\)$/m);
    // A change rate given is planned for: the delta is modelled from it, not measured.
    const given = JSON.parse(
      (
        await cli(
          'plan',
          '--store',
          join(dir, 'store'),
          '--namespace',
          'ns',
          '--changes-per-second',
          '5',
          '--json',
        )
      ).stdout,
    );
    expect(given.measured).not.toContain('deltaBytes');
    expect(given.input.measuredDeltaBytes).toBeUndefined();
  });

  it('takes numbers in exponent notation, and refuses one past what a double holds', async () => {
    const ok = await cli(
      'plan',
      '--records',
      'M=1e4',
      '--bytes-per-record',
      '43',
      '--changes-per-second',
      '1e3',
      '--json',
    );
    // A count stays a whole number in decimal; a rate may be 1e3.
    expect(ok.code).toBe(2);
    const r = await cli(
      'plan',
      '--records',
      'M=10000',
      '--bytes-per-record',
      '43',
      '--changes-per-second',
      '1e3',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).input.changesPerSecond).toBe(1000);
    const huge = await cli(
      'plan',
      '--records',
      'M=10000',
      '--bytes-per-record',
      '43',
      '--changes-per-second',
      '1e999',
    );
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('--changes-per-second needs');
  });

  it('calibrates on this machine when asked', async () => {
    const { code, stdout } = await cli(
      'plan',
      '--records',
      'M=10000',
      '--bytes-per-record',
      '43',
      '--calibrate',
      '--sample',
      '4000',
      '--json',
    );
    expect(code).toBe(0);
    const { calibration } = JSON.parse(stdout);
    expect(calibration.source).toMatch(/calibrated on this machine \(4,000 sample records\)/);
    for (const k of [
      'ackMsPerChange',
      'cycleMsPerChange',
      'snapshotMsPerRecord',
      'deltaBytesPerChange',
      'consumerBaseBytes',
    ]) {
      expect(calibration[k], k).toBeGreaterThan(0);
    }
    expect(calibration.sampleBytesPerRecord).toBeGreaterThan(10);
    // Measured per change only (calibrate.ts says why); the refresh's own memory, on Linux.
    expect(calibration.cycleMsPerRecord).toBe(0);
    expect(calibration.refreshBytesPerChange).toBeGreaterThanOrEqual(0);
  });

  it.each([
    [['plan'], /plan needs the dataset/],
    [
      ['plan', '--records', 'M=10', '--bytes-per-record', '4', '--cadence', '5x'],
      /--cadence needs a duration/,
    ],
    [['plan', '--records', 'M=10'], /--bytes-per-record has no size for M/],
    [['plan', '--records', '10', '--bytes-per-record', '4'], /--records needs Type=<number>/],
    [
      ['plan', '--records', 'M=10', '--bytes-per-record', '4', '--sample', '100'],
      /--sample goes with --calibrate/,
    ],
  ])('refuses bad usage with exit 2: %j', async (args, message) => {
    const { code, stderr } = await cli(...args);
    expect(code).toBe(2);
    expect(stderr.split('\n')[0]).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
