/**
 * Every encoding, in key fields and value fields, against a plain model (a Map of records),
 * across page boundaries and across deltas that grow, shrink and change a column's encoding.
 *
 * The builder, the deltas and the applier run with small layout thresholds (a dictionary from
 * 4 values, 8-bit codes up to 4 entries, 16-bit up to 12, 16-bit offsets up to 40 bytes), so a
 * few hundred records reach what a million would with the defaults; one case runs the default
 * thresholds on enough records to cross them. Values come from skewed and low-cardinality pools
 * as well as free ones; key parts of composite keys repeat (few countries, many names).
 *
 * After every step each of: the built state, the state a consumer reaches by applying the delta,
 * the decoded snapshot, and a re-stated build are compared with the model (every key found and
 * equal to its record, absent keys not found, iteration, sizes, diffs, checksums), and the
 * reverse delta must give back the previous records.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { msgpack } from '../src/format/msgpack.ts';
import {
  type AnyState,
  applyDelta,
  decodeSnapshot,
  diffStates,
  encodeDelta,
  encodeReverseDelta,
  encodeSnapshot,
  FieldType,
  ObjectType,
  Schema,
  StateBuilder,
} from '../src/index.ts';
import type { Layout } from '../src/state/column/layout.ts';
import { EncodingCoverage } from './support/encoding-coverage.ts';

const SMALL: Partial<Layout> = { minDictValues: 4, maxNarrowDict: 4, maxDictSize: 12, maxNarrowOffset: 40 };

type KeyKind = 'int' | 'long' | 'bigint' | 'string';
type ValueKind = KeyKind | 'double' | 'float' | 'boolean' | 'bytes' | 'json';
const VALUE_KINDS: ValueKind[] = [
  'int',
  'long',
  'bigint',
  'double',
  'float',
  'boolean',
  'string',
  'bytes',
  'json',
];

interface KeyPart {
  readonly kind: KeyKind;
  /** Distinct values of a leading part; the last part is unbounded. */
  readonly cardinality: number;
}
interface FieldPlan {
  readonly kind: ValueKind;
  readonly list: boolean;
  readonly optional: boolean;
  /** Values drawn from a pool (size ≥ 1) whose usable part grows step by step, or free (0). */
  readonly pool: number;
  readonly skewed: boolean;
  /** Strings and bytes this long at least (long values cross the 16-bit offset limit). */
  readonly minLength: number;
}
interface TypePlan {
  readonly key: readonly KeyPart[];
  readonly fields: readonly FieldPlan[];
}
interface Step {
  /** Share of the live records modified, removed; records added (as a share of the size). */
  readonly modify: number;
  readonly remove: number;
  readonly add: number;
  /** Instead: exactly one record modified, its optional fields absent (the smallest delta). */
  readonly one?: boolean;
}
interface Plan {
  readonly types: readonly TypePlan[];
  readonly initial: number;
  readonly steps: readonly Step[];
  readonly seed: number;
}

/** A small deterministic PRNG (mulberry32) over a seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), a | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ['', 'FR', 'ü', 'Ελλάδα', '漢字', 'a b', 'x'.repeat(25)];

function keyValue(kind: KeyKind, d: number): unknown {
  switch (kind) {
    case 'int':
      return d % 2 ? -(d * 7919) : d * 7919;
    case 'long':
      return 2 ** 40 + d * 3;
    case 'bigint':
      return BigInt(d) * 1_000_000_007n - 2n ** 62n;
    case 'string':
      return d < STRINGS.length ? STRINGS[d]! : `n${d}`;
  }
}

/** The key fields of record `i`: mixed-radix digits of `i`, so keys are unique and parts repeat. */
function keyOfIndex(plan: TypePlan, i: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let rest = i;
  plan.key.forEach((part, j) => {
    const last = j === plan.key.length - 1;
    const d = last ? rest : rest % part.cardinality;
    rest = last ? 0 : Math.floor(rest / part.cardinality);
    out[`k${j}`] = keyValue(part.kind, d);
  });
  return out;
}

function freeScalar(kind: ValueKind, r: () => number, minLength: number): unknown {
  const n = Math.floor(r() * 2 ** 31);
  switch (kind) {
    case 'int':
      return n % 2 ? -n : n;
    case 'long':
      return n * 1000 + (n % 997);
    case 'bigint':
      return (BigInt(n) << 30n) - 2n ** 60n;
    case 'double':
      return r() < 0.05 ? -0 : (n - 2 ** 30) / 7.3;
    case 'float':
      return Math.fround(n / 3.7);
    case 'boolean':
      return (n & 1) === 1;
    case 'string':
      return `${'s'.repeat(minLength)}${n.toString(36)}${n % 5 === 0 ? 'é' : ''}`;
    case 'bytes':
      return Uint8Array.from({ length: minLength + (n % 6) }, (_, k) => (n >>> k) & 0xff);
    case 'json':
      return n % 3 === 0 ? [n, 's'.repeat(minLength)] : { n, s: `v${n % 50}`, nested: { b: n % 2 === 0 } };
  }
}

/** A value pool per field: fixed for a run, so equal draws give equal values. */
function poolOf(f: FieldPlan, seed: number): unknown[] {
  const r = prng(seed);
  return Array.from({ length: f.pool }, () => freeScalar(f.kind, r, f.minLength));
}

function scalarOf(f: FieldPlan, pool: unknown[], window: number, r: () => number): unknown {
  if (f.pool === 0) return freeScalar(f.kind, r, f.minLength);
  const usable = Math.max(1, Math.min(pool.length, Math.ceil(pool.length * window)));
  const u = f.skewed ? r() ** 4 : r();
  return pool[Math.floor(u * usable)];
}

function schemaOf(plan: Plan): Schema {
  const field = (kind: ValueKind) =>
    kind === 'bigint' ? new FieldType('long', false, undefined, true) : new FieldType(kind, false);
  return new Schema(
    plan.types.map((tp, ti) => {
      const shape: Record<string, FieldType> = {};
      tp.key.forEach((part, j) => {
        shape[`k${j}`] = field(part.kind);
      });
      tp.fields.forEach((f, j) => {
        let type: FieldType = f.list ? new FieldType('list', false, field(f.kind)) : field(f.kind);
        if (f.optional) type = type.optional();
        shape[`f${j}`] = type;
      });
      const key = tp.key.length === 1 ? 'k0' : tp.key.map((_, j) => `k${j}`);
      return new ObjectType(`T${ti}`, shape, key);
    }),
  );
}

/** What `toObject()` gives for `record`: absent fields dropped, floats rounded, json normalised. */
function expected(type: ObjectType, record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fields) {
    const v = record[f.name];
    if (v === undefined) continue;
    const kind = f.kind === 'list' ? f.element!.kind : f.kind;
    const norm = (x: unknown) =>
      kind === 'float' ? Math.fround(x as number) : kind === 'json' ? msgpack.unpack(msgpack.pack(x)) : x;
    out[f.name] = f.kind === 'list' ? (v as unknown[]).map(norm) : norm(v);
  }
  return out;
}

/** A string equal for equal records (by stored value: -0 and NaN by identity, bytes by content). */
function canon(v: unknown): string {
  return JSON.stringify(v, (_, x) => {
    if (typeof x === 'bigint') return `${x}n`;
    if (typeof x === 'number' && (Number.isNaN(x) || Object.is(x, -0) || !Number.isFinite(x)))
      return `#${Object.is(x, -0) ? '-0' : String(x)}`;
    if (x instanceof Uint8Array) return `bytes:${Buffer.from(x).toString('hex')}`;
    return x;
  });
}

const keyId = (key: Record<string, unknown>) => canon(key);

/** The key a type takes in `get` (a value for one field, an object for several). */
const lookupKey = (tp: TypePlan, key: Record<string, unknown>) => (tp.key.length === 1 ? key.k0 : key);

/** The model: per type, key id → record, plus the keys it ever held. */
type Model = Map<string, Map<string, { key: Record<string, unknown>; record: Record<string, unknown> }>>;

function checkAgainstModel(
  state: AnyState,
  plan: Plan,
  model: Model,
  gone: Map<string, Record<string, unknown>[]>,
  what: string,
) {
  plan.types.forEach((tp, ti) => {
    const name = `T${ti}`;
    const typeState = state.type(name);
    const m = model.get(name)!;
    expect(typeState.size, `${what}: ${name} size`).toBe(m.size);
    const listed = new Set<string>();
    for (const view of typeState) {
      const obj = view.toObject() as Record<string, unknown>;
      const key = Object.fromEntries(tp.key.map((_, j) => [`k${j}`, obj[`k${j}`]]));
      listed.add(keyId(key));
    }
    expect(listed.size, `${what}: ${name} iteration`).toBe(m.size);
    for (const [id, { key, record }] of m) {
      expect(listed.has(id), `${what}: ${name} iteration lacks ${id}`).toBe(true);
      const view = typeState.get(lookupKey(tp, key) as never);
      expect(view?.toObject(), `${what}: ${name} get ${id}`).toEqual(expected(typeState.type, record));
    }
    for (const key of gone.get(name) ?? []) {
      if (m.has(keyId(key))) continue;
      expect(
        typeState.get(lookupKey(tp, key) as never),
        `${what}: ${name} absent ${keyId(key)}`,
      ).toBeUndefined();
      expect(typeState.has(lookupKey(tp, key) as never)).toBe(false);
    }
  });
}

const sortedIds = (keys: unknown[], tp: TypePlan) =>
  keys.map((k) => keyId(tp.key.length === 1 ? { k0: k } : (k as Record<string, unknown>))).sort();

/** Runs one plan through every path; records the encodings it reached in `coverage`. */
function runPlan(plan: Plan, layout: Partial<Layout> | undefined, coverage: EncodingCoverage): void {
  const schema = schemaOf(plan);
  const build = (b: StateBuilder, version: number) => b.build(layout ? { version, layout } : { version });
  const applyOptions = layout ? { layout } : {};
  const pools = plan.types.map((tp, ti) => tp.fields.map((f, j) => poolOf(f, plan.seed + ti * 100 + j)));
  const r = prng(plan.seed);
  const recordOf = (ti: number, i: number, window: number, bare = false) => {
    const tp = plan.types[ti]!;
    const rec: Record<string, unknown> = keyOfIndex(tp, i);
    tp.fields.forEach((f, j) => {
      if (f.optional && (bare || r() < 0.25)) return;
      const one = () => scalarOf(f, pools[ti]![j]!, window, r);
      rec[`f${j}`] = f.list ? Array.from({ length: Math.floor(r() ** 2 * 5) }, one) : one();
    });
    return rec;
  };
  const model: Model = new Map(plan.types.map((_, ti) => [`T${ti}`, new Map()]));
  const gone = new Map<string, Record<string, unknown>[]>(plan.types.map((_, ti) => [`T${ti}`, []]));
  const next = plan.types.map(() => plan.initial);
  const windows = plan.steps.length + 1;

  const first = new StateBuilder(schema);
  plan.types.forEach((tp, ti) => {
    for (let i = 0; i < plan.initial; i++) {
      const rec = recordOf(ti, i, 1 / windows);
      first.add(`T${ti}`, rec as never);
      model.get(`T${ti}`)!.set(keyId(keyOfIndex(tp, i)), { key: keyOfIndex(tp, i), record: rec });
    }
    // Keys never added: lookups must miss them.
    gone.get(`T${ti}`)!.push(keyOfIndex(tp, 10_000_000), keyOfIndex(tp, plan.initial + 7_777));
  });
  let produced = build(first, 1);
  let consumed = decodeSnapshot(encodeSnapshot(produced));
  coverage.record(produced);
  checkAgainstModel(produced, plan, model, gone, 'first build');
  checkAgainstModel(consumed, plan, model, gone, 'first snapshot');

  plan.steps.forEach((step, s) => {
    const version = s + 2;
    const window = (s + 2) / windows;
    const builder = StateBuilder.from(produced);
    const diff = new Map<string, { added: Set<string>; removed: Set<string>; modified: Set<string> }>();
    const before = new Map([...model].map(([name, m]) => [name, new Map(m)]));
    plan.types.forEach((tp, ti) => {
      const name = `T${ti}`;
      const m = model.get(name)!;
      const live = [...m.values()];
      if (step.one && live.length > 0) {
        const { key } = live[Math.floor(r() * live.length)]!;
        const rec = { ...recordOf(ti, 0, window, true), ...key };
        builder.upsert(name, rec as never);
        m.set(keyId(key), { key, record: rec });
      }
      for (const { key } of step.one ? [] : live) {
        const u = r();
        if (u < step.remove) {
          builder.remove(name, lookupKey(tp, key) as never);
          m.delete(keyId(key));
          gone.get(name)!.push(key);
        } else if (u < step.remove + step.modify) {
          const i = m.size; // any index: only the key matters, which we keep
          const rec = { ...recordOf(ti, i, window), ...key };
          builder.upsert(name, rec as never);
          m.set(keyId(key), { key, record: rec });
        }
      }
      const adds = step.one
        ? 0
        : Math.round(live.length * step.add + (live.length === 0 ? step.add * 40 : 0));
      for (let k = 0; k < adds; k++) {
        const i = next[ti]!++;
        const rec = recordOf(ti, i, window);
        builder.upsert(name, rec as never);
        m.set(keyId(keyOfIndex(tp, i)), { key: keyOfIndex(tp, i), record: rec });
      }
      const b = before.get(name)!;
      const d = { added: new Set<string>(), removed: new Set<string>(), modified: new Set<string>() };
      for (const [id, v] of m) {
        const old = b.get(id);
        if (!old) d.added.add(id);
        else if (
          canon(expected(schema.type(name), old.record)) !== canon(expected(schema.type(name), v.record))
        )
          d.modified.add(id);
      }
      for (const id of b.keys()) if (!m.has(id)) d.removed.add(id);
      diff.set(name, d);
    });
    const prevProduced = produced;
    const prevConsumed = consumed;
    produced = build(builder, version);
    const delta = encodeDelta(prevProduced, produced, applyOptions);
    consumed = applyDelta(prevConsumed, delta, applyOptions);
    const snapshot = decodeSnapshot(encodeSnapshot(produced));
    const restater = new StateBuilder(schema, { previous: prevProduced });
    for (const [name, m] of model) for (const { record } of m.values()) restater.add(name, record as never);
    const restated = build(restater, version);

    for (const st of [produced, consumed, snapshot, restated]) coverage.record(st);
    coverage.transition(prevProduced, produced);
    coverage.transition(prevConsumed, consumed);
    checkAgainstModel(produced, plan, model, gone, `step ${s} built`);
    checkAgainstModel(consumed, plan, model, gone, `step ${s} delta applied`);
    checkAgainstModel(snapshot, plan, model, gone, `step ${s} snapshot`);
    checkAgainstModel(restated, plan, model, gone, `step ${s} re-stated`);
    expect(consumed.checksum).toBe(produced.checksum);
    expect(snapshot.checksum).toBe(produced.checksum);
    expect(restated.checksum).toBe(produced.checksum);

    for (const [label, a, b] of [
      ['built', prevProduced, produced],
      ['applied', prevConsumed, consumed],
      ['re-stated', prevProduced, restated],
    ] as const) {
      const got = diffStates(a, b);
      plan.types.forEach((tp, ti) => {
        const want = diff.get(`T${ti}`)!;
        const d = got[`T${ti}`]!;
        expect(sortedIds(d.added, tp), `step ${s} ${label} diff added`).toEqual([...want.added].sort());
        expect(sortedIds(d.removed, tp), `step ${s} ${label} diff removed`).toEqual([...want.removed].sort());
        expect(sortedIds(d.modified, tp), `step ${s} ${label} diff modified`).toEqual(
          [...want.modified].sort(),
        );
      });
    }

    // The reverse delta takes the consumer back to the previous records.
    const back = applyDelta(consumed, encodeReverseDelta(prevProduced, produced, applyOptions), applyOptions);
    expect(back.checksum).toBe(prevProduced.checksum);
    checkAgainstModel(back, plan, before, gone, `step ${s} reverse`);
  });
}

const keyPart: fc.Arbitrary<KeyPart> = fc.record({
  kind: fc.constantFrom<KeyKind>('int', 'long', 'bigint', 'string'),
  cardinality: fc.constantFrom(1, 2, 3, 5, 7),
});
const fieldPlan: fc.Arbitrary<FieldPlan> = fc.record({
  kind: fc.constantFrom(...VALUE_KINDS),
  list: fc.boolean(),
  optional: fc.boolean(),
  pool: fc.constantFrom(0, 1, 3, 5, 12, 30),
  skewed: fc.boolean(),
  minLength: fc.constantFrom(0, 0, 12),
});
const typePlan: fc.Arbitrary<TypePlan> = fc.record({
  key: fc.array(keyPart, { minLength: 1, maxLength: 3 }),
  fields: fc.array(fieldPlan, { minLength: 1, maxLength: 4 }),
});
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    modify: fc.constantFrom(0, 0.02, 0.1),
    remove: fc.constantFrom(0, 0.02, 0.1),
    add: fc.constantFrom(0, 0.05, 0.3),
  }),
  fc.constant({ modify: 0, remove: 1, add: 0 }),
  fc.constant({ modify: 0, remove: 0, add: 0, one: true }),
  fc.constant({ modify: 0.5, remove: 0.3, add: 1 }),
);
const plan: fc.Arbitrary<Plan> = fc.record({
  types: fc.array(typePlan, { minLength: 1, maxLength: 2 }),
  initial: fc.oneof(
    fc.integer({ min: 0, max: 12 }),
    fc.integer({ min: 40, max: 200 }),
    fc.integer({ min: 1030, max: 1200 }),
  ),
  steps: fc.array(step, { minLength: 1, maxLength: 4 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

/** Every width of every encoding a key field (int, long, string) and a value field can take. */
const KEY_ENCODINGS = ['key:fixed', 'key:dict8', 'key:dict16', 'key:var16', 'key:var32'];
const VALUE_ENCODINGS = [
  'value:fixed',
  'value:dict8',
  'value:dict16',
  'value:var16',
  'value:var32',
  'value:list-of-fixed',
  'value:list-of-dict8',
  'value:list-of-dict16',
  'value:list-of-var16',
  'value:list-of-var32',
  'value:list-offsets16',
  'value:list-offsets32',
];
/** Encoding changes a delta must have made somewhere (8→16-bit codes, a dictionary given up). */
const CHANGES = ['dict8 -> dict16', 'dict8 -> fixed', 'dict16 -> fixed', 'dict16 -> var'];

describe('every encoding against a model (small thresholds)', () => {
  const coverage = new EncodingCoverage();
  afterAll(() => {
    // The coverage note: which encodings the generative runs reached.
    console.log(
      `encodings reached: ${[...coverage.seen].sort().join(', ')}\nencoding changes across deltas: ${[...coverage.changes].sort().join('; ')}`,
    );
  });

  it('random histories: skewed, low-cardinality and free values, composite keys whose parts repeat', () => {
    fc.assert(
      fc.property(plan, (p) => runPlan(p, SMALL, coverage)),
      { numRuns: 28, seed: 0x5eed, endOnFailure: true },
    );
  });

  it(`reached, in key fields: ${KEY_ENCODINGS.join(', ')}`, () => {
    expect(coverage.missing(KEY_ENCODINGS)).toEqual([]);
  });

  it(`reached, in value fields: ${VALUE_ENCODINGS.join(', ')}`, () => {
    expect(coverage.missing(VALUE_ENCODINGS)).toEqual([]);
  });

  it(`changed a column's encoding across a delta: ${CHANGES.join(', ')}`, () => {
    // A list's elements change encoding the same way a scalar column does.
    const changes = [...coverage.changes].map((c) => c.replaceAll('list-of-', ''));
    expect(CHANGES.filter((c) => !changes.some((seen) => seen.includes(c)))).toEqual([]);
  });
});

describe('every encoding against a model (default thresholds)', () => {
  it('crosses the default dictionary, code-width and offset limits with composite keys', () => {
    const coverage = new EncodingCoverage();
    // Country (few) + region (300 distinct: 16-bit codes) + id; long names push a page's heap
    // past 64 KiB; growth steps bring new regions into the dictionary.
    const p: Plan = {
      types: [
        {
          key: [
            { kind: 'string', cardinality: 5 },
            { kind: 'int', cardinality: 3 },
            { kind: 'int', cardinality: 1 },
          ],
          fields: [
            { kind: 'string', list: false, optional: false, pool: 600, skewed: false, minLength: 0 },
            { kind: 'int', list: false, optional: true, pool: 200, skewed: true, minLength: 0 },
            { kind: 'string', list: false, optional: false, pool: 0, skewed: false, minLength: 80 },
            { kind: 'string', list: true, optional: false, pool: 40, skewed: true, minLength: 0 },
          ],
        },
      ],
      initial: 2100,
      steps: [
        { modify: 0.01, remove: 0.01, add: 0.01 },
        { modify: 0.3, remove: 0.05, add: 0.5 },
      ],
      seed: 12345,
    };
    runPlan(p, undefined, coverage);
    expect(coverage.missing(['key:dict8', 'value:dict16', 'value:var32', 'value:list-of-dict8'])).toEqual([]);
  });
});

describe('a dictionary at its limit', () => {
  it('is rebuilt once when it stops paying, not by every delta that brings a value', () => {
    const T = new ObjectType(
      'T',
      { id: new FieldType('int', false), v: new FieldType('string', false) },
      'id',
    );
    const schema = new Schema([T]);
    const layout = SMALL; // at most 12 entries
    // 11 values held by one record each, and one held by all the others: a full dictionary.
    const b = new StateBuilder(schema);
    for (let i = 0; i < 3000; i++) b.add('T', { id: i, v: i < 11 ? `u${i}` : 'common' } as never);
    let state = b.build({ version: 1, layout });
    expect(state.type('T').parts.columns[1]!.dict?.size).toBe(12);
    const rebuilt: number[] = [];
    for (let step = 0; step < 10; step++) {
      // The only holder of one value moves to a value never seen: the distinct count stays 12.
      const next = StateBuilder.from(state)
        .upsert('T', { id: step, v: `fresh${step}` } as never)
        .build({ version: step + 2, layout });
      const before = state.type('T').parts.columns[1]!.parts;
      const after = next.type('T').parts.columns[1]!.parts;
      if (!after.some((pages) => pages.some((page) => before.some((b) => b.includes(page)))))
        rebuilt.push(step);
      expect(next.type('T').get(step)?.v).toBe(`fresh${step}`);
      state = next;
    }
    // One rebuild, to a plain column (12 entries could not double within the limit); after
    // it, each delta shares the pages it does not touch.
    expect(rebuilt).toEqual([0]);
    expect(state.type('T').parts.columns[1]!.encoding).toBe('var');
  });
});
