/**
 * Stage 2: the blobs of a version: a snapshot (on the first version and every
 * `snapshotEvery`), a delta and a reverse delta from the previous version.
 */
import { isShoalError } from '../../errors.ts';
import { encodeDelta, encodeReverseDelta } from '../../state/encoding/delta.ts';
import { encodeSnapshot, type SnapshotLabel } from '../../state/encoding/snapshot.ts';
import type { AnyState } from '../../state/read/state.ts';

/** A version's encoded blobs. */
export interface EncodedVersion {
  readonly snapshot?: Uint8Array;
  readonly delta?: Uint8Array;
  /** Absent across a schema change no reverse delta can cross (a new type). */
  readonly reverse?: Uint8Array;
}

export function encodeVersion(
  prev: AnyState | undefined,
  next: AnyState,
  withSnapshot: boolean,
  about: SnapshotLabel = {},
): EncodedVersion {
  const out: { snapshot?: Uint8Array; delta?: Uint8Array; reverse?: Uint8Array } = {};
  if (withSnapshot || !prev) out.snapshot = encodeSnapshot(next, about);
  if (prev) {
    // The integrity stage checks both deltas against the states, record by record.
    out.delta = encodeDelta(prev, next, { trustLineage: true });
    try {
      out.reverse = encodeReverseDelta(prev, next, { trustLineage: true });
    } catch (e) {
      if (!isShoalError(e, 'SCHEMA_INCOMPATIBLE')) throw e;
    }
  }
  return out;
}
