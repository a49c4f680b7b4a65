/**
 * Two producers whose cycles start together and pick the same version (the clock is the
 * subject here, so it is fixed for the race): blobs are created, never overwritten, so exactly
 * one cycle resolves, the other rejects with ANNOUNCE_CONFLICT and leaves nothing behind, the
 * announced version loads and holds exactly the winner's records, and a live and a fresh
 * consumer follow the winner's next version. On a filesystem, in memory, and on S3 semantics
 * (s3rver behind the front that enforces If-None-Match / If-Match, as AWS S3 does).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type BlobStore,
  Consumer,
  decodeVersionHeader,
  FsBlobStore,
  isShoalError,
  MemoryBlobStore,
  NamespaceLayout,
  Producer,
  StoreAnnouncer,
  t,
} from '../src/index.ts';
import { S3BlobStore } from '../src/s3.ts';
import { BUCKET } from './support/s3-server.ts';
import { useS3Front, useStores } from './support/stores.ts';
import { until } from './support/wait.ts';

const Item = t.object('Item', { id: t.int(), owner: t.string() }, { primaryKey: 'id' });
const schema = t.schema([Item]);
const { tempDir } = useStores('two-producers');
const { s3, front } = useS3Front();

const STORES: { name: string; make: () => Promise<BlobStore> }[] = [
  { name: 'filesystem', make: async () => new FsBlobStore({ dir: await tempDir(), fsync: false }) },
  { name: 'memory', make: async () => new MemoryBlobStore() },
  {
    name: 's3 (conditional writes enforced)',
    make: async () =>
      new S3BlobStore({
        client: s3().client(front().endpoint),
        bucket: BUCKET,
        prefix: `race${Math.random().toString(36).slice(2)}`,
      }),
  },
];

/** A producer of the test's schema on `store`, with a fresh log. */
const openProducer = async (
  store: BlobStore,
  namespace: string,
  extra: Partial<Parameters<typeof Producer.open>[0]> = {},
) =>
  Producer.open({
    store,
    namespace,
    schema,
    walDir: join(await tempDir(), 'wal'),
    fsync: false,
    cycleThread: 'main',
    ...extra,
  });

afterEach(() => {
  vi.restoreAllMocks();
});

const ROUNDS = 20;

describe.each(STORES)('two producers on one version: $name', ({ make }) => {
  it(`one wins and one rejects, in ${ROUNDS} rounds; consumers follow the winner`, async () => {
    const store = await make();
    const tally = { a: 0, b: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const namespace = `ns${round}`;
      const open = (name: string) =>
        openProducer(store, namespace, { snapshotEvery: 1 + (round % 3), producerId: name });
      const a = await open('a');
      await a.runCycle((w) => w.add('Item', { id: 0, owner: 'base' }));
      const b = await open('b');
      const live = await Consumer.open({ store, namespace, watch: false });
      expect(b.version).toBe(a.version);

      // Both cycles start in the same millisecond, so both choose the same version.
      const now = Date.now() + 1000 + round;
      vi.spyOn(Date, 'now').mockReturnValue(now);
      const rows = (owner: string) => (w: { add(type: 'Item', r: { id: number; owner: string }): void }) => {
        for (let id = 0; id < 20; id++) w.add('Item', { id, owner: `${owner}${round}` });
      };
      const [ra, rb] = await Promise.allSettled([a.runCycle(rows('a')), b.runCycle(rows('b'))]);
      vi.restoreAllMocks();
      const outcomes = [ra, rb].map((r) => r.status);
      expect(outcomes.sort(), `round ${round}`).toEqual(['fulfilled', 'rejected']);
      const loserError = (
        ra.status === 'rejected' ? ra.reason : (rb as PromiseRejectedResult).reason
      ) as unknown;
      expect(isShoalError(loserError) && loserError.code, `round ${round}`).toBe('ANNOUNCE_CONFLICT');
      const winner = ra.status === 'fulfilled' ? a : b;
      const loser = winner === a ? b : a;
      const owner = `${winner === a ? 'a' : 'b'}${round}`;
      tally[winner === a ? 'a' : 'b']++;

      // The announced version is the winner's, whole, loaded from nothing.
      const announced = (await new StoreAnnouncer({ store, namespace }).read())!;
      expect(announced.version).toBe(now);
      expect(announced.version).toBe(winner.version);
      const fresh = await Consumer.open({ store, namespace, watch: false });
      expect([...fresh.state.type('Item')].map((v) => v.owner)).toEqual(Array(20).fill(owner));
      // The version's header is the winner's, and the loser left no blob of its own.
      const layout = new NamespaceLayout(namespace);
      const header = decodeVersionHeader(await store.get(layout.header(now)), layout.header(now));
      expect(header.tag).toBe(winner.state!.tag);
      for (const key of await store.list(`${namespace}/`)) {
        if (!key.includes(String(now).padStart(16, '0'))) continue;
        expect(
          key === layout.header(now) ||
            key === layout.snapshot(now) ||
            key === layout.delta(header.previous!, now) ||
            key === layout.reverse(now, header.previous!),
          key,
        ).toBe(true);
        if (key === layout.snapshot(now)) expect(header.snapshot).toBe(now);
      }

      // The winner goes on; a live consumer and a fresh one follow it.
      await winner.runCycle((w) => {
        for (let id = 0; id < 21; id++) w.add('Item', { id, owner: `${owner}-next` });
      });
      await live.refresh();
      expect(live.version).toBe(winner.version);
      expect(live.state.type('Item').get(20)?.owner).toBe(`${owner}-next`);
      await fresh.refresh();
      expect(fresh.version).toBe(winner.version);
      await live.close();
      await fresh.close();
      await loser.close().catch(() => {});
      await winner.close();
    }
    // Each side won some rounds, or the race was never a race: report it either way.
    expect(tally.a + tally.b).toBe(ROUNDS);
  }, 120_000);
});

/** Runs one two-process round on `namespace`; both children take `version`. */
async function processRound(storeSpec: object, store: BlobStore, namespace: string, version: number) {
  const base = await openProducer(store, namespace);
  await base.runCycle((w) => w.add('Item', { id: 0, owner: 'base' }));
  await base.close();
  const go = join(await tempDir(), 'go');
  const tsx = pathToFileURL(join(import.meta.dirname, '../node_modules/tsx/dist/loader.mjs')).href;
  const script = join(import.meta.dirname, 'fixtures/race-producer.ts');
  const children = await Promise.all(
    ['a', 'b'].map(async (owner) => {
      const walDir = join(await tempDir(), 'wal');
      const child = spawn(
        process.execPath,
        ['--import', tsx, script, JSON.stringify(storeSpec), namespace, walDir, String(version), owner, go],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      return { owner, child, exited, out: () => out };
    }),
  );
  try {
    // Ten processes start at once here; on a loaded two-core machine that takes a while.
    await until(() => children.every((c) => c.out().includes('ready')), 90_000, 'both producers ready');
    await writeFile(go, '');
    await Promise.all(children.map((c) => c.exited));
  } finally {
    // A round that failed leaves no producer behind (they would wait for "go" forever).
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
  return children.map((c) => ({ owner: c.owner, result: JSON.parse(c.out().trim().split('\n').at(-1)!) }));
}

describe.each([
  { name: 'filesystem', spec: async () => ({ dir: await tempDir() }) },
  {
    name: 's3 (conditional writes enforced)',
    spec: async () => ({
      endpoint: front().endpoint,
      bucket: BUCKET,
      prefix: `p${Math.random().toString(36).slice(2)}`,
    }),
  },
])('two producers in two processes on one version: $name', ({ spec }) => {
  it(`one wins and one rejects, in ${ROUNDS} rounds`, async () => {
    const storeSpec = await spec();
    const store: BlobStore =
      'dir' in storeSpec
        ? new FsBlobStore({ dir: storeSpec.dir, fsync: false })
        : new S3BlobStore({
            client: s3().client(front().endpoint),
            bucket: BUCKET,
            prefix: storeSpec.prefix,
          });
    const wins = { a: 0, b: 0 };
    // Five rounds at a time, each on a namespace of its own.
    for (let first = 0; first < ROUNDS; first += 5) {
      const rounds = Array.from({ length: 5 }, (_, k) => first + k);
      const results = await Promise.all(
        rounds.map((round) => processRound(storeSpec, store, `proc${round}`, Date.now() + 60_000 + round)),
      );
      for (const [k, outcomes] of results.entries()) {
        const namespace = `proc${rounds[k]}`;
        const winners = outcomes.filter((o) => o.result.outcome === 'published');
        const losers = outcomes.filter((o) => o.result.error === 'ANNOUNCE_CONFLICT');
        expect({ winners: winners.length, losers: losers.length }, namespace).toEqual({
          winners: 1,
          losers: 1,
        });
        const winner = winners[0]!.owner as 'a' | 'b';
        wins[winner]++;
        const fresh = await Consumer.open({ store, namespace, watch: false });
        expect(fresh.version).toBe(winners[0]!.result.version);
        expect([...fresh.state.type('Item')].map((v) => v.owner)).toEqual(Array(20).fill(winner));
        await fresh.close();
      }
    }
    expect(wins.a + wins.b).toBe(ROUNDS);
  }, 240_000);
});

describe('an announcement whose answer is lost', () => {
  it('counts as made when the store holds it, so the producer goes on', async () => {
    const inner = new MemoryBlobStore();
    let loseNext = false;
    // The write lands, then the answer is lost (as a timeout after the server wrote it would).
    const store: BlobStore = {
      get: (k, o) => inner.get(k, o),
      head: (k, o) => inner.head(k, o),
      list: (p, o) => inner.list(p, o),
      delete: (k, o) => inner.delete(k, o),
      put: async (k, b, o) => {
        const info = await inner.put(k, b, o);
        if (loseNext && k.endsWith('/announced')) {
          loseNext = false;
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        }
        return info;
      },
    };
    const producer = await openProducer(store, 'lost');
    await producer.runCycle((w) => w.add('Item', { id: 1, owner: 'one' }));
    loseNext = true;
    expect((await producer.runCycle((w) => w.add('Item', { id: 1, owner: 'two' }))).outcome).toBe(
      'published',
    );
    expect(producer.conflict).toBeUndefined();
    expect((await producer.runCycle((w) => w.add('Item', { id: 1, owner: 'three' }))).outcome).toBe(
      'published',
    );
    const consumer = await Consumer.open({ store, namespace: 'lost', watch: false });
    expect(consumer.state.type('Item').get(1)?.owner).toBe('three');
    await consumer.close();
    await producer.close();
  });
});
