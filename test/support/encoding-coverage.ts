/**
 * Which column encodings a state holds, by role (key or value field) and by part width, so a
 * generative suite can say which encodings it reached and fail when one was never reached.
 */
import type { AnyState } from '../../src/index.ts';
import type { Column } from '../../src/state/column/column.ts';

/** Widths of a column: `fixed`, `dict8`, `dict16`, `var16`, `var32`, and lists' offsets. */
export function encodingsOf(col: Column): string[] {
  const isList = col.spec.kind === 'list';
  const first = isList ? 1 : 0;
  const pages = col.parts[first]!;
  const out: string[] = [];
  const prefix = isList ? 'list-of-' : '';
  if (col.encoding === 'fixed') out.push(`${prefix}fixed`);
  if (col.encoding === 'dict') {
    if (pages.some((p) => p instanceof Uint8Array)) out.push(`${prefix}dict8`);
    if (pages.some((p) => p instanceof Uint16Array)) out.push(`${prefix}dict16`);
  }
  if (col.encoding === 'var') {
    if (pages.some((p) => p instanceof Uint16Array)) out.push(`${prefix}var16`);
    if (pages.some((p) => p instanceof Uint32Array)) out.push(`${prefix}var32`);
  }
  if (isList) {
    if (col.parts[0]!.some((p) => p instanceof Uint16Array)) out.push('list-offsets16');
    if (col.parts[0]!.some((p) => p instanceof Uint32Array)) out.push('list-offsets32');
  }
  return out;
}

/** Encodings seen, as `key:<enc>` and `value:<enc>`, and changes of a column's encoding. */
export class EncodingCoverage {
  readonly seen = new Set<string>();
  readonly changes = new Set<string>();

  /** Records every column of `state` that holds at least one record. */
  record(state: AnyState): void {
    for (const t of state.types) {
      if (t.size === 0) continue;
      const keys = new Set(t.type.primaryKey);
      for (const col of t.parts.columns) {
        const role = keys.has(col.spec.name) ? 'key' : 'value';
        for (const e of encodingsOf(col)) this.seen.add(`${role}:${e}`);
      }
    }
  }

  /** Records how each column's encoding changed from `prev` to `next`. */
  transition(prev: AnyState, next: AnyState): void {
    for (const t of next.types) {
      if (!prev.schema.has(t.name)) continue;
      const before = prev.type(t.name).parts.columns;
      t.parts.columns.forEach((col, i) => {
        const a = before[i];
        if (!a || a.spec.name !== col.spec.name) return;
        const from = encodingsOf(a).filter((e) => !e.startsWith('list-offsets'));
        const to = encodingsOf(col).filter((e) => !e.startsWith('list-offsets'));
        if (from.join() !== to.join()) this.changes.add(`${from.join('+')} -> ${to.join('+')}`);
      });
    }
  }

  /** Encodings of `wanted` never seen. */
  missing(wanted: readonly string[]): string[] {
    return wanted.filter((w) => !this.seen.has(w));
  }
}
