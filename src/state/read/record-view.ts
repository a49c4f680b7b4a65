/** The shape of a record view (type-state.ts makes them). */

/**
 * A read-only record: one getter per field, reading the state's columns. `toObject()` gives a
 * plain object equal to the record written (optional fields absent when absent).
 */
export type RecordView<R> = { readonly [K in keyof R]: R[K] } & {
  /** A plain object with the record's values. */
  toObject(): R;
  /** The same as {@link toObject}, so `JSON.stringify(view)` works. */
  toJSON(): R;
};
