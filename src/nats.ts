/**
 * `shoal/nats`: announcements pushed over NATS JetStream key-value, the blobs staying in the
 * store. A subpath of its own so that the package root loads no NATS code.
 *
 * Producer: `Producer.open({ ..., announcer: new NatsAnnouncer({ store, namespace, servers }) })`.
 * Consumer: `Consumer.open({ ..., push: new NatsAnnouncementPush({ servers }) })`.
 */

export type { AnnouncementPush, AnnouncementPushHandlers } from './blob/announcement-push.ts';
export {
  NatsAnnouncementPush,
  type NatsAnnouncementPushOptions,
} from './blob/nats-announcement-push.ts';
export { NatsAnnouncer, type NatsAnnouncerOptions } from './blob/nats-announcer.ts';
export { DEFAULT_NATS_BUCKET, type NatsOptions, natsKey } from './blob/nats-bucket.ts';
