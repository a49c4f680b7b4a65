/**
 * Where a namespace's blobs live in a store, in one place. Under `<namespace>/`:
 * `snapshot/<v>`, `delta/<from>-<to>`, `reverse/<to>-<from>`, `header/<v>`, and `announced`.
 * Versions are zero-padded to 16 digits so keys sort by version.
 *
 * The index that finds the nearest snapshot at or below a version without listing the bucket
 * is the version headers themselves: `header/<v>` (immutable, written before `v` is
 * announced) names the version before `v` and the newest snapshot at or below `v`.
 */

import { ShoalError } from '../errors.ts';
import { msgpack } from '../format/msgpack.ts';
import { checkKey } from './blob-store.ts';
import { metadataProblem } from './version-metadata.ts';

const DIGITS = 16;

/** A version as it appears in keys. */
export const padVersion = (version: number): string => String(version).padStart(DIGITS, '0');

/** What a key of a namespace holds. */
export type ParsedKey =
  | { readonly kind: 'snapshot' | 'header'; readonly version: number }
  | { readonly kind: 'delta'; readonly from: number; readonly to: number }
  | { readonly kind: 'reverse'; readonly from: number; readonly to: number }
  | { readonly kind: 'announced' };

/** The keys of one namespace. */
export class NamespaceLayout {
  readonly namespace: string;

  constructor(namespace: string) {
    checkKey(namespace, 'namespace');
    this.namespace = namespace;
  }

  snapshot(version: number): string {
    return `${this.namespace}/snapshot/${padVersion(version)}`;
  }
  delta(from: number, to: number): string {
    return `${this.namespace}/delta/${padVersion(from)}-${padVersion(to)}`;
  }
  /** The reverse delta that takes `from` (the later version) back to `to`. */
  reverse(from: number, to: number): string {
    return `${this.namespace}/reverse/${padVersion(from)}-${padVersion(to)}`;
  }
  header(version: number): string {
    return `${this.namespace}/header/${padVersion(version)}`;
  }
  get announced(): string {
    return `${this.namespace}/announced`;
  }
  /** The prefix of every key of the namespace. */
  get prefix(): string {
    return `${this.namespace}/`;
  }

  /** What `key` holds, or `undefined` for a key outside the layout. */
  parse(key: string): ParsedKey | undefined {
    if (!key.startsWith(this.prefix)) return undefined;
    const rest = key.slice(this.prefix.length);
    if (rest === 'announced') return { kind: 'announced' };
    const m = /^(snapshot|header)\/(\d{16})$/.exec(rest);
    if (m) return { kind: m[1] as 'snapshot' | 'header', version: Number(m[2]) };
    const d = /^(delta|reverse)\/(\d{16})-(\d{16})$/.exec(rest);
    if (d) return { kind: d[1] as 'delta' | 'reverse', from: Number(d[2]), to: Number(d[3]) };
    return undefined;
  }
}

/** What `header/<v>` holds: enough to plan a refresh without listing the store. */
export interface VersionHeader {
  readonly version: number;
  readonly tag: bigint;
  readonly checksum: bigint;
  /** The version before this one (its delta to this one is `delta/<previous>-<version>`). */
  readonly previous?: number;
  /** The newest version at or below this one that has a snapshot (this one, if it has). */
  readonly snapshot: number;
  /** Byte sizes of this version's blobs, for choosing the cheapest path. */
  readonly bytes: { readonly snapshot?: number; readonly delta?: number; readonly reverse?: number };
  /** Records per type. */
  readonly counts: Readonly<Record<string, number>>;
  /** When the version was published (ms since the epoch). */
  readonly publishedAt: number;
  readonly producer: string;
  /** The producer's name for the version (`runCycle(populate, { label })`); absent in older headers. */
  readonly label?: string;
  /** The producer's key/values for the version; absent when none (and in older headers). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * The largest version header read: far above what a producer writes (counts per type, a label,
 * at most 8 KiB of metadata), so a crafted one is refused before it is decoded.
 */
export const MAX_HEADER_BYTES = 1024 * 1024;

/** A version (or a byte size): a non-negative safe integer. */
export const isVersion = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Encodes a version header. */
export function encodeVersionHeader(header: VersionHeader): Uint8Array {
  return msgpack.pack(header);
}

/** Decodes a version header; `BLOB_CORRUPT` when it is not one. */
export function decodeVersionHeader(bytes: Uint8Array, key: string): VersionHeader {
  if (bytes.byteLength > MAX_HEADER_BYTES) {
    throw new ShoalError(
      'BLOB_CORRUPT',
      `the version header at "${key}" is ${bytes.byteLength} bytes, more than any producer writes (${MAX_HEADER_BYTES}). Republish it.`,
    );
  }
  let h: unknown;
  try {
    h = msgpack.unpack(bytes);
  } catch (cause) {
    throw new ShoalError('BLOB_CORRUPT', `the version header at "${key}" does not decode. Republish it.`, {
      cause,
    });
  }
  return checkVersionHeader(h, `the version header at "${key}"`);
}

/**
 * `value` as a version header (the same checks wherever a header comes from: its blob, or
 * an announcement that carries it); `BLOB_CORRUPT` naming `where` when it is not one.
 */
export function checkVersionHeader(value: unknown, where: string): VersionHeader {
  const h = value as VersionHeader;
  const isSize = (v: unknown) => v === undefined || isVersion(v);
  const bytesOk =
    typeof h?.bytes === 'object' &&
    h.bytes !== null &&
    isSize(h.bytes.snapshot) &&
    isSize(h.bytes.delta) &&
    isSize(h.bytes.reverse);
  if (
    typeof h !== 'object' ||
    h === null ||
    !isVersion(h.version) ||
    !isVersion(h.snapshot) ||
    h.snapshot > h.version ||
    // Each header points strictly back, so no walk along `previous` can loop.
    (h.previous !== undefined && (!isVersion(h.previous) || h.previous >= h.version)) ||
    (h.previous === undefined && h.snapshot !== h.version) ||
    typeof h.tag !== 'bigint' ||
    typeof h.checksum !== 'bigint' ||
    !bytesOk ||
    typeof h.counts !== 'object' ||
    h.counts === null ||
    !Object.values(h.counts).every(isVersion) ||
    // A time a Date can hold, and who published it.
    !(typeof h.publishedAt === 'number' && Math.abs(h.publishedAt) <= 8.64e15) ||
    typeof h.producer !== 'string'
  ) {
    throw new ShoalError('BLOB_CORRUPT', `${where} is malformed. Republish it.`);
  }
  const problem = metadataProblem(h.label, h.metadata);
  if (problem) {
    throw new ShoalError(
      'BLOB_CORRUPT',
      `${where} is malformed: its ${problem.option}${problem.detail}. Republish it.`,
    );
  }
  return h;
}
