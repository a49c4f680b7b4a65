/**
 * The built package as a user installs it: shoal compiled to `dist/`, placed in a project's
 * node_modules, and a tiny consumer compiled against it with each TypeScript setting the README
 * says works, then run. Library checking is on, so a declaration file that is broken after the
 * build (a type stripped as internal but still referenced) fails here.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

const CONSUMER = `import { decodeSnapshot, encodeSnapshot, StateBuilder, t } from 'shoal';
import { NatsAnnouncementPush, type NatsAnnouncerOptions } from 'shoal/nats';
import { serveHealth } from 'shoal/observability';
import { S3BlobStore, type S3BlobStoreOptions } from 'shoal/s3';

const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
const state = new StateBuilder(t.schema([Movie])).add('Movie', { id: 1, title: 'One' }).build({ version: 7 });
const title: string | undefined = state.type('Movie').get(1)?.title;
const counts = decodeSnapshot(encodeSnapshot(state)).counts();
const options: Pick<S3BlobStoreOptions, 'bucket'> = { bucket: 'movies' };
const nats: Pick<NatsAnnouncerOptions, 'namespace'> = { namespace: 'movies' };
console.log(title, JSON.stringify(counts), typeof S3BlobStore, typeof serveHealth, options.bucket, typeof NatsAnnouncementPush, nats.namespace);
`;

/** The TypeScript settings the README says work, each a project of its own. */
const PROJECTS = [
  { name: 'esm-nodenext', type: 'module', options: { module: 'nodenext' } },
  { name: 'esm-node16', type: 'module', options: { module: 'node16' } },
  { name: 'esm-bundler', type: 'module', options: { module: 'preserve', moduleResolution: 'bundler' } },
  // TypeScript emits require('shoal'): Node loads the ES module synchronously (require(esm)).
  { name: 'commonjs-nodenext', type: 'commonjs', options: { module: 'nodenext' } },
];

describe('the built package', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-package-'));
    const pkg = join(dir, 'node_modules/shoal');
    await mkdir(pkg, { recursive: true });
    await copyFile(join(root, 'package.json'), join(pkg, 'package.json'));
    await run(process.execPath, [
      tsc,
      '-p',
      join(root, 'tsconfig.build.json'),
      '--outDir',
      join(pkg, 'dist'),
    ]);
    // shoal's own dependencies, where an install would put them; @types/node for the consumer.
    await symlink(join(root, 'node_modules'), join(pkg, 'node_modules'), 'dir');
    await mkdir(join(dir, 'node_modules/@types'));
    await symlink(join(root, 'node_modules/@types/node'), join(dir, 'node_modules/@types/node'), 'dir');

    for (const { name, type, options } of PROJECTS) {
      const app = join(dir, name);
      await mkdir(app);
      await writeFile(join(app, 'package.json'), JSON.stringify({ type }));
      await writeFile(join(app, 'main.ts'), CONSUMER);
      const compilerOptions = {
        ...options,
        target: 'ES2022',
        strict: true,
        skipLibCheck: false,
        outDir: '.',
      };
      await writeFile(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['main.ts'] }));
    }
    // One tsc process for all of them: most of the work is reading the same declaration files.
    // tsc reports on stdout; a failure should show what it said.
    const projects = PROJECTS.map(({ name }) => join(dir, name));
    await run(process.execPath, [tsc, '--build', ...projects]).catch((e: { stdout: string }) => {
      throw new Error(`tsc --build failed:\n${e.stdout}`);
    });
  }, 240_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each(PROJECTS)('compiles and runs in $name with $options', async ({ name }) => {
    const app = join(dir, name);
    const { stdout, stderr } = await run(process.execPath, [join(app, 'main.js')], { cwd: app });
    expect(stdout).toBe('One {"Movie":1} function function movies function movies\n');
    expect(stderr).toBe('');
  });
});
