/**
 * The push role: a messaging engine that delivers a namespace's announcements to a watcher as
 * they are made, so it need not poll the store for them. The store stays the truth: a watcher
 * with a push path polls the store rarely while the path is up (`pushPollMs`) and on its normal
 * schedule while it is down. `shoal/nats` has the adapter over NATS JetStream key-value.
 */
import type { ShoalError } from '../errors.ts';
import type { Announcement } from './announcer.ts';

/** What a push path tells its subscriber. */
export interface AnnouncementPushHandlers {
  /** An announcement was pushed (on subscribing: the last one made, when there is one). */
  announcement(announcement: Announcement): void;
  /** The path is up (announcements will come) or down (the subscriber polls the store). */
  state(up: boolean): void;
  /** Something failed on the path; it goes on (reconnecting) and says `state(false)` meanwhile. */
  error(error: ShoalError): void;
}

/** A push path for announcements. */
export interface AnnouncementPush {
  /**
   * Starts delivering `namespace`'s announcements to `handlers`. Resolves once subscribed (the
   * path need not be up yet) with a function that stops the delivery.
   */
  subscribe(namespace: string, handlers: AnnouncementPushHandlers): Promise<() => Promise<void>>;
}
