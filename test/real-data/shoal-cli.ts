/**
 * The `shoal` command run from the sources as a child process, as a user runs it
 * (`npm run shoal -- ...`): `produce` publishes one input directory as the next version of a
 * namespace in a filesystem store, `diff` compares two versions. Each call is its own process.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
// The children run in temp directories, so tsx is named by path rather than resolved from cwd.
const tsx = pathToFileURL(join(import.meta.dirname, '../../node_modules/tsx/dist/loader.mjs')).href;
const main = join(import.meta.dirname, '../../src/cli/main.ts');

/** What one `shoal produce` printed and how long it took. */
export interface Published {
  readonly version: number;
  readonly snapshot: boolean;
  readonly counts: Readonly<Record<string, number>>;
  /** The cycle's own time, as the command reports it. */
  readonly cycleMs: number;
  /** The whole process, start to exit. */
  readonly processMs: number;
}

/** A failed child, with what it printed, so a test failure shows the command's own words. */
class ShoalCommandError extends Error {}

async function shoal(cwd: string, args: string[]): Promise<{ stdout: string; ms: number }> {
  const started = performance.now();
  try {
    const { stdout } = await run(
      process.execPath,
      ['--conditions=shoal-source', '--import', tsx, main, ...args],
      { cwd, maxBuffer: 1 << 30 },
    );
    return { stdout, ms: performance.now() - started };
  } catch (e) {
    const { code, signal, stderr } = e as { code?: number; signal?: string; stderr?: string };
    throw new ShoalCommandError(
      `shoal ${args[0]} exited with ${signal ?? `code ${code}`}:\n${String(stderr ?? '').slice(-4000)}`,
      { cause: e },
    );
  }
}

/** Where a namespace is published: the store, the write-ahead log, a directory for the children. */
export interface Target {
  readonly storeDir: string;
  readonly walDir: string;
  readonly cwd: string;
  readonly namespace: string;
}

/**
 * `shoal produce` of `inputDir` (a schema file and NDJSON files). Every version gets a
 * snapshot as well as the delta from the one before, so both can be read and measured. Each
 * release re-states the whole dataset (`--replace-all`): a type it lacks is emptied.
 */
export async function produce(target: Target, schemaFile: string, inputDir: string): Promise<Published> {
  const { stdout, ms } = await shoal(target.cwd, [
    'produce',
    '--schema',
    schemaFile,
    '--input',
    inputDir,
    '--store',
    target.storeDir,
    '--namespace',
    target.namespace,
    '--wal-dir',
    target.walDir,
    '--replace-all',
    '--snapshot-every',
    '1',
    '--keep-snapshots',
    '100',
  ]);
  const events = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const published = events.filter((e) => e.event === 'published');
  if (published.length !== 1) {
    throw new ShoalCommandError(`shoal produce printed ${JSON.stringify(events)}, not one published version`);
  }
  const e = published[0]!;
  return {
    version: e.version as number,
    snapshot: e.snapshot as boolean,
    counts: e.counts as Record<string, number>,
    cycleMs: e.ms as number,
    processMs: ms,
  };
}

/** A type's keys as `shoal diff` prints them. */
export interface PrintedTypeDiff {
  readonly added: unknown[];
  readonly removed: unknown[];
  readonly modified: unknown[];
}

/** `shoal diff <from> <to>`: per type (its `types`), the keys added, removed and modified. */
export async function diff(
  target: Target,
  from: number,
  to: number,
): Promise<{ diff: Record<string, PrintedTypeDiff>; processMs: number }> {
  const { stdout, ms } = await shoal(target.cwd, [
    'diff',
    '--store',
    target.storeDir,
    '--namespace',
    target.namespace,
    String(from),
    String(to),
  ]);
  const printed = JSON.parse(stdout) as { types: Record<string, PrintedTypeDiff> };
  return { diff: printed.types, processMs: ms };
}
