/**
 * The real-data suite's figures as Markdown tables: records per type per release (and what
 * changed from the release before), then the bytes of the input, the snapshots and the deltas
 * beside the bytes of the records that changed.
 */
import type { RealDataset, Scope } from './dataset.ts';
import type { KeyChanges } from './source-files.ts';

/** The figures of one published release. */
export interface VersionFigures {
  readonly release: string;
  readonly version: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly dropped: Readonly<Record<string, number>>;
  /** Bytes of the NDJSON input. */
  readonly inputBytes: number;
  readonly snapshotBytes: number;
  /** From the release before (absent on the first). */
  readonly deltaBytes?: number;
  readonly reverseBytes?: number;
  readonly changes?: Readonly<Record<string, KeyChanges>>;
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '?');
const ratio = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : '?');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Both tables for one dataset, with a title line and the run's timings. */
export function figuresTable(
  dataset: RealDataset,
  scope: Scope,
  figures: readonly VersionFigures[],
  timings: { convertMs: number; produceMs: number; diffMs: number },
): string {
  const types = dataset.schema.types.map((t) => t.name);
  const counts = table(
    ['type', ...figures.map((f) => f.release)],
    types.map((type) => [
      type,
      ...figures.map((f) => {
        const c = f.changes?.[type];
        const dropped = f.dropped[type] ? ` (${int(f.dropped[type])} dup. dropped)` : '';
        const change = c ? ` (+${c.added.length} −${c.removed.length} ~${c.modified.length})` : '';
        return `${int(f.counts[type]!)}${change}${dropped}`;
      }),
    ]),
  );
  const bytes = table(
    [
      'release',
      'records',
      'input NDJSON B',
      'snapshot B',
      'delta B',
      'reverse B',
      'changed records',
      'changed B',
      'delta / changed',
      'delta / snapshot',
      'gone B',
      'reverse / gone',
    ],
    figures.map((f) => {
      const total = Object.values(f.counts).reduce((a, b) => a + b, 0);
      const changes = f.changes ? Object.values(f.changes) : undefined;
      const changed = changes?.reduce((n, c) => n + c.added.length + c.modified.length, 0);
      const removed = changes?.reduce((n, c) => n + c.removed.length, 0);
      const changedBytes = changes?.reduce((n, c) => n + c.changedBytes, 0);
      const goneBytes = changes?.reduce((n, c) => n + c.goneBytes, 0);
      const none = '—';
      return [
        f.release,
        int(total),
        int(f.inputBytes),
        int(f.snapshotBytes),
        f.deltaBytes !== undefined ? int(f.deltaBytes) : none,
        f.reverseBytes !== undefined ? int(f.reverseBytes) : none,
        changed !== undefined ? `${int(changed)} (+ ${int(removed!)} removed)` : none,
        changedBytes !== undefined ? int(changedBytes) : none,
        f.deltaBytes !== undefined && changedBytes ? ratio(f.deltaBytes / changedBytes) : none,
        f.deltaBytes !== undefined ? ratio(f.deltaBytes / f.snapshotBytes) : none,
        goneBytes !== undefined ? int(goneBytes) : none,
        f.reverseBytes !== undefined && goneBytes ? ratio(f.reverseBytes / goneBytes) : none,
      ];
    }),
  );
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    `\n### ${dataset.name} (${dataset.packageName}), ${scope}`,
    '',
    'Records per type (+ added, − removed, ~ modified since the release before):',
    '',
    counts,
    '',
    'Bytes ("changed" = the added and modified records of the release, "gone" = the removed and modified',
    'records of the release before, both as NDJSON lines; a delta carries the first, a reverse delta the second):',
    '',
    bytes,
    '',
    `convert + write input ${secs(timings.convertMs)}, shoal produce ×${figures.length} ${secs(timings.produceMs)}, ` +
      `shoal diff ×${Math.max(0, figures.length - 1)} (in parallel) ${secs(timings.diffMs)}`,
    '',
  ].join('\n');
}
