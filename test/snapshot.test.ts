import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isShoalError, ShoalError } from '../src/errors.ts';
import { type ObjectType, type Schema, t } from '../src/schema/index.ts';
import { StateBuilder } from '../src/state/build/state-builder.ts';
import {
  decodeSnapshot,
  encodeSnapshot,
  readSnapshotHeader,
  verifyChecksum,
} from '../src/state/encoding/snapshot.ts';
import type { AnyState, State } from '../src/state/read/state.ts';
import { dataset, expected, keyOf } from './support/arbitraries.ts';

function build(schema: Schema, records: Record<string, unknown>[][], version = 1): State {
  const b = new StateBuilder(schema);
  schema.types.forEach((type: ObjectType, i: number) => {
    for (const r of records[i]!) b.add(type.name, r);
  });
  return b.build({ version });
}

function expectStateHolds(state: AnyState, records: Record<string, unknown>[][]): void {
  state.schema.types.forEach((type: ObjectType, i: number) => {
    const ts = state.type(type.name);
    const rs = records[i]!;
    expect(ts.size).toBe(rs.length);
    const seen = [...ts].map((v) => v.toObject());
    expect(seen).toEqual(rs.map((r) => expected(state.schema, type.name, r)));
    if (type.primaryKey.length > 0) {
      for (const r of rs) {
        const view = ts.get(keyOf(state.schema, type.name, r));
        expect(view?.toObject()).toEqual(expected(state.schema, type.name, r));
      }
    }
  });
}

describe('snapshot round trip', () => {
  it('gives back every record, by iteration and by key, for random schemas', () => {
    fc.assert(
      fc.property(dataset(150), ({ schema, records }) => {
        const state = build(schema, records, 42);
        const decoded = decodeSnapshot(encodeSnapshot(state), { verify: true });
        expect(decoded.version).toBe(42);
        expect(decoded.tag).toBe(state.tag);
        expect(decoded.checksum).toBe(state.checksum);
        expectStateHolds(state, records);
        expectStateHolds(decoded, records);
      }),
      { numRuns: 150 },
    );
  });

  it('holds across page boundaries, with dictionaries and 32-bit offsets', () => {
    const Item = t.object(
      'Item',
      {
        id: t.long(),
        name: t.string(),
        blurb: t.string().optional(),
        colour: t.string(),
        score: t.double(),
        flags: t.list(t.boolean()),
        codes: t.list(t.int()),
        extra: t.json().optional(),
      },
      { primaryKey: 'id' },
    );
    const schema = t.schema([Item]);
    const b = new StateBuilder(schema);
    const rows: t.Infer<typeof Item>[] = [];
    for (let i = 0; i < 3500; i++) {
      const row: t.Infer<typeof Item> = {
        id: i * 1_000_003 - 5e11,
        name: `name ${i}`,
        colour: ['red', 'green', 'blue'][i % 3]!,
        score: i % 7 === 0 ? -0 : i / 3,
        flags: i % 4 === 0 ? [] : [true, false],
        codes: [i, i % 5],
      };
      // Long strings on some pages push those pages' offsets past 16 bits.
      if (i % 3 === 0) row.blurb = i > 2048 ? 'x'.repeat(200) : `b${i}`;
      if (i % 11 === 0) row.extra = { i, nested: [i, 'x'] };
      rows.push(row);
      b.add('Item', row);
    }
    const state = b.build({ version: 7 });
    const items = decodeSnapshot(encodeSnapshot(state)).type('Item');
    const encodings = Object.fromEntries(items.parts.columns.map((c) => [c.spec.name, c.encoding]));
    expect(encodings).toMatchObject({
      id: 'fixed',
      name: 'var',
      blurb: 'var',
      colour: 'dict',
      flags: 'fixed',
      codes: 'fixed',
    });
    expect(items.parts.columns[2]!.parts[0]!.some((p) => p instanceof Uint32Array)).toBe(true);
    expect(items.size).toBe(3500);
    for (const row of rows) expect(items.get(row.id)?.toObject()).toEqual(expected(schema, 'Item', row));
    expect(Object.is(items.get(-5e11)!.score, -0)).toBe(true);
    expect(items.get(12345)).toBeUndefined();
    expect(items.has(rows[1234]!.id)).toBe(true);
  });

  it('reads composite keys, and types without a key by iteration only', () => {
    const Edge = t.object(
      'Edge',
      { from: t.int(), to: t.string(), weight: t.float() },
      { primaryKey: ['from', 'to'] },
    );
    const Log = t.object('Log', { line: t.string() });
    const schema = t.schema([Edge, Log]);
    const state = new StateBuilder(schema)
      .add('Edge', { from: 1, to: 'a', weight: 0.5 })
      .add('Edge', { from: 1, to: 'b', weight: 1.5 })
      .add('Log', { line: 'hello' })
      .build({ version: 1 });
    const decoded = decodeSnapshot(encodeSnapshot(state));
    expect(decoded.type('Edge').get({ from: 1, to: 'b' })?.weight).toBe(1.5);
    expect(decoded.type('Edge').get({ from: 2, to: 'b' })).toBeUndefined();
    expect([...decoded.type('Log')].map((v) => v.line)).toEqual(['hello']);
    expect(() => decoded.type('Log').get('hello' as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_KEY' }),
    );
    expect(() => decoded.type('Edge').get(1 as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_KEY' }),
    );
    expect(() => decoded.type('Nope' as never)).toThrow(expect.objectContaining({ code: 'UNKNOWN_TYPE' }));
  });

  it('places a shared state on SharedArrayBuffers and reads it the same', () => {
    const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
    const state = new StateBuilder(t.schema([Movie]))
      .add('Movie', { id: 1, title: 'One' })
      .build({ version: 1 });
    const shared = decodeSnapshot(encodeSnapshot(state), { shared: true });
    const col = shared.type('Movie').parts.columns[1]!;
    expect(col.parts[1]![0]!.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(shared.type('Movie').get(1)?.title).toBe('One');
  });
});

describe('checksum', () => {
  it('does not depend on insertion order', () => {
    fc.assert(
      fc.property(
        dataset(60).chain(({ schema, records }) =>
          fc.tuple(
            fc.constant(schema),
            fc.constant(records),
            fc.tuple(...records.map((rs) => fc.shuffledSubarray(rs, { minLength: rs.length }))),
          ),
        ),
        ([schema, records, shuffled]) => {
          const a = build(schema, records);
          const b = build(schema, shuffled);
          expect(b.checksum).toBe(a.checksum);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('differs when one value differs', () => {
    const Movie = t.object('Movie', { id: t.int(), title: t.string() }, { primaryKey: 'id' });
    const schema = t.schema([Movie]);
    const a = new StateBuilder(schema).add('Movie', { id: 1, title: 'One' }).build({ version: 1 });
    const b = new StateBuilder(schema).add('Movie', { id: 1, title: 'Onf' }).build({ version: 1 });
    expect(a.checksum).not.toBe(b.checksum);
  });

  it('is verified on request, and a state whose columns disagree fails with CHECKSUM_MISMATCH', () => {
    const Movie = t.object('Movie', { id: t.int(), year: t.int() }, { primaryKey: 'id' });
    const state = new StateBuilder(t.schema([Movie]))
      .add('Movie', { id: 1, year: 1999 })
      .build({ version: 1 });
    const decoded = decodeSnapshot(encodeSnapshot(state));
    expect(() => verifyChecksum(decoded)).not.toThrow();
    // A fault no real part shows: memory changed under a loaded state.
    (decoded.type('Movie').parts.columns[1]!.parts[0]![0] as Int32Array)[0] = 2000;
    expect(() => verifyChecksum(decoded)).toThrow(expect.objectContaining({ code: 'CHECKSUM_MISMATCH' }));
  });
});

describe('corrupt and truncated snapshots', () => {
  const Movie = t.object(
    'Movie',
    { id: t.int(), title: t.string(), tags: t.list(t.string()) },
    { primaryKey: 'id' },
  );
  const schema = t.schema([Movie]);
  const b = new StateBuilder(schema);
  for (let i = 0; i < 80; i++) b.add('Movie', { id: i, title: `t${i}`, tags: ['a', i % 2 ? 'b' : 'c'] });
  const blob = encodeSnapshot(b.build({ version: 3 }));

  it('refuses every single flipped byte with a typed error', () => {
    const codes = new Set<string>();
    for (let i = 0; i < blob.length; i++) {
      const bad = blob.slice();
      bad[i]! ^= 0x5a;
      try {
        decodeSnapshot(bad);
        throw new Error(`flipping byte ${i} went unnoticed`);
      } catch (error) {
        expect(isShoalError(error), String(error)).toBe(true);
        codes.add((error as ShoalError).code);
      }
    }
    expect([...codes].sort()).toEqual(
      ['BLOB_BAD_MAGIC', 'BLOB_CORRUPT', 'BLOB_TRUNCATED', 'BLOB_UNSUPPORTED_VERSION'].sort(),
    );
  });

  it('refuses every truncation with a typed error', () => {
    for (let n = 0; n < blob.length; n++) {
      expect(() => decodeSnapshot(blob.subarray(0, n))).toThrow(ShoalError);
    }
    expect(() => decodeSnapshot(blob.subarray(0, 10))).toThrow(
      expect.objectContaining({ code: 'BLOB_TRUNCATED' }),
    );
  });

  it('refuses random multi-byte damage anywhere', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(blob.length - 1), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 5,
        }),
        (flips) => {
          const bad = blob.slice();
          for (const [at, x] of flips) bad[at]! ^= x;
          if (bad.every((v, i) => v === blob[i])) return;
          expect(() => decodeSnapshot(bad)).toThrow(ShoalError);
        },
      ),
    );
  });

  it('decodes a blob at an odd offset by copying it once', () => {
    const padded = new Uint8Array(blob.length + 3);
    padded.set(blob, 3);
    expect(decodeSnapshot(padded.subarray(3)).type('Movie').get(5)?.title).toBe('t5');
  });

  it('reads the header alone', () => {
    const h = readSnapshotHeader(blob);
    expect(h.version).toBe(3);
    expect(h.types[0]?.size).toBe(80);
  });
});
