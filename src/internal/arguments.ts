/**
 * Argument checks shared by every public function: a bad argument or option is an
 * {@link InvalidArgumentError} whose `path` names it (e.g. `options.maxDepth`).
 *
 * @module
 */

import { InvalidArgumentError, isSinkproofError, type SinkproofErrorContext } from "../errors.js";
import { CODE_LIMIT, MESSAGE_LIMIT } from "./limits.js";

/** What an {@link InvalidArgumentError} may name beside its path: the key, sink or position. */
export type ArgumentContext = Pick<SinkproofErrorContext, "key" | "sink" | "position">;

/**
 * Runs `make`, naming what it checks as it sits in the caller's argument: an
 * `InvalidArgumentError` at `from` (or under it: `from.x`, `from[0]`) becomes one at `to`
 * (`options.retry` under `options.guardOptions`, `receipt.status` as `receipts[3].status`).
 */
export function underPath<T>(from: string, to: string, make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw renamed(error, from, to);
  }
}

/**
 * `make` for each item of `list` (an array the caller read already), as {@link underPath}
 * runs it: an `InvalidArgumentError` at `from` becomes one at `to[i]`. The path is built
 * only for an error, not for every item of a batch.
 */
export function eachUnderPath<T, U>(
  list: readonly T[],
  from: string,
  to: string,
  make: (item: T) => U,
): U[] {
  const out: U[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    try {
      out[i] = make(list[i] as T);
    } catch (error) {
      throw renamed(error, from, `${to}[${i}]`);
    }
  }
  return out;
}

/** {@link underPath} for an error already caught: the error, renamed when it is at `from`. */
export function renamed(error: unknown, from: string, to: string): unknown {
  if (!(error instanceof InvalidArgumentError)) return error;
  const at = error.path;
  if (at === undefined || !at.startsWith(from)) return error;
  const next = at.charAt(from.length);
  if (next !== "" && next !== "." && next !== "[") return error;
  const path = `${to}${at.slice(from.length)}`;
  return new InvalidArgumentError(
    error.code,
    error.message.startsWith(at)
      ? `${path}${error.message.slice(at.length)}`
      : `${path}: ${error.message}`,
    { path, cause: error },
  );
}

/**
 * Throws an {@link InvalidArgumentError} for the argument at `path`, with the message
 * `` `${path} ${rule}` ``, the `cause` it wraps, and the key, sink or position concerned.
 */
export function invalidArgument(
  path: string,
  rule: string,
  cause?: unknown,
  context?: ArgumentContext,
): never {
  throw new InvalidArgumentError("invalid_argument", `${path} ${rule}`, {
    path,
    ...context,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** What an error says, without running anything of it that could throw again. */
export function errorText(error: unknown): string {
  try {
    if (error instanceof Error) {
      const message: unknown = error.message;
      return typeof message === "string" ? message.slice(0, MESSAGE_LIMIT) : show(message);
    }
    return typeof error === "string" ? error.slice(0, MESSAGE_LIMIT) : show(error);
  } catch {
    return "(an error that cannot be read)";
  }
}

/**
 * `{ code, message }` of any thrown value, for a receipt, a report or an audit record: a
 * sinkproof error's code, another error's string `code` (`ECONNRESET`), else `fallback`;
 * never throws, whatever was thrown (a null-prototype object, a Proxy, a number message).
 */
export function errorSummary(
  error: unknown,
  fallback: string,
): { code: string; message: string; path?: string } {
  try {
    if (isSinkproofError(error)) {
      return {
        code: error.code,
        message: String(error.message).slice(0, MESSAGE_LIMIT),
        ...(typeof error.path === "string" ? { path: error.path } : {}),
      };
    }
    const code: unknown =
      typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
    return {
      code: typeof code === "string" && code.length > 0 ? code.slice(0, CODE_LIMIT) : fallback,
      message: errorText(error).slice(0, MESSAGE_LIMIT),
    };
  } catch {
    return { code: fallback, message: "(an error that cannot be read)" };
  }
}

/**
 * Throws an {@link InvalidArgumentError} at `path` for an argument that could not be read:
 * a Proxy trap or a getter threw (`cause`), or a revoked Proxy.
 */
export function unreadableArgument(
  path: string,
  error: unknown,
  what = "could not be read",
): never {
  throw new InvalidArgumentError("invalid_argument", `${path} ${what}: ${errorText(error)}`, {
    path,
    cause: error,
  });
}

/**
 * Runs the reading and checking of an argument: a sinkproof error passes through, anything
 * else (a Proxy trap or getter that threw while it was read) becomes an
 * {@link InvalidArgumentError} at `path`. Only for code that reads arguments, never for
 * code that calls the caller's functions (their errors are theirs to see).
 */
export function reading<T>(path: string, read: () => T, what?: string): T {
  try {
    return read();
  } catch (error) {
    if (isSinkproofError(error)) throw error;
    return unreadableArgument(path, error, what);
  }
}

/**
 * A value for a message: numbers, booleans and short strings as they are, anything else
 * by its type (never `String(value)`, which runs the value's own code and can throw).
 */
export function show(value: unknown): string {
  switch (typeof value) {
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "string":
      return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
    case "undefined":
      return "undefined";
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    default:
      return describe(value);
  }
}

/**
 * True for an object that can be iterated (sync or async) without throwing while asked. A
 * string is not one here: its characters are never records or envelopes.
 */
export function isIterableObject(
  value: unknown,
): value is Iterable<unknown> | AsyncIterable<unknown> {
  if (typeof value !== "object" || value === null) return false;
  try {
    return (
      typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function" ||
      typeof (value as Iterable<unknown>)[Symbol.iterator] === "function"
    );
  } catch {
    return false;
  }
}

/** Describes a value's type for messages: `null`, `array`, `Map`, `number`, ... */
export function describe(value: unknown): string {
  if (value === null) return "null";
  try {
    if (Array.isArray(value)) return "array";
    if (typeof value === "object") {
      const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)
        ?.constructor?.name;
      return typeof name === "string" && name !== "Object" ? name : "object";
    }
  } catch {
    // A revoked Proxy, or a trap that throws: it is still an object.
    return "object";
  }
  return typeof value;
}
