/**
 * States past 4 GiB, crossed with tiny data: the thresholds that a 5 GiB state reaches (32-bit
 * page starts, a page's 32-bit heap offsets, the runtime's buffer limit, the filesystem's read
 * size) are injected small, so a few thousand bytes take every path a large state takes. The
 * 5 GiB run itself is a benchmark (`npm run bench -- --section big`), not a test.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsBlobStore } from '../src/blob/fs-blob-store.ts';
import { isShoalError } from '../src/errors.ts';
import { align8 } from '../src/format/blob-envelope.ts';
import { t } from '../src/schema/index.ts';
import { StateBuilder } from '../src/state/build/state-builder.ts';
import { applyDelta, encodeDelta } from '../src/state/encoding/delta.ts';
import { decodeSnapshot, encodeSnapshot } from '../src/state/encoding/snapshot.ts';
import type { AnyState } from '../src/state/read/state.ts';
import { useStores } from './support/stores.ts';

const setup = useStores('large');

const Blob = t.object(
  'Blob',
  { id: t.int(), data: t.bytes(), note: t.string().optional() },
  { primaryKey: 'id' },
);
const schema = t.schema([Blob]);

/** Record i: 40-80 bytes of data that name i, a note on every third. */
function record(i: number, salt = 0) {
  const data = new Uint8Array(40 + ((i * 7) % 41));
  for (let j = 0; j < data.length; j++) data[j] = (i * 31 + j * 17 + salt) & 0xff;
  return { id: i, data, ...(i % 3 === 0 ? { note: `note ${i}` } : {}) };
}

const N = 2500; // three pages of 1,024 ordinals
function build(version: number, salt = 0, prev?: AnyState) {
  const b = new StateBuilder(schema, prev ? { previous: prev as never } : {});
  for (let i = 0; i < N; i++) b.add('Blob', record(i, i % 10 === 0 ? salt : 0));
  return b.build({ version });
}

function expectRecords(state: AnyState, salt = 0): void {
  const type = state.type('Blob');
  expect(type.size).toBe(N);
  for (let i = 0; i < N; i++) {
    const want = record(i, i % 10 === 0 ? salt : 0);
    const got = type.get(i as never) as unknown as { data: Uint8Array; note?: string } | undefined;
    expect(got, `record ${i}`).toBeDefined();
    expect(Buffer.from(got!.data).equals(Buffer.from(want.data)), `data of record ${i}`).toBe(true);
    expect(got!.note).toBe(want.note);
  }
}

const formatVersion = (blob: Uint8Array) => new DataView(blob.buffer, blob.byteOffset).getUint16(4, true);

/** The error `fn` throws (or the promise rejects with). */
async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure');
}

describe('64-bit page starts', () => {
  const state = build(1);
  // The data heap is ~150 KB: past a 1,000-byte start it widens; the 3-page offsets stay narrow.
  const wide = encodeSnapshot(state, {}, { layout: { maxNarrowStart: 1000 } });
  const narrow = encodeSnapshot(state);

  it('are written only when a part reaches past the 32-bit limit (both blobs are version 2)', () => {
    expect(formatVersion(narrow)).toBe(2);
    expect(formatVersion(wide)).toBe(2);
    // Each 32-bit start became 64-bit: the data part's starts, and nothing else.
    expect(wide.byteLength).toBeGreaterThan(narrow.byteLength);
    expect(decodeSnapshot(narrow).checksum).toBe(decodeSnapshot(wide).checksum);
  });

  it('read back every record, like 32-bit ones', () => {
    expectRecords(decodeSnapshot(wide));
    expectRecords(decodeSnapshot(wide, { verify: true, shared: true }));
    expect(decodeSnapshot(wide).checksum).toBe(state.checksum);
  });

  it('carry a delta across the boundary, and a state decoded from them takes deltas', () => {
    const next = build(2, 99, state);
    const delta = encodeDelta(state, next, { layout: { maxNarrowStart: 100 } });
    expect(formatVersion(delta)).toBe(2);
    const applied = applyDelta(decodeSnapshot(wide), delta);
    expect(applied.checksum).toBe(next.checksum);
    expectRecords(applied, 99);
  });

  it('are refused in a blob whose format version predates them', async () => {
    const relabelled = wide.slice();
    relabelled[4] = 1; // the prefix's version is not under a CRC
    const e = await failure(() => decodeSnapshot(relabelled));
    expect(isShoalError(e, 'BLOB_CORRUPT'), String(e)).toBe(true);
    expect((e as Error).message).toContain('64-bit page starts');
    const future = wide.slice();
    future[4] = 3;
    expect(() => decodeSnapshot(future)).toThrow(
      expect.objectContaining({
        code: 'BLOB_UNSUPPORTED_VERSION',
        message: expect.stringContaining('reads versions 1 to 2'),
      }),
    );
  });

  it('load through the filesystem store in many reads', async () => {
    const store = new FsBlobStore({ dir: await setup.tempDir(), fsync: false, readChunkBytes: 4096 });
    await store.put('ns/snapshot/1', wide);
    const got = await store.get('ns/snapshot/1');
    expect(got.byteLength).toBe(wide.byteLength);
    expect(got.byteOffset % 8).toBe(0);
    expectRecords(decodeSnapshot(got));
  });
});

describe('sizes past 2 and 4 GiB', () => {
  it('align sections without 32-bit arithmetic', () => {
    expect(align8(5 * 2 ** 30 + 1)).toBe(5 * 2 ** 30 + 8);
    expect(align8(2 ** 31 + 3)).toBe(2 ** 31 + 8);
    expect(align8(2 ** 32)).toBe(2 ** 32);
    expect(align8(0)).toBe(0);
  });
});

describe('limits, each a BLOB_TOO_LARGE that says what to do', () => {
  it('a page whose heap would pass its 32-bit offsets', async () => {
    const b = new StateBuilder(schema);
    for (let i = 0; i < 10; i++) b.add('Blob', record(i));
    const e = await failure(() => b.build({ version: 1, layout: { maxPageHeap: 300 } }));
    expect(isShoalError(e, 'BLOB_TOO_LARGE'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(/field data: one page of 1024 values holds \d+ bytes.*at most 300/);
  });

  it('a delta that grows a page past it', () => {
    const state = build(1);
    const b = new StateBuilder(schema, { previous: state as never });
    for (let i = 0; i < N; i++) b.add('Blob', i === 5 ? { id: 5, data: new Uint8Array(100_000) } : record(i));
    const next = b.build({ version: 2 });
    const delta = encodeDelta(state, next);
    expect(() => applyDelta(state, delta, { layout: { maxPageHeap: 90_000 } })).toThrow(
      expect.objectContaining({ code: 'BLOB_TOO_LARGE' }),
    );
    expect(applyDelta(state, delta).checksum).toBe(next.checksum);
  });

  it('a snapshot past the runtime buffer limit, refused before it is laid out', async () => {
    const e = await failure(() => encodeSnapshot(build(1), {}, { maxBytes: 10_000 }));
    expect(isShoalError(e, 'BLOB_TOO_LARGE'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(
      /the snapshot blob is \d+ bytes; Node [0-9.]+ cannot hold more than 10000 bytes in one buffer\. Run on Node 22 or later/,
    );
  });

  it('a blob on the filesystem past the limit, refused before it is read', async () => {
    const dir = await setup.tempDir();
    await new FsBlobStore({ dir }).put('ns/snapshot/1', new Uint8Array(5000));
    const store = new FsBlobStore({ dir, maxBlobBytes: 4096 });
    const e = await failure(() => store.get('ns/snapshot/1'));
    expect(isShoalError(e, 'BLOB_TOO_LARGE'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(
      /the blob at "ns\/snapshot\/1" is 5000 bytes; Node [0-9.]+ cannot hold more than 4096 bytes in one buffer\. Run on Node 22 or later/,
    );
    const read = await failure(() => store.getIfChanged('ns/snapshot/1', undefined));
    expect(isShoalError(read, 'BLOB_TOO_LARGE'), String(read)).toBe(true);
    expect((await new FsBlobStore({ dir }).get('ns/snapshot/1')).byteLength).toBe(5000);
  });

  it('a blob in S3 past the limit, refused before its body is read, and not retried', async () => {
    const client = setup.s3().client();
    const { S3BlobStore } = await import('../src/blob/s3-blob-store.ts');
    const { BUCKET } = await import('./support/s3-server.ts');
    const prefix = `large${Math.random().toString(36).slice(2)}`;
    await new S3BlobStore({ client, bucket: BUCKET, prefix }).put('ns/snapshot/1', new Uint8Array(5000));
    const retried: unknown[] = [];
    const store = new S3BlobStore({
      client,
      bucket: BUCKET,
      prefix,
      maxBlobBytes: 4096,
      onRetry: (r) => retried.push(r),
    });
    const e = await failure(() => store.get('ns/snapshot/1'));
    expect(isShoalError(e, 'BLOB_TOO_LARGE'), String(e)).toBe(true);
    expect((e as Error).message).toContain('is 5000 bytes');
    // The announcement's read (a GET with the etag) is bounded the same way.
    const read = await failure(() => store.getIfChanged('ns/snapshot/1', undefined));
    expect(isShoalError(read, 'BLOB_TOO_LARGE'), String(read)).toBe(true);
    expect(retried).toEqual([]);
    const whole = await new S3BlobStore({ client, bucket: BUCKET, prefix }).get('ns/snapshot/1');
    expect(whole.byteLength).toBe(5000);
  });

  it('a truncated file reads as what is there (decoding then says BLOB_TRUNCATED)', async () => {
    const dir = await setup.tempDir();
    const blob = encodeSnapshot(build(1));
    await writeFile(join(dir, 'snap'), blob.subarray(0, 1000));
    const got = await new FsBlobStore({ dir, readChunkBytes: 300 }).get('snap');
    expect(got.byteLength).toBe(1000);
    expect(() => decodeSnapshot(got)).toThrow(expect.objectContaining({ code: 'BLOB_TRUNCATED' }));
  });
});
