/**
 * How large a blob this runtime can hold. A blob is read into one buffer and viewed in place,
 * so its size is bounded by the longest typed array the runtime allows: 4 GiB on Node 20,
 * 2^53 - 1 bytes (the address space, in practice) on Node 22 and later. Every place that is
 * about to allocate or read a whole blob checks the size first, so a blob past the limit is a
 * `BLOB_TOO_LARGE` that says what to do, not a `RangeError` halfway through a read.
 */
import { constants } from 'node:buffer';
import { ShoalError } from '../errors.ts';

/** The most bytes one buffer holds on this runtime. */
export const MAX_BLOB_BYTES: number = constants.MAX_LENGTH;

/** `n bytes`, with GiB beside from one GiB up. */
const size = (n: number): string =>
  n >= 2 ** 30 ? `${n} bytes (${(n / 2 ** 30).toFixed(2)} GiB)` : `${n} bytes`;

/**
 * `BLOB_TOO_LARGE` unless `bytes` fits in one buffer of at most `limit` bytes; `what` names
 * the blob or buffer ("the blob at ns/snapshot/…").
 */
export function checkBlobSize(bytes: number, what: string, limit: number = MAX_BLOB_BYTES): void {
  if (bytes <= limit) return;
  // Past 4 GiB the runtime is not the limit any more: the machine's memory is.
  const advice =
    limit <= 2 ** 32
      ? 'Run on Node 22 or later, which holds buffers past 4 GiB.'
      : 'Split the data across namespaces.';
  throw new ShoalError(
    'BLOB_TOO_LARGE',
    `${what} is ${size(bytes)}; Node ${process.versions.node} cannot hold more than ${size(limit)} in one buffer. ${advice}`,
  );
}
