/**
 * Delta figures: for 0.1%, 1% and 10% change sets over the Movie dataset, delta and reverse
 * delta bytes, encode time, and apply time (reading the delta file included) against loading
 * the next snapshot from its file (read + decode to ready).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AnyState,
  applyDelta,
  decodeSnapshot,
  encodeDelta,
  encodeReverseDelta,
  encodeSnapshot,
  StateBuilder,
} from '../src/index.ts';
import { gc, mb, median, ms, type Row, ratio, table, verdict } from './harness.ts';
import { changeSet } from './movies.ts';

export async function deltaBench(base: AnyState, n: number, dir: string): Promise<void> {
  const baseFile = join(dir, 'base.snapshot');
  const baseBlob = encodeSnapshot(base);
  await writeFile(baseFile, baseBlob);
  const consumerState = decodeSnapshot(await readFile(baseFile));
  const bytesPerRecord = baseBlob.byteLength / n;
  const rows: Row[] = [];
  for (const percent of [0.1, 1, 10]) {
    const change = changeSet(n, percent);
    const changed = change.modified.length + change.removed.length + change.added.length;
    let start = performance.now();
    const builder = StateBuilder.from(base);
    for (const r of change.modified) builder.upsert('Movie', r);
    for (const id of change.removed) builder.remove('Movie', id);
    for (const r of change.added) builder.upsert('Movie', r);
    const next = builder.build({ version: 2 });
    const buildMs = performance.now() - start;
    start = performance.now();
    const delta = encodeDelta(base, next);
    const encodeMs = performance.now() - start;
    start = performance.now();
    const reverse = encodeReverseDelta(base, next);
    const reverseMs = performance.now() - start;
    const deltaFile = join(dir, `delta-${percent}`);
    const nextFile = join(dir, `next-${percent}.snapshot`);
    await writeFile(deltaFile, delta);
    await writeFile(nextFile, encodeSnapshot(next));
    await gc();
    const applyMs = await median(7, async () => applyDelta(consumerState, await readFile(deltaFile)));
    const deltaBytes = await readFile(deltaFile);
    const applyInMemoryMs = await median(7, () => applyDelta(consumerState, deltaBytes));
    const noScanMs = await median(7, () => applyDelta(consumerState, deltaBytes, { scan: false }));
    const loadMs = await median(7, async () => decodeSnapshot(await readFile(nextFile)));
    const applied = applyDelta(consumerState, await readFile(deltaFile));
    if (applied.checksum !== next.checksum)
      throw new Error('the applied delta does not reproduce the next state');
    const sizeGoal = 1.5 * changed * bytesPerRecord + 4096;
    const label = `${percent}% (${change.modified.length} modified, ${change.removed.length} removed, ${change.added.length} added)`;
    rows.push(
      [
        `${label}: delta`,
        mb(delta.byteLength),
        `${(delta.byteLength / changed).toFixed(1)} B/changed record`,
        percent === 1
          ? verdict(
              delta.byteLength <= sizeGoal,
              `≤ ${mb(sizeGoal)} (1.5× changed × snapshot B/record; Hollow 0.61 MB)`,
            )
          : '',
      ],
      [
        '  reverse delta',
        mb(reverse.byteLength),
        `${(reverse.byteLength / changed).toFixed(1)} B/changed record`,
      ],
      ['  build next state (upserts)', ms(buildMs), ''],
      [
        '  encode delta / reverse',
        `${ms(encodeMs)} / ${ms(reverseMs)}`,
        '',
        percent === 1 ? '(Hollow write 28 ms)' : '',
      ],
      [
        '  apply: read file + apply + verify',
        ms(applyMs),
        ratio(applyMs / loadMs),
        percent === 1
          ? verdict(applyMs <= 0.25 * loadMs && applyMs < 58, '≤ 0.25× load, < 58 ms (Hollow 58 / 199 ms)')
          : '',
      ],
      [
        '  of which structural checks',
        ms(applyInMemoryMs - noScanMs),
        `${ratio(applyInMemoryMs / noScanMs)} apply without them`,
      ],
      ['  baseline: load next snapshot file', ms(loadMs), ratio(1)],
    );
  }
  table(`Deltas: ${n.toLocaleString('en')} Movie records`, rows);
}
