/**
 * Deltas and reverse deltas. A delta joins two states of one history: it names the version and
 * tag it starts from and those it produces, the destination's checksum and schema, and per type
 * that changed: the ordinals removed, the ordinals added, and the added records' columns (laid
 * out as in a snapshot, so they are as compact). A type that did not change takes only its name.
 * A reverse delta is the same thing in the other direction (next → previous).
 *
 * Applying one checks the origin tag (`DELTA_ORIGIN_MISMATCH`), builds the next state beside
 * the given one (which is never written: views taken from it keep reading it), and checks every
 * type's checksum sums and the state checksum (`CHECKSUM_MISMATCH`).
 */

import { ShoalError } from '../../errors.ts';
import { type BlobKind, BlobWriter, readBlob } from '../../format/blob-envelope.ts';
import { type FieldSpec, fromJSON, type Schema, type SchemaJson, toJSON } from '../../schema/index.ts';
import { evolveTypes, sameSchema } from '../build/schema-evolution.ts';
import { buildTypeState } from '../build/type-state-builder.ts';
import { transitionType } from '../build/type-transition.ts';
import { type Column, columnReader, isVarKind } from '../column/column.ts';
import { gatherColumn } from '../column/column-gather.ts';
import { type Layout, layoutOf, PAGE_SIZE, testBit } from '../column/layout.ts';
import { recordHashes, type Sums, sumOrdinals } from '../read/checksum.ts';
import { type AnyState, State } from '../read/state.ts';
import { ordinalChanges } from '../read/state-diff.ts';
import { TypeState, type TypeStateParts } from '../read/type-state.ts';
import {
  type ColumnDescriptor,
  corrupt,
  isUint,
  MAX_CAPACITY,
  readColumns,
  writeColumns,
} from './type-section.ts';

/** A changed type in a delta header; an unchanged type has only its name. */
interface TypeDelta {
  readonly name: string;
  readonly capacity?: number;
  readonly size?: number;
  readonly sums?: readonly [number, number];
  readonly removed?: number;
  readonly added?: number;
  readonly count?: number;
  readonly columns?: readonly ColumnDescriptor[];
}

/** The header of a delta or reverse-delta blob. */
export interface DeltaHeader {
  readonly fromVersion: number;
  readonly fromTag: bigint;
  readonly toVersion: number;
  readonly toTag: bigint;
  readonly toChecksum: bigint;
  readonly schema: SchemaJson;
  readonly types: readonly TypeDelta[];
}

/** Options of {@link encodeDelta} and {@link encodeReverseDelta}. */
export interface EncodeDeltaOptions {
  /**
   * Skip the check that the next state was built from the previous one (each record that
   * stayed at its ordinal unchanged), for a caller that checks the delta afterwards with
   * {@link verifyDelta}, as the producer does.
   * @default false
   */
  readonly trustLineage?: boolean;
  /** @internal Encoding thresholds of the delta's record columns, for tests (see `Layout`). */
  readonly layout?: Partial<Layout>;
}

function encode(from: AnyState, to: AnyState, kind: BlobKind, options: EncodeDeltaOptions): Uint8Array {
  const writer = new BlobWriter();
  const layout = layoutOf(options.layout);
  const fromParts = from.types.map((t) => t.parts);
  const same = sameSchema(from.schema, to.schema);
  // Across a schema change the applier first moves its state to the new schema; so do we.
  const base = same ? fromParts : evolveTypes(from.schema, fromParts, to.schema);
  const types = to.types.map((toType): TypeDelta => {
    const name = toType.name;
    const fromType = base.find((p) => p.type.name === name);
    const { removed, added } = ordinalChanges(fromType, toType.parts);
    if (!options.trustLineage) checkDerived(fromType, toType.parts, removed, added, from.version, to.version);
    const sameCapacity = (fromType?.capacity ?? 0) === toType.capacity;
    if (removed.length === 0 && added.length === 0 && sameCapacity && same) return { name };
    const columns = toType.parts.columns.map((col) => gatherColumn(col, added, layout));
    return {
      name,
      capacity: toType.capacity,
      size: toType.size,
      sums: [toType.parts.sums.a, toType.parts.sums.b],
      removed: writer.add(Uint32Array.from(removed)),
      added: writer.add(Uint32Array.from(added)),
      count: added.length,
      columns: writeColumns(writer, columns, layout),
    };
  });
  const header: DeltaHeader = {
    fromVersion: from.version,
    fromTag: from.tag,
    toVersion: to.version,
    toTag: to.tag,
    toChecksum: to.checksum,
    schema: toJSON(to.schema),
    types,
  };
  return writer.finish(kind, header as unknown as Record<string, unknown>);
}

/**
 * Checks that the records leaving and coming account for the whole change of checksum, i.e.
 * that `to` was built from `from` (a record kept at its ordinal is unchanged).
 */
function checkDerived(
  from: TypeStateParts | undefined,
  to: TypeStateParts,
  removed: readonly number[],
  added: readonly number[],
  fromVersion: number,
  toVersion: number,
): void {
  const sums: Sums = { a: from?.sums.a ?? 0, b: from?.sums.b ?? 0 };
  if (from) sumOrdinals(to.type, from.columns, removed, sums, -1);
  sumOrdinals(to.type, to.columns, added, sums, 1);
  if (sums.a !== to.sums.a || sums.b !== to.sums.b) {
    throw new ShoalError(
      'CHECKSUM_MISMATCH',
      `version ${toVersion} was not built from version ${fromVersion} (${to.type.name} changed outside the ordinals that changed): no delta joins them. Build the next state from the previous one (StateBuilder.from, or the previous option).`,
    );
  }
}

/** The delta that takes `prev` to `next` (a state built from `prev`). */
export function encodeDelta(prev: AnyState, next: AnyState, options: EncodeDeltaOptions = {}): Uint8Array {
  return encode(prev, next, 'delta', options);
}

/** The reverse delta that takes `next` back to `prev`. */
export function encodeReverseDelta(
  prev: AnyState,
  next: AnyState,
  options: EncodeDeltaOptions = {},
): Uint8Array {
  return encode(next, prev, 'reverse-delta', options);
}

/** Reads a delta's or reverse delta's header without applying it. */
export function readDeltaHeader(bytes: Uint8Array): DeltaHeader {
  return readBlob<DeltaHeader>(bytes, ['delta', 'reverse-delta']).header;
}

/**
 * Checks that `bytes`, applied to `base`, gives `expected` — without building the state, so
 * the cost follows the change, not the dataset. The delta is decoded (its envelope CRC, header
 * and record columns); per changed type its removed ordinals must hold records in `base`, its
 * added ordinals must be free there, each added record must hash as `expected`'s record at that
 * ordinal, and `base`'s sums minus the removed records plus the added ones must give the sums,
 * size and capacity of `expected`, whose checksum the delta must name. Across a schema change
 * the delta is applied instead. `CHECKSUM_MISMATCH` (or `DELTA_ORIGIN_MISMATCH`) on failure.
 */
export function verifyDelta(base: AnyState, bytes: Uint8Array, expected: AnyState): void {
  const reader = readBlob<DeltaHeader>(bytes, ['delta', 'reverse-delta']);
  const h = reader.header;
  const fail = (what: string): never => {
    throw new ShoalError(
      'CHECKSUM_MISMATCH',
      `the ${reader.kind} from version ${base.version} does not give version ${expected.version}: ${what}.`,
    );
  };
  if (h.fromTag !== base.tag) {
    throw new ShoalError(
      'DELTA_ORIGIN_MISMATCH',
      `this ${reader.kind} goes from version ${h.fromVersion}, not from version ${base.version}.`,
    );
  }
  if (h.toTag !== expected.tag || h.toVersion !== expected.version || h.toChecksum !== expected.checksum) {
    fail('it names another version, tag or checksum');
  }
  if (!sameSchema(base.schema, expected.schema) || !sameSchema(fromJSON(h.schema), expected.schema)) {
    if (applyDelta(base, bytes).checksum !== expected.checksum) fail('the state it makes differs');
    return;
  }
  if (!Array.isArray(h.types) || h.types.length !== expected.types.length) fail('its type list differs');
  expected.types.forEach((want, i) => {
    const td = h.types[i]!;
    const from = base.types[i]!.parts;
    const to = want.parts;
    if (td.name !== want.name) fail(`type ${i} is not ${want.name}`);
    if (td.capacity === undefined) {
      if (from.sums.a !== to.sums.a || from.sums.b !== to.sums.b || from.size !== to.size) {
        fail(`${want.name} changed, but the delta leaves it as it was`);
      }
      return;
    }
    if (
      td.capacity !== to.capacity ||
      td.size !== to.size ||
      td.sums?.[0] !== to.sums.a ||
      td.sums[1] !== to.sums.b
    )
      fail(`${want.name}'s size, capacity or sums differ`);
    const removed = reader.view(td.removed!, Uint32Array);
    const added = reader.view(td.added!, Uint32Array, td.count);
    const columns = readColumns(reader, want.type, td.columns!, td.count!);
    const sums: Sums = { a: from.sums.a, b: from.sums.b };
    for (const o of removed) {
      if (!testBit(from.populated, o)) fail(`${want.name} ordinal ${o} is removed but holds no record`);
    }
    sumOrdinals(want.type, from.columns, removed, sums, -1);
    for (const o of added) {
      if (
        o >= to.capacity ||
        (o < from.capacity && testBit(from.populated, o)) ||
        !testBit(to.populated, o)
      ) {
        fail(`${want.name} ordinal ${o} is added but is not free`);
      }
    }
    // Each added record as the delta carries it (chunk row j) and as the target holds it.
    const count = added.length;
    const rows = new Uint32Array(count);
    for (let j = 0; j < count; j++) rows[j] = j;
    const carried = { a: new Uint32Array(count), b: new Uint32Array(count) };
    const held = { a: new Uint32Array(count), b: new Uint32Array(count) };
    recordHashes(want.type, columns, rows, carried.a, carried.b);
    recordHashes(want.type, to.columns, added, held.a, held.b);
    for (let j = 0; j < count; j++) {
      if (carried.a[j] !== held.a[j] || carried.b[j] !== held.b[j])
        fail(`${want.name}'s record at ordinal ${added[j]} differs`);
      sums.a = (sums.a + carried.a[j]!) >>> 0;
      sums.b = (sums.b + carried.b[j]!) >>> 0;
    }
    if (
      from.size - removed.length + added.length !== to.size ||
      sums.a !== to.sums.a ||
      sums.b !== to.sums.b
    ) {
      fail(`${want.name}'s records do not add up`);
    }
  });
}

/** Options of {@link applyDelta}. */
export interface ApplyDeltaOptions {
  /**
   * Place the arrays the delta creates on SharedArrayBuffers (keep it as the state was made).
   * @default whether the state's own arrays are shared
   */
  readonly shared?: boolean;
  /** @internal Encoding thresholds of the columns the delta rebuilds, for tests (see `Layout`). */
  readonly layout?: Partial<Layout>;
  /** @internal Skip the structural scans of the delta's columns, to measure their cost. */
  readonly scan?: boolean;
}

/**
 * A delta whose var values, written out one per record, would take more than this many times
 * its own bytes is checked against its sums before it is applied (see `applyDelta`).
 */
const EXPANSION_CHECKED = 8;

/** Bytes the var values of dictionary chunk columns take written out, once per record (or element). */
function writtenOutBytes(columns: readonly Column[]): number {
  let total = 0;
  for (const col of columns) {
    if (col.encoding !== 'dict' || !isVarKind(col.valueKind)) continue;
    const offsets = col.dict!.offsets!;
    for (const page of col.parts[col.spec.kind === 'list' ? 1 : 0]!) {
      for (let i = 0; i < page.length; i++) {
        const c = page[i] as number;
        total += offsets[c + 1]! - offsets[c]!;
      }
    }
  }
  return total;
}

/** The values of a chunk column, in order. */
function columnValues(column: Column, count: number): unknown[] {
  const read = columnReader(column);
  const out = new Array<unknown>(count);
  for (let j = 0; j < count; j++) out[j] = read(j);
  return out;
}

function isShared(state: AnyState): boolean {
  const first = state.types[0]?.parts.populated;
  return first !== undefined && first.buffer instanceof SharedArrayBuffer;
}

/** The state a delta (or reverse delta) makes of `state`; `state` itself is left as it is. */
export function applyDelta(state: AnyState, bytes: Uint8Array, options: ApplyDeltaOptions = {}): State {
  const reader = readBlob<DeltaHeader>(bytes, ['delta', 'reverse-delta']);
  const h = reader.header;
  if (typeof h.fromTag !== 'bigint' || typeof h.toTag !== 'bigint' || typeof h.toChecksum !== 'bigint') {
    corrupt('its tags or checksum are malformed');
  }
  if (!isUint(h.fromVersion) || !isUint(h.toVersion)) corrupt('its versions are not versions');
  if (h.fromTag !== state.tag) {
    throw new ShoalError(
      'DELTA_ORIGIN_MISMATCH',
      `this ${reader.kind} goes from version ${h.fromVersion} (tag ${h.fromTag.toString(16)}), but the state is version ${state.version} (tag ${state.tag.toString(16)}). Fetch the delta that starts at the state's version, or load a snapshot.`,
    );
  }
  let schema: Schema;
  try {
    schema = fromJSON(h.schema);
  } catch (cause) {
    throw new ShoalError('BLOB_CORRUPT', 'the delta is corrupt: its schema does not parse. Fetch it again.', {
      cause,
    });
  }
  const shared = options.shared ?? isShared(state);
  const layout = layoutOf(options.layout);
  const base = sameSchema(state.schema, schema)
    ? state.types.map((t) => t.parts)
    : evolveTypes(
        state.schema,
        state.types.map((t) => t.parts),
        schema,
      );
  if (!Array.isArray(h.types) || h.types.length !== schema.types.length)
    corrupt('its type list does not match its schema');
  const types = schema.types.map((type, i) => {
    const td = h.types[i]!;
    if (td?.name !== type.name) corrupt(`type ${i} is not ${type.name}`);
    const prev = base.find((p) => p.type.name === type.name) ?? buildTypeState(type, []);
    if (td.capacity === undefined)
      return new TypeState(prev.ghosts.length === 0 ? prev : { ...prev, ghosts: new Uint32Array(0) });
    if (!isUint(td.capacity) || !isUint(td.count) || !Array.isArray(td.sums))
      corrupt(`the entry of ${type.name} is malformed`);
    const removed = reader.view(td.removed!, Uint32Array);
    const addedOrdinals = reader.view(td.added!, Uint32Array, td.count);
    // New ordinals are taken at the end one by one (ordinal-allocator.ts), so a capacity grows
    // by at most the records added; a reverse delta of a compaction, which shrank the capacity,
    // grows it back by at most the records it adds and removes plus a page (the compactor keeps
    // to that). Checked before anything of that size is allocated, which bounds the memory an
    // apply takes by the state's size plus the delta's.
    const end = prev.capacity + td.count + removed.length + PAGE_SIZE;
    if (td.capacity > end || td.capacity > MAX_CAPACITY)
      corrupt(`the entry of ${type.name} declares ${td.capacity} ordinals; at most ${end} can follow`);
    const notFrom = (what: string) =>
      new ShoalError(
        'CHECKSUM_MISMATCH',
        `the ${reader.kind} was not made from version ${state.version} of ${type.name} (${what}). Load version ${h.toVersion} from a snapshot.`,
      );
    if (removed.length > prev.size)
      throw notFrom(`it removes ${removed.length} records where the state holds ${prev.size}`);
    const columns = readColumns(reader, type, td.columns!, td.count, options.scan !== false);
    // A dictionary chunk stores a value once for all the records that have it; written out
    // (into a column of plain values, or one re-encoded) they may take far more memory than
    // the delta. Then the delta's records are checked against its sums before any is written,
    // so that one made for another state is refused at the cost of the delta, not of that memory.
    if (writtenOutBytes(columns) > EXPANSION_CHECKED * bytes.byteLength) {
      const sums: Sums = { a: prev.sums.a, b: prev.sums.b };
      for (const o of removed) {
        if (o >= prev.capacity || !testBit(prev.populated, o))
          throw notFrom(`ordinal ${o} is removed but holds no record`);
      }
      sumOrdinals(type, prev.columns, removed, sums, -1);
      const rows = new Uint32Array(td.count);
      for (let j = 0; j < rows.length; j++) rows[j] = j;
      sumOrdinals(type, columns, rows, sums, 1);
      if (sums.a !== td.sums[0] || sums.b !== td.sums[1])
        throw notFrom('its records do not add up to its checksum');
    }
    const values = (field: FieldSpec) => columnValues(columns[field.index]!, td.count!);
    const changes = {
      removed: Array.from(removed),
      added: Array.from(addedOrdinals),
      values,
      source: (field: FieldSpec) => columns[field.index],
      capacity: td.capacity,
    };
    const next = transitionType(prev, changes, shared, layout);
    if (next.sums.a !== td.sums[0] || next.sums.b !== td.sums[1] || next.size !== td.size) {
      throw new ShoalError(
        'CHECKSUM_MISMATCH',
        `applying the ${reader.kind} to version ${state.version} did not reproduce the records of ${type.name} at version ${h.toVersion}. Load version ${h.toVersion} from a snapshot.`,
      );
    }
    return new TypeState(next);
  });
  const next = new State({ schema, version: h.toVersion, tag: h.toTag, types });
  if (next.checksum !== h.toChecksum) {
    throw new ShoalError(
      'CHECKSUM_MISMATCH',
      `applying the ${reader.kind} did not reproduce the checksum of version ${h.toVersion}. Load it from a snapshot.`,
    );
  }
  return next;
}
