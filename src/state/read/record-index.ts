/**
 * Reading a secondary index: the records with a value (`find`, `count`, `has`), or, on a
 * prefix index, whose string starts with a prefix (`findPrefix`, `countPrefix`). Matching is
 * by the stored bytes, as for primary keys. Matches come as record views of the state the
 * index belongs to; a hash index lists a value's records in ascending ordinal order as built,
 * with those a delta added first; a prefix index lists them by the string's bytes, then by
 * ordinal.
 */
import { isShoalError, ShoalError } from '../../errors.ts';
import { type IndexSpec, indexSpecs, type ObjectType } from '../../schema/index.ts';
import type { Column } from '../column/column.ts';
import { testBit } from '../column/layout.ts';
import { pageGet } from '../index/cow-pages.ts';
import {
  corruptIndex,
  findGroup,
  groupCount,
  type HashIndexParts,
  indexKey,
  misplacedInIndex,
} from '../index/hash-index.ts';
import type { PrimaryKey } from '../index/primary-key.ts';
import { type IndexParts, indexBytes } from '../index/secondary-index.ts';
import { distance, lowerBound, StringOrder } from '../index/sorted-index.ts';
import type { RecordView } from './record-view.ts';

interface Parts {
  readonly columns: readonly Column[];
  readonly populated: Uint32Array;
  readonly capacity: number;
}

/** The spec of an index a consumer makes; `INVALID_INDEX` when it cannot be made. */
export function indexSpec(
  type: ObjectType,
  fields: string | readonly string[],
  options: { readonly name?: string; readonly prefix?: boolean },
): IndexSpec {
  const list = typeof fields === 'string' ? [fields] : fields;
  if (!Array.isArray(list) || list.length === 0)
    throw new ShoalError(
      'INVALID_INDEX',
      `createIndex on ${type.name} needs a non-empty list of fields (or one field name).`,
    );
  const name = options.name ?? list.join('_');
  try {
    return indexSpecs(type.name, type.fields, {
      [name]: { fields: list, prefix: options.prefix ?? false },
    })[0]!;
  } catch (e) {
    if (!isShoalError(e, 'INVALID_SCHEMA')) throw e;
    throw new ShoalError('INVALID_INDEX', e.message, { cause: e });
  }
}

/** An iterable of the views at some ordinals (read lazily, so the first comes at once). */
class Matches<V> implements Iterable<V> {
  constructor(private readonly walk: () => Iterator<V>) {}
  [Symbol.iterator](): Iterator<V> {
    return this.walk();
  }
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** What walking a hash index's groups reads, made once per index. */
interface GroupContext<V> {
  readonly index: HashIndexParts;
  readonly key: PrimaryKey;
  readonly populated: Uint32Array;
  readonly capacity: number;
  readonly view: (o: number) => V;
}

/** A group's records: iterable again and again, each pass read as it goes. */
class GroupMatches<V> implements Iterable<V> {
  constructor(
    private readonly c: GroupContext<V>,
    private readonly head: number,
    private readonly n: number,
  ) {}
  [Symbol.iterator](): Iterator<V> {
    return new GroupCursor(this.c, this.head, this.n);
  }
}

/**
 * One pass over a group. Bounded by the count and confirmed against the columns: a crafted
 * blob's links can make a list end early, never run on or read outside the records.
 */
class GroupCursor<V> implements Iterator<V> {
  private o: number;
  private k = 0;
  constructor(
    private readonly c: GroupContext<V>,
    private readonly head: number,
    private readonly n: number,
  ) {
    this.o = head;
  }
  next(): IteratorResult<V> {
    const { c, o } = this;
    if (this.k >= this.n || o < 0) return DONE;
    if (o >= c.capacity || !testBit(c.populated, o)) corruptIndex(c.index.spec, o);
    if (!c.key.equalAt(this.head, o)) misplacedInIndex(c.index.spec, o);
    this.k++;
    this.o = pageGet(c.index.next, o) - 1;
    return { done: false, value: c.view(o) };
  }
}
const EMPTY: Iterable<never> = Object.freeze([]);

type View<R> = RecordView<R>;

/** One secondary index of a type's state. */
export class RecordIndex<R = Record<string, unknown>> {
  /** The index's name. */
  readonly name: string;
  /** Its fields, in order: `find` takes a value of the one field, or an object of them all. */
  readonly fields: readonly string[];
  /** Whether it is a prefix index (`findPrefix`). */
  readonly prefix: boolean;
  private readonly key: PrimaryKey;
  private readonly order: StringOrder | undefined;
  private scratch = Buffer.allocUnsafe(64);

  private readonly populated: Uint32Array;
  private readonly capacity: number;
  private groups: GroupContext<View<R>> | undefined;

  constructor(
    private readonly type: ObjectType,
    parts: Parts,
    private readonly index: IndexParts,
    private readonly view: (ordinal: number) => View<R>,
  ) {
    this.name = index.spec.name;
    this.fields = index.spec.fields;
    this.prefix = index.spec.prefix;
    this.key = indexKey(type, index.spec, parts.columns);
    this.order =
      index.kind === 'sorted' ? new StringOrder(type, index.spec, parts.columns, parts.capacity) : undefined;
    this.populated = parts.populated;
    this.capacity = parts.capacity;
  }

  /** Records in the index: those with every indexed field present. */
  get size(): number {
    return this.index.entries;
  }

  /** Distinct values in a hash index (`undefined` for a prefix index, which does not count them). */
  get distinctValues(): number | undefined {
    return this.index.kind === 'hash' ? this.index.groups : undefined;
  }

  /** Bytes of memory the index's arrays take (pages shared with other states counted here too). */
  get byteLength(): number {
    return indexBytes(this.index);
  }

  /** Whether the schema declares the index (false for one made by `createIndex`). */
  get declared(): boolean {
    return !this.index.local;
  }

  /**
   * The records whose indexed fields equal `value` (the field's value, or an object of the
   * fields for several). `INVALID_KEY` when it has the wrong shape.
   */
  find(value: unknown): Iterable<View<R>> {
    const i = this.index;
    if (i.kind === 'sorted') {
      const length = this.staged(value);
      const [from, to] = this.run(length, false);
      const bytes = this.scratch.subarray(0, Math.max(length, 0));
      return new Matches(() => this.walkRange(from, to, Uint8Array.from(bytes), false));
    }
    this.key.stage(value);
    const s = findGroup(i, this.key, this.populated, this.capacity);
    if (s < 0) return EMPTY;
    const head = pageGet(i.slots, s) - 1;
    const n = groupCount(i.prev, head);
    this.groups ??= {
      index: i,
      key: this.key,
      populated: this.populated,
      capacity: this.capacity,
      view: this.view,
    };
    return new GroupMatches(this.groups, head, n);
  }

  /** How many records {@link find} gives. */
  count(value: unknown): number {
    const i = this.index;
    if (i.kind === 'hash') {
      this.key.stage(value);
      const s = findGroup(i, this.key, this.populated, this.capacity);
      return s < 0 ? 0 : groupCount(i.prev, pageGet(i.slots, s) - 1);
    }
    const [from, to] = this.run(this.staged(value), false);
    return distance(i.pages, from, to);
  }

  /** Whether any record has `value`. */
  has(value: unknown): boolean {
    return this.count(value) > 0;
  }

  /** On a prefix index, the records whose string starts with `prefix`, by bytes then ordinal. */
  findPrefix(prefix: string): Iterable<View<R>> {
    const length = this.stagedPrefix(prefix);
    const range = this.run(length, true);
    const bytes = Uint8Array.from(this.scratch.subarray(0, length));
    return new Matches(() => this.walkRange(range[0], range[1], bytes, true));
  }

  /** On a prefix index, how many records {@link findPrefix} gives. */
  countPrefix(prefix: string): number {
    const [from, to] = this.run(this.stagedPrefix(prefix), true);
    return distance((this.index as { pages: readonly Uint32Array[] }).pages, from, to);
  }

  private stagedPrefix(prefix: string): number {
    if (this.index.kind !== 'sorted') {
      throw new ShoalError(
        'INVALID_INDEX',
        `index ${this.name} of ${this.type.name} is not a prefix index; declare it with { fields: [...], prefix: true }.`,
      );
    }
    if (typeof prefix !== 'string')
      throw new ShoalError('INVALID_KEY', `findPrefix takes a string; got ${typeof prefix}.`);
    return this.encode(prefix);
  }

  private staged(value: unknown): number {
    if (typeof value !== 'string' || !value.isWellFormed()) {
      // The hash path's message for a value of the wrong shape; a lone surrogate matches nothing.
      this.key.stage(value);
      return -1;
    }
    return this.encode(value);
  }

  private encode(s: string): number {
    if (s.length * 3 > this.scratch.length) this.scratch = Buffer.allocUnsafe(s.length * 3);
    return this.scratch.write(s, 0, 'utf8');
  }

  /** [start, end) of the elements equal to (or, with `prefix`, starting with) the staged bytes. */
  private run(length: number, prefix: boolean): [[number, number], [number, number]] {
    const pages = (this.index as { pages: readonly Uint32Array[] }).pages;
    if (length < 0)
      return [
        [0, 0],
        [0, 0],
      ];
    const order = this.order!;
    const bytes = this.scratch;
    const start = lowerBound(pages, (o) => order.compareTo(o, bytes, length, prefix) < 0);
    const end = lowerBound(pages, (o) => order.compareTo(o, bytes, length, prefix) <= 0);
    return [start, end];
  }

  /**
   * The elements of [from, to), each confirmed against its column before it is given: a crafted
   * blob's pages out of order make a read `BLOB_CORRUPT`, never a record that does not match.
   * Records of one value ascend by ordinal, so `find` also sees a step back for free; the
   * order of a prefix run's values would cost a second comparison per record, and is left to
   * `verify`.
   */
  private walkRange(
    from: [number, number],
    to: [number, number],
    bytes: Uint8Array,
    prefix: boolean,
  ): Iterator<View<R>> {
    const pages = (this.index as { pages: readonly Uint32Array[] }).pages;
    let p = from[0];
    let j = from[1];
    let last = -1;
    const { view, populated, capacity } = this;
    const order = this.order!;
    const spec = this.index.spec;
    return {
      next: () => {
        while (p < pages.length && (p < to[0] || (p === to[0] && j < to[1]))) {
          const page = pages[p]!;
          if (j < page.length) {
            const o = page[j++]!;
            if (o >= capacity || !testBit(populated, o)) corruptIndex(spec, o);
            if (order.compareTo(o, bytes, bytes.length, prefix) !== 0) misplacedInIndex(spec, o);
            if (!prefix && o <= last) misplacedInIndex(spec, o);
            last = o;
            return { done: false, value: view(o) };
          }
          p++;
          j = 0;
        }
        return DONE;
      },
    };
  }
}
