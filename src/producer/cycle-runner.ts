/**
 * The CPU work of a cycle, the stages that need no I/O: build the next state from a batch of
 * logged changes (or take one built on the producer's thread), encode its blobs, and check
 * them. A runner holds the announced state and, between the stages, the next one and its
 * blobs; `commit` makes the next state the announced one once it is announced.
 *
 * The producer drives one through {@link CycleStages}: a {@link CycleRunner} on its own thread
 * (`cycleThread: 'main'`), or one in a worker thread (cycle-worker.ts, the default), so that
 * building and encoding a version does not hold up the upserts being logged meanwhile.
 */
import type { Schema } from '../schema/index.ts';
import type { Layout } from '../state/column/layout.ts';
import type { SnapshotLabel } from '../state/encoding/snapshot.ts';
import type { AnyState, State } from '../state/read/state.ts';
import { buildFromChanges, type ChangesBuild } from './stages/build-stage.ts';
import { type EncodedVersion, encodeVersion } from './stages/encode-stage.ts';
import { checkIntegrity } from './stages/integrity-stage.ts';
import { readSegments } from './write-ahead-log.ts';

type MaybePromise<T> = T | Promise<T>;

/** A cycle's build, encode and integrity stages, wherever they run. */
export interface CycleStages {
  /** True once the stages cannot run any more (their worker died): make new ones. */
  readonly failed: boolean;
  /** Builds the next state from the changes in a batch's log segments (stage build). */
  buildFromLog(files: readonly string[], version: number): Promise<ChangesBuild<Schema>>;
  /** Takes a next state built elsewhere (a re-stated cycle). */
  adopt(next: AnyState): MaybePromise<void>;
  /** Encodes the next state's blobs (stage encode); a snapshot carries the version's label. */
  encode(withSnapshot: boolean, about?: SnapshotLabel): MaybePromise<void>;
  /** Checks the blobs reproduce the states, then hands them over (stage integrity). */
  integrity(): MaybePromise<EncodedVersion>;
  /** The next state was announced: it becomes the base of the next cycle. */
  commit(): void;
  /** The cycle failed: the next state is dropped. */
  discard(): void;
  /** Frees the runner (stops its thread). */
  close(): Promise<void>;
}

export class CycleRunner implements CycleStages {
  readonly failed = false;
  private readonly schema: Schema;
  private current: State | undefined;
  private next: State | undefined;
  private encoded: EncodedVersion | undefined;
  private readonly shared: boolean;
  private readonly layout: Partial<Layout> | undefined;
  private readonly compactAbove: number | undefined;

  /**
   * `shared`: build states on SharedArrayBuffers (to hand them to another thread); `layout`:
   * encoding thresholds, for tests; `compactAbove`: see `BuildOptions.compactAbove`.
   */
  constructor(
    schema: Schema,
    current: AnyState | undefined,
    shared: boolean,
    layout?: Partial<Layout>,
    compactAbove?: number,
  ) {
    this.schema = schema;
    this.current = current as State | undefined;
    this.shared = shared;
    this.layout = layout;
    this.compactAbove = compactAbove;
  }

  async buildFromLog(files: readonly string[], version: number): Promise<ChangesBuild<Schema>> {
    this.discard();
    const segments = await readSegments(files);
    const built = buildFromChanges(
      this.current,
      this.schema,
      segments,
      version,
      this.shared,
      this.layout,
      this.compactAbove,
    );
    this.next = built.next;
    return built;
  }

  adopt(next: AnyState): void {
    this.discard();
    this.next = next as State;
  }

  private nextState(): State {
    if (!this.next) throw new Error('no next state: build or adopt one first');
    return this.next;
  }

  encode(withSnapshot: boolean, about: SnapshotLabel = {}): void {
    this.encoded = encodeVersion(this.current, this.nextState(), withSnapshot, about);
  }

  integrity(): EncodedVersion {
    if (!this.encoded) throw new Error('nothing encoded: encode first');
    checkIntegrity(this.current, this.nextState(), this.encoded);
    return this.encoded;
  }

  commit(): void {
    this.current = this.nextState();
    this.discard();
  }

  discard(): void {
    this.next = undefined;
    this.encoded = undefined;
  }

  async close(): Promise<void> {
    this.discard();
  }
}
