/**
 * The real-data suite for one dataset: each release is converted to NDJSON and published with
 * `shoal produce` in its own process, on a filesystem store; then the library reads every
 * version back (from its snapshot, and through the deltas and reverse deltas) and every record
 * is compared with its source, looked up by key, and `shoal diff` between consecutive releases
 * is compared with a diff of the source files. The figures (records, snapshot and delta bytes,
 * the bytes of the records that changed) are printed after the dataset's tests.
 *
 * `SHOAL_REAL_DATA=full` (`npm run real-data`) takes every record; otherwise a subset
 * (`npm test`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyDelta,
  decodeSnapshot,
  FsBlobStore,
  NamespaceLayout,
  type ObjectType,
  type State,
} from '../../src/index.ts';
import {
  type ConvertedRelease,
  keyId,
  keyOf,
  packageDir,
  type RealDataset,
  type Row,
  type Scope,
} from './dataset.ts';
import { figuresTable, type VersionFigures } from './figures.ts';
import { diff, type PrintedTypeDiff, type Published, produce, type Target } from './shoal-cli.ts';
import {
  byKey,
  canonical,
  type KeyChanges,
  keySetDifference,
  sourceDiff,
  writeInput,
} from './source-files.ts';

/** The scope this run takes, from `SHOAL_REAL_DATA`. */
const scope: Scope = process.env.SHOAL_REAL_DATA === 'full' ? 'full' : 'subset';

/**
 * A delta may cost at most the NDJSON bytes of the records it carries (the added and modified
 * ones; for a reverse delta the removed and modified ones as they were), plus
 * {@link DELTA_OVERHEAD_BYTES}. Columns hold no field names and no JSON punctuation, so on
 * these datasets a delta is a quarter to three quarters of those lines; the bound leaves room
 * for format changes, and is still far below a snapshot's size.
 */
const DELTA_BYTES_PER_CHANGED_BYTE = 1;
/** What a delta costs whatever changed: its header (schema, tags, per-type counts) and framing. */
const DELTA_OVERHEAD_BYTES = 16 * 1024;

/** One published release. */
interface Version {
  readonly source: ConvertedRelease;
  readonly published: Published;
  readonly inputBytes: number;
}

/** Records per type of a converted release. */
const countsOf = (source: ConvertedRelease): Record<string, number> =>
  Object.fromEntries([...source.records].map(([type, rows]) => [type, rows.length]));

/** At most `n` items, for failure messages that stay readable. */
const first = <T>(items: readonly T[], n = 5): T[] => items.slice(0, n);

/** Records of a state that differ from the source, per type: counts and the first few. */
function compareRecords(schema: readonly ObjectType[], state: State, source: ConvertedRelease) {
  const out: Record<string, { size: number; mismatched: string[]; extra: string[] }> = {};
  for (const type of schema) {
    const expected = byKey(type, source.records.get(type.name)!);
    const read = new Map<string, Row>();
    for (const view of state.type(type.name)) {
      const row = view.toObject() as Row;
      read.set(keyId(type, keyOf(type, row)), row);
    }
    const mismatched: string[] = [];
    for (const [id, row] of expected) {
      const got = read.get(id);
      if (got === undefined || canonical(got) !== canonical(row))
        mismatched.push(
          `${id}: read ${got === undefined ? 'nothing' : canonical(got)}, source ${canonical(row)}`,
        );
    }
    const extra = [...read.keys()].filter((id) => !expected.has(id));
    out[type.name] = { size: state.type(type.name).size, mismatched: first(mismatched), extra: first(extra) };
  }
  return out;
}

/** What {@link compareRecords} gives when every record reads back. */
function allRecordsMatch(schema: readonly ObjectType[], source: ConvertedRelease) {
  return Object.fromEntries(
    schema.map((type) => [
      type.name,
      { size: source.records.get(type.name)!.length, mismatched: [], extra: [] },
    ]),
  );
}

/**
 * Keys a version does not hold: keys of the other releases that this one lacks, each key
 * with one part changed, and, for composite keys, parts of different records put together
 * (each part exists, the combination does not: what a key index over repeating parts must
 * tell apart).
 */
function absentKeys(type: ObjectType, rows: readonly Row[], others: readonly Row[], present: Set<string>) {
  const keys: unknown[] = [];
  const consider = (key: unknown) => {
    if (!present.has(keyId(type, key)) && keys.length < 60) keys.push(key);
  };
  for (const row of others) {
    if (keys.length >= 20) break;
    consider(keyOf(type, row));
  }
  const changed = (v: unknown) => (typeof v === 'number' ? v + 1_000_000_007 : `${String(v)}~absent`);
  for (let i = 0; i < Math.min(rows.length, 10); i++) {
    const key = keyOf(type, rows[Math.floor((i * rows.length) / 10)]!);
    if (!type.compositeKey) consider(changed(key));
    else
      for (const part of type.primaryKey) consider({ ...(key as Row), [part]: changed((key as Row)[part]) });
  }
  if (type.compositeKey && rows.length > 1) {
    for (let i = 0; i < 400 && keys.length < 60; i++) {
      const mixed: Row = {};
      type.primaryKey.forEach((part, p) => {
        mixed[part] = rows[(i * (7 + 13 * p) + p * 101) % rows.length]![part];
      });
      consider(mixed);
    }
  }
  return keys;
}

/** Registers the dataset's tests; call at the top level of a test file. */
export function describeRealData(dataset: RealDataset): void {
  const types = dataset.schema.types;
  const layout = new NamespaceLayout(dataset.name);
  const versions: Version[] = [];
  const printed: { from: number; to: number; diff: Record<string, PrintedTypeDiff> }[] = [];
  const expectedDiffs: Record<string, KeyChanges>[] = [];
  const blobBytes = new Map<string, number>();
  const timings = { convertMs: 0, produceMs: 0, diffMs: 0 };
  let dir: string;
  let store: FsBlobStore;
  let snapshotStates: State[] | undefined;

  const bytesOf = (key: string) => blobBytes.get(key) ?? Number.NaN;
  const snapshots = async (): Promise<State[]> => {
    snapshotStates ??= await Promise.all(
      versions.map(async (v) =>
        decodeSnapshot(await store.get(layout.snapshot(v.published.version)), { verify: true }),
      ),
    );
    return snapshotStates;
  };

  describe(`${dataset.name} (${dataset.packageName} ${dataset.releases.map((r) => r.version).join(', ')}; ${scope})`, () => {
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `shoal-real-data-${dataset.name}-`));
      const target: Target = {
        storeDir: join(dir, 'store'),
        walDir: join(dir, 'wal'),
        cwd: dir,
        namespace: dataset.name,
      };
      store = new FsBlobStore({ dir: target.storeDir, fsync: false });
      for (const release of dataset.releases) {
        const started = performance.now();
        const source = dataset.convert(packageDir(release.alias), release.version, scope);
        const input = await writeInput(join(dir, release.version), dataset.schema, source);
        timings.convertMs += performance.now() - started;
        const published = await produce(target, input.schemaFile, input.inputDir);
        timings.produceMs += published.processMs;
        versions.push({ source, published, inputBytes: input.bytes });
      }
      const pairs = versions.slice(1).map((v, i) => [versions[i]!, v] as const);
      const started = performance.now();
      printed.push(
        ...(await Promise.all(
          pairs.map(async ([a, b]) => ({
            from: a.published.version,
            to: b.published.version,
            diff: (await diff(target, a.published.version, b.published.version)).diff,
          })),
        )),
      );
      timings.diffMs = performance.now() - started;
      for (const [a, b] of pairs) expectedDiffs.push(sourceDiff(dataset.schema, a.source, b.source));
      for (const key of await store.list(layout.prefix)) blobBytes.set(key, (await store.head(key)).size);
    }, 900_000);

    afterAll(async () => {
      if (versions.length > 0) {
        const figures: VersionFigures[] = versions.map((v, i) => {
          const changes = i > 0 ? expectedDiffs[i - 1] : undefined;
          const prev = versions[i - 1]?.published.version;
          const version = v.published.version;
          return {
            release: v.source.release,
            version,
            counts: countsOf(v.source),
            dropped: v.source.dropped,
            inputBytes: v.inputBytes,
            snapshotBytes: bytesOf(layout.snapshot(version)),
            ...(changes && prev !== undefined
              ? {
                  deltaBytes: bytesOf(layout.delta(prev, version)),
                  reverseBytes: bytesOf(layout.reverse(version, prev)),
                  changes,
                }
              : {}),
          };
        });
        console.log(figuresTable(dataset, scope, figures, timings));
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('publishes each release as a new version with its records, each from its own `shoal produce`', () => {
      expect(versions.map((v) => v.source.release)).toEqual(dataset.releases.map((r) => r.version));
      for (let i = 1; i < versions.length; i++)
        expect(versions[i]!.published.version).toBeGreaterThan(versions[i - 1]!.published.version);
      for (const v of versions) {
        expect(v.published.snapshot).toBe(true);
        expect(v.published.counts).toEqual(countsOf(v.source));
        for (const t of types) expect(v.source.records.get(t.name)!.length, t.name).toBeGreaterThan(0);
      }
    });

    it('reads back every record of every version exactly, from its snapshot', async () => {
      const states = await snapshots();
      states.forEach((state, i) => {
        const v = versions[i]!;
        expect(state.version).toBe(v.published.version);
        expect(state.counts()).toEqual(countsOf(v.source));
        expect(compareRecords(types, state, v.source), v.source.release).toEqual(
          allRecordsMatch(types, v.source),
        );
      });
    });

    it('reaches the same states through the deltas, and back through the reverse deltas', async () => {
      const states = await snapshots();
      let state = states[0]!;
      for (let i = 1; i < versions.length; i++) {
        const [from, to] = [versions[i - 1]!.published.version, versions[i]!.published.version];
        state = applyDelta(state, await store.get(layout.delta(from, to)));
        expect({ version: state.version, checksum: state.checksum }).toEqual({
          version: to,
          checksum: states[i]!.checksum,
        });
        expect(compareRecords(types, state, versions[i]!.source), versions[i]!.source.release).toEqual(
          allRecordsMatch(types, versions[i]!.source),
        );
        const back = applyDelta(states[i]!, await store.get(layout.reverse(to, from)));
        expect({ version: back.version, checksum: back.checksum }).toEqual({
          version: from,
          checksum: states[i - 1]!.checksum,
        });
      }
    });

    it('finds every record by its key, and nothing by keys the version does not hold', async () => {
      const states = await snapshots();
      states.forEach((state, i) => {
        const source = versions[i]!.source;
        const others = versions.filter((_, j) => j !== i).map((v) => v.source);
        for (const type of types) {
          const rows = source.records.get(type.name)!;
          const view = state.type(type.name);
          const wrong: string[] = [];
          for (const row of rows) {
            const key = keyOf(type, row) as never;
            const got = view.get(key)?.toObject() as Row | undefined;
            if (got === undefined || canonical(got) !== canonical(row) || !view.has(key))
              wrong.push(`${keyId(type, key)} → ${got === undefined ? 'nothing' : canonical(got)}`);
          }
          expect({ type: type.name, wrong: first(wrong), count: wrong.length }).toEqual({
            type: type.name,
            wrong: [],
            count: 0,
          });
          const present = new Set(rows.map((row) => keyId(type, keyOf(type, row))));
          const absent = absentKeys(
            type,
            rows,
            others.flatMap((o) => o.records.get(type.name)!),
            present,
          );
          expect(absent.length, `${type.name}: absent keys to try`).toBeGreaterThan(0);
          const found = absent.filter(
            (key) => view.has(key as never) || view.get(key as never) !== undefined,
          );
          expect({ type: type.name, found: found.map((k) => keyId(type, k)) }).toEqual({
            type: type.name,
            found: [],
          });
        }
      });
    });

    it('`shoal diff` between consecutive releases equals the diff of their source files', () => {
      expect(printed).toHaveLength(versions.length - 1);
      printed.forEach((p, i) => {
        const expected = expectedDiffs[i]!;
        const label = `${versions[i]!.source.release} → ${versions[i + 1]!.source.release}`;
        expect(Object.keys(p.diff).sort(), label).toEqual(types.map((t) => t.name).sort());
        for (const type of types) {
          const got = p.diff[type.name]!;
          const want = expected[type.name]!;
          const ids = (keys: unknown[]) => keys.map((k) => keyId(type, k));
          expect(
            {
              added: keySetDifference(ids(got.added), want.added),
              removed: keySetDifference(ids(got.removed), want.removed),
              modified: keySetDifference(ids(got.modified), want.modified),
            },
            `${label} ${type.name}`,
          ).toEqual({
            added: { count: want.added.length, duplicates: 0, missing: [], unexpected: [] },
            removed: { count: want.removed.length, duplicates: 0, missing: [], unexpected: [] },
            modified: { count: want.modified.length, duplicates: 0, missing: [], unexpected: [] },
          });
        }
      });
      // The releases differ in every way a diff can tell, so the comparison above means something.
      const total = (k: 'added' | 'removed' | 'modified') =>
        expectedDiffs.reduce((n, d) => n + Object.values(d).reduce((m, c) => m + c[k].length, 0), 0);
      expect({
        added: total('added') > 0,
        removed: total('removed') > 0,
        modified: total('modified') > 0,
      }).toEqual({
        added: true,
        removed: true,
        modified: true,
      });
    });

    it('writes deltas about the size of the records that changed, far smaller than a snapshot', () => {
      for (let i = 1; i < versions.length; i++) {
        const [from, to] = [versions[i - 1]!.published.version, versions[i]!.published.version];
        const changes = Object.values(expectedDiffs[i - 1]!);
        const changedBytes = changes.reduce((n, c) => n + c.changedBytes, 0);
        const goneBytes = changes.reduce((n, c) => n + c.goneBytes, 0);
        const deltaBytes = bytesOf(layout.delta(from, to));
        const reverseBytes = bytesOf(layout.reverse(to, from));
        const snapshotBytes = bytesOf(layout.snapshot(to));
        const label = `${versions[i - 1]!.source.release} → ${versions[i]!.source.release}`;
        expect(deltaBytes, `${label}: delta bytes`).toBeGreaterThan(0);
        expect(deltaBytes, `${label}: delta bytes against ${changedBytes} changed bytes`).toBeLessThanOrEqual(
          DELTA_BYTES_PER_CHANGED_BYTE * changedBytes + DELTA_OVERHEAD_BYTES,
        );
        expect(
          reverseBytes,
          `${label}: reverse delta bytes against ${goneBytes} bytes gone`,
        ).toBeLessThanOrEqual(DELTA_BYTES_PER_CHANGED_BYTE * goneBytes + DELTA_OVERHEAD_BYTES);
        // Fewer changed bytes than a tenth of the release's input: the delta is under a quarter of the snapshot.
        if (changedBytes * 10 < versions[i]!.inputBytes)
          expect(deltaBytes, `${label}: delta against snapshot bytes`).toBeLessThan(snapshotBytes / 4);
      }
    });
  });
}
