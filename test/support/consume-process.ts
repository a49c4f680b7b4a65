/**
 * `shoal consume` as a child process, as a user runs it: the JSON lines it prints on stdout,
 * what it writes on stderr, and how it exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// The children run in temp directories, so tsx is named by path rather than resolved from cwd.
const tsx = pathToFileURL(join(import.meta.dirname, '../../node_modules/tsx/dist/loader.mjs')).href;
const main = join(import.meta.dirname, '../../src/cli/main.ts');

/** A running `shoal consume`. */
export interface ConsumeProcess {
  readonly child: ChildProcess;
  /** Its stdout, one parsed JSON line each. */
  readonly events: Record<string, unknown>[];
  /** Its stderr so far. */
  stderr(): string;
  /** The first event named `name`; rejects when the process exits first, or after `timeoutMs`. */
  event(name: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Its exit code. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/** Starts `shoal consume <args>` in `cwd` (as `user` when given). */
export function spawnConsume(
  cwd: string,
  args: readonly string[],
  user: { readonly uid?: number; readonly gid?: number } = {},
): ConsumeProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=shoal-source', '--import', tsx, main, 'consume', ...args],
    {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...user,
    },
  );
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  let pending = '';
  child.stdout!.on('data', (c: Buffer) => {
    pending += c.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines.filter(Boolean)) events.push(JSON.parse(line));
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  let code: number | null | undefined;
  // A spawn that fails (say EACCES: the user given cannot run this node) never emits 'exit'.
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (c) => {
      code = c;
      resolve(c);
    });
    child.once('error', (e) => {
      spawnError = e;
      code = null;
      resolve(null);
    });
  });
  const event = async (name: string, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find((e) => e.event === name);
      if (found) return found;
      if (spawnError)
        throw new Error(
          `shoal consume could not start (${spawnError.message}): can ${user.uid ?? 'this user'} run ${process.execPath}?`,
        );
      if (code !== undefined)
        throw new Error(`shoal consume exited with ${code} before "${name}"; stderr: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for "${name}"; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return {
    child,
    events,
    stderr: () => stderr,
    event,
    exited,
    stop: () => {
      if (code === undefined) child.kill('SIGTERM');
      return exited;
    },
  };
}
