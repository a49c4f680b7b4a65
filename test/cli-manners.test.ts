/**
 * What the `shoal` command shows a user when asked for help or when something is wrong: the
 * exit code and the one line on stderr, never a stack trace.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsBlobStore, Producer, t } from '../src/index.ts';
import { envWithoutAws, runCli, s3Env, spawnCli } from './support/cli.ts';
import { useStores } from './support/stores.ts';

const { tempDir, s3 } = useStores('cli-manners');
const examples = join(import.meta.dirname, '../examples');
const schemaFile = join(examples, 'movies.schema.json');
const movie = (id: number) => ({ id, title: `Movie ${id}`, year: 2000, tags: ['t'] });
const ndjson = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;

/** A store in `dir` with `count` Movie records in namespace "m"; the version published. */
async function publish(dir: string, count: number): Promise<number> {
  const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
  const producer = await Producer.open({
    store: new FsBlobStore({ dir, fsync: false }),
    namespace: 'm',
    schema: t.schema([Movie]),
    walDir: join(dir, '.wal'),
    fsync: false,
  });
  await producer.runCycle((w) => {
    for (let id = 0; id < count; id++) w.add('Movie', { id, title: `a title of some length, number ${id}` });
  });
  await producer.close();
  return producer.version!;
}

describe('shoal <command> --help', () => {
  it.each([
    ['produce', 'usage: shoal produce --schema <file.json>'],
    ['consume', 'usage: shoal consume [options]'],
    ['inspect', 'usage: shoal inspect <snapshot-file>'],
    ['diff', 'usage: shoal diff '],
  ])('%s --help prints that command’s help on stdout and exits 0', async (command, first) => {
    for (const flag of ['--help', '-h']) {
      // Even beside other options, as kubectl does: help wins and nothing runs.
      const result = await runCli([command, '--store', 's3://no-such-bucket', flag]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout.startsWith(first)).toBe(true);
      expect(result.stdout).toContain('--store');
      expect(result.stdout).not.toContain('commands:');
      // The options every command takes are in each command's help too.
      expect(result.stdout).toContain('\n  --log-format <text|json>   stderr as lines to read (default)');
    }
    const viaHelp = await runCli(['help', command]);
    expect(viaHelp).toMatchObject({ code: 0, stderr: '' });
    expect(viaHelp.stdout.startsWith(first)).toBe(true);
  });

  it('shoal --version prints the package version and exits 0', async () => {
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '../package.json'), 'utf8'));
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `shoal ${version}\n`, stderr: '' });
  });

  it('shoal --help lists every command and the exit codes; bad usage exits 2 with a pointer to help', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['produce', 'consume', 'inspect', 'diff']) expect(help.stdout).toContain(`  ${c} `);
    expect(help.stdout).toContain('exit codes: 0 done, 1 failed');
    expect(await runCli(['frobnicate'])).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `shoal: unknown command "frobnicate"\nSee 'shoal --help'.\n`,
    });
    expect(await runCli(['produce', '--bogus'])).toMatchObject({
      code: 2,
      stderr: `shoal: Unknown option '--bogus'\nSee 'shoal produce --help'.\n`,
    });
    expect(await runCli(['inspect', '--store', 's3://'])).toMatchObject({
      code: 2,
      stderr: `shoal: --store s3:// is not of the form s3://<bucket>[/<prefix>]\nSee 'shoal inspect --help'.\n`,
    });
    expect(await runCli(['inspect', '--version'])).toMatchObject({
      code: 2,
      stderr: `shoal: Option '--version <value>' argument missing\nSee 'shoal inspect --help'.\n`,
    });
  });
});

describe('files that cannot be read', () => {
  it('a missing --schema or --input is one line with the OS code, exit 1', async () => {
    const cwd = await tempDir();
    await copyFile(join(examples, 'movies.ndjson'), join(cwd, 'movies.ndjson'));
    expect(
      await runCli(['produce', '--schema', 'nope.json', '--input', 'movies.ndjson'], { cwd }),
    ).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'shoal: ENOENT: cannot read --schema nope.json: no such file or directory\n',
    });
    expect(
      await runCli(['produce', '--schema', schemaFile, '--input', 'nope.ndjson'], { cwd }),
    ).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'shoal: ENOENT: cannot read --input nope.ndjson: no such file or directory\n',
    });
    expect(await runCli(['inspect', 'nope.snapshot'], { cwd })).toMatchObject({
      code: 1,
      stderr: 'shoal: ENOENT: cannot read nope.snapshot: no such file or directory\n',
    });
    expect(await runCli(['inspect', '.'], { cwd })).toMatchObject({
      code: 1,
      stderr: 'shoal: EISDIR: cannot read .: illegal operation on a directory\n',
    });
  });

  it('SHOAL_DEBUG=1 adds the stack after the same line, for a bug report', async () => {
    const cwd = await tempDir();
    const { code, stderr } = await runCli(['inspect', 'nope.snapshot'], {
      cwd,
      env: { ...process.env, SHOAL_DEBUG: '1' },
    });
    expect(code).toBe(1);
    const [first, ...rest] = stderr.split('\n');
    expect(first).toBe('shoal: ENOENT: cannot read nope.snapshot: no such file or directory');
    expect(rest.join('\n')).toMatch(/^Error: cannot read nope\.snapshot[\s\S]*\n +at /);
  });

  it('garbage is one line too: a schema that is not JSON, a snapshot that is not a blob', async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, 'garbage.json'), 'garbage{\n  "x": 1\n');
    await writeFile(
      join(cwd, 'garbage.snapshot'),
      'not a snapshot, only some text longer than a blob prefix\n',
    );
    const schema = await runCli(['produce', '--schema', 'garbage.json', '--input', '-'], { cwd });
    expect(schema).toMatchObject({
      code: 1,
      stderr: `shoal: INVALID_SCHEMA: garbage.json: schema JSON is not valid JSON: Unexpected token 'g', "garbage{ "x": 1 " is not valid JSON\n`,
    });
    expect(await runCli(['inspect', 'garbage.snapshot'], { cwd })).toMatchObject({
      code: 1,
      stderr:
        'shoal: BLOB_BAD_MAGIC: these bytes are not a shoal blob (wrong magic). Check the key you read.\n',
    });
  });

  it('garbage input is reported per record, then one summary line, exit 1', async () => {
    const result = await runCli(['produce', '--schema', schemaFile, '--input', '-'], {
      cwd: await tempDir(),
      input: 'garbage\n\u0000\u0001binary{',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toEqual([
      `-:1: not valid JSON: Unexpected token 'g', "garbage" is not valid JSON`,
      `-:2: not valid JSON: Unexpected token '\u0000', "\u0000\u0001binary{" is not valid JSON`,
      'shoal: INVALID_RECORD: 2 invalid record(s); nothing published. Fix them, or pass --on-invalid skip.',
      '',
    ]);
  });
});

describe('unknown keys in the schema JSON', () => {
  const withField = (field: object) =>
    JSON.stringify({
      format: 'shoal.schema/1',
      types: [{ name: 'Movie', primaryKey: 'id', fields: [{ name: 'id', kind: 'int' }, field] }],
    });

  it('are INVALID_SCHEMA naming the key, where it is and the nearest known key', async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, 's.json'), withField({ name: 'rating', kind: 'double', optinal: true }));
    expect(await runCli(['produce', '--schema', 's.json', '--input', '-'], { cwd })).toMatchObject({
      code: 1,
      stderr:
        'shoal: INVALID_SCHEMA: s.json: schema JSON types[0] ("Movie").fields[1] ("rating"): unknown key "optinal" (did you mean "optional"?). Known keys here: name, kind, optional, bigint, element.\n',
    });
  });

  it.each([
    [
      'at the top level',
      { format: 'shoal.schema/1', types: [], typs: [] },
      'schema JSON: unknown key "typs" (did you mean "types"?). Known keys here: format, types.',
    ],
    [
      'in a type',
      { format: 'shoal.schema/1', types: [{ name: 'T', primary_key: 'id', fields: [] }] },
      'schema JSON types[0] ("T"): unknown key "primary_key" (did you mean "primaryKey"?). Known keys here: name, primaryKey, fields, indexes.',
    ],
    [
      'in a field',
      JSON.parse(withField({ name: 'n', kind: 'long', bigInt: true })),
      'schema JSON types[0] ("Movie").fields[1] ("n"): unknown key "bigInt" (did you mean "bigint"?). Known keys here: name, kind, optional, bigint, element.',
    ],
    [
      'in a list element',
      JSON.parse(withField({ name: 'tags', kind: 'list', element: { kind: 'string', optional: true } })),
      'schema JSON types[0] ("Movie").fields[1] ("tags").element: unknown key "optional". Known keys here: kind, bigint.',
    ],
    [
      'an element on a field that is not a list',
      JSON.parse(withField({ name: 'n', kind: 'int', element: { kind: 'int' } })),
      'schema JSON types[0] ("Movie").fields[1] ("n"): "element" applies to list fields only',
    ],
  ])('%s', (_, json, message) => {
    let error: unknown;
    try {
      t.fromJSON(json);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'INVALID_SCHEMA', message });
  });
});

describe('stores that are not there', () => {
  it('inspect --store of a missing directory prints nothing and exits 0, and creates nothing', async () => {
    const cwd = await tempDir();
    expect(await runCli(['inspect', '--store', './no-such-dir'], { cwd })).toEqual({
      code: 0,
      signal: null,
      stdout: '',
      stderr: '',
    });
    // With no --store, inspect reads ./shoal-data as every other command does.
    await publish(join(cwd, 'shoal-data'), 2);
    const listed = await runCli(['inspect', '--namespace', 'm'], { cwd });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ counts: { Movie: 2 }, announced: true });
  });

  it('a --store that is a file is BLOB_NOT_FOUND on reads, and says so on writes', async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, 'a-file'), 'x');
    const real = join(await import('node:fs/promises').then((fs) => fs.realpath(cwd)), 'a-file');
    expect(await runCli(['inspect', '--store', 'a-file', '--namespace', 'movies'], { cwd })).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `shoal: BLOB_NOT_FOUND: no blob at "movies/header/": the store's directory "${real}" is a file. Point the store at a directory.\n`,
    });
    await writeFile(join(cwd, 'movies.ndjson'), ndjson([movie(1)]));
    const produced = await runCli(
      ['produce', '--schema', schemaFile, '--input', 'movies.ndjson', '--store', 'a-file'],
      {
        cwd,
      },
    );
    expect(produced.code).toBe(1);
    // A failed cycle is reported once, with its stage.
    expect(produced.stderr).toMatch(
      /^shoal: STORE_UNAVAILABLE: cannot write "default\/snapshot\/\d{16}": the store's directory ".*a-file" is a file\. Point the store at a directory\.\n$/,
    );
  });

  it('a missing S3 bucket is BLOB_NOT_FOUND naming the bucket', async () => {
    const result = await runCli(
      ['inspect', '--store', 's3://no-such-bucket/some/prefix', '--namespace', 'movies'],
      {
        cwd: await tempDir(),
        env: s3Env(s3().endpoint),
      },
    );
    expect(result).toMatchObject({
      code: 1,
      stdout: '',
      stderr:
        'shoal: BLOB_NOT_FOUND: no blob at "s3://no-such-bucket/some/prefix/movies/header/": the bucket "no-such-bucket" does not exist. Check the bucket name, and the client\'s region and endpoint.\n',
    });
  });

  it("shows the AWS SDK's Node version warning only when asked to", async () => {
    const args = ['inspect', '--store', 's3://no-such-bucket', '--namespace', 'movies'];
    const env = { ...s3Env(s3().endpoint), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' };
    const asked = await runCli(args, { cwd: await tempDir(), env });
    expect(asked.code).toBe(1);
    // The SDK warns only on a Node older than the one its later releases need (22).
    const warns = Number(process.versions.node.split('.')[0]) < 22;
    expect(asked.stderr.includes('NodeVersionSupportWarning')).toBe(warns);
    expect(asked.stderr.trim().split('\n').at(-1)).toMatch(
      /^shoal: BLOB_NOT_FOUND: no blob at "s3:\/\/no-such-bucket\//,
    );
  });

  it('missing AWS credentials are STORE_UNAVAILABLE saying so', async () => {
    const home = await tempDir();
    const result = await runCli(['inspect', '--store', 's3://shoal-test/p', '--namespace', 'movies'], {
      cwd: home,
      env: envWithoutAws({
        HOME: home,
        AWS_CONFIG_FILE: join(home, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ENDPOINT_URL_S3: s3().endpoint,
      }),
    });
    expect(result).toMatchObject({
      code: 1,
      stdout: '',
      stderr:
        'shoal: STORE_UNAVAILABLE: no AWS credentials for "s3://shoal-test/p/movies/header/" (Could not load credentials from any providers). Give the client credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or another source of the AWS SDK\'s default chain.\n',
    });
  });
});

describe('output and messages', () => {
  it('inspect --records into a reader that stops early (| head) exits 0 without a word', async () => {
    const dir = await tempDir();
    const version = await publish(dir, 20_000);
    const child = spawnCli([
      'inspect',
      '--store',
      dir,
      '--namespace',
      'm',
      '--version',
      String(version),
      '--records',
    ]);
    child.stdin!.end();
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    let first = '';
    child.stdout!.once('data', (c: Buffer) => {
      first = c.toString().split('\n')[0]!;
      child.stdout!.destroy(); // what `head -1` does once it has its line
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    expect(JSON.parse(first)).toEqual({
      type: 'Movie',
      record: { id: 0, title: 'a title of some length, number 0' },
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });

  it('a duplicate key is shown as written: an int as a number, a string quoted, a composite key as JSON', async () => {
    const cwd = await tempDir();
    await mkdir(join(cwd, 'in'));
    await writeFile(join(cwd, 'dup.ndjson'), ndjson([movie(9), movie(8), movie(9)]));
    const ints = await runCli(['produce', '--schema', schemaFile, '--input', 'dup.ndjson'], { cwd });
    expect(ints.code).toBe(1);
    expect(ints.stderr.split('\n')[0]).toBe(
      'dup.ndjson:3: Movie key 9 appears twice in the input (DUPLICATE_KEY)',
    );
    await writeFile(
      join(cwd, 'city.schema.json'),
      JSON.stringify(
        t.toJSON(
          t.schema([
            t.object('City', { country: t.string(), id: t.int() }, { primaryKey: ['country', 'id'] }),
            t.object('Tag', { name: t.string() }, { primaryKey: 'name' }),
          ]),
        ),
      ),
    );
    await writeFile(
      join(cwd, 'cities.ndjson'),
      ndjson([
        { type: 'City', record: { country: 'FR', id: 7 } },
        { type: 'City', record: { country: 'FR', id: 7 } },
        { type: 'Tag', record: { name: '9' } },
        { type: 'Tag', record: { name: '9' } },
      ]),
    );
    const composite = await runCli(['produce', '--schema', 'city.schema.json', '--input', 'cities.ndjson'], {
      cwd,
    });
    expect(composite.code).toBe(1);
    expect(composite.stderr.split('\n').slice(0, 2)).toEqual([
      'cities.ndjson:2: City key {"country":"FR","id":7} appears twice in the input (DUPLICATE_KEY)',
      'cities.ndjson:4: Tag key "9" appears twice in the input (DUPLICATE_KEY)',
    ]);
  });
});
