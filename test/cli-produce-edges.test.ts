/**
 * `shoal produce` on inputs at the edge, as child processes on a real filesystem store: an
 * empty CSV file, a directory whose files have upper-case extensions or are not input, and a
 * label on a run that changes nothing.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, StoreAnnouncer } from '../src/index.ts';
import { outcome } from './support/cli.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-cli-edges-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const CITY = {
  format: 'shoal.schema/1',
  types: [
    {
      name: 'City',
      primaryKey: 'id',
      fields: [
        { name: 'id', kind: 'int' },
        { name: 'name', kind: 'string' },
      ],
    },
  ],
};

async function setup() {
  const cwd = await tempDir();
  await writeFile(join(cwd, 'geo.schema.json'), JSON.stringify(CITY));
  const announced = () =>
    new StoreAnnouncer({
      store: new FsBlobStore({ dir: join(cwd, 'shoal-data') }),
      namespace: 'default',
    }).read();
  return {
    cwd,
    announced,
    produce: (...args: string[]) => outcome(cwd, 'produce', '--schema', 'geo.schema.json', ...args),
  };
}

describe('shoal produce at the edges of its input', () => {
  it('an empty CSV file holds no records: EMPTY_INPUT, and --allow-empty publishes it', async () => {
    const { cwd, produce, announced } = await setup();
    await writeFile(join(cwd, 'City.csv'), '');
    const refused = await produce('--input', 'City.csv');
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe(
      'shoal: EMPTY_INPUT: City.csv holds no records; nothing published. Pass --allow-empty to publish it anyway.\n',
    );
    expect(await announced()).toBeUndefined();
    const allowed = await produce('--input', 'City.csv', '--allow-empty');
    expect(allowed).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(allowed.stdout)).toMatchObject({ event: 'published', counts: { City: 0 } });
  });

  it('reads City.CSV in a directory, and names the files it does not read', async () => {
    const { cwd, produce } = await setup();
    await mkdir(join(cwd, 'data'));
    await writeFile(join(cwd, 'data', 'City.CSV'), 'id,name\n1,Lyon\n2,Nantes\n');
    await writeFile(join(cwd, 'data', 'notes.txt'), 'not input');
    await writeFile(join(cwd, 'data', '.hidden'), '');
    const r = await produce('--input', 'data');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      'shoal: --input data: not reading notes.txt (input files end in .ndjson, .jsonl, .json, .csv, .msgpack or .mp)\n',
    );
    expect(JSON.parse(r.stdout)).toMatchObject({ event: 'published', counts: { City: 2 } });
  });

  it('a label on a run that changes nothing is said not to be applied', async () => {
    const { cwd, produce } = await setup();
    await writeFile(join(cwd, 'cities.ndjson'), '{"id":1,"name":"Lyon"}\n');
    const first = await produce('--input', 'cities.ndjson', '--label', '3.1.5');
    expect(first.code).toBe(0);
    const again = await produce('--input', 'cities.ndjson', '--label', '3.1.6');
    expect(again.code).toBe(0);
    expect(again.stderr).toBe(
      'shoal: warning: --label 3.1.6 not applied: no version was made (no change: the input is what is announced)\n',
    );
    expect(JSON.parse(again.stdout)).toEqual({
      event: 'skipped',
      reason: 'no change',
      label: '3.1.6',
      labelled: false,
    });
    // Without a label, an unchanged run is as quiet as before.
    const plain = await produce('--input', 'cities.ndjson');
    expect(plain).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(plain.stdout)).toEqual({ event: 'skipped', reason: 'no change' });
  });
});

describe('all-digit labels', () => {
  it('produce warns that label 2024 must be named label:2024; inspect --version 2024 says so', async () => {
    const { cwd, produce } = await setup();
    await writeFile(join(cwd, 'cities.ndjson'), '{"id":1,"name":"Lyon"}\n');
    const r = await produce('--input', 'cities.ndjson', '--label', '2024');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      'shoal: warning: --label 2024 is all digits, which --version, --pin and diff read as a version number: name it as label:2024 there\n',
    );
    const wrong = await outcome(cwd, 'inspect', '--version', '2024');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(
      'shoal: BLOB_NOT_FOUND: version 2024 of namespace "default" is not in the store (never published, or removed by retention). A label "2024" exists: give it as label:2024. List the versions with `shoal inspect --store ./shoal-data --namespace default`.\n',
    );
    const right = await outcome(cwd, 'inspect', '--version', 'label:2024');
    expect(right.code).toBe(0);
    const unknown = await outcome(cwd, 'inspect', '--version', 'label:2025');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /^shoal: UNKNOWN_LABEL: no retained version of namespace "default" carries the label "2025" \(searched 1 version\(s\) back from the announced \d+\)\. Give a version number, or a label one of them carries \(`shoal inspect --namespace default` on this store lists them\)\.\n$/,
    );
  });
});

describe('the write-ahead log of one-shot runs', () => {
  it('leaves no empty segment behind, run after run', async () => {
    const { cwd, produce } = await setup();
    await writeFile(join(cwd, 'cities.ndjson'), '{"id":1,"name":"Lyon"}\n');
    for (let i = 0; i < 3; i++) {
      const r = await produce('--input', 'cities.ndjson', '--wal-dir', 'wal');
      expect(r.code).toBe(0);
    }
    expect(await readdir(join(cwd, 'wal'))).toEqual([]);
  });
});
