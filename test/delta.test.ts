import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { t } from '../src/schema/index.ts';
import { StateBuilder } from '../src/state/build/state-builder.ts';
import {
  applyDelta,
  encodeDelta,
  encodeReverseDelta,
  readDeltaHeader,
  verifyDelta,
} from '../src/state/encoding/delta.ts';
import { decodeSnapshot, encodeSnapshot, verifyChecksum } from '../src/state/encoding/snapshot.ts';
import type { AnyState, State } from '../src/state/read/state.ts';
import { diffStates } from '../src/state/read/state-diff.ts';
import {
  expected,
  jsonSafe,
  keyOf,
  recordOf,
  schemaOf,
  type TypePlan,
  typePlan,
} from './support/arbitraries.ts';

/** Everything a reader can see of a state: per type, records by ordinal. */
function contents(state: AnyState): Record<string, Record<number, unknown>> {
  const out: Record<string, Record<number, unknown>> = {};
  for (const type of state.types) {
    const byOrdinal: Record<number, unknown> = {};
    for (const o of type.ordinals()) byOrdinal[o] = type.view(o).toObject();
    out[type.name] = byOrdinal;
  }
  return out;
}

function expectSame(actual: AnyState, wanted: AnyState): void {
  expect(actual.version).toBe(wanted.version);
  expect(actual.tag).toBe(wanted.tag);
  expect(actual.checksum).toBe(wanted.checksum);
  expect(actual.counts()).toEqual(wanted.counts());
  expect(contents(actual)).toEqual(contents(wanted));
  for (const type of wanted.types) {
    const other = actual.type(type.name);
    if (type.type.primaryKey.length === 0) continue;
    for (const view of type) {
      const key = keyOf(wanted.schema, type.name, view.toObject());
      expect(other.get(key)?.toObject()).toEqual(view.toObject());
    }
  }
}

type Step =
  | {
      readonly kind: 'ops';
      readonly ops: readonly { type: number; remove: boolean; record: Record<string, unknown> }[];
    }
  | { readonly kind: 'restate'; readonly records: readonly Record<string, unknown>[][] };

function steps(plans: readonly TypePlan[]): fc.Arbitrary<Step[]> {
  const op = fc
    .nat(plans.length - 1)
    .chain((type) =>
      fc.record({ type: fc.constant(type), remove: fc.boolean(), record: recordOf(plans[type]!) }),
    );
  const ops = fc.array(op, { maxLength: 12 }).map((list): Step => ({ kind: 'ops', ops: list }));
  const restate = fc
    .tuple(...plans.map((p) => fc.array(recordOf(p), { maxLength: 15 })))
    .map((records): Step => ({ kind: 'restate', records }));
  return fc.array(fc.oneof({ weight: 4, arbitrary: ops }, { weight: 1, arbitrary: restate }), {
    minLength: 20,
    maxLength: 24,
  });
}

/** Applies a step with the builder, and to a plain model of what the state must hold. */
function advance(
  prev: State,
  step: Step,
  version: number,
  model: Map<string, Map<string, Record<string, unknown>>>,
): State {
  const schema = prev.schema;
  const id = (typeName: string, r: Record<string, unknown>, seq: number) =>
    schema.type(typeName).primaryKey.length === 0
      ? `#${version}.${seq}`
      : JSON.stringify(keyOf(schema, typeName, r), jsonSafe);
  if (step.kind === 'restate') {
    const builder = new StateBuilder(schema, { previous: prev });
    schema.types.forEach((type, i) => {
      const m = new Map<string, Record<string, unknown>>();
      step.records[i]!.forEach((r, seq) => {
        builder.upsert(type.name, r);
        m.set(id(type.name, r, seq), r);
      });
      model.set(type.name, m);
    });
    return builder.build({ version });
  }
  const builder = StateBuilder.from(prev);
  step.ops.forEach(({ type: ti, remove, record }, seq) => {
    const type = schema.types[ti]!;
    const m = model.get(type.name)!;
    if (remove && type.primaryKey.length > 0) {
      builder.remove(type.name, keyOf(schema, type.name, record));
      m.delete(id(type.name, record, seq));
    } else {
      builder.upsert(type.name, record);
      m.set(id(type.name, record, seq), record);
    }
  });
  return builder.build({ version });
}

describe('deltas over random histories', () => {
  it('apply i→j equals snapshot j, reverse j→i gives back i, old views keep their values', () => {
    fc.assert(
      fc.property(
        fc
          .array(typePlan, { minLength: 1, maxLength: 2 })
          .chain((plans) => fc.tuple(fc.constant(plans), steps(plans))),
        ([plans, history]) => {
          const schema = schemaOf(plans);
          const model = new Map(
            schema.types.map((t) => [t.name, new Map<string, Record<string, unknown>>()]),
          );
          const states: State[] = [new StateBuilder(schema).build({ version: 1 })];
          for (const step of history) states.push(advance(states.at(-1)!, step, states.length + 1, model));
          // The last state holds exactly what the model holds.
          const last = states.at(-1)!;
          for (const type of schema.types) {
            const want = [...model.get(type.name)!.values()].map((r) => expected(schema, type.name, r));
            const have = [...last.type(type.name)].map((v) => v.toObject());
            const order = (xs: unknown[]) => xs.map((x) => JSON.stringify(x, jsonSafe)).sort();
            expect(order(have)).toEqual(order(want));
          }
          const snapshots = states.map((s) => encodeSnapshot(s));
          const deltas = states.slice(1).map((s, i) => encodeDelta(states[i]!, s));
          const reverses = states.slice(1).map((s, i) => encodeReverseDelta(states[i]!, s));
          // Each delta checks out against the states it joins, without being applied; against
          // any other state it is refused.
          for (let i = 1; i < states.length; i++) {
            verifyDelta(states[i - 1]!, deltas[i - 1]!, states[i]!);
            verifyDelta(states[i]!, reverses[i - 1]!, states[i - 1]!);
            const other = states[i + 1];
            if (other) {
              expect(() => verifyDelta(states[i - 1]!, deltas[i - 1]!, other)).toThrow(
                expect.objectContaining({ code: 'CHECKSUM_MISMATCH' }),
              );
            }
          }
          for (let i = 0; i < states.length; i++) {
            let state = decodeSnapshot(snapshots[i]!);
            const before = contents(state);
            const views = state.types.map((t) => [...t]);
            const forward: State[] = [state];
            for (let j = i + 1; j < states.length; j++) {
              state = applyDelta(state, deltas[j - 1]!);
              forward.push(state);
              expectSame(state, decodeSnapshot(snapshots[j]!));
            }
            // Views taken from i still read i's values.
            expect(views.map((vs) => vs.map((v) => v.toObject()))).toEqual(
              forward[0]!.types.map((t) => Object.values(before[t.name]!)),
            );
            // Back from the last state to i over reverse deltas.
            for (let j = states.length - 1; j > i; j--) state = applyDelta(state, reverses[j - 1]!);
            expectSame(state, states[i]!);
            verifyChecksum(state);
          }
          // A delta applied to a state it does not start from is refused.
          if (states.length > 2 && states[0]!.tag !== states[1]!.tag) {
            expect(() => applyDelta(states[0]!, deltas[1]!)).toThrow(
              expect.objectContaining({ code: 'DELTA_ORIGIN_MISMATCH' }),
            );
          }
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('deltas at scale', () => {
  const Item = t.object(
    'Item',
    {
      id: t.int(),
      name: t.string(),
      colour: t.string(),
      size: t.int(),
      notes: t.list(t.string()).optional(),
    },
    { primaryKey: 'id' },
  );
  const schema = t.schema([Item]);
  const item = (i: number, v: number) => ({
    id: i,
    name: `item ${i} v${v}`,
    colour: ['red', 'green', 'blue', 'cyan'][i % 4]!,
    size: i % 10,
    ...(i % 3 === 0 ? { notes: [`n${v % 7}`] } : {}),
  });

  it('keeps untouched pages shared, reuses mostly-empty pages, grows dictionaries', () => {
    const b = new StateBuilder(schema);
    for (let i = 0; i < 5000; i++) b.add('Item', item(i, 0));
    let state = b.build({ version: 1 });
    const first = state;
    const snapshots = [encodeSnapshot(state)];
    const deltas: Uint8Array[] = [];
    for (let v = 2; v <= 25; v++) {
      const next = StateBuilder.from(state);
      for (let i = v; i < 5000; i += 97) next.upsert('Item', item(i, v)); // ~1% modified
      // Remove a block so page 3 empties, then fresh ids, with new colours (the dictionary grows past 256).
      if (v === 3) for (let i = 3072; i < 4096; i++) next.remove('Item', i);
      for (let k = 0; k < 30; k++)
        next.upsert('Item', { ...item(10_000 + v * 100 + k, v), colour: `c${v * 30 + k}` });
      // Without compaction, which refills pages sooner (test/compaction.test.ts).
      const built = next.build({ version: v, compactAbove: 1 });
      deltas.push(encodeDelta(state, built));
      snapshots.push(encodeSnapshot(built));
      state = built;
    }
    const items = state.type('Item');
    // Pages no change reached are the very same arrays as in version 1.
    const idPages = items.parts.columns[0]!.parts[0]!;
    const firstPages = first.type('Item').parts.columns[0]!.parts[0]!;
    expect(idPages.filter((p, i) => p === firstPages[i]).length).toBeGreaterThan(0);
    // Page 3 was emptied at version 3 and has been refilled since (capacity grew less than it would have).
    expect(items.capacity).toBeLessThan(5000 + 24 * 80);
    expect(items.parts.columns[2]!.dict!.size).toBeGreaterThan(256);
    expect(items.parts.columns[2]!.parts[0]!.every((p) => p instanceof Uint16Array)).toBe(true);
    // Following the chain from the first snapshot reproduces every version.
    let replay = decodeSnapshot(snapshots[0]!);
    deltas.forEach((d, i) => {
      replay = applyDelta(replay, d);
      expectSame(replay, decodeSnapshot(snapshots[i + 1]!));
    });
    expect(replay.type('Item').get(10_000 + 2500 + 29)?.colour).toBe(`c${25 * 30 + 29}`);
    const neverAgain = [...Array(1024).keys()]
      .map((k) => 3072 + k)
      .find((i) => [...Array(22).keys()].every((k) => (i - 4 - k) % 97 !== 0));
    expect(replay.type('Item').get(neverAgain!)).toBeUndefined();
    expect(replay.type('Item').get(4 + 97 * 33)?.name).toBe(`item ${4 + 97 * 33} v4`);
  });

  it('makes delta size follow the change, and an unchanged type costs only its name', () => {
    const Tag = t.object('Tag', { name: t.string() }, { primaryKey: 'name' });
    const s2 = t.schema([Item, Tag]);
    const b = new StateBuilder(s2);
    for (let i = 0; i < 3000; i++) b.add('Item', item(i, 0));
    b.add('Tag', { name: 'x' });
    const v1 = b.build({ version: 1 });
    const v2 = StateBuilder.from(v1).upsert('Item', item(5, 1)).build({ version: 2 });
    const delta = encodeDelta(v1, v2);
    const header = readDeltaHeader(delta);
    expect(header.types.find((d) => d.name === 'Tag')).toEqual({ name: 'Tag' });
    expect(delta.byteLength).toBeLessThan(2000);
    expect(diffStates(v1, v2)).toEqual({
      Item: { added: [], removed: [], modified: [5] },
      Tag: { added: [], removed: [], modified: [] },
    });
    const unchanged = StateBuilder.from(v2).upsert('Item', item(5, 1)).build({ version: 3 });
    expect(unchanged.checksum).toBe(v2.checksum);
    expect(unchanged.type('Item').parts.columns).toBe(v2.type('Item').parts.columns);
  });

  it('refuses to join states that are not of one history', () => {
    const a = new StateBuilder(schema).add('Item', item(1, 0)).build({ version: 1 });
    const b = new StateBuilder(schema).add('Item', item(1, 1)).build({ version: 2 });
    expect(() => encodeDelta(a, b)).toThrow(expect.objectContaining({ code: 'CHECKSUM_MISMATCH' }));
  });

  it('refuses corrupt or truncated deltas with typed errors, leaving the state intact', () => {
    const b = new StateBuilder(schema);
    for (let i = 0; i < 200; i++) b.add('Item', item(i, 0));
    const v1 = b.build({ version: 1 });
    const v2 = StateBuilder.from(v1).upsert('Item', item(7, 2)).remove('Item', 9).build({ version: 2 });
    const delta = encodeDelta(v1, v2);
    const before = contents(v1);
    for (let i = 0; i < delta.length; i += 7) {
      const bad = delta.slice();
      bad[i]! ^= 0x21;
      expect(() => applyDelta(v1, bad)).toThrow(
        expect.objectContaining({ code: expect.stringMatching(/^BLOB_|DELTA_ORIGIN_MISMATCH/) }),
      );
    }
    expect(() => applyDelta(v1, delta.subarray(0, delta.length - 1))).toThrow(
      expect.objectContaining({ code: 'BLOB_TRUNCATED' }),
    );
    expect(() => applyDelta(v1, encodeSnapshot(v2))).toThrow(
      expect.objectContaining({ code: 'BLOB_WRONG_KIND' }),
    );
    expect(contents(v1)).toEqual(before);
    expect(applyDelta(v1, delta).type('Item').get(9)).toBeUndefined();
  });
});

describe('schema changes across versions', () => {
  const V1 = t.schema([t.object('M', { id: t.int(), a: t.string() }, { primaryKey: 'id' })]);
  const V2 = t.schema([
    t.object('M', { id: t.int(), a: t.string().optional(), b: t.double().optional() }, { primaryKey: 'id' }),
    t.object('N', { k: t.string() }, { primaryKey: 'k' }),
  ]);

  it('carries a compatible change in a snapshot and in the deltas after it', () => {
    const v1 = new StateBuilder(V1)
      .add('M', { id: 1, a: 'x' })
      .add('M', { id: 2, a: 'y' })
      .build({ version: 1 });
    const v2 = new StateBuilder(V2, { previous: v1 })
      .add('M', { id: 1, a: 'x' })
      .add('M', { id: 2, b: 2.5 })
      .add('N', { k: 'new' })
      .build({ version: 2 });
    expect(v2.type('M').get(1)?.toObject()).toEqual({ id: 1, a: 'x' });
    const snap = decodeSnapshot(encodeSnapshot(v2));
    expect(snap.schema.has('N')).toBe(true);
    const viaDelta = applyDelta(decodeSnapshot(encodeSnapshot(v1)), encodeDelta(v1, v2));
    expectSame(viaDelta, snap);
    const v3 = StateBuilder.from(v2).upsert('N', { k: 'more' }).build({ version: 3 });
    expectSame(applyDelta(viaDelta, encodeDelta(v2, v3)), v3);
    // Across the change a delta is checked by applying it: it gives v2, and nothing else.
    verifyDelta(v1, encodeDelta(v1, v2), v2);
    expect(() => verifyDelta(v1, encodeDelta(v1, v2), v3)).toThrow(
      expect.objectContaining({ code: 'CHECKSUM_MISMATCH' }),
    );
  });

  it('refuses an incompatible change with SCHEMA_INCOMPATIBLE, saying to start a new namespace', () => {
    const v1 = new StateBuilder(V1).add('M', { id: 1, a: 'x' }).build({ version: 1 });
    const Bad = t.schema([t.object('M', { id: t.int(), a: t.int() }, { primaryKey: 'id' })]);
    expect(() => new StateBuilder(Bad, { previous: v1 }).build({ version: 2 })).toThrow(
      expect.objectContaining({
        code: 'SCHEMA_INCOMPATIBLE',
        message: expect.stringContaining('new namespace'),
      }),
    );
  });
});
