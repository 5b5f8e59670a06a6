/**
 * Options objects, read once. Every public function reads its options (and nested ones)
 * through {@link readOptions}: it takes a snapshot of the own enumerable string keys, so a
 * getter or a Proxy trap runs once and a throw becomes an {@link InvalidArgumentError} at
 * the option's path; and it refuses a key that is not an option, naming the one meant when
 * one is close (`options.retry.attempt is not an option; did you mean attempts?`). A typo
 * must never quietly fall back to a default: that is how a report turns green by mistake.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.js";
import { describe, invalidArgument, unreadableArgument } from "./arguments.js";

/** The keys an options type `T` has. */
export type OptionKeys<T> = readonly (keyof T & string)[];

/** Keys no options object may carry, whatever it accepts: a `__proto__` key is an attack. */
const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);

/**
 * A key list that names every key of `T`, checked at compile time: leaving one out is a
 * type error naming it, so a new option cannot be forgotten by the reader.
 *
 * @example
 * ```ts
 * const KEYS = optionKeys<RetryOptions>()("attempts", "baseDelayMs", "maxDelayMs", "jitter");
 * ```
 */
export function optionKeys<T extends object>() {
  return <const K extends readonly (keyof T & string)[]>(
    ...keys: K &
      ([Exclude<keyof T & string, K[number]>] extends [never]
        ? unknown
        : { readonly missing: Exclude<keyof T & string, K[number]> })
  ): readonly (keyof T & string)[] => Object.freeze([...keys]);
}

/** Optimal string alignment distance (Levenshtein with transpositions), capped. */
function distance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(0);
    row[0] = i;
    rows.push(row);
  }
  const first = rows[0] as number[];
  for (let j = 0; j <= b.length; j++) first[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const up = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        (up[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (up[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = best;
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/**
 * The known key closest to `key`: same letters in another case, one a prefix of the other,
 * or within an edit distance of about a third of its length. `undefined` when none is close.
 */
export function closestKey(
  key: string,
  known: readonly string[],
  maxDistance?: number,
): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    if (other === lower) return candidate;
    const cap = maxDistance ?? Math.max(1, Math.floor(Math.max(key.length, candidate.length) / 3));
    let score = distance(lower, other, cap);
    if (
      maxDistance === undefined &&
      score > cap &&
      lower.length >= 3 &&
      (other.startsWith(lower) || lower.startsWith(other))
    ) {
      score = cap;
    }
    if (score <= cap && score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** How {@link readOptions} treats a missing options object and renamed keys. */
export interface ReadOptionsHow {
  /** `undefined` is refused rather than read as `{}`. */
  readonly required?: boolean;
  /** Keys that once were options, with the hint to give (e.g. `{ now: "clock" }`). */
  readonly renamed?: Readonly<Record<string, string>>;
  /** What a key of this object is, for the message: `an option` unless said. */
  readonly what?: string;
}

/** Each key list as a set, made once. */
const KEY_SETS = new WeakMap<readonly string[], ReadonlySet<string>>();
function keySet(keys: readonly string[]): ReadonlySet<string> {
  let set = KEY_SETS.get(keys);
  if (set === undefined) {
    set = new Set(keys);
    KEY_SETS.set(keys, set);
  }
  return set;
}

function unreadable(path: string, error: unknown): never {
  return unreadableArgument(path, error);
}

/** `Array.isArray`, which throws for a revoked Proxy: that is unreadable input. */
function isArray(value: unknown, path: string): boolean {
  try {
    return Array.isArray(value);
  } catch (error) {
    unreadable(path, error);
  }
}

/**
 * Reads an options object at `path` once: its own enumerable string keys, each refused
 * unless listed in `keys`, each value read once (a throwing getter or Proxy trap becomes an
 * {@link InvalidArgumentError} at the key's path). Keys whose value is `undefined` are left
 * out. Returns a plain snapshot the caller reads instead of the original.
 *
 * Only a plain object (an object literal, or one with a null prototype) is checked for
 * unknown keys: that is where typos live. An instance of a class (a sink implemented as a
 * class, with its own fields) is read for the listed keys only, through its getters.
 */
export function readOptions<T extends object>(
  value: unknown,
  path: string,
  keys: readonly (keyof T & string)[],
  how: ReadOptionsHow = {},
): Partial<T> {
  if (value === undefined && how.required !== true) return {};
  if (typeof value !== "object" || value === null || isArray(value, path)) {
    invalidArgument(path, `must be an object, got ${describe(value)}`);
  }
  const known = keys as readonly string[];
  let proto: object | null;
  try {
    proto = Reflect.getPrototypeOf(value);
  } catch (error) {
    unreadable(path, error);
  }
  if (proto !== Object.prototype && proto !== null) {
    return readInstance(value, path, known, how.what ?? "an option", how);
  }
  let own: string[];
  try {
    own = Object.getOwnPropertyNames(value);
  } catch (error) {
    unreadable(path, error);
  }
  const knownSet = keySet(known);
  const what = how.what ?? "an option";
  // No prototype: a key not given reads undefined, whatever Object.prototype holds.
  const snapshot: Record<string, unknown> = Object.create(null);
  for (const key of own) {
    const at = `${path}.${key}`;
    if (!knownSet.has(key) || FORBIDDEN.has(key)) {
      // A Proxy may list a key it does not have: that one is no option given. A key that
      // is not enumerable still is (Object.defineProperty): refused like any other.
      let descriptor: PropertyDescriptor | undefined;
      try {
        descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      } catch (error) {
        unreadable(at, error);
      }
      if (descriptor === undefined) continue;
      refuseKey(at, key, known, what, how);
    }
    let read: unknown;
    try {
      read = (value as Record<string, unknown>)[key];
    } catch (error) {
      unreadable(at, error);
    }
    if (read !== undefined) snapshot[key] = read;
  }
  return snapshot as Partial<T>;
}

function refuseKey(
  at: string,
  key: string,
  known: readonly string[],
  what: string,
  how: ReadOptionsHow,
): never {
  const renamed = how.renamed?.[key];
  if (renamed !== undefined) invalidArgument(at, `is not ${what}; it is called ${renamed} now`);
  const meant = closestKey(key, known);
  invalidArgument(
    at,
    meant === undefined
      ? `is not ${what} (known: ${known.join(", ")})`
      : `is not ${what}; did you mean ${meant}?`,
  );
}

/**
 * The listed keys of a class instance (or of an object made with `Object.create(proto)`),
 * each read once (own or inherited); a method comes bound to the instance, so it can use
 * `this`. Its other keys may be its implementation's own (a pool, a table name), so they
 * are not refused, except a key that is a near miss of an option (one edit away, or in
 * another case) or an option's old name, anywhere on its chain: `clokc`, `lagToleranceMS`,
 * `now`.
 */
function readInstance<T>(
  value: object,
  path: string,
  known: readonly string[],
  what: string,
  how: ReadOptionsHow,
): Partial<T> {
  const knownSet = keySet(known);
  try {
    for (
      let o: object | null = value;
      o !== null && o !== Object.prototype;
      o = Reflect.getPrototypeOf(o)
    ) {
      for (const key of Reflect.ownKeys(o)) {
        if (typeof key !== "string" || knownSet.has(key)) continue;
        const descriptor = Reflect.getOwnPropertyDescriptor(o, key);
        // Class methods are not enumerable: the implementation's, not options.
        if (descriptor === undefined || (descriptor.enumerable !== true && o !== value)) continue;
        // Only a near miss (one edit, or another case): an implementation's own `write` is
        // not taken for `rewrite`.
        if (how.renamed?.[key] !== undefined || closestKey(key, known, 1) !== undefined) {
          refuseKey(`${path}.${key}`, key, known, what, how);
        }
      }
    }
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    unreadable(path, error);
  }
  // No prototype: a key not given reads undefined, whatever Object.prototype holds.
  const snapshot: Record<string, unknown> = Object.create(null);
  for (const key of known) {
    let read: unknown;
    try {
      read = Reflect.get(value, key);
    } catch (error) {
      unreadable(`${path}.${key}`, error);
    }
    if (read !== undefined) {
      snapshot[key] = typeof read === "function" ? (read as () => unknown).bind(value) : read;
    }
  }
  return snapshot as Partial<T>;
}

/**
 * Reads an array argument once into a plain array (a Proxy's `length` or an element getter
 * that throws becomes an {@link InvalidArgumentError} at its path).
 */
export function readArray(value: unknown, path: string, maxLength = 1_000_000): unknown[] {
  if (!isArray(value, path)) invalidArgument(path, `must be an array, got ${describe(value)}`);
  const array = value as unknown[];
  let length: number;
  try {
    length = array.length;
  } catch (error) {
    unreadable(`${path}.length`, error);
  }
  if (length > maxLength)
    invalidArgument(path, `must have at most ${maxLength} items, got ${length}`);
  const copy = new Array<unknown>(length);
  for (let i = 0; i < length; i++) {
    try {
      copy[i] = array[i];
    } catch (error) {
      unreadable(`${path}[${i}]`, error);
    }
  }
  return copy;
}

/**
 * Reads one property of an object that is not an options bag (a ledger, a sink, an
 * envelope handed over as an argument): a throwing getter or trap becomes an
 * {@link InvalidArgumentError} at `path.key`.
 */
export function readProperty(value: object, key: string | symbol, path: string): unknown {
  try {
    return Reflect.get(value, key);
  } catch (error) {
    unreadable(`${path}.${String(key)}`, error);
  }
}
