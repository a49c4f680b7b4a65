/**
 * Version labels through the `shoal` command, as child processes on a real filesystem:
 * `produce --label --meta`, `inspect` (per version, one version, a snapshot file), `diff` by
 * label, and `consume --pin <label>` with its `/status` and refresh lines.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { padVersion } from '../src/index.ts';
import { until } from './support/wait.ts';

const run = promisify(execFile);
const tsx = pathToFileURL(join(import.meta.dirname, '../node_modules/tsx/dist/loader.mjs')).href;
const main = join(import.meta.dirname, '../src/cli/main.ts');
const schemaFile = join(import.meta.dirname, '../examples/movies.schema.json');

let cwd: string;
const cli = (...args: string[]) => run(process.execPath, ['--import', tsx, main, ...args], { cwd });
/** The error of a CLI run that should fail: its exit code and output. */
const failed = async (...args: string[]) => {
  try {
    await cli(...args);
  } catch (e) {
    return e as { code: number; stdout: string; stderr: string };
  }
  throw new Error(`shoal ${args.join(' ')} succeeded`);
};
const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const movie = (id: number, title: string) => ({ id, title, year: 2000 + id, tags: ['t'] });
const ndjson = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
const store = ['--store', 'shoal-data', '--namespace', 'm'];

/** `shoal produce` of `rows` with `extra` flags; its one published line. */
async function produce(rows: object[], ...extra: string[]) {
  await writeFile(join(cwd, 'in.ndjson'), ndjson(rows));
  const { stdout } = await cli('produce', '--schema', schemaFile, '--input', 'in.ndjson', ...store, ...extra);
  return lines(stdout)[0]!;
}

let v1: number;
let v2: number;
beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'shoal-cli-labels-'));
  const first = await produce(
    [movie(1, 'One'), movie(2, 'Two')],
    '--label',
    '3.1.5',
    '--meta',
    'commit=abc',
    '--meta',
    'url=https://x/?a=b',
  );
  expect(first).toMatchObject({
    event: 'published',
    label: '3.1.5',
    metadata: { commit: 'abc', url: 'https://x/?a=b' },
  });
  v1 = first.version as number;
  const second = await produce([movie(2, 'Two, again'), movie(3, 'Three')], '--label', '3.1.6');
  expect(second).toMatchObject({ event: 'published', label: '3.1.6' });
  expect('metadata' in second).toBe(false);
  v2 = second.version as number;
}, 60_000);
afterAll(() => rm(cwd, { recursive: true, force: true }));

describe('shoal produce --label --meta', () => {
  it('refuses a malformed label or --meta as bad usage (exit 2), naming the flag', async () => {
    const args = ['produce', '--schema', schemaFile, '--input', 'in.ndjson', ...store];
    const empty = await failed(...args, '--label', '');
    expect([empty.code, empty.stderr.split('\n')[0]]).toEqual([
      2,
      'shoal: --label is empty. A label is 1 to 128 characters without control characters; metadata is at most 64 string values, 8192 bytes of keys and values in all.',
    ]);
    const pair = await failed(...args, '--meta', 'commit');
    expect([pair.code, pair.stderr.split('\n')[0]]).toEqual([
      2,
      'shoal: --meta needs key=value, got "commit"',
    ]);
    const twice = await failed(...args, '--meta', 'a=1', '--meta', 'a=2');
    expect([twice.code, twice.stderr.split('\n')[0]]).toEqual([2, 'shoal: --meta a is given twice']);
  });
});

describe('shoal inspect and diff with labels', () => {
  it('shows labels per version, for one version, and in a snapshot file', async () => {
    const listed = lines((await cli('inspect', ...store)).stdout);
    expect(listed.map((l) => [l.version, l.label, l.metadata])).toEqual([
      [v1, '3.1.5', { commit: 'abc', url: 'https://x/?a=b' }],
      [v2, '3.1.6', undefined],
    ]);
    const shown = JSON.parse((await cli('inspect', ...store, '--version', '3.1.5')).stdout);
    expect(shown).toMatchObject({
      version: v1,
      label: '3.1.5',
      metadata: { commit: 'abc' },
      counts: { Movie: 2 },
    });
    const file = join(cwd, 'shoal-data', 'm', 'snapshot', padVersion(v1));
    const fromFile = JSON.parse((await cli('inspect', file)).stdout);
    expect(fromFile).toMatchObject({
      version: v1,
      label: '3.1.5',
      metadata: { commit: 'abc', url: 'https://x/?a=b' },
    });
    const unknown = await failed('inspect', ...store, '--version', '4.0.0');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /^shoal: UNKNOWN_LABEL: no retained version of namespace "m" carries the label "4\.0\.0"/,
    );
  });

  it('diffs two labels, naming both ends', async () => {
    const diff = JSON.parse((await cli('diff', ...store, '3.1.5', '3.1.6')).stdout);
    expect(diff).toEqual({
      from: { version: v1, label: '3.1.5', metadata: { commit: 'abc', url: 'https://x/?a=b' } },
      to: { version: v2, label: '3.1.6' },
      types: { Movie: { added: [3], removed: [1], modified: [2] } },
    });
    const mixed = JSON.parse((await cli('diff', ...store, String(v2), 'label:3.1.5')).stdout);
    expect([mixed.from, mixed.to.label]).toEqual([{ version: v2, label: '3.1.6' }, '3.1.5']);
    const unknown = await failed('diff', ...store, '3.1.5', 'nope');
    expect([unknown.code, unknown.stdout]).toEqual([1, '']);
    expect(unknown.stderr).toContain(
      'shoal: UNKNOWN_LABEL: no retained version of namespace "m" carries the label "nope"',
    );
  });
});

describe('shoal consume --pin <label>', () => {
  it('serves the labelled version, shows it in /status, and refuses an unknown label', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', tsx, main, 'consume', ...store, '--port', '0', '--pin', '3.1.5'],
      { cwd, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const events: Record<string, unknown>[] = [];
      child.stdout!.on('data', (c: Buffer) => {
        for (const line of c.toString().split('\n').filter(Boolean)) events.push(JSON.parse(line));
      });
      await until(() => events.length > 0, 15_000, 'serving');
      expect(events[0]).toMatchObject({
        event: 'serving',
        version: v1,
        label: '3.1.5',
        metadata: { commit: 'abc' },
      });
      const base = events[0]!.url as string;
      const status = await (await fetch(`${base}/status`)).json();
      expect(status).toMatchObject({ version: v1, pinned: v1, label: '3.1.5', metadata: { commit: 'abc' } });
      expect(await (await fetch(`${base}/records/Movie/1`)).json()).toMatchObject({ title: 'One' });
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    const unknown = await failed('consume', ...store, '--port', '0', '--pin', '9.9');
    expect([unknown.code, unknown.stderr.split('\n')[0]]).toEqual([
      1,
      expect.stringMatching(
        /^shoal: UNKNOWN_LABEL: no retained version of namespace "m" carries the label "9\.9" \(searched 2 version\(s\) back/,
      ),
    ]);
  });

  it('prints the label of each version it refreshes to', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', tsx, main, 'consume', ...store, '--port', '0'],
      {
        cwd,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const events: Record<string, unknown>[] = [];
      child.stdout!.on('data', (c: Buffer) => {
        for (const line of c.toString().split('\n').filter(Boolean)) events.push(JSON.parse(line));
      });
      await until(() => events.length > 0, 15_000, 'serving');
      const current = events[0]!.version as number;
      const next = await produce(
        [movie(3, 'Three'), movie(4, 'Four')],
        '--label',
        '3.2.0',
        '--meta',
        'by=ci',
      );
      await until(() => events.some((e) => e.event === 'refresh'), 15_000, 'a refresh');
      expect(events.find((e) => e.event === 'refresh')).toMatchObject({
        event: 'refresh',
        from: current,
        to: next.version,
        label: '3.2.0',
        metadata: { by: 'ci' },
      });
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
