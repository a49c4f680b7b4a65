/**
 * Prometheus metrics and status of a consumer (prom-client), fed by its typed events only.
 * In-memory statistics are bounded: counters, gauges, fixed-bucket histograms, and the last
 * refresh and last error only.
 *
 * A consumer may be watched before it has loaded anything (created, waiting for a first
 * version, loading it): the status then says so (`version: null`, `waitingSince`), and the
 * first load counts as a refresh like any other. Attached to a consumer already open, the
 * metrics count the refresh that produced the state it serves (its first load, usually).
 *
 * The status says what the consumer knows, and no more: while the announcement cannot be
 * read, the announced version is the last one read (with when), and the lag is unknown
 * (`null`), not 0. The version a consumer should serve is its own pin, else the
 * announcement's pin, else the announced version.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AnyConsumer, RefreshEvent } from '../consumer/consumer.ts';

/** What `/status` reports for a consumer. */
export interface ConsumerStatus {
  readonly namespace: string;
  /** The version served; `null` until the first one is loaded. */
  readonly version: number | null;
  /** The label of the version served, when its producer gave one (absent from the JSON otherwise). */
  readonly label: string | undefined;
  /** The key/values of the version served (`{}` when none). */
  readonly metadata: Readonly<Record<string, string>>;
  /** While nothing is announced yet: since when the consumer has waited for a first version. */
  readonly waitingSince: number | undefined;
  /** The version pinned on this consumer (`pin`, `refreshTo`), served whatever is announced. */
  readonly pinned: number | undefined;
  /** The version of the last announcement read (see `announcementCheckedAt`). */
  readonly announcedVersion: number | undefined;
  /** When the announcement was last read (ms since the epoch); unset before the first read. */
  readonly announcementCheckedAt: number | undefined;
  /** The latest check of the announcement failed (`lastError` says why). */
  readonly announcementCheckFailed: boolean;
  /**
   * Milliseconds the served version is behind the one it should serve (versions are times);
   * `null` when that is unknown: the announcement cannot be read and no pin says what to serve.
   */
  readonly lagMs: number | null;
  readonly counts: Readonly<Record<string, number>>;
  readonly bytes: number;
  readonly lastRefresh:
    | { readonly at: number; readonly to: number; readonly kind: string; readonly durationMs: number }
    | undefined;
  readonly lastError: { readonly at: number; readonly code: string; readonly message: string } | undefined;
  readonly failuresInARow: number;
  /** When the served version stopped being the announced one, if it has. */
  readonly behindSince: number | undefined;
}

/** Consumer metrics registered on `registry`; `stop()` unsubscribes them from the consumer. */
export interface ConsumerMetrics {
  readonly registry: Registry;
  readonly status: () => ConsumerStatus;
  stop(): void;
}

/** Registers the metrics of `consumer` on `registry`, kept from its events; `status()` is `/status`. */
export function consumerMetrics(
  consumer: AnyConsumer,
  registry: Registry,
  prefix = 'shoal_consumer_',
): ConsumerMetrics {
  const registers = [registry];
  const version = new Gauge({ name: `${prefix}version`, help: 'The version served.', registers });
  const announced = new Gauge({
    name: `${prefix}announced_version`,
    help: 'The version announced.',
    registers,
  });
  const refreshes = new Counter({
    name: `${prefix}refreshes_total`,
    help: 'Refreshes by outcome and kind.',
    labelNames: ['outcome', 'kind'],
    registers,
  });
  const seconds = new Histogram({
    name: `${prefix}refresh_duration_seconds`,
    help: 'Duration of successful refreshes.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers,
  });
  const blobFailures = new Counter({
    name: `${prefix}blob_failures_total`,
    help: 'Blobs that failed (missing, corrupt, not verifying) and were routed around.',
    registers,
  });
  const fetched = new Counter({
    name: `${prefix}bytes_fetched_total`,
    help: 'Bytes of blobs fetched by refreshes.',
    registers,
  });
  const records = new Gauge({
    name: `${prefix}records`,
    help: 'Records per type in the served state.',
    labelNames: ['type'],
    registers,
  });
  const stateBytes = new Gauge({
    name: `${prefix}state_bytes`,
    help: 'Bytes the served state views.',
    registers,
  });
  const lastSuccess = new Gauge({
    name: `${prefix}last_success_timestamp_seconds`,
    help: 'When a refresh last succeeded (or the state was loaded).',
    registers,
  });
  const lastCheck = new Gauge({
    name: `${prefix}announcement_checked_timestamp_seconds`,
    help: 'When the announcement was last read.',
    registers,
  });
  const announcedAt = new Gauge({
    name: `${prefix}announced_timestamp_seconds`,
    help: 'When the announced version was announced, by the announcement itself.',
    registers,
  });
  const failures = new Gauge({
    name: `${prefix}refresh_failures_in_a_row`,
    help: 'Refreshes failed since the last one that succeeded or found nothing to do (readiness keys on it).',
    registers,
  });
  const errors = new Counter({
    name: `${prefix}errors_total`,
    help: 'Errors by code, and where: a refresh that failed, a blob routed around, or watching the announcement.',
    labelNames: ['where', 'code'],
    registers,
  });
  // Read at each scrape: the lag grows while no event comes.
  new Gauge({
    name: `${prefix}lag_seconds`,
    help: 'How long the served version has been behind the one to serve (its pin, else the announced one); 0 when on it.',
    registers,
    collect() {
      this.set(behindSince === undefined ? 0 : (Date.now() - behindSince) / 1000);
    },
  });
  // Read at each scrape too: a consumer started before its producer waits with no event.
  new Gauge({
    name: `${prefix}waiting_for_first_version_seconds`,
    help: 'How long the consumer has waited for a first version to be announced; 0 once it has one (or never waited).',
    registers,
    collect() {
      const since = consumer.waitingSince;
      this.set(since === undefined ? 0 : (Date.now() - since) / 1000);
    },
  });
  for (const kind of ['snapshot', 'delta', 'reverse']) refreshes.inc({ outcome: 'success', kind }, 0);
  refreshes.inc({ outcome: 'failure', kind: 'any' }, 0);

  let lastRefresh: ConsumerStatus['lastRefresh'];
  let lastError: ConsumerStatus['lastError'];
  let failuresInARow = 0;
  let behindSince: number | undefined;
  // A consumer that has loaded read the announcement when it opened, just before this was made.
  let checkedAt = consumer.loaded ? Date.now() : undefined;
  let checkFailed = false;
  /** The version the consumer should serve, as far as it knows. */
  const target = () => {
    const a = consumer.announcement;
    return consumer.pin ?? a?.pinned ?? a?.version;
  };
  const observeState = () => {
    if (!consumer.loaded) return;
    const s = consumer.state;
    version.set(s.version);
    for (const [type, n] of Object.entries(s.counts())) records.set({ type }, n);
    stateBytes.set(s.byteLength);
  };
  const observeAnnouncement = () => {
    const a = consumer.announcement;
    if (a) {
      announced.set(a.pinned ?? a.version);
      announcedAt.set(a.announcedAt / 1000);
    }
    const t = target();
    if (t === undefined || !consumer.loaded || t === consumer.version) behindSince = undefined;
    else behindSince ??= Date.now();
  };
  const onRefresh = (e: RefreshEvent, at = Date.now()) => {
    refreshes.inc({ outcome: 'success', kind: e.kind });
    seconds.observe(e.durationMs / 1000);
    fetched.inc(e.bytes);
    lastSuccess.set(at / 1000);
    lastRefresh = { at, to: e.to, kind: e.kind, durationMs: e.durationMs };
    failuresInARow = 0;
    failures.set(0);
    observeState();
    observeAnnouncement();
  };
  if (consumer.lastRefresh) onRefresh(consumer.lastRefresh);
  observeState();
  observeAnnouncement();
  if (checkedAt !== undefined) lastCheck.set(checkedAt / 1000);
  const stops = [
    consumer.on('refresh', (e) => onRefresh(e)),
    consumer.on('refresh:failure', (e) => {
      refreshes.inc({ outcome: 'failure', kind: 'any' });
      lastError = { at: Date.now(), code: e.error.code, message: e.error.message };
      failuresInARow = e.failures;
      failures.set(e.failures);
      errors.inc({ where: 'refresh', code: e.error.code });
      observeAnnouncement();
    }),
    consumer.on('refresh:skip', () => {
      failuresInARow = 0;
      failures.set(0);
      observeAnnouncement();
    }),
    consumer.on('announcement', () => observeAnnouncement()),
    consumer.on('announcement:check', (e) => {
      checkFailed = !e.ok;
      if (e.ok) {
        checkedAt = Date.now();
        lastCheck.set(checkedAt / 1000);
      }
    }),
    consumer.on('blob:failure', (e) => {
      blobFailures.inc();
      errors.inc({ where: 'blob', code: e.error.code });
      lastError = { at: Date.now(), code: e.error.code, message: `${e.key}: ${e.error.message}` };
    }),
    consumer.on('watch:error', (e) => {
      errors.inc({ where: 'watch', code: e.code });
      lastError = { at: Date.now(), code: e.code, message: `watching the announcement: ${e.message}` };
    }),
  ];
  return {
    registry,
    status: () => {
      const known = consumer.loaded && (consumer.pin !== undefined || !checkFailed);
      const state = consumer.loaded ? consumer.state : undefined;
      return {
        namespace: consumer.namespace,
        version: state?.version ?? null,
        label: consumer.loaded ? consumer.label : undefined,
        metadata: consumer.metadata,
        waitingSince: consumer.waitingSince,
        pinned: consumer.pin,
        announcedVersion: consumer.announcement?.version,
        announcementCheckedAt: checkedAt,
        announcementCheckFailed: checkFailed,
        // Time behind, since the version to serve was first seen unserved: versions need not be
        // timestamps, so their difference says nothing of time.
        lagMs: !known ? null : behindSince === undefined ? 0 : Date.now() - behindSince,
        counts: state?.counts() ?? {},
        bytes: state?.byteLength ?? 0,
        lastRefresh,
        lastError,
        failuresInARow,
        behindSince,
      };
    },
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}
