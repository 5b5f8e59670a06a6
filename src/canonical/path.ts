/**
 * JSON paths in error messages: `$` for the root, `.name` for identifier-like keys,
 * `['any key']` for the rest, `[3]` for array indexes. Every error `path` in sinkproof is
 * written by this one function, so paths from the canonicalizer, the envelope validator
 * and later modules read the same.
 *
 * @module
 */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function quoteKey(key: string): string {
  let out = "";
  for (const char of key) {
    const code = char.codePointAt(0) ?? 0;
    if (char === "'" || char === "\\") out += `\\${char}`;
    else if (code < 0x20 || code === 0x7f || (code >= 0xd800 && code <= 0xdfff)) {
      out += `\\u${code.toString(16).padStart(4, "0")}`;
    } else out += char;
  }
  return `'${out}'`;
}

/**
 * Formats path segments as a JSON path.
 *
 * @example
 * ```ts
 * formatPath(["items", 3, "unit price"]); // "$.items[3]['unit price']"
 * ```
 */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = "$";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "symbol") out += `[${String(segment)}]`;
    else if (IDENTIFIER.test(segment)) out += `.${segment}`;
    else out += `[${quoteKey(segment)}]`;
  }
  return out;
}
