/**
 * The producer's typed events. Metrics and health subscribe to these rather than reaching
 * into the producer.
 */
import type { ShoalError } from '../errors.ts';

/** The stages of a cycle, in order. */
export const STAGES = ['build', 'encode', 'integrity', 'validate', 'publish', 'announce', 'retain'] as const;
/** A stage of a cycle. */
export type StageName = (typeof STAGES)[number];

/** What a blob of a version is. */
export type BlobRole = 'snapshot' | 'delta' | 'reverse' | 'header';

/** Events a producer emits, by name. */
export interface ProducerEvents {
  'cycle:start': { readonly version: number };
  'cycle:success': {
    readonly version: number;
    readonly durationMs: number;
    readonly stages: Readonly<Partial<Record<StageName, number>>>;
    readonly counts: Readonly<Record<string, number>>;
    readonly snapshot: boolean;
    /** The version's label, when the cycle was given one. */
    readonly label?: string;
    /** The version's key/values (`{}` when none). */
    readonly metadata: Readonly<Record<string, string>>;
  };
  'cycle:skip': { readonly reason: string };
  'cycle:failure': {
    readonly version: number;
    readonly stage: StageName;
    readonly error: ShoalError;
    readonly durationMs: number;
  };
  published: { readonly key: string; readonly role: BlobRole; readonly bytes: number };
  announced: {
    readonly version: number;
    readonly label?: string;
    readonly metadata: Readonly<Record<string, string>>;
  };
  backpressure: { readonly on: boolean; readonly pending: number };
  pending: { readonly count: number };
  retry: { readonly key: string; readonly attempt: number; readonly error: unknown };
  breaker: { readonly state: 'closed' | 'open' | 'half-open' };
  /** The write-ahead log failed to write (`WAL_FAILED`): changes are refused until reopened. */
  'wal:failure': { readonly error: ShoalError };
  warning: { readonly message: string; readonly error?: unknown };
}
