/**
 * The Compose deployment example (deploy/compose) and the Dockerfile both deployment examples
 * run: parsed by a real YAML parser, its services, volumes and ports cross-checked, its commands
 * run here as `shoal` child processes and its healthcheck commands run with Node against them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flagValue, get, HOST_FLAGS, localArgs, PORT_FLAGS, runShoal } from './support/deploy.ts';
import { composeDir, composeFile, parseVolume, repo, version } from './support/manifests.ts';

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'shoal-deploy-compose-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('deploy/compose', () => {
  const compose = composeFile();
  const { producer, consumer } = compose.services;

  it('parses, and its services, volumes, ports and healthchecks agree', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['consumer', 'producer']);
    expect(existsSync(join(resolve(composeDir, producer!.build!.context), 'Dockerfile'))).toBe(true);
    for (const s of [producer!, consumer!]) expect(s.image).toBe(`shoal:${version}`);
    expect(consumer!.depends_on).toEqual({ producer: { condition: 'service_healthy' } });

    const named = new Set<string>();
    for (const s of [producer!, consumer!]) {
      for (const v of s.volumes.map(parseVolume)) {
        if (v.source.startsWith('.')) expect(existsSync(resolve(composeDir, v.source)), v.source).toBe(true);
        else named.add(v.source);
      }
    }
    expect([...named].sort()).toEqual(Object.keys(compose.volumes).sort());

    // Both sides on one store: the same named volume at the path of their --store.
    const storeVolume = (s: typeof producer) =>
      s!.volumes.map(parseVolume).find((v) => v.target === flagValue(s!.command, '--store'));
    expect(storeVolume(producer)).toEqual({
      source: 'store',
      target: '/var/lib/shoal/data',
      readOnly: false,
    });
    expect(storeVolume(consumer)).toEqual({ source: 'store', target: '/var/lib/shoal/data', readOnly: true });
    expect(producer!.volumes.map(parseVolume).map((v) => v.target)).toContain(
      flagValue(producer!.command, '--wal-dir'),
    );
    for (const v of producer!.volumes.map(parseVolume).filter((x) => x.source.startsWith('.'))) {
      for (const flag of ['--schema', '--input']) {
        const file = flagValue(producer!.command, flag)!;
        if (file.startsWith(`${v.target}/`))
          expect(existsSync(join(resolve(composeDir, v.source), file.slice(v.target.length)))).toBe(true);
      }
    }

    for (const s of [producer!, consumer!]) {
      const portFlag = PORT_FLAGS.find((f) => s.command.includes(f))!;
      const port = flagValue(s.command, portFlag)!;
      expect(flagValue(s.command, HOST_FLAGS[PORT_FLAGS.indexOf(portFlag)]!)).toBe('0.0.0.0');
      expect(s.ports).toEqual([`127.0.0.1:${port}:${port}`]);
      expect(s.healthcheck.test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      expect(s.healthcheck.test[3]).toContain(`'http://127.0.0.1:${port}/readyz'`);
    }
  });

  it('runs its commands, and each healthcheck passes only once its service can be used', async () => {
    const volumes: Record<string, string> = {};
    for (const name of Object.keys(compose.volumes)) volumes[name] = await tempDir();
    const movesOf = (s: typeof producer) =>
      Object.fromEntries(
        s!.volumes
          .map(parseVolume)
          .map((v) => [v.target, volumes[v.source] ?? resolve(composeDir, v.source)]),
      );
    /** The service's healthcheck, run with this Node against `port`; resolves with its exit code. */
    const healthcheck = (s: typeof producer, port: string) => {
      const portFlag = PORT_FLAGS.find((f) => s!.command.includes(f))!;
      const script = s!.healthcheck.test[3]!.replaceAll(
        `127.0.0.1:${flagValue(s!.command, portFlag)}/`,
        `127.0.0.1:${port}/`,
      );
      return spawnSync(process.execPath, ['-e', script], { timeout: 10_000 }).status;
    };
    const portOf = (url: string) => new URL(url).port;
    const run = (s: typeof producer, moves = movesOf(s)) =>
      runShoal(localArgs(s!.command, moves, PORT_FLAGS, HOST_FLAGS));

    // A producer that is up but has announced nothing (its input is invalid) is not healthy.
    const bad = await tempDir();
    await mkdir(join(bad, 'examples'));
    await writeFile(
      join(bad, 'examples/movies.schema.json'),
      readFileSync(join(repo, 'examples/movies.schema.json')),
    );
    await writeFile(join(bad, 'examples/movies.ndjson'), '{"id": "one"}\n');
    const stalled = run(producer, { ...movesOf(producer), '/etc/shoal/examples': join(bad, 'examples') });
    const [, stalledUrl] = await stalled.waitFor('stderr', /health on (\S+)\n/);
    await stalled.waitFor('stderr', /watching/);
    expect((await get(`${stalledUrl}/readyz`)).status).toBe(200);
    expect(healthcheck(producer, portOf(stalledUrl!))).toBe(1);
    await stalled.stop();

    const p = run(producer);
    const [, producerUrl] = await p.waitFor('stderr', /health on (\S+)\n/);
    await p.waitFor('stdout', /"event":"published"/);
    expect(healthcheck(producer, portOf(producerUrl!))).toBe(0);

    const c = run(consumer);
    const [line] = await c.waitFor('stdout', /\{"event":"serving".*\}\n/);
    const { url } = JSON.parse(line!) as { url: string };
    expect(healthcheck(consumer, portOf(url))).toBe(0);
    expect((await get(`${url}/records/Movie/1`)).status).toBe(200);
    expect(await c.stop()).toBe(0);
    // Nothing listening: the healthcheck fails rather than hangs.
    expect(healthcheck(consumer, portOf(url))).toBe(1);
    expect(await p.stop()).toBe(0);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(repo, 'Dockerfile'), 'utf8');
  const final = text.slice(text.lastIndexOf('\nFROM '));

  it('runs the built CLI as the node user, with the daemons’ write paths made its own', () => {
    expect(final).toMatch(/^\nFROM node:\S+-slim\n/);
    expect(final).toMatch(/\nUSER node\n/);
    expect(final).toContain('\nENTRYPOINT ["node", "/app/dist/cli/main.js"]\n');
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { bin: { shoal: string } };
    expect(pkg.bin.shoal).toBe('dist/cli/main.js');
    const build = JSON.parse(readFileSync(join(repo, 'tsconfig.build.json'), 'utf8'));
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(existsSync(join(repo, 'src/cli/main.ts'))).toBe(true);
    const owned = /RUN mkdir -p ((?:\S+ )+)&& chown -R node:node (\S+)\n/.exec(final);
    expect(owned).not.toBeNull();
    const made = owned![1]!.trim().split(' ');
    // Compose's named volumes copy the image's mount point, ownership included, when first used.
    for (const s of Object.values(composeFile().services)) {
      for (const v of s.volumes.map(parseVolume).filter((x) => !x.source.startsWith('.') && !x.readOnly)) {
        expect(made, v.target).toContain(v.target);
        expect(v.target.startsWith(`${owned![2]}/`)).toBe(true);
      }
    }
  });
});
