/**
 * The push path over NATS: a JetStream key-value watch of a namespace's key in the
 * announcements bucket (`NatsAnnouncer` writes it), handed to an `AnnouncementWatcher` as its
 * `push`. The watch starts with the last announcement kept, then delivers each new one.
 *
 * Up and down follow the connection: a disconnect stops the watch and says `state(false)`
 * (the watcher then polls the store on its schedule); a reconnect starts a new watch, which
 * delivers the last announcement again (what was announced meanwhile) and says `state(true)`.
 * A watch that fails to start is tried again every `retryMs` while connected.
 */
import { ShoalError } from '../errors.ts';
import type { AnnouncementPush, AnnouncementPushHandlers } from './announcement-push.ts';
import { decodeAnnouncement } from './announcer.ts';
import { NatsBucket, type NatsOptions, natsError, natsKey } from './nats-bucket.ts';

/** Options of {@link NatsAnnouncementPush}. */
export interface NatsAnnouncementPushOptions extends NatsOptions {
  /**
   * While connected: the wait before trying again a watch that failed to start.
   * @default 1000
   */
  readonly retryMs?: number;
}

/** Announcements pushed from a NATS key-value bucket. One instance serves any number of namespaces. */
export class NatsAnnouncementPush implements AnnouncementPush {
  private readonly bucket: NatsBucket;
  private readonly retryMs: number;
  private readonly stops = new Set<() => Promise<void>>();
  private readonly subscribed = new Set<AnnouncementPushHandlers>();

  constructor(options: NatsAnnouncementPushOptions) {
    this.bucket = new NatsBucket(options);
    // NATS down at start: each failed attempt is told (the watchers poll the store meanwhile).
    this.bucket.onConnectError = (e) => {
      for (const h of this.subscribed) h.error(e);
    };
    this.retryMs = options.retryMs ?? 1000;
    if (!(this.retryMs > 0 && Number.isFinite(this.retryMs)))
      throw new ShoalError('INVALID_OPTION', `retryMs must be a positive number, got ${this.retryMs}`);
  }

  async subscribe(namespace: string, handlers: AnnouncementPushHandlers): Promise<() => Promise<void>> {
    const key = natsKey(namespace);
    this.subscribed.add(handlers);
    let stopped = false;
    let connected = false;
    let up = false;
    let watch: { stop(): void } | undefined;
    let retry: NodeJS.Timeout | undefined;
    let generation = 0;
    const say = (next: boolean) => {
      if (next === up || stopped) return;
      up = next;
      handlers.state(next);
    };
    const startWatch = async () => {
      clearTimeout(retry);
      const mine = ++generation;
      watch?.stop();
      watch = undefined;
      try {
        const kv = await this.bucket.kv();
        const iterator = await kv.watch({ key });
        if (stopped || mine !== generation || !connected) {
          iterator.stop();
          return;
        }
        watch = iterator;
        say(true);
        void (async () => {
          try {
            for await (const entry of iterator) {
              if (entry.operation !== 'PUT' || stopped) continue;
              try {
                handlers.announcement(decodeAnnouncement(entry.value, `nats:${this.bucket.name}/${key}`));
              } catch (e) {
                handlers.error(e as ShoalError);
              }
            }
          } catch (e) {
            if (!stopped && mine === generation) handlers.error(natsError(`watching ${key}`, e));
          }
          // The watch ended (the connection closed, or it failed): down until a new one starts.
          if (!stopped && mine === generation) {
            watch = undefined;
            say(false);
            if (connected) retry = setTimeout(() => void startWatch(), this.retryMs).unref();
          }
        })();
      } catch (e) {
        if (stopped || mine !== generation) return;
        handlers.error(natsError(`starting a watch of ${key}`, e));
        say(false);
        if (connected) retry = setTimeout(() => void startWatch(), this.retryMs).unref();
      }
    };
    // The connection may take a while (NATS down at start): the watcher polls meanwhile.
    void this.bucket.connection().then(
      async (nc) => {
        if (stopped) return;
        connected = !nc.isClosed();
        if (connected) void startWatch();
        for await (const s of nc.status()) {
          if (stopped) break;
          if (s.type === 'disconnect') {
            connected = false;
            generation++;
            watch?.stop();
            watch = undefined;
            say(false);
          } else if (s.type === 'reconnect') {
            connected = true;
            void startWatch();
          } else if (s.type === 'close') {
            connected = false;
            say(false);
          }
        }
      },
      (e: unknown) => {
        // Only a close ends the attempts: nothing to tell then.
        if (!stopped && !(e instanceof ShoalError && e.code === 'CLOSED'))
          handlers.error(natsError('connecting', e));
      },
    );
    const stop = async () => {
      stopped = true;
      generation++;
      clearTimeout(retry);
      watch?.stop();
      this.stops.delete(stop);
      this.subscribed.delete(handlers);
    };
    this.stops.add(stop);
    return stop;
  }

  /** Stops every subscription, then closes the connection if shoal made it. Idempotent. */
  async close(): Promise<void> {
    for (const stop of [...this.stops]) await stop();
    await this.bucket.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
