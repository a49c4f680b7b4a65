/**
 * A real nats-server for tests (Debian's `nats-server` package): JetStream on, loopback, a
 * free port, a temp store directory. `kill` ends it (SIGKILL: an outage, not a shutdown);
 * `start` brings it back on the same port and directory, so the bucket and its last values are
 * there again. Tests skip where the binary is missing, except under CI, which must have it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The nats-server binary, or undefined where none is installed. */
export const NATS_SERVER: string | undefined = [
  ...(process.env.PATH ?? '').split(delimiter),
  '/usr/sbin',
  '/usr/bin',
]
  .map((d) => join(d, 'nats-server'))
  .find((p) => existsSync(p));

/** Why NATS tests are skipped here, or undefined when they run. Under CI a missing binary fails. */
export function natsSkipReason(): string | undefined {
  if (NATS_SERVER) return undefined;
  if (process.env.CI) throw new Error('nats-server is missing: CI installs it (apt-get install nats-server)');
  return 'nats-server is not installed (apt-get install nats-server): the NATS tests are skipped';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface NatsServer {
  readonly url: string;
  /** Starts it (again); resolves once it accepts connections. */
  start(): Promise<void>;
  /** Kills it at once (SIGKILL); resolves once it is gone. */
  kill(): Promise<void>;
  /** Kills it and removes its directory. */
  close(): Promise<void>;
}

export async function startNats(): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-nats-'));
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const start = async () => {
    const child = spawn(NATS_SERVER!, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc = child;
    await new Promise<void>((resolve, reject) => {
      let said = '';
      const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${said}`)), 15_000);
      child.stderr!.on('data', (d: Buffer) => {
        said += d.toString();
        if (said.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}):\n${said}`));
      });
    });
  };
  const kill = async () => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    start,
    kill,
    close: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
