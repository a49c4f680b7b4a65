import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr/pack';
import { describe, expect, it } from 'vitest';
import { StoreAnnouncer } from '../src/blob/announcer.ts';
import type { BlobStore } from '../src/blob/blob-store.ts';
import { planFromSnapshot, readVersionHeader } from '../src/blob/chain-planner.ts';
import { FsBlobStore } from '../src/blob/fs-blob-store.ts';
import { NamespaceLayout } from '../src/blob/namespace-layout.ts';
import { serveProducerHealth } from '../src/observability.ts';
import { Producer } from '../src/producer/producer.ts';
import { STAGES } from '../src/producer/producer-events.ts';
import { t } from '../src/schema/index.ts';
import { useStores } from './support/stores.ts';
import { until } from './support/wait.ts';

const Movie = t.object('Movie', { id: t.int(), title: t.string(), year: t.int() }, { primaryKey: 'id' });
const schema = t.schema([Movie]);
const movie = (id: number, rev = 0) => ({ id, title: `m${id} r${rev}`, year: 1990 + (id % 30) });
const layout = new NamespaceLayout('movies');

const { tempDir, stores } = useStores('producer');

const open = async (
  store: BlobStore,
  walDir: string,
  extra: Partial<Parameters<typeof Producer.open>[0]> = {},
) =>
  Producer.open({
    store,
    namespace: 'movies',
    schema,
    walDir,
    fsync: false,
    maxBatchDelayMs: 60_000,
    ...extra,
  });

const addAll = (w: { add(type: string, r: object): void }, ids: number[]) => {
  for (const i of ids) w.add('Movie', movie(i));
};
const records = (p: Producer) =>
  [...(p.state?.type('Movie') ?? [])]
    .map((v) => v.toObject())
    .sort((a, b) => (a.id as number) - (b.id as number));

describe.each(stores)('producer on $name', ({ make }) => {
  it('continues the chain after a restart: v3 is a delta from v2', async () => {
    const store = await make();
    const walDir = await tempDir();
    const p1 = await open(store, walDir);
    const r1 = await p1.runCycle((w) => addAll(w, [1, 2, 3]));
    const r2 = await p1.runCycle((w) => addAll(w, [1, 2, 3, 4]));
    expect(r1).toMatchObject({ outcome: 'published', snapshot: true });
    expect(r2).toMatchObject({ outcome: 'published', snapshot: false });
    await p1.close();
    const p2 = await open(store, walDir);
    const v2 = (r2 as { version: number }).version;
    expect(p2.version).toBe(v2);
    expect(records(p2)).toEqual([1, 2, 3, 4].map((i) => movie(i)));
    await p2.upsert('Movie', movie(2, 1));
    await p2.delete('Movie', 1);
    const r3 = await p2.flush();
    expect(r3).toMatchObject({ outcome: 'published', snapshot: false });
    const v3 = (r3 as { version: number }).version;
    const header = await readVersionHeader(store, layout, v3);
    expect(header).toMatchObject({
      previous: v2,
      snapshot: (r1 as { version: number }).version,
      counts: { Movie: 3 },
    });
    expect(await store.list(`movies/delta/`)).toContain(layout.delta(v2, v3));
    expect(await store.list(`movies/reverse/`)).toContain(layout.reverse(v3, v2));
    const plan = await planFromSnapshot(store, layout, v3);
    expect(plan.deltas.map((d) => d.to.version)).toEqual([v2, v3]);
    expect((await new StoreAnnouncer({ store, namespace: 'movies' }).read())?.version).toBe(v3);
    expect(records(p2)).toEqual([movie(2, 1), movie(3), movie(4)]);
    await p2.close();
    await p2.close();
  });

  it('leaves the announced version as it was when any stage fails, and the next cycle succeeds', async () => {
    const store = await make();
    let failAt: string | undefined;
    const p = await open(store, await tempDir(), {
      beforeStage: (stage) => {
        if (stage === failAt) throw new Error(`injected failure in ${stage}`);
      },
    });
    await p.runCycle((w) => w.add('Movie', movie(1)));
    const announcer = new StoreAnnouncer({ store, namespace: 'movies' });
    const announced = (await announcer.read())!.version;
    const failures: string[] = [];
    p.on('cycle:failure', (f) => failures.push(f.stage));
    for (const stage of STAGES.filter((s) => s !== 'retain')) {
      failAt = stage;
      await expect(p.runCycle((w) => w.add('Movie', movie(2)))).rejects.toMatchObject({
        code: 'CYCLE_FAILED',
      });
      expect((await announcer.read())!.version).toBe(announced);
      expect(p.version).toBe(announced);
    }
    expect(failures).toEqual(['build', 'encode', 'integrity', 'validate', 'publish', 'announce']);
    failAt = undefined;
    const ok = await p.runCycle((w) => w.add('Movie', movie(2)));
    expect(ok.outcome).toBe('published');
    expect((await announcer.read())!.version).toBe((ok as { version: number }).version);
    expect(records(p)).toEqual([movie(2)]);
    await p.close();
  });
});

describe('producer rules', () => {
  it('makes no version when nothing changed', async () => {
    const p = await open(new FsBlobStore({ dir: await tempDir(), fsync: false }), await tempDir());
    await p.runCycle((w) => w.add('Movie', movie(1)));
    const v = p.version;
    expect(await p.runCycle((w) => w.add('Movie', movie(1)))).toEqual({ outcome: 'skipped' });
    await p.upsert('Movie', movie(1));
    expect(await p.flush()).toEqual({ outcome: 'skipped' });
    expect(p.version).toBe(v);
    await p.close();
  });

  it('blocks the announcement when a validator refuses', async () => {
    const store = new FsBlobStore({ dir: await tempDir(), fsync: false });
    const p = await open(store, await tempDir(), {
      maxRecordCountChange: 0.5,
      validators: [({ next }) => (next.type('Movie').has(666) ? 'record 666 is not allowed' : undefined)],
    });
    await p.runCycle((w) => addAll(w, [1, 2, 3, 4]));
    const v = p.version;
    await expect(p.runCycle((w) => addAll(w, [1, 2, 666]))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('record 666 is not allowed'),
    });
    await expect(p.runCycle((w) => w.add('Movie', movie(1)))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('maxRecordCountChange'),
    });
    expect((await new StoreAnnouncer({ store, namespace: 'movies' }).read())!.version).toBe(v);
    await p.close();
  });

  it('refuses a second producer on the namespace with ANNOUNCE_CONFLICT', async () => {
    const store = new FsBlobStore({ dir: await tempDir(), fsync: false });
    const a = await open(store, await tempDir());
    await a.runCycle((w) => w.add('Movie', movie(1)));
    const b = await open(store, await tempDir());
    await a.runCycle((w) => w.add('Movie', movie(2)));
    await expect(b.runCycle((w) => w.add('Movie', movie(3)))).rejects.toMatchObject({
      code: 'ANNOUNCE_CONFLICT',
    });
    expect((await new StoreAnnouncer({ store, namespace: 'movies' }).read())!.version).toBe(a.version);
    // Having lost the namespace, b publishes nothing more (no cycle, no orphan blobs), refuses
    // changes, and says so, until it is reopened.
    expect(b.conflict?.code).toBe('ANNOUNCE_CONFLICT');
    const keys = await store.list('movies/');
    await expect(b.runCycle((w) => w.add('Movie', movie(4)))).rejects.toMatchObject({
      code: 'ANNOUNCE_CONFLICT',
      message: expect.stringContaining('reopen it'),
    });
    await expect(b.upsert('Movie', movie(5))).rejects.toMatchObject({ code: 'ANNOUNCE_CONFLICT' });
    expect(await store.list('movies/')).toEqual(keys);
    await using health = await serveProducerHealth(b, { port: 0 });
    const ready = await fetch(`${health.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('ANNOUNCE_CONFLICT');
    await a.close();
    await b.close();
    // Reopened, it resumes from the announced version.
    const again = await open(store, await tempDir());
    expect(again.version).toBe(a.version);
    expect((await again.runCycle((w) => w.add('Movie', movie(6)))).outcome).toBe('published');
    await again.close();
  });

  it('flushes a batch once maxBatchRecords changes are pending', async () => {
    const p = await open(new FsBlobStore({ dir: await tempDir(), fsync: false }), await tempDir(), {
      maxBatchRecords: 10,
    });
    const published: number[] = [];
    p.on('announced', (a) => published.push(a.version));
    await Promise.all(Array.from({ length: 25 }, (_, i) => p.upsert('Movie', movie(i))));
    await until(() => (p.state?.type('Movie').size ?? 0) >= 20, 5000, 'two batches');
    expect(published.length).toBeGreaterThanOrEqual(1);
    await p.close();
    expect(records(p).length).toBe(25);
  });

  it('pushes back: reject mode fails fast with BACKPRESSURE, wait mode waits for the low watermark', async () => {
    let gate!: () => void;
    const blocked = new Promise<void>((r) => (gate = r));
    const store = new FsBlobStore({ dir: await tempDir(), fsync: false });
    const reject = await open(store, await tempDir(), {
      highWatermark: 5,
      lowWatermark: 2,
      backpressure: 'reject',
      beforeStage: async (s) => {
        if (s === 'publish') await blocked;
      },
    });
    for (let i = 0; i < 5; i++) await reject.upsert('Movie', movie(i));
    await expect(reject.upsert('Movie', movie(99))).rejects.toMatchObject({ code: 'BACKPRESSURE' });
    gate();
    await reject.close();

    let gate2!: () => void;
    const blocked2 = new Promise<void>((r) => (gate2 = r));
    const events: boolean[] = [];
    const wait = await open(new FsBlobStore({ dir: await tempDir(), fsync: false }), await tempDir(), {
      highWatermark: 5,
      lowWatermark: 2,
      beforeStage: async (s) => {
        if (s === 'publish') await blocked2;
      },
    });
    wait.on('backpressure', (b) => events.push(b.on));
    for (let i = 0; i < 5; i++) await wait.upsert('Movie', movie(i));
    let admitted = false;
    const sixth = wait.upsert('Movie', movie(5)).then(() => (admitted = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(admitted).toBe(false);
    gate2();
    await sixth;
    expect(admitted).toBe(true);
    expect(events).toEqual([true, false]);
    await wait.close();
    expect(records(wait).map((m) => m.id)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refuses bad options and records with typed errors', async () => {
    const store = new FsBlobStore({ dir: await tempDir() });
    await expect(open(store, await tempDir(), { snapshotEvery: 0 })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringContaining('snapshotEvery'),
    });
    await expect(open(store, await tempDir(), { highWatermark: 10, lowWatermark: 10 })).rejects.toMatchObject(
      { code: 'INVALID_OPTION' },
    );
    const p = await open(store, await tempDir());
    await expect(p.upsert('Movie', { id: 'x' } as never)).rejects.toMatchObject({ code: 'INVALID_RECORD' });
    await p.close();
    await expect(p.upsert('Movie', movie(1))).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe.each(['worker', 'main'] as const)('upsert batches with cycleThread %s', (cycleThread) => {
  const fsStore = async () => new FsBlobStore({ dir: await tempDir(), fsync: false });

  it('publishes upserts and deletes in order, gives a failed batch back, and continues after a restart', async () => {
    const store = await fsStore();
    const walDir = await tempDir();
    let failAt: string | undefined;
    const p = await open(store, walDir, {
      cycleThread,
      beforeStage: (stage) => {
        if (stage === failAt) throw new Error(`injected failure in ${stage}`);
      },
    });
    const expected = new Map<number, ReturnType<typeof movie>>();
    const upsert = (id: number, rev: number) => {
      expected.set(id, movie(id, rev));
      return p.upsert('Movie', movie(id, rev));
    };
    const remove = (id: number) => {
      expected.delete(id);
      return p.delete('Movie', id);
    };
    await Promise.all([1, 2, 3, 4, 5].map((i) => upsert(i, 0)));
    await upsert(2, 1);
    await remove(3);
    await remove(99);
    expect(p.pendingCount).toBe(8);
    expect(await p.flush()).toMatchObject({ outcome: 'published', snapshot: true });
    expect(records(p)).toEqual([...expected.values()].sort((a, b) => a.id - b.id));
    expect(p.pendingCount).toBe(0);
    if (cycleThread === 'worker') {
      // The producer reads the worker's state over shared memory.
      expect(p.state!.type('Movie').parts.populated.buffer).toBeInstanceOf(SharedArrayBuffer);
    }

    // A batch whose cycle fails stays pending, with what came after it, and goes out next time.
    const announced = p.version;
    await Promise.all([upsert(6, 0), remove(1)]);
    failAt = 'integrity';
    await expect(p.flush()).rejects.toMatchObject({ code: 'CYCLE_FAILED' });
    expect(p.version).toBe(announced);
    expect(p.pendingCount).toBe(2);
    failAt = undefined;
    await upsert(6, 1);
    expect(p.pendingCount).toBe(3);
    expect(await p.flush()).toMatchObject({ outcome: 'published', snapshot: false });
    expect(records(p)).toEqual([...expected.values()].sort((a, b) => a.id - b.id));
    // Published segments are deleted; the one being appended to stays.
    expect((await readdir(walDir)).filter((f) => f.endsWith('.wal'))).toHaveLength(1);
    await p.close();

    const again = await open(store, walDir, { cycleThread });
    await again.upsert('Movie', movie(7));
    expected.set(7, movie(7));
    const r = await again.flush();
    expect(r).toMatchObject({ outcome: 'published', snapshot: false });
    expect(await readVersionHeader(store, layout, (r as { version: number }).version)).toMatchObject({
      previous: p.version,
      counts: { Movie: expected.size },
    });
    expect(records(again)).toEqual([...expected.values()].sort((a, b) => a.id - b.id));
    await again.close();
  });

  it('drops logged changes that no longer fit the schema, with a warning, and publishes the rest', async () => {
    const store = await fsStore();
    const walDir = await tempDir();
    const first = await open(store, walDir, {
      cycleThread,
      beforeStage: (stage) => {
        if (stage === 'publish') throw new Error('store down');
      },
    });
    await Promise.all([first.upsert('Movie', movie(1)), first.upsert('Movie', movie(2))]);
    await expect(first.close()).rejects.toMatchObject({ code: 'CYCLE_FAILED' });

    // The schema changed before the restart: every Movie now needs a rating.
    const Rated = t.object(
      'Movie',
      { id: t.int(), title: t.string(), year: t.int(), rating: t.double() },
      { primaryKey: 'id' },
    );
    const warnings: string[] = [];
    const second = await open(store, walDir, { cycleThread, schema: t.schema([Rated]) });
    second.on('warning', (w) => warnings.push(w.message));
    await second.upsert('Movie', { ...movie(3), rating: 4.5 });
    await second.flush();
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/a logged upsert of Movie was dropped: .*"rating" is required/);
    expect([...second.state!.type('Movie')].map((v) => v.toObject())).toEqual([{ ...movie(3), rating: 4.5 }]);
    await second.close();
  });

  it('refuses a delete whose key has the wrong shape, before logging it', async () => {
    const p = await open(await fsStore(), await tempDir(), { cycleThread });
    await expect(p.delete('Movie', 'one' as never)).rejects.toMatchObject({
      code: 'INVALID_KEY',
      message: expect.stringContaining('must be a 32-bit integer'),
    });
    expect(p.pendingCount).toBe(0);
    await p.close();
  });
});

describe('the cycle worker', () => {
  it('is started again after it dies; the batch it held is published by the next cycle', async () => {
    // The cycle is held before its encode stage (its build done in the worker) until the worker
    // is gone, so the encode meets a dead worker whatever the machine's speed.
    let hold: Promise<void> | undefined;
    let reached = () => {};
    const atEncode = new Promise<void>((resolve) => (reached = resolve));
    const p = await open(new FsBlobStore({ dir: await tempDir(), fsync: false }), await tempDir(), {
      beforeStage: async (stage) => {
        if (stage !== 'encode' || !hold) return;
        reached();
        await hold;
      },
    });
    await p.upsert('Movie', movie(1));
    await p.flush();
    const v1 = p.version;
    // The worker dies (as it would on running out of memory) while a cycle waits on it.
    const worker = (p as unknown as { cycles: { stages: { worker: import('node:worker_threads').Worker } } })
      .cycles.stages.worker;
    let release = () => {};
    hold = new Promise<void>((resolve) => (release = resolve));
    await p.upsert('Movie', movie(2));
    const dying = p.flush();
    await atEncode;
    await worker.terminate();
    hold = undefined;
    release();
    await expect(dying).rejects.toMatchObject({
      code: 'CYCLE_FAILED',
      message: expect.stringContaining('the cycle worker stopped'),
    });
    expect(p.version).toBe(v1);
    await p.upsert('Movie', movie(3));
    expect(await p.flush()).toMatchObject({ outcome: 'published' });
    expect(records(p)).toEqual([movie(1), movie(2), movie(3)]);
    await p.close();
  });
});

// The built package starts dist/producer/cycle-worker.js, not the TypeScript sources: CI builds
// before it tests, so there the check always runs.
const built = join(import.meta.dirname, '../dist/index.js');
describe.runIf(existsSync(built) || process.env.CI)('the built package', () => {
  it('runs its cycles in the worker it ships', async () => {
    const dir = await tempDir();
    const script = `
      const { FsBlobStore, Producer, t } = await import(${JSON.stringify(pathToFileURL(built).href)});
      const Item = t.object('Item', { id: t.int(), v: t.int() }, { primaryKey: 'id' });
      const p = await Producer.open({ store: new FsBlobStore({ dir: ${JSON.stringify(dir)} }), namespace: 'n', schema: t.schema([Item]), walDir: ${JSON.stringify(join(dir, 'wal'))} });
      await Promise.all([1, 2, 3].map((id) => p.upsert('Item', { id, v: id * 10 })));
      const result = await p.flush();
      const items = p.state.type('Item');
      console.log(JSON.stringify({ outcome: result.outcome, records: [...items].map((r) => r.toObject()), shared: items.parts.populated.buffer instanceof SharedArrayBuffer }));
      await p.close();`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))));
    });
    expect(JSON.parse(out)).toEqual({
      outcome: 'published',
      records: [1, 2, 3].map((id) => ({ id, v: id * 10 })),
      shared: true,
    });
  });
});

describe('the write-ahead log', () => {
  it('replays a log left in the first format (one object per entry)', async () => {
    const walDir = await tempDir();
    const payload = new Packr({ useRecords: true, int64AsType: 'bigint' }).pack([
      { op: 'upsert', type: 'Movie', record: movie(1) },
      { op: 'upsert', type: 'Movie', record: movie(2) },
      { op: 'delete', type: 'Movie', key: 1 },
    ]);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(payload.byteLength, 0);
    head.writeUInt32LE(crc32(payload), 4);
    await writeFile(join(walDir, 'segment-0000000001.wal'), Buffer.concat([head, payload]));
    const p = await open(new FsBlobStore({ dir: await tempDir(), fsync: false }), walDir);
    expect(p.pendingCount).toBe(3);
    expect(await p.flush()).toMatchObject({ outcome: 'published' });
    expect(records(p)).toEqual([movie(2)]);
    await p.close();
  });

  // Frames whose CRC is intact but whose payload is not a frame the log writes: each ends the
  // segment's readable frames like a torn one, instead of a TypeError at open, a backlog of NaN
  // or 2^31, or a cycle that fails forever.
  it.each([
    ['null', Uint8Array.from([0xc0])],
    ['a byte that is never msgpack', Uint8Array.from([0xc1, 0xc1])],
    ['a number', Uint8Array.from([0x05])],
    ['an array claiming 2^32 - 1 entries', Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x90])],
    [
      'an entry whose type index is out of range',
      new Packr({ useRecords: true }).pack([['Movie'], 6, movie(9)]),
    ],
  ])('opens past a frame with a valid CRC holding %s, replaying the frames before it', async (_, bad) => {
    const walDir = await tempDir();
    const frame = (payload: Uint8Array) => {
      const head = Buffer.alloc(8);
      head.writeUInt32LE(payload.byteLength, 0);
      head.writeUInt32LE(crc32(payload), 4);
      return Buffer.concat([head, payload]);
    };
    const good = new Packr({ useRecords: true, int64AsType: 'bigint' }).pack([
      ['Movie'],
      0,
      movie(1),
      0,
      movie(2),
    ]);
    await writeFile(join(walDir, 'segment-0000000001.wal'), Buffer.concat([frame(good), frame(bad)]));
    const p = await open(new FsBlobStore({ dir: await tempDir(), fsync: false }), walDir);
    expect(p.pendingCount).toBe(2);
    expect(await p.flush()).toMatchObject({ outcome: 'published' });
    await p.upsert('Movie', movie(3));
    expect(await p.flush()).toMatchObject({ outcome: 'published' });
    expect(records(p)).toEqual([movie(1), movie(2), movie(3)]);
    await p.close();
  });

  it('reports a damaged last frame (whole but unreadable), which is not a torn tail', async () => {
    const walDir = await tempDir();
    const packr = new Packr({ useRecords: true, int64AsType: 'bigint' });
    const frames = [1, 2, 3].map((id) => {
      const payload = packr.pack([['Movie'], 0, movie(id)]);
      const head = Buffer.alloc(8);
      head.writeUInt32LE(payload.byteLength, 0);
      head.writeUInt32LE(crc32(payload), 4);
      return Buffer.concat([head, payload]);
    });
    // A changed letter in the title: the payload still decodes, so its change can be counted.
    frames[2]![frames[2]!.indexOf('m3 r0')]! = 'X'.charCodeAt(0);
    const segment = join(walDir, 'segment-0000000001.wal');
    await writeFile(segment, Buffer.concat(frames));
    const p = await open(new FsBlobStore({ dir: await tempDir(), fsync: false }), walDir);
    expect(p.logDamage).toHaveLength(1);
    expect(p.logDamage[0]).toMatchObject({ file: segment, bytes: frames[2]!.length, changes: 1 });
    expect(await p.flush()).toMatchObject({ outcome: 'published' });
    expect(records(p)).toEqual([movie(1), movie(2)]);
    expect((await readdir(walDir)).filter((n) => n.endsWith('.damaged'))).toEqual([
      'segment-0000000001.wal.damaged',
    ]);
    await p.close();
  });

  it('replays every frame around a damaged one, reports what it lost, and keeps the segment', async () => {
    const walDir = await tempDir();
    const packr = new Packr({ useRecords: true, int64AsType: 'bigint' });
    const frames: Buffer[] = [];
    // 50 frames of 10 upserts each, as 50 acknowledged groups would be.
    for (let f = 0; f < 50; f++) {
      const flat: unknown[] = [['Movie']];
      for (let k = 0; k < 10; k++) flat.push(0, movie(f * 10 + k));
      const payload = packr.pack(flat);
      const head = Buffer.alloc(8);
      head.writeUInt32LE(payload.byteLength, 0);
      head.writeUInt32LE(crc32(payload), 4);
      frames.push(Buffer.concat([head, payload]));
    }
    // One flipped byte inside frame 25's payload.
    frames[25]![40]! ^= 0x01;
    const segment = join(walDir, 'segment-0000000001.wal');
    await writeFile(segment, Buffer.concat(frames));
    const p = await open(new FsBlobStore({ dir: await tempDir(), fsync: false }), walDir);
    const warnings: string[] = [];
    p.on('warning', (e) => warnings.push(e.message));
    expect(p.pendingCount).toBe(490);
    expect(p.logDamage).toEqual([
      {
        file: segment,
        offset: frames.slice(0, 25).reduce((n, b) => n + b.length, 0),
        bytes: frames[25]!.length,
        changes: 10,
      },
    ]);
    expect(await p.flush()).toMatchObject({ outcome: 'published' });
    const ids = records(p).map((m) => m.id as number);
    expect(ids).toHaveLength(490);
    expect(ids.filter((id) => id >= 250 && id < 260)).toEqual([]);
    expect(ids).toContain(260);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('10 change(s) lost');
    // Published, the damaged segment is kept beside the log, never deleted.
    expect((await readdir(walDir)).filter((n) => n.endsWith('.damaged'))).toEqual([
      'segment-0000000001.wal.damaged',
    ]);
    await p.close();
  });

  it('refuses changes with WAL_FAILED once a write fails, keeping what it acknowledged', async () => {
    const walDir = await tempDir();
    const p = await open(new FsBlobStore({ dir: await tempDir(), fsync: false }), walDir);
    await p.upsert('Movie', movie(1));
    // The next segment's path is taken by a directory, so the log cannot continue there.
    await mkdir(join(walDir, 'segment-0000000002.wal'));
    expect(await p.flush()).toMatchObject({ outcome: 'published' });
    await expect(p.upsert('Movie', movie(2))).rejects.toMatchObject({
      code: 'WAL_FAILED',
      message: expect.stringContaining('reopened'),
    });
    await expect(p.upsert('Movie', movie(3))).rejects.toMatchObject({ code: 'WAL_FAILED' });
    expect(records(p)[0]).toEqual(movie(1));
    await p.close().catch(() => {});
  });
});

describe('durability', () => {
  // Ten runs, killed at different moments (after 150 to 3,000 acknowledged changes: before,
  // during and after cycles of the batches the writer flushes).
  it.each([150, 400, 700, 1000, 1300, 1600, 1900, 2200, 2600, 3000])(
    'keeps every acknowledged change exactly once after a SIGKILL (after %i)',
    async (killAt) => {
      const dir = await tempDir();
      const walDir = await tempDir();
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'fixtures/crash-writer.ts'), dir, walDir],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const acked = new Map<number, 'u' | 'd'>();
      let last = '';
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) {
          const [op, id] = line.split(' ');
          acked.set(Number(id), op as 'u' | 'd');
          last = line;
        }
      });
      await until(() => acked.size >= killAt, 30_000, 'acknowledged changes');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const Item = t.object('Item', { id: t.int(), v: t.int() }, { primaryKey: 'id' });
      const p = await Producer.open({
        store: new FsBlobStore({ dir }),
        namespace: 'crash',
        schema: t.schema([Item]),
        walDir,
      });
      await p.flush();
      const items = p.state!.type('Item');
      // The change in flight at the kill was not acknowledged, so it may or may not be in: after
      // "u N" with N % 7 == 3, that is the delete of N - 1.
      const [lastOp, lastId] = last.split(' ');
      const inFlightDelete = lastOp === 'u' && Number(lastId) % 7 === 3 ? Number(lastId) - 1 : undefined;
      for (const [id, op] of acked) {
        if (id === inFlightDelete && !items.has(id)) continue;
        if (op === 'u') expect(items.get(id)?.toObject(), `item ${id}`).toEqual({ id, v: id * 10 });
        else expect(items.has(id), `deleted item ${id}`).toBe(false);
      }
      // Nothing beyond what was (or was about to be) acknowledged, and no key twice.
      const ids = [...items].map((v) => v.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(Math.max(...ids)).toBeLessThanOrEqual(Math.max(...acked.keys()) + 2);
      await p.close();
    },
    60_000,
  );
});
