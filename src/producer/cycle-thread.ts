/**
 * {@link CycleStages} in a worker thread: the producer's thread logs upserts while the worker
 * builds, encodes and checks versions. Requests go one at a time over the worker's port; states
 * come back as handles over SharedArrayBuffers (no copy), blobs are transferred.
 *
 * If the worker dies, every request waiting on it fails with `CYCLE_FAILED` and the thread
 * reports itself failed; the producer starts a new one from its announced state next cycle.
 */
import { Worker } from 'node:worker_threads';
import { ShoalError, type ShoalErrorCode } from '../errors.ts';
import { type Schema, type SchemaJson, toJSON } from '../schema/index.ts';
import type { Layout } from '../state/column/layout.ts';
import type { SnapshotLabel } from '../state/encoding/snapshot.ts';
import type { AnyState, State } from '../state/read/state.ts';
import { type StateHandle, shareState, stateFromHandle } from '../state/read/state-handle.ts';
import type { CycleStages } from './cycle-runner.ts';
import type { ChangesBuild } from './stages/build-stage.ts';
import type { EncodedVersion } from './stages/encode-stage.ts';

/** What the worker starts with. */
export interface CycleWorkerData {
  readonly schema: SchemaJson;
  readonly current: StateHandle | undefined;
  readonly layout: Partial<Layout> | undefined;
  readonly compactAbove: number | undefined;
}

/** A request's operation and arguments. */
type Operation =
  | { readonly op: 'build'; readonly files: readonly string[]; readonly version: number }
  | { readonly op: 'adopt'; readonly handle: StateHandle }
  | { readonly op: 'encode'; readonly withSnapshot: boolean; readonly about: SnapshotLabel }
  | { readonly op: 'integrity' }
  | { readonly op: 'commit' }
  | { readonly op: 'discard' };

/** A request to the worker (`id` 0: no answer wanted). */
export type CycleRequest = { readonly id: number } & Operation;

/** An error as it crosses the port. */
export interface ErrorData {
  readonly code: ShoalErrorCode | undefined;
  readonly message: string;
  readonly stack: string | undefined;
}

/** The worker's answer to a request (`commit` and `discard` get none). */
export type CycleReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: ErrorData };

/** The build stage's answer: the next state as a handle. */
export interface BuildReply {
  readonly handle: StateHandle | undefined;
  readonly dropped: readonly string[];
}

function revive(data: ErrorData): Error {
  const error = data.code ? new ShoalError(data.code, data.message) : new Error(data.message);
  if (data.stack) error.stack = data.stack;
  return error;
}

/**
 * The worker, from the built package's .js or, when running from the sources, through tsx. It
 * runs shoal's code only, so it takes none of the process's Node options (some, such as
 * `--input-type`, would stop a worker from starting).
 */
function startWorker(workerData: CycleWorkerData): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const script = new URL('./cycle-worker.ts', here).href;
    return new Worker(new URL('../ts-worker.mjs', here), {
      workerData: { ...workerData, script },
      execArgv: [],
    });
  }
  return new Worker(new URL('./cycle-worker.js', here), { workerData, execArgv: [] });
}

export class CycleThread implements CycleStages {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void }
  >();
  private failure: Error | undefined;
  private closing = false;

  private constructor(worker: Worker) {
    this.worker = worker;
    this.worker.unref();
    this.worker.on('message', (reply: CycleReply) => {
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) this.worker.unref();
      if (reply.ok) w.resolve(reply.value);
      else w.reject(revive(reply.error));
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`it exited with code ${code}`)));
  }

  /** Starts a worker whose announced state is `current` (a state on SharedArrayBuffers). */
  static start(
    schema: Schema,
    current: AnyState | undefined,
    layout?: Partial<Layout>,
    compactAbove?: number,
  ): CycleThread {
    return new CycleThread(
      startWorker({ schema: toJSON(schema), current: current && shareState(current), layout, compactAbove }),
    );
  }

  /** True once the worker died: start a new thread. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  private fail(cause: Error): void {
    if (this.closing || this.failure) return;
    this.failure = new ShoalError(
      'CYCLE_FAILED',
      `the cycle worker stopped (${cause.message}); the announced version is unchanged and the next cycle starts a new worker.`,
      { cause },
    );
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }

  private request<T>(req: Operation): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const reply = new Promise<T>((resolve, reject) =>
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject }),
    );
    this.worker.ref();
    this.worker.postMessage({ ...req, id });
    return reply;
  }

  private send(req: Operation): void {
    if (!this.failure) this.worker.postMessage({ ...req, id: 0 });
  }

  async buildFromLog(files: readonly string[], version: number): Promise<ChangesBuild<Schema>> {
    const reply = await this.request<BuildReply>({ op: 'build', files, version });
    return { next: reply.handle && (stateFromHandle(reply.handle) as State), dropped: reply.dropped };
  }

  adopt(next: AnyState): Promise<void> {
    return this.request({ op: 'adopt', handle: shareState(next) });
  }

  encode(withSnapshot: boolean, about: SnapshotLabel = {}): Promise<void> {
    return this.request({ op: 'encode', withSnapshot, about });
  }

  integrity(): Promise<EncodedVersion> {
    return this.request({ op: 'integrity' });
  }

  commit(): void {
    this.send({ op: 'commit' });
  }

  discard(): void {
    this.send({ op: 'discard' });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}
