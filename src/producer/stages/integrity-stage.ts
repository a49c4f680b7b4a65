/**
 * Stage 3: decode what was encoded and check it reproduces the states: the snapshot decodes to
 * the next state's checksum, previous + delta gives the next state, next + reverse delta gives
 * the previous one. A mismatch is `CHECKSUM_MISMATCH` and nothing is published.
 */
import { ShoalError } from '../../errors.ts';
import { applyDelta } from '../../state/delta.ts';
import { decodeSnapshot } from '../../state/snapshot.ts';
import type { AnyState } from '../../state/state.ts';
import type { EncodedVersion } from './encode-stage.ts';

function expectSame(what: string, got: AnyState, want: AnyState): void {
  if (got.checksum !== want.checksum || got.tag !== want.tag || got.version !== want.version) {
    throw new ShoalError(
      'CHECKSUM_MISMATCH',
      `the ${what} of version ${want.version} does not reproduce it; nothing was published.`,
    );
  }
}

export function checkIntegrity(prev: AnyState | undefined, next: AnyState, encoded: EncodedVersion): void {
  if (encoded.snapshot) expectSame('snapshot', decodeSnapshot(encoded.snapshot), next);
  if (prev && encoded.delta) expectSame('delta', applyDelta(prev, encoded.delta), next);
  if (prev && encoded.reverse) expectSame('reverse delta', applyDelta(next, encoded.reverse), prev);
}
