/**
 * The worker side of state sharing: `attach(handle)` gives a read-only consumer over the same
 * memory as the main consumer's state, following its refreshes through a BroadcastChannel.
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { Schema } from '../schema/index.ts';
import type { State } from '../state/read/state.ts';
import { type StateHandle, stateFromHandle } from '../state/read/state-handle.ts';
import { TypedEvents } from '../typed-events.ts';

/** What `consumer.share()` returns: post it to a worker and `attach` it there. */
export interface ShareHandle {
  readonly channel: string;
  readonly state: StateHandle;
}

/** Messages on a share channel. */
export type ShareMessage =
  | { readonly kind: 'state'; readonly state: StateHandle }
  | { readonly kind: 'sync' };

/** A read-only consumer in a worker thread. */
export class AttachedConsumer<S extends Schema = Schema> {
  private current: State<S>;
  private readonly channel: BroadcastChannel;
  private readonly events = new TypedEvents<{ refresh: { readonly from: number; readonly to: number } }>();

  constructor(handle: ShareHandle) {
    this.current = stateFromHandle(handle.state) as unknown as State<S>;
    this.channel = new BroadcastChannel(handle.channel);
    this.channel.unref();
    this.channel.onmessage = (event) => {
      const message = (event as unknown as { data: ShareMessage }).data;
      if (message.kind !== 'state' || message.state.version === this.current.version) return;
      const from = this.current.version;
      this.current = stateFromHandle(message.state) as unknown as State<S>;
      this.events.emit('refresh', { from, to: this.current.version });
    };
    this.channel.postMessage({ kind: 'sync' } satisfies ShareMessage);
  }

  /** The state served now (swapped atomically on each refresh of the main consumer). */
  get state(): State<S> {
    return this.current;
  }

  get version(): number {
    return this.current.version;
  }

  on(event: 'refresh', listener: (e: { readonly from: number; readonly to: number }) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Stops following refreshes; the last state stays readable. */
  close(): void {
    this.channel.close();
  }
}

/** A read-only consumer over a shared state, for a worker thread. */
export function attach<S extends Schema = Schema>(handle: ShareHandle): AttachedConsumer<S> {
  return new AttachedConsumer<S>(handle);
}
