/**
 * A real S3-compatible server for tests (s3rver on 127.0.0.1, a free port, a temp directory),
 * and a front that sits before it: it forwards every request, and can fail the next N with a
 * status, drop the next N connections, fail all of them (an outage), and enforce If-Match /
 * If-None-Match on PUT (which real S3 does and s3rver does not), one PUT per key at a time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

export const BUCKET = 'shoal-test';

export interface S3Server {
  readonly endpoint: string;
  client(endpoint?: string): S3Client;
  close(): Promise<void>;
}

export async function startS3(): Promise<S3Server> {
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
  outage(on: boolean): void;
  close(): Promise<void>;
}

export async function startFront(upstream: string): Promise<Front> {
  const target = new URL(upstream);
  let fail = { count: 0, status: 500 };
  let drop = 0;
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
