/**
 * Stage 1: the next state, from the whole dataset re-stated or from pending changes. A cycle
 * that changes nothing (same checksum, counts and schema) makes no version: `undefined`.
 */
import type { Schema } from '../../schema/index.ts';
import { sameSchema } from '../../state/schema-evolution.ts';
import type { AnyState, State } from '../../state/state.ts';
import { StateBuilder } from '../../state/state-builder.ts';
import type { PendingChanges } from '../pending-changes.ts';

/** Adds records of the whole next dataset. */
export interface CycleWriter {
  add(type: string, record: Readonly<Record<string, unknown>>): void;
}

function unchanged(prev: AnyState | undefined, next: AnyState): boolean {
  if (!prev) return false;
  return (
    prev.checksum === next.checksum &&
    sameSchema(prev.schema, next.schema) &&
    prev.types.every((t, i) => t.size === next.types[i]?.size)
  );
}

/** The next state from `populate`, which adds every record of the next dataset. */
export async function buildRestated<S extends Schema>(
  prev: State<S> | undefined,
  schema: S,
  populate: (writer: CycleWriter) => void | Promise<void>,
  version: number,
): Promise<State<S> | undefined> {
  const builder = new StateBuilder(schema, prev ? { previous: prev } : {});
  await populate({ add: (type, record) => void builder.add(type, record) });
  const next = builder.build({ version });
  return unchanged(prev, next) ? undefined : next;
}

/** The next state from pending upserts and deletes. */
export function buildFromChanges<S extends Schema>(
  prev: State<S> | undefined,
  schema: S,
  changes: PendingChanges,
  version: number,
): State<S> | undefined {
  const builder = prev ? StateBuilder.from(prev, schema) : new StateBuilder(schema);
  changes.applyTo(builder);
  const next = builder.build({ version });
  return unchanged(prev, next) ? undefined : next;
}
