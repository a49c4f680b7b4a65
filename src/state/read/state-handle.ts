/**
 * Handing a state to worker threads without a copy. A state built on SharedArrayBuffers
 * (`sharedMemory: true`) becomes a handle of plain objects and typed arrays; posting it to a
 * worker shares the memory (structured clone shares SharedArrayBuffers), and the worker
 * rebuilds a read-only state around the same bytes. Arrays a refresh made outside shared
 * memory (rare: a dictionary that grew) are copied by the post instead: correct, not zero-copy.
 */
import { fromJSON, type SchemaJson, toJSON } from '../../schema/index.ts';
import type { Column } from '../column/column.ts';
import { toShared } from '../column/column-transition.ts';
import type { PartArray } from '../column/layout.ts';
import { shareIndex } from '../index/secondary-index.ts';
import { type AnyState, State } from './state.ts';
import { TypeState, type TypeStateParts } from './type-state.ts';

/** A column without its schema field (the worker finds that by name). */
type ColumnHandle = Omit<Column, 'spec'> & { readonly field: string };

/** What a worker needs to read a state: post it with `postMessage`. */
export interface StateHandle {
  readonly schema: SchemaJson;
  readonly version: number;
  readonly tag: bigint;
  readonly types: readonly (Omit<TypeStateParts, 'type' | 'columns'> & {
    readonly name: string;
    readonly columns: readonly ColumnHandle[];
  })[];
}

/** The handle of a state (no copy is made here). */
export function shareState(state: AnyState): StateHandle {
  return {
    schema: toJSON(state.schema),
    version: state.version,
    tag: state.tag,
    types: state.types.map((t) => {
      const { type, columns, ...rest } = t.parts;
      return {
        ...rest,
        name: type.name,
        columns: columns.map(({ spec, dict, ...c }) => ({
          ...c,
          field: spec.name,
          dict: dict && { size: dict.size, values: dict.values, offsets: dict.offsets, heap: dict.heap },
        })),
      };
    }),
  };
}

const shared = <T extends PartArray>(a: T | undefined): T | undefined => (a === undefined ? a : toShared(a));

/**
 * The same type state with every array on a SharedArrayBuffer: arrays already shared are kept,
 * others copied (a state built from scratch, or a column a schema change added).
 */
export function shareParts(parts: TypeStateParts): TypeStateParts {
  return {
    ...parts,
    populated: toShared(parts.populated),
    index: parts.index && { bits: parts.index.bits, shards: parts.index.shards.map(toShared) },
    ghosts: toShared(parts.ghosts),
    ...(parts.indexes ? { indexes: parts.indexes.map(shareIndex) } : {}),
    columns: parts.columns.map((c) => ({
      ...c,
      present: c.present?.map(toShared),
      parts: c.parts.map((pages) => pages.map(toShared)),
      dict: c.dict && {
        size: c.dict.size,
        values: shared(c.dict.values),
        offsets: shared(c.dict.offsets),
        heap: shared(c.dict.heap),
      },
    })),
  };
}

const asBuffer = (a: PartArray | undefined): Buffer | undefined =>
  a === undefined ? undefined : Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A read-only state over a handle's memory (in a worker, or anywhere). */
export function stateFromHandle(handle: StateHandle): State {
  const schema = fromJSON(handle.schema);
  const types = schema.types.map((type) => {
    const h = handle.types.find((t) => t.name === type.name)!;
    const columns = type.fields.map((spec): Column => {
      const c = h.columns.find((col) => col.field === spec.name)!;
      // Structured clone turns Buffers into Uint8Arrays: heaps become Buffers again (a view, not a copy).
      const heapPart = c.encoding === 'var' ? c.parts.length - 1 : -1;
      const parts = c.parts.map((pages, k) => (k === heapPart ? pages.map((p) => asBuffer(p)!) : pages));
      const dict = c.dict && {
        size: c.dict.size,
        values: c.dict.values,
        offsets: c.dict.offsets,
        heap: asBuffer(c.dict.heap),
      };
      return {
        spec,
        valueKind: c.valueKind,
        bigint: c.bigint,
        encoding: c.encoding,
        dict,
        present: c.present,
        parts,
      };
    });
    const { name: _name, columns: _columns, ...rest } = h;
    return new TypeState({ ...rest, type, columns });
  });
  return new State({ schema, version: handle.version, tag: handle.tag, types });
}
