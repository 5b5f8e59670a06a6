/**
 * The small argument checks every module shares: an integer in a range, a function, a
 * boolean, an object with a given method. Each throws an `InvalidArgumentError` at `where` through
 * `invalidArgument`, with one wording per check, so that the same rule reads the same
 * wherever it is broken.
 *
 * @module
 */

import { describe, invalidArgument } from "./arguments.js";
import { readProperty } from "./options.js";

/**
 * `value` when it is an integer from `min` to `max` (both safe integers); else an
 * `InvalidArgumentError` at `where`: `must be an integer from min to max`.
 */
export function checkInteger(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    invalidArgument(where, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** {@link checkInteger}, with `fallback` for an `undefined` value. */
export function optionalInteger(
  value: unknown,
  where: string,
  min: number,
  max: number,
  fallback: number,
): number {
  return value === undefined ? fallback : checkInteger(value, where, min, max);
}

/** `value` when it is a function; else an `InvalidArgumentError` at `where`. */
export function checkFunction<F>(value: F, where: string): F {
  if (typeof value !== "function") {
    invalidArgument(where, `must be a function, got ${describe(value)}`);
  }
  return value;
}

/** `value` when it is `undefined` or a function; else an `InvalidArgumentError`. */
export function optionalFunction<F>(value: F, where: string): F {
  return value === undefined ? value : checkFunction(value, where);
}

/**
 * `value` when it is an object whose `method` is a function (read through
 * `readProperty`, so a throwing getter is a typed error too); else an
 * `InvalidArgumentError` at `where`: `must be <what>`.
 */
export function checkHasMethod<T>(value: T, method: string, where: string, what: string): T {
  if (
    typeof value !== "object" ||
    value === null ||
    typeof readProperty(value, method, where) !== "function"
  ) {
    invalidArgument(where, `must be ${what}, got ${describe(value)}`);
  }
  return value;
}

/** `value` when it is a boolean; else an `InvalidArgumentError` at `where`. */
export function checkBoolean(value: unknown, where: string): boolean {
  if (typeof value !== "boolean") {
    invalidArgument(where, `must be a boolean, got ${describe(value)}`);
  }
  return value;
}
