/**
 * One cycle of the producer, as its stages in order: build → encode → integrity → validate →
 * publish → announce → retain (each in ./stages, the CPU-bound ones behind {@link CycleStages}).
 * A failure at any stage before the announcement leaves the announced version as it was and
 * the cycles able to run again; an `ANNOUNCE_CONFLICT` (another producer announced) loses the
 * namespace for good, so nothing more is published.
 *
 * `VersionCycles` holds what carries from one cycle to the next: the announced state, its
 * header and version, the versions since the last snapshot, and the stages (a worker thread
 * by default, started again if it died). The producer runs one cycle at a time.
 */
import { type Announcer, StoreAnnouncer } from '../blob/announcer.ts';
import { NamespaceLayout, type VersionHeader } from '../blob/namespace-layout.ts';
import { applyRetention } from '../blob/retention.ts';
import type { VersionMetadata } from '../blob/version-metadata.ts';
import { isShoalError, ShoalError } from '../errors.ts';
import type { Schema } from '../schema/index.ts';
import type { State } from '../state/read/state.ts';
import type { TypedEvents } from '../typed-events.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { CycleRunner, type CycleStages } from './cycle-runner.ts';
import { CycleThread } from './cycle-thread.ts';
import type { ProducerEvents, StageName } from './producer-events.ts';
import type { ResolvedProducerOptions } from './producer-options.ts';
import type { restoreAnnounced } from './restore.ts';
import { publishVersion, removeBlobs } from './stages/publish-stage.ts';
import { runValidators } from './stages/validate-stage.ts';

/** How a cycle ended. */
export type CycleResult =
  | {
      readonly outcome: 'published';
      readonly version: number;
      readonly snapshot: boolean;
      /** The label the version carries, when the cycle was given one. */
      readonly label?: string;
      /** The key/values the version carries (`{}` when none). */
      readonly metadata: Readonly<Record<string, string>>;
    }
  | { readonly outcome: 'skipped' };

/** Builds the next state of `version` with `stages` (stage build); `undefined`: no change. */
export type BuildNext<S extends Schema> = (
  version: number,
  stages: CycleStages,
) => Promise<State<S> | undefined>;

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

class StageError extends Error {
  constructor(
    readonly stage: StageName,
    readonly error: unknown,
  ) {
    super(`stage ${stage} failed`);
  }
}

export class VersionCycles<S extends Schema = Schema> {
  private readonly o: ResolvedProducerOptions<S>;
  private readonly layout: NamespaceLayout;
  private readonly announcer: Announcer;
  private readonly events: TypedEvents<ProducerEvents>;
  private readonly breaker: CircuitBreaker;
  private stages: CycleStages | undefined;
  /** The last state published or restored. */
  current: State<S> | undefined;
  private header: VersionHeader | undefined;
  /** The announced version, as far as this producer knows. */
  announcedVersion: number | undefined;
  private sinceSnapshot: number;
  private lastVersion: number;
  /** Set once another producer announced in this namespace. */
  lost: ShoalError | undefined;

  constructor(
    o: ResolvedProducerOptions<S>,
    events: TypedEvents<ProducerEvents>,
    restored: Awaited<ReturnType<typeof restoreAnnounced>>,
  ) {
    this.o = o;
    this.events = events;
    this.layout = new NamespaceLayout(o.namespace);
    this.announcer = o.announcer ?? new StoreAnnouncer({ store: o.store, namespace: o.namespace });
    this.breaker = new CircuitBreaker(o.breakerThreshold, o.breakerCooldownMs, (state) =>
      this.events.emit('breaker', { state }),
    );
    this.current = restored.state as State<S> | undefined;
    this.header = restored.header;
    this.announcedVersion = restored.announcement?.version;
    this.sinceSnapshot = restored.sinceSnapshot;
    this.lastVersion = restored.announcement?.version ?? 0;
  }

  /** The error a producer that lost its namespace answers with. */
  lostError(): ShoalError {
    return new ShoalError(
      'ANNOUNCE_CONFLICT',
      `this producer lost namespace "${this.o.namespace}" to another producer (${this.lost!.message}). It publishes nothing more; reopen it to resume from the announced version (changes already acknowledged are in its log and will be replayed).`,
      { cause: this.lost },
    );
  }

  /** Where build, encode and integrity run: a worker (started again if it died), or here. */
  private cycleStages(): CycleStages {
    if (this.stages?.failed) this.stages = undefined;
    this.stages ??=
      this.o.cycleThread === 'worker'
        ? CycleThread.start(this.o.schema, this.current, this.o.layout, this.o.compactAbove)
        : new CycleRunner(this.o.schema, this.current, false, this.o.layout, this.o.compactAbove);
    return this.stages;
  }

  /**
   * Announces `version` in place of the one announced. On any failure, an announcement found
   * to be this cycle's own (its write landed, its answer was lost) is success; on a conflict
   * with another producer's, this version's blobs are left unreachable, so they are removed
   * before it fails.
   */
  private async announce(header: VersionHeader, blobs: readonly string[]): Promise<void> {
    const { version, tag } = header;
    try {
      await this.announcer.announce({
        version,
        announcedAt: Date.now(),
        producer: this.o.producerId,
        tag,
        // What a consumer one version behind needs to plan its refresh without reading headers.
        header,
        ...(this.announcedVersion !== undefined ? { replaces: this.announcedVersion } : {}),
      });
    } catch (error) {
      // The write may have landed although its answer was lost (a timeout, a dropped
      // connection, a retry that then met its own write): the announcement says whose it is.
      const found = await this.announcer.read().catch(() => undefined);
      if (found?.version === version && found.tag === tag) return;
      if (isShoalError(error, 'ANNOUNCE_CONFLICT')) await removeBlobs(this.o.store, blobs);
      throw error;
    }
  }

  /** Runs one cycle: `build` makes the next state, the other stages publish and announce it. */
  async run(build: BuildNext<S>, about: VersionMetadata): Promise<CycleResult> {
    if (this.lost) throw this.lostError();
    const version = Math.max(this.o.clock(), this.lastVersion + 1);
    const started = performance.now();
    const stages: Partial<Record<StageName, number>> = {};
    const stage = async <T>(name: StageName, fn: () => T | Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        await this.o.beforeStage?.(name);
        return await fn();
      } catch (error) {
        throw new StageError(name, error);
      } finally {
        stages[name] = performance.now() - t;
      }
    };
    const prev = this.current;
    this.events.emit('cycle:start', { version });
    let runner: CycleStages | undefined;
    try {
      const next = await stage('build', () => {
        runner = this.cycleStages();
        return build(version, runner);
      });
      if (!next) {
        this.events.emit('cycle:skip', { reason: 'no change' });
        return { outcome: 'skipped' };
      }
      const withSnapshot = !prev || this.sinceSnapshot + 1 >= this.o.snapshotEvery;
      await stage('encode', () => runner!.encode(withSnapshot, about));
      const encoded = await stage('integrity', () => runner!.integrity());
      await stage('validate', () =>
        runValidators(prev, next, this.o.maxRecordCountChange, this.o.validators),
      );
      const header: VersionHeader = {
        version,
        tag: next.tag,
        checksum: next.checksum,
        ...(this.announcedVersion !== undefined ? { previous: this.announcedVersion } : {}),
        snapshot: encoded.snapshot ? version : this.header!.snapshot,
        bytes: {
          ...(encoded.snapshot ? { snapshot: encoded.snapshot.byteLength } : {}),
          ...(encoded.delta ? { delta: encoded.delta.byteLength } : {}),
          ...(encoded.reverse ? { reverse: encoded.reverse.byteLength } : {}),
        },
        counts: next.counts(),
        publishedAt: Date.now(),
        producer: this.o.producerId,
        ...about,
      };
      const label = about.label !== undefined ? { label: about.label } : {};
      const metadata = about.metadata ?? NO_METADATA;
      const ctx = {
        store: this.o.store,
        layout: this.layout,
        breaker: this.breaker,
        retries: this.o.publishRetries,
        emit: this.events.emit.bind(this.events),
      };
      const blobs = await stage('publish', () => publishVersion(ctx, this.announcedVersion, encoded, header));
      await stage('announce', () => this.announce(header, blobs));
      runner!.commit();
      this.current = next;
      this.header = header;
      this.announcedVersion = version;
      this.lastVersion = version;
      this.sinceSnapshot = encoded.snapshot ? 0 : this.sinceSnapshot + 1;
      this.events.emit('announced', { version, ...label, metadata });
      await stage('retain', async () => {
        try {
          await applyRetention({
            store: this.o.store,
            namespace: this.o.namespace,
            keepSnapshots: this.o.keepSnapshots,
            protect: [version],
          });
        } catch (error) {
          this.events.emit('warning', {
            message: 'retention failed; old blobs stay until the next cycle',
            error,
          });
        }
      });
      this.events.emit('cycle:success', {
        version,
        durationMs: performance.now() - started,
        stages,
        counts: next.counts(),
        snapshot: encoded.snapshot !== undefined,
        ...label,
        metadata,
      });
      return { outcome: 'published', version, snapshot: encoded.snapshot !== undefined, ...label, metadata };
    } catch (e) {
      runner?.discard();
      const failed = e instanceof StageError ? e : new StageError('build', e);
      const cause = failed.error;
      const error = isShoalError(cause)
        ? cause
        : new ShoalError(
            'CYCLE_FAILED',
            `the ${failed.stage} stage of version ${version} failed: ${(cause as Error)?.message ?? String(cause)}. The announced version is unchanged; the next cycle tries again.`,
            { cause },
          );
      this.lastVersion = Math.max(this.lastVersion, version);
      if (error.code === 'ANNOUNCE_CONFLICT') this.lost ??= error;
      this.events.emit('cycle:failure', {
        version,
        stage: failed.stage,
        error,
        durationMs: performance.now() - started,
      });
      throw error;
    }
  }

  /** Stops the stages' worker, if one runs. */
  async close(): Promise<void> {
    await this.stages?.close();
  }
}
