/**
 * A state past 4 GiB (`npm run bench -- --section big`; not in the default run, which CI
 * makes): a type whose bytes field holds 1 MiB a record, SHOAL_BIG_GIB GiB in all (default 5).
 * A producer publishes it to the filesystem store in one child process, and a consumer loads
 * it in another (so neither is measured on memory the other holds); the consumer reads every
 * record back and checks it byte for byte against what the producer wrote, and the SHA-256 of
 * all the data against the producer's. On Node 20 the producer stops at once with the
 * BLOB_TOO_LARGE it gets, and that is what the section prints. SHOAL_BIG_ALSO_NODE=<node
 * binary> also runs the consumer phase under that node against the same blob (to show Node
 * 20's refusal of a blob it cannot hold).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_BLOB_BYTES } from '../src/format/blob-size.ts';
import { Consumer, FsBlobStore, isShoalError, NamespaceLayout, Producer, t } from '../src/index.ts';
import { ms, type Row, ratio, table } from './harness.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const VALUE = MiB;
/** Values are windows of one pseudo-random pool at distinct offsets, so the input is small. */
const POOL = 64 * MiB;

const Blob = t.object('Blob', { id: t.int(), data: t.bytes() }, { primaryKey: 'id' });
const schema = t.schema([Blob]);

/** The pool every value is cut from (xorshift32, the same in every process). */
function pool(): Uint8Array {
  const words = new Uint32Array((POOL + VALUE) / 4);
  let x = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}

/** Record i's data: 1 MiB of the pool from an offset only it has. */
const dataOf = (bytes: Uint8Array, i: number): Uint8Array => {
  const at = ((i * 4_099 * 8) % POOL) + (i % 8);
  return bytes.subarray(at, at + VALUE);
};

const rss = (): number => process.memoryUsage().rss;
const gib = (n: number): string => `${(n / GiB).toFixed(2)} GiB`;
const perSecond = (bytes: number, millis: number): string =>
  `${(bytes / GiB / (millis / 1000)).toFixed(2)} GiB/s`;

interface Failure {
  readonly error: { code?: string; message: string };
}
interface Produced {
  readonly records: number;
  readonly dataBytes: number;
  readonly sha256: string;
  readonly buildMs: number;
  readonly blobBytes: number;
  readonly peakRss: number;
}
interface Consumed {
  readonly loadMs: number;
  readonly readMs: number;
  readonly checked: number;
  readonly mismatched: number;
  readonly sha256: string;
  readonly stateBytes: number;
  readonly rssLoaded: number;
  readonly peakRss: number;
  readonly readRssDelta: number;
}

async function produce(dir: string, records: number): Promise<Produced> {
  const bytes = pool();
  let peak = rss();
  const sample = setInterval(() => {
    peak = Math.max(peak, rss());
  }, 50);
  const producer = await Producer.open({
    store: new FsBlobStore({ dir: join(dir, 'store') }),
    namespace: 'big',
    schema,
    walDir: join(dir, 'wal'),
    // Built on this thread: a worker's state lives on SharedArrayBuffers, one more copy.
    cycleThread: 'main',
  });
  try {
    const start = performance.now();
    const result = await producer.runCycle((w) => {
      for (let i = 0; i < records; i++) w.add('Blob', { id: i, data: dataOf(bytes, i) });
    });
    const buildMs = performance.now() - start;
    peak = Math.max(peak, rss());
    if (result.outcome !== 'published') throw new Error(`the cycle did not publish (${result.outcome})`);
    const blob = await stat(join(dir, 'store', new NamespaceLayout('big').snapshot(result.version)));
    const hash = createHash('sha256');
    for (let i = 0; i < records; i++) hash.update(dataOf(bytes, i));
    return {
      records,
      dataBytes: records * VALUE,
      sha256: hash.digest('hex'),
      buildMs,
      blobBytes: blob.size,
      peakRss: peak,
    };
  } finally {
    clearInterval(sample);
    await producer.close();
  }
}

async function consume(dir: string, records: number): Promise<Consumed> {
  const bytes = pool();
  let peak = rss();
  const sample = setInterval(() => {
    peak = Math.max(peak, rss());
  }, 50);
  const start = performance.now();
  const consumer = await Consumer.open({
    store: new FsBlobStore({ dir: join(dir, 'store') }),
    namespace: 'big',
    schema,
  });
  try {
    const loadMs = performance.now() - start;
    const rssLoaded = rss();
    const type = consumer.state.type('Blob');
    const hash = createHash('sha256');
    let mismatched = 0;
    let checked = 0;
    const readStart = performance.now();
    for (let i = 0; i < records; i++) {
      const data = type.get(i)?.data;
      if (!data) {
        mismatched++;
        continue;
      }
      hash.update(data);
      if (Buffer.compare(data, dataOf(bytes, i)) !== 0) mismatched++;
      checked++;
    }
    const readMs = performance.now() - readStart;
    peak = Math.max(peak, rss());
    return {
      loadMs,
      readMs,
      checked,
      mismatched,
      sha256: hash.digest('hex'),
      stateBytes: consumer.state.byteLength,
      rssLoaded,
      peakRss: peak,
      readRssDelta: rss() - rssLoaded,
    };
  } finally {
    clearInterval(sample);
    await consumer.close();
  }
}

/** Runs one phase in a child process of `node` (this one by default); its JSON result. */
function phase<T>(name: string, dir: string, records: number, node = process.execPath): T | Failure {
  const child = spawnSync(
    node,
    [...process.execArgv, fileURLToPath(import.meta.url), name, dir, String(records)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 16 * MiB,
    },
  );
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as T | Failure;
  } catch {
    throw new Error(`the ${name} phase failed (exit ${child.status}): ${child.stdout.slice(-2000)}`);
  }
}

const failed = (r: object): r is Failure => 'error' in r;

/** The section: produce in one child, consume in another, print the figures. */
export async function bigBench(dir: string): Promise<void> {
  const size = Number(process.env.SHOAL_BIG_GIB ?? '5');
  if (!(size > 0)) throw new Error('SHOAL_BIG_GIB must be a positive number of GiB');
  const records = Math.round((size * GiB) / VALUE);
  console.log(
    `# big state — node ${process.version}, ${records.toLocaleString('en')} records of 1 MiB (${gib(records * VALUE)}); one buffer holds ${MAX_BLOB_BYTES > 2 ** 40 ? 'past 4 GiB (2^53 - 1 bytes)' : `at most ${gib(MAX_BLOB_BYTES)}`} here`,
  );
  const produced = phase<Produced>('produce', dir, records);
  if (failed(produced)) {
    table(`Big state (${gib(records * VALUE)}) on Node ${process.versions.node}`, [
      ['produce', produced.error.code ?? 'error', '', 'BLOB_TOO_LARGE below Node 22'],
    ]);
    console.log(`\n${produced.error.code}: ${produced.error.message}`);
    return;
  }
  const consumed = phase<Consumed>('consume', dir, records);
  if (failed(consumed))
    throw new Error(`the consumer failed: ${consumed.error.code} ${consumed.error.message}`);
  const ok = consumed.mismatched === 0 && consumed.checked === records && consumed.sha256 === produced.sha256;
  const rows: Row[] = [
    ['snapshot blob', gib(produced.blobBytes), ratio(produced.blobBytes / produced.dataBytes), 'vs the data'],
    [
      'produce: build + encode + check + write + announce',
      ms(produced.buildMs),
      perSecond(produced.dataBytes, produced.buildMs),
    ],
    ['producer peak RSS', gib(produced.peakRss), ratio(produced.peakRss / produced.blobBytes), 'vs the blob'],
    [
      'consumer: open (read + decode + swap)',
      ms(consumed.loadMs),
      perSecond(produced.blobBytes, consumed.loadMs),
    ],
    [
      'consumer RSS after load',
      gib(consumed.rssLoaded),
      ratio(consumed.rssLoaded / produced.blobBytes),
      'vs the blob',
    ],
    ['consumer peak RSS', gib(consumed.peakRss), ratio(consumed.peakRss / produced.blobBytes), 'vs the blob'],
    [
      'state bytes (state.byteLength)',
      gib(consumed.stateBytes),
      ratio(consumed.stateBytes / produced.blobBytes),
      'vs the blob',
    ],
    [
      `read every record back (${records.toLocaleString('en')} gets + compare + SHA-256)`,
      ms(consumed.readMs),
      perSecond(produced.dataBytes, consumed.readMs),
      `RSS +${(consumed.readRssDelta / MiB).toFixed(0)} MiB`,
    ],
    [
      'records equal to what was written',
      `${consumed.checked - consumed.mismatched} / ${records}`,
      consumed.sha256 === produced.sha256 ? 'SHA-256 equal' : 'SHA-256 DIFFERS',
      ok ? 'met: all' : 'MISSED',
    ],
  ];
  table(`Big state (${gib(produced.dataBytes)} of bytes) on Node ${process.versions.node}`, rows);
  const also = process.env.SHOAL_BIG_ALSO_NODE;
  if (also) {
    const other = phase<Consumed>('consume', dir, records, also);
    console.log(
      failed(other)
        ? `\nconsumer under ${also}: ${other.error.code}: ${other.error.message}`
        : `\nconsumer under ${also}: loaded in ${ms(other.loadMs)}, ${other.checked - other.mismatched} / ${records} records equal`,
    );
  }
  if (!ok) throw new Error('the big state did not read back as written');
}

// A phase, when this file is run as a child by `phase`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [name, dir, count] = process.argv.slice(2) as [string, string, string];
  try {
    const out = name === 'produce' ? await produce(dir, Number(count)) : await consume(dir, Number(count));
    console.log(JSON.stringify(out));
  } catch (e) {
    if (!isShoalError(e)) throw e;
    console.log(JSON.stringify({ error: { code: e.code, message: e.message } }));
  }
}
