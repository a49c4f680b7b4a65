/**
 * A snapshot file read whole, for `inspect <file>` and `plan --snapshot <file>`: in 64 MiB
 * chunks into one buffer of the file's size, since `readFile` stops at 2 GiB, and refused with
 * `BLOB_TOO_LARGE` before anything is read when the runtime cannot hold it (4 GiB on Node 20).
 */
import { constants } from 'node:buffer';
import { open } from 'node:fs/promises';
import { ShoalError } from '../index.ts';
import { rethrowAsFileError } from './cli-errors.ts';

const CHUNK = 64 * 2 ** 20;

/** The bytes of the file at `path`; a failure to read it is a `FileReadError` naming `what`. */
export async function readBlobFile(path: string, what = path): Promise<Uint8Array> {
  const handle = await open(path, 'r').catch((e: unknown) => rethrowAsFileError(what, e));
  try {
    const { size } = await handle.stat();
    if (size > constants.MAX_LENGTH) {
      throw new ShoalError(
        'BLOB_TOO_LARGE',
        `${what} is ${size} bytes; Node ${process.versions.node} cannot hold more than ${constants.MAX_LENGTH} bytes in one buffer. Run on Node 22 or later, which holds buffers past 4 GiB.`,
      );
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await handle.read(bytes, at, Math.min(CHUNK, size - at), at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return at === size ? bytes : bytes.subarray(0, at);
  } catch (e) {
    if (e instanceof ShoalError) throw e;
    return rethrowAsFileError(what, e);
  } finally {
    await handle.close();
  }
}
