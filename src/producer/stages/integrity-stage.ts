/**
 * Stage 3: decode what was encoded and check it reproduces the states: the snapshot decodes to
 * the next state's version, tag and checksum; previous + delta gives the next state and next +
 * reverse delta the previous one. The deltas are checked record by record against the states
 * without building them again (`verifyDelta`: the cost follows the change, not the dataset).
 * The secondary indexes are checked too: a snapshot's whole (its structure at decode, its
 * content against its columns), and the next state's at the records that changed.
 * A mismatch is `CHECKSUM_MISMATCH` and nothing is published.
 */
import { ShoalError } from '../../errors.ts';
import { checkIndexChanges } from '../../state/build/index-check.ts';
import { verifyDelta } from '../../state/encoding/delta.ts';
import { decodeSnapshot, verifySecondaryIndexes } from '../../state/encoding/snapshot.ts';
import type { AnyState } from '../../state/read/state.ts';
import type { EncodedVersion } from './encode-stage.ts';

export function checkIntegrity(prev: AnyState | undefined, next: AnyState, encoded: EncodedVersion): void {
  if (encoded.snapshot) {
    const got = decodeSnapshot(encoded.snapshot);
    if (got.checksum !== next.checksum || got.tag !== next.tag || got.version !== next.version) {
      throw new ShoalError(
        'CHECKSUM_MISMATCH',
        `the snapshot of version ${next.version} does not reproduce it; nothing was published.`,
      );
    }
    verifySecondaryIndexes(got);
  }
  checkIndexChanges(prev, next);
  if (prev && encoded.delta) verifyDelta(prev, encoded.delta, next);
  if (prev && encoded.reverse) verifyDelta(next, encoded.reverse, prev);
}
