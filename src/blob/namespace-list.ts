/**
 * Which namespaces a store holds: those with an announcement (`<namespace>/announced`). A
 * function over `list`, so every store has it; it lists the whole store, which is fine for
 * what it is for (telling someone who asked for a namespace that does not exist which ones
 * do), not for a hot path.
 */
import type { BlobStore, CallOptions } from './blob-store.ts';

const ANNOUNCED = '/announced';

/** The namespaces announced in `store`, sorted. A namespace with blobs but no announcement is not one yet. */
export async function listNamespaces(store: BlobStore, options: CallOptions = {}): Promise<string[]> {
  const keys = await store.list('', options);
  return keys.filter((key) => key.endsWith(ANNOUNCED)).map((key) => key.slice(0, -ANNOUNCED.length));
}
