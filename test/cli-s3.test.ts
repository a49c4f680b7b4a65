import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../src/s3.ts';
import { produceExamples } from './support/cli.ts';
import { loadVersion, recordsOf } from './support/load.ts';
import { BUCKET, type S3Server, startS3 } from './support/s3-server.ts';

const run = promisify(execFile);
const main = join(import.meta.dirname, '../src/cli/main.ts');
const NODE_WARNING = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

describe('shoal produce on S3', () => {
  let s3: S3Server;
  let cwd: string;
  beforeAll(async () => {
    s3 = await startS3();
    cwd = await mkdtemp(join(tmpdir(), 'shoal-cli-s3-'));
  });
  afterAll(async () => {
    await s3.close();
    await rm(cwd, { recursive: true, force: true });
  });

  /** `shoal produce` of the example movies to s3://<bucket>/<prefix>, in the user's environment. */
  const produce = (prefix: string, env: Record<string, string> = {}) => {
    // The test run sets the variable for its own clients; the command must not need it.
    const { [NODE_WARNING]: _, ...userEnv } = process.env;
    return run(
      process.execPath,
      [
        '--import',
        'tsx',
        main,
        ...produceExamples('--store', `s3://${BUCKET}/${prefix}`, '--wal-dir', join(cwd, prefix)),
      ],
      {
        cwd: join(import.meta.dirname, '..'),
        env: {
          ...userEnv,
          AWS_ENDPOINT_URL_S3: s3.endpoint,
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          // s3rver does not take the checksum trailers the SDK sends by default.
          AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
          AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
          ...env,
        },
      },
    );
  };

  it('publishes to the bucket and prints nothing on stderr, on every supported Node', async () => {
    const { stdout, stderr } = await produce('quiet');
    expect(stderr).toBe('');
    const event = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(event).toMatchObject({ event: 'published', snapshot: true, counts: { Movie: 3 } });
    const store = new S3BlobStore({ client: s3.client(), bucket: BUCKET, prefix: 'quiet' });
    const state = await loadVersion(store, 'movies');
    expect(state.version).toBe(event.version);
    expect(recordsOf(state, 'Movie').map((m) => m.title)).toEqual(['The Ghost Ship', 'Shoals', 'Low Water']);
  });

  it("keeps the user's own setting of the AWS SDK's Node-version warning", async () => {
    const { stderr } = await produce('loud', { [NODE_WARNING]: 'false' });
    // The SDK warns only below Node 22.
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 22) expect(stderr).toContain('NodeVersionSupportWarning');
    else expect(stderr).toBe('');
  });
});
