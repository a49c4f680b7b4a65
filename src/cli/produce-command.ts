/**
 * `shoal produce`: publish the input as versions of a namespace. Once, or with `--watch` on
 * every change of the input (debounced). Prints one JSON line per cycle on stdout; reports
 * bad records (file:line) and progress on stderr.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { watch } from 'chokidar';
import {
  type BlobStore,
  FsBlobStore,
  fromJSON,
  isShoalError,
  Producer,
  type Schema,
  ShoalError,
} from '../index.ts';
import { serveProducerHealth } from '../observability.ts';
import { failureLine, rethrowAsFileError } from './cli-errors.ts';
import { type InputFormat, inputFiles, readInput } from './input-reader.ts';

export const PRODUCE_USAGE = `  produce --schema <file.json> --input <file | dir | -> [options]
      publish the input as a new version of a namespace (again on each change with --watch)
      --store <dir | s3://bucket/prefix>   where blobs go (default ./shoal-data)
      --namespace <name>                   (default "default")
      --type <name>                        type of plain records (default: the schema's only type)
      --format <ndjson|json|csv|msgpack>   (default: from the file extension, else ndjson)
      --on-invalid <skip|stop>             bad records: report and skip them, or stop (default stop)
      --watch                              publish again whenever the input changes
      --snapshot-every <n>                 a snapshot every n versions (default 10)
      --keep-snapshots <n>                 retention (default 5)
      --wal-dir <dir>                      write-ahead log directory (default .shoal/wal/<namespace>)
      --health-port <port>                 serve /healthz, /readyz, /metrics, /status on 127.0.0.1
      --health-host <host>                 the address to bind the health server (default 127.0.0.1)
`;

/** A usage mistake: exit code 2. */
export class UsageError extends Error {}

/** The store a `--store` flag names: a directory, or `s3://bucket/prefix`. */
export async function openStore(spec: string): Promise<BlobStore> {
  if (!spec.startsWith('s3://')) return new FsBlobStore({ dir: spec });
  const url = URL.canParse(spec) ? new URL(spec) : undefined;
  if (!url?.hostname) throw new UsageError(`--store ${spec} is not of the form s3://<bucket>[/<prefix>]`);
  const { S3BlobStore } = await import('../s3.ts');
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return new S3BlobStore({
    bucket: url.hostname,
    prefix: url.pathname.replace(/^\/+|\/+$/g, ''),
    clientOptions: {
      region: process.env.AWS_REGION ?? 'us-east-1',
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: process.env.SHOAL_S3_PATH_STYLE === '1' || endpoint !== undefined,
    },
  });
}

const count = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} needs a whole number, got "${v}"`);
  return n;
};

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

export async function produceCommand(args: string[], signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      schema: { type: 'string' },
      input: { type: 'string' },
      store: { type: 'string', default: './shoal-data' },
      namespace: { type: 'string', default: 'default' },
      type: { type: 'string' },
      format: { type: 'string' },
      'on-invalid': { type: 'string', default: 'stop' },
      watch: { type: 'boolean', default: false },
      'snapshot-every': { type: 'string' },
      'keep-snapshots': { type: 'string' },
      'wal-dir': { type: 'string' },
      'health-port': { type: 'string' },
      'health-host': { type: 'string', default: '127.0.0.1' },
    },
  });
  if (!values.schema || !values.input) throw new UsageError('produce needs --schema and --input');
  if (values['on-invalid'] !== 'skip' && values['on-invalid'] !== 'stop')
    throw new UsageError('--on-invalid is skip or stop');
  if (values.format && !['ndjson', 'json', 'csv', 'msgpack'].includes(values.format))
    throw new UsageError(`unknown --format ${values.format}`);
  const schema = await readSchema(values.schema);
  const snapshotEvery = count('snapshot-every', values['snapshot-every']);
  const keepSnapshots = count('keep-snapshots', values['keep-snapshots']);
  const healthPort = count('health-port', values['health-port']);
  const producer = await Producer.open({
    store: await openStore(values.store),
    namespace: values.namespace,
    schema,
    ...(values['wal-dir'] ? { walDir: values['wal-dir'] } : {}),
    ...(snapshotEvery ? { snapshotEvery } : {}),
    ...(keepSnapshots ? { keepSnapshots } : {}),
  });
  const health =
    healthPort !== undefined
      ? await serveProducerHealth(producer, { port: healthPort, host: values['health-host'] })
      : undefined;
  if (health) process.stderr.write(`shoal: health on ${health.url}\n`);
  const out = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
  producer.on('cycle:success', (e) =>
    out({
      event: 'published',
      version: e.version,
      snapshot: e.snapshot,
      counts: e.counts,
      ms: Math.round(e.durationMs),
    }),
  );
  producer.on('cycle:skip', (e) => out({ event: 'skipped', reason: e.reason }));
  // A failed cycle is reported here, with its stage; the same error then rejects runCycle, and
  // is not printed twice.
  const reported = new WeakSet<object>();
  producer.on('cycle:failure', (e) => {
    reported.add(e.error);
    process.stderr.write(
      `shoal: cycle failed at ${e.stage}: ${failureLine(e.error).slice('shoal: '.length)}\n`,
    );
  });
  const report = (e: unknown) => {
    if (!reported.has(e as object)) process.stderr.write(`${failureLine(e)}\n`);
  };
  producer.on('warning', (e) => process.stderr.write(`shoal: warning: ${e.message}\n`));

  const publish = async (): Promise<boolean> => {
    let input: Awaited<ReturnType<typeof readInput>>;
    try {
      input = await readInput(await inputFiles(values.input!), {
        schema,
        ...(values.type ? { type: values.type } : {}),
        ...(values.format ? { format: values.format as InputFormat } : {}),
        onProgress: (n) => process.stderr.write(`shoal: read ${n.toLocaleString('en')} records\n`),
      });
    } catch (e) {
      // A file that is missing or unreadable (the reader reports everything inside a file).
      rethrowAsFileError(`--input ${values.input}`, e);
    }
    const { records, problems } = input;
    for (const p of problems) process.stderr.write(`${p.file}:${p.line}: ${p.message}\n`);
    if (problems.length > 0 && values['on-invalid'] === 'stop') {
      process.stderr.write(
        `shoal: INVALID_RECORD: ${problems.length} invalid record(s); nothing published. Fix them, or pass --on-invalid skip.\n`,
      );
      return false;
    }
    await producer.runCycle((w) => {
      for (const r of records) w.add(r.type, r.record);
    });
    return true;
  };

  let code = 0;
  const lost = new AbortController();
  try {
    if (!(await publish())) code = 1;
    if (values.watch && !signal.aborted) {
      let timer: NodeJS.Timeout | undefined;
      let running = Promise.resolve();
      const watcher = watch(values.input, {
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
      process.stderr.write(`shoal: watching ${values.input}\n`);
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
    await producer.close();
    await health?.close();
  }
  return code;
}
