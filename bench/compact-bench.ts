/**
 * Compaction figures: a state after many versions of 1% random change with a constant record
 * count (upserts of existing keys, removes balanced by adds), against a fresh snapshot of the
 * same records: snapshot bytes, in-memory bytes, empty ordinals, and the deltas' sizes, with
 * compaction off (`compactAbove: 1`) and at its default. A consumer applies every delta, so
 * its state's size is measured too.
 */
import {
  type AnyState,
  applyDelta,
  encodeDelta,
  encodeSnapshot,
  type State,
  StateBuilder,
} from '../src/index.ts';
import { gc, mb, ms, prng, type Row, ratio, table, verdict } from './harness.ts';
import { type MovieRecord, movie, movieSchema, movies } from './movies.ts';

const VERSIONS = 80;

const kb = (x: number): string => `${(x / 1e3).toFixed(1)} kB`;

interface Run {
  readonly state: AnyState;
  readonly consumer: AnyState;
  readonly deltas: number[];
  readonly buildMs: number;
  readonly applyMs: number;
}

function history(n: number, compactAbove: number | undefined): Run {
  const random = prng(17);
  const first = new StateBuilder(movieSchema);
  for (const r of movies(n)) first.add('Movie', r);
  let state: State<typeof movieSchema> = first.build({ version: 1 });
  let consumer: AnyState = state;
  // Live record indices (record i has id i*7+3), to pick random ones.
  const live = Int32Array.from({ length: n }, (_, i) => i);
  let nextIndex = n;
  const deltas: number[] = [];
  let buildMs = 0;
  let applyMs = 0;
  const changes = Math.round(n / 100);
  const churn = Math.max(1, Math.round(changes / 10));
  for (let v = 2; v <= VERSIONS + 1; v++) {
    const start = performance.now();
    const builder = StateBuilder.from(state);
    for (let k = 0; k < changes - 2 * churn; k++) {
      const i = live[Math.floor(random() * n)]!;
      const r: MovieRecord = {
        ...movie(i),
        title: `Movie title number ${i} (rev ${v})`,
        year: 1900 + (v % 100),
      };
      builder.upsert('Movie', r);
    }
    for (let k = 0; k < churn; k++) {
      const at = Math.floor(random() * n);
      builder.remove('Movie', live[at]! * 7 + 3);
      live[at] = nextIndex;
      builder.upsert('Movie', movie(nextIndex++));
    }
    const next = builder.build(compactAbove === undefined ? { version: v } : { version: v, compactAbove });
    buildMs += performance.now() - start;
    const delta = encodeDelta(state, next, { trustLineage: true });
    deltas.push(delta.byteLength);
    const applyStart = performance.now();
    consumer = applyDelta(consumer, delta);
    applyMs += performance.now() - applyStart;
    state = next;
  }
  if (consumer.checksum !== state.checksum) throw new Error('the consumer did not follow the producer');
  return { state, consumer, deltas, buildMs: buildMs / VERSIONS, applyMs: applyMs / VERSIONS };
}

/** A state of the same records, built whole. */
function fresh(state: AnyState): AnyState {
  const b = new StateBuilder(movieSchema);
  for (const r of state.type('Movie')) b.add('Movie', r.toObject() as MovieRecord);
  return b.build({ version: 1 });
}

export async function compactBench(n: number): Promise<void> {
  const rows: Row[] = [];
  let freshSnapshot = 0;
  for (const [label, compactAbove] of [
    ['compaction off (compactAbove: 1)', 1],
    ['compaction on (default, 0.05)', undefined],
  ] as const) {
    await gc();
    const run = history(n, compactAbove);
    const base = fresh(run.state);
    const snapshot = encodeSnapshot(run.state).byteLength;
    freshSnapshot = encodeSnapshot(base).byteLength;
    const type = run.state.type('Movie');
    const empty = (type.capacity - type.size) / type.capacity;
    const meanDelta = run.deltas.reduce((a, b) => a + b, 0) / run.deltas.length;
    const maxDelta = Math.max(...run.deltas);
    rows.push(
      [
        `${label}: snapshot after ${VERSIONS} versions`,
        mb(snapshot),
        `${ratio(snapshot / freshSnapshot)} fresh`,
        compactAbove === 1 ? '' : verdict(snapshot / freshSnapshot <= 1.05, '≤ 1.05× a fresh snapshot'),
      ],
      [
        '  in memory (producer / consumer)',
        `${mb(run.state.byteLength)} / ${mb(run.consumer.byteLength)}`,
        `${ratio(run.state.byteLength / base.byteLength)} / ${ratio(run.consumer.byteLength / base.byteLength)} fresh`,
      ],
      [
        '  empty ordinals',
        `${(empty * 100).toFixed(1)}%`,
        `${type.capacity.toLocaleString('en')} ordinals, ${type.size.toLocaleString('en')} records`,
      ],
      ['  delta mean / max', `${kb(meanDelta)} / ${kb(maxDelta)}`, ''],
      ['  build / apply per version', `${ms(run.buildMs)} / ${ms(run.applyMs)}`, ''],
    );
  }
  rows.push(['baseline: fresh snapshot of the same records', mb(freshSnapshot), ratio(1)]);
  table(`Compaction: ${n.toLocaleString('en')} Movie records, ${VERSIONS} versions of 1% change`, rows);
}
