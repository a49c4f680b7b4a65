/**
 * Stage 4: validators. The record-count limit, then the validators given (validators.ts has
 * ready-made ones) over (prev, next, diff), in order.
 * A refusal is `VALIDATION_FAILED` naming the check and its reason; nothing is published.
 */
import { ShoalError } from '../../errors.ts';
import type { AnyState } from '../../state/read/state.ts';
import { diffStates } from '../../state/read/state-diff.ts';
import type { Validator } from '../producer-options.ts';

export async function runValidators(
  prev: AnyState | undefined,
  next: AnyState,
  maxRecordCountChange: number | undefined,
  validators: readonly Validator[],
): Promise<void> {
  const refuse = (why: string, cause?: unknown) => {
    throw new ShoalError(
      'VALIDATION_FAILED',
      `version ${next.version} was refused: ${why}. Nothing was published.`,
      { cause },
    );
  };
  if (prev && maxRecordCountChange !== undefined) {
    for (const t of next.types) {
      const before = prev.schema.has(t.name) ? prev.type(t.name).size : 0;
      const change =
        before === 0 ? (t.size === 0 ? 0 : Number.POSITIVE_INFINITY) : Math.abs(t.size - before) / before;
      if (change > maxRecordCountChange) {
        refuse(
          `${t.name} went from ${before} to ${t.size} records, more than the ${(maxRecordCountChange * 100).toFixed(0)}% allowed (maxRecordCountChange)`,
        );
      }
    }
  }
  if (validators.length === 0) return;
  const diff = prev ? diffStates(prev, next) : {};
  for (const [i, validate] of validators.entries()) {
    // A named function names itself in the refusal (the ready-made validators are named).
    const name = validate.name || `validator ${i}`;
    let reason: unknown;
    try {
      reason = await validate({ prev, next, diff });
    } catch (e) {
      refuse(`${name} threw: ${(e as Error).message}`, e);
    }
    if (typeof reason === 'string') refuse(`${name}: ${reason}`);
  }
}
