/**
 * The shipped alert rules (deploy/prometheus/shoal-alerts.yml): valid for promtool, every alert
 * fired (and left quiet) by the unit tests beside them, those tests able to catch a changed
 * threshold, and every metric the rules read served by a real producer or consumer.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  exposedNames,
  hasPromtool,
  metricNamesIn,
  scrapeProducerAndConsumer,
} from './support/metric-names.ts';

const dir = join(import.meta.dirname, '../deploy/prometheus');
const rulesFile = join(dir, 'shoal-alerts.yml');
const testsFile = join(dir, 'shoal-alerts.test.yml');
const rules = await readFile(rulesFile, 'utf8');
const alerts = [...rules.matchAll(/^ {6}- alert: (\w+)$/gm)].map((m) => m[1]!);
const exprs = [...rules.matchAll(/^ {8}expr: (.+)$/gm)].map((m) => m[1]!);

const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

const promtool = (...args: string[]) => {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
};

describe('the shipped alert rules', () => {
  it('name the alerts of the operations kit, each with one single-line expression', () => {
    expect(alerts).toEqual([
      'ShoalConsumerStale',
      'ShoalConsumerRefreshFailing',
      'ShoalConsumerAnnouncementUnread',
      'ShoalNoVersionAnnounced',
      'ShoalConsumerWaitingForFirstVersion',
      'ShoalProducerCyclesFailing',
      'ShoalProducerBreakerOpen',
      'ShoalProducerBackpressure',
      'ShoalProducerWalFailed',
      'ShoalTargetDown',
      'ShoalTargetsAbsent',
      'ShoalHeapNearLimit',
      'ShoalMemoryNearLimit',
    ]);
    expect(exprs).toHaveLength(alerts.length);
  });

  it('read only metrics that a real producer or consumer serves', async () => {
    const { producer, consumer } = await scrapeProducerAndConsumer();
    // `up` is Prometheus' own, one per target it scrapes.
    const served = new Set([...exposedNames(producer), ...exposedNames(consumer), 'up']);
    const read = exprs.flatMap(metricNamesIn);
    expect(read).toContain('shoal_consumer_lag_seconds');
    expect(read).toContain('shoal_consumer_waiting_for_first_version_seconds');
    expect(read.filter((name) => !served.has(name))).toEqual([]);
  });

  it.runIf(hasPromtool || process.env.CI)('pass promtool check rules', () => {
    const r = promtool('check', 'rules', rulesFile);
    expect(r.output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(r.status).toBe(0);
  });

  it.runIf(hasPromtool || process.env.CI)(
    'pass promtool test rules, whose tests fire every alert and show each quiet on healthy series',
    async () => {
      const r = promtool('test', 'rules', testsFile);
      expect(r.output).toContain('SUCCESS');
      expect(r.status).toBe(0);
      const tests = await readFile(testsFile, 'utf8');
      for (const alert of alerts) {
        expect(tests, `${alert} fires`).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n`));
        expect(tests, `${alert} stays quiet`).toMatch(
          new RegExp(`alertname: ${alert}\\n\\s+exp_alerts: \\[\\]`),
        );
      }
    },
  );

  it.runIf(hasPromtool || process.env.CI)('fail their unit tests when a threshold changes', async () => {
    const d = await mkdtemp(join(tmpdir(), 'shoal-rules-'));
    temps.push(d);
    const changed = rules.replace('shoal_consumer_lag_seconds > 300', 'shoal_consumer_lag_seconds > 900');
    expect(changed).not.toBe(rules);
    await writeFile(join(d, 'shoal-alerts.yml'), changed);
    await copyFile(testsFile, join(d, 'shoal-alerts.test.yml'));
    const r = promtool('test', 'rules', join(d, 'shoal-alerts.test.yml'));
    expect(r.status).toBe(1);
    expect(r.output).toContain('alertname: ShoalConsumerStale');
  });
});
