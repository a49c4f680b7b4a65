import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AnnouncementWatcher } from '../src/blob/announcement-watcher.ts';
import { type Announcement, StoreAnnouncer } from '../src/blob/announcer.ts';
import type { BlobStore } from '../src/blob/blob-store.ts';
import { FsBlobStore } from '../src/blob/fs-blob-store.ts';
import { MemoryBlobStore } from '../src/blob/memory-blob-store.ts';
import { Consumer, Producer, t } from '../src/index.ts';
import { errorCode } from './support/error-code.ts';
import { until } from './support/wait.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const subjects = [
  {
    name: 'filesystem (chokidar)',
    make: async (): Promise<BlobStore> => {
      const dir = await mkdtemp(join(tmpdir(), 'shoal-watch-'));
      dirs.push(dir);
      return new FsBlobStore({ dir, fsync: false });
    },
  },
  { name: 'memory', make: async (): Promise<BlobStore> => new MemoryBlobStore() },
];

const ann = (version: number, replaces?: number, pinned?: number): Announcement => ({
  version,
  announcedAt: Date.now(),
  producer: 'test',
  ...(replaces !== undefined ? { replaces } : {}),
  ...(pinned !== undefined ? { pinned } : {}),
});

describe.each(subjects)('announcement watcher: $name', ({ make }) => {
  it('reports each new version and pin as events and through for-await, without polling', async () => {
    const store = await make();
    const announcer = new StoreAnnouncer({ store, namespace: 'movies' });
    // A long fallback poll: only events can deliver these in time.
    const watcher = new AnnouncementWatcher({
      store,
      namespace: 'movies',
      fallbackPollMs: 60_000,
      minIntervalMs: 60_000,
    });
    expect(await watcher.start()).toBeUndefined();
    const events: Announcement[] = [];
    watcher.on('announcement', (a) => events.push(a));
    const iterated: number[] = [];
    const loop = (async () => {
      for await (const a of watcher) iterated.push(a.version);
    })();
    await announcer.announce(ann(1));
    await until(() => events.length === 1, 5000, 'version 1');
    await announcer.announce(ann(2, 1));
    await until(() => events.length === 2, 5000, 'version 2');
    await announcer.announce(ann(3, 2, 1));
    await until(() => events.length === 3, 5000, 'the pin');
    expect(events.map((a) => [a.version, a.pinned])).toEqual([
      [1, undefined],
      [2, undefined],
      [3, 1],
    ]);
    await until(() => iterated.length === 3);
    expect(iterated).toEqual([1, 2, 3]);
    await watcher.close();
    await loop; // the iterator ends on close
  });

  it('reports a corrupt announcement as an error and goes on watching', async () => {
    const store = await make();
    const watcher = new AnnouncementWatcher({
      store,
      namespace: 'ns',
      fallbackPollMs: 60_000,
      minIntervalMs: 60_000,
    });
    const errors: string[] = [];
    watcher.on('error', (e) => errors.push(e.code));
    await watcher.start();
    await store.put('ns/announced', new Uint8Array([0xc1, 0xc1, 0xc1]));
    await until(() => errors.length > 0, 5000, 'an error');
    expect(errors[0]).toBe('BLOB_CORRUPT');
    await new StoreAnnouncer({ store, namespace: 'other' }).announce(ann(1));
    await store.put('ns/announced', await store.get('other/announced'));
    await until(() => watcher.current?.version === 1, 5000, 'recovery');
    await watcher.close();
  });
});

describe('filesystem watcher events', () => {
  it('serves each version a producer announces by directory events alone, the fallback poll never due', async () => {
    // The announcement is replaced by a rename each time (a new inode): a watch on the file
    // itself would die after the first. The fallback poll is 10 minutes off, so every version
    // served within the bound below came by an event.
    const dir = await mkdtemp(join(tmpdir(), 'shoal-watch-'));
    dirs.push(dir);
    const store = new FsBlobStore({ dir, fsync: false });
    const Item = t.object('Item', { id: t.int(), name: t.string() }, { primaryKey: 'id' });
    const schema = t.schema([Item]);
    const producer = await Producer.open({
      store,
      namespace: 'items',
      schema,
      walDir: join(dir, 'wal'),
      fsync: false,
      cycleThread: 'main',
    });
    await producer.runCycle((w) => w.add('Item', { id: 0, name: 'first' }));
    const consumer = await Consumer.open({ store, namespace: 'items', schema, fallbackPollMs: 600_000 });
    try {
      for (let k = 1; k <= 20; k++) {
        await producer.upsert('Item', { id: k, name: `item ${k}` });
        const result = await producer.flush();
        const version = result.outcome === 'published' ? result.version : -1;
        await until(() => consumer.version === version, 10_000, `version ${k + 1} served`);
        expect(consumer.state.type('Item').get(k)?.name).toBe(`item ${k}`);
      }
    } finally {
      await consumer.close();
      await producer.close();
    }
  });
});

describe('filesystem watcher fallback', () => {
  it('picks up a change by polling when no event comes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-watch-'));
    dirs.push(dir);
    const store = new FsBlobStore({ dir, fsync: false });
    await new StoreAnnouncer({ store, namespace: 'ns' }).announce(ann(4));
    const watcher = new AnnouncementWatcher({ store, namespace: 'ns', fallbackPollMs: 20 });
    expect((await watcher.start())?.version).toBe(4);
    expect(watcher.interval).toBe(20);
    await watcher.close();
  });

  it('refuses bad options with INVALID_OPTION', () => {
    const store = new MemoryBlobStore();
    expect(() => new AnnouncementWatcher({ store, namespace: 'ns', minIntervalMs: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(
      () => new AnnouncementWatcher({ store, namespace: 'ns', minIntervalMs: 50, maxIntervalMs: 10 }),
    ).toThrow(/maxIntervalMs/);
    // Seconds given as milliseconds would poll a thousand times a second: refused, with the fix.
    const sub = () => new AnnouncementWatcher({ store, namespace: 'ns', minIntervalMs: 0.5 });
    expect(errorCode(sub)).toBe('INVALID_OPTION');
    expect(sub).toThrow(
      'minIntervalMs is in milliseconds and must be from 1 to 2147483647, got 0.5 (for 0.5 s, write 500)',
    );
    for (const o of [{ recheckMs: 0.25 }, { checkTimeoutMs: Number.NaN }, { maxIntervalMs: 0.9 }])
      expect(errorCode(() => new AnnouncementWatcher({ store, namespace: 'ns', ...o }))).toBe(
        'INVALID_OPTION',
      );
    // A factor under 1 would poll faster the longer nothing changes.
    for (const backoffFactor of [0.5, 0, Number.POSITIVE_INFINITY])
      expect(() => new AnnouncementWatcher({ store, namespace: 'ns', backoffFactor })).toThrow(
        /backoffFactor/,
      );
    expect(
      new AnnouncementWatcher({ store, namespace: 'ns', minIntervalMs: 1, backoffFactor: 1 }).interval,
    ).toBe(1);
    expect(() => new AnnouncementWatcher({ store, namespace: '../x' })).toThrow(
      expect.objectContaining({ code: 'INVALID_KEY' }),
    );
  });
});
