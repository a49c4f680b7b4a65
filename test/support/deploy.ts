/**
 * For the deployment examples' test: YAML documents read by a real parser, and a container's
 * command run as a `shoal` child process on this machine, its paths moved to temp directories
 * and its ports to free ones.
 *
 * The parser is PyYAML (`yaml.safe_load_all`), which every machine of this project has beside
 * python3; node_modules has no YAML parser. Kubernetes reads manifests with a YAML 1.1 parser
 * too, so `on`, `yes` and friends come out as the cluster would read them.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { until } from './wait.ts';

const LOAD_ALL = 'import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)';

/** The first python3 that has PyYAML (the PATH's, else Debian's, which has python3-yaml). */
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import yaml']).status === 0);

/** Every document of a YAML text, parsed (`null` for an empty one). */
export function parseYamlDocuments(text: string): unknown[] {
  if (!python) throw new Error('no python3 with PyYAML (Debian: apt-get install python3-yaml)');
  const r = spawnSync(python, ['-c', LOAD_ALL], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`not valid YAML: ${r.stderr.trim().split('\n').at(-1)}`);
  return JSON.parse(r.stdout) as unknown[];
}

/** The flags that name each command's serving port, and (at the same index) its bind address. */
export const PORT_FLAGS = ['--health-port', '--port'];
export const HOST_FLAGS = ['--health-host', '--host'];

/** GET `url`: its status and body. */
export async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

const tsx = pathToFileURL(join(import.meta.dirname, '../../node_modules/tsx/dist/loader.mjs')).href;
const main = join(import.meta.dirname, '../../src/cli/main.ts');

/** A `shoal` child process and what it has printed so far. */
export interface ShoalChild {
  readonly process: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Waits until `pattern` matches the output on `stream`; returns the match. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, as the kubelet and Compose send; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Runs `shoal <args>` from the sources. */
export function runShoal(args: readonly string[], env: Record<string, string> = {}): ShoalChild {
  const child = spawn(process.execPath, ['--import', tsx, main, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    process: child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(stream, pattern, timeoutMs = 30_000) {
      const text = () => (stream === 'stdout' ? out : err);
      await until(() => pattern.test(text()) || done, timeoutMs, `${pattern} on ${stream}`);
      const m = text().match(pattern);
      if (!m) throw new Error(`shoal exited before printing ${pattern}; stderr:\n${err}`);
      return m;
    },
    async stop() {
      if (!done) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Kubernetes' `$(VAR)` expansion of a container's args: a name not in `env` stays as written. */
export function expandVars(arg: string, env: Readonly<Record<string, string>>): string {
  return arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
}

/**
 * `args` for a run on this machine: each path under a key of `moves` moved under its value,
 * the value of each flag in `ports` made 0 (a free port) and of each flag in `hosts` 127.0.0.1.
 */
export function localArgs(
  args: readonly string[],
  moves: Readonly<Record<string, string>>,
  ports: readonly string[],
  hosts: readonly string[],
): string[] {
  return args.map((arg, i) => {
    const flag = args[i - 1] ?? '';
    if (ports.includes(flag)) return '0';
    if (hosts.includes(flag)) return '127.0.0.1';
    for (const [from, to] of Object.entries(moves)) {
      if (arg === from || arg.startsWith(`${from}/`)) return to + arg.slice(from.length);
    }
    return arg;
  });
}

/** The value after `flag` in `args`. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/**
 * A ConfigMap volume as the kubelet lays it out (its atomic writer): the files in a timestamped
 * directory, `..data` linking to it, and each key a link through `..data`. `update` swaps in new
 * contents the same way: a new directory, then one rename of the `..data` link.
 */
export async function configMapVolume(
  dir: string,
  data: Readonly<Record<string, string>>,
): Promise<{ update(data: Readonly<Record<string, string>>): Promise<void> }> {
  let generation = 0;
  let current: string | undefined;
  const write = async (files: Readonly<Record<string, string>>) => {
    const next = `..2026_12_01_00_00_00.${String(++generation).padStart(9, '0')}`;
    await mkdir(join(dir, next));
    for (const [key, text] of Object.entries(files)) await writeFile(join(dir, next, key), text);
    await symlink(next, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    for (const key of Object.keys(files)) {
      await symlink(join('..data', key), join(dir, key)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    }
    if (current) await rm(join(dir, current), { recursive: true });
    current = next;
  };
  await write(data);
  return { update: write };
}
