import { describe, expect, it } from 'vitest';
import type { Announcement } from '../src/blob/announcer.ts';
import { PollSchedule, type PollScheduleOptions } from '../src/blob/poll-schedule.ts';

const defaults: PollScheduleOptions = {
  minIntervalMs: 1000,
  maxIntervalMs: 30_000,
  backoffFactor: 2,
  jitter: 0.2,
  followCadence: true,
  spreadMs: undefined,
  recheckMs: 250,
};

/** A seeded random (mulberry32): the same run every time. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A producer announcing every `cadenceMs` (on its clock) for `versions` versions, then quiet
 * until `endMs`; a consumer whose clock is `skewMs` ahead, each announcement visible to it
 * `writeMs` after it is made. Returns the consumer's polls and the latency of each version.
 */
function simulate(
  options: PollScheduleOptions,
  o: { cadenceMs: number; versions: number; skewMs: number; writeMs: number; endMs: number },
) {
  const schedule = new PollSchedule(options, seeded(7));
  const made = Array.from({ length: o.versions }, (_, i) => (i + 1) * o.cadenceMs);
  const visible = (k: number) => made[k]! + o.skewMs + o.writeMs;
  const announcement = (k: number): Announcement => ({
    version: k + 1,
    announcedAt: made[k]!,
    producer: 'p',
    ...(k > 0 ? { replaces: k } : {}),
  });
  const polls: number[] = [];
  const latency: number[] = [];
  let seen = -1;
  let t = made[0]! + o.skewMs + o.writeMs + 10;
  while (t < o.endMs) {
    polls.push(t);
    let latest = seen;
    while (latest + 1 < made.length && visible(latest + 1) <= t) latest++;
    let wait: number;
    if (latest > seen) {
      for (let k = seen + 1; k <= latest; k++) latency.push(t - visible(k));
      wait = schedule.changed(t, announcement(latest), seen >= 0 ? announcement(seen) : undefined);
      seen = latest;
    } else {
      wait = schedule.quiet(t, false);
    }
    t += wait;
  }
  return { polls, latency, schedule };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!;

describe('poll schedule', () => {
  it.each([
    ['synchronised clocks', 0],
    ['a consumer clock 700 ms ahead', 700],
    ['a consumer clock 900 ms behind', -900],
  ])(
    'at a steady 2 s cadence (%s): about one poll per version, a version seen within the spread',
    (_, skewMs) => {
      const run = simulate(defaults, {
        cadenceMs: 2000,
        versions: 300,
        skewMs,
        writeMs: 30,
        endMs: 300 * 2000 + skewMs,
      });
      expect(run.schedule.cadenceMs).toBe(2000);
      // Past the first few versions (the cadence is learnt from three).
      const steady = run.latency.slice(10);
      const from = 10 * 2000 + skewMs;
      const polls = run.polls.filter((t) => t > from).length;
      expect(polls / steady.length).toBeLessThan(1.3);
      expect(pct(steady, 0.95)).toBeLessThan(800);
      expect(Math.max(...steady)).toBeLessThan(1000);
    },
  );

  it('backs off to the cap when the producer goes quiet: at most 2 polls a minute, a version seen within the cap', () => {
    const run = simulate(defaults, {
      cadenceMs: 2000,
      versions: 20,
      skewMs: 0,
      writeMs: 30,
      endMs: 40 * 60_000,
    });
    const idle = run.polls.filter((t) => t > 10 * 60_000);
    const perMinute = idle.length / 30;
    expect(perMinute).toBeGreaterThan(1.5);
    expect(perMinute).toBeLessThanOrEqual(2.1);
    expect(run.schedule.intervalMs).toBe(30_000);
  });

  it('without a steady cadence, or with followCadence off, backs off from the minimum after each version', () => {
    const off = simulate(
      { ...defaults, followCadence: false, jitter: 0 },
      { cadenceMs: 5000, versions: 50, skewMs: 0, writeMs: 30, endMs: 50 * 5000 },
    );
    expect(off.schedule.cadenceMs).toBeUndefined();
    // 1 s, then 2 s, then 4 s: three polls per 5 s version.
    expect(off.polls.length / 50).toBeGreaterThan(2.3);
    const on = simulate(
      { ...defaults, jitter: 0 },
      { cadenceMs: 5000, versions: 50, skewMs: 0, writeMs: 30, endMs: 50 * 5000 },
    );
    expect(on.polls.length / 50).toBeLessThan(1.5);
  });
});
