/**
 * `shoal consume`: keep a namespace's state current and serve it read-only over HTTP:
 * `GET /records/<type>/<key>` (JSON; 404 when absent), `GET /records/<type>?<index>=<value>`
 * (NDJSON of an index's matches, index-query.ts) beside `/healthz`, `/readyz`, `/metrics`
 * and `/status`. One JSON line per refresh on stdout.
 *
 * The HTTP server starts before the first load, so probes are answered from the start: a
 * service deployed with its producer waits (not ready) for the first version instead of
 * crash-looping, unless `--no-wait`.
 */
import { parseArgs } from 'node:util';
import {
  type AnyConsumer,
  type BlobStore,
  Consumer,
  type FieldSpec,
  isShoalError,
  listNamespaces,
  type ObjectType,
  parseVersionRef,
  ShoalError,
} from '../index.ts';
import { serveConsumerHealth } from '../observability.ts';
import { type CliLog, createLog } from './cli-log.ts';
import { parseDuration, parsePort, parseProfile, parseWhole, TIMER_MAX_MS } from './cli-values.ts';
import { queryIndex } from './index-query.ts';
import { recordReplacer } from './json-output.ts';
import { natsServers, openStore, UsageError } from './produce-command.ts';

export const CONSUME_USAGE = `  consume [options]
      follow a namespace and serve GET /records/<type>/<key>, /records/<type>?<index>=<value>
      (or ?<index>.prefix=<p>; &limit=<n>, default 100), /healthz, /readyz, /metrics, /status
      --store <dir | s3://bucket/prefix>   (default ./shoal-data)
      --namespace <name>                   (default "default")
      --port <port>                        (default 8080; 0 picks a free one)
      --host <host>                        (default 127.0.0.1)
      --pin <version | label>              serve this version instead of the announced one: a number,
                                           or the newest version labelled so (label:<l> if all digits)
      --max-staleness-ms <ms>              not ready when this far behind the announcement (default 60000)
      --wait-timeout <duration>            when nothing is announced yet, wait this long for a first
                                           version (not ready meanwhile): 30s, 5m, 1h; 0 waits forever (default 0)
      --no-wait                            fail at once when nothing is announced
      --profile <throughput|balanced|latency>   how often to poll the store (default balanced)
      --nats <nats://host:port,...>        hear announcements from NATS as they are made, polling the
                                           store only while NATS is down (README, "Push over NATS")
`;

/** Words for the namespaces a store holds (`undefined`: it could not be listed). */
const there = (names: readonly string[] | undefined): string =>
  names === undefined
    ? 'the store could not be listed yet; retrying'
    : names.length === 0
      ? 'no namespace is announced there yet'
      : `announced there: ${names.join(', ')}`;

/** {@link there} for `store`; a store that is not there at all (BLOB_NOT_FOUND) is the error itself. */
const namespacesThere = async (store: BlobStore): Promise<string> =>
  there(
    await listNamespaces(store).catch((e: unknown) => {
      if (isShoalError(e, 'BLOB_NOT_FOUND')) throw e;
      return undefined;
    }),
  );

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

function lookup(consumer: AnyConsumer, path: string, search: string) {
  const byIndex = /^\/records\/([^/]+)$/.exec(path);
  if (byIndex) return queryIndex(consumer.state, decodeURIComponent(byIndex[1]!), search, keyPart);
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
    if (isShoalError(e) && e.code === 'NOT_LOADED') return json(503, { error: e.code, message: e.message });
    return json(400, { error: isShoalError(e) ? e.code : 'BAD_KEY', message: (e as Error).message });
  }
}

export async function consumeCommand(
  args: string[],
  signal: AbortSignal,
  log: CliLog = createLog('text'),
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
      'wait-timeout': { type: 'string' },
      'no-wait': { type: 'boolean' },
      profile: { type: 'string' },
      nats: { type: 'string' },
    },
  });
  const port = parsePort('--port', values.port);
  const natsList = values.nats === undefined ? undefined : natsServers(values.nats);
  const pin = values.pin;
  if (pin !== undefined) {
    try {
      parseVersionRef(pin, '--pin');
    } catch (e) {
      if (!isShoalError(e, 'INVALID_OPTION')) throw e;
      throw new UsageError(e.message);
    }
  }
  const staleness = values['max-staleness-ms'];
  const maxStalenessMs =
    staleness === undefined
      ? undefined
      : parseWhole('--max-staleness-ms', staleness, 'a positive whole number');
  if (maxStalenessMs === 0)
    throw new UsageError(`--max-staleness-ms needs a positive whole number, got "${staleness}"`);
  const noWait = values['no-wait'] === true;
  if (noWait && values['wait-timeout'] !== undefined)
    throw new UsageError('--no-wait and --wait-timeout contradict each other: give one');
  const waitMs =
    values['wait-timeout'] === undefined
      ? 0
      : parseDuration('--wait-timeout', values['wait-timeout'], 'for no limit', TIMER_MAX_MS);
  const store = await openStore(values.store);
  const namespace = values.namespace;
  const profile = parseProfile(values.profile);
  const push = natsList
    ? new (await import('../nats.ts')).NatsAnnouncementPush({ servers: natsList })
    : undefined;
  const consumer = Consumer.create({
    store,
    namespace,
    ...(push ? { push } : {}),
    signal,
    waitForFirstVersion: noWait ? false : waitMs === 0 ? true : { timeoutMs: waitMs },
    ...(profile !== undefined ? { profile } : {}),
    ...(pin !== undefined ? { pin } : {}),
  });
  const out = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
  const about = (label: string | undefined, metadata: Readonly<Record<string, string>>) => ({
    ...(label !== undefined ? { label } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
  });
  // Readiness is served from the start: 503 while waiting for or loading the first version.
  const server = await serveConsumerHealth(consumer, {
    port,
    host: values.host,
    ...(maxStalenessMs !== undefined ? { maxStalenessMs } : {}),
    routes: (path, _query, search) => lookup(consumer, path, search),
  });
  // Watch failures (a store or NATS that cannot be reached): the first of each kind, then at
  // most one a minute, so a long outage is visible without a line per poll.
  let lastWatchError: { code: string; at: number } | undefined;
  consumer.on('watch:error', (e) => {
    const now = Date.now();
    if (lastWatchError?.code === e.code && now - lastWatchError.at < 60_000) return;
    lastWatchError = { code: e.code, at: now };
    log.write('warn', 'watch-failed', `shoal: warning: ${e.code}: ${e.message}`, { code: e.code });
  });
  consumer.on('watch:push', ({ up }) =>
    log.write(
      'info',
      up ? 'push-up' : 'push-down',
      up
        ? 'shoal: NATS push up: announcements come by it, the store is polled every few minutes'
        : 'shoal: NATS push down: polling the store until it is back',
      { up },
    ),
  );
  consumer.on('waiting', (e) => {
    log.write(
      'info',
      'waiting',
      `shoal: waiting for the first version of namespace "${namespace}" in store ${values.store} (${there(e.namespaces)}); not ready until then`,
      { namespace, ...(e.namespaces ? { namespaces: e.namespaces } : {}) },
    );
    out({ event: 'waiting', url: server.url, namespace });
  });
  try {
    await consumer.start();
  } catch (e) {
    await server.close();
    await consumer.close();
    await push?.close();
    if (signal.aborted && isShoalError(e) && (e.code === 'ABORTED' || e.code === 'CLOSED')) return 0;
    if (consumer.announcement === undefined && isShoalError(e, 'BLOB_NOT_FOUND'))
      throw new ShoalError(
        'BLOB_NOT_FOUND',
        `nothing is announced in namespace "${namespace}" in store ${values.store} (${await namespacesThere(store)}). Check --namespace, or start the producer first (without --no-wait, shoal consume waits for it).`,
        { cause: e },
      );
    if (isShoalError(e, 'NO_VERSION_ANNOUNCED'))
      throw new ShoalError(
        'NO_VERSION_ANNOUNCED',
        `nothing was announced in namespace "${namespace}" in store ${values.store} within ${values['wait-timeout']} (${await namespacesThere(store)}). Check --namespace and that the producer runs, or raise --wait-timeout (0 waits forever).`,
        { cause: e },
      );
    throw e;
  }
  // The first load is reported by "serving"; later refreshes and failures one line each.
  consumer.on('refresh', (e) =>
    out({
      event: 'refresh',
      from: e.from,
      to: e.to,
      ...about(e.label, e.metadata),
      kind: e.kind,
      ms: Math.round(e.durationMs),
    }),
  );
  consumer.on('refresh:failure', (e) =>
    log.write(
      'error',
      'refresh-failed',
      `shoal: refresh to ${e.target} failed: ${e.error.code}: ${e.error.message}`,
      {
        version: e.target,
        code: e.error.code,
        failures: e.failures,
      },
    ),
  );
  out({
    event: 'serving',
    url: server.url,
    version: consumer.version,
    ...about(consumer.label, consumer.metadata),
  });
  await new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await consumer.close();
  await push?.close();
  await server.close();
  return 0;
}
