/**
 * `shoal inspect` and `shoal diff`: look at snapshot files, or at the versions of a namespace
 * in a store (list them, show one, dump its records, compare two).
 */
import { parseArgs } from 'node:util';
import {
  type AnyState,
  type BlobStore,
  Consumer,
  decodeSnapshot,
  decodeVersionHeader,
  diffStates,
  isShoalError,
  metadataProblem,
  NamespaceLayout,
  type ObjectType,
  parseVersionRef,
  readSnapshotHeader,
  readVersionHeader,
  resolveVersionRef,
  ShoalError,
  StoreAnnouncer,
} from '../index.ts';
import { readBlobFile } from './blob-file.ts';
import { indexSummary } from './index-summary.ts';
import { recordReplacer } from './json-output.ts';
import { openStore, UsageError } from './produce-command.ts';

export const INSPECT_USAGE = `  inspect <snapshot-file> [--records] [--type <name>]
  inspect [--store <dir | s3://...>] [--namespace <name>] [--version <v | label>] [--records] [--type <name>]
      a snapshot file, or a namespace: without --version, one JSON line per version (the
      announced one marked, labels shown); with it, that version's header and counts; --records
      dumps the records as NDJSON instead
      --store <dir | s3://bucket/prefix>   (default ./shoal-data)
      --namespace <name>                   (default "default")
`;

export const DIFF_USAGE = `  diff [--store <dir | s3://...>] [--namespace <name>] <from> <to>
      keys added, removed and modified per type between two versions or labels (JSON)
      --store <dir | s3://bucket/prefix>   (default ./shoal-data)
      --namespace <name>                   (default "default")
`;

const print = (v: unknown, indent?: number) =>
  process.stdout.write(`${JSON.stringify(v, recordReplacer, indent)}\n`);

/** A label and metadata as the CLI shows them: each only when set. */
const about = (h: { readonly label?: string; readonly metadata?: Readonly<Record<string, string>> }) => ({
  ...(h.label !== undefined ? { label: h.label } : {}),
  ...(h.metadata && Object.keys(h.metadata).length > 0 ? { metadata: h.metadata } : {}),
});

function summary(state: AnyState, labelled: ReturnType<typeof about> = {}) {
  return {
    version: state.version,
    ...labelled,
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

/** A version or label argument that cannot name a version is bad usage. */
function checkRef(ref: string, what: string): void {
  try {
    parseVersionRef(ref, what);
  } catch (e) {
    if (!isShoalError(e, 'INVALID_OPTION')) throw e;
    throw new UsageError(e.message);
  }
}

/** The header of the version a version number or label names (`UNKNOWN_LABEL` when none). */
async function versionEnd(store: string, namespace: string, ref: string, what: string) {
  checkRef(ref, what);
  const opened = await openStore(store);
  const version = await resolveVersionRef(opened, namespace, ref, what);
  return readVersionHeader(opened, new NamespaceLayout(namespace), version).catch(async (e: unknown) => {
    if (!isShoalError(e, 'BLOB_NOT_FOUND')) throw e;
    // An all-digit ref is a version number; a user who meant the label of that name is told so.
    const label = (await labelled(opened, namespace, String(version)))
      ? ` A label "${version}" exists: give it as label:${version}.`
      : '';
    throw new ShoalError(
      'BLOB_NOT_FOUND',
      `version ${version} of namespace "${namespace}" is not in the store (never published, or removed by retention).${label} List the versions with \`shoal inspect --store ${store} --namespace ${namespace}\`.`,
      { cause: e },
    );
  });
}

/** Whether a retained version of `namespace` carries `label`. */
async function labelled(store: BlobStore, namespace: string, label: string): Promise<boolean> {
  return resolveVersionRef(store, namespace, `label:${label}`, 'label').then(
    () => true,
    () => false,
  );
}

/** One end of a diff: its version, and its label and metadata when set. */
const end = (h: {
  readonly version: number;
  readonly label?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}) => ({
  version: h.version,
  ...about(h),
});

/** The label and metadata a snapshot file's header carries, checked as a version header's are. */
function snapshotLabel(bytes: Uint8Array, file: string) {
  const h = readSnapshotHeader(bytes);
  const problem = metadataProblem(h.label, h.metadata);
  if (problem) {
    throw new ShoalError(
      'BLOB_CORRUPT',
      `${file}: the snapshot's ${problem.option}${problem.detail}. Republish the version.`,
    );
  }
  return about(h);
}

/** Where `--store` points when it is not given, as for every other command. */
const DEFAULT_STORE = './shoal-data';

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
  const file = positionals[0];
  if (positionals.length > 1)
    throw new UsageError(`inspect takes one snapshot file, got ${positionals.length}`);
  if (file !== undefined) {
    if (values.store !== undefined || values.version !== undefined)
      throw new UsageError('inspect takes a snapshot file or --store/--version, not both');
    const bytes = await readBlobFile(file);
    const state = decodeSnapshot(bytes);
    if (values.records) dump(state, values.type);
    else print(summary(state, snapshotLabel(bytes, file)), 2);
    return 0;
  }
  const storeSpec = values.store ?? DEFAULT_STORE;
  const store = await openStore(storeSpec);
  const layout = new NamespaceLayout(values.namespace);
  if (values.version === undefined) {
    // Headers first: the first call then names what a listing reads ("…/header/") when the
    // store itself is missing (a bucket that does not exist).
    const headers = await store.list(`${layout.prefix}header/`);
    await refuseNested(store, values.namespace);
    const announced = await new StoreAnnouncer({ store, namespace: values.namespace }).read();
    for (const key of headers) {
      const h = decodeVersionHeader(await store.get(key), key);
      print({
        version: h.version,
        ...about(h),
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
  await refuseNested(store, values.namespace);
  const end = await versionEnd(storeSpec, values.namespace, values.version, '--version');
  const state = await loadVersion(storeSpec, values.namespace, end.version);
  if (values.records) dump(state, values.type);
  else print(summary(state, about(end)), 2);
  return 0;
}

export async function diffCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      store: { type: 'string', default: DEFAULT_STORE },
      namespace: { type: 'string', default: 'default' },
    },
  });
  const [fromArg, toArg] = positionals;
  if (fromArg === undefined || toArg === undefined) throw new UsageError('diff needs <from> and <to>');
  checkRef(fromArg, 'diff <from>');
  checkRef(toArg, 'diff <to>');
  await refuseNested(await openStore(values.store), values.namespace);
  const from = await versionEnd(values.store, values.namespace, fromArg, 'diff <from>');
  const to = await versionEnd(values.store, values.namespace, toArg, 'diff <to>');
  const a = await loadVersion(values.store, values.namespace, from.version);
  const b = await loadVersion(values.store, values.namespace, to.version);
  print({ from: end(from), to: end(to), types: diffStates(a, b) }, 2);
  return 0;
}
