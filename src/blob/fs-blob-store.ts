/**
 * The filesystem store, the default wherever a user does not say otherwise. A key is a path
 * under `dir`. A put writes a hidden temp file beside the target, fsyncs it, renames it over
 * the target and fsyncs the directory, so a reader sees the old bytes or the new, and a crash
 * leaves no half blob. A conditional put (the announcement) runs under an `O_EXCL` lock file;
 * a lock older than `staleLockMs`, or taken by a process of this host that is gone, was left
 * by a crashed writer and is broken.
 *
 * Every call works under a handle on the key's directory, checked to lie inside `dir`
 * (./fs-root.ts): what is checked is what is read, written or deleted, so a symlink re-pointed
 * by another process cannot send a call outside. Keys that lead out are refused
 * (`INVALID_KEY`), and so are symlinks, hard-linked files and anything but a plain file at a key.
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import {
  type FileHandle,
  link,
  lstat,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShoalError } from '../errors.ts';
import { checkBlobSize, MAX_BLOB_BYTES } from '../format/blob-size.ts';
import {
  aborted,
  type BlobInfo,
  type BlobStore,
  type CallOptions,
  checkKey,
  checkPrefix,
  notFound,
  type PutOptions,
  preconditionFailed,
  type TaggedBlob,
  throwIfAborted,
} from './blob-store.ts';
import { FsRoot, type RootedDir } from './fs-root.ts';

/** Options of {@link FsBlobStore}. */
export interface FsBlobStoreOptions {
  /** The root directory; created on the first write. */
  readonly dir: string;
  /**
   * A lock file older than this was left by a crashed writer and is broken.
   * @default 30000
   */
  readonly staleLockMs?: number;
  /**
   * How long a conditional put waits for another writer's lock before failing.
   * @default 2000
   */
  readonly lockWaitMs?: number;
  /**
   * fsync each blob and its directory on put (turn off only for throwaway data).
   * @default true
   */
  readonly fsync?: boolean;
  /** @internal Most bytes a blob read may have (the runtime's buffer limit), for tests. */
  readonly maxBlobBytes?: number;
  /** @internal Bytes read per read(2) of a get, for tests. @default 64 MiB */
  readonly readChunkBytes?: number;
}

/**
 * The `ShoalError` for a filesystem failure on `key`. Node's messages name the path it used
 * (under /proc/self/fd here), so the message says the key, the root and the errno instead.
 */
function fsError(error: unknown, key: string, dir: string): ShoalError {
  if (error instanceof ShoalError) return error;
  if ((error as Error).name === 'AbortError') return aborted(error);
  const { code, syscall } = error as NodeJS.ErrnoException;
  if (code === 'ENOENT' || code === 'ENOTDIR') return notFound(key, error);
  if (code === 'ELOOP') {
    return new ShoalError(
      'INVALID_KEY',
      `key "${key}" is a symlink (or leads through a loop of them); the store holds plain files only.`,
      { cause: error },
    );
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new ShoalError(
      'STORE_FORBIDDEN',
      `no permission for "${key}" in "${dir}" (${code} on ${syscall}). Fix the directory's permissions.`,
      { cause: error },
    );
  }
  return new ShoalError(
    'STORE_UNAVAILABLE',
    `the filesystem failed on "${key}" in "${dir}": ${code ?? (error as Error).message}${syscall ? ` on ${syscall}` : ''}`,
    { cause: error },
  );
}

/** True when `lock` was taken by a process of this host that no longer runs (a crashed writer). */
/** Who holds a lock, as its file says: `<host> <pid> <ISO time>`. */
async function lockOwner(lock: string): Promise<{ host: string; pid: string; since: string }> {
  const [host, pid, since] = (await readFile(lock, 'utf8').catch(() => '')).trim().split(' ');
  return { host: host || 'an unknown writer', pid: pid || '?', since: since || '?' };
}

/**
 * `a` and `b` are one file: its inode and its modification time (an inode is reused at once).
 * Not its change time, which the owner's removing the temporary name it linked moves.
 */
const sameFile = (a: Stats, b: Stats): boolean =>
  a.ino === b.ino && a.dev === b.dev && a.mtimeMs === b.mtimeMs;

/**
 * Removes a lock judged stale (`judged` is the file judged), under a breaker file of its own:
 * two writers may judge the same lock stale, and the second must not remove the fresh lock the
 * first one's successor has taken meanwhile. The file is known by its inode and its mtime: an
 * inode alone is reused at once by the next file made (seen in CI: a fresh lock on the stale
 * one's inode removed, and two writers through). A breaker left by a crash is itself stale
 * after 5 s.
 */
export async function breakStaleLock(lock: string, judged: Stats): Promise<void> {
  const breaker = `${lock}.break`;
  try {
    await writeFile(breaker, `${hostname()} ${process.pid}\n`, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const age = await stat(breaker).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > 5000) await unlink(breaker).catch(() => {});
    return;
  }
  try {
    const now = await stat(lock).catch(() => undefined);
    if (now && sameFile(now, judged)) await unlink(lock).catch(() => {});
  } finally {
    await unlink(breaker).catch(() => {});
  }
}

async function lockOwnerIsGone(lock: string): Promise<boolean> {
  const { host, pid } = await lockOwner(lock);
  if (host !== hostname() || !/^\d+$/.test(pid) || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const etagOf = (s: Stats): string => `"${s.ino}-${s.mtimeMs}-${s.size}"`;

/** A key's directories and its last segment. */
const split = (key: string): { dirs: string[]; name: string } => {
  const dirs = key.split('/');
  return { dirs, name: dirs.pop()! };
};

/** A blob store in a directory. */
export class FsBlobStore implements BlobStore {
  readonly dir: string;
  private readonly root: FsRoot;
  private readonly staleLockMs: number;
  private readonly lockWaitMs: number;
  private readonly fsync: boolean;
  private readonly maxBlobBytes: number;
  private readonly readChunkBytes: number;

  constructor(options: FsBlobStoreOptions) {
    if (typeof options?.dir !== 'string' || options.dir === '') {
      throw new ShoalError('INVALID_OPTION', 'FsBlobStore needs options.dir, the directory to keep blobs in');
    }
    this.dir = resolve(options.dir);
    this.root = new FsRoot(this.dir);
    this.staleLockMs = options.staleLockMs ?? 30_000;
    this.lockWaitMs = options.lockWaitMs ?? 2000;
    this.fsync = options.fsync ?? true;
    this.maxBlobBytes = options.maxBlobBytes ?? MAX_BLOB_BYTES;
    this.readChunkBytes = options.readChunkBytes ?? 64 * 2 ** 20;
  }

  /** Runs `fn` under a checked handle on `key`'s directory (made first when `create`). */
  private async inDir<T>(
    key: string,
    create: boolean,
    fn: (dir: RootedDir, name: string) => Promise<T>,
  ): Promise<T> {
    checkKey(key);
    const { dirs, name } = split(key);
    let dir: RootedDir;
    try {
      dir = await this.root.openDir(dirs, key, create);
    } catch (e) {
      throw fsError(e, key, this.dir);
    }
    try {
      return await fn(dir, name);
    } catch (e) {
      throw fsError(e, key, this.dir);
    } finally {
      await dir.close();
    }
  }

  async get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    return this.inDir(key, false, async (dir, name) => {
      const { handle, stats } = await this.root.openFile(dir, name, key);
      try {
        return await this.readAll(handle, stats.size, key, options.signal);
      } finally {
        await handle.close();
      }
    });
  }

  /**
   * The file's bytes in one buffer of its size, read in chunks: `readFile` stops at 2 GiB, and
   * a buffer of the file's size is 8-aligned, so decoding views it without a copy.
   */
  private async readAll(
    handle: FileHandle,
    size: number,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    checkBlobSize(size, `the blob at "${key}"`, this.maxBlobBytes);
    const bytes = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      throwIfAborted(signal);
      const { bytesRead } = await handle.read(bytes, at, Math.min(this.readChunkBytes, size - at), at);
      if (bytesRead === 0) break; // shrank since the stat: decoding reports the truncation
      at += bytesRead;
    }
    return at === size ? bytes : bytes.subarray(0, at);
  }

  /** A stat of the open file; its bytes are read only when its etag moved. */
  async getIfChanged(
    key: string,
    etag: string | undefined,
    options: CallOptions = {},
  ): Promise<TaggedBlob | undefined> {
    throwIfAborted(options.signal);
    return this.inDir(key, false, async (dir, name) => {
      const { handle, stats } = await this.root.openFile(dir, name, key);
      try {
        const now = etagOf(stats);
        if (now === etag) return undefined;
        // Read through the handle the stat was of: the bytes are that file's, whatever is renamed over it meanwhile.
        return { bytes: await this.readAll(handle, stats.size, key, options.signal), etag: now };
      } finally {
        await handle.close();
      }
    });
  }

  async head(key: string, options: CallOptions = {}): Promise<BlobInfo> {
    throwIfAborted(options.signal);
    return this.inDir(key, false, async (dir, name) => {
      const { handle, stats } = await this.root.openFile(dir, name, key);
      await handle.close();
      return { key, size: stats.size, etag: etagOf(stats) };
    });
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<BlobInfo> {
    throwIfAborted(options.signal);
    return this.inDir(key, true, async (dir, name) => {
      if (options.ifMatch === undefined && !options.ifNoneMatch)
        return this.write(key, dir, name, bytes, options.signal);
      return this.withLock(key, dir, name, options.signal, async () => {
        let current: string | undefined;
        try {
          current = etagOf(await lstat(dir.path(name))); // the entry itself, never what a link names
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
        if (options.ifNoneMatch && current !== undefined) throw preconditionFailed(key);
        if (options.ifMatch !== undefined && current !== options.ifMatch) throw preconditionFailed(key);
        return this.write(key, dir, name, bytes, options.signal);
      });
    });
  }

  private async write(
    key: string,
    dir: RootedDir,
    name: string,
    bytes: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<BlobInfo> {
    const tmp = dir.path(`.shoal-tmp-${randomBytes(6).toString('hex')}`);
    // Created new (never through a planted link) in the checked directory.
    const file = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
    let written: Stats;
    try {
      await file.writeFile(bytes, signal ? { signal } : {});
      if (this.fsync) await file.sync();
      written = await file.stat(); // the renamed file keeps its inode and mtime: the etag
    } catch (e) {
      await file.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await file.close();
    try {
      throwIfAborted(signal);
      await rename(tmp, dir.path(name));
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    if (this.fsync) await dir.handle.sync();
    return { key, size: bytes.byteLength, etag: etagOf(written) };
  }

  private async withLock<T>(
    key: string,
    dir: RootedDir,
    name: string,
    signal: AbortSignal | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    const lock = dir.path(`.${name}.shoal-lock`);
    const deadline = Date.now() + this.lockWaitMs;
    let mine: Stats | undefined;
    for (;;) {
      throwIfAborted(signal);
      try {
        // Created whole: written under a temp name, then linked (which fails if the lock exists),
        // so a lock is never seen without its owner, even if the writer dies mid-way.
        const tmp = `${lock}.${process.pid}.${randomBytes(4).toString('hex')}`;
        await writeFile(tmp, `${hostname()} ${process.pid} ${new Date().toISOString()}\n`, { flag: 'wx' });
        try {
          await link(tmp, lock);
          mine = await stat(lock);
        } finally {
          await unlink(tmp).catch(() => {});
        }
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const held = await stat(lock).catch(() => undefined);
        const age = held ? Date.now() - held.mtimeMs : 0;
        if (held && (age > this.staleLockMs || (await lockOwnerIsGone(lock)))) {
          await breakStaleLock(lock, held);
          continue;
        }
        if (Date.now() > deadline) {
          const owner = await lockOwner(lock);
          const here = owner.host === hostname();
          const file = join(this.dir, ...key.split('/').slice(0, -1), `.${name}.shoal-lock`);
          throw new ShoalError(
            'STORE_LOCKED',
            `"${key}" is locked by ${owner.host} pid ${owner.pid} since ${owner.since} (${Math.round(age)} ms ago). A lock is taken over once it is ${this.staleLockMs} ms old (staleLockMs), or at once when its process on this host is gone${here ? '' : `; a process on another host cannot be checked: if ${owner.host} is gone (a restarted container), delete "${file}" or wait`}.`,
          );
        }
        await sleep(5 + Math.random() * 10);
      }
    }
    try {
      return await fn();
    } finally {
      // Released only if it is still this writer's (one held past staleLockMs may be taken over).
      const now = await stat(lock).catch(() => undefined);
      if (now && mine && sameFile(now, mine)) await unlink(lock).catch(() => {});
    }
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    try {
      await this.inDir(key, false, (dir, name) => unlink(dir.path(name)));
    } catch (e) {
      if (!(e instanceof ShoalError && e.code === 'BLOB_NOT_FOUND')) throw e;
    }
  }

  async list(prefix: string, options: CallOptions = {}): Promise<string[]> {
    checkPrefix(prefix);
    throwIfAborted(options.signal);
    const cut = prefix.lastIndexOf('/');
    const dirs = cut < 0 ? [] : prefix.slice(0, cut).split('/');
    const out: string[] = [];
    // Below the prefix's directory, each one is entered through its parent's handle and never
    // through a link, so the walk stays inside the root even if entries are swapped meanwhile.
    const walk = async (dir: RootedDir, at: string): Promise<void> => {
      throwIfAborted(options.signal);
      const entries = await readdir(dir.self, { withFileTypes: true });
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue;
        const key = at === '' ? entry.name : `${at}/${entry.name}`;
        if (entry.isDirectory()) {
          if (!key.startsWith(prefix) && !prefix.startsWith(`${key}/`)) continue;
          let child: RootedDir;
          try {
            child = await this.root.enter(dir, entry.name, key, false);
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') continue; // changed meanwhile
            throw e;
          }
          try {
            await walk(child, key);
          } finally {
            await child.close();
          }
        } else if (entry.isFile() && key.startsWith(prefix)) {
          out.push(key);
        }
      }
    };
    let start: RootedDir;
    try {
      start = await this.root.openDir(dirs, prefix, false);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw fsError(e, prefix, this.dir);
    }
    try {
      await walk(start, dirs.join('/'));
    } catch (e) {
      throw fsError(e, prefix, this.dir);
    } finally {
      await start.close();
    }
    return out.sort();
  }
}
