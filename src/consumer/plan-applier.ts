/**
 * Fetching and applying a refresh plan beside the current state: the snapshot (if any), then
 * each delta. Whatever goes wrong with a blob (missing, not decoding, not applying, reaching
 * the wrong version) is that blob's fault: the error carries its key as `blobKey`, so the
 * consumer plans again around it (another delta path, or a snapshot).
 */
import type { BlobStore } from '../blob/blob-store.ts';
import { isShoalError, ShoalError } from '../errors.ts';
import { assertCompatible, type Schema } from '../schema/index.ts';
import type { Layout } from '../state/column/layout.ts';
import { applyDelta } from '../state/encoding/delta.ts';
import { decodeSnapshot } from '../state/encoding/snapshot.ts';
import { carryLocalIndexes } from '../state/read/local-indexes.ts';
import type { AnyState } from '../state/read/state.ts';
import type { RefreshPlan } from './refresh-planner.ts';

/** How states are built (from the consumer's options). */
export interface ApplyOptions {
  readonly shared: boolean;
  readonly verifySnapshots: boolean;
  readonly layout?: Partial<Layout>;
  /** The reader's schema: the result must be compatible with it. */
  readonly schema?: Schema;
}

const blobsFault = (e: ShoalError) =>
  e.code.startsWith('BLOB_') ||
  e.code === 'CHECKSUM_MISMATCH' ||
  e.code === 'DELTA_ORIGIN_MISMATCH' ||
  e.code === 'SCHEMA_INCOMPATIBLE';

/** The state `plan` reaches from `from`, and the bytes fetched to build it. */
export async function applyPlan(
  store: BlobStore,
  from: AnyState | undefined,
  plan: RefreshPlan,
  options: ApplyOptions,
): Promise<{ state: AnyState; bytes: number }> {
  const { shared } = options;
  let fetched = 0;
  const fetch = async (key: string) => {
    try {
      const bytes = await store.get(key);
      fetched += bytes.byteLength;
      return bytes;
    } catch (e) {
      if (isShoalError(e, 'BLOB_NOT_FOUND')) throw Object.assign(e, { blobKey: key });
      throw e;
    }
  };
  const guard = <T>(key: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (!isShoalError(e)) {
        throw Object.assign(
          new ShoalError(
            'BLOB_CORRUPT',
            `${key} could not be applied (${(e as Error)?.message ?? String(e)})`,
            {
              cause: e,
            },
          ),
          { blobKey: key },
        );
      }
      if (blobsFault(e)) throw Object.assign(e, { blobKey: key });
      throw e;
    }
  };
  let state: AnyState;
  if (plan.kind === 'snapshot') {
    const key = plan.snapshot!;
    const bytes = await fetch(key);
    state = guard(key, () => decodeSnapshot(bytes, { shared, verify: options.verifySnapshots }));
    // The consumer's own indexes (createIndex) are rebuilt on the new state.
    if (from) carryLocalIndexes(from, state);
  } else {
    state = from!;
  }
  for (const key of plan.steps) {
    const bytes = await fetch(key);
    const base = state;
    state = guard(key, () =>
      applyDelta(base, bytes, options.layout ? { shared, layout: options.layout } : { shared }),
    );
  }
  if (state.version !== plan.target.version || state.tag !== plan.target.tag) {
    // The last blob applied claims to reach the target but does not: route around it.
    throw Object.assign(
      new ShoalError(
        'CHECKSUM_MISMATCH',
        `refreshing reached version ${state.version}, not ${plan.target.version}`,
      ),
      { blobKey: plan.steps.at(-1) ?? plan.snapshot },
    );
  }
  if (options.schema) assertCompatible(state.schema, options.schema);
  return { state, bytes: fetched };
}
