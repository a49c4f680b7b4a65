/**
 * Waiting for a namespace's first announcement, for a consumer started before its producer
 * has published anything. The watcher does the watching (file events, polls with backoff);
 * this only ends the wait: on the first announcement, on the timeout, or on the signal.
 */
import type { AnnouncementWatcher } from '../blob/announcement-watcher.ts';
import type { Announcement } from '../blob/announcer.ts';
import { aborted, type BlobStore, withBlobKey } from '../blob/blob-store.ts';
import { NamespaceLayout } from '../blob/namespace-layout.ts';
import { listNamespaces } from '../blob/namespace-list.ts';
import { isShoalError, ShoalError } from '../errors.ts';

/** Which namespaces `store` holds, as words for an error message. */
async function namespacesHere(store: BlobStore): Promise<string> {
  try {
    const names = await listNamespaces(store);
    return names.length === 0
      ? 'no namespace is announced in this store'
      : `namespaces announced in this store: ${names.join(', ')}`;
  } catch (e) {
    // No store at all (no such bucket, a root that is a file): that, not the namespace, is the news.
    if (isShoalError(e, 'BLOB_NOT_FOUND')) throw e;
    return 'the store could not be listed to say which namespaces it holds';
  }
}

/** `BLOB_NOT_FOUND`: nothing is announced in `namespace`, and the consumer was not told to wait. */
export async function nothingAnnounced(store: BlobStore, namespace: string): Promise<ShoalError> {
  return withBlobKey(
    new ShoalError(
      'BLOB_NOT_FOUND',
      `nothing is announced in namespace "${namespace}" yet (${await namespacesHere(store)}). Check the namespace, start its producer first, or open with waitForFirstVersion.`,
    ),
    new NamespaceLayout(namespace).announced,
  );
}

/** Options of {@link waitForFirstAnnouncement}. */
export interface FirstAnnouncementWait {
  readonly store: BlobStore;
  readonly namespace: string;
  /** Ends the wait with `ABORTED`. */
  readonly signal: AbortSignal;
  /** Ends the wait with `NO_VERSION_ANNOUNCED` after this many ms; `undefined` for never. */
  readonly timeoutMs: number | undefined;
}

/** Resolves with the first announcement `watcher` (started) sees. */
export function waitForFirstAnnouncement(
  watcher: AnnouncementWatcher,
  options: FirstAnnouncementWait,
): Promise<Announcement> {
  return new Promise<Announcement>((resolve, reject) => {
    if (watcher.current) return resolve(watcher.current);
    if (options.signal.aborted) return reject(aborted(options.signal.reason));
    // The watcher's timers are unref'd, so that a consumer alone does not hold a process
    // open; a caller awaiting open() is another matter, like any pending request: this timer
    // is ref'd and keeps the process alive for as long as the wait lasts.
    const timer =
      options.timeoutMs === undefined
        ? setInterval(() => {}, 2 ** 30)
        : setTimeout(() => {
            done();
            void namespacesHere(options.store).then((here) =>
              reject(
                new ShoalError(
                  'NO_VERSION_ANNOUNCED',
                  `nothing was announced in namespace "${options.namespace}" within ${options.timeoutMs} ms (${here}). Check the namespace and that its producer runs, or wait longer.`,
                ),
              ),
            );
          }, options.timeoutMs);
    const onAbort = () => {
      done();
      reject(aborted(options.signal.reason));
    };
    const stop = watcher.on('announcement', (a) => {
      done();
      resolve(a);
    });
    options.signal.addEventListener('abort', onAbort, { once: true });
    function done() {
      clearTimeout(timer);
      stop();
      options.signal.removeEventListener('abort', onAbort);
    }
  });
}
