/**
 * Which blobs take a reader to a version: the nearest snapshot at or below it, then the deltas
 * after that snapshot, found by walking the version headers back (`header/<v>` names the
 * version before `v` and the newest snapshot at or below `v`). No listing of the store.
 */
import { ShoalError } from '../errors.ts';
import { type BlobStore, type CallOptions, withBlobKey } from './blob-store.ts';
import { decodeVersionHeader, type NamespaceLayout, type VersionHeader } from './namespace-layout.ts';

/** A snapshot and the deltas that follow it to a target version. */
export interface ChainPlan {
  readonly target: VersionHeader;
  readonly snapshot: VersionHeader;
  /** Delta keys in order (oldest first), with the version each one reaches. */
  readonly deltas: readonly { readonly key: string; readonly to: VersionHeader }[];
  /** Bytes to fetch: the snapshot plus the deltas. */
  readonly bytes: number;
}

/**
 * Reads `header/<version>`. Every failure that is the header's own (`BLOB_NOT_FOUND`,
 * `BLOB_CORRUPT`) carries its key as `blobKey`, so a planner can route around it.
 */
export async function readVersionHeader(
  store: BlobStore,
  layout: NamespaceLayout,
  version: number,
  options: CallOptions = {},
): Promise<VersionHeader> {
  const key = layout.header(version);
  const bytes = await store.get(key, options);
  let header: VersionHeader;
  try {
    header = decodeVersionHeader(bytes, key);
  } catch (e) {
    throw withBlobKey(e as ShoalError, key);
  }
  if (header.version !== version) {
    throw withBlobKey(
      new ShoalError(
        'BLOB_CORRUPT',
        `the version header at "${key}" describes version ${header.version}. Republish version ${version}.`,
      ),
      key,
    );
  }
  return header;
}

/** The most headers a plan walks back to its snapshot; more is a broken or crafted chain. */
const MAX_WALK = 100_000;

/** The plan from the nearest snapshot at or below `version` to `version`. */
export async function planFromSnapshot(
  store: BlobStore,
  layout: NamespaceLayout,
  version: number,
  options: CallOptions = {},
): Promise<ChainPlan> {
  const target = await readVersionHeader(store, layout, version, options);
  const chain: VersionHeader[] = [target];
  let at = target;
  while (at.version !== target.snapshot) {
    if (at.previous === undefined || at.previous < target.snapshot || chain.length > MAX_WALK) {
      throw new ShoalError(
        'BLOB_CORRUPT',
        `the version headers of ${layout.namespace} do not lead from ${version} back to its snapshot ${target.snapshot}. Republish a snapshot.`,
      );
    }
    at = await readVersionHeader(store, layout, at.previous, options);
    chain.unshift(at);
  }
  const deltas = chain.slice(1).map((to, i) => ({ key: layout.delta(chain[i]!.version, to.version), to }));
  const bytes = (chain[0]!.bytes.snapshot ?? 0) + deltas.reduce((sum, d) => sum + (d.to.bytes.delta ?? 0), 0);
  return { target, snapshot: chain[0]!, deltas, bytes };
}
