/**
 * A real S3-compatible server for tests (s3rver on 127.0.0.1, a free port, a temp directory),
 * and a front that sits before it: it forwards every request, and can fail the next N with a
 * status, drop the next N connections, leave the next N unanswered, fail all of them (an outage), and enforce If-Match /
 * If-None-Match on PUT (which real S3 does and s3rver does not), one PUT per key at a time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

export const BUCKET = 'shoal-test';

/**
 * s3rver 3.7 answers a PUT before the object's file is written (it resolves on its hashing
 * stream's 'finish', not the file's) and writes in place, so a GET right after — or during — a
 * PUT can read a truncated object, which real S3 never serves. Seen in CI as an announcement that
 * "does not decode". Its filesystem store is patched to write to a temporary file, wait for it,
 * and rename it into place, as S3's atomic, read-after-write consistent PUT behaves.
 *
 * A GET also reads an object's size, md5 and metadata from three files and then opens a fourth:
 * a PUT landing in between gave a body shorter than its Content-Length (the client waited for
 * bytes that never came until the socket closed, ~6 s; seen in CI as a watcher gone quiet) or an
 * internal error (half-written metadata JSON). So a key's GET (up to the open body), the last
 * step of its PUT (rename and metadata) and its DELETE take turns, one at a time per key.
 */
function makeS3rverPutsAtomic(): void {
  interface S3rverObject {
    bucket: string;
    key: string;
    content: Buffer | NodeJS.ReadableStream;
    metadata: unknown;
  }
  interface FilesystemStore {
    getResourcePath(bucket: string, key: string, resource: string): string;
    putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
    putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
    getObject(bucket: string, key: string, options: unknown): Promise<unknown>;
    deleteObject(bucket: string, key: string): Promise<void>;
    atomicPuts?: true;
  }
  const store = createRequire(import.meta.url)('s3rver/lib/stores/filesystem.js') as {
    prototype: FilesystemStore;
  };
  if (store.prototype.atomicPuts) return;
  store.prototype.atomicPuts = true;
  const turns = new Map<string, Promise<unknown>>();
  /** Runs `fn` once every earlier turn of `bucket/key` has ended. */
  const inTurn = <T>(bucket: string, key: string, fn: () => Promise<T>): Promise<T> => {
    const id = `${bucket}/${key}`;
    const run = (turns.get(id) ?? Promise.resolve()).then(fn, fn);
    const settled = run.catch(() => {});
    turns.set(id, settled);
    void settled.then(() => {
      if (turns.get(id) === settled) turns.delete(id);
    });
    return run;
  };
  const { getObject, deleteObject } = store.prototype;
  store.prototype.getObject = function (bucket, key, options) {
    return inTurn(bucket, key, () => getObject.call(this, bucket, key, options));
  };
  store.prototype.deleteObject = function (bucket, key) {
    return inTurn(bucket, key, () => deleteObject.call(this, bucket, key));
  };
  store.prototype.putObject = async function putObject(object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    const temporary = `${objectPath}.${randomBytes(6).toString('hex')}.part`;
    const md5 = createHash('md5');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    const source = Buffer.isBuffer(object.content)
      ? [object.content]
      : (object.content as NodeJS.ReadableStream);
    try {
      await pipeline(source, hashing, createWriteStream(temporary));
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    const digest = md5.digest('hex');
    await inTurn(object.bucket, object.key, async () => {
      try {
        await rename(temporary, objectPath);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
      await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    });
    return { size, md5: digest };
  };
}

export interface S3Server {
  readonly endpoint: string;
  client(endpoint?: string): S3Client;
  close(): Promise<void>;
}

export async function startS3(): Promise<S3Server> {
  makeS3rverPutsAtomic();
  const directory = await mkdtemp(join(tmpdir(), 'shoal-s3rver-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: process.env.S3RVER_LOG !== '1',
    directory,
  });
  const { port } = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  const client = (at = endpoint) => {
    const c = new S3Client({
      endpoint: at,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
    clients.push(c);
    return c;
  };
  await client().send(new CreateBucketCommand({ Bucket: BUCKET }));
  return {
    endpoint,
    client,
    async close() {
      for (const c of clients) c.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** The fault-injecting front. */
export interface Front {
  readonly endpoint: string;
  /** Requests that reached the front, by method. */
  readonly requests: { method: string; path: string }[];
  failNext(count: number, status: number): void;
  dropNext(count: number): void;
  /** The next `count` requests get no answer at all: a hung connection, held until close. */
  stallNext(count: number): void;
  outage(on: boolean): void;
  close(): Promise<void>;
}

export async function startFront(upstream: string): Promise<Front> {
  const target = new URL(upstream);
  let fail = { count: 0, status: 500 };
  let drop = 0;
  let stall = 0;
  let down = false;
  const requests: { method: string; path: string }[] = [];
  const locks = new Map<string, Promise<void>>();

  const forward = (
    req: http.IncomingMessage,
    body: Buffer,
    method = req.method!,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { ...req.headers, host: target.host };
      if (method === 'HEAD') {
        for (const h of ['content-length', 'content-type', 'if-match', 'if-none-match', 'content-md5'])
          delete headers[h];
      }
      const up = http.request(
        { host: target.hostname, port: target.port, method, path: req.url, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      up.on('error', reject);
      if (method !== 'HEAD') up.end(body);
      else up.end();
    });

  const server = http.createServer(async (req, res) => {
    requests.push({ method: req.method!, path: req.url! });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (drop > 0) {
      drop--;
      req.socket.destroy();
      return;
    }
    if (stall > 0) {
      stall--;
      return;
    }
    if (down || fail.count > 0) {
      if (!down) fail.count--;
      res.writeHead(down ? 503 : fail.status, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${(down ? 503 : fail.status) === 403 ? 'AccessDenied' : 'InternalError'}</Code><Message>injected</Message></Error>`,
      );
      return;
    }
    const send = (r: { status: number; headers: http.IncomingHttpHeaders; body: Buffer }) => {
      res.writeHead(r.status, r.headers);
      res.end(req.method === 'HEAD' ? undefined : r.body);
    };
    const ifMatch = req.headers['if-match'];
    const ifNoneMatch = req.headers['if-none-match'];
    if (req.method !== 'PUT' || (ifMatch === undefined && ifNoneMatch === undefined)) {
      send(await forward(req, body));
      return;
    }
    // Conditional PUT: one per key at a time, checked against the object's current etag.
    const key = req.url!.split('?')[0]!;
    const previous = locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    locks.set(
      key,
      previous.then(() => mine),
    );
    await previous;
    try {
      const head = await forward(req, Buffer.alloc(0), 'HEAD');
      const exists = head.status === 200;
      const failed =
        (ifNoneMatch === '*' && exists) ||
        (ifMatch !== undefined && (!exists || head.headers.etag !== ifMatch));
      if (failed) {
        res.writeHead(412, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
        );
        return;
      }
      send(await forward(req, body));
    } finally {
      release();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    failNext: (count, status) => {
      fail = { count, status };
    },
    dropNext: (count) => {
      drop = count;
    },
    stallNext: (count) => {
      stall = count;
    },
    outage: (on) => {
      down = on;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
