/**
 * Stage 1: the next state, from the whole dataset re-stated or from logged changes. A cycle
 * that changes nothing (same checksum, counts and schema) makes no version: `undefined`.
 */
import { createKeyValidator, type Schema, type SchemaRecord, type TypeName } from '../../schema/index.ts';
import { sameSchema } from '../../state/build/schema-evolution.ts';
import { StateBuilder } from '../../state/build/state-builder.ts';
import type { Layout } from '../../state/column/layout.ts';
import type { AnyState, State } from '../../state/read/state.ts';
import { forEachEntry } from '../write-ahead-log.ts';

/**
 * Adds records of the whole next dataset, typed by the schema as `StateBuilder.add` is (any
 * type name and plain object for a schema known only at run time).
 */
export interface CycleWriter<S extends Schema = Schema> {
  add<N extends TypeName<S>>(type: N, record: SchemaRecord<S, N>): void;
}

/** The build options of a cycle's state. */
function buildOptions(version: number, shared: boolean, layout?: Partial<Layout>, compactAbove?: number) {
  return {
    version,
    shared,
    ...(layout ? { layout } : {}),
    ...(compactAbove === undefined ? {} : { compactAbove }),
  };
}

function unchanged(prev: AnyState | undefined, next: AnyState): boolean {
  if (!prev) return false;
  return (
    prev.checksum === next.checksum &&
    sameSchema(prev.schema, next.schema) &&
    prev.types.every((t, i) => t.size === next.types[i]?.size)
  );
}

/**
 * The next state from `populate`, which adds every record of the next dataset, or with
 * `types`, every record of those types (the others keep `prev`'s records).
 */
export async function buildRestated<S extends Schema>(
  prev: State<S> | undefined,
  schema: S,
  populate: (writer: CycleWriter<S>) => void | Promise<void>,
  version: number,
  shared: boolean,
  layout?: Partial<Layout>,
  types?: readonly string[],
  compactAbove?: number,
): Promise<State<S> | undefined> {
  for (const name of types ?? []) schema.type(name);
  const keep = types ? schema.types.map((t) => t.name).filter((name) => !types.includes(name)) : [];
  const builder = new StateBuilder(schema, { ...(prev ? { previous: prev } : {}), keep });
  const writer: CycleWriter<S> = { add: (type, record) => void builder.add(type, record) };
  await populate(writer);
  const next = builder.build(buildOptions(version, shared, layout, compactAbove));
  return unchanged(prev, next) ? undefined : next;
}

/** The next state from logged upserts and deletes, and the entries it had to drop. */
export interface ChangesBuild<S extends Schema> {
  readonly next: State<S> | undefined;
  /** Why each dropped entry was dropped (entries logged under a schema they no longer fit). */
  readonly dropped: readonly string[];
}

/**
 * The next state from logged changes, applied in order (a later change of a key wins). An
 * entry that breaks the schema (logged before the schema changed) is dropped and reported.
 * The schema is taken as known at run time only: entries are checked then, not by their types.
 */
export function buildFromChanges(
  prev: State | undefined,
  schema: Schema,
  segments: readonly Uint8Array[],
  version: number,
  shared: boolean,
  layout?: Partial<Layout>,
  compactAbove?: number,
): ChangesBuild<Schema> {
  const builder = prev ? StateBuilder.from(prev, schema) : new StateBuilder(schema);
  const keyValidators = new Map<string, (key: unknown) => void>();
  const dropped: string[] = [];
  const apply = (op: 'upsert' | 'delete', type: string, value: unknown) => {
    try {
      if (op === 'upsert') {
        builder.upsert(type, value as Readonly<Record<string, unknown>>);
      } else {
        let validateKey = keyValidators.get(type);
        if (!validateKey) {
          validateKey = createKeyValidator(schema.type(type));
          keyValidators.set(type, validateKey);
        }
        validateKey(value);
        builder.remove(type, value);
      }
    } catch (error) {
      dropped.push(`a logged ${op} of ${type} was dropped: ${(error as Error).message}`);
    }
  };
  for (const segment of segments) forEachEntry(segment, apply);
  const next = builder.build(buildOptions(version, shared, layout, compactAbove));
  return { next: unchanged(prev, next) ? undefined : next, dropped };
}
