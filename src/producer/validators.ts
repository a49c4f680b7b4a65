/**
 * Ready-made validators, for `ProducerOptions.validators`: the guards against the quiet data
 * loss of a re-stated dataset that lost part of its input (a type gone to zero, a type cut by
 * a truncated file). Each compares a type's record count in the version being published with
 * the previous one, so the first version of a namespace always passes.
 *
 * A refusal names the validator (its function name, which the validate stage prints), the
 * type and both counts.
 */
import { ShoalError } from '../errors.ts';
import type { AnyState } from '../state/read/state.ts';
import type { Validator } from './producer-options.ts';

/** Per type of `next`: its count before (in `prev`) and now. */
function* counts(prev: AnyState, next: AnyState): Generator<[string, number, number]> {
  for (const t of next.types) {
    if (prev.schema.has(t.name)) yield [t.name, prev.type(t.name).size, t.size];
  }
}

const records = (n: number) => `${n.toLocaleString('en')} record${n === 1 ? '' : 's'}`;

/**
 * Refuses a version in which a type that had records has none.
 */
function noEmptyTypes(): Validator {
  const noEmptyTypes: Validator = ({ prev, next }) => {
    if (!prev) return undefined;
    for (const [type, before, after] of counts(prev, next)) {
      if (before > 0 && after === 0) return `${type} would go from ${records(before)} to none`;
    }
    return undefined;
  };
  return noEmptyTypes;
}

/**
 * Refuses a version in which a type loses more than `share` of its records (0.25 = a quarter):
 * `maxShrink(0)` refuses any loss, `maxShrink(1)` none. Growth is never refused (see
 * `maxRecordCountChange` for a limit both ways).
 */
function maxShrink(share: number): Validator {
  if (typeof share !== 'number' || !(share >= 0 && share <= 1)) {
    throw new ShoalError(
      'INVALID_OPTION',
      `maxShrink needs a share between 0 and 1 (0.25 = 25%), got ${String(share)}`,
    );
  }
  const maxShrink: Validator = ({ prev, next }) => {
    if (!prev) return undefined;
    for (const [type, before, after] of counts(prev, next)) {
      if (before === 0 || after >= before) continue;
      const lost = (before - after) / before;
      if (lost > share) {
        return `${type} would shrink from ${records(before)} to ${after.toLocaleString('en')} (${percent(lost)} fewer), more than the ${percent(share)} allowed`;
      }
    }
    return undefined;
  };
  return maxShrink;
}

/** `0.25` as `25%`; a share that is not a whole percent keeps its digits (`0.5%`). */
const percent = (share: number) => `${Number((share * 100).toPrecision(3))}%`;

/** The ready-made validators: `validators: [validators.noEmptyTypes(), validators.maxShrink(0.25)]`. */
export const validators = { noEmptyTypes, maxShrink } as const;
