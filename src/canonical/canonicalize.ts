/**
 * Canonical form: RFC 8785 (JSON Canonicalization Scheme) of a JSON value.
 *
 * Owns: the only code that turns a value into the bytes a checksum covers, and the input
 * rules and limits that go with it. Promises:
 * - the output is byte-identical to RFC 8785 (object members sorted by UTF-16 code units,
 *   ECMAScript number formatting, minimal string escaping) and, on every value it accepts,
 *   to fast-json-stable-stringify (the test suite's oracle);
 * - anything that is not JSON fails with a {@link CanonicalizationError} naming the rule
 *   and the JSON path, never a raw TypeError/RangeError, never a stack overflow;
 * - `__proto__`, `constructor` and `prototype` are ordinary keys: read as own properties,
 *   sorted like any other, and no prototype is ever read or written through them.
 *
 * How: one recursive walk writes UTF-8 bytes straight into a reusable buffer. Checksums
 * hash those bytes without ever building a string, and `canonicalize` decodes them once.
 * Building the text by string concatenation instead cost ~40% more, most of it V8
 * flattening the rope before hashing; `JSON.stringify` with an array replacer (sorted
 * keys for free) takes V8's slow path and reads inherited `__proto__`.
 *
 * @module
 */

import { CanonicalizationError, type CanonicalizationErrorCode } from "../errors.js";
import { invalidArgument } from "../internal/arguments.js";
import { type OptionKeys, optionKeys, readOptions } from "../internal/options.js";
import { formatPath } from "./path.js";

/** Limits applied while canonicalizing. */
export interface CanonicalizeOptions {
  /**
   * Deepest nesting of objects and arrays accepted; the root container is level 1.
   * Deeper input fails with code `too_deep`. At most 10,000.
   * @default 64
   */
  readonly maxDepth?: number | undefined;
  /**
   * Largest canonical output accepted, in UTF-8 bytes. Larger input fails with code
   * `too_large` as soon as the limit is crossed, before the whole output is built.
   * @default 16_777_216 (16 MiB)
   */
  readonly maxBytes?: number | undefined;
}

/** Resolved limits (see {@link CanonicalizeOptions}). */
export interface Limits {
  /** Deepest nesting accepted. */
  readonly maxDepth: number;
  /** Largest canonical output accepted, in UTF-8 bytes. */
  readonly maxBytes: number;
}

/** Default of {@link CanonicalizeOptions.maxDepth}. */
export const DEFAULT_MAX_DEPTH = 64;
/** Default of {@link CanonicalizeOptions.maxBytes}: 16 MiB. */
export const DEFAULT_MAX_BYTES: number = 16 * 1024 * 1024;
/** Highest accepted {@link CanonicalizeOptions.maxDepth}. */
export const MAX_DEPTH_LIMIT = 10_000;
/** Highest accepted {@link CanonicalizeOptions.maxBytes}: V8's longest string, rounded down. */
export const MAX_BYTES_LIMIT: number = 512 * 1024 * 1024 - 64;

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxDepth: DEFAULT_MAX_DEPTH,
  maxBytes: DEFAULT_MAX_BYTES,
});
const OBJECT_PROTOTYPE = Object.prototype;
const toStringTag = Object.prototype.toString;
const HEX = "0123456789abcdef";
/**
 * The escapes of two characters, by the code unit below 0x80 they stand for (`\"`, `\\`,
 * `\b`, `\t`, `\n`, `\f`, `\r`); 0 where a unit is escaped as `\u00XX` (or not at all).
 */
const SHORT_ESCAPES = new Uint8Array(0x80);
for (const [unit, letter] of [
  [0x22, 0x22],
  [0x5c, 0x5c],
  [0x08, 0x62],
  [0x09, 0x74],
  [0x0a, 0x6e],
  [0x0c, 0x66],
  [0x0d, 0x72],
] as const) {
  SHORT_ESCAPES[unit] = letter;
}
/** Long strings that need escaping are written in chunks of this many UTF-16 units. */
const CHUNK = 8192;
const INITIAL_BUFFER = 16 * 1024;
/** Strings up to this many units are encoded in one go, after one room check. */
const SHORT_STRING = 64;
/** Anything but printable ASCII other than `"` and `\\`. */
const NOT_PLAIN_ASCII = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;
const NATIVE_MAX = 64 * 1024;
/** Characters that JSON escapes, and surrogates (which must come in pairs). */
const NEEDS_CARE = /["\\\u0000-\u001f\ud800-\udfff]/;
/** A buffer grown past this is not kept for the next call. */
const KEEP_BUFFER = 1024 * 1024;

/**
 * Walk state. One is kept for reuse; while a walk runs it is taken, so a re-entrant call
 * (from a getter) builds its own and cannot interfere.
 */
interface WalkState {
  maxDepth: number;
  maxBytes: number;
  buf: Buffer;
  pos: number;
  /** Containers from the root to the current value, for cycle detection. */
  readonly stack: unknown[];
  /** Keys and indexes from the root to the current value, for error paths. */
  readonly path: (string | number)[];
  /** Where the root sits in a larger document (e.g. `["payload"]`), for error paths. */
  base: readonly (string | number)[];
  /** Depth of the value being read, for the path of an error thrown by user code. */
  at: number;
  /** Set when a Date was written: the value is not plain JSON data. */
  sawDate: boolean;
  /** With `freeze`: every plain object and array visited, to freeze on success. */
  readonly containers: object[];
  freeze: boolean;
}

/** Canonical bytes of a value, as the internal walk returns them. */
export interface CanonicalBytes {
  /**
   * The UTF-8 canonical form. A view into a buffer that the next canonicalization may
   * overwrite: hash or decode it before canonicalizing anything else.
   */
  readonly bytes: Uint8Array;
  /** True when the value held a Date: `JSON.parse` of the bytes differs from the value. */
  readonly sawDate: boolean;
}

/** The state reused across calls; null while a walk runs, so a nested walk gets its own. */
let spare: WalkState | null = null;

function fail(
  st: WalkState,
  depth: number,
  code: CanonicalizationErrorCode,
  message: string,
  cause?: unknown,
): never {
  const path = formatPath([...st.base, ...st.path.slice(0, depth)]);
  throw new CanonicalizationError(code, `${message} at ${path}`, {
    path,
    ...(cause === undefined ? {} : { cause }),
  });
}

function tooLarge(st: WalkState, depth: number): never {
  return fail(
    st,
    depth,
    "too_large",
    `Canonical form is larger than the limit of ${st.maxBytes} bytes`,
  );
}

function ensure(st: WalkState, n: number): void {
  const need = st.pos + n;
  if (need <= st.buf.length) return;
  const grown = Buffer.allocUnsafe(Math.max(st.buf.length * 2, need));
  st.buf.copy(grown, 0, 0, st.pos);
  st.buf = grown;
}

function writeAscii(st: WalkState, s: string): void {
  const n = s.length;
  ensure(st, n);
  const buf = st.buf;
  let pos = st.pos;
  for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i);
  st.pos = pos;
}

/** Writes a non-negative 32-bit integer in decimal, without making a string. */
function writeUint(st: WalkState, value: number): void {
  if (value < 10) {
    writeByte(st, 0x30 + value);
    return;
  }
  ensure(st, 10);
  let digits = 1;
  for (let v = value; v >= 10; v = (v / 10) | 0) digits++;
  const buf = st.buf;
  let pos = st.pos + digits;
  st.pos = pos;
  for (let v = value; digits > 0; digits--) {
    const next = (v / 10) | 0;
    buf[--pos] = 0x30 + (v - next * 10);
    v = next;
  }
}

function writeByte(st: WalkState, byte: number): void {
  if (st.pos === st.buf.length) ensure(st, 1);
  st.buf[st.pos++] = byte;
}

/**
 * Encodes `s[from..to)` as the inside of a JSON string (RFC 8785 escaping, as
 * JSON.stringify; UTF-8) at `st.pos`. The caller has ensured room for 6 bytes per unit.
 * Returns the index after the last unit read: `to`, or `to + 1` when a surrogate pair
 * straddles `to`.
 */
function encodeUnits(st: WalkState, s: string, from: number, to: number, depth: number): number {
  const buf = st.buf;
  const n = s.length;
  let pos = st.pos;
  let i = from;
  for (; i < to; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
        buf[pos++] = c;
        continue;
      }
      buf[pos++] = 0x5c;
      const short = SHORT_ESCAPES[c] as number;
      if (short !== 0) buf[pos++] = short;
      else {
        buf[pos++] = 0x75;
        buf[pos++] = 0x30;
        buf[pos++] = 0x30;
        buf[pos++] = HEX.charCodeAt(c >> 4);
        buf[pos++] = HEX.charCodeAt(c & 15);
      }
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 63);
    } else if (c < 0xd800 || c > 0xdfff) {
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 63);
      buf[pos++] = 0x80 | (c & 63);
    } else {
      const low = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || low < 0xdc00 || low > 0xdfff) {
        st.pos = pos;
        fail(st, depth, "lone_surrogate", "String holds a lone surrogate (not valid Unicode)");
      }
      // Six bytes were reserved for the high surrogate: enough for the pair's four,
      // even when the low one lies past `to`.
      i++;
      c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
      buf[pos++] = 0xf0 | (c >> 18);
      buf[pos++] = 0x80 | ((c >> 12) & 63);
      buf[pos++] = 0x80 | ((c >> 6) & 63);
      buf[pos++] = 0x80 | (c & 63);
    }
  }
  st.pos = pos;
  return i;
}

/**
 * Writes `prefix` (a comma, or nothing: -1), then a JSON string, then `suffix` (a colon
 * after a member name, or nothing: -1). Short strings, the common case, take one room
 * check; long ones are written by Node's encoders when they need no escaping, else in
 * chunks, so the buffer never grows by more than a chunk's worth at a time.
 */
function writeString(st: WalkState, s: string, depth: number, prefix = -1, suffix = -1): void {
  const n = s.length;
  // UTF-8 never takes fewer bytes than UTF-16 units, so this is a sure failure.
  if (n > st.maxBytes - st.pos) tooLarge(st, depth);
  if (n <= SHORT_STRING) {
    ensure(st, n * 6 + 4);
    const buf = st.buf;
    if (prefix >= 0) buf[st.pos++] = prefix;
    buf[st.pos++] = 0x22;
    encodeUnits(st, s, 0, n, depth);
    buf[st.pos++] = 0x22;
    if (suffix >= 0) buf[st.pos++] = suffix;
    if (st.pos > st.maxBytes) tooLarge(st, depth);
    return;
  }
  ensure(st, 2);
  if (prefix >= 0) st.buf[st.pos++] = prefix;
  st.buf[st.pos++] = 0x22;
  const ascii = n <= NATIVE_MAX && !NOT_PLAIN_ASCII.test(s);
  if (ascii || (n <= NATIVE_MAX && !NEEDS_CARE.test(s))) {
    // Nothing to escape and no surrogates: Node's encoders beat the loop on long strings.
    ensure(st, (ascii ? n : n * 3) + 2);
    st.pos += st.buf.write(s, st.pos, ascii ? "latin1" : "utf8");
  } else {
    let i = 0;
    while (i < n) {
      const end = Math.min(n, i + CHUNK);
      ensure(st, (end - i) * 6 + 2);
      i = encodeUnits(st, s, i, end, depth);
      if (st.pos > st.maxBytes) tooLarge(st, depth);
    }
  }
  ensure(st, 2);
  st.buf[st.pos++] = 0x22;
  if (suffix >= 0) st.buf[st.pos++] = suffix;
  if (st.pos > st.maxBytes) tooLarge(st, depth);
}

function isPlainPrototype(value: object, proto: object | null): boolean {
  if (proto === OBJECT_PROTOTYPE || proto === null) return true;
  // Object.prototype of another realm (vm context, iframe).
  return Object.getPrototypeOf(proto) === null && toStringTag.call(value) === "[object Object]";
}

function isDate(value: object): value is Date {
  return value instanceof Date || toStringTag.call(value) === "[object Date]";
}

/**
 * How to write the members of one shape of object: its key list as `Object.keys` gives
 * it, the same keys sorted, and, when every key is short and well-formed, the UTF-8 of
 * `"key":` for each sorted key, ready to copy.
 */
interface KeyPlan {
  readonly unsorted: string[];
  readonly sorted: string[];
  readonly names: Uint8Array[] | null;
}

/**
 * Plans of recently seen key lists. Objects of one shape (the rows of an array, the same
 * event type again and again) list their keys in the same order, so comparing the list
 * with a cached one is cheaper than sorting and escaping the keys again. Direct-mapped,
 * 64 entries; an entry is used only when the whole list matches.
 */
const planCache: Array<KeyPlan | undefined> = new Array(64).fill(undefined);

function namesOf(sorted: string[]): Uint8Array[] | null {
  const names: Uint8Array[] = [];
  for (const key of sorted) {
    if (key.length > SHORT_STRING || !key.isWellFormed()) return null;
    // For well-formed strings JSON.stringify escapes exactly as RFC 8785 does.
    names.push(Buffer.from(`${JSON.stringify(key)}:`, "utf8"));
  }
  return names;
}

/** The plan for `value`'s own enumerable string keys. */
function keyPlan(value: object): KeyPlan {
  const keys = Object.keys(value);
  const n = keys.length;
  const first = n === 0 ? "" : (keys[0] as string);
  const slot = (n * 7 + first.length * 3 + (first.charCodeAt(0) | 0)) & 63;
  const hit = planCache[slot];
  if (hit !== undefined && hit.unsorted.length === n) {
    const unsorted = hit.unsorted;
    let same = true;
    for (let i = 0; i < n; i++) {
      if (unsorted[i] !== keys[i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  const sorted = keys.slice();
  if (n > 1) sortKeys(sorted);
  const plan: KeyPlan = { unsorted: keys, sorted, names: namesOf(sorted) };
  planCache[slot] = plan;
  return plan;
}

function sortKeys(keys: string[]): void {
  const n = keys.length;
  if (n > 24) {
    // Default sort compares strings by UTF-16 code units, as RFC 8785 requires.
    keys.sort();
    return;
  }
  // Insertion sort: objects are small and often already sorted.
  for (let i = 1; i < n; i++) {
    const key = keys[i] as string;
    if ((keys[i - 1] as string) <= key) continue;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
}

function enter(value: object, depth: number, st: WalkState): void {
  if (depth >= st.maxDepth) {
    fail(st, depth, "too_deep", `Nesting is deeper than the limit of ${st.maxDepth}`);
  }
  const stack = st.stack;
  for (let i = 0; i < depth; i++) {
    if (stack[i] === value) fail(st, depth, "cycle", "Value contains a cycle");
  }
  stack[depth] = value;
}

function writeArray(value: unknown[], depth: number, st: WalkState): void {
  enter(value, depth, st);
  const n = value.length;
  // Every element takes at least two bytes (a value and a comma or bracket).
  if (n > (st.maxBytes - st.pos) / 2) tooLarge(st, depth);
  const path = st.path;
  writeByte(st, 0x5b);
  for (let i = 0; i < n; i++) {
    path[depth] = i;
    st.at = depth + 1;
    const item = value[i];
    if (item === undefined) {
      fail(st, depth + 1, "undefined", "Array holds undefined or a hole (not JSON)");
    }
    if (i > 0) writeByte(st, 0x2c);
    write(item, depth + 1, st);
  }
  writeByte(st, 0x5d);
  if (st.pos > st.maxBytes) tooLarge(st, depth);
  if (st.freeze && !Object.isFrozen(value)) st.containers.push(value);
}

function writeObject(value: Record<string, unknown>, depth: number, st: WalkState): void {
  enter(value, depth, st);
  const plan = keyPlan(value);
  const keys = plan.sorted;
  const names = plan.names;
  const n = keys.length;
  const path = st.path;
  writeByte(st, 0x7b);
  let first = true;
  for (let i = 0; i < n; i++) {
    const key = keys[i] as string;
    path[depth] = key;
    st.at = depth + 1;
    const member = value[key];
    if (member === undefined) continue;
    if (names === null) {
      writeString(st, key, depth + 1, first ? -1 : 0x2c, 0x3a);
    } else {
      const name = names[i] as Uint8Array;
      const length = name.length;
      ensure(st, length + 1);
      const buf = st.buf;
      let pos = st.pos;
      if (!first) buf[pos++] = 0x2c;
      for (let j = 0; j < length; j++) buf[pos++] = name[j] as number;
      st.pos = pos;
    }
    first = false;
    write(member, depth + 1, st);
  }
  writeByte(st, 0x7d);
  if (st.pos > st.maxBytes) tooLarge(st, depth);
  if (st.freeze && !Object.isFrozen(value)) st.containers.push(value);
}

function write(value: unknown, depth: number, st: WalkState): void {
  switch (typeof value) {
    case "string":
      writeString(st, value, depth);
      return;
    case "number":
      if (!Number.isFinite(value)) {
        fail(st, depth, "non_finite_number", `${value} is not a JSON number`);
      }
      if ((value | 0) === value && value >= 0) {
        writeUint(st, value);
        return;
      }
      // ECMAScript Number::toString is exactly RFC 8785's number format (and -0 gives "0").
      writeAscii(st, `${value}`);
      return;
    case "boolean":
      writeAscii(st, value ? "true" : "false");
      return;
    case "object": {
      if (value === null) {
        writeAscii(st, "null");
        return;
      }
      st.at = depth;
      if (Array.isArray(value)) {
        writeArray(value, depth, st);
        return;
      }
      const proto = Object.getPrototypeOf(value) as object | null;
      if (isPlainPrototype(value, proto)) {
        writeObject(value as Record<string, unknown>, depth, st);
        return;
      }
      if (isDate(value)) {
        const time = value.getTime();
        if (Number.isNaN(time)) fail(st, depth, "invalid_date", "Date is invalid");
        st.sawDate = true;
        writeString(st, value.toISOString(), depth);
        return;
      }
      const name = (proto as { constructor?: { name?: unknown } } | null)?.constructor?.name;
      fail(
        st,
        depth,
        "unsupported_object",
        `${typeof name === "string" && name !== "" ? name : "An object with a custom prototype"} is not a plain object, array or Date`,
      );
      return;
    }
    case "bigint":
      fail(st, depth, "bigint", "BigInt is not a JSON number");
      return;
    case "function":
      fail(st, depth, "function", "Function is not JSON");
      return;
    case "symbol":
      fail(st, depth, "symbol", "Symbol is not JSON");
      return;
    default:
      fail(st, depth, "undefined", "undefined is not JSON");
  }
}

/**
 * After the engine ran out of stack in the walk: the first container, in the walk's order,
 * nested `maxDepth` deep or inside itself, found with an explicit stack, with its path (the
 * walk checks depth before cycles, and so does this). Null when there is none (the stack
 * was already deep when the walk began) or when reading the value throws. Only nesting is
 * checked here: every value the walk had passed before it ran out was valid.
 */
function nestingPastLimit(
  root: unknown,
  maxDepth: number,
): { readonly code: "too_deep" | "cycle"; readonly path: (string | number)[] } | null {
  const isContainer = (value: unknown): value is object => {
    if (typeof value !== "object" || value === null) return false;
    return (
      Array.isArray(value) || isPlainPrototype(value, Object.getPrototypeOf(value) as object | null)
    );
  };
  if (!isContainer(root)) return null;
  // frames[d] is the container at depth d, members[d] its child keys (sorted as the walk
  // sorts them) or its length, next[d] the next child to visit.
  const frames: object[] = [];
  const members: (readonly string[] | number)[] = [];
  const next: number[] = [];
  const path: (string | number)[] = [];
  const open = new Set<object>();
  const push = (value: object): "too_deep" | "cycle" | null => {
    if (frames.length >= maxDepth) return "too_deep";
    if (open.has(value)) return "cycle";
    open.add(value);
    frames.push(value);
    members.push(Array.isArray(value) ? value.length : keyPlan(value).sorted);
    next.push(0);
    return null;
  };
  try {
    const first = push(root);
    if (first !== null) return { code: first, path };
    while (frames.length > 0) {
      const d = frames.length - 1;
      const container = frames[d] as Record<string | number, unknown>;
      const list = members[d] as readonly string[] | number;
      const i = next[d] as number;
      const count = typeof list === "number" ? list : list.length;
      if (i >= count) {
        open.delete(container);
        frames.pop();
        members.pop();
        next.pop();
        path.length = d > 0 ? d - 1 : 0;
        continue;
      }
      next[d] = i + 1;
      const key = typeof list === "number" ? i : (list[i] as string);
      const child = container[key];
      if (!isContainer(child)) continue;
      path.length = d;
      path.push(key);
      const stop = push(child);
      if (stop !== null) return { code: stop, path };
    }
  } catch {
    return null;
  }
  return null;
}

/** The keys of {@link CanonicalizeOptions}. Internal. */
export const LIMIT_KEYS: OptionKeys<CanonicalizeOptions> = optionKeys<CanonicalizeOptions>()(
  "maxDepth",
  "maxBytes",
);

/**
 * Checks the limits of options already read (see `readOptions`); bad values get an
 * `InvalidArgumentError`.
 */
export function resolveLimits(options: CanonicalizeOptions | undefined, where = "options"): Limits {
  if (options === undefined) return DEFAULT_LIMITS;
  if (typeof options !== "object" || options === null) {
    invalidArgument(where, "must be an object");
  }
  const { maxDepth = DEFAULT_MAX_DEPTH, maxBytes = DEFAULT_MAX_BYTES } = options;
  if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > MAX_DEPTH_LIMIT) {
    invalidArgument(`${where}.maxDepth`, `must be an integer from 1 to ${MAX_DEPTH_LIMIT}`);
  }
  if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_BYTES_LIMIT) {
    invalidArgument(`${where}.maxBytes`, `must be an integer from 1 to ${MAX_BYTES_LIMIT}`);
  }
  return { maxDepth, maxBytes };
}

/**
 * The walk behind {@link canonicalize} and every checksum: returns the canonical UTF-8
 * bytes (a view into a reused buffer, see {@link CanonicalBytes}). With `freeze`, every
 * plain object and array in the value is frozen once the whole value is accepted (nothing
 * is frozen when it is rejected). `base` prefixes error paths (e.g. `$.payload.items[0]`).
 */
export function canonicalBytes(
  value: unknown,
  limits: Limits,
  freeze = false,
  base: readonly (string | number)[] = [],
): CanonicalBytes {
  const st: WalkState = spare ?? {
    maxDepth: 0,
    maxBytes: 0,
    buf: Buffer.allocUnsafe(INITIAL_BUFFER),
    pos: 0,
    stack: [],
    path: [],
    base,
    at: 0,
    sawDate: false,
    containers: [],
    freeze: false,
  };
  spare = null;
  st.maxDepth = limits.maxDepth;
  st.maxBytes = limits.maxBytes;
  st.pos = 0;
  st.base = base;
  st.at = 0;
  st.sawDate = false;
  st.freeze = freeze;
  try {
    write(value, 0, st);
    if (st.pos > st.maxBytes) tooLarge(st, 0);
    if (freeze) for (const c of st.containers) Object.freeze(c);
  } catch (error) {
    if (error instanceof CanonicalizationError) throw error;
    // A getter or proxy trap threw, or the engine ran out of stack or memory.
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      // How deep the engine's stack reaches depends on the caller's frames and on whether the
      // walk was optimized yet: find the nesting past the limit without recursion, so the
      // same value gets the same error, at the same path, on any stack.
      const found = nestingPastLimit(value, st.maxDepth);
      if (found !== null) {
        for (let i = 0; i < found.path.length; i++) st.path[i] = found.path[i] as string | number;
        if (found.code === "too_deep") {
          fail(
            st,
            found.path.length,
            "too_deep",
            `Nesting is deeper than the limit of ${st.maxDepth}`,
          );
        }
        fail(st, found.path.length, "cycle", "Value contains a cycle");
      }
      fail(st, st.at, "too_deep", "Nesting is too deep for the call stack", error);
    }
    if (
      error instanceof RangeError &&
      /(string length|array buffer|allocation)/i.test(error.message)
    ) {
      fail(st, st.at, "too_large", "Canonical form does not fit in memory", error);
    }
    fail(st, st.at, "unreadable_value", "Reading the value threw", error);
  } finally {
    // Drop references to the caller's objects; keep the buffer unless it grew large.
    st.stack.fill(undefined);
    if (freeze) st.containers.length = 0;
    if (st.buf.length <= KEEP_BUFFER) spare = st;
  }
  // A plain Uint8Array view: cheaper to make than Buffer#subarray's FastBuffer.
  return { bytes: new Uint8Array(st.buf.buffer, st.buf.byteOffset, st.pos), sawDate: st.sawDate };
}

const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Decodes canonical bytes (always valid UTF-8: the writer made them). */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/**
 * Returns the RFC 8785 (JCS) canonical form of a JSON value: object members sorted by
 * UTF-16 code units, no whitespace, ECMAScript number formatting, minimal escaping.
 * This text, encoded as UTF-8, is the only input to a checksum.
 *
 * A `Date` becomes its ISO-8601 UTC string; `undefined` object members are omitted, as in
 * JSON. Everything else that is not JSON fails with a {@link CanonicalizationError} whose
 * `code` names the rule and whose `path` names the value: NaN and ±Infinity, lone
 * surrogates, BigInt, functions, symbols, `undefined` in arrays, cycles, Map, Set, class
 * instances, typed arrays, nesting deeper than `maxDepth` and output over `maxBytes`.
 * Bad options are an `InvalidArgumentError`.
 *
 * @example
 * ```ts
 * import { canonicalize } from "sinkproof";
 * canonicalize({ b: [1, 2.50, "é"], a: null }); // '{"a":null,"b":[1,2.5,"é"]}'
 * canonicalize({ at: new Date(0) });            // '{"at":"1970-01-01T00:00:00.000Z"}'
 * ```
 */
export function canonicalize(value: unknown, options?: CanonicalizeOptions): string {
  const limits =
    options === undefined
      ? DEFAULT_LIMITS
      : resolveLimits(readOptions<CanonicalizeOptions>(options, "options", LIMIT_KEYS));
  return decodeUtf8(canonicalBytes(value, limits).bytes);
}
