/**
 * fast-check generators: random schemas (every field kind, optional fields, lists, one-field
 * and composite keys, types without a key) and records for them. Fields are "narrow" at random
 * (values from a small pool) so dictionary encodings get exercised as often as plain ones.
 */
import fc from 'fast-check';
import { msgpack } from '../../src/format/msgpack.ts';
import { FieldType, ObjectType, Schema } from '../../src/schema/index.ts';

type Kind = 'int' | 'long' | 'bigint' | 'double' | 'float' | 'boolean' | 'string' | 'bytes' | 'json';
const KINDS: Kind[] = ['int', 'long', 'bigint', 'double', 'float', 'boolean', 'string', 'bytes', 'json'];

export interface FieldPlan {
  readonly kind: Kind;
  readonly list: boolean;
  readonly optional: boolean;
  readonly narrow: boolean;
}

export interface TypePlan {
  readonly fields: readonly FieldPlan[];
  readonly key: 'none' | 'int' | 'long' | 'string' | 'composite';
}

function fieldType(kind: Kind): FieldType<unknown, false> {
  return kind === 'bigint' ? new FieldType('long', false, undefined, true) : new FieldType(kind, false);
}

/** The schema of a list of type plans (types T0, T1, …; fields f0, f1, …; key fields k / k1, k2). */
export function schemaOf(plans: readonly TypePlan[]): Schema {
  return new Schema(
    plans.map((plan, i) => {
      const shape: Record<string, FieldType> = {};
      if (plan.key === 'composite') {
        shape.k1 = fieldType('int');
        shape.k2 = fieldType('string');
      } else if (plan.key !== 'none') {
        shape.k = fieldType(plan.key);
      }
      plan.fields.forEach((f, j) => {
        let type: FieldType = f.list ? new FieldType('list', false, fieldType(f.kind)) : fieldType(f.kind);
        if (f.optional) type = type.optional();
        shape[`f${j}`] = type;
      });
      const pk = plan.key === 'none' ? undefined : plan.key === 'composite' ? ['k1', 'k2'] : 'k';
      return new ObjectType(`T${i}`, shape, pk);
    }),
  );
}

const wellFormed = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => s.isWellFormed());

function scalar(kind: Kind): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'int':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'long':
      return fc.maxSafeInteger();
    case 'bigint':
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 'double':
      return fc.double();
    case 'float':
      return fc.float();
    case 'boolean':
      return fc.boolean();
    case 'string':
      return wellFormed;
    case 'bytes':
      return fc.uint8Array({ maxLength: 12 });
    case 'json':
      // A "__proto__" key is refused (msgpack decoding renames it); schema.test.ts covers that.
      return fc.jsonValue({ maxDepth: 2 }).filter((v) => !JSON.stringify(v).includes('"__proto__"'));
  }
}

function valueArb(f: FieldPlan): fc.Arbitrary<fc.Arbitrary<unknown>> {
  const base = f.narrow
    ? fc.array(scalar(f.kind), { minLength: 1, maxLength: 4 }).map((pool) => fc.constantFrom(...pool))
    : fc.constant(scalar(f.kind));
  return base.map((one) => {
    let v: fc.Arbitrary<unknown> = f.list ? fc.array(one, { maxLength: 4 }) : one;
    if (f.optional) v = fc.option(v, { nil: undefined, freq: 3 });
    return v;
  });
}

export const fieldPlan: fc.Arbitrary<FieldPlan> = fc.record({
  kind: fc.constantFrom(...KINDS),
  list: fc.boolean(),
  optional: fc.boolean(),
  narrow: fc.boolean(),
});

export const typePlan: fc.Arbitrary<TypePlan> = fc.record({
  fields: fc.array(fieldPlan, { minLength: 1, maxLength: 5 }),
  key: fc.constantFrom('none', 'int', 'long', 'string', 'composite'),
});

function keyArb(key: TypePlan['key'], few = false): fc.Arbitrary<Record<string, unknown>> {
  switch (key) {
    case 'none':
      return fc.constant({});
    case 'composite':
      return fc.record({
        k1: fc.integer({ min: -50, max: few ? -40 : 50 }),
        k2: fc.constantFrom('a', 'b', 'ü', ''),
      });
    case 'int':
      return fc.record({
        k: few ? fc.integer({ min: -20, max: 20 }) : fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      });
    case 'long':
      return fc.record({ k: few ? fc.integer({ min: 2 ** 40, max: 2 ** 40 + 40 }) : fc.maxSafeInteger() });
    case 'string':
      return fc.record({
        k: few ? fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzαβγ'.split('')) : wellFormed,
      });
  }
}

/** One record of a type (keys from a small set, so records collide and get updated). */
export function recordOf(plan: TypePlan): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(...plan.fields.map(valueArb)).chain((fieldArbs) =>
    fc.tuple(keyArb(plan.key, true), ...fieldArbs).map(([key, ...values]) => {
      const r: Record<string, unknown> = { ...key };
      values.forEach((v, j) => {
        if (v !== undefined) r[`f${j}`] = v;
      });
      return r;
    }),
  );
}

/** Records of one type, with unique keys. */
export function recordsOf(plan: TypePlan, maxRecords: number): fc.Arbitrary<Record<string, unknown>[]> {
  return fc.tuple(...plan.fields.map(valueArb)).chain((fieldArbs) => {
    const record = fc.tuple(keyArb(plan.key), ...fieldArbs).map(([key, ...values]) => {
      const r: Record<string, unknown> = { ...key };
      values.forEach((v, j) => {
        if (v !== undefined) r[`f${j}`] = v;
      });
      return r;
    });
    return fc
      .array(record, { maxLength: maxRecords })
      .map((rs) =>
        plan.key === 'none' ? rs : uniqueBy(rs, (r) => JSON.stringify([r.k, r.k1, r.k2], jsonSafe)),
      );
  });
}

export const jsonSafe = (_: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);

function uniqueBy<T>(items: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A random schema with records for each type. */
export function dataset(
  maxRecords: number,
): fc.Arbitrary<{ schema: Schema; records: Record<string, unknown>[][] }> {
  return fc
    .array(typePlan, { minLength: 1, maxLength: 3 })
    .chain((plans) =>
      fc
        .tuple(...plans.map((p) => recordsOf(p, maxRecords)))
        .map((records) => ({ schema: schemaOf(plans), records })),
    );
}

/** What `toObject()` should give for `record`: absent fields dropped, floats rounded, json normalised. */
export function expected(
  schema: Schema,
  typeName: string,
  record: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of schema.type(typeName).fields) {
    const v = record[f.name];
    if (v === undefined || (v === null && f.kind !== 'json')) continue;
    const kind = f.kind === 'list' ? f.element!.kind : f.kind;
    const norm = (x: unknown) =>
      kind === 'float' ? Math.fround(x as number) : kind === 'json' ? msgpack.unpack(msgpack.pack(x)) : x;
    out[f.name] = f.kind === 'list' ? (v as unknown[]).map(norm) : norm(v);
  }
  return out;
}

/** The lookup key of a record of a type built by {@link schemaOf}. */
export function keyOf(schema: Schema, typeName: string, record: Record<string, unknown>): unknown {
  const type = schema.type(typeName);
  if (type.compositeKey) return { k1: record.k1, k2: record.k2 };
  return record[type.primaryKey[0]!];
}
