/**
 * Which version a label names: the newest retained version whose header carries it, found by
 * walking the version headers back from the announced version (`previous` by `previous`).
 * Headers are small and immutable, and the walk stops where retention deleted the chain, or
 * after {@link MAX_LABEL_WALK} headers, so it costs at most that many small reads.
 */
import { isShoalError, ShoalError } from '../errors.ts';
import { StoreAnnouncer } from './announcer.ts';
import type { BlobStore, CallOptions } from './blob-store.ts';
import { readVersionHeader } from './chain-planner.ts';
import { NamespaceLayout, type VersionHeader } from './namespace-layout.ts';
import { parseVersionRef } from './version-metadata.ts';

/** The most version headers a label look-up reads. */
export const MAX_LABEL_WALK = 1000;

/**
 * The header of the newest version at or below `from` carrying `label`; `UNKNOWN_LABEL` when
 * none of the retained versions (at most {@link MAX_LABEL_WALK} of them) does.
 */
export async function findLabel(
  store: BlobStore,
  layout: NamespaceLayout,
  label: string,
  from: number | undefined,
  options: CallOptions = {},
): Promise<VersionHeader> {
  let read = 0;
  let at: number | undefined = from;
  while (at !== undefined && read < MAX_LABEL_WALK) {
    let header: VersionHeader;
    try {
      header = await readVersionHeader(store, layout, at, options);
    } catch (e) {
      // Retention deleted the older headers: the walk has seen every retained version.
      if (isShoalError(e, 'BLOB_NOT_FOUND') && read > 0) break;
      throw e;
    }
    read++;
    if (header.label === label) return header;
    at = header.previous;
  }
  const searched =
    from === undefined
      ? 'nothing is announced yet'
      : `searched ${read} version(s) back from the announced ${from}${read >= MAX_LABEL_WALK ? `, the most a look-up reads` : ''}`;
  throw new ShoalError(
    'UNKNOWN_LABEL',
    `no retained version of namespace "${layout.namespace}" carries the label "${label}" (${searched}). Give a version number, or a label one of them carries (\`shoal inspect --namespace ${layout.namespace}\` on this store lists them).`,
  );
}

/**
 * The version `ref` names in `namespace`: a version number as it is (all digits), else the
 * newest retained version carrying the label (see {@link parseVersionRef}). `name` is the
 * option or argument named by errors.
 */
export async function resolveVersionRef(
  store: BlobStore,
  namespace: string,
  ref: number | string,
  name: string,
  options: CallOptions = {},
): Promise<number> {
  const parsed = parseVersionRef(ref, name);
  if ('version' in parsed) return parsed.version;
  const announced = await new StoreAnnouncer({ store, namespace }).read(options);
  const header = await findLabel(
    store,
    new NamespaceLayout(namespace),
    parsed.label,
    announced?.version,
    options,
  );
  return header.version;
}
