import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Announcement, StoreAnnouncer } from '../src/blob/announcer.ts';
import type { BlobStore } from '../src/blob/blob-store.ts';
import { breakStaleLock, FsBlobStore } from '../src/blob/fs-blob-store.ts';
import { MemoryBlobStore } from '../src/blob/memory-blob-store.ts';
import { encodeVersionHeader, NamespaceLayout } from '../src/blob/namespace-layout.ts';
import { applyRetention } from '../src/blob/retention.ts';
import { S3BlobStore } from '../src/blob/s3-blob-store.ts';
import { BUCKET } from './support/s3-server.ts';
import { useS3Front } from './support/stores.ts';

interface Subject {
  readonly name: string;
  make(): Promise<BlobStore>;
}

const { s3, front } = useS3Front();
const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-store-'));
  dirs.push(d);
  return d;
};
let prefixes = 0;

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const subjects: Subject[] = [
  { name: 'memory', make: async () => new MemoryBlobStore() },
  { name: 'filesystem', make: async () => new FsBlobStore({ dir: await tempDir() }) },
  {
    name: 's3',
    make: async () =>
      new S3BlobStore({
        client: s3().client(front().endpoint),
        bucket: BUCKET,
        prefix: `run${++prefixes}`,
        minDelayMs: 5,
        maxDelayMs: 20,
      }),
  },
];

const code = (c: string) => expect.objectContaining({ code: c });

describe.each(subjects)('BlobStore conformance: $name', (subject) => {
  let store: BlobStore;
  beforeAll(async () => {
    store = await subject.make();
  });

  it('round-trips blobs of 0 bytes to 64 MB', async () => {
    for (const size of [0, 1, 4099, 64 * 1024 * 1024 + 3]) {
      const bytes = size > 1e6 ? new Uint8Array(size).fill(7) : randomBytes(size);
      if (size > 1e6) bytes[size - 1] = 9;
      const info = await store.put(`blobs/b${size}`, bytes);
      expect(info.size).toBe(size);
      const back = await store.get(`blobs/b${size}`);
      expect(back.byteLength).toBe(size);
      expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
      expect((await store.head(`blobs/b${size}`)).size).toBe(size);
    }
  }, 120_000);

  it('replaces a blob whole and changes its etag', async () => {
    const a = await store.put('swap/x', new Uint8Array([1]));
    const b = await store.put('swap/x', new Uint8Array([2, 2]));
    expect(b.etag).not.toBe(a.etag);
    expect([...(await store.get('swap/x'))]).toEqual([2, 2]);
  });

  it('lists more than 1,000 keys by prefix, sorted, and nothing outside the prefix', async () => {
    const keys = Array.from({ length: 1003 }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 50)
      await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, new Uint8Array([1]))));
    await store.put('manyother/x', new Uint8Array(1));
    // A sibling that shares the string prefix but not the "directory". (Not "many-x": s3rver
    // sorts "-" after "/" yet pages in byte order, and drops such a key at a page boundary.)
    await store.put('many_x', new Uint8Array(1));
    const listed = await store.list('many/');
    expect(listed).toEqual(keys);
    expect((await store.list('many/k0010')).length).toBe(10);
    expect(await store.list('many')).toEqual([...keys, 'many_x', 'manyother/x'].sort());
  }, 120_000);

  it('reports a missing key as BLOB_NOT_FOUND, carrying the key; deleting one is fine', async () => {
    const missing = expect.objectContaining({ code: 'BLOB_NOT_FOUND', blobKey: 'nothing/here' });
    await expect(store.get('nothing/here')).rejects.toEqual(missing);
    await expect(store.head('nothing/here')).rejects.toEqual(missing);
    await store.delete('nothing/here');
    await store.put('gone/x', new Uint8Array([1]));
    await store.delete('gone/x');
    await expect(store.get('gone/x')).rejects.toEqual(code('BLOB_NOT_FOUND'));
    expect(await store.list('gone/')).toEqual([]);
  });

  it('refuses keys that would leave the store with INVALID_KEY', async () => {
    for (const key of [
      '../escape',
      '/etc/passwd',
      'a/../../b',
      'a//b',
      'a/./b',
      'nul\0byte',
      'back\\slash',
      '.hidden',
      '',
      'a/',
      // A 300-character segment: the filesystem's ENAMETOOLONG, refused up front on every store.
      `ns/${'x'.repeat(300)}`,
    ]) {
      await expect(store.put(key, new Uint8Array([1])), key).rejects.toEqual(code('INVALID_KEY'));
      await expect(store.get(key), key).rejects.toEqual(code('INVALID_KEY'));
    }
    await expect(store.list('../')).rejects.toEqual(code('INVALID_KEY'));
  });

  it('puts conditionally: if none matches, if the etag matches', async () => {
    const first = await store.put('cond/x', new Uint8Array([1]), { ifNoneMatch: true });
    await expect(store.put('cond/x', new Uint8Array([2]), { ifNoneMatch: true })).rejects.toEqual(
      code('PRECONDITION_FAILED'),
    );
    const second = await store.put('cond/x', new Uint8Array([3]), { ifMatch: first.etag });
    await expect(store.put('cond/x', new Uint8Array([4]), { ifMatch: first.etag })).rejects.toEqual(
      code('PRECONDITION_FAILED'),
    );
    expect((await store.head('cond/x')).etag).toBe(second.etag);
    expect([...(await store.get('cond/x'))]).toEqual([3]);
  });

  it('lets exactly one of many concurrent producers announce', async () => {
    const announcers = Array.from({ length: 8 }, () => new StoreAnnouncer({ store, namespace: 'race' }));
    await announcers[0]!.announce({ version: 1, announcedAt: Date.now(), producer: 'p0' });
    const results = await Promise.allSettled(
      announcers.map((a, i) =>
        a.announce({ version: 2 + i, announcedAt: Date.now(), producer: `p${i}`, replaces: 1 }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(won.length).toBe(1);
    expect(lost.every((r) => r.reason.code === 'ANNOUNCE_CONFLICT')).toBe(true);
    const winner = results.findIndex((r) => r.status === 'fulfilled');
    expect((await announcers[0]!.read())?.version).toBe(2 + winner);
  });

  it('refuses an announcement that does not replace the current one', async () => {
    const a = new StoreAnnouncer({ store, namespace: 'stale' });
    const ann = (version: number, replaces?: number): Announcement => ({
      version,
      announcedAt: 1,
      producer: 'p',
      ...(replaces ? { replaces } : {}),
    });
    await a.announce(ann(5));
    await expect(a.announce(ann(6))).rejects.toEqual(code('ANNOUNCE_CONFLICT'));
    await expect(a.announce(ann(7, 4))).rejects.toEqual(code('ANNOUNCE_CONFLICT'));
    await a.announce({ ...ann(6, 5), pinned: 5 });
    expect(await a.read()).toMatchObject({ version: 6, pinned: 5, replaces: 5 });
  });

  it('stops with ABORTED when the signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const signal = controller.signal;
    await expect(store.put('abort/x', new Uint8Array([1]), { signal })).rejects.toEqual(code('ABORTED'));
    await expect(store.get('blobs/b1', { signal })).rejects.toEqual(code('ABORTED'));
    await expect(store.list('blobs/', { signal })).rejects.toEqual(code('ABORTED'));
    await expect(store.get('abort/x')).rejects.toEqual(code('BLOB_NOT_FOUND'));
  });

  it('deletes, by retention, what the last K snapshots do not need', async () => {
    const layout = new NamespaceLayout('ret');
    const one = new Uint8Array([1]);
    const header = (version: number, snapshot: number, previous?: number) =>
      encodeVersionHeader({
        version,
        tag: 1n,
        checksum: 1n,
        snapshot,
        ...(previous !== undefined ? { previous } : {}),
        bytes: {},
        counts: {},
        publishedAt: 0,
        producer: 'p',
      });
    for (const [v, prev] of [[10], [20, 10], [30, 20], [40, 30]] as [number, number?][]) {
      await store.put(layout.snapshot(v), one);
      await store.put(layout.header(v), header(v, v, prev));
    }
    // A snapshot left by a producer that lost the race for version 50: its header (the
    // winner's) names snapshot 40, so it must not count as one of the last K.
    await store.put(layout.snapshot(50), one);
    await store.put(layout.header(50), header(50, 40, 40));
    await store.put(layout.delta(40, 50), one);
    await store.put(layout.reverse(50, 40), one);
    for (const [a, b] of [
      [10, 20],
      [20, 30],
      [30, 40],
    ] as const) {
      await store.put(layout.delta(a, b), one);
      await store.put(layout.reverse(b, a), one);
    }
    await store.put(layout.announced, one);
    const deleted = await applyRetention({ store, namespace: 'ret', keepSnapshots: 2 });
    expect(deleted.sort()).toEqual(
      [
        layout.snapshot(10),
        layout.snapshot(20),
        layout.header(10),
        layout.header(20),
        layout.delta(10, 20),
        layout.reverse(20, 10),
        layout.delta(20, 30),
        layout.reverse(30, 20),
      ].sort(),
    );
    expect(await store.list('ret/')).toEqual(
      [
        layout.announced,
        layout.delta(30, 40),
        layout.delta(40, 50),
        layout.header(30),
        layout.header(40),
        layout.header(50),
        layout.reverse(40, 30),
        layout.reverse(50, 40),
        layout.snapshot(30),
        layout.snapshot(40),
        layout.snapshot(50),
      ].sort(),
    );
    expect(await applyRetention({ store, namespace: 'ret', keepSnapshots: 2 })).toEqual([]);
  });
});

describe('FsBlobStore specifics', () => {
  it('refuses a key that leads out of the directory through a symlink', async () => {
    const dir = await tempDir();
    const outside = await tempDir();
    await writeFile(join(outside, 'secret'), 'x');
    await symlink(outside, join(dir, 'link'));
    const store = new FsBlobStore({ dir });
    await expect(store.get('link/secret')).rejects.toEqual(code('INVALID_KEY'));
    await expect(store.put('link/new', new Uint8Array([1]))).rejects.toEqual(code('INVALID_KEY'));
  });

  it('breaks a stale lock left by a crashed writer, and waits out a live one', async () => {
    const dir = await tempDir();
    const store = new FsBlobStore({ dir, staleLockMs: 1000, lockWaitMs: 100 });
    await mkdir(join(dir, 'ns'), { recursive: true });
    const lock = join(dir, 'ns', '.announced.shoal-lock');
    await writeFile(lock, 'crashed');
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await store.put('ns/announced', new Uint8Array([1]), { ifNoneMatch: true });
    // A lock held by a process on another host (a container since restarted): it cannot be
    // checked, so it is waited out, and the error says who holds it and what to do.
    await writeFile(lock, 'other-host 4242 2026-12-01T10:00:00.000Z\n');
    const started = Date.now();
    const error = await store.put('ns/announced', new Uint8Array([2]), { ifMatch: '"x"' }).catch((e) => e);
    expect(error).toEqual(code('STORE_LOCKED'));
    expect(error.message).toContain('locked by other-host pid 4242 since 2026-12-01T10:00:00.000Z');
    expect(error.message).toContain('staleLockMs');
    expect(error.message).toContain(`delete "${lock}" or wait`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect([...(await store.get('ns/announced'))]).toEqual([1]);
  });

  it('breaks only the stale lock it judged, not a fresh one on the same inode', async () => {
    const dir = await tempDir();
    const lock = join(dir, '.announced.shoal-lock');
    await writeFile(lock, 'crashed');
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    const judged = await stat(lock);
    // Another writer broke it and took a fresh lock meanwhile, which the file system gave the
    // same inode (as it does to the next file made): rewritten in place here, so it surely has.
    await new Promise((r) => setTimeout(r, 5));
    await writeFile(lock, `${hostname()} ${process.pid} ${new Date().toISOString()}\n`);
    expect((await stat(lock)).ino).toBe(judged.ino);
    await breakStaleLock(lock, judged);
    expect(await readFile(lock, 'utf8')).toContain(String(process.pid));
    // The lock judged, still there unchanged: broken.
    await utimes(lock, old, old);
    await breakStaleLock(lock, await stat(lock));
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('lets one writer through when several take over one stale lock at once', async () => {
    const dir = await tempDir();
    const stores = [0, 1, 2].map(
      () => new FsBlobStore({ dir, staleLockMs: 1000, lockWaitMs: 500, fsync: false }),
    );
    await mkdir(join(dir, 'ns'), { recursive: true });
    const lock = join(dir, 'ns', '.announced.shoal-lock');
    let forks = 0;
    for (let round = 0; round < 100; round++) {
      const { etag } = await stores[0]!.put('ns/announced', new Uint8Array([round]));
      // A lock left by a writer that crashed long ago, or by a process of this host that is gone.
      await writeFile(lock, round % 2 ? 'crashed' : `${hostname()} 999999 2026-01-01T00:00:00.000Z\n`);
      const old = new Date(Date.now() - 60_000);
      await utimes(lock, old, old);
      const outcomes = await Promise.allSettled(
        stores.map((s, k) => s.put('ns/announced', new Uint8Array([100 + k]), { ifMatch: etag })),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled').length;
      if (won !== 1) forks++;
      for (const o of outcomes) {
        if (o.status === 'rejected') expect(['PRECONDITION_FAILED', 'STORE_LOCKED']).toContain(o.reason.code);
      }
    }
    expect(forks).toBe(0);
  }, 60_000);

  it('leaves no temp files behind and lists none', async () => {
    const dir = await tempDir();
    const store = new FsBlobStore({ dir });
    await store.put('a/b', new Uint8Array([1]));
    await store.put('a/b', new Uint8Array([2]));
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(join(dir, 'a'))).toEqual(['b']);
  });
});

describe('a namespace too long for a filesystem', () => {
  it('is refused as INVALID_KEY before any store call, not retried as transient', () => {
    expect(() => new NamespaceLayout('n'.repeat(300))).toThrow(
      expect.objectContaining({ code: 'INVALID_KEY' }),
    );
    expect(new NamespaceLayout('n'.repeat(200)).namespace.length).toBe(200);
  });
});
