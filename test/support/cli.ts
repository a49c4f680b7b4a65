/**
 * Running the `shoal` command as a child process, the way a user does: `cli` runs it to the
 * end (rejecting, with `code` and `stderr`, on a non-zero exit), `spawnCli` starts it for tests
 * that talk to it while it runs (signals, stdin, --watch).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
// The children run in temp directories, so tsx is named by path rather than resolved from cwd.
export const tsx = pathToFileURL(join(import.meta.dirname, '../../node_modules/tsx/dist/loader.mjs')).href;
export const main = join(import.meta.dirname, '../../src/cli/main.ts');
export const examples = join(import.meta.dirname, '../../examples');

/** Runs `shoal <args>` in `cwd` to its end. */
export const cli = (cwd: string, ...args: string[]) =>
  run(process.execPath, ['--import', tsx, main, ...args], { cwd, maxBuffer: 64 * 1024 * 1024 });

/** How a `cli` run ended: its exit code and output, whether it succeeded or not. */
export async function outcome(
  cwd: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await cli(cwd, ...args);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const { code, stdout, stderr } = e as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

/** Starts `shoal <args>` in `cwd`; stdout and stderr are pipes. */
export const spawnCli = (
  cwd: string,
  args: readonly string[],
  stdin: 'ignore' | 'pipe' = 'ignore',
): ChildProcess =>
  spawn(process.execPath, ['--import', tsx, main, ...args], { cwd, stdio: [stdin, 'pipe', 'pipe'] });
