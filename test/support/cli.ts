/**
 * The `shoal` command as a child process, run from the sources as a user runs it: its exit
 * code and both streams, whatever the exit code.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

// The children run in temp directories, so tsx is named by path rather than resolved from cwd.
export const TSX = pathToFileURL(join(import.meta.dirname, '../../node_modules/tsx/dist/loader.mjs')).href;
/** Lower-case alias of {@link TSX}. */
export const tsx = TSX;
export const main = join(import.meta.dirname, '../../src/cli/main.ts');
export const examples = join(import.meta.dirname, '../../examples');
/** `shoal produce` of the examples' movies into namespace `movies`, then `more` flags. */
export const produceExamples = (...more: string[]): string[] => [
  'produce',
  '--schema',
  join(examples, 'movies.schema.json'),
  '--input',
  join(examples, 'movies.ndjson'),
  '--namespace',
  'movies',
  ...more,
];

/** The node arguments that run `shoal` from the sources. */
export const SHOAL = ['--conditions=shoal-source', '--import', TSX, main] as const;

export interface CliOptions {
  readonly cwd?: string;
  /** The child's whole environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `shoal <args>` with piped streams. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): ChildProcess {
  return spawnNode([...SHOAL, ...args], options);
}

/** Runs `shoal <args>` to its end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return runNode([...SHOAL, ...args], options);
}

function spawnNode(args: readonly string[], options: CliOptions): ChildProcess {
  return spawn(process.execPath, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs `node <args>` (a script of the repository, say) to its end. */
export function runNode(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return finished(spawnNode(args, options), options.input);
}

/** Runs `command <args>` (not node: `npx`, say) to its end. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: 'pipe' });
  return finished(child, options.input);
}

function finished(child: ChildProcess, input: string | undefined): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin!.end(input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** This process's environment without any AWS setting, plus `extra`. */
export function envWithoutAws(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return { ...env, ...extra };
}

/** The environment a CLI child needs to reach an s3rver at `endpoint`. */
export function s3Env(endpoint: string): NodeJS.ProcessEnv {
  return envWithoutAws({
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: endpoint,
  });
}

const run = promisify(execFile);

/** Runs `shoal <args>` in `cwd` to its end, rejecting (with `code` and `stderr`) on a non-zero exit. */
export const cli = (cwd: string, ...args: string[]) =>
  run(process.execPath, [...SHOAL, ...args], { cwd, maxBuffer: 64 * 1024 * 1024 });

/** How a `shoal <args>` run in `cwd` ended: its exit code and output, whether it succeeded or not. */
export async function outcome(
  cwd: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runCli(args, { cwd });
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The output of a spawned command as it comes, and how it exits. */
export function watchChild(child: ChildProcess) {
  const seen = { stdout: '', stderr: '' };
  child.stdout!.on('data', (c: Buffer) => (seen.stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (seen.stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { seen, exited };
}
