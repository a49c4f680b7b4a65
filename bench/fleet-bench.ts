/**
 * The fleet section: K consumers on s3rver, each set behind a request-counting HTTP proxy of
 * its own, following one producer that publishes a version every 2 s (10 changed records of
 * 1,000), then goes quiet, then publishes one more. Three sets follow it at once:
 * - `poll`: the defaults (polls aimed at the producer's cadence, backing off when quiet);
 * - `push`: the defaults plus the NATS path (a real nats-server started here);
 * - `baseline`: polls backing off from 1 s after each version (`followCadence: false`), as the
 *   watcher did before it learnt the cadence.
 * Printed per set: requests per consumer per version by kind, idle requests per minute, and
 * announce → served at the steady cadence and after the quiet spell; then the monthly request
 * cost at S3 list prices for 1,000 and 10,000 consumers.
 *
 * Flags (after `npm run bench --`): --consumers K (default 20), --versions V at the cadence
 * (default 14, the first 4 not measured), --quiet-s S (default 60: idle requests are counted
 * over its second half, when the polls have reached their 30 s cap).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Consumer, Producer, t } from '../src/index.ts';
import { NatsAnnouncementPush, NatsAnnouncer } from '../src/nats.ts';
import { S3BlobStore } from '../src/s3.ts';
import { keyKind } from '../test/support/counting-store.ts';
import { NATS_SERVER, startNats } from '../test/support/nats-server.ts';
import { BUCKET, startS3 } from '../test/support/s3-server.ts';
import { type Row, table, verdict } from './harness.ts';

const CADENCE_MS = 2000;
const RECORDS = 1000;
const NS = 'fleet/movies';
// S3 Standard list prices (us-east-1): GET and HEAD $0.0004 per 1,000; PUT and LIST $0.005.
const GET_PRICE = 0.0004 / 1000;
const MONTH_MIN = 30 * 24 * 60;

/** A proxy before s3rver that counts requests by method, key kind and (for GETs) status. */
async function countingProxy(upstream: string) {
  const target = new URL(upstream);
  let counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(req.url!.split('?')[0]!);
    const kind = req.url!.includes('list-type') ? 'list' : keyKind(path);
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        const name = `${req.method} ${kind}${r.statusCode === 304 ? ' (304)' : ''}`;
        counts.set(name, (counts.get(name) ?? 0) + 1);
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    take(): Map<string, number> {
      const out = counts;
      counts = new Map();
      return out;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const pct = (xs: readonly number[], p: number) =>
  xs.length === 0
    ? Number.NaN
    : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const sec = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(x / 1000).toFixed(2)} s`);
const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const usd = (x: number) => `$${x < 10 ? x.toFixed(2) : Math.round(x).toLocaleString('en')}`;

export async function fleetBench(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    strict: false,
    options: {
      consumers: { type: 'string', default: '20' },
      versions: { type: 'string', default: '14' },
      'quiet-s': { type: 'string', default: '60' },
    },
  });
  const k = Number(values.consumers);
  const versions = Number(values.versions);
  const quietMs = Number(values['quiet-s']) * 1000;
  if (!(Number.isSafeInteger(k) && k >= 1 && versions >= 6 && quietMs >= 1000))
    throw new Error('--consumers ≥ 1, --versions ≥ 6, --quiet-s ≥ 1');
  const s3 = await startS3();
  const nats = NATS_SERVER ? await startNats() : undefined;
  if (!nats)
    console.log('\n(nats-server is not installed: the push set is left out; apt-get install nats-server)');
  const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
  const schema = t.schema([Movie]);
  const direct = new S3BlobStore({ client: s3.client(), bucket: BUCKET, prefix: 'fleet' });
  const announcer = nats ? new NatsAnnouncer({ store: direct, namespace: NS, servers: nats.url }) : undefined;
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const walDir = await mkdtemp(join(tmpdir(), 'shoal-fleet-'));
  const producer = await Producer.open({
    store: direct,
    namespace: NS,
    schema,
    walDir,
    fsync: false,
    cycleThread: 'main',
    ...(announcer ? { announcer } : {}),
  });
  await producer.runCycle((w) => {
    for (let i = 0; i < RECORDS; i++) w.add('Movie', { id: i, title: `movie ${i}` });
  });

  const announcedAt = new Map<number, number>();
  const sets = [
    { name: 'poll', size: k, options: {} },
    ...(nats ? [{ name: 'push (NATS)', size: k, options: { push: 'nats' } }] : []),
    { name: 'baseline', size: Math.min(k, 20), options: { followCadence: false } },
  ];
  interface Fleet {
    readonly name: string;
    readonly size: number;
    readonly proxy: Awaited<ReturnType<typeof countingProxy>>;
    readonly push: NatsAnnouncementPush | undefined;
    readonly served: { version: number; at: number }[];
    readonly seen: { version: number; at: number }[];
    readonly consumers: Consumer[];
  }
  const fleets: Fleet[] = [];
  for (const set of sets) {
    const proxy = await countingProxy(s3.endpoint);
    const push = set.options.push ? new NatsAnnouncementPush({ servers: nats!.url }) : undefined;
    const served: { version: number; at: number }[] = [];
    const seen: { version: number; at: number }[] = [];
    const consumers: Consumer[] = [];
    for (let i = 0; i < set.size; i++) {
      const store = new S3BlobStore({ client: s3.client(proxy.endpoint), bucket: BUCKET, prefix: 'fleet' });
      const c = await Consumer.open({
        store,
        namespace: NS,
        ...(push ? { push } : {}),
        ...('followCadence' in set.options ? { followCadence: false } : {}),
      });
      c.on('announcement', (a) => {
        if (!announcedAt.has(a.version)) announcedAt.set(a.version, a.announcedAt);
        seen.push({ version: a.version, at: Date.now() });
      });
      c.on('refresh', (r) => served.push({ version: r.to, at: Date.now() }));
      consumers.push(c);
    }
    fleets.push({ name: set.name, size: set.size, proxy, push, served, seen, consumers });
  }
  // Give the push sets their watch before the clock starts.
  await new Promise((r) => setTimeout(r, 500));
  for (const f of fleets) f.proxy.take();

  const step = async (n: number) => {
    for (let j = 0; j < 10; j++)
      await producer.upsert('Movie', { id: (n * 10 + j) % RECORDS, title: `cut ${n}.${j}` });
    await producer.flush();
    return producer.version!;
  };
  const latencies = (f: Fleet, vs: readonly number[], at = f.served) => {
    const out: number[] = [];
    for (const v of vs) {
      for (const s of at) if (s.version === v && announcedAt.has(v)) out.push(s.at - announcedAt.get(v)!);
    }
    return out;
  };
  const everyoneHas = async (v: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !fleets.every((f) => f.consumers.every((c) => c.version >= v)))
      await new Promise((r) => setTimeout(r, 50));
  };

  // The steady cadence: a version every 2 s; the first 4 teach the polls the cadence.
  const steady: number[] = [];
  const t0 = Date.now();
  for (let n = 1; n <= versions; n++) {
    const at = t0 + n * CADENCE_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
    const v = await step(n);
    if (n === 4) for (const f of fleets) f.proxy.take();
    if (n > 4) steady.push(v);
  }
  await new Promise((r) => setTimeout(r, CADENCE_MS));
  const steadyCounts = fleets.map((f) => f.proxy.take());
  // The quiet spell: idle requests counted over its second half (the polls have backed off).
  await new Promise((r) => setTimeout(r, quietMs / 2));
  for (const f of fleets) f.proxy.take();
  await new Promise((r) => setTimeout(r, quietMs / 2));
  const idleCounts = fleets.map((f) => f.proxy.take());
  const last = await step(versions + 1);
  await everyoneHas(last, 60_000);
  await new Promise((r) => setTimeout(r, 200));

  const measured = steady.length;
  const rows: Row[] = [];
  const cost: Row[] = [];
  const base = fleets.findIndex((f) => f.name === 'baseline');
  const perVersion = (i: number) => sum(steadyCounts[i]!) / fleets[i]!.size / measured;
  for (const [i, f] of fleets.entries()) {
    const kinds = [...steadyCounts[i]!].sort(([a], [b]) => a.localeCompare(b));
    const byKind = kinds.map(([name, c]) => `${name} ${(c / f.size / measured).toFixed(2)}`).join(', ');
    const idlePerMin = sum(idleCounts[i]!) / f.size / (quietMs / 2 / 60_000);
    const lat = latencies(f, steady);
    const heard = latencies(f, steady, f.seen);
    const quiet = latencies(f, [last]);
    const vsBase = i === base ? '' : `${(perVersion(i) / perVersion(base)).toFixed(2)}× baseline`;
    rows.push(
      [
        `${f.name} (${f.size}): requests / consumer / version`,
        perVersion(i).toFixed(2),
        vsBase,
        f.name === 'baseline' ? '' : verdict(perVersion(i) <= 3, '≤ 3 (target 2)'),
      ],
      [`${f.name}: by kind`, byKind || 'none', '', ''],
      [
        `${f.name}: idle requests / consumer / minute`,
        idlePerMin.toFixed(2),
        '',
        f.name === 'baseline' ? '' : verdict(idlePerMin <= 2.05, '≤ 2'),
      ],
      [
        `${f.name}: announce → served at 2 s, p50 / p95 / max`,
        `${sec(pct(lat, 0.5))} / ${sec(pct(lat, 0.95))} / ${sec(Math.max(...lat))}`,
        '',
        f.name === 'baseline'
          ? ''
          : verdict(pct(lat, 0.95) <= (f.push ? 500 : 1500), `p95 ≤ ${f.push ? '0.5' : '1.5'} s`),
      ],
      [
        `${f.name}:   announce → announcement seen, p50 / p95 / max`,
        `${sec(pct(heard, 0.5))} / ${sec(pct(heard, 0.95))} / ${sec(Math.max(...heard))}`,
        '',
        '',
      ],
      [
        `${f.name}: after ${quietMs / 1000} s quiet, p50 / p95 / max`,
        `${sec(pct(quiet, 0.5))} / ${sec(pct(quiet, 0.95))} / ${sec(Math.max(...quiet))}`,
        '',
        f.push ? verdict(pct(quiet, 0.95) <= 500, 'p95 ≤ 0.5 s') : '',
      ],
    );
    for (const fleet of [1000, 10_000]) {
      const idle = fleet * idlePerMin * MONTH_MIN * GET_PRICE;
      const busy = fleet * perVersion(i) * ((MONTH_MIN * 60_000) / CADENCE_MS) * GET_PRICE;
      cost.push([
        `${f.name}: ${fleet.toLocaleString('en')} consumers, idle / a version every 2 s`,
        `${usd(idle)} / ${usd(busy)} a month`,
        '',
        '',
      ]);
    }
  }
  table(
    `fleet: ${k} consumers per set on s3rver, a version every 2 s (${measured} measured), then ${quietMs / 1000} s quiet`,
    rows,
  );
  table('fleet: monthly request cost at S3 list prices (GET/HEAD $0.0004 per 1,000)', cost);

  // The proxies first: a request still under way through one ends there, so no close waits on it.
  for (const f of fleets) await f.proxy.close();
  for (const f of fleets) {
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      Promise.all(f.consumers.map((c) => c.close())).then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), 15_000))),
    ]);
    clearTimeout(timer);
    if (!closed) console.log(`(${f.name}: consumers still closing after 15 s)`);
    await f.push?.close();
  }
  await producer.close();
  await announcer?.close();
  await nats?.close();
  await s3.close();
  await rm(walDir, { recursive: true, force: true });
}
