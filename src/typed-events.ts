/**
 * A small typed event emitter: an event map type gives each event's payload. Listeners run in
 * order; one that throws does not stop the others (its error is passed to `onListenerError`).
 * Like errors.ts, this module imports nothing and every layer may use it.
 */

/** Events by name, each with its payload type. */
export type EventMap = Record<string, unknown>;

/** Subscribes and emits typed events. */
export class TypedEvents<E extends object> {
  private readonly listeners = new Map<keyof E, Set<(payload: never) => void>>();
  private readonly onListenerError: (error: unknown) => void;

  constructor(
    onListenerError: (error: unknown) => void = (e) =>
      queueMicrotask(() => {
        throw e;
      }),
  ) {
    this.onListenerError = onListenerError;
  }

  /** Calls `listener` on every `event`; returns a function that stops it. */
  on<K extends keyof E>(event: K, listener: (payload: E[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  /** Emits `event` with `payload` to every listener. */
  emit<K extends keyof E>(event: K, payload: E[K]): void {
    for (const l of this.listeners.get(event) ?? []) {
      try {
        (l as (p: E[K]) => void)(payload);
      } catch (e) {
        this.onListenerError(e);
      }
    }
  }
}
