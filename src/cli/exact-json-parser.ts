/**
 * JSON parsing that keeps numbers exact, for producer input. `JSON.parse` reads a number to the
 * nearest double, which silently rounds a long (or a bigint) and turns a huge exponent into
 * ±Infinity; here, text that holds a number `JSON.parse` may round (16 or more digits, or a
 * 3-digit exponent) is parsed again keeping each number's source text as a {@link JsonNumber},
 * and the field's kind decides later what it is (see field-value-converter.ts).
 *
 * Invariants: only text `JSON.parse` accepted is parsed again, so syntax errors are its own;
 * the exact parse is iterative, so nesting costs heap rather than stack (the validator limits
 * depth, not the parser).
 */
/** A JSON number kept as its source text until the schema says what it is. */
export class JsonNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Number text `JSON.parse` may not read exactly: 16+ digits, or an exponent of 3+ digits. */
const MAYBE_INEXACT = /[0-9.]{16}|[eE][+-]?0*[1-9][0-9]{2}/;
const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * Parses JSON text. When the text holds a number `JSON.parse` may have rounded (or a string that
 * looks like one: that only costs time), it is parsed again with every number as a
 * {@link JsonNumber}. Throws `JSON.parse`'s SyntaxError for text that is not JSON.
 */
export function parseJson(text: string): unknown {
  const value = JSON.parse(text);
  return MAYBE_INEXACT.test(text) ? parseJsonExact(text) : value;
}

/**
 * Parses text that `JSON.parse` accepted, keeping numbers as source text. Iterative, so depth
 * costs heap rather than stack; `__proto__` keys stay own properties, as with `JSON.parse`.
 */
function parseJsonExact(text: string): unknown {
  const stack: { container: unknown[] | Record<string, unknown>; key: string | undefined }[] = [];
  let result: unknown;
  let i = 0;
  const put = (value: unknown) => {
    const top = stack.at(-1);
    if (!top) result = value;
    else if (Array.isArray(top.container)) top.container.push(value);
    else {
      const key = top.key!;
      if (key !== '__proto__') top.container[key] = value;
      else
        Object.defineProperty(top.container, key, {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      top.key = undefined;
    }
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ',' || c === ':') {
      i++;
    } else if (c === '{' || c === '[') {
      stack.push({ container: c === '{' ? {} : [], key: undefined });
      i++;
    } else if (c === '}' || c === ']') {
      put(stack.pop()!.container);
      i++;
    } else if (c === '"') {
      let end = i + 1;
      for (; ; end++) {
        end = text.indexOf('"', end);
        let backslashes = 0;
        while (text[end - 1 - backslashes] === '\\') backslashes++;
        if (backslashes % 2 === 0) break;
      }
      const raw = text.slice(i + 1, end);
      const s = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      const top = stack.at(-1);
      if (top && !Array.isArray(top.container) && top.key === undefined) top.key = s;
      else put(s);
      i = end + 1;
    } else if (c === 't' || c === 'f' || c === 'n') {
      const word = c === 't' ? 'true' : c === 'f' ? 'false' : 'null';
      put(c === 't' ? true : c === 'f' ? false : null);
      i += word.length;
    } else {
      JSON_NUMBER.lastIndex = i;
      const token = JSON_NUMBER.exec(text)![0];
      put(new JsonNumber(token));
      i += token.length;
    }
  }
  return result;
}
