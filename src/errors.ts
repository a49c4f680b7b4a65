/**
 * The one error class of shoal. Every failure a caller may want to handle carries a string
 * `code`; callers branch on the code, never on the message. Messages say what to do next.
 *
 * This module sits beside the layers and imports nothing, so every layer may use it.
 */

/** Every code a {@link ShoalError} can carry. */
export type ShoalErrorCode =
  | 'INVALID_SCHEMA'
  | 'INVALID_RECORD'
  | 'DUPLICATE_KEY'
  | 'UNKNOWN_TYPE'
  | 'UNKNOWN_INDEX'
  | 'UNKNOWN_FIELD'
  | 'INVALID_INDEX'
  | 'INVALID_KEY'
  | 'INVALID_OPTION'
  | 'SCHEMA_INCOMPATIBLE'
  | 'BLOB_TRUNCATED'
  | 'BLOB_BAD_MAGIC'
  | 'BLOB_UNSUPPORTED_VERSION'
  | 'BLOB_WRONG_KIND'
  | 'BLOB_CORRUPT'
  | 'BLOB_TOO_LARGE'
  | 'CHECKSUM_MISMATCH'
  | 'DELTA_ORIGIN_MISMATCH'
  | 'BLOB_NOT_FOUND'
  | 'NO_VERSION_ANNOUNCED'
  | 'NOT_LOADED'
  | 'PRECONDITION_FAILED'
  | 'ANNOUNCE_CONFLICT'
  | 'STORE_UNAVAILABLE'
  | 'PUSH_UNAVAILABLE'
  | 'STORE_FORBIDDEN'
  | 'ABORTED'
  | 'BACKPRESSURE'
  | 'VALIDATION_FAILED'
  | 'CIRCUIT_OPEN'
  | 'CYCLE_FAILED'
  | 'WAL_FAILED'
  | 'WAL_DAMAGED'
  | 'STORE_LOCKED'
  | 'UNKNOWN_LABEL'
  | 'CLOSED';

/** An error raised by shoal. Branch on {@link ShoalError.code}. */
export class ShoalError extends Error {
  /** A stable, machine-readable identifier of the failure. */
  readonly code: ShoalErrorCode;

  constructor(code: ShoalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ShoalError';
    this.code = code;
  }
}

/** True when `error` is a {@link ShoalError}, optionally with the given code. */
export function isShoalError(error: unknown, code?: ShoalErrorCode): error is ShoalError {
  return error instanceof ShoalError && (code === undefined || error.code === code);
}
