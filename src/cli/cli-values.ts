/**
 * Flag values more than one command takes: durations (`--wait-timeout`, `--cadence`) and
 * tuning profiles (`--profile`). A malformed one is bad usage, naming the flag.
 */
import { TUNING_PROFILES, type TuningProfileName } from '../index.ts';
import { UsageError } from './usage-error.ts';

const DURATION = /^(0|[1-9][0-9]*)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** The longest delay a Node timer holds (2^31 - 1 ms, about 24.8 days); it fires a longer one at once. */
export const TIMER_MAX_MS = 2_147_483_647;

/**
 * A duration: a whole number and a unit (`500ms`, `30s`, `5m`, `1h`). `zero` says what `0`
 * means for this flag (e.g. "for no limit"); without it, 0 is refused. `maxMs` bounds it (a
 * duration a timer waits: {@link TIMER_MAX_MS}).
 */
export function parseDuration(flag: string, text: string, zero?: string, maxMs?: number): number {
  if (text === '0' && zero !== undefined) return 0;
  const m = DURATION.exec(text);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms === 0) {
    const also = zero !== undefined ? ` (0 ${zero})` : '';
    throw new UsageError(`${flag} needs a duration such as 500ms, 30s, 5m or 1h${also}, got "${text}"`);
  }
  if (maxMs !== undefined && ms > maxMs) {
    const also = zero !== undefined ? `; 0 ${zero}` : '';
    throw new UsageError(
      `${flag} is at most ${Math.floor(maxMs / UNIT_MS.h)}h (${maxMs} ms, what a timer holds${also}), got "${text}"`,
    );
  }
  return ms;
}

/** A `--profile`: throughput, balanced or latency. */
export function parseProfile(text: string | undefined): TuningProfileName | undefined {
  if (text === undefined) return undefined;
  if (!Object.hasOwn(TUNING_PROFILES, text)) {
    throw new UsageError(`--profile is one of ${Object.keys(TUNING_PROFILES).join(', ')}, got "${text}"`);
  }
  return text as TuningProfileName;
}
