/**
 * `shoal produce`: publish the input as versions of a namespace. Once, or with `--watch` on
 * every change of the input (debounced). Prints one JSON line per cycle on stdout; reports
 * bad records (file:line) and progress on stderr.
 *
 * What it refuses to lose quietly:
 * - A cycle re-states only the types the input names (its records' types, and the type each
 *   file is of); the others keep the announced version's records. `--replace-all` re-states
 *   every type.
 * - A version that empties a type, or shrinks one by more than `--max-shrink`, is refused by
 *   the producer's validators (`--allow-shrink` turns them off); an input with no records is
 *   not published (`--allow-empty`).
 * - A signal before a cycle starts publishes nothing (exit 128 + the signal's number); one
 *   during a cycle lets it finish; main.ts exits at once on a second.
 */
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { watch } from 'chokidar';
import {
  type BlobStore,
  checkVersionMetadata,
  FsBlobStore,
  fromJSON,
  isShoalError,
  Producer,
  type Schema,
  ShoalError,
  type Validator,
  type VersionMetadata,
  validators,
} from '../index.ts';
import { serveProducerHealth } from '../observability.ts';
import { failureLine, rethrowAsFileError } from './cli-errors.ts';
import { type CliLog, createLog } from './cli-log.ts';
import { parseDecimal, parsePort, parseProfile, parseWhole } from './cli-values.ts';
import { type InputFormat, inputFiles, PROGRESS_EVERY, readInput } from './input-reader.ts';
import { fileTypes } from './input-types.ts';
import { UsageError } from './usage-error.ts';

export const PRODUCE_USAGE = `  produce --schema <file.json> --input <file | dir | -> [options]
      publish the input as a new version of a namespace (again on each change with --watch)
      --store <dir | s3://bucket/prefix>   where blobs go (default ./shoal-data)
      --namespace <name>                   (default "default")
      --type <name>                        type of plain records (default: the schema's only type)
      --type-of <file>=<type>              type of one file's records (repeatable); a CSV file
                                           named for a type (City.csv) is of that type
      --replace-all                        re-state every type: types absent from the input are
                                           emptied (default: only the types the input names)
      --max-shrink <share>                 refuse a version that loses more than this share of a
                                           type's records (default 0.25)
      --allow-shrink                       publish even a version that empties or shrinks a type
      --allow-empty                        publish an input that holds no records
      --format <ndjson|json|csv|msgpack>   (default: from the file extension, else ndjson)
      --on-invalid <skip|stop>             bad records: report and skip them, or stop (default stop)
      --watch                              publish again whenever the input changes
      --label <label>                      name the version published (e.g. the source release 3.1.5)
      --meta <key=value>                   a key/value the version carries (repeatable)
      --profile <throughput|balanced|latency>   batching, backpressure and snapshots set together
                                           (default balanced; README, "Tuning profiles")
      --snapshot-every <n>                 a snapshot every n versions (default 10, or the profile's)
      --nats <nats://host:port,...>        also put each announcement in NATS (JetStream key-value), whence
                                           consumers with --nats hear it at once (README, "Push over NATS")
      --keep-snapshots <n>                 retention (default 5)
      --wal-dir <dir>                      write-ahead log directory (default .shoal/wal/<namespace>)
      --health-port <port>                 serve /healthz, /readyz, /metrics, /status on 127.0.0.1
      --health-host <host>                 the address to bind the health server (default 127.0.0.1)
`;

export { UsageError } from './usage-error.ts';

/** The store a `--store` flag names: a directory, or `s3://bucket/prefix`. */
export async function openStore(spec: string): Promise<BlobStore> {
  // A scheme is case-insensitive (RFC 3986), so S3:// is s3://; any other scheme is not a
  // directory name a user meant, and would otherwise become one (./http:/example.com/x).
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec)?.[1];
  if (scheme === undefined) return new FsBlobStore({ dir: spec });
  if (scheme.toLowerCase() !== 's3')
    throw new UsageError(
      `--store ${spec}: a store is a directory or s3://<bucket>[/<prefix>], not a ${scheme}:// URL`,
    );
  const url = URL.canParse(spec) ? new URL(spec) : undefined;
  if (!url?.hostname) throw new UsageError(`--store ${spec} is not of the form s3://<bucket>[/<prefix>]`);
  const region = process.env.AWS_REGION;
  // The SDK would fail each request later with a bare "Region is missing".
  if (region !== undefined && region.trim() === '')
    throw new ShoalError(
      'INVALID_OPTION',
      `AWS_REGION is set but empty, so --store ${spec} has no region. Set AWS_REGION to the bucket's region (e.g. us-east-1), or unset it for us-east-1.`,
    );
  const { S3BlobStore } = await import('../s3.ts');
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return new S3BlobStore({
    bucket: url.hostname,
    prefix: url.pathname.replace(/^\/+|\/+$/g, ''),
    clientOptions: {
      region: region ?? 'us-east-1',
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: process.env.SHOAL_S3_PATH_STYLE === '1' || endpoint !== undefined,
    },
  });
}

const count = (name: string, v: string | undefined): number | undefined =>
  v === undefined ? undefined : parseWhole(`--${name}`, v);

/** What `--label` and `--meta key=value` (repeated) attach to each version published. */
export function versionMetadataArgs(label: string | undefined, meta: readonly string[]): VersionMetadata {
  const metadata: Record<string, string> = {};
  for (const pair of meta) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--meta needs key=value, got "${pair}"`);
    const key = pair.slice(0, eq);
    if (Object.hasOwn(metadata, key)) throw new UsageError(`--meta ${key} is given twice`);
    metadata[key] = pair.slice(eq + 1);
  }
  try {
    return checkVersionMetadata(
      { ...(label !== undefined ? { label } : {}), metadata },
      { label: '--label', metadata: '--meta' },
    );
  } catch (e) {
    if (!isShoalError(e, 'INVALID_OPTION')) throw e;
    throw new UsageError(e.message);
  }
}

/** The schema file: one that cannot be read fails with the OS's code; an invalid one names the file. */
async function readSchema(path: string): Promise<Schema> {
  const text = await readFile(path, 'utf8').catch((e: unknown) => rethrowAsFileError(`--schema ${path}`, e));
  try {
    return fromJSON(text);
  } catch (e) {
    if (!isShoalError(e, 'INVALID_SCHEMA')) throw e;
    throw new ShoalError('INVALID_SCHEMA', `${path}: ${e.message}`, { cause: e });
  }
}

/** `--max-shrink`: a share of a type's records, 0 to 1. */
function share(v: string): number {
  const what = 'a share between 0 and 1 (0.25 = 25%)';
  const n = parseDecimal('--max-shrink', v, what);
  if (n > 1) throw new UsageError(`--max-shrink needs ${what}, got "${v}"`);
  return n;
}

/** `validate`, its refusals ending with the flag that lets such a version through. */
function withHint(validate: Validator, hint: string): Validator {
  const hinted: Validator = async (context) => {
    const reason = await validate(context);
    return typeof reason === 'string' ? `${reason} (${hint})` : reason;
  };
  // The validate stage names a refusal by the validator's function name.
  Object.defineProperty(hinted, 'name', { value: validate.name });
  return hinted;
}

/** The guards of every cycle, unless `--allow-shrink`. */
function guards(maxShrink: number, allowShrink: boolean): Validator[] {
  if (allowShrink) return [];
  const out = [withHint(validators.noEmptyTypes(), 'pass --allow-shrink to publish it anyway')];
  if (maxShrink < 1) {
    out.push(
      withHint(
        validators.maxShrink(maxShrink),
        'pass --max-shrink with a larger share, or --allow-shrink, to publish it anyway',
      ),
    );
  }
  return out;
}

/** The exit code of a command stopped by `signal` (128 + its number, as a shell reports it). */
const signalExit = (signal: unknown): number =>
  128 + (constants.signals[signal as NodeJS.Signals] ?? constants.signals.SIGINT);

/** How one reading and publishing of the input ended. */
type Outcome = 'done' | 'refused' | 'interrupted';

export async function produceCommand(
  args: string[],
  signal: AbortSignal,
  log: CliLog = createLog('text'),
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      schema: { type: 'string' },
      input: { type: 'string' },
      store: { type: 'string', default: './shoal-data' },
      namespace: { type: 'string', default: 'default' },
      type: { type: 'string' },
      'type-of': { type: 'string', multiple: true },
      format: { type: 'string' },
      'replace-all': { type: 'boolean', default: false },
      'max-shrink': { type: 'string', default: '0.25' },
      'allow-shrink': { type: 'boolean', default: false },
      'allow-empty': { type: 'boolean', default: false },
      'on-invalid': { type: 'string', default: 'stop' },
      watch: { type: 'boolean', default: false },
      label: { type: 'string' },
      profile: { type: 'string' },
      meta: { type: 'string', multiple: true, default: [] },
      'snapshot-every': { type: 'string' },
      'keep-snapshots': { type: 'string' },
      'wal-dir': { type: 'string' },
      'health-port': { type: 'string' },
      'health-host': { type: 'string', default: '127.0.0.1' },
      nats: { type: 'string' },
    },
  });
  if (!values.schema || !values.input) throw new UsageError('produce needs --schema and --input');
  const inputPath = values.input;
  if (values['on-invalid'] !== 'skip' && values['on-invalid'] !== 'stop')
    throw new UsageError('--on-invalid is skip or stop');
  if (values.format && !['ndjson', 'json', 'csv', 'msgpack'].includes(values.format))
    throw new UsageError(`unknown --format ${values.format}`);
  const about = versionMetadataArgs(values.label, values.meta);
  if (about.label !== undefined && /^[0-9]+$/.test(about.label))
    log.write(
      'warn',
      'digit-label',
      `shoal: warning: --label ${about.label} is all digits, which --version, --pin and diff read as a version number: name it as label:${about.label} there`,
      { label: about.label },
    );
  const format = values.format as InputFormat | undefined;
  const maxShrink = share(values['max-shrink']);
  const schema = await readSchema(values.schema);
  const snapshotEvery = count('snapshot-every', values['snapshot-every']);
  const keepSnapshots = count('keep-snapshots', values['keep-snapshots']);
  const healthPort =
    values['health-port'] === undefined ? undefined : parsePort('--health-port', values['health-port']);
  // The files and their types are checked before the producer opens: a mistake there is usage.
  const files = async () => {
    const { files: list, skipped } = await inputFiles(inputPath).catch((e: unknown) =>
      rethrowAsFileError(`--input ${inputPath}`, e),
    );
    const types = fileTypes(list, schema, { type: values.type, typeOf: values['type-of'], format });
    return { list, skipped, types };
  };
  const { skipped } = await files();
  // Said once, not on every change watched: a file of the directory that is not input.
  if (skipped.length > 0)
    log.write(
      'warn',
      'skipped-files',
      `shoal: --input ${inputPath}: not reading ${skipped.join(', ')} (input files end in .ndjson, .jsonl, .json, .csv, .msgpack or .mp)`,
      { input: inputPath, skipped },
    );
  const profile = parseProfile(values.profile);
  const store = await openStore(values.store);
  const announcer = await natsAnnouncer(values.nats, store, values.namespace, log);
  const producer = await Producer.open({
    store,
    ...(announcer ? { announcer } : {}),
    namespace: values.namespace,
    schema,
    validators: guards(maxShrink, values['allow-shrink']),
    ...(values['wal-dir'] ? { walDir: values['wal-dir'] } : {}),
    ...(snapshotEvery ? { snapshotEvery } : {}),
    ...(keepSnapshots ? { keepSnapshots } : {}),
    ...(profile !== undefined ? { profile } : {}),
  });
  const health =
    healthPort !== undefined
      ? await serveProducerHealth(producer, { port: healthPort, host: values['health-host'] })
      : undefined;
  if (health) log.write('info', 'health', `shoal: health on ${health.url}`, { url: health.url });
  /** This command's cycle while it runs: its version once started, the types it re-states. */
  let cycling: { version?: number; restated: readonly string[] | 'all'; large: boolean } | undefined;
  const out = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
  producer.on('cycle:start', (e) => {
    if (!cycling) return;
    cycling.version = e.version;
    // An input large enough to report reading progress reports the cycle's start too.
    if (cycling.large) {
      log.write('info', 'publishing', `shoal: publishing version ${e.version}`, { version: e.version });
    }
  });
  producer.on('cycle:success', (e) =>
    out({
      event: 'published',
      version: e.version,
      ...(e.label !== undefined ? { label: e.label } : {}),
      ...(Object.keys(e.metadata).length > 0 ? { metadata: e.metadata } : {}),
      snapshot: e.snapshot,
      counts: e.counts,
      ...(cycling ? { restated: cycling.restated } : {}),
      ms: Math.round(e.durationMs),
    }),
  );
  producer.on('cycle:skip', (e) => {
    // A label names a version; with no version made, it names nothing: say so rather than drop it.
    const labelled = about.label !== undefined || Object.keys(about.metadata ?? {}).length > 0;
    if (labelled) {
      const what = about.label !== undefined ? `--label ${about.label}` : '--meta';
      log.write(
        'warn',
        'not-labelled',
        `shoal: warning: ${what} not applied: no version was made (${e.reason}: the input is what is announced)`,
        { ...(about.label !== undefined ? { label: about.label } : {}), reason: e.reason },
      );
    }
    out({
      event: 'skipped',
      reason: e.reason,
      ...(about.label !== undefined ? { label: about.label } : {}),
      ...(labelled ? { labelled: false } : {}),
    });
  });
  /** This command's own failed cycle, for the one line that reports it. */
  let ownFailure: { version: number; stage: string; durationMs: number } | undefined;
  producer.on('cycle:failure', (e) => {
    // The failure of this command's own cycle is reported once, by whoever awaits it.
    if (cycling) ownFailure = { version: e.version, stage: e.stage, durationMs: Math.round(e.durationMs) };
    else {
      log.write(
        'error',
        'cycle-failed',
        `shoal: cycle failed at ${e.stage}: ${failureLine(e.error).slice('shoal: '.length)}`,
        { version: e.version, stage: e.stage, code: e.error.code, durationMs: Math.round(e.durationMs) },
      );
    }
  });
  const report = (e: unknown) => {
    const cycle = ownFailure;
    ownFailure = undefined;
    log.write('error', 'failed', failureLine(e), {
      ...(isShoalError(e) ? { code: e.code } : {}),
      ...(cycle ?? {}),
    });
  };
  producer.on('warning', (e) =>
    log.write(
      'warn',
      'warning',
      `shoal: warning: ${e.message}`,
      isShoalError(e.error) ? { code: e.error.code } : {},
    ),
  );
  const onSignal = () => {
    if (!cycling) return;
    const which = cycling.version === undefined ? 'the version' : `version ${cycling.version}`;
    log.write(
      'warn',
      'signal',
      `shoal: ${String(signal.reason)}: finishing ${which} first (send it again to exit at once)`,
      {
        signal: String(signal.reason),
        ...(cycling.version !== undefined ? { version: cycling.version } : {}),
      },
    );
  };
  signal.addEventListener('abort', onSignal, { once: true });

  const publish = async (): Promise<Outcome> => {
    const { list, types } = await files();
    let input: Awaited<ReturnType<typeof readInput>>;
    try {
      input = await readInput(list, {
        schema,
        fileTypes: types,
        ...(format ? { format } : {}),
        signal,
        onProgress: (n) =>
          log.write('info', 'progress', `shoal: read ${n.toLocaleString('en')} records`, { records: n }),
      });
    } catch (e) {
      if (signal.aborted) return 'interrupted';
      // A file that is missing or unreadable (the reader reports everything inside a file).
      rethrowAsFileError(`--input ${inputPath}`, e);
    }
    const { records, problems } = input;
    for (const p of problems) {
      log.write('warn', 'invalid-record', `${p.file}:${p.line}: ${p.message}`, {
        file: p.file,
        line: p.line,
        code: 'INVALID_RECORD',
      });
    }
    if (signal.aborted) return 'interrupted';
    if (problems.length > 0 && values['on-invalid'] === 'stop') {
      log.write(
        'error',
        'refused',
        `shoal: INVALID_RECORD: ${problems.length} invalid record(s); nothing published. Fix them, or pass --on-invalid skip.`,
        { code: 'INVALID_RECORD', records: problems.length },
      );
      return 'refused';
    }
    if (records.length === 0 && !values['allow-empty']) {
      log.write(
        'error',
        'refused',
        `shoal: EMPTY_INPUT: ${inputPath} holds no records; nothing published. Pass --allow-empty to publish it anyway.`,
        { code: 'EMPTY_INPUT' },
      );
      return 'refused';
    }
    const named = new Set([...records.map((r) => r.type), ...types.values()]);
    const restated = values['replace-all']
      ? undefined
      : schema.types.map((t) => t.name).filter((name) => named.has(name));
    cycling = { restated: restated ?? 'all', large: records.length >= PROGRESS_EVERY };
    try {
      await producer.runCycle(
        (w) => {
          for (const r of records) w.add(r.type, r.record);
        },
        { ...about, ...(restated ? { types: restated } : {}) },
      );
    } finally {
      cycling = undefined;
    }
    return 'done';
  };

  let code = 0;
  const lost = new AbortController();
  try {
    const first = await publish();
    if (first === 'interrupted') {
      log.write(
        'warn',
        'interrupted',
        `shoal: ${String(signal.reason)}: stopped before publishing; nothing published`,
        {
          signal: String(signal.reason),
        },
      );
      return signalExit(signal.reason);
    }
    // Watching, a refused input is fixed by the next change; only a one-shot run fails by it.
    if (first === 'refused' && !values.watch) code = 1;
    if (values.watch && !signal.aborted) {
      let timer: NodeJS.Timeout | undefined;
      let running = Promise.resolve();
      const watcher = watch(inputPath, {
        ignoreInitial: true,
        awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 },
      });
      watcher.on('all', () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          running = running.then(() =>
            publish().then(
              () => {},
              (e) => {
                report(e);
                // Another producer owns the namespace now: stop, and say so with the exit code.
                if (isShoalError(e, 'ANNOUNCE_CONFLICT')) lost.abort();
              },
            ),
          );
        }, 100);
      });
      await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
      log.write('info', 'watching', `shoal: watching ${inputPath}`, { input: inputPath });
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => resolve(), { once: true });
        lost.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      clearTimeout(timer);
      await watcher.close();
      await running;
      if (lost.signal.aborted) code = 1;
    }
  } catch (e) {
    if (!isShoalError(e)) throw e;
    report(e);
    code = 1;
  } finally {
    signal.removeEventListener('abort', onSignal);
    await producer.close();
    await announcer?.close();
    await health?.close();
  }
  return code;
}

/** `--nats <url>`: servers the announcement is also put to (a `NatsAnnouncer`); none without it. */
async function natsAnnouncer(servers: string | undefined, store: BlobStore, namespace: string, log: CliLog) {
  if (servers === undefined) return undefined;
  const list = natsServers(servers);
  const { NatsAnnouncer } = await import('../nats.ts');
  return new NatsAnnouncer({
    store,
    namespace,
    servers: list,
    onError: (e) => log.write('warn', 'nats', `shoal: ${e.message}`, { code: e.code }),
  });
}

/** The servers a `--nats` flag names: comma-separated `nats://host:port` URLs. */
export function natsServers(spec: string): string[] {
  const list = spec.split(',').map((s) => s.trim());
  for (const s of list) {
    let url: URL | undefined;
    try {
      url = new URL(s);
    } catch {}
    if (!url || !['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol) || !url.hostname)
      throw new UsageError(`--nats ${spec}: give NATS servers as nats://host:port, comma-separated`);
  }
  return list;
}
