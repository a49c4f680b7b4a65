/**
 * `shoal/observability`: Prometheus metrics and the health server. A subpath of its own so that
 * the package root loads neither prom-client nor an HTTP server.
 */
import { Registry } from 'prom-client';
import type { AnyConsumer } from './consumer/consumer.ts';
import { ShoalError } from './errors.ts';
import { type ConsumerMetrics, consumerMetrics } from './observability/consumer-metrics.ts';
import { type HealthServer, type HealthServerOptions, serveHealth } from './observability/health-server.ts';
import { processMetrics } from './observability/process-metrics.ts';
import { type ProducerMetrics, producerMetrics } from './observability/producer-metrics.ts';
import type { AnyProducer } from './producer/producer.ts';

export {
  type ConsumerMetrics,
  type ConsumerStatus,
  consumerMetrics,
} from './observability/consumer-metrics.ts';
export {
  type HealthServer,
  type HealthServerOptions,
  type HealthSource,
  serveHealth,
} from './observability/health-server.ts';
export { processMetrics } from './observability/process-metrics.ts';
export {
  type ProducerMetrics,
  type ProducerStatus,
  producerMetrics,
} from './observability/producer-metrics.ts';

/** Options of {@link serveProducerHealth}. */
export interface ProducerHealthOptions extends HealthServerOptions {
  /**
   * Not ready after this many failed cycles in a row.
   * @default 3
   */
  readonly maxFailedCycles?: number;
  /**
   * The registry to register the metrics on.
   * @default a new Registry
   */
  readonly registry?: Registry;
  /**
   * Also serve the process's memory and its limits (see `processMetrics`), which the shipped
   * alerts and dashboard use. Turn it off when the registry given already has prom-client's
   * default metrics (their names would clash).
   * @default true
   */
  readonly processMetrics?: boolean;
}

/** Metrics and a health server for a producer; closing the server stops the metrics. */
export async function serveProducerHealth(
  producer: AnyProducer,
  options: ProducerHealthOptions = {},
): Promise<HealthServer & { metrics: ProducerMetrics }> {
  const registry = options.registry ?? new Registry();
  if (options.processMetrics !== false) processMetrics(registry);
  const metrics = producerMetrics(producer, registry);
  const maxFailed = options.maxFailedCycles ?? 3;
  const server = await serveHealth(
    {
      live: () => true,
      ready: () => {
        const s = metrics.status();
        if (producer.conflict) {
          return {
            ready: false,
            reason:
              'another producer announced in this namespace (ANNOUNCE_CONFLICT); this one publishes nothing more: reopen it to resume',
          };
        }
        if (s.failuresInARow >= maxFailed)
          return {
            ready: false,
            reason: `${s.failuresInARow} cycles failed in a row (last: ${s.lastCycle?.error})`,
          };
        if (s.breaker === 'open') return { ready: false, reason: 'the publish circuit breaker is open' };
        return { ready: true };
      },
      status: () => metrics.status(),
      registry: metrics.registry,
    },
    options,
  );
  const close = async () => {
    metrics.stop();
    await server.close();
  };
  return { ...server, metrics, close, [Symbol.asyncDispose]: close };
}

/** Options of {@link serveConsumerHealth}. */
export interface ConsumerHealthOptions extends HealthServerOptions {
  /**
   * Not ready when the served version has lagged the one to serve for longer than this, or
   * when the announcement has failed to read and was last read longer ago than this.
   * @default 60000
   */
  readonly maxStalenessMs?: number;
  /**
   * Not ready after this many failed refreshes in a row.
   * @default 3
   */
  readonly maxFailedRefreshes?: number;
  /**
   * The registry to register the metrics on.
   * @default a new Registry
   */
  readonly registry?: Registry;
  /**
   * Also serve the process's memory and its limits (see `processMetrics`), which the shipped
   * alerts and dashboard use. Turn it off when the registry given already has prom-client's
   * default metrics (their names would clash).
   * @default true
   */
  readonly processMetrics?: boolean;
  /** More routes (see `HealthSource.routes`). */
  readonly routes?: NonNullable<Parameters<typeof serveHealth>[0]['routes']>;
}

const positive = (name: string, v: number | undefined, fallback: number): number => {
  const n = v ?? fallback;
  if (!Number.isFinite(n) || n <= 0) {
    throw new ShoalError('INVALID_OPTION', `${name} must be a positive number, got ${String(v)}`);
  }
  return n;
};

/**
 * Metrics and a health server for a consumer; closing the server stops the metrics.
 *
 * Ready, in this order: not before a first version is loaded (the consumer may be served
 * from `Consumer.create`, before `start()`, and waits there while nothing is announced with
 * `waitForFirstVersion`); not after `maxFailedRefreshes` failed refreshes in a row (a refresh
 * that succeeds, or a check that finds the consumer already on its target, ends the run);
 * always while serving its own pin (a fleet pinned for a rollback stays in rotation, whatever
 * is announced or readable); not while the announcement fails to read and was last read more
 * than `maxStalenessMs` ago (what is announced is unknown); not when the served version has
 * been behind the one to serve for more than `maxStalenessMs`.
 */
export async function serveConsumerHealth(
  consumer: AnyConsumer,
  options: ConsumerHealthOptions = {},
): Promise<HealthServer & { metrics: ConsumerMetrics }> {
  const maxStaleness = positive('maxStalenessMs', options.maxStalenessMs, 60_000);
  const maxFailed = positive('maxFailedRefreshes', options.maxFailedRefreshes, 3);
  const registry = options.registry ?? new Registry();
  if (options.processMetrics !== false) processMetrics(registry);
  const metrics = consumerMetrics(consumer, registry);
  let closed = false;
  void consumer.closed().then(() => {
    closed = true;
  });
  const server = await serveHealth(
    {
      live: () => !closed,
      ready: () => {
        const s = metrics.status();
        if (s.version === null) {
          return {
            ready: false,
            reason:
              s.waitingSince !== undefined
                ? `waiting for the first version of namespace "${s.namespace}": nothing is announced there yet`
                : `no version of namespace "${s.namespace}" is loaded yet`,
          };
        }
        if (s.failuresInARow >= maxFailed)
          return {
            ready: false,
            reason: `${s.failuresInARow} refreshes failed in a row (last: ${s.lastError?.code})`,
          };
        if (s.pinned !== undefined && s.version === s.pinned) return { ready: true };
        if (s.announcementCheckFailed && Date.now() - (s.announcementCheckedAt ?? 0) > maxStaleness) {
          return {
            ready: false,
            reason: `the announcement has not been read for over ${maxStaleness} ms (last: ${s.lastError?.code}); version ${s.version} may be stale`,
          };
        }
        if (s.behindSince !== undefined && Date.now() - s.behindSince > maxStaleness) {
          return {
            ready: false,
            reason: `version ${s.version} has lagged the announcement for over ${maxStaleness} ms`,
          };
        }
        return { ready: true };
      },
      status: () => metrics.status(),
      registry: metrics.registry,
      ...(options.routes ? { routes: options.routes } : {}),
    },
    options,
  );
  const close = async () => {
    metrics.stop();
    await server.close();
  };
  return { ...server, metrics, close, [Symbol.asyncDispose]: close };
}
