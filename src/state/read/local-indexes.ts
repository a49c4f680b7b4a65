/**
 * A consumer's own indexes (`createIndex`) across a refresh that loads a snapshot: deltas
 * carry them along, a snapshot does not hold them, so they are built again over the new state,
 * once, where their fields still exist.
 */
import { isShoalError } from '../../errors.ts';
import type { AnyState } from './state.ts';

/** Makes on `next` every index `from` had made by a consumer that `next` lacks. */
export function carryLocalIndexes(from: AnyState, next: AnyState): void {
  for (const t of from.types) {
    const locals = (t.parts.indexes ?? []).filter((i) => i.local);
    if (locals.length === 0 || !next.schema.has(t.name)) continue;
    const target = next.type(t.name);
    for (const i of locals) {
      // A name the schema declares is its (displacedLocalIndexes tells the consumer).
      if (target.indexNames.includes(i.spec.name)) continue;
      try {
        target.createIndex(i.spec.fields, { name: i.spec.name, prefix: i.spec.prefix });
      } catch (e) {
        // A schema change dropped or changed the fields: the index cannot follow.
        if (!isShoalError(e, 'INVALID_INDEX')) throw e;
      }
    }
  }
}
