/**
 * The cheapest path in bytes from the version a consumer holds to a target: forward deltas,
 * reverse deltas to go back (a pin), or the nearest snapshot and the deltas after it. Paths
 * come from the version headers (no listing); a blob that failed before is routed around.
 */
import type { BlobStore } from '../blob/blob-store.ts';
import { planFromSnapshot, readVersionHeader } from '../blob/chain-planner.ts';
import type { NamespaceLayout, VersionHeader } from '../blob/namespace-layout.ts';

/** Blobs to fetch and apply, in order. */
export interface RefreshPlan {
  readonly kind: 'snapshot' | 'delta' | 'reverse';
  /** The snapshot to start from (kind `snapshot`). */
  readonly snapshot?: string;
  /** Deltas or reverse deltas to apply, in order. */
  readonly steps: readonly string[];
  readonly bytes: number;
  readonly target: VersionHeader;
}

/** How many headers a delta path may walk before a snapshot is simply taken. */
const MAX_CHAIN = 64;

export async function planRefresh(
  store: BlobStore,
  layout: NamespaceLayout,
  from: number | undefined,
  to: number,
  failed: ReadonlySet<string>,
): Promise<RefreshPlan> {
  const snapshotPlan = await planFromSnapshot(store, layout, to);
  const viaSnapshot: RefreshPlan = {
    kind: 'snapshot',
    snapshot: layout.snapshot(snapshotPlan.snapshot.version),
    steps: snapshotPlan.deltas.map((d) => d.key),
    bytes: snapshotPlan.bytes,
    target: snapshotPlan.target,
  };
  const usable = (p: RefreshPlan) => ![p.snapshot, ...p.steps].some((k) => k !== undefined && failed.has(k));
  if (from === undefined || from === to) return viaSnapshot;
  let alternative: RefreshPlan | undefined;
  if (from < to) {
    // Walk back from the target until the version held is reached.
    const steps: string[] = [];
    let bytes = 0;
    let at: VersionHeader = snapshotPlan.target;
    while (at.version > from && steps.length < MAX_CHAIN && at.previous !== undefined) {
      steps.unshift(layout.delta(at.previous, at.version));
      bytes += at.bytes.delta ?? Number.POSITIVE_INFINITY;
      if (at.previous === from) break;
      at = await readVersionHeader(store, layout, at.previous);
    }
    if (at.previous === from || (steps.length > 0 && at.version === from)) {
      alternative = { kind: 'delta', steps, bytes, target: snapshotPlan.target };
    }
  } else {
    // Going back: reverse deltas from the version held down to the target.
    const steps: string[] = [];
    let bytes = 0;
    let at = await readVersionHeader(store, layout, from);
    while (at.version > to && steps.length < MAX_CHAIN && at.previous !== undefined) {
      steps.push(layout.reverse(at.version, at.previous));
      bytes += at.bytes.reverse ?? Number.POSITIVE_INFINITY;
      if (at.previous === to) break;
      at = await readVersionHeader(store, layout, at.previous);
    }
    if (at.previous === to) alternative = { kind: 'reverse', steps, bytes, target: snapshotPlan.target };
  }
  if (alternative && usable(alternative) && (alternative.bytes <= viaSnapshot.bytes || !usable(viaSnapshot)))
    return alternative;
  return viaSnapshot;
}
