/**
 * Snapshots: a whole state in one blob. Encoding writes each type's sections (type-section.ts)
 * after a msgpack header holding the schema, version, tag and checksum. Decoding checks the
 * envelope (magic, format version, lengths, CRC-32s), then wraps views over the blob's own
 * memory: nothing is done per record, and the record checksum is trusted from the header once
 * the bytes are proven intact (`verifyChecksum` recomputes it when asked).
 */

import { isUtf8 } from 'node:buffer';
import { ShoalError } from '../../errors.ts';
import { BlobWriter, readBlob } from '../../format/blob-envelope.ts';
import { fromJSON, jsonProblem, type Schema, type SchemaJson, toJSON } from '../../schema/index.ts';
import { type Column, columnReader } from '../column/column.ts';
import { type Layout, layoutOf, PAGE_MASK, PAGE_SHIFT, testBit } from '../column/layout.ts';
import { firstMisindexed } from '../index/key-index.ts';
import { PrimaryKey } from '../index/primary-key.ts';
import { indexMismatch } from '../index/secondary-index.ts';
import { sumRecords } from '../read/checksum.ts';
import { type AnyState, State } from '../read/state.ts';
import { TypeState } from '../read/type-state.ts';
import { readTypeSection, type TypeDescriptor, writeTypeSection } from './type-section.ts';

/** The header of a snapshot blob. */
export interface SnapshotHeader {
  readonly schema: SchemaJson;
  readonly version: number;
  readonly tag: bigint;
  readonly checksum: bigint;
  readonly createdAt: number;
  readonly types: readonly TypeDescriptor[];
  /** The version's label, as its producer gave it (the version header holds it too). */
  readonly label?: string;
  /** The version's key/values, as its producer gave them (the version header holds them too). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** What a producer says about the version a snapshot holds (checked by the producer). */
export interface SnapshotLabel {
  readonly label?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Internal options of {@link encodeSnapshot}, for tests. */
export interface EncodeSnapshotOptions {
  /** @internal Thresholds of the blob's layout (page starts widen past `maxNarrowStart`). */
  readonly layout?: Partial<Layout>;
  /** @internal Most bytes the blob may have (the runtime's buffer limit by default). */
  readonly maxBytes?: number;
}

/** Encodes `state` as a snapshot blob, with the version's label and metadata when given. */
export function encodeSnapshot(
  state: AnyState,
  about: SnapshotLabel = {},
  options: EncodeSnapshotOptions = {},
): Uint8Array {
  const writer = new BlobWriter(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {});
  const layout = layoutOf(options.layout);
  const types = state.types.map((t) => writeTypeSection(writer, t.parts, layout));
  const header: Omit<SnapshotHeader, 'createdAt'> & { createdAt: number } = {
    schema: toJSON(state.schema),
    version: state.version,
    tag: state.tag,
    checksum: state.checksum,
    createdAt: Date.now(),
    types,
    ...(about.label !== undefined ? { label: about.label } : {}),
    ...(about.metadata !== undefined ? { metadata: about.metadata } : {}),
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
  if (!Number.isSafeInteger(h.version) || h.version < 0) corrupt('its version is not a version');
  const scan = options.scan !== false;
  const types = schema.types.map(
    (type, i) => new TypeState(readTypeSection(reader, type, h.types[i]!, scan)),
  );
  const state = new State({ schema, version: h.version, tag: h.tag, types });
  if (state.checksum !== h.checksum) corrupt('its type checksums do not add up to its checksum');
  if (options.verify) {
    verifyChecksum(state);
    verifyIndexes(state);
    verifyValues(state);
  }
  return state;
}

/**
 * Every key finds its own record through the index, and every secondary index holds exactly
 * the records with its values (`BLOB_CORRUPT` otherwise).
 */
export function verifyIndexes(state: AnyState): void {
  verifySecondaryIndexes(state);
  for (const t of state.types) {
    const { type, columns, populated, capacity, index } = t.parts;
    if (!index) continue;
    const o = firstMisindexed(new PrimaryKey(type, columns), index, populated, capacity);
    if (o >= 0) corrupt(`a lookup of the key of ${type.name} at ordinal ${o} does not find it`);
  }
}

/** Every secondary index holds exactly the records with its values (`BLOB_CORRUPT` otherwise). */
export function verifySecondaryIndexes(state: AnyState): void {
  for (const t of state.types) {
    const { type, columns, populated, capacity } = t.parts;
    for (const i of t.parts.indexes ?? []) {
      const wrong = indexMismatch(i, type, columns, populated, capacity);
      if (wrong) corrupt(`index ${i.spec.name} of ${type.name} does not match its records: ${wrong}`);
    }
  }
}

/**
 * Every value is one a writer could have stored (`BLOB_CORRUPT` otherwise): strings are valid
 * UTF-8 (invalid bytes would read as U+FFFD), and json values decode to what the record
 * validator accepts (no Date, Set, cycle, `undefined` or other msgpack extension).
 */
function verifyValues(state: AnyState): void {
  for (const t of state.types) {
    const { columns, populated, capacity } = t.parts;
    for (const col of columns) {
      if (col.valueKind === 'string') checkUtf8(col);
      if (col.valueKind !== 'json') continue;
      const read = columnReader(col);
      const isList = col.spec.kind === 'list';
      const present = col.present;
      for (let o = 0; o < capacity; o++) {
        if (!testBit(populated, o)) continue;
        // An absent value is not checked; a present one that decodes to `undefined` is refused.
        if (present && ((present[o >>> PAGE_SHIFT]![(o & PAGE_MASK) >>> 3]! >>> (o & 7)) & 1) === 0) continue;
        const v = read(o);
        for (const item of isList ? (v as unknown[]) : [v]) {
          const problem = jsonProblem(item);
          if (problem)
            corrupt(`a json value of ${t.name}.${col.spec.name} is not one a writer stores (${problem})`);
        }
      }
    }
  }
}

function checkUtf8(col: Column): void {
  const bad = () => corrupt(`a string of field ${col.spec.name} is not valid UTF-8`);
  if (col.encoding === 'dict') {
    const { heap, offsets, size } = col.dict!;
    for (let c = 0; c < size; c++) if (!isUtf8(heap!.subarray(offsets![c]!, offsets![c + 1]!))) bad();
    return;
  }
  const first = col.spec.kind === 'list' ? 1 : 0;
  const offsets = col.parts[first]!;
  const heaps = col.parts[first + 1]!;
  for (let p = 0; p < offsets.length; p++) {
    const o = offsets[p]!;
    const heap = heaps[p] as Uint8Array;
    for (let i = 0; i + 1 < o.length; i++) {
      if (!isUtf8(heap.subarray(o[i] as number, o[i + 1] as number))) bad();
    }
  }
}

/** Recomputes a state's record checksum from its columns; `CHECKSUM_MISMATCH` when it differs. */
export function verifyChecksum(state: AnyState): void {
  for (const t of state.types) {
    const { type, columns, populated, capacity, sums } = t.parts;
    const actual = sumRecords(type, columns, populated, capacity);
    if (actual.a !== sums.a || actual.b !== sums.b) {
      throw new ShoalError(
        'CHECKSUM_MISMATCH',
        `the records of ${type.name} at version ${state.version} do not match their checksum. Load the version from a fresh snapshot.`,
      );
    }
  }
}
