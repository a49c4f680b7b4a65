/**
 * A real re-pointing race against a filesystem store: a child process swaps a symlink inside
 * the store's root (`<root>/ns`) between a directory inside the root and one outside it, as
 * fast as it can, while this process reads, heads, writes, conditionally writes and deletes
 * through the link. Every outcome is counted; nothing is mocked.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../../src/blob/blob-store.ts';

/** What the race saw. */
export interface RaceTally {
  readonly iterations: number;
  /** Times the link was swapped while the race ran. */
  readonly flips: number;
  /** Reads (get) that returned the inside bytes, the outside bytes, or failed (by code). */
  readonly reads: { inside: number; outside: number; refused: Record<string, number> };
  /** Heads that reported the inside file, the outside one, or failed (by code). */
  readonly heads: { inside: number; outside: number; refused: Record<string, number> };
  /** Writes (plain and conditional) that landed inside, landed outside, or failed (by code). */
  readonly writes: { inside: number; outside: number; refused: Record<string, number> };
  /** Writes that resolved but whose file is nowhere to be found. */
  readonly lostWrites: number;
  /** Deletes that removed the file outside the root. */
  readonly outsideDeletes: number;
  /** Names found in the outside directory after the race, beyond the two it started with. */
  readonly strayOutside: readonly string[];
}

const INSIDE = 'INSIDE';
const OUTSIDE = 'OUTSIDE!'; // a different length, so a head tells them apart too

// Swaps the link with rename(2), so it always exists and always points somewhere.
const FLIPPER = `
const { symlinkSync, renameSync, rmSync } = require('node:fs');
const [link, inside, outside] = process.argv.slice(1);
const tmp = link + '.flip';
let n = 0;
process.on('SIGTERM', () => { process.stdout.write(n + '\\n'); process.exit(0); });
const step = () => {
  for (let i = 0; i < 200; i++) {
    rmSync(tmp, { force: true });
    symlinkSync(n++ % 2 ? outside : inside, tmp);
    renameSync(tmp, link);
  }
  if (n === 200) process.stdout.write('ready\\n');
  setImmediate(step); // lets SIGTERM in
};
step();
`;

const bump = (m: Record<string, number>, code: string) => {
  m[code] = (m[code] ?? 0) + 1;
};
const codeOf = (e: unknown) => (e as { code?: string }).code ?? 'unknown';

/**
 * Runs rounds of get, head, put, conditional put and delete through `<root>/ns` while a child
 * process re-points it: `iterations` rounds, and more (up to `maxIterations`) until every kind
 * of call has met the link on both sides, so a starved child cannot make the race vacuous.
 * `root` is the store's directory, `outside` a directory beside it; both are created here.
 */
export async function runSymlinkRace(
  store: BlobStore,
  root: string,
  outside: string,
  iterations: number,
  maxIterations = iterations * 5,
): Promise<RaceTally> {
  const inside = join(root, 'real');
  await mkdir(inside, { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(inside, 'blob'), INSIDE);
  await writeFile(join(outside, 'blob'), OUTSIDE);
  await writeFile(join(outside, 'victim'), 'VICTIM');
  await symlink('real', join(root, 'ns')); // there from the start, so no call makes it a directory
  const child: ChildProcess = spawn(process.execPath, ['-e', FLIPPER, join(root, 'ns'), 'real', outside], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 5));

  const reads = { inside: 0, outside: 0, refused: {} as Record<string, number> };
  const heads = { inside: 0, outside: 0, refused: {} as Record<string, number> };
  const writes = { inside: 0, outside: 0, refused: {} as Record<string, number> };
  let outsideDeletes = 0;
  let lostWrites = 0;
  const met = () =>
    [reads, heads, writes].every((c) => c.inside > 0 && (c.outside > 0 || Object.keys(c.refused).length > 0));
  let i = 0;
  try {
    for (; i < iterations || (i < maxIterations && !met()); i++) {
      try {
        const text = Buffer.from(await store.get('ns/blob')).toString();
        if (text === OUTSIDE) reads.outside++;
        else if (text === INSIDE) reads.inside++;
        else bump(reads.refused, `bytes:${text}`);
      } catch (e) {
        bump(reads.refused, codeOf(e));
      }
      try {
        const { size } = await store.head('ns/blob');
        if (size === OUTSIDE.length) heads.outside++;
        else heads.inside++;
      } catch (e) {
        bump(heads.refused, codeOf(e));
      }
      for (const [name, options] of [
        [`w${i}`, {}],
        [`c${i}`, { ifNoneMatch: true as const }],
      ] as const) {
        try {
          await store.put(`ns/${name}`, new Uint8Array([87]), options);
          if (existsSync(join(outside, name))) writes.outside++;
          else if (existsSync(join(inside, name))) writes.inside++;
          else lostWrites++;
        } catch (e) {
          if (existsSync(join(outside, name))) writes.outside++;
          else bump(writes.refused, codeOf(e));
        }
      }
      await store.delete('ns/victim').catch(() => {});
      if (!existsSync(join(outside, 'victim'))) {
        outsideDeletes++;
        await writeFile(join(outside, 'victim'), 'VICTIM');
      }
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  const strayOutside = (await readdir(outside)).filter(
    (n) => n !== 'blob' && n !== 'victim' && !/^[wc]\d+$/.test(n),
  );
  if ((await readFile(join(outside, 'blob'), 'utf8')) !== OUTSIDE) strayOutside.push('blob (overwritten)');
  return {
    iterations: i,
    flips: Number(out.split('\n')[1] ?? 0),
    reads,
    heads,
    writes,
    lostWrites,
    outsideDeletes,
    strayOutside,
  };
}
