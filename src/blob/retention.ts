/**
 * Retention: delete what no consumer needs to reach any of the last K snapshots' versions or
 * anything after them. Kept: the newest K snapshots, every version header, delta and reverse
 * delta at or after the oldest of them, the announcement, and whatever a `protect`ed version
 * (the announced one, a pin) needs: the nearest snapshot at or below it and what follows.
 */
import { ShoalError } from '../errors.ts';
import type { BlobStore, CallOptions } from './blob-store.ts';
import { readVersionHeader } from './chain-planner.ts';
import { NamespaceLayout } from './namespace-layout.ts';

/** Options of {@link applyRetention}. */
export interface RetentionOptions extends CallOptions {
  readonly store: BlobStore;
  readonly namespace: string;
  /** How many of the newest snapshots to keep reachable (at least 1). */
  readonly keepSnapshots: number;
  /** Versions that must stay reachable whatever their age (the announced one, a pin). */
  readonly protect?: readonly number[];
}

/** Deletes the blobs retention lets go; returns their keys. */
export async function applyRetention(options: RetentionOptions): Promise<string[]> {
  const { store, keepSnapshots: k } = options;
  if (!Number.isSafeInteger(k) || k < 1) {
    throw new ShoalError('INVALID_OPTION', `keepSnapshots must be a whole number ≥ 1, got ${k}`);
  }
  const layout = new NamespaceLayout(options.namespace);
  const call = options.signal ? { signal: options.signal } : {};
  const keys = await store.list(layout.prefix, call);
  const parsed = keys.map((key) => ({ key, p: layout.parse(key) }));
  const listed = parsed.flatMap(({ p }) => (p?.kind === 'snapshot' ? [p.version] : [])).sort((a, b) => b - a);
  // Only a snapshot its version's header names is part of the chain: another producer that
  // lost a race for the version may have left one behind, which must not move the floor.
  const snapshots: number[] = [];
  for (const v of listed) {
    const header = await readVersionHeader(store, layout, v, call).catch(() => undefined);
    if (header?.snapshot === v) snapshots.push(v);
  }
  if (snapshots.length <= k) return [];
  let floor = snapshots[k - 1]!;
  for (const v of options.protect ?? []) {
    const base = snapshots.find((s) => s <= v);
    if (base !== undefined && base < floor) floor = base;
  }
  const doomed = parsed
    .filter(({ p }) => {
      if (!p || p.kind === 'announced') return false;
      if (p.kind === 'delta' || p.kind === 'reverse') return Math.min(p.from, p.to) < floor;
      return p.version < floor;
    })
    .map(({ key }) => key);
  for (const key of doomed) await store.delete(key, call);
  return doomed;
}
