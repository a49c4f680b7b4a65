/**
 * When the announcement watcher polls next. Two regimes, chosen by what the producer does:
 * - a steady cadence (the last two gaps between consecutive versions within 50% of each other): the
 *   next poll is aimed just after the next version is expected to be visible, spread at random
 *   over `spreadMs` so a fleet does not poll in one instant; when it is not there yet, re-checks
 *   every `recheckMs` for up to half the cadence, then backs off. One conditional read per version,
 *   announce → seen about `spreadMs / 2`.
 * - otherwise (no cadence yet, an irregular producer, a quiet spell, a failing store): the
 *   interval starts at `minIntervalMs` after a version and grows by `backoffFactor` on each quiet
 *   or failed check up to `maxIntervalMs`, with ±`jitter`. After a quiet spell, a version is
 *   seen `maxIntervalMs / 2` after it is announced on average (at most `maxIntervalMs × (1 +
 *   jitter)`), and an idle consumer polls `60000 / maxIntervalMs` times a minute.
 *
 * Where the next version becomes visible is learnt on this consumer's clock: the producer's
 * `announcedAt` plus an offset (clock skew plus the write's own time). A check that found the
 * version bounds the offset from above, a check just before that did not find it bounds it from
 * below; the estimate starts at 0 (synchronised clocks), creeps earlier on each hit and jumps to
 * the lower bound on a miss, so it tracks the true offset without a probe of its own.
 *
 * Pure: times come in as arguments, random draws from `random`; nothing here sets a timer.
 */
import type { Announcement } from './announcer.ts';

/** What shapes the schedule; every field is given (defaults live in the watcher). */
export interface PollScheduleOptions {
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly backoffFactor: number;
  readonly jitter: number;
  /** Aim polls at the producer's cadence once it is steady. */
  readonly followCadence: boolean;
  /** The spread of aimed polls; `undefined`: a quarter of the cadence, at most 500 ms. */
  readonly spreadMs: number | undefined;
  /** The wait between re-checks when an expected version is late. */
  readonly recheckMs: number;
}

/** How much earlier the visibility offset is guessed after each aimed poll that found its version. */
const CREEP_MS = 5;

export class PollSchedule {
  private readonly o: PollScheduleOptions;
  private readonly random: () => number;
  private interval: number;
  private gaps: number[] = [];
  private offset: number | undefined;
  /** The start of the last check that found nothing, since the last version seen. */
  private missedAt: number | undefined;
  private expected: { readonly at: number; readonly graceUntil: number } | undefined;
  private cadence: number | undefined;

  constructor(options: PollScheduleOptions, random: () => number = Math.random) {
    this.o = options;
    this.random = random;
    this.interval = options.minIntervalMs;
  }

  /** The interval reached: the cadence while aiming, else the backoff's (before jitter). */
  get intervalMs(): number {
    return this.interval;
  }

  /** The producer's cadence when steady enough to aim at, in ms. */
  get cadenceMs(): number | undefined {
    return this.cadence;
  }

  /** A check that started at `now` found `next`, newer than `previous`: the wait before the next poll. */
  changed(now: number, next: Announcement, previous: Announcement | undefined): number {
    const lag = now - next.announcedAt;
    if (previous && next.replaces === previous.version && next.announcedAt > previous.announcedAt) {
      this.gaps.push(next.announcedAt - previous.announcedAt);
      if (this.gaps.length > 3) this.gaps.shift();
    }
    if (this.offset === undefined) this.offset = Math.min(0, lag);
    else if (this.missedAt !== undefined && this.missedAt - next.announcedAt > this.offset)
      this.offset = this.missedAt - next.announcedAt;
    else this.offset = Math.min(this.offset, lag) - CREEP_MS;
    this.missedAt = undefined;
    this.cadence = this.steadyCadence();
    if (this.cadence === undefined) {
      this.expected = undefined;
      this.interval = this.o.minIntervalMs;
      return this.jittered(this.interval);
    }
    this.interval = this.cadence;
    const spread = this.o.spreadMs ?? Math.min(500, this.cadence / 4);
    const at = next.announcedAt + this.cadence + this.offset;
    this.expected = { at, graceUntil: at + spread + this.cadence / 2 };
    return Math.min(2_147_483_647, Math.max(1, at + this.random() * spread - now));
  }

  /** A check that started at `now` found nothing new (`failed`: it failed): the wait before the next. */
  quiet(now: number, failed: boolean): number {
    if (!failed) this.missedAt = now;
    if (!failed && this.expected && now < this.expected.graceUntil) {
      return Math.max(1, Math.min(this.o.recheckMs, this.expected.graceUntil - now));
    }
    this.expected = undefined;
    this.interval = Math.min(this.o.maxIntervalMs, this.interval * this.o.backoffFactor);
    return this.jittered(this.interval);
  }

  private steadyCadence(): number | undefined {
    if (!this.o.followCadence || this.gaps.length < 2) return undefined;
    const [a, b] = this.gaps.slice(-2) as [number, number];
    if (Math.max(a, b) > 1.5 * Math.min(a, b)) return undefined;
    const median = [...this.gaps].sort((x, y) => x - y)[this.gaps.length >> 1]!;
    // Versions faster than the floor are polled at the floor; slower than the cap, at the cap.
    if (median < this.o.minIntervalMs || median > this.o.maxIntervalMs) return undefined;
    return median;
  }

  private jittered(ms: number): number {
    // At most what a timer holds: past it Node fires at once (a poll every millisecond).
    return Math.min(2_147_483_647, Math.max(1, ms + ms * this.o.jitter * (this.random() * 2 - 1)));
  }
}
