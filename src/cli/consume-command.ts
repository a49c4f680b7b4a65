/**
 * `shoal consume`: keep a namespace's state current and serve it read-only over HTTP:
 * `GET /records/<type>/<key>` (JSON; 404 when absent) beside `/healthz`, `/readyz`, `/metrics`
 * and `/status`. One JSON line per refresh on stdout.
 */
import { parseArgs } from 'node:util';
import { type AnyConsumer, Consumer, isShoalError } from '../index.ts';
import { serveConsumerHealth } from '../observability.ts';
import { openStore, UsageError } from './produce-command.ts';

export const CONSUME_USAGE = `  consume [options]
      follow a namespace and serve GET /records/<type>/<key>, /healthz, /readyz, /metrics, /status
      --store <dir | s3://bucket/prefix>   (default ./shoal-data)
      --namespace <name>                   (default "default")
      --port <port>                        (default 8080; 0 picks a free one)
      --host <host>                        (default 127.0.0.1)
      --pin <version>                      serve this version instead of the announced one
      --max-staleness-ms <ms>              not ready when this far behind the announcement (default 60000)
`;

const replacer = (_: string, v: unknown) =>
  typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v;

/** The key of `/records/<type>/<key>`, typed by the key field (composite keys as URL-encoded JSON). */
function parseKey(consumer: AnyConsumer, typeName: string, raw: string): unknown {
  const type = consumer.state.schema.type(typeName);
  const text = decodeURIComponent(raw);
  if (type.compositeKey) return JSON.parse(text);
  const field = type.field(type.primaryKey[0]!);
  if (field?.kind === 'int' || (field?.kind === 'long' && !field.bigint)) return Number(text);
  if (field?.kind === 'long') return BigInt(text);
  return text;
}

function lookup(consumer: AnyConsumer, path: string) {
  const m = /^\/records\/([^/]+)\/(.+)$/.exec(path);
  if (!m) return undefined;
  const json = (status: number, body: unknown) => ({
    status,
    body: `${JSON.stringify(body, replacer)}\n`,
    type: 'application/json',
  });
  try {
    const view = consumer.state.type(m[1]!).get(parseKey(consumer, m[1]!, m[2]!) as never);
    return view
      ? json(200, view.toObject())
      : json(404, { error: 'NOT_FOUND', message: `no ${m[1]} with key ${decodeURIComponent(m[2]!)}` });
  } catch (e) {
    if (isShoalError(e) && e.code === 'UNKNOWN_TYPE') return json(404, { error: e.code, message: e.message });
    return json(400, { error: isShoalError(e) ? e.code : 'BAD_KEY', message: (e as Error).message });
  }
}

export async function consumeCommand(
  args: string[],
  signal: AbortSignal,
  openStoreFor = openStore,
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      store: { type: 'string', default: './shoal-data' },
      namespace: { type: 'string', default: 'default' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      pin: { type: 'string' },
      'max-staleness-ms': { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isSafeInteger(port) || port < 0)
    throw new UsageError(`--port needs a port number, got "${values.port}"`);
  const pin = values.pin === undefined ? undefined : Number(values.pin);
  if (pin !== undefined && !Number.isSafeInteger(pin))
    throw new UsageError(`--pin needs a version, got "${values.pin}"`);
  const consumer = await Consumer.open({
    store: await openStoreFor(values.store),
    namespace: values.namespace,
    ...(pin !== undefined ? { pin } : {}),
  });
  const out = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
  consumer.on('refresh', (e) =>
    out({ event: 'refresh', from: e.from, to: e.to, kind: e.kind, ms: Math.round(e.durationMs) }),
  );
  consumer.on('refresh:failure', (e) =>
    process.stderr.write(`shoal: refresh to ${e.target} failed: ${e.error.code}: ${e.error.message}\n`),
  );
  const maxStalenessMs =
    values['max-staleness-ms'] === undefined ? undefined : Number(values['max-staleness-ms']);
  const server = await serveConsumerHealth(consumer, {
    port,
    host: values.host,
    ...(maxStalenessMs !== undefined ? { maxStalenessMs } : {}),
    routes: (path) => lookup(consumer, path),
  });
  out({ event: 'serving', url: server.url, version: consumer.version });
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await consumer.close();
  await server.close();
  return 0;
}
