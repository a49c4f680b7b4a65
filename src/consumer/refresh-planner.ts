/**
 * The cheapest path from the version a consumer holds to a target, planned from the target
 * backwards. The walk starts at the target's header (from the announcement, or the cache, or
 * the store) and follows `previous`; every version on the way that has a snapshot is a
 * candidate (its snapshot, then the deltas walked), and so is the version held (the deltas
 * walked alone). Going back to an older version, reverse deltas from the version held are the
 * other candidate. Paths are weighed in bytes plus a cost per request, so 48 small deltas can
 * lose to one snapshot.
 *
 * The walk ends at the version held, at a missing or corrupt header or delta (retention took
 * the older chain: what was found before the gap is used), or once walking further cannot
 * beat the best candidate; it is bounded in any case. Blobs that failed before are routed
 * around; when nothing is left but them, the best of them is tried again (they may be back).
 */
import { blobKeyOf, withBlobKey } from '../blob/blob-store.ts';
import type { NamespaceLayout, VersionHeader } from '../blob/namespace-layout.ts';
import type { VersionHeaderCache } from '../blob/version-header-cache.ts';
import { isShoalError, ShoalError } from '../errors.ts';

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

/** What a plan is made from. */
export interface PlanInput {
  readonly headers: VersionHeaderCache;
  readonly layout: NamespaceLayout;
  /** The version held (`undefined`: nothing yet). */
  readonly from: number | undefined;
  readonly to: number;
  /** Blobs (and headers) that failed: routed around while another path exists. */
  readonly failed: ReadonlySet<string>;
  /** What one request is worth in bytes, when weighing paths. */
  readonly requestCostBytes: number;
}

/** The most deltas a delta path (or reverse deltas a reverse path) holds. */
export const MAX_CHAIN = 64;
/** The most headers read looking for a snapshot: past it, the chain is broken or crafted. */
export const MAX_WALK = 1000;

/** The cheapest plan from `from` to `to`. Rejects with the reason no plan exists (with its `blobKey`). */
export async function planRefresh(input: PlanInput): Promise<RefreshPlan> {
  const plan = await planAvoiding(input, input.failed);
  if (plan.best) return plan.best;
  // Every path goes through a blob that failed before: try again the best of them.
  const again = input.failed.size > 0 ? await planAvoiding(input, new Set()) : undefined;
  if (again?.best) return again.best;
  const stop = again?.stop ?? plan.stop;
  const key = blobKeyOf(stop);
  const where = `version ${input.to} of namespace "${input.layout.namespace}"`;
  if (stop !== undefined && key !== undefined) {
    // Named: the blob every path from a snapshot goes through (a header gone mid-chain).
    throw withBlobKey(
      new ShoalError(
        isShoalError(stop) ? stop.code : 'BLOB_NOT_FOUND',
        `no path reaches ${where}: ${(stop as Error).message.replace(/\.?\s*Check the store[\s\S]*$/, '')}, and every path from a snapshot at or below it goes through it. Republish a snapshot (shoal produce re-states the dataset), or wait for the producer's next one (every snapshotEvery versions).`,
        { cause: stop },
      ),
      key,
    );
  }
  throw (
    stop ??
    new ShoalError('BLOB_NOT_FOUND', `no snapshot at or below ${where} is reachable. Republish a snapshot.`)
  );
}

/** What a path costs: its bytes, and what its requests are worth in bytes. */
const weigh = (input: PlanInput, bytes: number, requests: number) =>
  bytes + requests * input.requestCostBytes;

interface Candidate {
  readonly plan: RefreshPlan;
  readonly cost: number;
}

/** The best plan avoiding `failed`, or why the walk stopped before finding one. */
async function planAvoiding(
  input: PlanInput,
  failed: ReadonlySet<string>,
): Promise<{ best?: RefreshPlan; stop?: unknown }> {
  const { headers, layout, from, to } = input;
  const target = await headers.get(to);
  let best: Candidate | undefined;
  const offer = (plan: RefreshPlan, requests: number) => {
    const c = weigh(input, plan.bytes, requests);
    // Ties go to the plan without a snapshot (the cheaper to apply).
    if (!best || c < best.cost || (c === best.cost && plan.kind !== 'snapshot')) best = { plan, cost: c };
  };
  let stop: unknown;
  const read = async (version: number): Promise<VersionHeader | undefined> => {
    if (failed.has(layout.header(version))) return undefined;
    try {
      return await headers.get(version);
    } catch (e) {
      // A header that is gone or corrupt ends the walk; a store that fails ends the plan.
      if (!(isShoalError(e, 'BLOB_NOT_FOUND') || isShoalError(e, 'BLOB_CORRUPT')) || !blobKeyOf(e)) throw e;
      stop = e;
      return undefined;
    }
  };

  if (from !== undefined && from > to) {
    await walkBack(input, failed, target, undefined, read, offer);
    const reverse = await reversePath(input, failed, target, best?.cost, read);
    if (reverse) offer(reverse.plan, reverse.requests);
  } else {
    await walkBack(input, failed, target, from === to ? undefined : from, read, offer);
  }
  return best ? { best: best.plan } : { stop };
}

type Read = (version: number) => Promise<VersionHeader | undefined>;
type Offer = (plan: RefreshPlan, requests: number) => void;

/**
 * Walks back from `target`, offering every snapshot met and the version held (`from`), while
 * walking further could still beat the best offer.
 */
async function walkBack(
  input: PlanInput,
  failed: ReadonlySet<string>,
  target: VersionHeader,
  from: number | undefined,
  read: Read,
  offer: Offer,
): Promise<void> {
  const { layout } = input;
  const steps: string[] = [];
  let bytes = 0;
  // The cheapest snapshot plan met so far.
  let best = Number.POSITIVE_INFINITY;
  let at: VersionHeader | undefined = target;
  for (let walked = 0; at && walked <= MAX_WALK; walked++) {
    const snapshotKey = layout.snapshot(at.version);
    if (at.snapshot === at.version && at.bytes.snapshot !== undefined && !failed.has(snapshotKey)) {
      const plan: RefreshPlan = {
        kind: 'snapshot',
        snapshot: snapshotKey,
        steps: [...steps],
        bytes: at.bytes.snapshot + bytes,
        target,
      };
      best = Math.min(best, weigh(input, plan.bytes, steps.length + 1));
      offer(plan, steps.length + 1);
      // From nothing, the nearest snapshot is the plan: an older one only adds deltas.
      if (from === undefined) break;
    }
    if (at.previous === undefined || (from !== undefined && at.version <= from)) break;
    const delta = layout.delta(at.previous, at.version);
    if (failed.has(delta) || at.bytes.delta === undefined) break;
    steps.unshift(delta);
    bytes += at.bytes.delta;
    if (at.previous === from) {
      offer({ kind: 'delta', steps: [...steps], bytes, target }, steps.length);
      break;
    }
    // Walking on only adds blobs: stop once that cannot beat what was found.
    if (
      weigh(input, bytes, steps.length) >= best ||
      (best < Number.POSITIVE_INFINITY && steps.length >= MAX_CHAIN)
    )
      break;
    at = await read(at.previous);
  }
}

/** Reverse deltas from the version held back to `target`, unless they cost `bound` or more. */
async function reversePath(
  input: PlanInput,
  failed: ReadonlySet<string>,
  target: VersionHeader,
  bound: number | undefined,
  read: Read,
): Promise<{ plan: RefreshPlan; requests: number } | undefined> {
  const { layout, from } = input;
  const steps: string[] = [];
  let bytes = 0;
  let at = await read(from!);
  while (at && at.version > target.version && at.previous !== undefined && steps.length < MAX_CHAIN) {
    const reverse = layout.reverse(at.version, at.previous);
    if (failed.has(reverse) || at.bytes.reverse === undefined) return undefined;
    steps.push(reverse);
    bytes += at.bytes.reverse;
    if (at.previous === target.version)
      return { plan: { kind: 'reverse', steps, bytes, target }, requests: steps.length };
    if (bound !== undefined && weigh(input, bytes, steps.length) >= bound) return undefined;
    at = await read(at.previous);
  }
  return undefined;
}
