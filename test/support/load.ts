/** Loads the announced state of a namespace through the public API (what a consumer does). */
import {
  applyDelta,
  type BlobStore,
  decodeSnapshot,
  NamespaceLayout,
  planFromSnapshot,
  StoreAnnouncer,
} from '../../src/index.ts';
import type { State } from '../../src/state/read/state.ts';

export async function loadVersion(store: BlobStore, namespace: string, version?: number): Promise<State> {
  const layout = new NamespaceLayout(namespace);
  const target = version ?? (await new StoreAnnouncer({ store, namespace }).read())!.version;
  const plan = await planFromSnapshot(store, layout, target);
  let state = decodeSnapshot(await store.get(layout.snapshot(plan.snapshot.version)));
  for (const d of plan.deltas) state = applyDelta(state, await store.get(d.key));
  return state;
}

export const recordsOf = (state: State, type: string) => [...state.type(type)].map((v) => v.toObject());
