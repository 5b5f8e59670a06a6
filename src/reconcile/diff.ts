/**
 * Where two JSON values differ, as JSON paths: what a `mismatched` finding shows when the
 * sink's payload is available.
 *
 * @module
 */

import { formatPath } from "../canonical/path.js";

/**
 * The JSON paths at which `observed` differs from `expected`, in document order, at most
 * `max` of them. Objects are compared key by key (a key on one side only is a
 * difference at that key), arrays index by index (extra or missing items are
 * differences at their index), everything else with `===` (so `0` and `-0` are equal:
 * they have one canonical form). Values nested deeper than 64 levels are
 * compared as a whole at the 64th level. Internal.
 */
export function diffPaths(expected: unknown, observed: unknown, max = 20): string[] {
  const out: string[] = [];
  const path: PropertyKey[] = [];
  walk(expected, observed, path, out, max, 0);
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function walk(
  a: unknown,
  b: unknown,
  path: PropertyKey[],
  out: string[],
  max: number,
  depth: number,
): void {
  if (out.length >= max) return;
  if (a === b) return; // 0 and -0 too: one canonical form
  if (depth >= 64) {
    out.push(formatPath(path));
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n && out.length < max; i++) {
      path.push(i);
      if (i >= a.length || i >= b.length) out.push(formatPath(path));
      else walk(a[i], b[i], path, out, max, depth + 1);
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
      if (inA !== inB) out.push(formatPath(path));
      else walk(a[key], b[key], path, out, max, depth + 1);
      path.pop();
    }
    return;
  }
  out.push(formatPath(path));
}
