/**
 * Flag values more than one command takes: durations (`--wait-timeout`, `--cadence`), counts
 * and numbers, and tuning profiles (`--profile`). A malformed one is bad usage, naming the flag.
 * Numbers are decimal as written: `Number()` would take `0x1`, ` 1`, `1e3` and `Infinity` too.
 */
import { TUNING_PROFILES, type TuningProfileName } from '../index.ts';
import { UsageError } from './usage-error.ts';

const WHOLE = /^(0|[1-9][0-9]*)$/;
const DECIMAL = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/** A whole number in decimal (`0`, `42`), or the usage error `--<flag> needs <what>, got "<text>"`. */
export function parseWhole(flag: string, text: string, what = 'a whole number'): number {
  const n = WHOLE.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} needs ${what}, got "${text}"`);
  return n;
}

/** A TCP port in decimal, 0 (any free one) to 65535. */
export function parsePort(flag: string, text: string): number {
  const n = WHOLE.test(text) ? Number(text) : Number.NaN;
  if (!(n <= 65_535)) throw new UsageError(`${flag} needs a port number (0 to 65535), got "${text}"`);
  return n;
}

/** A number ≥ 0 in decimal (`0.25`, `43`), or the usage error `--<flag> needs <what>, got "<text>"`. */
export function parseDecimal(flag: string, text: string, what = 'a number ≥ 0'): number {
  // Exponents are numbers too (1e3, 2.5e-4); one past what a double holds is not.
  const n = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(n)) throw new UsageError(`${flag} needs ${what}, got "${text}"`);
  return n;
}

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
