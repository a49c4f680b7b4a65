/**
 * What a producer may say about a version beyond its records: a label (the source release it
 * holds, such as `3.1.5`) and string key/values. Both are kept in the version header (and in
 * the snapshot's header when the version has one), so they are as immutable as the version.
 *
 * The same bounds hold when a producer attaches them (`INVALID_OPTION`, naming the option)
 * and when a header is read back (`BLOB_CORRUPT`): a crafted header can hold no more than a
 * producer could have written.
 */
import { ShoalError } from '../errors.ts';

/** A version's label and key/values, as given to `runCycle` / `flush`. */
export interface VersionMetadata {
  /**
   * A name for the version, such as the source release it holds (`3.1.5`): 1 to
   * {@link MAX_LABEL_LENGTH} characters, no control characters. Several versions may carry one
   * label; `refreshTo(label)` finds the newest of them.
   * @default none
   */
  readonly label?: string;
  /**
   * Free key/values (strings only): at most {@link MAX_METADATA_ENTRIES} entries, keys of 1 to
   * {@link MAX_LABEL_LENGTH} characters, {@link MAX_METADATA_BYTES} bytes of keys and values in all.
   * @default {}
   */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The longest label (and metadata key), in characters. */
export const MAX_LABEL_LENGTH = 128;
/** The most metadata entries a version carries. */
export const MAX_METADATA_ENTRIES = 64;
/** The most bytes (UTF-8) of metadata keys and values together. */
export const MAX_METADATA_BYTES = 8192;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `text` cannot be a label or a metadata key, or `undefined`. */
function nameProblem(text: unknown): string | undefined {
  if (typeof text !== 'string') return `is not a string (${typeof text})`;
  if (text.length === 0) return 'is empty';
  if (text.length > MAX_LABEL_LENGTH)
    return `is ${text.length} characters long (at most ${MAX_LABEL_LENGTH})`;
  if (CONTROL.test(text)) return 'holds a control character';
  return undefined;
}

/** What is wrong with a label or metadata: which of the two, and why (`metadata["k"] is ...`). */
export interface MetadataProblem {
  readonly option: 'label' | 'metadata';
  /** Follows the option's name: ` is empty`, `["k"] is not a string (number)`. */
  readonly detail: string;
}

/** What is wrong with a label and metadata, or `undefined` when they are well formed. */
export function metadataProblem(label: unknown, metadata: unknown): MetadataProblem | undefined {
  if (label !== undefined) {
    const p = nameProblem(label);
    if (p) return { option: 'label', detail: ` ${p}` };
  }
  if (metadata === undefined) return undefined;
  const bad = (detail: string): MetadataProblem => ({ option: 'metadata', detail });
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    return bad(' is not an object of strings');
  const proto = Object.getPrototypeOf(metadata);
  if (proto !== Object.prototype && proto !== null) return bad(' is not a plain object');
  let entries = 0;
  let bytes = 0;
  // for…in stops at the first bad entry, so a crafted map costs no more than the bound to judge.
  for (const key in metadata) {
    if (++entries > MAX_METADATA_ENTRIES) return bad(` has more than ${MAX_METADATA_ENTRIES} entries`);
    const k = nameProblem(key);
    if (k) return bad(`: a key ${k}`);
    const value = (metadata as Record<string, unknown>)[key];
    if (typeof value !== 'string') return bad(`[${JSON.stringify(key)}] is not a string (${typeof value})`);
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
    if (bytes > MAX_METADATA_BYTES)
      return bad(` holds more than ${MAX_METADATA_BYTES} bytes of keys and values`);
  }
  return undefined;
}

/**
 * Checks what a caller attaches to a version; `INVALID_OPTION` naming the option otherwise.
 * `names` gives the option names to use in the message (the CLI's `--label` / `--meta`).
 * Returns a copy holding only what is set (no empty `metadata`), safe from later changes.
 */
export function checkVersionMetadata(
  given: VersionMetadata | undefined,
  names: { readonly label: string; readonly metadata: string } = { label: 'label', metadata: 'metadata' },
): VersionMetadata {
  if (given === undefined) return {};
  if (typeof given !== 'object' || given === null)
    throw new ShoalError('INVALID_OPTION', `the version's options are an object ({ label, metadata })`);
  const problem = metadataProblem(given.label, given.metadata);
  if (problem) {
    throw new ShoalError(
      'INVALID_OPTION',
      `${names[problem.option]}${problem.detail}. A label is 1 to ${MAX_LABEL_LENGTH} characters without control characters; metadata is at most ${MAX_METADATA_ENTRIES} string values, ${MAX_METADATA_BYTES} bytes of keys and values in all.`,
    );
  }
  const metadata =
    given.metadata && Object.keys(given.metadata).length > 0 ? { ...given.metadata } : undefined;
  return {
    ...(given.label !== undefined ? { label: given.label } : {}),
    ...(metadata ? { metadata } : {}),
  };
}

/** A version named by number, or by label. */
export type VersionRef = { readonly version: number } | { readonly label: string };

const DIGITS = /^[0-9]+$/;
/** The prefix that makes a reference a label even when it is all digits. */
export const LABEL_PREFIX = 'label:';

/**
 * How a reference names a version: a number, or a string of digits only, is a version; a
 * string that starts with `label:` is the label after it; any other string is a label.
 * `INVALID_OPTION` (naming `name`) for a negative, fractional or unsafe number, or an empty label.
 */
export function parseVersionRef(ref: number | string, name: string): VersionRef {
  if (typeof ref === 'number' || (typeof ref === 'string' && DIGITS.test(ref))) {
    const version = Number(ref);
    if (Number.isSafeInteger(version) && version >= 0) return { version };
    throw new ShoalError(
      'INVALID_OPTION',
      `${name} needs a version (a non-negative integer) or a label, got ${String(ref)}`,
    );
  }
  if (typeof ref !== 'string')
    throw new ShoalError('INVALID_OPTION', `${name} needs a version or a label, got ${typeof ref}`);
  const label = ref.startsWith(LABEL_PREFIX) ? ref.slice(LABEL_PREFIX.length) : ref;
  const problem = nameProblem(label);
  if (problem) throw new ShoalError('INVALID_OPTION', `${name}: the label ${problem}`);
  return { label };
}
