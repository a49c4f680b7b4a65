/**
 * The NATS side shared by `NatsAnnouncer` and `NatsAnnouncementPush`: a connection (the
 * caller's, or one made from `servers` that reconnects forever), the JetStream key-value bucket
 * holding the last announcement of each namespace (history 1: only the last is kept), and the
 * key a namespace has there. Blobs never go to NATS: only announcements, a few hundred bytes.
 *
 * Imported from `shoal/nats` only, so that the package root loads no NATS code.
 */
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ShoalError } from '../errors.ts';

/** Options of the NATS adapters. Give `connection` or `servers`. */
export interface NatsOptions {
  /** The caller's connection; never closed by shoal. */
  readonly connection?: NatsConnection;
  /**
   * Servers to connect to (`nats://host:4222`), for a connection shoal makes and closes. It
   * waits for a first server and reconnects forever, every `reconnectWaitMs`.
   */
  readonly servers?: string | readonly string[];
  /**
   * The key-value bucket of announcements (made, with history 1, when missing).
   * @default 'shoal-announcements'
   */
  readonly bucket?: string;
  /**
   * A connection shoal makes: the wait between reconnection attempts.
   * @default 500
   */
  readonly reconnectWaitMs?: number;
}

/** The bucket when none is named. */
export const DEFAULT_NATS_BUCKET = 'shoal-announcements';

/**
 * The key of `namespace` in the bucket. KV keys are subject tokens: `.` separates tokens and
 * `+`, `@` are not allowed, so these (and `=`, the escape) are written `=XX`; `/` is kept.
 */
export function natsKey(namespace: string): string {
  return namespace.replace(/[.=+@]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `ShoalError` `PUSH_UNAVAILABLE` for a NATS failure. */
export function natsError(what: string, cause: unknown): ShoalError {
  return new ShoalError(
    'PUSH_UNAVAILABLE',
    `NATS ${what} failed (${(cause as Error)?.message ?? String(cause)}); announcements still go through the store, and consumers poll it until NATS is back`,
    { cause },
  );
}

/** The longest wait between first-connection attempts (they start at `reconnectWaitMs`). */
const FIRST_CONNECT_MAX_WAIT_MS = 5_000;
/** A server that accepts the connection and says nothing fails the attempt after this. */
const CONNECT_TIMEOUT_MS = 5_000;

/** A connection and the announcements bucket on it, opened on first use. */
export class NatsBucket {
  readonly name: string;
  private readonly options: NatsOptions;
  private connecting: Promise<NatsConnection> | undefined;
  private opening: Promise<KV> | undefined;
  private made: NatsConnection | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  /** Told of each failed attempt to make the first connection (the attempts go on). */
  onConnectError: ((error: ShoalError) => void) | undefined;

  constructor(options: NatsOptions) {
    if (!options?.connection && options?.servers === undefined) {
      throw new ShoalError('INVALID_OPTION', 'the NATS adapters need options.connection or options.servers');
    }
    const name = options.bucket ?? DEFAULT_NATS_BUCKET;
    if (!/^[-\w]+$/.test(name)) {
      throw new ShoalError(
        'INVALID_OPTION',
        `bucket must be letters, digits, "-" and "_" (a NATS key-value bucket name), got ${JSON.stringify(name)}`,
      );
    }
    const wait = options.reconnectWaitMs ?? 500;
    if (!(wait > 0 && Number.isFinite(wait) && wait <= 2_147_483_647))
      throw new ShoalError(
        'INVALID_OPTION',
        `reconnectWaitMs must be a positive number of milliseconds (at most 2147483647), got ${wait}`,
      );
    this.name = name;
    this.options = options;
  }

  /**
   * The connection (made on first use when shoal owns it; resolves once a server answered,
   * rejects with `CLOSED` when the adapter is closed first).
   */
  connection(): Promise<NatsConnection> {
    if (this.closed) return Promise.reject(closedError());
    this.connecting ??= this.options.connection
      ? Promise.resolve(this.options.connection)
      : this.connectFirst();
    return this.connecting;
  }

  /**
   * Tries servers until one answers, waiting `reconnectWaitMs` (doubling to 5 s) between
   * attempts; stops when closed. (nats.js's own `waitOnFirstConnect` cannot be stopped: a
   * producer or consumer closed while NATS was down never finished closing.)
   */
  private async connectFirst(): Promise<NatsConnection> {
    let wait = this.options.reconnectWaitMs ?? 500;
    for (;;) {
      if (this.closed) throw closedError();
      try {
        const attempt = connect({
          servers: [this.options.servers!].flat() as string[],
          timeout: CONNECT_TIMEOUT_MS,
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.options.reconnectWaitMs ?? 500,
          // A server that vanishes without closing the socket is noticed within ~20 s.
          pingInterval: 10_000,
          maxPingOut: 2,
          name: 'shoal',
        });
        // A server that accepts and never answers holds the attempt (nats.js does not time it
        // out): said once, then waited for, rather than a new socket every few seconds.
        let timer: NodeJS.Timeout | undefined;
        const silent = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CONNECT_TIMEOUT_MS);
          timer.unref();
        });
        const first = await Promise.race([attempt.then(() => false), silent.then(() => true)]).catch(
          () => false,
        );
        clearTimeout(timer);
        if (first && !this.closed) {
          this.onConnectError?.(
            natsError(
              'connecting',
              new Error(
                `no answer from ${[this.options.servers].flat().join(', ')} within ${CONNECT_TIMEOUT_MS} ms; still waiting`,
              ),
            ),
          );
        }
        const nc = await attempt;
        if (this.closed) {
          await nc.close().catch(() => {});
          throw closedError();
        }
        this.made = nc;
        return nc;
      } catch (e) {
        if (this.closed) throw closedError();
        this.onConnectError?.(natsError('connecting', e));
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      wait = Math.min(FIRST_CONNECT_MAX_WAIT_MS, wait * 2);
    }
  }

  /** The bucket (made when missing); opened again after a failure. */
  kv(): Promise<KV> {
    this.opening ??= this.connection()
      .then((nc) => new Kvm(nc).create(this.name, { history: 1 }))
      .catch((e: unknown) => {
        this.opening = undefined;
        throw e;
      });
    return this.opening;
  }

  /** Closes the connection if shoal made it (and stops trying to make it). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    this.connecting?.catch(() => {});
    await this.made?.close().catch(() => {});
  }
}

function closedError(): ShoalError {
  return new ShoalError('CLOSED', 'the NATS adapter was closed');
}
