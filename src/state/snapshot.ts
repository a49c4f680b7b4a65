/**
 * Snapshots: a whole state in one blob. Encoding writes each type's sections (type-section.ts)
 * after a msgpack header holding the schema, version, tag and checksum. Decoding checks the
 * envelope (magic, format version, lengths, CRC-32s), then wraps views over the blob's own
 * memory: nothing is done per record, and the record checksum is trusted from the header once
 * the bytes are proven intact (`verifyChecksum` recomputes it when asked).
 */

import { ShoalError } from '../errors.ts';
import { BlobWriter, readBlob } from '../format/blob-envelope.ts';
import { fromJSON, type Schema, type SchemaJson, toJSON } from '../schema/index.ts';
import { recordSummer, sumRecords } from './checksum.ts';
import { columnReader } from './column.ts';
import { testBit } from './layout.ts';
import { firstMisindexed, PrimaryKey } from './primary-key.ts';
import { type AnyState, State } from './state.ts';
import { readTypeSection, type TypeDescriptor, writeTypeSection } from './type-section.ts';
import { TypeState } from './type-state.ts';

/** The header of a snapshot blob. */
export interface SnapshotHeader {
  readonly schema: SchemaJson;
  readonly version: number;
  readonly tag: bigint;
  readonly checksum: bigint;
  readonly createdAt: number;
  readonly types: readonly TypeDescriptor[];
}

/** Encodes `state` as a snapshot blob. */
export function encodeSnapshot(state: AnyState): Uint8Array {
  const writer = new BlobWriter();
  const types = state.types.map((t) => writeTypeSection(writer, t.parts));
  const header: Omit<SnapshotHeader, 'createdAt'> & { createdAt: number } = {
    schema: toJSON(state.schema),
    version: state.version,
    tag: state.tag,
    checksum: state.checksum,
    createdAt: Date.now(),
    types,
  };
  return writer.finish('snapshot', header as unknown as Record<string, unknown>);
}

/** Options of {@link decodeSnapshot}. */
export interface DecodeSnapshotOptions {
  /**
   * Place the state on a SharedArrayBuffer (copying the bytes once if they are not there
   * already), so it can be handed to worker threads.
   * @default false
   */
  readonly shared?: boolean;
  /**
   * Also check what the structural checks cannot see without a full scan: recompute the
   * record checksum and compare it with the header (`CHECKSUM_MISMATCH`), look every key up
   * in the index (each must find its own record: `BLOB_CORRUPT`), and decode every json value
   * (`BLOB_CORRUPT`).
   * @default false: the CRC-32s and the structural checks run, which catch corruption and most
   *   crafted blobs
   */
  readonly verify?: boolean;
  /** @internal Skip the structural scans (offsets, codes, index slots), to measure their cost. */
  readonly scan?: boolean;
}

function corrupt(what: string, cause?: unknown): never {
  throw new ShoalError('BLOB_CORRUPT', `the snapshot is corrupt: ${what}. Fetch it again or republish it.`, {
    cause,
  });
}

/** Reads the header of a snapshot without building its state. */
export function readSnapshotHeader(bytes: Uint8Array): SnapshotHeader {
  return readBlob<SnapshotHeader>(bytes, 'snapshot').header;
}

/**
 * Decodes a snapshot blob into a read-only state whose columns are views over `bytes` (or over
 * one copy of them, when they are misaligned or `shared` asks for a SharedArrayBuffer).
 */
export function decodeSnapshot(bytes: Uint8Array, options: DecodeSnapshotOptions = {}): State {
  const reader = readBlob<SnapshotHeader>(bytes, 'snapshot', { shared: options.shared === true });
  const h = reader.header;
  let schema: Schema;
  try {
    schema = fromJSON(h.schema);
  } catch (cause) {
    corrupt('its schema does not parse', cause);
  }
  if (!Array.isArray(h.types) || h.types.length !== schema.types.length)
    corrupt('its type list does not match its schema');
  if (typeof h.tag !== 'bigint' || typeof h.checksum !== 'bigint')
    corrupt('its tag or checksum is malformed');
  const scan = options.scan !== false;
  const types = schema.types.map(
    (type, i) => new TypeState(readTypeSection(reader, type, h.types[i]!, scan)),
  );
  const state = new State({ schema, version: h.version, tag: h.tag, types });
  if (state.checksum !== h.checksum) corrupt('its type checksums do not add up to its checksum');
  if (options.verify) {
    verifyChecksum(state);
    verifyIndexes(state);
    verifyJson(state);
  }
  return state;
}

/** Every key finds its own record through the index (`BLOB_CORRUPT` otherwise). */
export function verifyIndexes(state: AnyState): void {
  for (const t of state.types) {
    const { type, columns, populated, capacity, index } = t.parts;
    if (!index) continue;
    const o = firstMisindexed(new PrimaryKey(type, columns), index, populated, capacity);
    if (o >= 0) corrupt(`a lookup of the key of ${type.name} at ordinal ${o} does not find it`);
  }
}

/** Every json value decodes (`BLOB_CORRUPT` otherwise). */
function verifyJson(state: AnyState): void {
  for (const t of state.types) {
    const { columns, populated, capacity } = t.parts;
    for (const col of columns) {
      if (col.valueKind !== 'json') continue;
      const read = columnReader(col);
      for (let o = 0; o < capacity; o++) if (testBit(populated, o)) read(o);
    }
  }
}

/** Recomputes a state's record checksum from its columns; `CHECKSUM_MISMATCH` when it differs. */
export function verifyChecksum(state: AnyState): void {
  for (const t of state.types) {
    const { type, columns, populated, capacity, sums } = t.parts;
    const actual = sumRecords(recordSummer(type, columns), populated, capacity);
    if (actual.a !== sums.a || actual.b !== sums.b) {
      throw new ShoalError(
        'CHECKSUM_MISMATCH',
        `the records of ${type.name} at version ${state.version} do not match their checksum. Load the version from a fresh snapshot.`,
      );
    }
  }
}
