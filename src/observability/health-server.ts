/**
 * The health and metrics HTTP server for probes and scrapes: `/healthz` (alive), `/readyz`
 * (ready to serve, or 503 with the reason), `/metrics` (Prometheus text), `/status` (JSON).
 * It binds 127.0.0.1 unless told otherwise, and answers nothing else (404).
 *
 * Error messages carry filesystem paths (a store's root, a log directory, an OS error's
 * path); what anyone who reaches the port can read should not map the host's disks, so
 * `/status` and `/readyz` serve every absolute path as `<path>` unless `exposePaths` is set.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** What a health server reports. */
export interface HealthSource {
  /** Alive: the process and its loops are running. */
  readonly live: () => boolean;
  /** Ready, or the reason it is not. */
  readonly ready: () => { readonly ready: true } | { readonly ready: false; readonly reason: string };
  /** The `/status` document. */
  readonly status: () => unknown;
  readonly registry: Registry;
  /**
   * More routes: an answer for a path (and its query, parsed, and as sent after the `?`, for
   * a route that must refuse what URLSearchParams forgives), or `undefined` for 404.
   */
  readonly routes?: (
    path: string,
    query: URLSearchParams,
    search: string,
  ) =>
    | {
        readonly status: number;
        readonly body: string;
        readonly type?: string;
        readonly headers?: Readonly<Record<string, string>>;
      }
    | undefined;
}

/** Options of {@link serveHealth}. */
export interface HealthServerOptions {
  /**
   * The port; 0 picks a free one.
   * @default 0
   */
  readonly port?: number;
  /**
   * The address to bind.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * Serve filesystem paths in `/status` and `/readyz` as they are, instead of as `<path>`.
   * @default false
   */
  readonly exposePaths?: boolean;
}

/** A running health server. */
export interface HealthServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// An absolute path: `/a…` or `C:\a…`, whole between quotes (it may hold blanks), else starting
// a string or after a blank, bracket or separator, up to the next of those. `//` is not one (a
// URL's `//host` keeps its host), nor is a relative key such as `ns/x`.
const QUOTED_PATH = /(['"`])(?:\/(?![\s/])|[A-Za-z]:\\)[^'"`]*\1/g;
const BARE_PATH = /(?<=^|[\s([{=,:])(?:\/(?![\s/])|[A-Za-z]:\\)[^\s'"`)\]},]*/g;

/** `text` with every absolute path replaced by `<path>`. */
export function redactPaths(text: string): string {
  return text.replace(QUOTED_PATH, '$1<path>$1').replace(BARE_PATH, '<path>');
}

const json = (v: unknown, redact: boolean) =>
  JSON.stringify(
    v,
    (_, x) => (typeof x === 'bigint' ? x.toString() : redact && typeof x === 'string' ? redactPaths(x) : x),
    2,
  );

/** Starts the server. */
export async function serveHealth(
  source: HealthSource,
  options: HealthServerOptions = {},
): Promise<HealthServer> {
  const redact = options.exposePaths !== true;
  const server: Server = createServer((req, res) => {
    // At the first `?` only: a value may hold a literal `?` of its own.
    const url = req.url ?? '/';
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    const search = mark < 0 ? '' : url.slice(mark + 1);
    const send = (
      status: number,
      body: string,
      type = 'text/plain; charset=utf-8',
      headers: Readonly<Record<string, string>> = {},
    ) => {
      res.writeHead(status, { ...headers, 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (path === '/healthz') return source.live() ? send(200, 'ok\n') : send(503, 'not alive\n');
    if (path === '/readyz') {
      const r = source.ready();
      if (r.ready) return send(200, 'ready\n');
      return send(503, `not ready: ${redact ? redactPaths(r.reason) : r.reason}\n`);
    }
    if (path === '/status') return send(200, `${json(source.status(), redact)}\n`, 'application/json');
    if (path === '/metrics') {
      source.registry.metrics().then(
        (text) => send(200, text, source.registry.contentType),
        (e: Error) => send(500, `metrics failed: ${e.message}\n`),
      );
      return;
    }
    const extra = source.routes?.(path, new URLSearchParams(search), search);
    if (extra) return send(extra.status, extra.body, extra.type, extra.headers);
    send(404, 'not found: try /healthz, /readyz, /metrics or /status\n');
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
  return { port, url: `http://${host}:${port}`, close, [Symbol.asyncDispose]: close };
}
