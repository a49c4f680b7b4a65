/**
 * `shoal/observability`: Prometheus metrics and the health server. A subpath of its own so that
 * the package root loads neither prom-client nor an HTTP server.
 */
import { Registry } from 'prom-client';
import { type HealthServer, type HealthServerOptions, serveHealth } from './observability/health-server.ts';
import { type ProducerMetrics, producerMetrics } from './observability/producer-metrics.ts';
import type { AnyProducer } from './producer/producer.ts';

export {
  type HealthServer,
  type HealthServerOptions,
  type HealthSource,
  serveHealth,
} from './observability/health-server.ts';
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
}

/** Metrics and a health server for a producer; closing the server stops the metrics. */
export async function serveProducerHealth(
  producer: AnyProducer,
  options: ProducerHealthOptions = {},
): Promise<HealthServer & { metrics: ProducerMetrics }> {
  const metrics = producerMetrics(producer, options.registry ?? new Registry());
  const maxFailed = options.maxFailedCycles ?? 3;
  const server = await serveHealth(
    {
      live: () => true,
      ready: () => {
        const s = metrics.status();
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
