/**
 * Where two JSON values differ, as JSON paths: what a `mismatched` finding shows when the
 * sink's payload is available.
 *
 * @module
 */

import { canonicalize } from "../canonical/canonicalize.js";
import { formatPath } from "../canonical/path.js";
import type { PayloadDifference } from "./types.js";

/** A value on one side only, at a path: what the other side's text shows. */
const ABSENT = Symbol("absent");

/** Longest text of one side of a difference, in characters. */
const MAX_VALUE_TEXT = 120;

/**
 * The JSON paths at which `observed` differs from `expected`, in document order, at most
 * `max` of them. Objects are compared key by key (a key on one side only is a
 * difference at that key), arrays index by index (extra or missing items are
 * differences at their index), everything else with `===` (so `0` and `-0` are equal:
 * they have one canonical form). Values nested deeper than 64 levels are
 * compared as a whole (by canonical JSON) at the 64th level. Internal.
 */
export function diffPaths(expected: unknown, observed: unknown, max = 20): string[] {
  return diffValues(expected, observed, max).map((d) => d.path);
}

/**
 * {@link diffPaths} with what each side holds there: its canonical JSON, cut at 120
 * characters, or `(absent)` for a key or an item one side does not have. Internal.
 */
export function diffValues(expected: unknown, observed: unknown, max = 20): PayloadDifference[] {
  const out: Array<{ path: string; a: unknown; b: unknown }> = [];
  walk(expected, observed, [], out, max, 0);
  return out.map(({ path, a, b }) => {
    const [expectedText, observedText] = shown(json(a), json(b));
    return { path, expected: expectedText, observed: observedText };
  });
}

function json(value: unknown): string {
  if (value === ABSENT) return "(absent)";
  try {
    return canonicalize(value);
  } catch {
    return "(not JSON)";
  }
}

/**
 * Both sides cut to at most 120 characters each. When the two differ only past where a
 * plain cut would end, both are cut around the first character that differs instead (with
 * `…` on each side), so the two texts never read the same.
 */
function shown(a: string, b: string): [string, string] {
  if (a.length <= MAX_VALUE_TEXT && b.length <= MAX_VALUE_TEXT) return [a, b];
  let first = 0;
  while (first < a.length && first < b.length && a[first] === b[first]) first++;
  const start = first < MAX_VALUE_TEXT - 20 ? 0 : first - 20;
  return [cut(a, start), cut(b, start)];
}

/** `text` from `start`, at most 120 characters, `…` where something was left out. */
function cut(text: string, start: number): string {
  if (start === 0 && text.length <= MAX_VALUE_TEXT) return text;
  let from = start;
  // Never half of a surrogate pair: the text stays well-formed (and canonicalizable).
  const at = text.charCodeAt(from);
  if (from > 0 && at >= 0xdc00 && at <= 0xdfff) from++;
  const room = MAX_VALUE_TEXT - (from > 0 ? 1 : 0) - 1;
  let end = Math.min(text.length, from + room);
  if (end < text.length) {
    const last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end--;
  }
  return `${from > 0 ? "…" : ""}${text.slice(from, end)}${end < text.length ? "…" : ""}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function walk(
  a: unknown,
  b: unknown,
  path: PropertyKey[],
  out: Array<{ path: string; a: unknown; b: unknown }>,
  max: number,
  depth: number,
): void {
  if (out.length >= max) return;
  if (a === b) return; // 0 and -0 too: one canonical form
  if (depth >= 64) {
    // Too deep to walk: compared as a whole, by canonical text (two equal objects are
    // not `===`, and are not a difference).
    if (json(a) !== json(b)) out.push({ path: formatPath(path), a, b });
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n && out.length < max; i++) {
      path.push(i);
      if (i >= a.length || i >= b.length) {
        out.push({
          path: formatPath(path),
          a: i < a.length ? a[i] : ABSENT,
          b: i < b.length ? b[i] : ABSENT,
        });
      } else walk(a[i], b[i], path, out, max, depth + 1);
      path.pop();
    }
    return;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of [...keys].sort()) {
      if (out.length >= max) return;
      path.push(key);
      const inA = Object.hasOwn(a, key);
      const inB = Object.hasOwn(b, key);
      if (inA !== inB) {
        out.push({ path: formatPath(path), a: inA ? a[key] : ABSENT, b: inB ? b[key] : ABSENT });
      } else walk(a[key], b[key], path, out, max, depth + 1);
      path.pop();
    }
    return;
  }
  out.push({ path: formatPath(path), a, b });
}
