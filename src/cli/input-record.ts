/**
 * What reading producer input yields, shared by the reader and its per-format readers: records
 * that passed validation, problems with the `file:line` they were found at, and the callback
 * through which a format reader hands each record over.
 *
 * Invariant: a format reader never validates or throws for a record; it passes the record to
 * {@link Take}, or pushes a problem, and goes on.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ObjectType } from '../index.ts';

/** A record that passed validation. */
export interface InputRecord {
  readonly type: string;
  readonly record: Record<string, unknown>;
}

/** A record that did not, with where it was. */
export interface InputProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

/** Validates and keeps one record (converted by `build`), or keeps its problem. */
export type Take = (
  file: string,
  line: number,
  typeName: string | undefined,
  keySource: unknown,
  build: (type: ObjectType) => unknown,
) => void;

/** How many records a reader handles between two turns of the event loop. */
const RECORDS_PER_TURN = 2_000;

/**
 * Gives the event loop a turn every {@link RECORDS_PER_TURN} calls, then throws the signal's
 * reason if it was aborted: a signal (SIGINT) is acted on while a large file is read, not after.
 */
export type Pace = () => Promise<void> | undefined;

/** A {@link Pace} that stops reading when `signal` is aborted. */
export function pacer(signal: AbortSignal | undefined): Pace {
  let calls = 0;
  const turn = async () => {
    await nextTurn();
    signal?.throwIfAborted();
  };
  return () => (++calls % RECORDS_PER_TURN === 0 ? turn() : undefined);
}
