import { isShoalError } from '../../src/index.ts';

/** The `code` of the ShoalError `run` throws, or 'none' when it returns; any other error is rethrown. */
export function errorCode(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    if (isShoalError(e)) return e.code;
    throw e;
  }
  return 'none';
}
