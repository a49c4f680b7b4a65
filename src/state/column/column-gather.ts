/**
 * A column of some records of another column, copied as stored: fixed values as numbers, var
 * values as bytes, dictionary codes re-coded into a dictionary of only the entries used. No
 * value is decoded, so gathering the records of a delta costs a copy, not a round trip through
 * JS values. Row j of the result is the record at `ordinals[j]` of the source.
 */
import { type Column, type Dictionary, fixedArrayType } from './column.ts';
import { HeapWriter, narrowOffsets } from './column-builder.ts';
import {
  DEFAULT_LAYOUT,
  type Layout,
  PAGE_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  type PartArray,
  pageCount,
  pageLength,
} from './layout.ts';

/** Source codes → codes of a dictionary holding only the entries used, in order of first use. */
class Recoder {
  private readonly next: Int32Array;
  readonly used: number[] = [];
  constructor(size: number) {
    this.next = new Int32Array(size).fill(-1);
  }
  code(source: number): number {
    let c = this.next[source]!;
    if (c < 0) {
      c = this.used.length;
      this.next[source] = c;
      this.used.push(source);
    }
    return c;
  }
  /** The smaller dictionary. */
  dictionary(dict: Dictionary): Dictionary {
    const n = this.used.length;
    if (dict.values) {
      const values = new (dict.values.constructor as new (n: number) => PartArray)(n);
      for (let i = 0; i < n; i++) (values as unknown as unknown[])[i] = dict.values[this.used[i]!];
      return { size: n, values, offsets: undefined, heap: undefined };
    }
    const heap = new HeapWriter(64);
    const offsets = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) {
      const c = this.used[i]!;
      heap.append(dict.heap!.subarray(dict.offsets![c]!, dict.offsets![c + 1]!));
      offsets[i + 1] = heap.length;
    }
    return { size: n, values: undefined, offsets, heap: Buffer.from(heap.result()) };
  }
}

/** Copies stored values (the parts from `first` on) of chosen slots into new pages. */
interface ValueSink {
  /** Appends the value at slot `i` of source page `p`. */
  push(p: number, i: number): void;
  /** Appends an absent value (its presence bit is off: any stored value will do). */
  absent(): void;
  /** Ends the current output page; returns its parts. */
  endPage(): PartArray[];
}

function valueSink(col: Column, first: number, recoder: Recoder | undefined, layout: Layout): ValueSink {
  const src = col.parts[first]!;
  if (col.encoding === 'var') {
    const heaps = col.parts[first + 1] as readonly Uint8Array[];
    let heap = new HeapWriter(4096);
    let offsets: number[] = [0];
    return {
      push(p, i) {
        const o = src[p]!;
        heap.append(heaps[p]!.subarray(o[i] as number, o[i + 1] as number));
        offsets.push(heap.length);
      },
      absent() {
        offsets.push(heap.length);
      },
      endPage() {
        const parts = [
          narrowOffsets(Uint32Array.from(offsets), heap.length, layout),
          Buffer.from(heap.result()),
        ];
        heap = new HeapWriter(4096);
        offsets = [0];
        return parts;
      },
    };
  }
  let values: number[] | bigint[] = [];
  return {
    push(p, i) {
      const v = src[p]![i]!;
      (values as unknown[]).push(recoder ? recoder.code(v as number) : v);
    },
    absent() {
      (values as unknown[]).push(col.bigint && !recoder ? 0n : 0);
    },
    endPage() {
      // Codes stay 16-bit until the dictionary's size is known (see gatherColumn).
      const Out = recoder ? Uint16Array : fixedArrayType(col.valueKind, col.bigint)!;
      const out = new (Out as new (n: number) => PartArray)(values.length);
      for (let j = 0; j < values.length; j++) (out as unknown as unknown[])[j] = values[j];
      values = [];
      return [out];
    },
  };
}

/** The column of the records at `ordinals` of `col`, in that order. */
export function gatherColumn(
  col: Column,
  ordinals: ArrayLike<number>,
  layout: Layout = DEFAULT_LAYOUT,
): Column {
  const count = ordinals.length;
  const pages = pageCount(count);
  const isList = col.spec.kind === 'list';
  const recoder = col.encoding === 'dict' ? new Recoder(col.dict!.size) : undefined;
  const values = valueSink(col, isList ? 1 : 0, recoder, layout);
  const present = col.present ? ([] as Uint8Array[]) : undefined;
  const parts: PartArray[][] = col.parts.map(() => []);
  const lists = isList ? col.parts[0]! : undefined;
  for (let p = 0; p < pages; p++) {
    const length = pageLength(count, p);
    const bits = present ? new Uint8Array((length + 7) >>> 3) : undefined;
    const listOffsets = lists ? new Uint32Array(length + 1) : undefined;
    let elements = 0;
    for (let k = 0; k < length; k++) {
      const o = ordinals[p * PAGE_SIZE + k]!;
      const sp = o >>> PAGE_SHIFT;
      const si = o & PAGE_MASK;
      const here = !col.present || ((col.present[sp]![si >>> 3]! >>> (si & 7)) & 1) === 1;
      if (bits && here) bits[k >>> 3]! |= 1 << (k & 7);
      if (lists) {
        if (here) {
          const lo = lists[sp]!;
          for (let e = lo[si] as number; e < (lo[si + 1] as number); e++, elements++) values.push(sp, e);
        }
        listOffsets![k + 1] = elements;
      } else if (here) {
        values.push(sp, si);
      } else {
        values.absent();
      }
    }
    const pageParts = values.endPage();
    if (listOffsets) parts[0]!.push(narrowOffsets(listOffsets, elements, layout));
    pageParts.forEach((a, k) => {
      parts[k + (isList ? 1 : 0)]!.push(a);
    });
    if (present) present.push(bits!);
  }
  let dict: Dictionary | undefined;
  if (recoder) {
    dict = recoder.dictionary(col.dict!);
    if (dict.size <= layout.maxNarrowDict) {
      const k = isList ? 1 : 0;
      parts[k] = parts[k]!.map((codes) => Uint8Array.from(codes as Uint16Array));
    }
  }
  return {
    spec: col.spec,
    valueKind: col.valueKind,
    bigint: col.bigint,
    encoding: col.encoding,
    dict,
    present,
    parts,
  };
}
