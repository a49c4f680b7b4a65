/**
 * A circuit breaker for publishing. After `threshold` failures in a row it opens: calls fail
 * fast with `CIRCUIT_OPEN` for `cooldownMs`; then it half-opens and lets one call through,
 * which closes it on success or opens it again on failure.
 */
import { ShoalError } from '../errors.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private current: BreakerState = 'closed';
  private readonly threshold: number;
  private readonly cooldownMs: number;
  private readonly onChange: (state: BreakerState) => void;

  constructor(threshold: number, cooldownMs: number, onChange: (state: BreakerState) => void = () => {}) {
    this.threshold = threshold;
    this.cooldownMs = cooldownMs;
    this.onChange = onChange;
  }

  get state(): BreakerState {
    if (this.current === 'open' && Date.now() - this.openedAt >= this.cooldownMs) this.set('half-open');
    return this.current;
  }

  private set(state: BreakerState): void {
    if (state === this.current) return;
    this.current = state;
    this.onChange(state);
  }

  /** Runs `fn` unless the breaker is open. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.state === 'open') {
      const wait = Math.ceil((this.cooldownMs - (Date.now() - this.openedAt)) / 1000);
      throw new ShoalError(
        'CIRCUIT_OPEN',
        `publishing failed ${this.failures} times in a row, so it is paused for ${wait} s more. Check the store; the next cycle after the pause tries again.`,
      );
    }
    try {
      const out = await fn();
      this.failures = 0;
      this.set('closed');
      return out;
    } catch (e) {
      this.failures++;
      if (this.current === 'half-open' || this.failures >= this.threshold) {
        this.openedAt = Date.now();
        this.set('open');
      }
      throw e;
    }
  }
}
