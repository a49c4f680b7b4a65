/**
 * How the `shoal` command reports a failure: one line on stderr, `shoal: <CODE>: <message>`,
 * never a stack trace (a user cannot act on one; `SHOAL_DEBUG=1` adds it for a bug report).
 */
import { isShoalError } from '../index.ts';

/** A file the command was told to read could not be read; `code` is the OS's (`ENOENT`, …). */
export class FileReadError extends Error {
  readonly code: string;
  constructor(what: string, error: NodeJS.ErrnoException) {
    // Node's message repeats the code and names the syscall and path: "ENOENT: no such file or
    // directory, open 'x.json'". The path is already in `what`.
    const reason = error.message.replace(/^[A-Z0-9_]+: /, '').replace(/, \w+( '.*')?$/, '');
    super(`cannot read ${what}: ${reason}`, { cause: error });
    this.code = error.code ?? 'EIO';
  }
}

/** Whether `error` is a failure of a system call (it has an errno code such as `ENOENT`). */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  const e = error as NodeJS.ErrnoException | undefined;
  return typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code) && typeof e.syscall === 'string';
}

/** Rethrows a system error of reading `what` as a {@link FileReadError}; anything else as it is. */
export function rethrowAsFileError(what: string, error: unknown): never {
  if (isSystemError(error)) throw new FileReadError(what, error);
  throw error;
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

/** The line to print for a failure that ends the command (exit code 1). */
export function failureLine(error: unknown): string {
  if (isShoalError(error)) return `shoal: ${error.code}: ${oneLine(error.message)}`;
  if (error instanceof FileReadError) return `shoal: ${error.code}: ${oneLine(error.message)}`;
  if (isSystemError(error)) {
    return `shoal: ${error.code}: ${oneLine(error.message.replace(/^[A-Z0-9_]+: /, ''))}`;
  }
  const e = error instanceof Error ? error : new Error(String(error));
  return `shoal: ${e.name}: ${oneLine(e.message)}`;
}
