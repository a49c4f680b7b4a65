/**
 * Restoring the announced state when a producer opens: the announcement, then the nearest
 * snapshot and the deltas after it (blob/chain-planner.ts), so the first cycle after a
 * restart continues the chain with a delta instead of starting a new one. `shared` restores it
 * on SharedArrayBuffers, for a cycle worker to build on.
 */
import type { Announcement, Announcer } from '../blob/announcer.ts';
import type { BlobStore } from '../blob/blob-store.ts';
import { planFromSnapshot } from '../blob/chain-planner.ts';
import type { NamespaceLayout, VersionHeader } from '../blob/namespace-layout.ts';
import { ShoalError } from '../errors.ts';
import { applyDelta } from '../state/encoding/delta.ts';
import { decodeSnapshot } from '../state/encoding/snapshot.ts';
import type { State } from '../state/read/state.ts';

export interface Restored {
  readonly announcement: Announcement | undefined;
  readonly state: State | undefined;
  readonly header: VersionHeader | undefined;
  /** Versions since the last snapshot. */
  readonly sinceSnapshot: number;
}

export async function restoreAnnounced(
  store: BlobStore,
  layout: NamespaceLayout,
  announcer: Announcer,
  shared: boolean,
): Promise<Restored> {
  const announcement = await announcer.read();
  if (!announcement) return { announcement, state: undefined, header: undefined, sinceSnapshot: 0 };
  const plan = await planFromSnapshot(store, layout, announcement.version);
  let state = decodeSnapshot(await store.get(layout.snapshot(plan.snapshot.version)), { shared });
  for (const d of plan.deltas) state = applyDelta(state, await store.get(d.key));
  if (state.tag !== plan.target.tag) {
    throw new ShoalError(
      'CHECKSUM_MISMATCH',
      `restoring version ${announcement.version} of ${layout.namespace} gave a state with another tag. Republish a snapshot.`,
    );
  }
  return { announcement, state, header: plan.target, sinceSnapshot: plan.deltas.length };
}
