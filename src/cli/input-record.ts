/**
 * What reading producer input yields, shared by the reader and its per-format readers: records
 * that passed validation, problems with the `file:line` they were found at, and the callback
 * through which a format reader hands each record over.
 *
 * Invariant: a format reader never validates or throws for a record; it passes the record to
 * {@link Take}, or pushes a problem, and goes on.
 */
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
