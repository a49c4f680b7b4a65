/**
 * The filesystem store, the default wherever a user does not say otherwise. A key is a path
 * under `dir`. A put writes a hidden temp file beside the target, fsyncs it, renames it over
 * the target and fsyncs the directory, so a reader sees the old bytes or the new, and a crash
 * leaves no half blob. A conditional put (the announcement) runs under an `O_EXCL` lock file;
 * a lock older than `staleLockMs`, or taken by a process of this host that is gone, was left
 * by a crashed writer and is broken.
 * Keys that would leave `dir`, directly or through a symlink, are refused (`INVALID_KEY`).
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import {
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShoalError } from '../errors.ts';
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
  throwIfAborted,
} from './blob-store.ts';

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
}

function fsError(error: unknown, key: string): ShoalError {
  const code = (error as NodeJS.ErrnoException).code;
  if (error instanceof ShoalError) return error;
  if ((error as Error).name === 'AbortError') return aborted(error);
  if (code === 'ENOENT' || code === 'ENOTDIR') return notFound(key, error);
  if (code === 'EACCES' || code === 'EPERM') {
    return new ShoalError(
      'STORE_FORBIDDEN',
      `no permission for "${key}": ${(error as Error).message}. Fix the directory's permissions.`,
      { cause: error },
    );
  }
  return new ShoalError(
    'STORE_UNAVAILABLE',
    `the filesystem failed on "${key}": ${(error as Error).message}`,
    { cause: error },
  );
}

/** True when `lock` was taken by a process of this host that no longer runs (a crashed writer). */
async function lockOwnerIsGone(lock: string): Promise<boolean> {
  const [host, pid] = (await readFile(lock, 'utf8').catch(() => '')).split(' ');
  if (host !== hostname() || !pid || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const etagOf = (s: Stats | import('node:fs').BigIntStats): string => `"${s.ino}-${s.mtimeMs}-${s.size}"`;

/** A blob store in a directory. */
export class FsBlobStore implements BlobStore {
  readonly dir: string;
  private readonly staleLockMs: number;
  private readonly lockWaitMs: number;
  private readonly fsync: boolean;

  constructor(options: FsBlobStoreOptions) {
    if (typeof options?.dir !== 'string' || options.dir === '') {
      throw new ShoalError('INVALID_OPTION', 'FsBlobStore needs options.dir, the directory to keep blobs in');
    }
    this.dir = resolve(options.dir);
    this.staleLockMs = options.staleLockMs ?? 30_000;
    this.lockWaitMs = options.lockWaitMs ?? 2000;
    this.fsync = options.fsync ?? true;
  }

  /** The path of `key`, after checking that it stays inside `dir` even through symlinks. */
  private async path(key: string): Promise<string> {
    checkKey(key);
    const path = join(this.dir, ...key.split('/'));
    let root: string;
    try {
      root = await realpath(this.dir);
    } catch {
      return path; // nothing exists yet, so nothing can point out
    }
    let existing = dirname(path);
    for (;;) {
      try {
        const real = await realpath(existing);
        if (real !== root && !real.startsWith(root + sep)) {
          throw new ShoalError(
            'INVALID_KEY',
            `key "${key}" leads out of ${this.dir} through a symlink. Remove the link.`,
          );
        }
        break;
      } catch (e) {
        if (e instanceof ShoalError) throw e;
        if (existing === this.dir || existing === dirname(existing)) break;
        existing = dirname(existing);
      }
    }
    try {
      if ((await lstat(path)).isSymbolicLink()) {
        throw new ShoalError('INVALID_KEY', `key "${key}" is a symlink; the store holds plain files only.`);
      }
    } catch (e) {
      if (e instanceof ShoalError) throw e;
    }
    return path;
  }

  async get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const path = await this.path(key);
    try {
      const bytes = await readFile(path, options.signal ? { signal: options.signal } : {});
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (e) {
      throw fsError(e, key);
    }
  }

  async head(key: string, options: CallOptions = {}): Promise<BlobInfo> {
    throwIfAborted(options.signal);
    const path = await this.path(key);
    try {
      const s = await stat(path);
      return { key, size: s.size, etag: etagOf(s) };
    } catch (e) {
      throw fsError(e, key);
    }
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<BlobInfo> {
    throwIfAborted(options.signal);
    const path = await this.path(key);
    try {
      await mkdir(dirname(path), { recursive: true });
      if (options.ifMatch === undefined && !options.ifNoneMatch)
        return await this.write(key, path, bytes, options.signal);
      return await this.withLock(key, path, options.signal, async () => {
        let current: string | undefined;
        try {
          current = etagOf(await stat(path));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
        if (options.ifNoneMatch && current !== undefined) throw preconditionFailed(key);
        if (options.ifMatch !== undefined && current !== options.ifMatch) throw preconditionFailed(key);
        return this.write(key, path, bytes, options.signal);
      });
    } catch (e) {
      throw fsError(e, key);
    }
  }

  private async write(
    key: string,
    path: string,
    bytes: Uint8Array,
    signal: AbortSignal | undefined,
  ): Promise<BlobInfo> {
    const tmp = join(dirname(path), `.shoal-tmp-${randomBytes(6).toString('hex')}`);
    const file = await open(tmp, 'w');
    try {
      await file.writeFile(bytes, signal ? { signal } : {});
      if (this.fsync) await file.sync();
    } catch (e) {
      await file.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await file.close();
    try {
      throwIfAborted(signal);
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    if (this.fsync) {
      const d = await open(dirname(path), constants.O_RDONLY);
      await d.sync().finally(() => d.close());
    }
    return { key, size: bytes.byteLength, etag: etagOf(await stat(path)) };
  }

  private async withLock<T>(
    key: string,
    path: string,
    signal: AbortSignal | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    const lock = join(dirname(path), `.${path.slice(dirname(path).length + 1)}.shoal-lock`);
    const deadline = Date.now() + this.lockWaitMs;
    for (;;) {
      throwIfAborted(signal);
      try {
        // Created whole: written under a temp name, then linked (which fails if the lock exists),
        // so a lock is never seen without its owner, even if the writer dies mid-way.
        const tmp = `${lock}.${process.pid}.${randomBytes(4).toString('hex')}`;
        await writeFile(tmp, `${hostname()} ${process.pid} ${new Date().toISOString()}\n`);
        try {
          await link(tmp, lock);
        } finally {
          await unlink(tmp).catch(() => {});
        }
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const age = await stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > this.staleLockMs || (await lockOwnerIsGone(lock))) {
          await unlink(lock).catch(() => {});
          continue;
        }
        if (Date.now() > deadline) {
          throw preconditionFailed(
            key,
            new Error(`another writer has held ${lock} for ${Math.round(age)} ms`),
          );
        }
        await sleep(5 + Math.random() * 10);
      }
    }
    try {
      return await fn();
    } finally {
      await unlink(lock).catch(() => {});
    }
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const path = await this.path(key);
    try {
      await unlink(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(e, key);
    }
  }

  async list(prefix: string, options: CallOptions = {}): Promise<string[]> {
    checkPrefix(prefix);
    throwIfAborted(options.signal);
    const cut = prefix.lastIndexOf('/');
    const start = cut < 0 ? this.dir : join(this.dir, ...prefix.slice(0, cut).split('/'));
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      throwIfAborted(options.signal);
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
          return;
        throw fsError(e, prefix);
      }
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue;
        const full = join(dir, entry.name);
        const key = relative(this.dir, full).split(sep).join('/');
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(full);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          out.push(key);
        }
      }
    };
    await walk(start);
    return out.sort();
  }
}
