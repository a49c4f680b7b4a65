/**
 * Keeping a filesystem store inside its root, with the check and the use in one step.
 *
 * Checking a path and then opening it are two steps, and a symlink re-pointed in between sends
 * the open elsewhere. Node has no openat(2), so a held directory handle stands in for it: an
 * operation opens the root, then each directory of the key through the handle of the one
 * before, and confirms that every directory it opened lies inside the root by the real path the
 * kernel gives for the handle (`/proc/self/fd/<fd>`). Files are then opened (never through a
 * final symlink), created (`O_EXCL`), renamed and unlinked by name under the last handle,
 * through `/proc/self/fd/<fd>/<name>`, which resolves from the directory the handle holds
 * whatever its path points to now. Re-pointing a link after the check changes nothing: what was
 * checked is what is used. Symlinks between directories inside the root keep working.
 *
 * Hard links cannot be told from the file they link to, so a file with more than one link is
 * refused: it may be a file from anywhere on the device.
 *
 * Without /proc/self/fd (macOS, the BSDs) a handle is checked instead by comparing its device
 * and inode with those of its resolved real path, and names under it are resolved through that
 * real path (which held no symlink when checked). A read is still never served from outside
 * (the file's own inode is checked too), but a directory replaced by a link between the check
 * and a write can still misplace that write. Run stores that others can write to on Linux.
 */
import { constants, type Stats } from 'node:fs';
import { type FileHandle, mkdir, open, readlink, realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { ShoalError } from '../errors.ts';
import { notFound, withBlobKey } from './blob-store.ts';

const DIRECTORY = constants.O_RDONLY | (constants.O_DIRECTORY ?? 0);
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
// A FIFO planted at a key would block a plain open; non-blocking changes nothing for files.
const READ = constants.O_RDONLY | NOFOLLOW | (constants.O_NONBLOCK ?? 0);

/** A directory inside the root, held open; names under it resolve from the handle. */
export class RootedDir {
  constructor(
    readonly handle: FileHandle,
    /** A path of the directory itself: `/proc/self/fd/<fd>`, or its checked real path. */
    readonly self: string,
    /** The root's real path. */
    readonly root: string,
  ) {}

  /** A path that names `name` (one segment) in this directory. */
  path(name: string): string {
    return `${this.self}/${name}`;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/** Opens directories and files of one root, refusing anything that resolves outside it. */
export class FsRoot {
  /** Whether /proc/self/fd names open handles here; learnt on first use. */
  private procfs: boolean | undefined;

  constructor(readonly dir: string) {}

  /**
   * A root that is a file (a `--store` pointing at one) fails every call: a read finds no blob
   * (`BLOB_NOT_FOUND`), a write cannot be made (`STORE_UNAVAILABLE`), each saying why rather
   * than passing on the bare `ENOTDIR` / `EEXIST`.
   */
  private async rootError(error: unknown, key: string, create: boolean): Promise<unknown> {
    const code = errno(error);
    if (code !== 'ENOTDIR' && code !== 'EEXIST') return error;
    const isFile = await stat(this.dir).then(
      (s) => !s.isDirectory(),
      () => false,
    );
    if (!isFile) return error;
    const why = `the store's directory "${this.dir}" is a file. Point the store at a directory.`;
    return create
      ? new ShoalError('STORE_UNAVAILABLE', `cannot write "${key}": ${why}`, { cause: error })
      : withBlobKey(new ShoalError('BLOB_NOT_FOUND', `no blob at "${key}": ${why}`, { cause: error }), key);
  }

  /**
   * Opens the root, then `segments` one by one under it (made when missing if `create`); each
   * may be a symlink as long as it resolves inside the root. Rejects with the filesystem's
   * error (`ENOENT` when a directory is missing) or `INVALID_KEY` when a step leads out.
   */
  async openDir(segments: readonly string[], key: string, create: boolean): Promise<RootedDir> {
    let handle: FileHandle;
    try {
      if (create) await mkdir(this.dir, { recursive: true });
      handle = await open(this.dir, DIRECTORY);
    } catch (e) {
      throw await this.rootError(e, key, create);
    }
    let dir: RootedDir;
    try {
      const root = await this.realPath(handle, this.dir);
      dir = new RootedDir(handle, this.procfs ? `/proc/self/fd/${handle.fd}` : root, root);
    } catch (e) {
      await handle.close();
      throw e;
    }
    for (const segment of segments) {
      if (create) {
        try {
          await mkdir(dir.path(segment));
        } catch (e) {
          if (errno(e) !== 'EEXIST') {
            await dir.close();
            throw e;
          }
        }
      }
      const parent = dir;
      try {
        dir = await this.enter(parent, segment, key, true);
      } finally {
        await parent.close();
      }
    }
    return dir;
  }

  /**
   * Opens the directory `name` under `parent`, checked to lie inside the root. With `follow`,
   * `name` may be a symlink; without, a symlink is refused (`ENOTDIR`).
   */
  async enter(parent: RootedDir, name: string, key: string, follow: boolean): Promise<RootedDir> {
    const path = parent.path(name);
    const handle = await open(path, follow ? DIRECTORY : DIRECTORY | NOFOLLOW);
    try {
      const real = await this.realPath(handle, path);
      if (!isInside(real, parent.root)) {
        throw new ShoalError(
          'INVALID_KEY',
          `key "${key}" leads out of "${this.dir}" through a symlink. Remove the link.`,
        );
      }
      return new RootedDir(handle, this.procfs ? `/proc/self/fd/${handle.fd}` : real, parent.root);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /**
   * Opens the file `name` under `dir` for reading: never through a symlink (`ELOOP`), and only
   * a regular file with one link (`INVALID_KEY` otherwise: a second link may be a file from
   * anywhere on the device); a directory is no blob (`BLOB_NOT_FOUND`).
   */
  async openFile(dir: RootedDir, name: string, key: string): Promise<{ handle: FileHandle; stats: Stats }> {
    const path = dir.path(name);
    const handle = await open(path, READ);
    try {
      const stats = await handle.stat();
      if (stats.isDirectory()) throw notFound(key);
      if (!stats.isFile()) {
        throw new ShoalError(
          'INVALID_KEY',
          `key "${key}" is not a plain file; the store holds plain files only.`,
        );
      }
      if (stats.nlink > 1) {
        throw new ShoalError(
          'INVALID_KEY',
          `key "${key}" is a file with ${stats.nlink} hard links, so it may be a file from outside "${this.dir}"; the store holds files with one link only. Copy the file instead of linking it.`,
        );
      }
      if (!this.procfs && !isInside(await this.realPath(handle, path), dir.root)) {
        throw new ShoalError('INVALID_KEY', `key "${key}" leads out of "${this.dir}". Remove the link.`);
      }
      return { handle, stats };
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** The real path of the open `handle`, opened at `path`. */
  private async realPath(handle: FileHandle, path: string): Promise<string> {
    if (this.procfs !== false) {
      let real: string | undefined;
      try {
        real = await readlink(`/proc/self/fd/${handle.fd}`);
      } catch (e) {
        if (this.procfs) throw e;
        this.procfs = false;
      }
      // Trusted once it names the first handle (the root) as realpath(3) does.
      if (real !== undefined && this.procfs === undefined) this.procfs = real === (await realpath(path));
      if (real !== undefined && this.procfs) {
        // Removed since it was opened: gone, as far as the store is concerned.
        if (real.endsWith(' (deleted)'))
          throw Object.assign(new Error(`${path} was removed`), { code: 'ENOENT' });
        return real;
      }
    }
    const real = await realpath(path);
    const [held, named] = await Promise.all([handle.stat(), stat(real)]);
    if (held.dev !== named.dev || held.ino !== named.ino) {
      throw new ShoalError(
        'INVALID_KEY',
        `a directory of "${this.dir}" changed while it was opened (a symlink re-pointed?). Remove the link.`,
      );
    }
    return real;
  }
}

function isInside(real: string, root: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
}
