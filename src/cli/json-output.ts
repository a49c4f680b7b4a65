/**
 * How the CLI writes records as JSON, in the spellings `shoal produce` reads back: 64-bit
 * bigints as decimal strings, bytes as base64, and NaN and the infinities as the strings
 * "NaN", "Infinity", "-Infinity" (JSON has no such numbers and would print null).
 */
export const recordReplacer = (_: string, v: unknown): unknown => {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
};
