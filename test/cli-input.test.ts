/**
 * `shoal produce` over hostile input files: every input is published exactly as written, or
 * reported as `file:line: reason` and handled by `--on-invalid`, never rounded, dropped, or
 * answered with a stack trace. Each test runs the CLI as a child process on real files.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Packr } from 'msgpackr/pack';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, StoreAnnouncer } from '../src/index.ts';
import { loadVersion, recordsOf } from './support/load.ts';

const run = promisify(execFile);
const tsx = pathToFileURL(join(import.meta.dirname, '../node_modules/tsx/dist/loader.mjs')).href;
const main = join(import.meta.dirname, '../src/cli/main.ts');

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const SCHEMA = {
  format: 'shoal.schema/1',
  types: [
    {
      name: 'R',
      primaryKey: 'id',
      fields: [
        { name: 'id', kind: 'int' },
        { name: 'n', kind: 'int', optional: true },
        { name: 's', kind: 'string', optional: true },
        { name: 'd', kind: 'double', optional: true },
        { name: 'f', kind: 'float', optional: true },
        { name: 'l', kind: 'long', optional: true },
        { name: 'b', kind: 'long', bigint: true, optional: true },
        { name: 'j', kind: 'json', optional: true },
      ],
    },
  ],
};

interface Outcome {
  readonly code: number;
  readonly stderr: string;
  /** The published records, or `undefined` when nothing was announced. */
  readonly records: Record<string, unknown>[] | undefined;
}

/** Writes `input` as `name` in a fresh directory, runs `shoal produce` on it, loads what it published. */
async function produce(
  name: string,
  input: string | Uint8Array,
  options: { args?: string[]; schema?: unknown } = {},
): Promise<Outcome> {
  const cwd = await mkdtemp(join(tmpdir(), 'shoal-cli-input-'));
  dirs.push(cwd);
  const schema = join(cwd, 'schema.json');
  const file = join(cwd, name);
  await writeFile(schema, JSON.stringify(options.schema ?? SCHEMA));
  await writeFile(file, input);
  const args = ['produce', '--schema', schema, '--input', file, ...(options.args ?? [])];
  let code = 0;
  let stderr: string;
  try {
    ({ stderr } = await run(process.execPath, ['--import', tsx, main, ...args], { cwd }));
  } catch (e) {
    ({ code, stderr } = e as { code: number; stderr: string });
  }
  const store = new FsBlobStore({ dir: join(cwd, 'shoal-data') });
  const announced = await new StoreAnnouncer({ store, namespace: 'default' }).read();
  const records = announced ? recordsOf(await loadVersion(store, 'default'), 'R') : undefined;
  return { code, stderr, records };
}

const skip = { args: ['--on-invalid', 'skip'] };
const ndjson = (...lines: string[]) => `${lines.join('\n')}\n`;
const stopped = /shoal: INVALID_RECORD: \d+ invalid record\(s\); nothing published/;

describe.concurrent('shoal produce, CSV input', () => {
  it('reports an unterminated quote at its row and goes on reading at the next line', async () => {
    const csv = 'id,s,n\n1,one,1\n2,"two,2\n3,three,3\n';
    const stop = await produce('in.csv', csv);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain(
      'in.csv:3: not valid CSV: cell 2: a quote opened on line 3 is never closed\n',
    );
    expect(stop.stderr).toMatch(stopped);
    expect(stop.records).toBeUndefined();
    const skipped = await produce('in.csv', csv, skip);
    expect(skipped.code).toBe(0);
    expect(skipped.records).toEqual([
      { id: 1, s: 'one', n: 1 },
      { id: 3, s: 'three', n: 3 },
    ]);
  });

  it('takes a blank cell as absent: a whitespace cell is no integer, a blank required cell is an error', async () => {
    const { code, stderr, records } = await produce('in.csv', 'id,n,s\n1,,\n2, ,x\n,3,y\n4,"",""\n', skip);
    expect(code).toBe(0);
    expect(stderr).toContain('in.csv:3: R (id=2): field "n" expected a decimal integer, got " ".');
    // The validator names the key it could not find (id=undefined); the line says which row.
    expect(stderr).toMatch(/in\.csv:4: R\b.*: field "id" is required \(int\) but absent\./);
    // `""` is the empty string for a string field, and blank for any other.
    expect(records).toEqual([{ id: 1 }, { id: 4, s: '' }]);
  });

  it('refuses a hexadecimal integer', async () => {
    const { code, stderr, records } = await produce('in.csv', 'id,n\n1,0x10\n2,16\n', skip);
    expect(code).toBe(0);
    expect(stderr).toContain('in.csv:2: R (id=1): field "n" expected a decimal integer, got "0x10".');
    expect(records).toEqual([{ id: 2, n: 16 }]);
  });

  it('refuses an exponent in an integer cell', async () => {
    const { code, stderr, records } = await produce('in.csv', 'id,n,l\n1,1e3,\n2,,1e3\n3,1000,-42\n');
    expect(code).toBe(1);
    expect(stderr).toContain('in.csv:2: R (id=1): field "n" expected a decimal integer, got "1e3".');
    expect(stderr).toContain('in.csv:3: R (id=2): field "l" expected a decimal integer, got "1e3".');
    expect(stderr).toMatch(stopped);
    expect(records).toBeUndefined();
  });

  it('refuses a double that is not a decimal number, and takes the spelled infinities', async () => {
    const csv = 'id,d,f\n1,abc,\n2,1e400,\n3,Infinity,-Infinity\n4,-2.5e-3,1.5\n5,NaN,\n';
    const { code, stderr, records } = await produce('in.csv', csv, skip);
    expect(code).toBe(0);
    expect(stderr).toContain(
      'in.csv:2: R (id=1): field "d" expected a decimal number, Infinity, -Infinity or NaN, got "abc".',
    );
    expect(stderr).toContain('in.csv:3: R (id=2): field "d" expected a finite double, got 1e400');
    expect(records).toEqual([
      { id: 3, d: Number.POSITIVE_INFINITY, f: Number.NEGATIVE_INFINITY },
      { id: 4, d: -2.5e-3, f: 1.5 },
      { id: 5, d: Number.NaN },
    ]);
  });

  it('reports a row with more (or fewer) cells than the header', async () => {
    const { code, stderr, records } = await produce('in.csv', 'id,n\n1,2,3\n2\n3,4\n', skip);
    expect(code).toBe(0);
    expect(stderr).toContain('in.csv:2: the row has 3 cells, the header 2\n');
    expect(stderr).toContain('in.csv:3: the row has 1 cells, the header 2\n');
    expect(stderr).not.toContain('undefined');
    expect(records).toEqual([{ id: 3, n: 4 }]);
  });
});

describe.concurrent('shoal produce, JSON and NDJSON input', () => {
  it('skips a UTF-8 byte-order mark at the start of a file', async () => {
    const { code, stderr, records } = await produce('in.ndjson', `\ufeff${ndjson('{"id":1}', '{"id":2}')}`);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(records).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('reads a bigint long past 2^53 exactly, as a number or a string', async () => {
    const json =
      '[{"id":1,"b":1152921504606846977},{"id":2,"b":-9223372036854775808},{"id":3,"b":"9223372036854775807"}]';
    const { code, records } = await produce('in.json', json);
    expect(code).toBe(0);
    expect(records).toEqual([
      { id: 1, b: 1152921504606846977n },
      { id: 2, b: -9223372036854775808n },
      { id: 3, b: 9223372036854775807n },
    ]);
  });

  it('refuses a long with a fraction instead of rounding it', async () => {
    const lines = ndjson(
      '{"id":1,"l":9007199254740990.7}',
      '{"id":2,"l":1e3}',
      '{"id":3,"b":12345678901234567.5}',
    );
    const { code, stderr, records } = await produce('in.ndjson', lines, skip);
    expect(code).toBe(0);
    expect(stderr).toContain(
      'in.ndjson:1: R (id=1): field "l" expected a safe integer (|n| < 2^53; declare the field "bigint": true for more), got 9007199254740990.7.',
    );
    expect(stderr).toContain(
      'in.ndjson:3: R (id=3): field "b" expected a 64-bit integer, got 12345678901234567.5.',
    );
    // 1e3 is exactly an integer.
    expect(records).toEqual([{ id: 2, l: 1000 }]);
  });

  it('refuses a number that would become Infinity or 0, and a float past 32 bits', async () => {
    const lines = ndjson(
      '{"id":1,"f":1e40}',
      '{"id":2,"d":1e400}',
      '{"id":3,"d":-1e-400}',
      '{"id":4,"d":"Infinity","f":3.4e38}',
      '{"id":5,"d":1e308,"f":-1e-30}',
    );
    const { code, stderr, records } = await produce('in.ndjson', lines, skip);
    expect(code).toBe(0);
    expect(stderr).toContain(
      'in.ndjson:1: R (id=1): field "f" expected a float (|x| ≤ 3.4028235e38), got 1e+40: use a double field.',
    );
    expect(stderr).toContain(
      'in.ndjson:2: R (id=2): field "d" expected a finite double, got 1e400, which is beyond its range (write Infinity or -Infinity for an infinity).',
    );
    expect(stderr).toContain(
      'in.ndjson:3: R (id=3): field "d" got -1e-400, which is too small for a double and would be stored as 0.',
    );
    expect(records).toEqual([
      { id: 4, d: Number.POSITIVE_INFINITY, f: Math.fround(3.4e38) },
      { id: 5, d: 1e308, f: Math.fround(-1e-30) },
    ]);
  });

  it('refuses deep nesting in its own record, wherever it is, not with a stack overflow of the run', async () => {
    const nest = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const deep = nest(100_000);
    const lines = ndjson(
      `{"id":1,"j":${deep}}`,
      `{"id":2,"j":${nest(64)},"b":9007199254740993}`,
      `{"id":3,"j":${nest(65)},"b":9007199254740993}`,
      `{"id":${deep}}`,
      `{"type":${deep},"record":{"id":5}}`,
    );
    const stop = await produce('in.ndjson', lines);
    expect(stop.code).toBe(1);
    const tooDeep = 'field "j" expected a msgpack-encodable json value with at most 64 levels of nesting';
    expect(stop.stderr).toContain(`in.ndjson:1: R (id=1): ${tooDeep}`);
    expect(stop.stderr).toContain(`in.ndjson:3: R (id=3): ${tooDeep}`);
    expect(stop.stderr).toContain(
      'in.ndjson:4: R: field "id" expected int (it is a key field), got an array.',
    );
    expect(stop.stderr).toContain(
      'in.ndjson:5: the "type" of a {"type": ..., "record": ...} envelope must be a string\n',
    );
    expect(stop.stderr).not.toMatch(/call stack|\n\s+at /);
    expect(stop.stderr).toMatch(stopped);
    const skipped = await produce('in.ndjson', lines, skip);
    expect(skipped.code).toBe(0);
    expect(skipped.records).toEqual([{ id: 2, j: JSON.parse(nest(64)), b: 9007199254740993n }]);
  });

  it('keeps an integer in a json value exactly: a bigint when a double cannot hold it', async () => {
    const lines = ndjson(
      '{"id":1,"j":{"big":12345678901234567891,"ok":9007199254740992,"x":0.1}}',
      '{"id":2,"j":[123456789012345678901234567890]}',
    );
    const { stderr, records } = await produce('in.ndjson', lines, skip);
    expect(stderr).toContain(
      'in.ndjson:2: R (id=2): field "j" holds 123456789012345678901234567890, which is past 64 bits: write it as a string.',
    );
    expect(records).toEqual([{ id: 1, j: { big: 12345678901234567891n, ok: 9007199254740992, x: 0.1 } }]);
  });
});

describe.concurrent('shoal produce, msgpack input', () => {
  it('reports bytes that do not decode at their offset, without a stack trace', async () => {
    const good = new Packr({ useRecords: false }).pack({ id: 1, s: 'one' });
    const garbage = Buffer.concat([good, Buffer.from([0xdc, 0xff, 0xff, 0x01])]);
    const stop = await produce('in.msgpack', garbage);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain(
      `in.msgpack:2: not valid msgpack at byte offset ${good.length} (Unexpected end of MessagePack data); the rest of the file is not read\n`,
    );
    expect(stop.stderr).toMatch(stopped);
    expect(stop.stderr).not.toMatch(/\n\s+at /);
    expect(stop.records).toBeUndefined();
    const skipped = await produce('in.msgpack', garbage, skip);
    expect(skipped.code).toBe(0);
    expect(skipped.records).toEqual([{ id: 1, s: 'one' }]);
  });

  it('keeps a "__proto__" key in a json value as itself, so the validator refuses it', async () => {
    const packr = new Packr({ useRecords: false });
    const input = Buffer.concat([
      packr.pack({ id: 1, j: JSON.parse('{"__proto__":{"x":1}}') }),
      packr.pack({ id: 2, j: { __proto_: 1 } }),
    ]);
    const { stderr, records } = await produce('in.msgpack', input, skip);
    expect(stderr).toMatch(/in\.msgpack:1: R \(id=1\): field "j" expected .*"__proto__"/);
    expect(records).toEqual([{ id: 2, j: { __proto_: 1 } }]);
  });
});

describe.concurrent('shoal produce, the schema file', () => {
  it('refuses a field named "__proto__" instead of dropping it', async () => {
    const schema = {
      format: 'shoal.schema/1',
      types: [
        {
          name: 'R',
          fields: [
            { name: 'id', kind: 'int' },
            { name: '__proto__', kind: 'string' },
          ],
        },
      ],
    };
    const { code, stderr, records } = await produce('in.ndjson', ndjson('{"id":1}'), { schema });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^shoal: INVALID_SCHEMA: \S+schema\.json: R: "__proto__" cannot be a field name: record views use it\. Rename the field\.\n$/,
    );
    expect(records).toBeUndefined();
  });
});

describe.concurrent('shoal produce, rules the issue left open', () => {
  it('reports a line that is not UTF-8 instead of replacing its bytes', async () => {
    const input = Buffer.concat([
      Buffer.from('{"id":1,"s":"caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}\n{"id":2,"s":"café"}\n'),
    ]);
    const { stderr, records } = await produce('in.ndjson', input, skip);
    expect(stderr).toContain('in.ndjson:1: not valid UTF-8\n');
    expect(records).toEqual([{ id: 2, s: 'café' }]);
  });

  it('reads a list or json cell of a CSV file with the JSON rules', async () => {
    const csv =
      'id,j,b\n1,"{""n"":1152921504606846977}",\n2,"[1,1e400]",\n3,"[1,{""a"":true}]",1152921504606846977\n';
    const { stderr, records } = await produce('in.csv', csv, skip);
    expect(stderr).toContain('in.csv:3: R (id=2): field "j" expected a finite double, got 1e400');
    expect(records).toEqual([
      { id: 1, j: { n: 1152921504606846977n } },
      { id: 3, j: [1, { a: true }], b: 1152921504606846977n },
    ]);
  });

  it('refuses a quote inside an unquoted cell and text after a closing quote', async () => {
    const csv = 'id,s\n1,5\'10"\n2,"a"b\n3,"x,""y"""\n';
    const { stderr, records } = await produce('in.csv', csv, skip);
    expect(stderr).toContain('in.csv:2: not valid CSV: cell 2 has a quote but does not start with one');
    expect(stderr).toContain('in.csv:3: not valid CSV: cell 2 has text after its closing quote\n');
    expect(records).toEqual([{ id: 3, s: 'x,"y"' }]);
  });
});
