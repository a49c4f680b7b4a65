import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../src/blob/fs-blob-store.ts';
import { runSymlinkRace } from './support/symlink-race.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-fsroot-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const code = (c: string) => expect.objectContaining({ code: c });

describe('FsBlobStore keeps every call inside its root', () => {
  it('never reads, writes or deletes outside while another process re-points a symlink inside it', async () => {
    const d = await tempDir();
    const root = join(d, 'root');
    const store = new FsBlobStore({ dir: root, fsync: false });
    const tally = await runSymlinkRace(store, root, join(d, 'outside'), 600);
    const seen = JSON.stringify(tally);
    // Nothing escaped: no outside bytes served, no file written, left or removed outside.
    expect({
      readsOutside: tally.reads.outside,
      headsOutside: tally.heads.outside,
      writesOutside: tally.writes.outside,
      outsideDeletes: tally.outsideDeletes,
      strayOutside: tally.strayOutside,
      lostWrites: tally.lostWrites,
      refusedWith: [
        ...new Set([tally.reads, tally.heads, tally.writes].flatMap((s) => Object.keys(s.refused))),
      ],
    }).toEqual({
      readsOutside: 0,
      headsOutside: 0,
      writesOutside: 0,
      outsideDeletes: 0,
      strayOutside: [],
      lostWrites: 0,
      refusedWith: ['INVALID_KEY'],
    });
    // The race was real: every kind of call met both sides of the link, and the outside one
    // was refused. (How often the link flipped depends on the CPU the child gets.)
    expect(tally.flips, seen).toBeGreaterThan(0);
    for (const side of [tally.reads, tally.heads, tally.writes]) {
      expect(side.inside, seen).toBeGreaterThan(0);
      expect(side.refused.INVALID_KEY, seen).toBeGreaterThan(0);
    }
  }, 60_000);

  it('refuses a hard-linked file, a symlink, a FIFO at a key; a directory is no blob', async () => {
    const d = await tempDir();
    const root = join(d, 'root');
    const store = new FsBlobStore({ dir: root, fsync: false });
    await store.put('ns/plain', new Uint8Array([1]));
    await writeFile(join(d, 'secret'), 'from outside');
    await link(join(d, 'secret'), join(root, 'ns', 'linked'));
    await link(join(root, 'ns', 'plain'), join(root, 'ns', 'twin')); // both now have two links
    await symlink(join(root, 'ns', 'plain'), join(root, 'ns', 'alias'));
    execFileSync('mkfifo', [join(root, 'ns', 'fifo')]);
    await mkdir(join(root, 'ns', 'dir'));
    for (const key of ['ns/linked', 'ns/twin', 'ns/plain', 'ns/alias', 'ns/fifo']) {
      await expect(store.get(key), key).rejects.toEqual(code('INVALID_KEY'));
      await expect(store.head(key), key).rejects.toEqual(code('INVALID_KEY'));
    }
    await expect(store.get('ns/dir')).rejects.toEqual(code('BLOB_NOT_FOUND'));
    // A put replaces the link itself, never writes through it into the file it shares.
    await store.put('ns/linked', new Uint8Array([2]));
    expect([...(await store.get('ns/linked'))]).toEqual([2]);
    expect((await import('node:fs')).readFileSync(join(d, 'secret'), 'utf8')).toBe('from outside');
  });

  it('follows a symlinked directory that stays inside the root, for reads, writes and lists', async () => {
    const root = join(await tempDir(), 'root');
    const store = new FsBlobStore({ dir: root, fsync: false });
    await store.put('real/a', new Uint8Array([1]));
    await symlink('real', join(root, 'alias'));
    expect([...(await store.get('alias/a'))]).toEqual([1]);
    await store.put('alias/b', new Uint8Array([2]), { ifNoneMatch: true });
    expect(await readdir(join(root, 'real'))).toEqual(['a', 'b']);
    expect(await store.list('alias/')).toEqual(['alias/a', 'alias/b']);
    expect(await store.list('')).toEqual(['real/a', 'real/b']); // a walk never follows links
    await store.delete('alias/a');
    expect(await readdir(join(root, 'real'))).toEqual(['b']);
  });
});
