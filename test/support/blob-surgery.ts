/**
 * Opens a blob into its header (as a JS object) and body, and closes it again with every CRC
 * recomputed: what a producer bug, a bad copy or an attacker makes, and what the envelope's
 * checksums cannot catch.
 */
import { crc32 } from 'node:zlib';
import { msgpack } from '../../src/format/msgpack.ts';
import { decodeSnapshot } from '../../src/index.ts';
import { combineSums, sumRecords } from '../../src/state/read/checksum.ts';

const PREFIX = 16;
const align8 = (n: number) => (n + 7) & ~7;

// biome-ignore lint/suspicious/noExplicitAny: a header is edited freely, as an attacker would.
export type Header = Record<string, any>;

export interface OpenBlob {
  readonly prefix: Uint8Array;
  header: Header;
  body: Uint8Array;
}

export function openBlob(bytes: Uint8Array): OpenBlob {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = dv.getUint32(8, true);
  const header = msgpack.unpack(bytes.subarray(PREFIX, PREFIX + headerLength)) as Header;
  return {
    prefix: bytes.slice(0, PREFIX),
    header,
    body: bytes.slice(align8(PREFIX + headerLength)),
  };
}

export function closeBlob(blob: OpenBlob): Uint8Array {
  const header = {
    ...blob.header,
    bodyLength: blob.body.byteLength,
    bodyCrc: blob.body.byteLength ? crc32(blob.body) : 0,
  };
  const hb = msgpack.pack(header);
  const bodyStart = align8(PREFIX + hb.byteLength);
  const out = new Uint8Array(bodyStart + blob.body.byteLength);
  out.set(blob.prefix);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, hb.byteLength, true);
  dv.setUint32(12, crc32(hb), true);
  out.set(hb, PREFIX);
  out.set(blob.body, bodyStart);
  return out;
}

/** A blob edited by `edit` (header and body in place), closed with valid CRCs. */
export function tamper(bytes: Uint8Array, edit: (blob: OpenBlob) => void): Uint8Array {
  const blob = openBlob(bytes);
  edit(blob);
  return closeBlob(blob);
}

type Ctor =
  | Uint8ArrayConstructor
  | Uint16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | Float64ArrayConstructor;

/** Section `id` of an open blob, viewed as `C` (writes go into the body). */
export function section<C extends Ctor>(blob: OpenBlob, id: number, C: C): InstanceType<C> {
  const offset = blob.header.sections[2 * id] as number;
  const length = blob.header.sections[2 * id + 1] as number;
  return new C(
    blob.body.buffer as ArrayBuffer,
    blob.body.byteOffset + offset,
    length / C.BYTES_PER_ELEMENT,
  ) as InstanceType<C>;
}

/**
 * The snapshot with its per-type sums and checksum recomputed from what its columns now hold:
 * a tampered value that no checksum can catch, only `verify`'s value checks.
 */
export function resummed(bytes: Uint8Array): Uint8Array {
  const state = decodeSnapshot(bytes);
  const sums = state.types.map((t) => sumRecords(t.type, t.parts.columns, t.parts.populated, t.capacity));
  return tamper(bytes, (blob) => {
    sums.forEach((s, i) => {
      blob.header.types[i].sums = [s.a, s.b];
    });
    blob.header.checksum = combineSums(sums);
  });
}
