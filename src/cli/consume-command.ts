/**
 * `shoal consume`: keep a namespace's state current and serve it read-only over HTTP:
 * `GET /records/<type>/<key>` (JSON; 404 when absent), `GET /records/<type>?<index>=<value>`
 * (NDJSON of an index's matches, index-query.ts) beside `/healthz`, `/readyz`, `/metrics`
 * and `/status`. One JSON line per refresh on stdout.
 */
import { parseArgs } from 'node:util';
import {
  type AnyConsumer,
  Consumer,
  type FieldSpec,
  isShoalError,
  type ObjectType,
  ShoalError,
} from '../index.ts';
import { serveConsumerHealth } from '../observability.ts';
import { queryIndex } from './index-query.ts';
import { recordReplacer } from './json-output.ts';
import { openStore, UsageError } from './produce-command.ts';

export const CONSUME_USAGE = `  consume [options]
      follow a namespace and serve GET /records/<type>/<key>, /records/<type>?<index>=<value>
      (or ?<index>.prefix=<p>; &limit=<n>, default 100), /healthz, /readyz, /metrics, /status
      --store <dir | s3://bucket/prefix>   (default ./shoal-data)
      --namespace <name>                   (default "default")
      --port <port>                        (default 8080; 0 picks a free one)
      --host <host>                        (default 127.0.0.1)
      --pin <version>                      serve this version instead of the announced one
      --max-staleness-ms <ms>              not ready when this far behind the announcement (default 60000)
`;

const INTEGER = /^-?(0|[1-9][0-9]*)$/;

function badKey(message: string): never {
  throw new ShoalError('INVALID_KEY', `${message}. Write integers in decimal, and composite keys as JSON.`);
}

/** One key part, parsed strictly by its field's kind: no hex, blanks, exponents or rounding. */
function keyPart(field: FieldSpec, raw: unknown): unknown {
  if (field.kind === 'string') {
    if (typeof raw !== 'string') badKey(`key field "${field.name}" is a string, got ${JSON.stringify(raw)}`);
    return raw;
  }
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || !INTEGER.test(text)) {
    badKey(`key field "${field.name}" is an integer, got ${JSON.stringify(raw)}`);
  }
  if (field.kind === 'long' && field.bigint) {
    // A JSON number past 2^53 was rounded by JSON.parse before we saw it.
    if (typeof raw === 'number' && !Number.isSafeInteger(raw)) {
      badKey(`key field "${field.name}" is a 64-bit integer: give it as a string, got ${raw}`);
    }
    const n = BigInt(text);
    if (BigInt.asIntN(64, n) !== n) badKey(`key field "${field.name}" is a 64-bit integer, got ${text}`);
    return n;
  }
  const n = Number(text);
  const fits = field.kind === 'int' ? (n | 0) === n : Number.isSafeInteger(n);
  if (!fits) badKey(`key field "${field.name}" is out of range: ${text}`);
  return n;
}

/**
 * The key of `/records/<type>/<key>`, parsed strictly by the key fields' kinds. A composite key
 * is URL-encoded JSON of its fields (`{"country":"FR","id":7}`), integer parts as numbers or
 * decimal strings (64-bit ones as strings).
 */
export function parseKey(type: ObjectType, raw: string): unknown {
  let text: string;
  try {
    text = decodeURIComponent(raw);
  } catch {
    badKey(`the key ${JSON.stringify(raw)} is not valid URL encoding`);
  }
  const fields = type.primaryKey.map((name) => type.field(name)!);
  if (fields.length === 0) badKey(`${type.name} has no primary key`);
  if (!type.compositeKey) return keyPart(fields[0]!, text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    badKey(
      `${type.name} keys are JSON objects of ${type.primaryKey.join(', ')}; got ${JSON.stringify(text)}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    badKey(`${type.name} keys are JSON objects of ${type.primaryKey.join(', ')}`);
  }
  const given = parsed as Record<string, unknown>;
  const extra = Object.keys(given).filter((k) => !type.primaryKey.includes(k));
  if (extra.length > 0)
    badKey(`${extra.join(', ')} ${extra.length > 1 ? 'are' : 'is'} not part of the ${type.name} key`);
  const key: Record<string, unknown> = {};
  for (const field of fields) {
    if (!Object.hasOwn(given, field.name)) badKey(`the ${type.name} key lacks "${field.name}"`);
    key[field.name] = keyPart(field, given[field.name]);
  }
  return key;
}

function lookup(consumer: AnyConsumer, path: string, query: URLSearchParams) {
  const byIndex = /^\/records\/([^/]+)$/.exec(path);
  if (byIndex) return queryIndex(consumer.state, decodeURIComponent(byIndex[1]!), query, keyPart);
  const m = /^\/records\/([^/]+)\/(.*)$/.exec(path);
  if (!m) return undefined;
  const json = (status: number, body: unknown) => ({
    status,
    body: `${JSON.stringify(body, recordReplacer)}\n`,
    type: 'application/json',
  });
  try {
    const type = consumer.state.type(m[1]!);
    const view = type.get(parseKey(type.type, m[2]!) as never);
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
  if (pin !== undefined && !(Number.isSafeInteger(pin) && pin >= 0))
    throw new UsageError(`--pin needs a version, got "${values.pin}"`);
  const maxStalenessMs =
    values['max-staleness-ms'] === undefined ? undefined : Number(values['max-staleness-ms']);
  if (maxStalenessMs !== undefined && !(Number.isSafeInteger(maxStalenessMs) && maxStalenessMs > 0))
    throw new UsageError(
      `--max-staleness-ms needs a positive whole number, got "${values['max-staleness-ms']}"`,
    );
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
  const server = await serveConsumerHealth(consumer, {
    port,
    host: values.host,
    ...(maxStalenessMs !== undefined ? { maxStalenessMs } : {}),
    routes: (path, query) => lookup(consumer, path, query),
  });
  out({ event: 'serving', url: server.url, version: consumer.version });
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await consumer.close();
  await server.close();
  return 0;
}
