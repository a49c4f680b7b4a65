/**
 * Untrusted bytes: every crafted blob (CRCs recomputed, so the envelope passes) decodes to a
 * `ShoalError` with a code, within bounded memory and time, or to exactly the records written;
 * never a plain TypeError/RangeError, a hang, an abort or a wrong record.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { msgpack } from '../src/format/msgpack.ts';
import {
  type AnyState,
  applyDelta,
  Consumer,
  decodeSnapshot,
  encodeDelta,
  encodeSnapshot,
  encodeVersionHeader,
  FsBlobStore,
  isShoalError,
  MemoryBlobStore,
  NamespaceLayout,
  Producer,
  planFromSnapshot,
  StateBuilder,
  StoreAnnouncer,
  t,
} from '../src/index.ts';
import { dataset, expected, keyOf } from './support/arbitraries.ts';
import { type Header, section, tamper } from './support/blob-surgery.ts';
import { craftedCases, schema } from './support/crafted-blobs.ts';

const codeOf = (run: () => unknown): string => {
  try {
    run();
  } catch (e) {
    if (isShoalError(e)) return e.code;
    return `not a ShoalError: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`;
  }
  return 'no error';
};

describe('crafted blobs', () => {
  for (const c of craftedCases()) {
    it(`${c.name}: ${c.code}`, () => {
      expect(codeOf(c.run)).toBe(c.code);
    });
  }

  it('each case within a few MB of memory, in a child process', async () => {
    const tsx = pathToFileURL(join(import.meta.dirname, '../node_modules/tsx/dist/loader.mjs')).href;
    const cases = pathToFileURL(join(import.meta.dirname, 'support/crafted-blobs.ts')).href;
    const script = `
      const { craftedCases } = await import(${JSON.stringify(cases)});
      const out = [];
      for (const c of craftedCases()) {
        globalThis.gc?.();
        const before = process.memoryUsage().rss;
        const peakBefore = process.resourceUsage().maxRSS * 1024;
        let code = 'no error';
        const start = performance.now();
        try { c.run(); } catch (e) { code = e?.code ?? String(e); }
        out.push({ name: c.name, code, ms: performance.now() - start, grewBy: process.resourceUsage().maxRSS * 1024 - Math.max(peakBefore, before) });
      }
      console.log(JSON.stringify(out));`;
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--expose-gc', '--max-old-space-size=256', '--import', tsx, '--input-type=module', '-e', script],
        { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.on('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`the child exited with ${code}`)),
      );
    });
    const results = JSON.parse(stdout) as { name: string; code: string; ms: number; grewBy: number }[];
    for (const r of results) {
      expect(r.code, r.name).toMatch(/^[A-Z_]+$/);
      // The blobs are a few KB; the peak RSS may grow by what one decode allocates, no more.
      expect(r.grewBy, `${r.name} grew the peak RSS by ${(r.grewBy / 2 ** 20).toFixed(1)} MB`).toBeLessThan(
        16 * 2 ** 20,
      );
    }
  }, 60_000);
});

describe('crafted version headers and announcements', () => {
  const layout = new NamespaceLayout('n');
  const state = new StateBuilder(schema).build({ version: 5 });
  const header = (over: Record<string, unknown>) =>
    encodeVersionHeader({
      version: 5,
      tag: state.tag,
      checksum: state.checksum,
      snapshot: 5,
      bytes: { snapshot: 10 },
      counts: {},
      publishedAt: 0,
      producer: 't',
      ...over,
    } as never);
  const codeOfAsync = async (run: () => Promise<unknown>) => {
    try {
      await run();
      return 'no error';
    } catch (e) {
      return isShoalError(e) ? e.code : `not a ShoalError: ${(e as Error).message}`;
    }
  };

  it('a header whose previous is itself or points forward: BLOB_CORRUPT, no loop', async () => {
    const store = new MemoryBlobStore();
    await store.put(layout.header(5), header({ previous: 5, snapshot: 3 }));
    expect(await codeOfAsync(() => planFromSnapshot(store, layout, 5))).toBe('BLOB_CORRUPT');
    // A two-header cycle: 6 → 5 → 6.
    await store.put(layout.header(6), header({ version: 6, previous: 5, snapshot: 3 }));
    await store.put(layout.header(5), header({ previous: 6, snapshot: 3 }));
    expect(await codeOfAsync(() => planFromSnapshot(store, layout, 6))).toBe('BLOB_CORRUPT');
  });

  it('a header without byte sizes, or stored under another version: BLOB_CORRUPT', async () => {
    const store = new MemoryBlobStore();
    await store.put(
      layout.header(5),
      msgpack.pack({ version: 5, tag: 1n, checksum: 1n, snapshot: 5, counts: {} }),
    );
    expect(await codeOfAsync(() => planFromSnapshot(store, layout, 5))).toBe('BLOB_CORRUPT');
    await store.put(layout.header(7), header({}));
    expect(await codeOfAsync(() => planFromSnapshot(store, layout, 7))).toBe('BLOB_CORRUPT');
  });

  it('an announcement of version -5: BLOB_CORRUPT; a consumer opening it rejects with it', async () => {
    const store = new MemoryBlobStore();
    await store.put(layout.announced, msgpack.pack({ version: -5 }));
    expect(await codeOfAsync(() => new StoreAnnouncer({ store, namespace: 'n' }).read())).toBe(
      'BLOB_CORRUPT',
    );
    expect(await codeOfAsync(() => Consumer.open({ store, namespace: 'n', watch: false }))).toBe(
      'BLOB_CORRUPT',
    );
  });

  it('a header published at 1e300 ms: BLOB_CORRUPT (no RangeError from a Date)', async () => {
    const store = new MemoryBlobStore();
    await store.put(layout.header(5), header({ publishedAt: 1e300 }));
    expect(await codeOfAsync(() => planFromSnapshot(store, layout, 5))).toBe('BLOB_CORRUPT');
  });

  it('a pin that is not a version: INVALID_OPTION, from open and from refreshTo', async () => {
    const store = new MemoryBlobStore();
    for (const pin of [-5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(await codeOfAsync(() => Consumer.open({ store, namespace: 'n', watch: false, pin }))).toBe(
        'INVALID_OPTION',
      );
    }
  });

  it('a consumer meeting a self-referencing header rejects instead of looping', async () => {
    const store = new MemoryBlobStore();
    await store.put(layout.header(5), header({ previous: 5, snapshot: 3 }));
    await store.put(layout.announced, msgpack.pack({ version: 5, publishedAt: 0, producer: 't' }));
    expect(await codeOfAsync(() => Consumer.open({ store, namespace: 'n', watch: false }))).toBe(
      'BLOB_CORRUPT',
    );
  });
});

/** One mutation of a blob: a body byte, a number in the header, or two section ids swapped. */
type Mutation =
  | { readonly kind: 'byte'; readonly at: number; readonly value: number }
  | { readonly kind: 'number'; readonly at: number; readonly value: number }
  | { readonly kind: 'swap'; readonly a: number; readonly b: number };

const INTERESTING = [0, 1, -1, 7, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32 - 1, 2 ** 32 + 1024, 2 ** 40, 0.5];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('number' as const), at: fc.nat(), value: fc.constantFrom(...INTERESTING) }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
);

/** Paths of the numbers in a header's type descriptors (where sizes, ids and counts live). */
function numberPaths(value: unknown, path: (string | number)[] = [], out: (string | number)[][] = []) {
  if (typeof value === 'number') out.push(path);
  else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) numberPaths(value[i], [...path, i], out);
  } else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) numberPaths(v, [...path, k], out);
  return out;
}

function setAt(root: Header, path: (string | number)[], value: unknown) {
  let o = root;
  for (const k of path.slice(0, -1)) o = o[k];
  o[path.at(-1)!] = value;
}

function mutate(bytes: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  return tamper(bytes, (blob) => {
    for (const m of ms) {
      if (m.kind === 'byte') {
        if (blob.body.length > 0) blob.body[m.at % blob.body.length] = m.value;
      } else if (m.kind === 'number') {
        const paths = numberPaths(blob.header.types, ['types']);
        if (paths.length > 0) setAt(blob.header, paths[m.at % paths.length]!, m.value);
      } else {
        const ids = numberPaths(blob.header.types, ['types']).filter((p) =>
          ['data', 'starts', 'offsets', 'populated', 'index', 'ghosts', 'removed', 'added'].includes(
            String(p.at(-1)),
          ),
        );
        if (ids.length >= 2) {
          const pa = ids[m.a % ids.length]!;
          const pb = ids[m.b % ids.length]!;
          let va: Header = blob.header;
          for (const k of pa) va = va[k];
          let vb: Header = blob.header;
          for (const k of pb) vb = vb[k];
          setAt(blob.header, pa, vb);
          setAt(blob.header, pb, va);
        }
      }
    }
  });
}

/** The builder with the records `pick(index, count)` chooses of each type upserted. */
function withRecords(
  b: StateBuilder,
  records: Record<string, unknown>[][],
  pick: (j: number, n: number) => boolean,
): StateBuilder {
  b.schema.types.forEach((t, i) => {
    const rs = records[i]!;
    rs.forEach((r, j) => {
      if (pick(j, rs.length)) b.upsert(t.name, r as never);
    });
  });
  return b;
}

/** Every record of `state` as `expected` gives it, keyed; and lookups by key agree. */
function readAll(state: AnyState): string {
  const out: string[] = [];
  for (const t of state.types) {
    for (const v of t)
      out.push(
        `${t.name}:${JSON.stringify(v.toObject(), (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? [...x] : x))}`,
      );
  }
  return out.sort().join('\n');
}

describe('mutated blobs against the records written', () => {
  const tally = { runs: 0, refused: 0, intact: 0 };

  it('a snapshot decoded with verify: a ShoalError, or exactly the records written', () => {
    fc.assert(
      fc.property(
        dataset(40),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        ({ schema: s, records }, ms) => {
          const state = withRecords(new StateBuilder(s), records, () => true).build({ version: 1 });
          const want = readAll(state);
          const bytes = mutate(encodeSnapshot(state), ms);
          tally.runs++;
          let got: AnyState;
          try {
            got = decodeSnapshot(bytes, { verify: true });
          } catch (e) {
            expect(isShoalError(e), String(e)).toBe(true);
            tally.refused++;
            return;
          }
          expect(readAll(got)).toBe(want);
          s.types.forEach((t, i) => {
            if (t.primaryKey.length === 0) return;
            for (const r of records[i]!)
              expect(
                got
                  .type(t.name)
                  .get(keyOf(s, t.name, r) as never)
                  ?.toObject(),
              ).toEqual(expected(s, t.name, r));
          });
          tally.intact++;
        },
      ),
      { numRuns: 300, seed: 0xb10b },
    );
    // Each mutation either changed nothing a reader sees or was refused; most are refused.
    expect(tally.refused).toBeGreaterThan(tally.runs / 2);
  });

  it('a delta applied: a ShoalError, or exactly the next records', () => {
    const t2 = { runs: 0, refused: 0 };
    fc.assert(
      fc.property(
        dataset(40),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        ({ schema: s, records }, ms) => {
          // The first half of each type's records, then the second half upserted.
          const firstHalf = (j: number, n: number) => j < Math.ceil(n / 2);
          const v1 = withRecords(new StateBuilder(s), records, firstHalf).build({ version: 1 });
          const v2 = withRecords(StateBuilder.from(v1), records, (j, n) => !firstHalf(j, n)).build({
            version: 2,
          });
          const bytes = mutate(encodeDelta(v1, v2), ms);
          t2.runs++;
          let got: AnyState;
          try {
            got = applyDelta(v1, bytes);
          } catch (e) {
            expect(isShoalError(e), String(e)).toBe(true);
            t2.refused++;
            return;
          }
          expect(readAll(got)).toBe(readAll(v2));
        },
      ),
      { numRuns: 300, seed: 0xde17a },
    );
    console.log(
      `mutations: snapshots ${tally.runs} run, ${tally.refused} refused with a code, ${tally.intact} read back intact; deltas ${t2.runs} run, ${t2.refused} refused, ${t2.runs - t2.refused} intact`,
    );
  });
});

describe('a consumer meeting a blob that does not fit', () => {
  it('routes around a delta from another namespace (DELTA_ORIGIN_MISMATCH) to the snapshot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-foreign-'));
    try {
      const store = new FsBlobStore({ dir: join(dir, 'store') });
      const Item = t.object('Item', { id: t.int(), v: t.string() }, { primaryKey: 'id' });
      const open = (namespace: string) =>
        Producer.open({
          store,
          namespace,
          schema: t.schema([Item]),
          walDir: join(dir, `wal-${namespace}`),
          fsync: false,
          snapshotEvery: 1,
          cycleThread: 'main',
        });
      const a = await open('a');
      const b = await open('b');
      await a.runCycle((w) => w.add('Item', { id: 1, v: 'a1' }));
      await b.runCycle((w) => w.add('Item', { id: 1, v: 'b1' }));
      const consumer = await Consumer.open({ store, namespace: 'a', watch: false });
      const a1 = a.version!;
      const b1 = b.version!;
      await a.runCycle((w) => w.add('Item', { id: 1, v: 'a2' }));
      await b.runCycle((w) => w.add('Item', { id: 1, v: 'b2' }));
      // Namespace a's delta replaced by b's (a bad copy between buckets).
      const la = new NamespaceLayout('a');
      const lb = new NamespaceLayout('b');
      await store.delete(la.delta(a1, a.version!));
      await store.put(la.delta(a1, a.version!), await store.get(lb.delta(b1, b.version!)));
      const failures: string[] = [];
      consumer.on('blob:failure', (e) => failures.push(e.error.code));
      await consumer.refresh();
      expect(consumer.version).toBe(a.version);
      expect(consumer.state.type('Item').get(1)?.v).toBe('a2');
      expect(failures).toEqual(['DELTA_ORIGIN_MISMATCH']);
      await consumer.close();
      await a.close();
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a consumer with verifySnapshots', () => {
  it('refuses a snapshot whose index was tampered with, which structure alone lets through', async () => {
    const store = new MemoryBlobStore();
    const Item = t.object('Item', { id: t.int(), v: t.string() }, { primaryKey: 'id' });
    const dir = await mkdtemp(join(tmpdir(), 'shoal-verify-'));
    try {
      const producer = await Producer.open({
        store,
        namespace: 'n',
        schema: t.schema([Item]),
        walDir: join(dir, 'wal'),
        fsync: false,
        cycleThread: 'main',
      });
      await producer.runCycle((w) => {
        for (let i = 0; i < 100; i++) w.add('Item', { id: i, v: `v${i}` });
      });
      const key = new NamespaceLayout('n').snapshot(producer.version!);
      await producer.close();
      const tampered = tamper(await store.get(key), (b) => {
        const index = section(b, b.header.types[0].index, Uint32Array);
        const live = [...index.keys()].filter((s) => index[s] !== 0 && index[s] !== 0xffffffff);
        const [x, y] = [live[0]!, live[live.length - 1]!];
        [index[x], index[y]] = [index[y]!, index[x]!];
      });
      await store.delete(key);
      await store.put(key, tampered);
      await expect(
        Consumer.open({ store, namespace: 'n', watch: false, verifySnapshots: true }),
      ).rejects.toMatchObject({
        code: 'BLOB_CORRUPT',
      });
      const trusting = await Consumer.open({ store, namespace: 'n', watch: false });
      expect(trusting.state.type('Item').size).toBe(100);
      await trusting.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
