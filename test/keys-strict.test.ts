/**
 * Keys as a user gives them: lookups, removes and `shoal consume`'s key parser take exactly the
 * keys that can exist and refuse or miss the rest, never matching another record.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseKey } from '../src/cli/consume-command.ts';
import { encodeSnapshot, isShoalError, StateBuilder, t } from '../src/index.ts';

const P = t.object(
  'P',
  { a: t.long({ bigint: true }), b: t.string(), v: t.int(), d: t.double().optional() },
  { primaryKey: ['a', 'b'] },
);
const S = t.object('S', { s: t.string(), v: t.int() }, { primaryKey: 's' });
const schema = t.schema([P, S]);

const codeOf = (run: () => unknown) => {
  try {
    run();
    return 'no error';
  } catch (e) {
    return isShoalError(e) ? e.code : String(e);
  }
};

describe('keys', () => {
  const state = new StateBuilder(schema)
    .add('P', { a: 2n ** 62n, b: 'x', v: 1 })
    .add('P', { a: 4611686018427388000n, b: 'x', v: 2 })
    .add('S', { s: '\ufffd', v: 3 })
    .add('S', { s: '', v: 4 })
    .build({ version: 1 });

  it('a lone surrogate finds nothing (its UTF-8 is that of U+FFFD, which is stored)', () => {
    expect(state.type('S').get('\ud800')).toBeUndefined();
    expect(state.type('S').has('\ud800')).toBe(false);
    expect(state.type('S').get('\ufffd')?.v).toBe(3);
  });

  it('remove refuses a malformed key at once, naming the part, and the builder goes on', () => {
    const b = StateBuilder.from(state);
    let error: unknown;
    try {
      b.remove('P', { a: 2n ** 62n } as never);
    } catch (e) {
      error = e;
    }
    expect(isShoalError(error) && error.code).toBe('INVALID_KEY');
    expect((error as Error).message).toContain('"b"');
    expect(codeOf(() => b.remove('P', { a: 2n ** 62n, b: 7 } as never))).toBe('INVALID_KEY');
    const next = b.remove('P', { a: 2n ** 62n, b: 'x' }).build({ version: 2 });
    expect(next.type('P').size).toBe(1);
  });

  it('consume parses a 64-bit part as a string, or as a JSON number only while it is exact', () => {
    const type = state.type('P').type;
    const key = (k: object) => encodeURIComponent(JSON.stringify(k));
    expect(parseKey(type, key({ a: '4611686018427387904', b: 'x' }))).toEqual({ a: 2n ** 62n, b: 'x' });
    expect(parseKey(type, key({ a: 12, b: 'x' }))).toEqual({ a: 12n, b: 'x' });
    // 2^62 as a JSON number is rounded by the parser before shoal sees it: refused.
    expect(codeOf(() => parseKey(type, encodeURIComponent('{"a":4611686018427387904,"b":"x"}')))).toBe(
      'INVALID_KEY',
    );
    expect(codeOf(() => parseKey(type, key({ a: '0x10', b: 'x' })))).toBe('INVALID_KEY');
    expect(codeOf(() => parseKey(type, key({ a: (2n ** 64n).toString(), b: 'x' })))).toBe('INVALID_KEY');
  });

  it('consume takes the empty string as a one-field string key', () => {
    expect(parseKey(state.type('S').type, '')).toBe('');
    expect(state.type('S').get(parseKey(state.type('S').type, '') as string)?.v).toBe(4);
  });
});

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('shoal inspect --records into a reader that stops early', () => {
  it('exits 0 without a stack trace when the pipe closes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-epipe-'));
    dirs.push(dir);
    const b = new StateBuilder(schema);
    for (let i = 0; i < 50_000; i++) b.add('S', { s: `key number ${i}`, v: i });
    const file = join(dir, 's.snapshot');
    await writeFile(file, encodeSnapshot(b.build({ version: 1 })));
    const tsx = pathToFileURL(join(import.meta.dirname, '../node_modules/tsx/dist/loader.mjs')).href;
    const main = join(import.meta.dirname, '../src/cli/main.ts');
    const child = spawn(process.execPath, ['--import', tsx, main, 'inspect', file, '--records'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // Read one chunk, then close the pipe, as `head -1` does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stderr).not.toContain('EPIPE');
  });
});

describe('shoal inspect --records with 64-bit fields', () => {
  it('prints bigints as decimal strings, which produce and consume read back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-bigint-'));
    dirs.push(dir);
    const file = join(dir, 'p.snapshot');
    const state = new StateBuilder(schema)
      .add('P', { a: -1n, b: 'x', v: 1, d: Number.NaN })
      .add('P', { a: 2n ** 63n - 1n, b: 'y', v: 2, d: Number.NEGATIVE_INFINITY })
      .build({ version: 1 });
    await writeFile(file, encodeSnapshot(state));
    const tsx = pathToFileURL(join(import.meta.dirname, '../node_modules/tsx/dist/loader.mjs')).href;
    const main = join(import.meta.dirname, '../src/cli/main.ts');
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', tsx, main, 'inspect', file, '--records', '--type', 'P'],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))));
    });
    const records = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).record);
    expect(records).toEqual([
      { a: '-1', b: 'x', v: 1, d: 'NaN' },
      { a: '9223372036854775807', b: 'y', v: 2, d: '-Infinity' },
    ]);
    expect(
      parseKey(state.type('P').type, encodeURIComponent(JSON.stringify({ a: records[0].a, b: 'x' }))),
    ).toEqual({
      a: -1n,
      b: 'x',
    });
  });
});
