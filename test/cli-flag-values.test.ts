/**
 * Flag values the CLI refuses rather than reinterprets, as child processes: stores named by a
 * URL that is not s3://, numbers that are not decimal, an empty AWS_REGION.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envWithoutAws, examples, runCli } from './support/cli.ts';

let cwd: string;
beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'shoal-cli-flags-'));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

const produce = (...args: string[]) =>
  runCli(
    [
      'produce',
      '--schema',
      join(examples, 'movies.schema.json'),
      '--input',
      join(examples, 'movies.ndjson'),
      ...args,
    ],
    { cwd },
  );

describe('--store', () => {
  for (const store of ['http://example.com/x', 'file:///tmp/x']) {
    it(`refuses ${store} as bad usage, creating nothing`, async () => {
      const r = await produce('--store', store);
      expect(r.code).toBe(2);
      const scheme = store.slice(0, store.indexOf(':'));
      expect(r.stderr).toBe(
        `shoal: --store ${store}: a store is a directory or s3://<bucket>[/<prefix>], not a ${scheme}:// URL\nSee 'shoal produce --help'.\n`,
      );
      expect(await readdir(cwd)).toEqual([]);
    });
  }

  it('takes S3:// as s3:// (an empty AWS_REGION is then INVALID_OPTION naming it)', async () => {
    const r = await runCli(['inspect', '--store', 'S3://bucket/p', '--namespace', 'movies'], {
      cwd,
      env: envWithoutAws({ AWS_REGION: '' }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "shoal: INVALID_OPTION: AWS_REGION is set but empty, so --store S3://bucket/p has no region. Set AWS_REGION to the bucket's region (e.g. us-east-1), or unset it for us-east-1.\n",
    );
    expect(await readdir(cwd)).toEqual([]);
  });
});

describe('numeric flags are decimal only', () => {
  const cases: [string[], string, string][] = [
    [
      ['--max-shrink', '0x1'],
      'produce',
      '--max-shrink needs a share between 0 and 1 (0.25 = 25%), got "0x1"',
    ],
    [['--max-shrink', ' 1'], 'produce', '--max-shrink needs a share between 0 and 1 (0.25 = 25%), got " 1"'],
    [['--snapshot-every', '1e3'], 'produce', '--snapshot-every needs a whole number, got "1e3"'],
    [['--keep-snapshots', '0x2'], 'produce', '--keep-snapshots needs a whole number, got "0x2"'],
    [['--health-port', '0x50'], 'produce', '--health-port needs a port number (0 to 65535), got "0x50"'],
    [['--health-port', '70000'], 'produce', '--health-port needs a port number (0 to 65535), got "70000"'],
  ];
  for (const [flags, command, message] of cases) {
    it(`${command} ${flags.join(' ')}: exit 2`, async () => {
      const r = await produce(...flags);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`shoal: ${message}\nSee 'shoal ${command} --help'.\n`);
    });
  }

  it('consume --port and --max-staleness-ms, plan --consumers: exit 2', async () => {
    const port = await runCli(['consume', '--port', ' 8080'], { cwd });
    expect([port.code, port.stderr.split('\n')[0]]).toEqual([
      2,
      'shoal: --port needs a port number (0 to 65535), got " 8080"',
    ]);
    const stale = await runCli(['consume', '--max-staleness-ms', '0x10'], { cwd });
    expect([stale.code, stale.stderr.split('\n')[0]]).toEqual([
      2,
      'shoal: --max-staleness-ms needs a positive whole number, got "0x10"',
    ]);
    const plan = await runCli(
      ['plan', '--records', 'Movie=1000', '--bytes-per-record', '40', '--consumers', '0x10'],
      { cwd },
    );
    expect([plan.code, plan.stderr.split('\n')[0]]).toEqual([
      2,
      'shoal: --consumers needs a whole number ≥ 1, got "0x10"',
    ]);
  });
});

describe('plan: counts are whole, factors positive', () => {
  const plan = (...flags: string[]) =>
    runCli(['plan', '--records', 'Movie=1000', '--bytes-per-record', '40', ...flags], { cwd });
  const cases: [string[], string][] = [
    [['--consumers', '1.5'], '--consumers needs a whole number ≥ 1, got "1.5"'],
    [['--consumers', '0'], '--consumers needs a whole number ≥ 1, got "0"'],
    [['--consumers=-3'], '--consumers needs a whole number ≥ 1, got "-3"'],
    [['--overload', '0'], '--overload needs a number > 0, got "0"'],
    [['--overload', 'lots'], '--overload needs a number ≥ 0, got "lots"'],
    [['--changes-per-second=-1'], '--changes-per-second needs a number ≥ 0, got "-1"'],
    [['--changes-per-version', 'x'], '--changes-per-version needs a number ≥ 0, got "x"'],
    [['--price-get=-0.1'], '--price-get needs a number ≥ 0, got "-0.1"'],
    [['--bytes-per-record', 'Movie=0'], '--bytes-per-record needs a number > 0, got "0"'],
  ];
  for (const [flags, message] of cases) {
    it(`plan ${flags.join(' ')}: exit 2, naming the flag`, async () => {
      const r = await plan(...flags);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`shoal: ${message}\nSee 'shoal plan --help'.\n`);
      expect(r.stdout).toBe('');
    });
  }

  it('plan --records Movie=1.5: exit 2', async () => {
    const r = await runCli(['plan', '--records', 'Movie=1.5', '--bytes-per-record', '40'], { cwd });
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([
      2,
      'shoal: --records needs a whole number ≥ 0, got "1.5"',
    ]);
  });
});
