/**
 * The envelope every shoal blob shares: a 16-byte prefix, a msgpack header, then a body of
 * 8-byte-aligned sections that typed arrays view in place.
 *
 *   0  magic "SHOL"          4  u16 format version   6  u8 blob kind   7  u8 0
 *   8  u32 header length     12 u32 CRC-32 of the header bytes
 *   16 header (msgpack: body length, body CRC-32, section table, kind-specific fields)
 *   align8(16 + header length): body
 *
 * Decoding checks the prefix, both CRCs and every section's bounds before anything is viewed,
 * so a flipped or missing byte is a typed error and never a wrong value. Multi-byte values are
 * little-endian, the byte order typed arrays use on every platform Node supports in practice;
 * a big-endian host is refused.
 *
 * Format versions: 1, and 2 for a blob with a section too large for 32-bit page starts (its
 * parts say `wideStarts`). A writer writes 2 only when a blob needs it, so blobs under 4 GiB
 * stay readable by shoal releases that read version 1 alone. CRC-32s are computed over
 * chunks of at most 1 GiB, so a body past 4 GiB is checked like any other.
 */
import { crc32 } from 'node:zlib';
import { ShoalError } from '../errors.ts';
import { checkBlobSize, MAX_BLOB_BYTES } from './blob-size.ts';
import { msgpack } from './msgpack.ts';

const MAGIC = 0x4c4f4853; // "SHOL" read as little-endian u32
/**
 * The format version this code writes. 2: the primary-key index in shards with key tags in its
 * slots, and a part's page starts in 64 bits where its heap passes 4 GiB (version 1 held one
 * flat table of ordinals and only 32-bit starts; its snapshots still load, the index built again
 * from the key column at load).
 */
export const FORMAT_VERSION = 2;
/** The oldest format version this code reads. */
export const OLDEST_FORMAT_VERSION = 1;
/** The most bytes one crc32 call is given (zlib's length argument is 32-bit). */
const CRC_CHUNK = 2 ** 30;

/** CRC-32 of `bytes`, continuing from `value`, in chunks of at most 1 GiB. */
function crcOf(bytes: Uint8Array, value = 0): number {
  // Node 20's crc32(empty, value) returns 0 rather than `value`: skip empty chunks.
  for (let at = 0; at < bytes.byteLength; at += CRC_CHUNK) {
    value = crc32(bytes.subarray(at, Math.min(bytes.byteLength, at + CRC_CHUNK)), value);
  }
  return value;
}
const PREFIX = 16;

/** What a blob holds. */
export type BlobKind = 'snapshot' | 'delta' | 'reverse-delta';
const KIND_CODES: Record<BlobKind, number> = { snapshot: 1, delta: 2, 'reverse-delta': 3 };
const KIND_NAMES = new Map(Object.entries(KIND_CODES).map(([name, code]) => [code, name as BlobKind]));

/** Fields every header carries. */
interface EnvelopeFields {
  readonly bodyLength: number;
  readonly bodyCrc: number;
  /** Pairs of (offset from body start, byte length). */
  readonly sections: readonly number[];
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('shoal needs a little-endian host: its blobs are viewed in place by typed arrays');
}

/** `n` rounded up to a multiple of 8 (arithmetic, not `& ~7`, which wraps past 2 GiB). */
export const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/** Collects sections, then lays out one blob, copying each byte once. */
export class BlobWriter {
  private readonly chunks: Uint8Array[] = [];
  private readonly table: number[] = [];
  private length = 0;
  private version = FORMAT_VERSION;
  /** Most bytes a blob may have (the runtime's buffer limit; tests inject a small one). */
  private readonly maxBytes: number;

  constructor(options: { maxBytes?: number } = {}) {
    this.maxBytes = options.maxBytes ?? MAX_BLOB_BYTES;
  }

  /** Marks the blob as needing format version `version` (a reader of older versions refuses it). */
  needVersion(version: number): void {
    this.version = Math.max(this.version, version);
  }

  /** Bytes of the body so far. */
  get bodyLength(): number {
    return this.length;
  }

  /**
   * Adds a section made of `views` back to back (their bytes are copied at `finish`, so they
   * must not change before it); returns the section's id.
   */
  add(...views: ArrayBufferView[]): number {
    let size = 0;
    for (const v of views) {
      this.chunks.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      size += v.byteLength;
    }
    const pad = align8(size) - size;
    if (pad > 0) this.chunks.push(new Uint8Array(pad));
    this.table.push(this.length, size);
    this.length += size + pad;
    return this.table.length / 2 - 1;
  }

  /** The blob: prefix, header (`fields` plus the section table), body. */
  finish(kind: BlobKind, fields: Record<string, unknown>): Uint8Array {
    let bodyCrc = 0;
    for (const c of this.chunks) bodyCrc = crcOf(c, bodyCrc);
    const header = msgpack.pack({ ...fields, bodyLength: this.length, bodyCrc, sections: this.table });
    const bodyStart = align8(PREFIX + header.byteLength);
    checkBlobSize(bodyStart + this.length, `the ${kind} blob`, this.maxBytes);
    const out = new Uint8Array(bodyStart + this.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint16(4, this.version, true);
    dv.setUint8(6, KIND_CODES[kind]);
    dv.setUint32(8, header.byteLength, true);
    dv.setUint32(12, crcOf(header), true);
    out.set(header, PREFIX);
    let at = bodyStart;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

/** Typed-array constructors a section may be viewed as. */
export type ArrayCtor =
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor;

/** A checked blob: its header and views of its sections. */
export class BlobReader<H> {
  readonly kind: BlobKind;
  /** The format version the blob was written in (OLDEST_FORMAT_VERSION to FORMAT_VERSION). */
  readonly version: number;
  readonly header: H & EnvelopeFields;
  /** The blob's bytes, 8-aligned in their buffer. */
  readonly bytes: Uint8Array;
  private readonly bodyStart: number;
  /** Sections viewed so far: each is one part, so a second view of one is a crafted blob. */
  private readonly viewed = new Set<number>();

  constructor(
    kind: BlobKind,
    header: H & EnvelopeFields,
    bytes: Uint8Array,
    bodyStart: number,
    version = FORMAT_VERSION,
  ) {
    this.kind = kind;
    this.version = version;
    this.header = header;
    this.bytes = bytes;
    this.bodyStart = bodyStart;
  }

  /**
   * Section `id` viewed as `Ctor`, `count` elements long (all of it by default). Each section
   * may be viewed once: two parts never share bytes.
   */
  view<C extends ArrayCtor>(id: number, Ctor: C, count?: number): InstanceType<C> {
    if (!isUint(id)) corrupt(`a section id (${String(id)}) is not valid`);
    if (this.viewed.has(id)) corrupt(`section ${id} is used by two parts`);
    this.viewed.add(id);
    const table = this.header.sections;
    const offset = table[2 * id];
    const length = table[2 * id + 1];
    if (offset === undefined || length === undefined) corrupt(`section ${id} is not in the section table`);
    const size = Ctor.BYTES_PER_ELEMENT;
    const n = count ?? length / size;
    if (!Number.isInteger(n) || n * size > length)
      corrupt(`section ${id} does not hold ${n} ${Ctor.name} elements`);
    return new Ctor(
      this.bytes.buffer as ArrayBuffer,
      this.bytes.byteOffset + this.bodyStart + offset,
      n,
    ) as InstanceType<C>;
  }
}

function corrupt(what: string): never {
  throw new ShoalError('BLOB_CORRUPT', `the blob is corrupt: ${what}. Fetch it again or republish it.`);
}

function isUint(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * Checks `bytes` as a blob of kind `expected` and returns a reader over it. The bytes are
 * copied only when they are not 8-aligned (or not shared when `shared` is asked for).
 */
export function readBlob<H>(
  input: Uint8Array,
  expected: BlobKind | readonly BlobKind[],
  options: { shared?: boolean } = {},
): BlobReader<H> {
  const wanted: readonly BlobKind[] = typeof expected === 'string' ? [expected] : expected;
  if (input.byteLength < PREFIX) {
    throw new ShoalError(
      'BLOB_TRUNCATED',
      `the ${wanted.join(' or ')} blob is ${input.byteLength} bytes, shorter than its 16-byte prefix. Fetch it again.`,
    );
  }
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) {
    throw new ShoalError(
      'BLOB_BAD_MAGIC',
      `these bytes are not a shoal blob (wrong magic). Check the key you read.`,
    );
  }
  const version = dv.getUint16(4, true);
  if (version < OLDEST_FORMAT_VERSION || version > FORMAT_VERSION) {
    throw new ShoalError(
      'BLOB_UNSUPPORTED_VERSION',
      `the blob has format version ${version}; this shoal reads versions ${OLDEST_FORMAT_VERSION} to ${FORMAT_VERSION}. ${version > FORMAT_VERSION ? 'Upgrade shoal to read it.' : 'Republish it with a newer shoal.'}`,
    );
  }
  const kind = KIND_NAMES.get(dv.getUint8(6));
  if (kind === undefined || dv.getUint8(7) !== 0) corrupt('the blob kind byte is not valid');
  if (!wanted.includes(kind)) {
    throw new ShoalError(
      'BLOB_WRONG_KIND',
      `expected a ${wanted.join(' or ')} blob, got a ${kind}. Check the key you read.`,
    );
  }
  const headerLength = dv.getUint32(8, true);
  if (PREFIX + headerLength > input.byteLength) {
    throw new ShoalError('BLOB_TRUNCATED', `the ${kind} blob ends inside its header. Fetch it again.`);
  }
  const headerBytes = input.subarray(PREFIX, PREFIX + headerLength);
  if (crcOf(headerBytes) !== dv.getUint32(12, true)) corrupt('the header checksum does not match');
  let header: H & EnvelopeFields;
  try {
    header = msgpack.unpack(headerBytes) as H & EnvelopeFields;
  } catch (cause) {
    throw new ShoalError('BLOB_CORRUPT', 'the blob header does not decode. Fetch it again or republish it.', {
      cause,
    });
  }
  const bodyStart = align8(PREFIX + headerLength);
  if (
    typeof header !== 'object' ||
    header === null ||
    !isUint(header.bodyLength) ||
    !isUint(header.bodyCrc)
  ) {
    corrupt('the header lacks the body length or checksum');
  }
  if (bodyStart + header.bodyLength > input.byteLength) {
    throw new ShoalError(
      'BLOB_TRUNCATED',
      `the ${kind} blob is ${input.byteLength} bytes but declares ${bodyStart + header.bodyLength}. Fetch it again.`,
    );
  }
  if (bodyStart + header.bodyLength < input.byteLength) corrupt('there are bytes after the body');
  for (let i = PREFIX + headerLength; i < bodyStart; i++)
    if (input[i] !== 0) corrupt('the header padding is not zero');
  const table = header.sections;
  if (!Array.isArray(table) || table.length % 2 !== 0) corrupt('the section table is malformed');
  for (let i = 0; i < table.length; i += 2) {
    const offset = table[i];
    const length = table[i + 1];
    if (!isUint(offset) || !isUint(length) || offset % 8 !== 0 || offset + length > header.bodyLength) {
      corrupt(`section ${i / 2} lies outside the body`);
    }
    // The writer lays sections out in order; a section overlapping the one before is crafted.
    if (i > 0 && offset < (table[i - 2] as number) + (table[i - 1] as number)) {
      corrupt(`section ${i / 2} overlaps the section before it`);
    }
  }
  if (crcOf(input.subarray(bodyStart)) !== header.bodyCrc) corrupt('the body checksum does not match');
  const wantShared = options.shared === true;
  const isShared = typeof SharedArrayBuffer !== 'undefined' && input.buffer instanceof SharedArrayBuffer;
  let bytes = input;
  if (input.byteOffset % 8 !== 0 || (wantShared && !isShared)) {
    const buffer = wantShared ? new SharedArrayBuffer(input.byteLength) : new ArrayBuffer(input.byteLength);
    bytes = new Uint8Array(buffer);
    bytes.set(input);
  }
  return new BlobReader(kind, header, bytes, bodyStart, version);
}
