/**
 * The primary-key index: an open-addressing hash table (linear probing) cut into shards, each
 * a Uint32Array of its own. A key's hash picks its shard (its high bits) and its home slot in
 * the shard (the next bits); probes wrap inside the shard. It is stored in the snapshot as it
 * is, so loading never rebuilds it.
 *
 * A slot holds ordinal + 1 in its low `bits` bits (enough for the capacity) and, above them, a
 * tag: the key hash's low bits, which the slot's position does not already tell. A probe
 * confirms a key against the columns only when the tag matches, so a hit usually costs one
 * slot read and one key read, and a miss none (with 12 tag bits at 1M records, 8 at 10M).
 * 0 is an empty slot, TOMBSTONE a removed entry (probes go past it, inserts take it).
 *
 * A transition copies only the shards it writes; a shard that passes 7/8 full (or falls under
 * 1/4 live) is rebuilt alone, so a delta's index update costs the shards it touches. The whole
 * index is built again only when the capacity outgrows the ordinal bits, or the record count
 * strays 2× from what the shard count was chosen for (amortised over the records that moved it).
 */
import { hashInt } from '../../format/hash.ts';
import { PAGE_MASK, PAGE_SHIFT, testBit } from '../column/layout.ts';
import { newPage } from './cow-pages.ts';
import { indexSizeFor, KEY_SEED, type PrimaryKey, TOMBSTONE } from './primary-key.ts';

const TWO_TO_MINUS_32 = 2.3283064365386963e-10;

/** A primary-key index. Immutable once a state holds it. */
export interface KeyIndex {
  /** The table's shards. */
  readonly shards: readonly Uint32Array[];
  /** Low bits of a slot holding ordinal + 1; the bits above hold the tag. */
  readonly bits: number;
  /**
   * Live and dead (tombstone) slots of shard k at 2k and 2k + 1, -1 where not counted yet:
   * kept by builds and transitions so that the next transition copies a shard without
   * counting it. An index read from a blob has none (a shard is counted when first copied).
   */
  readonly counts?: Int32Array;
}

/** Ordinal bits a table of `capacity` ordinals needs: ordinal + 1 stays below all ones. */
export const ordinalBits = (capacity: number): number => 32 - Math.clz32(capacity + 1);

/** The mask of a slot's ordinal bits, as an int32 (all ones at 32 bits). */
export const lowMask = (bits: number): number =>
  bits >= 32 ? -1 : bits === 31 ? 0x7fffffff : (1 << bits) - 1;

/** The slot value of `ordinal` whose key hashes to `hash`. */
export const slotValue = (hash: number, ordinal: number, bits: number): number =>
  (((hash << bits) & ~lowMask(bits)) | (ordinal + 1)) >>> 0;

/** The ordinal a live slot holds. */
export const slotOrdinal = (v: number, low: number): number => ((v & low) >>> 0) - 1;

/** Slots a shard gets for `n` keys: at most 3/4 full. */
const shardSizeFor = (n: number): number => indexSizeFor(n);

/** The shard count for `size` keys in shards of about `shardSlots` slots. */
const shardsFor = (size: number, shardSlots: number): number =>
  Math.max(1, Math.round(indexSizeFor(size) / shardSlots));

/** Bytes the index's arrays take. */
export function keyIndexBytes(index: KeyIndex): number {
  let n = 0;
  for (const s of index.shards) n += s.byteLength;
  return n;
}

/** Puts a slot value in `shard` from the home slot of `hash`; true when it took a tombstone. */
function place(shard: Uint32Array, hash: number, frac: number, value: number): boolean {
  const m = shard.length;
  let s = Math.floor(frac * m);
  for (let probes = 0; probes < m; probes++) {
    const v = shard[s]!;
    if (v === 0 || v === TOMBSTONE) {
      shard[s] = value;
      return v === TOMBSTONE;
    }
    if (++s === m) s = 0;
  }
  // Unreachable: shards are kept under 7/8 full before every insert.
  throw new Error(`the primary-key index shard is full (hash ${hash})`);
}

/** Which shard of `n` a hash lies in, and where in it (a fraction). */
function locate(hash: number, n: number): [number, number] {
  const x = hash * n * TWO_TO_MINUS_32;
  const k = Math.floor(x);
  return [k, x - k];
}

/**
 * Builds the index of every populated ordinal below `capacity` (`size` of them), in shards of
 * about `shardSlots` slots, each sized for the keys that fall in it.
 */
export function buildKeyIndex(
  pk: PrimaryKey,
  populated: Uint32Array,
  capacity: number,
  size: number,
  shardSlots: number,
  shared = false,
): KeyIndex {
  const bits = ordinalBits(capacity);
  const n = shardsFor(size, shardSlots);
  const hashes = new Uint32Array(capacity);
  const counts = new Uint32Array(n);
  for (let o = 0; o < capacity; o++) {
    if (!testBit(populated, o)) continue;
    const h = pk.hashAt(o);
    hashes[o] = h;
    counts[Math.floor(h * n * TWO_TO_MINUS_32)]!++;
  }
  const shards = Array.from(counts, (c) => newPage(shardSizeFor(c), shared));
  const scale = n * TWO_TO_MINUS_32;
  for (let o = 0; o < capacity; o++) {
    if (!testBit(populated, o)) continue;
    const h = hashes[o]!;
    const x = h * scale;
    const k = Math.floor(x);
    place(shards[k]!, h, x - k, slotValue(h, o, bits));
  }
  const shardFill = new Int32Array(2 * n);
  for (let k = 0; k < n; k++) shardFill[2 * k] = counts[k]!;
  return { shards, bits, counts: shardFill };
}

/** The key hashes of the records at `ordinals`. */
function hashesAt(pk: PrimaryKey, ordinals: readonly number[]): Uint32Array {
  const out = new Uint32Array(ordinals.length);
  for (let r = 0; r < ordinals.length; r++) out[r] = pk.hashAt(ordinals[r]!);
  return out;
}

/** The records a transition removes and adds, and the key hashing on either side. */
export interface KeyIndexChange {
  /** Keys of the previous state (for the removed records). */
  readonly prevKey: PrimaryKey;
  /** Keys of the next state (for the added records, and every record a shard rebuild moves). */
  readonly key: PrimaryKey;
  readonly removed: readonly number[];
  readonly added: readonly number[];
  readonly populated: Uint32Array;
  readonly capacity: number;
  /** Records in the next state. */
  readonly size: number;
  readonly shared: boolean;
  readonly shardSlots: number;
  /** Called with an ordinal the change removes but the index does not hold. */
  readonly missing: (ordinal: number) => never;
}

/**
 * The next index and its tombstones: the previous one's shards shared, those the change writes
 * copied (or rebuilt, when they fill up or empty out). The previous index is never written.
 */
export function transitionKeyIndex(
  prev: KeyIndex,
  prevTombstones: number,
  c: KeyIndexChange,
): { index: KeyIndex; tombstones: number } {
  const n = prev.shards.length;
  const wanted = shardsFor(c.size, c.shardSlots);
  if (ordinalBits(c.capacity) > prev.bits || wanted > 2 * n || wanted * 4 < n) {
    return {
      index: buildKeyIndex(c.key, c.populated, c.capacity, c.size, c.shardSlots, c.shared),
      tombstones: 0,
    };
  }
  const { bits } = prev;
  const low = lowMask(bits);
  const shards = prev.shards.slice();
  const owned = new Uint8Array(n);
  const live = new Int32Array(n);
  const dead = new Int32Array(n);
  const known = prev.counts;
  let tombstones = prevTombstones;

  const own = (k: number): Uint32Array => {
    const page = shards[k]!;
    if (owned[k] === 1) return page;
    const copy = c.shared ? newPage(page.length, true) : page.slice();
    if (c.shared) copy.set(page);
    let l = known ? known[2 * k]! : -1;
    let d = known ? known[2 * k + 1]! : 0;
    if (l < 0) {
      l = 0;
      d = 0;
      for (let s = 0; s < copy.length; s++) {
        const v = copy[s]!;
        if (v === TOMBSTONE) d++;
        else if (v !== 0) l++;
      }
    }
    live[k] = l;
    dead[k] = d;
    owned[k] = 1;
    shards[k] = copy;
    return copy;
  };
  // The shard again, sized for `keys` live ones, every live record placed by its hash anew.
  const rebuild = (k: number, keys: number): Uint32Array => {
    const old = shards[k]!;
    const fresh = newPage(shardSizeFor(keys), c.shared);
    for (let s = 0; s < old.length; s++) {
      const v = old[s]!;
      if (v === 0 || v === TOMBSTONE) continue;
      const o = slotOrdinal(v, low);
      const h = c.key.hashAt(o);
      place(fresh, h, locate(h, n)[1], slotValue(h, o, bits));
    }
    tombstones -= dead[k]!;
    dead[k] = 0;
    shards[k] = fresh;
    return fresh;
  };

  // The keys' hashes first, in loops of their own: the key reads at ordinals spread over the
  // state do not wait on each other there (nor on the probes).
  const removedHashes = hashesAt(c.prevKey, c.removed);
  const addedHashes = hashesAt(c.key, c.added);
  for (let r = 0; r < c.removed.length; r++) {
    const o = c.removed[r]!;
    const h = removedHashes[r]!;
    const [k, frac] = locate(h, n);
    const want = slotValue(h, o, bits);
    const page = shards[k]!;
    const m = page.length;
    let s = Math.floor(frac * m);
    let found = -1;
    for (let probes = 0; probes < m; probes++) {
      const v = page[s]!;
      if (v === 0) break;
      if (v === want) {
        found = s;
        break;
      }
      if (++s === m) s = 0;
    }
    if (found < 0) c.missing(o);
    own(k)[found] = TOMBSTONE;
    live[k]!--;
    dead[k]!++;
    tombstones++;
  }
  for (let r = 0; r < c.added.length; r++) {
    const o = c.added[r]!;
    const h = addedHashes[r]!;
    const [k, frac] = locate(h, n);
    let page = own(k);
    // Room for growth: a rebuilt shard is 3/5 full, not 3/4, so the next inserts fit.
    if ((live[k]! + dead[k]! + 1) * 8 > page.length * 7) page = rebuild(k, Math.ceil((live[k]! + 1) * 1.25));
    if (place(page, h, frac, slotValue(h, o, bits))) {
      dead[k]!--;
      tombstones--;
    }
    live[k]!++;
  }
  for (let k = 0; k < n; k++) {
    if (owned[k] === 0) continue;
    const m = shards[k]!.length;
    if ((live[k]! + dead[k]!) * 8 > m * 7 || (m > 64 && live[k]! * 4 < m)) rebuild(k, live[k]!);
  }
  // The counts of the shards written, and of the others as far as the previous index knew them.
  const counts = new Int32Array(2 * n);
  for (let k = 0; k < n; k++) {
    counts[2 * k] = owned[k] === 1 ? live[k]! : known ? known[2 * k]! : -1;
    counts[2 * k + 1] = owned[k] === 1 ? dead[k]! : known ? known[2 * k + 1]! : 0;
  }
  return { index: { shards, bits, counts }, tombstones };
}

/**
 * The probe of a one-field int key, as one function: `probe(key)` checks that the key is a
 * number (`pk.stage` throws `INVALID_KEY` for anything else) and is, on a hit, the key's
 * ordinal (`pages` undefined) or the value `pages` holds at that ordinal (mapped through
 * `values` when the column is a dictionary; -0 as 0 with `longZero`), and on a miss `miss`. On a tag match it loads the
 * key and the value at once and only then compares the key: both loads depend on the slot
 * alone, so the CPU fetches the two cache lines in one wait rather than one after the other.
 * Nothing is called inside it: every state makes probes of its own, so a call from one shared
 * site would soon see many targets and stop being inlined.
 */
function intKeyProbe(
  pk: PrimaryKey,
  index: KeyIndex,
  ints: readonly Int32Array[],
  pages: readonly ArrayLike<number | bigint>[] | undefined,
  values: readonly unknown[] | undefined,
  miss: unknown,
  longZero = false,
): (key: unknown) => unknown {
  const { shards, bits } = index;
  const scale = shards.length * TWO_TO_MINUS_32;
  const low = lowMask(bits);
  const high = ~low;
  const read = pages ?? ints;
  return (key) => {
    if (typeof key !== 'number') pk.stage(key);
    const h = hashInt(key as number, KEY_SEED);
    const x = h * scale;
    const k = Math.floor(x);
    const page = shards[k]!;
    const m = page.length;
    const tag = (h << bits) & high;
    let s = Math.floor((x - k) * m);
    for (let probes = 0; probes < m; probes++) {
      const v = page[s]!;
      if (v === 0) return miss;
      if ((v & high) === tag && v !== TOMBSTONE) {
        const o = ((v & low) >>> 0) - 1;
        const p = o >>> PAGE_SHIFT;
        const i = o & PAGE_MASK;
        const stored = ints[p]![i];
        const value = read[p]![i]!;
        if (stored === key) {
          if (pages === undefined) return o;
          if (values !== undefined) return values[value as number];
          return longZero ? (value as number) + 0 : value;
        }
      }
      if (++s === m) s = 0;
    }
    return miss;
  };
}

/**
 * A lookup function over `index`: the ordinal of a key, or -1. A one-field int key gets a loop
 * of its own ({@link intKeyProbe}: hash, probe, compare the tag, then the key column).
 */
export function keyFinder(pk: PrimaryKey, index: KeyIndex): (key: unknown) => number {
  const ints = pk.intKeyPages();
  if (ints) {
    return intKeyProbe(pk, index, ints, undefined, undefined, -1) as (key: unknown) => number;
  }
  return (key) => {
    pk.stage(key);
    return findStaged(index, pk);
  };
}

/**
 * A reader of one field by an int key, for `TypeState.read` (the key and the value in one
 * wait, see {@link intKeyProbe}), or undefined when the key is not one fixed-width int field.
 * `pages` are the field's values or dictionary codes; `values` maps a code to its value when
 * the column is a dictionary; `longZero` reads a stored -0 as 0 (a long column's, written by a
 * release before canonical-record.ts).
 */
export function keyedFieldReader(
  pk: PrimaryKey,
  index: KeyIndex,
  pages: readonly ArrayLike<number | bigint>[],
  values: readonly unknown[] | undefined,
  longZero: boolean,
): ((key: unknown) => unknown) | undefined {
  const ints = pk.intKeyPages();
  if (!ints) return undefined;
  const probe = intKeyProbe(pk, index, ints, pages, values, undefined, longZero);
  // Marked, so a test can tell this path from the ordinary one.
  return Object.defineProperty(probe, 'name', { value: 'keyed' });
}

/** The ordinal of the key staged in `pk`, or -1. */
export function findStaged(index: KeyIndex, pk: PrimaryKey): number {
  const { shards, bits } = index;
  const low = lowMask(bits);
  const high = ~low;
  const h = pk.stagedHash();
  const x = h * shards.length * TWO_TO_MINUS_32;
  const k = Math.floor(x);
  const page = shards[k]!;
  const m = page.length;
  const tag = (h << bits) & high;
  let s = Math.floor((x - k) * m);
  for (let probes = 0; probes < m; probes++) {
    const v = page[s]!;
    if (v === 0) return -1;
    if ((v & high) === tag && v !== TOMBSTONE) {
      const o = slotOrdinal(v, low);
      if (pk.stagedEqualsAt(o)) return o;
    }
    if (++s === m) s = 0;
  }
  return -1;
}

/**
 * What is wrong with the slots, or undefined: each is empty, a tombstone, or a populated
 * ordinal no other slot holds, and the counts match. (That each key's probe finds its own
 * slot, tag included, is {@link firstMisindexed}'s part.)
 */
export function keyIndexProblem(
  index: KeyIndex,
  populated: Uint32Array,
  capacity: number,
  size: number,
  tombstones: number,
): string | undefined {
  if (index.shards.length === 0) return 'it has no shards';
  if (!Number.isInteger(index.bits) || index.bits < ordinalBits(capacity) || index.bits > 32)
    return 'its ordinal width does not fit its capacity';
  const low = lowMask(index.bits);
  // Ordinals seen, as a bitset: a second slot for one ordinal would hide another record.
  const seen = new Int32Array(populated.length);
  let live = 0;
  let dead = 0;
  for (const shard of index.shards) {
    if (shard.length === 0) return 'a shard is empty';
    for (let s = 0; s < shard.length; s++) {
      const v = shard[s]!;
      if (v === 0) continue;
      if (v === TOMBSTONE) {
        dead++;
        continue;
      }
      const o = slotOrdinal(v, low);
      const w = o >>> 5;
      const bit = 1 << (o & 31);
      if (o < 0 || o >= capacity || (populated[w]! & bit) === 0 || (seen[w]! & bit) !== 0)
        return 'it points at an ordinal that holds no record of its own';
      seen[w] = seen[w]! | bit;
      live++;
    }
  }
  if (live !== size || dead !== tombstones) return `it does not hold its ${size} records`;
  return undefined;
}

/**
 * The first populated ordinal that a lookup of its own key would not return (its probe path
 * meets an empty slot, or another record with the same key, first, or its slot has the wrong
 * tag), or -1.
 */
export function firstMisindexed(
  pk: PrimaryKey,
  index: KeyIndex,
  populated: Uint32Array,
  capacity: number,
): number {
  const { shards, bits } = index;
  const low = lowMask(bits);
  const high = ~low;
  for (let o = 0; o < capacity; o++) {
    if (!testBit(populated, o)) continue;
    const h = pk.hashAt(o);
    const want = slotValue(h, o, bits);
    const tag = (h << bits) & high;
    const x = h * shards.length * TWO_TO_MINUS_32;
    const k = Math.floor(x);
    const page = shards[k]!;
    const m = page.length;
    let s = Math.floor((x - k) * m);
    let found = false;
    for (let probes = 0; probes < m; probes++) {
      const v = page[s]!;
      if (v === 0) break;
      if (v === want) {
        found = true;
        break;
      }
      if (v !== TOMBSTONE && (v & high) === tag && pk.equalAt(slotOrdinal(v, low), o)) break;
      if (++s === m) s = 0;
    }
    if (!found) return o;
  }
  return -1;
}
