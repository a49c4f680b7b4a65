/**
 * One row per tuning profile, showing the trade it makes, each against `balanced` (the
 * defaults) in the same run: how soon a change is served (a steady stream of upserts into a
 * producer, a consumer following it on the filesystem store), how many changes a second reach
 * an announced version when callers push as hard as they can, and the versions and bytes that
 * cost; the store requests a fleet would make come from the plan (S3 polling is not exercised
 * on the filesystem store).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plan } from '../src/cli/capacity-model.ts';
import { Consumer, FsBlobStore, Producer, TUNING_PROFILES, type TuningProfileName } from '../src/index.ts';
import { ms, type Row, ratio, table } from './harness.ts';
import { movie, movieSchema } from './movies.ts';

interface ProfileFigures {
  p50: number;
  p95: number;
  perSecond: number;
  versionsPer10k: number;
  bytesPer10k: number;
  requestsPerHour: number;
}

async function measure(profile: TuningProfileName, records: number, dir: string): Promise<ProfileFigures> {
  const store = new FsBlobStore({ dir: join(dir, profile) });
  const producer = await Producer.open({
    store,
    namespace: 'movies',
    schema: movieSchema,
    walDir: join(dir, `${profile}-wal`),
    profile,
  });
  await producer.runCycle((w) => {
    for (let i = 0; i < records; i++) w.add('Movie', movie(i));
  });
  const consumer = await Consumer.open({ store, namespace: 'movies', schema: movieSchema, profile });
  let versions = 0;
  let bytes = 0;
  producer.on('announced', () => versions++);
  producer.on('published', (p) => {
    bytes += p.bytes;
  });

  // Served latency: 100 upserts every 10 ms for 2 s; a tick is served once its last record's
  // title reads back from the consumer's state.
  const ticks: { id: number; title: string; sentAt: number }[] = [];
  const latencies: number[] = [];
  let seen = 0;
  const off = consumer.on('refresh', () => {
    const now = performance.now();
    const movies = consumer.state.type('Movie');
    while (seen < ticks.length && movies.get(ticks[seen]!.id)?.title === ticks[seen]!.title) {
      latencies.push(now - ticks[seen]!.sentAt);
      seen++;
    }
  });
  const streamed = 20_000;
  for (let t = 0; t < streamed / 100; t++) {
    const sentAt = performance.now();
    let last = { id: 0, title: '' };
    for (let j = 0; j < 100; j++) {
      const r = { ...movie((t * 100 + j) % records), title: `${profile} tick ${t} ${j}` };
      void producer.upsert('Movie', r);
      last = { id: r.id, title: r.title };
    }
    ticks.push({ ...last, sentAt });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await producer.flush();
  const deadline = performance.now() + 30_000;
  while (seen < ticks.length && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  off();
  const streamVersions = versions;
  const streamBytes = bytes;

  // Sustained: callers keep at most 10,000 upserts unacknowledged, as fast as they can, until
  // all are in an announced version.
  const total = 200_000;
  const start = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i += 1000) {
    const acks: Promise<void>[] = [];
    for (let j = i; j < i + 1000; j++)
      acks.push(producer.upsert('Movie', { ...movie(j % records), title: `push ${j}` }));
    inFlight.push(Promise.all(acks));
    if (inFlight.length >= 10) await inFlight.shift();
  }
  await Promise.all(inFlight);
  await producer.flush();
  const perSecond = (total / (performance.now() - start)) * 1000;
  await consumer.close();
  await producer.close();

  latencies.sort((a, b) => a - b);
  const p = TUNING_PROFILES[profile];
  const planned = plan({
    types: [{ name: 'Movie', records, bytesPerRecord: 43 }],
    changesPerSecond: 100,
    consumers: 1,
    cadenceMs: p.maxBatchDelayMs,
    options: p,
  });
  return {
    p50: latencies[Math.floor(latencies.length / 2)] ?? Number.NaN,
    p95: latencies[Math.floor(latencies.length * 0.95)] ?? Number.NaN,
    perSecond,
    versionsPer10k: (streamVersions / streamed) * 10_000,
    bytesPer10k: (streamBytes / streamed) * 10_000,
    requestsPerHour: (planned.requests.perMinute.get + planned.requests.perMinute.check) * 60,
  };
}

export async function profileBench(n: number): Promise<void> {
  const records = Math.min(n, 100_000);
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-profiles-'));
  try {
    const figures = {} as Record<TuningProfileName, ProfileFigures>;
    for (const name of ['balanced', 'throughput', 'latency'] as const)
      figures[name] = await measure(name, records, dir);
    const base = figures.balanced;
    const rows: Row[] = [];
    for (const name of ['throughput', 'balanced', 'latency'] as const) {
      const f = figures[name];
      rows.push(
        [
          `${name}: change → served, p50 / p95`,
          `${ms(f.p50)} / ${ms(f.p95)}`,
          ratio(f.p50 / base.p50),
          '100 upserts every 10 ms, 2 s',
        ],
        [
          `  sustained changes/s into announced versions`,
          Math.round(f.perSecond).toLocaleString('en'),
          ratio(f.perSecond / base.perSecond),
        ],
        [
          `  versions and bytes per 10,000 streamed changes`,
          `${f.versionsPer10k.toFixed(1)} versions, ${(f.bytesPer10k / 1e6).toFixed(2)} MB`,
          ratio(f.versionsPer10k / base.versionsPer10k),
        ],
        [
          `  S3 reads per consumer-hour at its cadence (plan)`,
          Math.round(f.requestsPerHour).toLocaleString('en'),
          ratio(f.requestsPerHour / base.requestsPerHour),
        ],
      );
    }
    table(`Tuning profiles: ${records.toLocaleString('en')} Movie records, each against balanced`, rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
