/**
 * `shoal inspect` and `shoal diff`: look at snapshot files, or at the versions of a namespace
 * in a store (list them, show one, dump its records, compare two).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  type AnyState,
  type BlobStore,
  Consumer,
  decodeSnapshot,
  decodeVersionHeader,
  diffStates,
  isShoalError,
  NamespaceLayout,
  type ObjectType,
  ShoalError,
  StoreAnnouncer,
} from '../index.ts';
import { indexSummary } from './index-summary.ts';
import { recordReplacer } from './json-output.ts';
import { openStore, UsageError } from './produce-command.ts';

export const INSPECT_USAGE = `  inspect <snapshot-file> [--records] [--type <name>]
  inspect --store <dir | s3://...> --namespace <name> [--version <v>] [--records] [--type <name>]
      a snapshot file, or a namespace: without --version, one JSON line per version (the
      announced one marked); with it, that version's header and counts; --records dumps the
      records as NDJSON instead
  diff --store <dir | s3://...> --namespace <name> <from> <to>
      keys added, removed and modified per type between two versions (JSON)
`;

const print = (v: unknown, indent?: number) =>
  process.stdout.write(`${JSON.stringify(v, recordReplacer, indent)}\n`);

function summary(state: AnyState) {
  return {
    version: state.version,
    // Tags and checksums are 64-bit identifiers, shown in hex.
    tag: `0x${state.tag.toString(16)}`,
    checksum: `0x${state.checksum.toString(16)}`,
    bytes: state.byteLength,
    counts: state.counts(),
    indexes: indexSummary(state),
    schema: state.schema.types.map((t: ObjectType) => ({
      name: t.name,
      primaryKey: t.primaryKey,
      fields: t.fields.map((f) => f.name),
    })),
  };
}

function dump(state: AnyState, type: string | undefined): void {
  for (const t of type ? [state.type(type)] : state.types) {
    for (const view of t) print({ type: t.name, record: view.toObject() });
  }
}

/**
 * Refuses (`INVALID_KEY`) a namespace that nests with another in the store, such as `a` and
 * `a/header`: their keys interleave (`a/header/<v>` is a header of `a` and a key under
 * `a/header/`), so reading one would take the other's blobs for its own. Found from the keys
 * under the namespace (one that belongs to the layout of a namespace above or below it) and
 * from the announcements of the namespaces above it.
 */
async function refuseNested(store: BlobStore, namespace: string): Promise<void> {
  const layout = new NamespaceLayout(namespace);
  const segments = namespace.split('/');
  const above = segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
  const nested = (other: string) =>
    new ShoalError(
      'INVALID_KEY',
      `namespace "${namespace}" nests with namespace "${other}" in this store, so their keys mix. Keep namespaces side by side ("a-header", not "a/header"), never one inside another.`,
    );
  for (const key of await store.list(layout.prefix)) {
    if (layout.parse(key)) continue;
    for (const other of above) if (new NamespaceLayout(other).parse(key)) throw nested(other);
    const rest = key.slice(layout.prefix.length).split('/');
    for (let i = 1; i < rest.length; i++) {
      const other = `${namespace}/${rest.slice(0, i).join('/')}`;
      if (new NamespaceLayout(other).parse(key)) throw nested(other);
    }
  }
  for (const other of above) {
    const announced = await store.head(new NamespaceLayout(other).announced).then(
      () => true,
      (e: unknown) => (isShoalError(e, 'BLOB_NOT_FOUND') ? false : Promise.reject(e)),
    );
    if (announced) throw nested(other);
  }
}

async function loadVersion(store: string, namespace: string, version: number): Promise<AnyState> {
  const consumer = await Consumer.open({
    store: await openStore(store),
    namespace,
    pin: version,
    watch: false,
  });
  await consumer.close();
  return consumer.state;
}

const versionArg = (v: string | undefined, what: string): number => {
  const n = Number(v);
  if (v === undefined || !Number.isSafeInteger(n))
    throw new UsageError(`${what} needs a version number, got "${v}"`);
  return n;
};

export async function inspectCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      records: { type: 'boolean', default: false },
      type: { type: 'string' },
      store: { type: 'string' },
      namespace: { type: 'string', default: 'default' },
      version: { type: 'string' },
    },
  });
  if (!values.store) {
    const file = positionals[0];
    if (!file) throw new UsageError('inspect needs a snapshot file, or --store and --namespace');
    const state = decodeSnapshot(await readFile(file));
    if (values.records) dump(state, values.type);
    else print(summary(state), 2);
    return 0;
  }
  await refuseNested(await openStore(values.store), values.namespace);
  if (values.version === undefined) {
    const store = await openStore(values.store);
    const layout = new NamespaceLayout(values.namespace);
    const announced = await new StoreAnnouncer({ store, namespace: values.namespace }).read();
    for (const key of await store.list(`${layout.prefix}header/`)) {
      const h = decodeVersionHeader(await store.get(key), key);
      print({
        version: h.version,
        previous: h.previous,
        snapshot: h.snapshot === h.version,
        counts: h.counts,
        bytes: h.bytes,
        publishedAt: new Date(h.publishedAt).toISOString(),
        ...(announced?.version === h.version ? { announced: true } : {}),
        ...(announced?.pinned === h.version ? { pinned: true } : {}),
      });
    }
    return 0;
  }
  const state = await loadVersion(values.store, values.namespace, versionArg(values.version, '--version'));
  if (values.records) dump(state, values.type);
  else print(summary(state), 2);
  return 0;
}

export async function diffCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      store: { type: 'string', default: './shoal-data' },
      namespace: { type: 'string', default: 'default' },
    },
  });
  const from = versionArg(positionals[0], 'diff <from>');
  const to = versionArg(positionals[1], 'diff <to>');
  await refuseNested(await openStore(values.store), values.namespace);
  const a = await loadVersion(values.store, values.namespace, from);
  const b = await loadVersion(values.store, values.namespace, to);
  print(diffStates(a, b), 2);
  return 0;
}
