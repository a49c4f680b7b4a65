/**
 * Shared set-up for tests that run against every real store: temp directories removed after
 * the file's tests, an s3rver started for the file, and a maker per store (each call gives an
 * empty store: a new directory, or a new key prefix in the bucket).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { BlobStore } from '../../src/blob/blob-store.ts';
import { FsBlobStore } from '../../src/blob/fs-blob-store.ts';
import { S3BlobStore } from '../../src/blob/s3-blob-store.ts';
import { BUCKET, type Front, type S3Server, startFront, startS3 } from './s3-server.ts';

export interface StoreSetup {
  /** A new temp directory, removed after the file's tests. */
  tempDir(): Promise<string>;
  /** The file's s3rver (started before its tests). */
  s3(): S3Server;
  /** One maker per store kind, for `describe.each`. */
  readonly stores: readonly { readonly name: string; readonly make: () => Promise<BlobStore> }[];
}

/** Registers the file's set-up and tear-down; call at the top level of a test file. */
export function useStores(prefix: string): StoreSetup {
  const dirs: string[] = [];
  let server: S3Server | undefined;
  beforeAll(async () => {
    server = await startS3();
  });
  afterAll(async () => {
    await server?.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), `shoal-${prefix}-`));
    dirs.push(d);
    return d;
  };
  return {
    tempDir,
    s3: () => server!,
    stores: [
      { name: 'filesystem', make: async () => new FsBlobStore({ dir: await tempDir(), fsync: false }) },
      {
        name: 's3',
        make: async () =>
          new S3BlobStore({
            client: server!.client(),
            bucket: BUCKET,
            prefix: `${prefix}${Math.random().toString(36).slice(2)}`,
          }),
      },
    ],
  };
}

/** An s3rver and a fault-injecting front before it, for the file's tests. */
export function useS3Front(): { s3(): S3Server; front(): Front } {
  let server: S3Server | undefined;
  let front: Front | undefined;
  beforeAll(async () => {
    server = await startS3();
    front = await startFront(server.endpoint);
  });
  afterAll(async () => {
    await front?.close();
    await server?.close();
  });
  return { s3: () => server!, front: () => front! };
}
