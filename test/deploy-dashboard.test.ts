/**
 * The shipped Grafana dashboard (deploy/grafana/shoal-dashboard.json): every query reads only
 * metrics that a real producer or consumer serves, and every expression parses (promtool).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkExpressions,
  exposedNames,
  hasPromtool,
  metricNamesIn,
  scrapeProducerAndConsumer,
} from './support/metric-names.ts';

interface Panel {
  readonly title: string;
  readonly type: string;
  readonly targets?: readonly { readonly expr: string }[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly name: string; readonly query: unknown }[] };
}

const dashboard = JSON.parse(
  await readFile(join(import.meta.dirname, '../deploy/grafana/shoal-dashboard.json'), 'utf8'),
) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
/** `label_values(metric, label)` of the job variables: a Grafana function, not PromQL. */
const variableMetrics = dashboard.templating.list.flatMap((v) => {
  const q = (v.query as { query?: string } | undefined)?.query;
  const m = q === undefined ? null : /^label_values\((\w+), *\w+\)$/.exec(q);
  return m ? [m[1]!] : [];
});

/** The expression as Prometheus gets it from Grafana, with its variables filled in. */
const asSent = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replace(/\$\w+/g, '.+');

describe('the shipped Grafana dashboard', () => {
  it('has a query on every panel but rows, and its job variables read served metrics', () => {
    const empty = panels.filter((p) => p.type !== 'row' && (p.targets ?? []).length === 0);
    expect(empty.map((p) => p.title)).toEqual([]);
    expect(variableMetrics).toEqual(['shoal_producer_announced_version', 'shoal_consumer_version']);
    // "All" is the jobs found (a|b), not a catch-all: `.+` also matched Prometheus's own job and
    // any other exporter's in the process panels (process_resident_memory_bytes{job=~".+"}).
    const catchAll = dashboard.templating.list.filter(
      (v) => (v as { allValue?: string }).allValue !== undefined,
    );
    expect(catchAll.map((v) => v.name)).toEqual([]);
  });

  it('queries only metrics that a real producer or consumer serves', async () => {
    const { producer, consumer } = await scrapeProducerAndConsumer();
    const served = new Set([...exposedNames(producer), ...exposedNames(consumer)]);
    const missing = [
      ...queries.flatMap((q) => metricNamesIn(q.expr).map((name) => `${q.panel}: ${name}`)),
      ...variableMetrics,
    ].filter((entry) => !served.has(entry.split(': ').at(-1)!));
    expect(missing).toEqual([]);
    // What the issue asks the dashboard to show, each read by some query.
    const read = new Set(queries.flatMap((q) => metricNamesIn(q.expr)));
    for (const name of [
      'shoal_consumer_lag_seconds',
      'shoal_producer_stage_duration_seconds_bucket',
      'shoal_consumer_refreshes_total',
      'shoal_consumer_bytes_fetched_total',
      'shoal_producer_pending_changes',
      'shoal_producer_backpressure_active',
      'shoal_producer_errors_total',
      'shoal_consumer_errors_total',
      'shoal_consumer_records',
    ]) {
      expect(read, name).toContain(name);
    }
    // Each query reads some metric: a typo'd function name would leave none.
    expect(queries.filter((q) => metricNamesIn(q.expr).length === 0)).toEqual([]);
  });

  it.runIf(hasPromtool || process.env.CI)('has only expressions that parse (promtool)', async () => {
    const r = await checkExpressions(queries.map((q) => asSent(q.expr)));
    expect(r.output).toContain(`SUCCESS: ${queries.length} rules found`);
    expect(r.status).toBe(0);
    // The check has teeth: an expression that does not parse fails it.
    const bad = await checkExpressions(['sum by (le (rate(shoal_consumer_version[1m]))']);
    expect(bad.status).toBe(1);
  });
});
