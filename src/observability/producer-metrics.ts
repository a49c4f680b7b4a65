/**
 * Prometheus metrics of a producer (prom-client), fed by its typed events only. Counters end in
 * `_total`; durations are histograms in seconds.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AnyProducer } from '../producer/producer.ts';
import type { StageName } from '../producer/producer-events.ts';

/** Producer metrics registered on `registry`; `stop()` unsubscribes them from the producer. */
export interface ProducerMetrics {
  readonly registry: Registry;
  /** Facts for readiness and `/status`, kept from the same events. */
  readonly status: () => ProducerStatus;
  stop(): void;
}

/** What `/status` reports for a producer. */
export interface ProducerStatus {
  readonly announcedVersion: number | undefined;
  readonly pending: number;
  readonly lastCycle:
    | {
        readonly outcome: 'published' | 'skipped' | 'failed';
        readonly at: number;
        readonly version?: number;
        /** The label of the version published, when it has one. */
        readonly label?: string;
        readonly stage?: StageName;
        readonly error?: string;
      }
    | undefined;
  readonly failuresInARow: number;
  readonly breaker: 'closed' | 'open' | 'half-open';
  readonly counts: Readonly<Record<string, number>>;
}

export function producerMetrics(
  producer: AnyProducer,
  registry: Registry,
  prefix = 'shoal_producer_',
): ProducerMetrics {
  const registers = [registry];
  const cycles = new Counter({
    name: `${prefix}cycles_total`,
    help: 'Cycles by outcome.',
    labelNames: ['outcome'],
    registers,
  });
  const cycleSeconds = new Histogram({
    name: `${prefix}cycle_duration_seconds`,
    help: 'Duration of cycles that published a version.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const stageSeconds = new Histogram({
    name: `${prefix}stage_duration_seconds`,
    help: 'Duration of each stage of published cycles.',
    labelNames: ['stage'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers,
  });
  const blobBytes = new Counter({
    name: `${prefix}blob_bytes_total`,
    help: 'Bytes of blobs published, by kind.',
    labelNames: ['kind'],
    registers,
  });
  const records = new Gauge({
    name: `${prefix}records`,
    help: 'Records per type in the announced version.',
    labelNames: ['type'],
    registers,
  });
  const pending = new Gauge({
    name: `${prefix}pending_changes`,
    help: 'Upserts and deletes not yet in an announced version.',
    registers,
  });
  const backpressure = new Counter({
    name: `${prefix}backpressure_total`,
    help: 'Times the producer started pushing back.',
    registers,
  });
  const retries = new Counter({
    name: `${prefix}publish_retries_total`,
    help: 'Blob writes retried.',
    registers,
  });
  const breaker = new Gauge({
    name: `${prefix}breaker_state`,
    help: 'Publish circuit breaker: 0 closed, 1 half-open, 2 open.',
    registers,
  });
  const lastSuccess = new Gauge({
    name: `${prefix}last_success_timestamp_seconds`,
    help: 'When a cycle last published a version.',
    registers,
  });
  const version = new Gauge({
    name: `${prefix}announced_version`,
    help: 'The version this producer announced last.',
    registers,
  });
  const pushingBack = new Gauge({
    name: `${prefix}backpressure_active`,
    help: 'Whether the producer is pushing back now (1) or not (0).',
    registers,
  });
  const failuresInARow = new Gauge({
    name: `${prefix}cycle_failures_in_a_row`,
    help: 'Cycles failed since the last one that published or skipped (readiness keys on it).',
    registers,
  });
  const errors = new Counter({
    name: `${prefix}errors_total`,
    help: 'Errors by code, and the cycle stage they failed (or "wal").',
    labelNames: ['stage', 'code'],
    registers,
  });
  const walFailed = new Gauge({
    name: `${prefix}wal_failed`,
    help: 'The write-ahead log failed (1): changes are refused until the producer is reopened.',
    registers,
  });
  for (const outcome of ['published', 'skipped', 'failed']) cycles.inc({ outcome }, 0);

  let status: ProducerStatus = {
    announcedVersion: producer.version,
    pending: producer.pendingCount,
    lastCycle: undefined,
    failuresInARow: 0,
    breaker: 'closed',
    counts: producer.state?.counts() ?? {},
  };
  if (producer.version !== undefined) version.set(producer.version);
  for (const [type, n] of Object.entries(status.counts)) records.set({ type }, n);
  const update = (patch: Partial<ProducerStatus>) => {
    status = { ...status, ...patch };
  };
  const stops = [
    producer.on('cycle:success', (e) => {
      cycles.inc({ outcome: 'published' });
      cycleSeconds.observe(e.durationMs / 1000);
      for (const [stage, ms] of Object.entries(e.stages)) stageSeconds.observe({ stage }, ms / 1000);
      for (const [type, n] of Object.entries(e.counts)) records.set({ type }, n);
      lastSuccess.set(Date.now() / 1000);
      update({
        lastCycle: {
          outcome: 'published',
          at: Date.now(),
          version: e.version,
          ...(e.label !== undefined ? { label: e.label } : {}),
        },
        failuresInARow: 0,
        counts: e.counts,
      });
      failuresInARow.set(0);
    }),
    producer.on('cycle:skip', () => {
      cycles.inc({ outcome: 'skipped' });
      update({ lastCycle: { outcome: 'skipped', at: Date.now() }, failuresInARow: 0 });
      failuresInARow.set(0);
    }),
    producer.on('cycle:failure', (e) => {
      cycles.inc({ outcome: 'failed' });
      update({
        lastCycle: {
          outcome: 'failed',
          at: Date.now(),
          version: e.version,
          stage: e.stage,
          error: `${e.error.code}: ${e.error.message}`,
        },
        failuresInARow: status.failuresInARow + 1,
      });
      failuresInARow.set(status.failuresInARow);
      errors.inc({ stage: e.stage, code: e.error.code });
    }),
    producer.on('wal:failure', (e) => {
      walFailed.set(1);
      errors.inc({ stage: 'wal', code: e.error.code });
    }),
    producer.on('published', (e) => blobBytes.inc({ kind: e.role }, e.bytes)),
    producer.on('announced', (e) => {
      version.set(e.version);
      update({ announcedVersion: e.version });
    }),
    producer.on('pending', (e) => {
      pending.set(e.count);
      update({ pending: e.count });
    }),
    producer.on('backpressure', (e) => {
      if (e.on) backpressure.inc();
      pushingBack.set(e.on ? 1 : 0);
    }),
    producer.on('retry', () => retries.inc()),
    producer.on('breaker', (e) => {
      breaker.set(e.state === 'closed' ? 0 : e.state === 'half-open' ? 1 : 2);
      update({ breaker: e.state });
    }),
  ];
  return {
    registry,
    status: () => ({ ...status, pending: producer.pendingCount }),
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}
