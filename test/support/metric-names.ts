/**
 * Metric names on both sides of the shipped alerts and dashboard: the names a real producer's
 * and consumer's `/metrics` expose, and the names a PromQL expression reads. promtool is the
 * parser for whether an expression is valid (see `checkExpressions`); this only finds names.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer, MemoryBlobStore, Producer, t } from '../../src/index.ts';
import { serveConsumerHealth, serveProducerHealth } from '../../src/observability.ts';

/** promtool is on the PATH (CI installs Debian's prometheus package, .ci/run). */
export const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** The sample names of a `/metrics` text, from its `# TYPE` lines (a family may have no sample yet). */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    for (const suffix of SUFFIXES[m[2]!] ?? ['']) names.add(`${m[1]}${suffix}`);
  }
  return names;
}

/** The `/metrics` texts of a real producer and consumer that published, refreshed and served. */
export async function scrapeProducerAndConsumer(): Promise<{ producer: string; consumer: string }> {
  const walDir = await mkdtemp(join(tmpdir(), 'shoal-metric-names-'));
  const store = new MemoryBlobStore();
  const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
  const producer = await Producer.open({
    store,
    namespace: 'm',
    schema: t.schema([Movie]),
    walDir,
    fsync: false,
  });
  try {
    await using producerHealth = await serveProducerHealth(producer);
    await producer.runCycle((w) => w.add('Movie', { id: 1, title: 'One' }));
    await using consumer = await Consumer.open({ store, namespace: 'm', watch: false });
    await using consumerHealth = await serveConsumerHealth(consumer);
    await producer.upsert('Movie', { id: 2, title: 'Two' });
    await producer.flush();
    await consumer.refresh();
    const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();
    return { producer: await scrape(producerHealth.url), consumer: await scrape(consumerHealth.url) };
  } finally {
    await producer.close();
    await rm(walDir, { recursive: true, force: true });
  }
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool']);
const OPERATORS = new Set(['and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** The metric names `expr` reads: identifiers that are neither functions, keywords nor labels. */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings (label values, regexes)
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    const name = m[1]!;
    if (!KEYWORDS.has(name) && !OPERATORS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

/**
 * Runs `promtool check rules` on `exprs` as recording rules (a JSON rules file: YAML reads
 * JSON), which parses each one offline; the promtool output when one does not parse.
 */
export async function checkExpressions(
  exprs: readonly string[],
): Promise<{ status: number | null; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-exprs-'));
  try {
    const file = join(dir, 'exprs.rules.json');
    const rules = exprs.map((expr, i) => ({ record: `shoal_check:expr_${i}`, expr }));
    await writeFile(file, JSON.stringify({ groups: [{ name: 'exprs', rules }] }));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
