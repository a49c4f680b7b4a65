import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../src/blob/fs-blob-store.ts';
import { Consumer, type RefreshEvent } from '../src/consumer/consumer.ts';
import type { ShoalError } from '../src/errors.ts';
import { Producer } from '../src/producer/producer.ts';
import { t } from '../src/schema/index.ts';
import { StateBuilder } from '../src/state/build/state-builder.ts';
import { applyDelta, encodeDelta, encodeReverseDelta, readDeltaHeader } from '../src/state/encoding/delta.ts';
import { decodeSnapshot, encodeSnapshot } from '../src/state/encoding/snapshot.ts';
import type { AnyState, State } from '../src/state/read/state.ts';
import { diffStates } from '../src/state/read/state-diff.ts';

const Item = t.object(
  'Item',
  {
    id: t.int(),
    group: t.string(),
    name: t.string(),
    score: t.double(),
    tags: t.list(t.string()).optional(),
  },
  { primaryKey: 'id', indexes: { byGroup: ['group'], byName: { fields: ['name'], prefix: true } } },
);
const schema = t.schema([Item]);
type Rec = t.Infer<typeof Item>;

/** A deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function record(id: number, rev: number, random: () => number): Rec {
  const r: Rec = {
    id,
    group: `g${Math.floor(random() * 12)}`,
    name: `${['ab', 'abc', 'b', 'ba', 'c'][id % 5]} ${id} r${rev}`,
    score: Math.floor(random() * 1000) / 4,
  };
  if (random() < 0.7) r.tags = Array.from({ length: Math.floor(random() * 4) }, (_, k) => `t${(id + k) % 9}`);
  return r;
}

const sparseness = (state: AnyState): number => {
  const type = state.type('Item');
  return type.capacity === 0 ? 0 : (type.capacity - type.size) / type.capacity;
};

/** Every read a user makes, against the model: by key, by iteration, by both indexes. */
function expectModel(state: AnyState, model: ReadonlyMap<number, Rec>): void {
  const items = state.type('Item');
  expect(items.size).toBe(model.size);
  const seen = new Map<number, unknown>();
  for (const view of items) {
    const r = view.toObject() as Rec;
    seen.set(r.id, r);
  }
  expect(seen).toEqual(model);
  for (const [id, r] of model) expect(items.get(id)?.toObject()).toEqual(r);
  const byGroup = items.index('byGroup');
  for (let g = 0; g < 12; g++) {
    const ids = [...byGroup.find(`g${g}`)].map((v) => v.id as number).sort((a, b) => a - b);
    const want = [...model.values()]
      .filter((r) => r.group === `g${g}`)
      .map((r) => r.id)
      .sort((a, b) => a - b);
    expect(ids).toEqual(want);
  }
  const byName = items.index('byName');
  for (const prefix of ['ab', 'abc ', 'b', 'c 1']) {
    const ids = [...byName.findPrefix(prefix)].map((v) => v.id as number).sort((a, b) => a - b);
    const want = [...model.values()]
      .filter((r) => r.name.startsWith(prefix))
      .map((r) => r.id)
      .sort((a, b) => a - b);
    expect(ids).toEqual(want);
  }
}

function build(
  builder: StateBuilder<typeof schema>,
  version: number,
  compactAbove: number,
): State<typeof schema> {
  return builder.build({ version, compactAbove });
}

describe('compaction', () => {
  it('keeps every record, lookup and index read equal to a model across compaction deltas and snapshots', () => {
    let compactions = 0;
    for (const [seed, compactAbove] of [
      [1, 0.01],
      [2, 0.04],
      [3, 0.1],
    ] as const) {
      const random = prng(seed);
      const model = new Map<number, Rec>();
      const first = new StateBuilder(schema);
      for (let id = 0; id < 1500; id++) {
        const r = record(id, 0, random);
        model.set(id, r);
        first.add('Item', r);
      }
      let state = build(first, 1, compactAbove);
      let consumer: AnyState = decodeSnapshot(encodeSnapshot(state));
      let nextId = 1500;
      for (let v = 2; v <= 30; v++) {
        const before = new Map(model);
        const builder = StateBuilder.from(state);
        // Phases: churn, then mass removal (sparseness jumps), then growth.
        const phase = v % 10;
        const ops = phase === 5 ? 0 : Math.floor(random() * 120);
        if (phase === 5) {
          for (const id of [...model.keys()]) {
            if (random() < 0.3) {
              builder.remove('Item', id);
              model.delete(id);
            }
          }
        }
        for (let k = 0; k < ops; k++) {
          const dice = random();
          const keys = [...model.keys()];
          if (dice < 0.5 && keys.length > 0) {
            const id = keys[Math.floor(random() * keys.length)]!;
            const r = record(id, v, random);
            builder.upsert('Item', r);
            model.set(id, r);
          } else if (dice < (phase > 5 ? 0.6 : 0.75) && keys.length > 0) {
            const id = keys[Math.floor(random() * keys.length)]!;
            builder.remove('Item', id);
            model.delete(id);
          } else {
            const r = record(nextId, v, random);
            builder.upsert('Item', r);
            model.set(nextId++, r);
          }
        }
        const next = build(builder, v, compactAbove);
        if (next.type('Item').capacity < state.type('Item').capacity) compactions++;
        if (v % 5 === 0) expectModel(next, model);
        // Listeners see the user's changes only: a record compaction moved is no change.
        const diff = diffStates(state, next).Item!;
        const sorted = (keys: unknown[]) => (keys as number[]).sort((a, b) => a - b);
        expect(sorted(diff.added)).toEqual(
          [...model.keys()].filter((id) => !before.has(id)).sort((a, b) => a - b),
        );
        expect(sorted(diff.removed)).toEqual(
          [...before.keys()].filter((id) => !model.has(id)).sort((a, b) => a - b),
        );
        expect(sorted(diff.modified)).toEqual(
          [...model.keys()]
            .filter(
              (id) => before.has(id) && JSON.stringify(before.get(id)) !== JSON.stringify(model.get(id)),
            )
            .sort((a, b) => a - b),
        );
        const delta = encodeDelta(state, next);
        const reverse = encodeReverseDelta(state, next);
        const applied = applyDelta(consumer, delta);
        expect(applied.checksum).toBe(next.checksum);
        expectModel(applied, model);
        expect(applyDelta(applied, reverse).checksum).toBe(state.checksum);
        // Now and then the consumer starts again from a snapshot of this version.
        consumer = v % 7 === 0 ? decodeSnapshot(encodeSnapshot(next)) : applied;
        if (v % 7 === 0) expectModel(consumer, model);
        state = next;
      }
    }
    expect(compactions).toBeGreaterThan(5);
  }, 300_000);

  it('keeps a long-lived state under the threshold, near a fresh snapshot in bytes', () => {
    const run = (compactAbove: number) => {
      const random = prng(7);
      const first = new StateBuilder(schema);
      for (let id = 0; id < 5000; id++) first.add('Item', record(id, 0, random));
      let state = first.build({ version: 1, compactAbove });
      let nextId = 5000;
      const seen: number[] = [];
      for (let v = 2; v <= 60; v++) {
        const builder = StateBuilder.from(state);
        const ids = [...state.type('Item').ordinals()].map((o) => state.type('Item').view(o).id as number);
        for (let k = 0; k < 40; k++)
          builder.upsert('Item', record(ids[Math.floor(random() * ids.length)]!, v, random));
        for (let k = 0; k < 10; k++) {
          builder.remove('Item', ids[Math.floor(random() * ids.length)]!);
          builder.upsert('Item', record(nextId++, v, random));
        }
        state = builder.build({ version: v, compactAbove });
        seen.push(sparseness(state));
      }
      const fresh = new StateBuilder(schema);
      for (const view of state.type('Item')) fresh.add('Item', view.toObject() as Rec);
      const size = encodeSnapshot(state).byteLength / encodeSnapshot(fresh.build({ version: 1 })).byteLength;
      return { seen, size };
    };
    const on = run(0.05);
    expect(Math.max(...on.seen)).toBeLessThanOrEqual(0.05);
    // Empty ordinals, plus the bytes removed records leave in pages no build has rebuilt yet.
    expect(on.size).toBeLessThan(1.07);
    const off = run(1);
    expect(off.seen.at(-1)).toBeGreaterThan(0.15);
    expect(off.size).toBeGreaterThan(1.15);
  }, 300_000);

  it('crosses the threshold both ways, moving at most a page of records per build', () => {
    const compactAbove = 0.05;
    const random = prng(11);
    const first = new StateBuilder(schema);
    for (let id = 0; id < 20_000; id++) first.add('Item', record(id, 0, random));
    let state = first.build({ version: 1, compactAbove });
    const model = new Map<number, Rec>(
      [...state.type('Item')].map((v) => [v.id as number, v.toObject() as Rec]),
    );
    let v = 1;
    const history: number[] = [];
    const step = (change: (b: StateBuilder<typeof schema>) => void) => {
      const builder = StateBuilder.from(state);
      change(builder);
      const next = builder.build({ version: ++v, compactAbove });
      const header = readDeltaHeader(encodeDelta(state, next));
      history.push(sparseness(next));
      state = next;
      return header.types[0]!.count ?? 0;
    };
    for (const round of [1, 2]) {
      // Two records in five go, then one in three of the rest: holes everywhere, and far more
      // than a build may move.
      const moved = step((b) => {
        for (const id of [...model.keys()]) {
          if (round === 1 ? id % 5 < 2 : id % 5 === 2) {
            b.remove('Item', id);
            model.delete(id);
          }
        }
      });
      expect(moved).toBeLessThanOrEqual(1024);
      expect(history.at(-1)).toBeGreaterThan(compactAbove);
      let builds = 0;
      while (history.at(-1)! > compactAbove) {
        const before = history.at(-1)!;
        const added = step((b) => {
          const r = record(100_000 * round + builds, v, random);
          b.upsert('Item', r);
          model.set(r.id, r);
        });
        expect(added).toBeLessThanOrEqual(1024 + 1);
        expect(history.at(-1)).toBeLessThan(before);
        expect(++builds).toBeLessThan(20);
      }
      expect(builds).toBeGreaterThan(1);
      expectModel(state, model);
      // Quiet builds then move nothing.
      const quiet = StateBuilder.from(state).build({ version: ++v, compactAbove });
      expect(quiet.type('Item').parts.columns).toBe(state.type('Item').parts.columns);
      state = quiet;
    }
  }, 300_000);

  it('refuses a compactAbove outside (0, 1] with INVALID_OPTION', () => {
    const builder = new StateBuilder(schema);
    for (const bad of [0, -0.1, 1.5, Number.NaN]) {
      expect(() => builder.build({ version: 1, compactAbove: bad })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION' }) as ShoalError,
      );
    }
  });
});

describe('compaction in a producer', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'shoal-compaction-'));
    dirs.push(d);
    return d;
  };

  it('compacts by its compactAbove option, and a consumer following by deltas sees only the changes', async () => {
    const run = async (compactAbove: number) => {
      const store = new FsBlobStore({ dir: await tempDir(), fsync: false });
      const open = { store, namespace: 'items', schema, walDir: await tempDir(), fsync: false };
      await using producer = await Producer.open({ ...open, compactAbove, snapshotEvery: 100 });
      const random = prng(5);
      const model = new Map<number, Rec>();
      for (let id = 0; id < 3000; id++) model.set(id, record(id, 0, random));
      await producer.runCycle((w) => {
        for (const r of model.values()) w.add('Item', r);
      });
      await using consumer = await Consumer.open({ store, namespace: 'items', watch: false });
      const refreshes: RefreshEvent[] = [];
      consumer.on('refresh', (e) => refreshes.push(e));
      for (const id of model.keys()) if (id % 5 < 2) model.delete(id);
      for (let cycle = 0; cycle < 6; cycle++) {
        const id = [...model.keys()][cycle * 7]!;
        model.set(id, record(id, cycle + 1, random));
        await producer.runCycle((w) => {
          for (const r of model.values()) w.add('Item', r);
        });
        await consumer.refresh();
        expect(consumer.version).toBe(producer.version);
        if (cycle > 0)
          expect(refreshes.at(-1)!.types.Item).toEqual({ added: [], removed: [], modified: [id] });
      }
      expect(refreshes.map((r) => r.kind)).toEqual(Array(6).fill('delta'));
      expectModel(consumer.state, model);
      return sparseness(producer.state!);
    };
    expect(await run(0.05)).toBeLessThanOrEqual(0.05);
    expect(await run(1)).toBeGreaterThan(0.35);
  }, 120_000);

  it('refuses a compactAbove outside (0, 1] with INVALID_OPTION', async () => {
    const store = new FsBlobStore({ dir: await tempDir(), fsync: false });
    await expect(
      Producer.open({ store, namespace: 'items', schema, walDir: await tempDir(), compactAbove: 2 }),
    ).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });
});
