/**
 * Announcements: the one mutable object of a namespace, written last, naming the version
 * consumers should serve (and a pin, when one is set). One writer at a time: an announcement
 * names the version it replaces and is written with a precondition on the object read (S3
 * `If-Match` / `If-None-Match`, a lock file on the filesystem), so a second producer gets
 * `ANNOUNCE_CONFLICT` instead of forking the chain.
 *
 * An announcement carries its version's header (`header`), so a consumer one version behind
 * plans its refresh (one delta) from the announcement alone. Announcements written before
 * that carry none; readers then read `header/<version>`.
 */

import { isShoalError, ShoalError } from '../errors.ts';
import { msgpack } from '../format/msgpack.ts';
import { type BlobStore, type CallOptions, getIfChanged } from './blob-store.ts';
import { checkVersionHeader, isVersion, NamespaceLayout, type VersionHeader } from './namespace-layout.ts';

/** The announced state of a namespace. */
export interface Announcement {
  /** The version producers published last. */
  readonly version: number;
  /** When it was announced (ms since the epoch). */
  readonly announcedAt: number;
  /** Who announced it. */
  readonly producer: string;
  /** When set, consumers serve this version instead of `version` (a pin, e.g. to roll back). */
  readonly pinned?: number;
  /** The version this announcement replaced (none for the first). */
  readonly replaces?: number;
  /** The announced state's tag: tells a producer whether an announcement it finds is its own. */
  readonly tag?: bigint;
  /**
   * The header of `version` (what `header/<version>` holds): its previous version, snapshot,
   * blob sizes, label. Absent in announcements of older producers.
   */
  readonly header?: VersionHeader;
}

/** The role that reads and writes a namespace's announcement. */
export interface Announcer {
  /** The current announcement, or `undefined` when nothing was announced yet. */
  read(options?: CallOptions): Promise<Announcement | undefined>;
  /**
   * Announces `next`, provided the current announcement's version is `next.replaces`
   * (`undefined`: nothing announced yet); `ANNOUNCE_CONFLICT` otherwise.
   */
  announce(next: Announcement, options?: CallOptions): Promise<void>;
}

/** Decodes an announcement; `BLOB_CORRUPT` when it is not one. */
export function decodeAnnouncement(bytes: Uint8Array, key: string): Announcement {
  let a: Announcement;
  try {
    a = msgpack.unpack(bytes) as Announcement;
  } catch (cause) {
    throw new ShoalError('BLOB_CORRUPT', `the announcement at "${key}" does not decode. Announce again.`, {
      cause,
    });
  }
  if (
    typeof a !== 'object' ||
    a === null ||
    !isVersion(a.version) ||
    (a.pinned !== undefined && !isVersion(a.pinned)) ||
    (a.replaces !== undefined && !isVersion(a.replaces)) ||
    (a.tag !== undefined && typeof a.tag !== 'bigint')
  ) {
    throw new ShoalError('BLOB_CORRUPT', `the announcement at "${key}" is malformed. Announce again.`);
  }
  if (a.header !== undefined) {
    const header = checkVersionHeader(a.header, `the version header in the announcement at "${key}"`);
    if (header.version !== a.version || (a.tag !== undefined && header.tag !== a.tag)) {
      throw new ShoalError(
        'BLOB_CORRUPT',
        `the announcement at "${key}" carries the header of version ${header.version}, not of the version it announces (${a.version}). Announce again.`,
      );
    }
  }
  return a;
}

/** An announcer over any {@link BlobStore}. */
export class StoreAnnouncer implements Announcer {
  private readonly store: BlobStore;
  private readonly key: string;

  constructor(options: { readonly store: BlobStore; readonly namespace: string }) {
    this.store = options.store;
    this.key = new NamespaceLayout(options.namespace).announced;
  }

  /** The announcement and the etag it was read at (one GET on a store with `getIfChanged`). */
  async readTagged(
    options: CallOptions = {},
  ): Promise<{ announcement: Announcement; etag: string } | undefined> {
    try {
      // One read gives the bytes and their etag together; without `getIfChanged`, the head comes
      // first: if the object changes between the two reads, the etag is the older one and a
      // write conditioned on it fails safe.
      const read = await getIfChanged(this.store, this.key, undefined, options);
      if (!read) return undefined;
      return { announcement: decodeAnnouncement(read.bytes, this.key), etag: read.etag };
    } catch (e) {
      if (isShoalError(e, 'BLOB_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  /** The announcement (one GET: a reader that needs no etag pays no HEAD). */
  async read(options: CallOptions = {}): Promise<Announcement | undefined> {
    try {
      return decodeAnnouncement(await this.store.get(this.key, options), this.key);
    } catch (e) {
      if (isShoalError(e, 'BLOB_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  async announce(next: Announcement, options: CallOptions = {}): Promise<void> {
    const current = await this.readTagged(options);
    const conflict = (found: number | undefined, cause?: unknown) =>
      new ShoalError(
        'ANNOUNCE_CONFLICT',
        `another producer announced in namespace "${this.key.slice(0, -'/announced'.length)}": expected to replace ${next.replaces ?? 'nothing'}, found ${found ?? 'a newer write'}. Run one producer per namespace; restart this one to resume from the announced version.`,
        { cause },
      );
    if (current?.announcement.version !== next.replaces) throw conflict(current?.announcement.version);
    try {
      await this.store.put(
        this.key,
        msgpack.pack(next),
        current ? { ...options, ifMatch: current.etag } : { ...options, ifNoneMatch: true },
      );
    } catch (e) {
      if (isShoalError(e, 'PRECONDITION_FAILED')) throw conflict(undefined, e);
      throw e;
    }
  }
}
