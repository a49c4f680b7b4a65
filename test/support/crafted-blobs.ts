/**
 * Crafted blobs, each with valid CRCs: the cases an untrusted bucket can hold. Each case runs
 * a decode or apply and must end in a `ShoalError` of the expected code, within memory bounded
 * by a small multiple of the blob (the test runs them in a child process too and reads its RSS).
 */
import {
  type AnyState,
  applyDelta,
  decodeSnapshot,
  encodeDelta,
  encodeSnapshot,
  StateBuilder,
  t,
} from '../../src/index.ts';
import { type Header, resummed, section, tamper } from './blob-surgery.ts';

const Movie = t.object(
  'Movie',
  {
    id: t.int(),
    n: t.long(),
    title: t.string(),
    year: t.int(),
    tags: t.list(t.string()),
    meta: t.json().optional(),
  },
  { primaryKey: 'id' },
);
export const schema = t.schema([Movie]);
export const movie = (i: number) => ({
  id: i,
  n: i * 1000,
  title: `Movie ${i}`,
  year: 1950 + (i % 7),
  tags: ['drama', `tag${i % 3}`],
  // Record 0's json is 6 bytes (a fixstr of 5), the size of a msgpack timestamp.
  meta: i === 0 ? 'abcde' : { i },
});

export interface CraftedCase {
  readonly name: string;
  /** Runs the decode or apply the case is about. */
  readonly run: () => unknown;
  readonly code: string;
}

/** Two versions: 1 holds records 0..199; 2 drops 7 and adds 200. */
export function fixture(layout?: { maxNarrowOffset?: number }) {
  const b = new StateBuilder(schema);
  for (let i = 0; i < 200; i++) b.add('Movie', movie(i));
  const v1 = b.build(layout ? { version: 1, layout } : { version: 1 });
  const v2 = StateBuilder.from(v1).remove('Movie', 7).upsert('Movie', movie(200)).build({ version: 2 });
  return { v1, v2, snapshot: encodeSnapshot(v2), delta: encodeDelta(v1, v2) };
}

const col = (h: Header, field: string) =>
  (h.types[0].columns as Header[]).find((c) => c.field === field) as Header;

export function craftedCases(): CraftedCase[] {
  const { v1, v2, snapshot, delta } = fixture();
  const wide = fixture({ maxNarrowOffset: 0 });
  const snap = (edit: Parameters<typeof tamper>[1], bytes = snapshot) => {
    const crafted = tamper(bytes, edit);
    return () => decodeSnapshot(crafted);
  };
  const apply = (edit: Parameters<typeof tamper>[1], base: AnyState = v1) => {
    const crafted = tamper(delta, edit);
    return () => applyDelta(base, crafted);
  };
  const ghost = v1.type('Movie').ordinalOf(7);
  return [
    ...[27, 31, 40].map(
      (bits): CraftedCase => ({
        name: `a delta declaring capacity 2^${bits}`,
        code: 'BLOB_CORRUPT',
        run: apply((b) => {
          b.header.types[0].capacity = 2 ** bits;
        }),
      }),
    ),
    {
      name: 'a snapshot declaring capacity 2^32 + 1,024',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        b.header.types[0].capacity = 2 ** 32 + 1024;
      }),
    },
    {
      name: 'huge u32 list offsets',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        const offsets = section(b, col(b.header, 'tags').parts[0].data, Uint32Array);
        offsets[1] = 2 ** 31;
      }, wide.snapshot),
    },
    {
      name: 'a u16 list offset of 65,535',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        const offsets = section(b, col(b.header, 'tags').parts[0].data, Uint16Array);
        offsets[3] = 65535;
      }),
    },
    {
      name: 'reversed string offsets',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        const offsets = section(b, col(b.header, 'title').parts[0].data, Uint16Array);
        [offsets[2], offsets[3]] = [offsets[3]!, offsets[2]!];
      }),
    },
    {
      name: 'a column pointed at another column’s bytes',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        col(b.header, 'year').parts[0].data = col(b.header, 'id').parts[0].data;
      }),
    },
    {
      name: 'a section table entry overlapping the one before',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        b.header.sections[4] = b.header.sections[2];
      }),
    },
    {
      name: 'dictionary codes past the dictionary',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        const year = col(b.header, 'year');
        if (year.encoding !== 'dict') throw new Error('fixture: year should be dictionary-coded');
        section(b, year.parts[0].data, Uint8Array)[5] = 200;
      }),
    },
    {
      name: 'a schema saying string where the column holds ints',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        const field = (b.header.schema.types[0].fields as Header[]).find((f) => f.name === 'id')!;
        field.kind = 'string';
      }),
    },
    {
      name: 'an index slot resurrecting a deleted record',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        const index = section(b, b.header.types[0].index, Uint32Array);
        const s = index.indexOf(0xffffffff);
        if (s < 0) throw new Error('fixture: the index should hold a tombstone');
        index[s] = ghost + 1;
        b.header.types[0].tombstones -= 1;
      }),
    },
    {
      name: 'a zeroed index',
      code: 'BLOB_CORRUPT',
      run: snap((b) => void section(b, b.header.types[0].index, Uint32Array).fill(0)),
    },
    {
      name: 'an index slot holding a huge ordinal',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        const index = section(b, b.header.types[0].index, Uint32Array);
        index[index.findIndex((v) => v !== 0 && v !== 0xffffffff)] = 0xfffffff0;
      }),
    },
    {
      name: 'two live index slots swapped (caught by verify)',
      code: 'BLOB_CORRUPT',
      run: () => {
        const crafted = tamper(snapshot, (b) => {
          const index = section(b, b.header.types[0].index, Uint32Array);
          const live = [...index.keys()].filter((s) => index[s] !== 0 && index[s] !== 0xffffffff);
          const [a, c] = [live[0]!, live[live.length - 1]!];
          [index[a], index[c]] = [index[c]!, index[a]!];
        });
        return decodeSnapshot(crafted, { verify: true });
      },
    },
    {
      // Its record's checksum no longer matches: verify says so before it decodes the value.
      name: 'a json value whose bytes do not decode (caught by verify)',
      code: 'CHECKSUM_MISMATCH',
      run: () => {
        const crafted = tamper(snapshot, (b) => {
          const heap = section(b, col(b.header, 'meta').parts[1].data, Uint8Array);
          heap[0] = 0xc1; // never used in msgpack
        });
        return decodeSnapshot(crafted, { verify: true });
      },
    },
    {
      name: 'a json value whose bytes do not decode, read through a getter',
      code: 'BLOB_CORRUPT',
      run: () => {
        const crafted = tamper(snapshot, (b) => {
          section(b, col(b.header, 'meta').parts[1].data, Uint8Array)[0] = 0xc1;
        });
        const state = decodeSnapshot(crafted);
        return [...state.type('Movie')].map((v) => v.toObject());
      },
    },
    {
      name: 'a delta adding an ordinal past its capacity',
      code: 'BLOB_CORRUPT',
      run: apply((b) => {
        section(b, b.header.types[0].added, Uint32Array)[0] = 5000;
      }),
    },
    {
      name: 'a long stored as 1.5 (it hashes as 1)',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        const n = col(b.header, 'n');
        section(b, n.parts[0].data, Float64Array)[3] = 1.5;
      }),
    },
    {
      name: 'a delta whose long is NaN (it hashes as 0)',
      code: 'BLOB_CORRUPT',
      run: apply((b) => {
        section(b, col(b.header, 'n').parts[0].data, Float64Array)[0] = Number.NaN;
      }),
    },
    {
      name: 'a 500-byte delta adding one record at ordinal 2^26',
      code: 'BLOB_CORRUPT',
      run: apply((b) => {
        section(b, b.header.types[0].added, Uint32Array)[0] = 2 ** 26;
        b.header.types[0].capacity = 2 ** 26 + 1;
      }),
    },
    {
      name: 'a delta removing one ordinal twice',
      code: 'BLOB_CORRUPT',
      run: () => {
        const two = encodeDelta(
          v1,
          StateBuilder.from(v1).remove('Movie', 3).remove('Movie', 4).build({ version: 3 }),
        );
        const crafted = tamper(two, (b) => {
          const removed = section(b, b.header.types[0].removed, Uint32Array);
          removed[1] = removed[0]!;
        });
        return applyDelta(v1, crafted);
      },
    },
    {
      name: 'a json value that decodes to a Date, sums recomputed (caught by verify)',
      code: 'BLOB_CORRUPT',
      run: () => {
        const date = Uint8Array.from([0xd6, 0xff, 0, 0, 0, 0]); // msgpack timestamp 0
        const crafted = resummed(
          tamper(snapshot, (b) => {
            section(b, col(b.header, 'meta').parts[1].data, Uint8Array).set(date, 0);
          }),
        );
        return decodeSnapshot(crafted, { verify: true });
      },
    },
    {
      name: 'a string that is not UTF-8, sums recomputed (caught by verify)',
      code: 'BLOB_CORRUPT',
      run: () => {
        const crafted = resummed(
          tamper(snapshot, (b) => {
            section(b, col(b.header, 'title').parts[1].data, Uint8Array)[0] = 0xff;
          }),
        );
        return decodeSnapshot(crafted, { verify: true });
      },
    },
    {
      name: 'a column descriptor that is null',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        b.header.types[0].columns[1] = null;
      }),
    },
    {
      name: 'a snapshot of version -5',
      code: 'BLOB_CORRUPT',
      run: snap((b) => {
        b.header.version = -5;
      }),
    },
    {
      name: 'a delta applied to a state it does not start from',
      code: 'DELTA_ORIGIN_MISMATCH',
      run: () => applyDelta(v2, delta),
    },
    ...otherStateOfItsTag(),
  ];
}

/**
 * Deltas applied to another state that carries their origin's tag (a tag is the producer's to
 * choose, so one may repeat). One adds 8,192 records that share a 64 KiB string: its chunk
 * stores the string once, but the other state's column holds plain strings, so written out
 * they would take 512 MiB. The other removes more records than the state holds.
 */
function otherStateOfItsTag(): CraftedCase[] {
  const T = t.object('T', { id: t.int(), s: t.string() }, { primaryKey: 'id' });
  const ts = t.schema([T]);
  const built = (n: number, value: (i: number) => string, tag?: bigint) => {
    const b = new StateBuilder(ts);
    for (let i = 0; i < n; i++) b.add('T', { id: i, s: value(i) });
    return b.build(tag === undefined ? { version: 1 } : { version: 1, tag });
  };
  const origin = built(2000, (i) => `v${i % 3}`);
  const big = 'x'.repeat(65_536);
  const grown = StateBuilder.from(origin);
  for (let i = 0; i < 8192; i++) grown.upsert('T', { id: 10_000 + i, s: big });
  const expanding = encodeDelta(origin, grown.build({ version: 2 }));
  const shrunk = StateBuilder.from(origin);
  for (let i = 0; i < 1500; i++) shrunk.remove('T', i);
  const shrinking = encodeDelta(origin, shrunk.build({ version: 2 }));
  const plain = built(2000, (i) => `distinct ${i}`, origin.tag);
  const small = built(1000, (i) => `v${i % 3}`, origin.tag);
  return [
    {
      name: `a ${expanding.byteLength}-byte delta of one 64 KiB string for 8,192 records, on another state of its tag`,
      code: 'CHECKSUM_MISMATCH',
      run: () => applyDelta(plain, expanding),
    },
    {
      name: 'a delta removing more records than another state of its tag holds',
      code: 'CHECKSUM_MISMATCH',
      run: () => applyDelta(small, shrinking),
    },
  ];
}
