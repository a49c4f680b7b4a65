/**
 * `--log-format json`: every line the command writes to stderr is one JSON object with time,
 * level, event, message and the event's fields, while stdout keeps its JSON result lines; and
 * `--profile` on the daemons.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { examples, runCli, spawnCli } from './support/cli.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-log-format-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const schema = join(examples, 'movies.schema.json');
const entries = (stderr: string) =>
  stderr
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('--log-format json', () => {
  it('reports a failure as one JSON object with its code', async () => {
    const r = await runCli(
      ['produce', '--schema', join(dir, 'nope.json'), '--input', 'x', '--log-format', 'json'],
      {
        cwd: dir,
      },
    );
    expect(r.code).toBe(1);
    const [entry, ...more] = entries(r.stderr);
    expect(more).toEqual([]);
    expect(entry).toEqual({
      time: expect.stringMatching(ISO),
      level: 'error',
      event: 'failed',
      code: 'ENOENT',
      message: expect.stringMatching(
        /^ENOENT: cannot read --schema .*nope\.json: no such file or directory$/,
      ),
    });
  });

  it('reports a failed cycle with its version, stage and duration', async () => {
    const store = join(dir, 'shrink-store');
    const many = join(dir, 'many.ndjson');
    const few = join(dir, 'few.ndjson');
    const line = (id: number) => `{"id":${id},"title":"m${id}","year":2001,"tags":[]}`;
    await writeFile(many, `${[1, 2, 3, 4].map(line).join('\n')}\n`);
    await writeFile(few, `${line(1)}\n`);
    const args = ['produce', '--schema', schema, '--store', store, '--log-format', 'json'];
    expect((await runCli([...args, '--input', many], { cwd: dir })).code).toBe(0);
    const r = await runCli([...args, '--input', few], { cwd: dir });
    expect(r.code).toBe(1);
    expect(entries(r.stderr).at(-1)).toEqual({
      time: expect.stringMatching(ISO),
      level: 'error',
      event: 'failed',
      code: 'VALIDATION_FAILED',
      version: expect.any(Number),
      stage: 'validate',
      durationMs: expect.any(Number),
      message: expect.stringContaining('was refused'),
    });
  });

  it('reports each invalid record with its file and line, then the refusal; stdout stays empty', async () => {
    const input = join(dir, 'bad.ndjson');
    await writeFile(
      input,
      '{"id":1,"title":"a","year":2001,"tags":[]}\n{"id":"x","title":"b","year":2002,"tags":[]}\n',
    );
    const r = await runCli(['produce', '--schema', schema, '--input', input, '--log-format=json'], {
      cwd: dir,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const [bad, refused] = entries(r.stderr);
    expect(bad).toMatchObject({
      level: 'warn',
      event: 'invalid-record',
      file: input,
      line: 2,
      code: 'INVALID_RECORD',
    });
    expect(bad!.message).toMatch(/^.*bad\.ndjson:2: /);
    expect(refused).toMatchObject({ level: 'error', event: 'refused', code: 'INVALID_RECORD', records: 1 });
  });

  it('keeps the JSON result lines on stdout, and takes SHOAL_LOG_FORMAT as the default', async () => {
    const input = join(dir, 'good.ndjson');
    await writeFile(input, '{"id":1,"title":"a","year":2001,"tags":[]}\n');
    const r = await runCli(['produce', '--schema', schema, '--input', input, '--health-port', '0'], {
      cwd: dir,
      env: { ...process.env, SHOAL_LOG_FORMAT: 'json' },
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ event: 'published', counts: { Movie: 1 } });
    expect(entries(r.stderr)).toEqual([
      expect.objectContaining({
        level: 'info',
        event: 'health',
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      }),
    ]);
  });

  it('says a consumer waits as a JSON object naming the namespace', async () => {
    const child = spawnCli(
      ['consume', '--store', join(dir, 'empty'), '--namespace', 'm', '--port', '0', '--log-format', 'json'],
      {
        cwd: dir,
      },
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 20_000;
    while (!stderr.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(entries(stderr)[0]).toMatchObject({
      level: 'info',
      event: 'waiting',
      namespace: 'm',
      namespaces: [],
    });
  });

  it('reports bad usage as one JSON object with where to find help', async () => {
    const r = await runCli(['inspect', '--bogus', '--log-format', 'json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(entries(r.stderr)).toEqual([
      expect.objectContaining({
        level: 'error',
        event: 'usage',
        help: 'shoal inspect --help',
        message: expect.stringMatching(/--bogus/),
      }),
    ]);
  });

  it('refuses a format it does not know, in text', async () => {
    const r = await runCli(['inspect', '--log-format', 'xml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('shoal: --log-format is text or json, got "xml"');
  });
});

describe('--profile', () => {
  it('publishes with a profile, and refuses one that does not exist', async () => {
    const input = join(dir, 'p.ndjson');
    await writeFile(input, '{"id":1,"title":"a","year":2001,"tags":[]}\n');
    const ok = await runCli(
      ['produce', '--schema', schema, '--input', input, '--namespace', 'p', '--profile', 'latency'],
      {
        cwd: dir,
      },
    );
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ event: 'published', counts: { Movie: 1 } });
    for (const command of [
      ['produce', '--schema', schema, '--input', input],
      ['consume'],
      ['plan', '--records', 'M=1', '--bytes-per-record', '1'],
    ]) {
      const bad = await runCli([...command, '--profile', 'fast'], { cwd: dir });
      expect(bad.code, command[0]).toBe(2);
      expect(bad.stderr.split('\n')[0]).toBe(
        'shoal: --profile is one of throughput, balanced, latency, got "fast"',
      );
    }
  });
});
