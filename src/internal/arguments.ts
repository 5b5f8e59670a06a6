/**
 * Argument checks shared by every public function: a bad argument or option is an
 * {@link InvalidArgumentError} whose `path` names it (e.g. `options.maxDepth`).
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.js";

/** Throws an {@link InvalidArgumentError} for the argument at `path`. */
export function invalidArgument(path: string, rule: string, cause?: unknown): never {
  throw new InvalidArgumentError("invalid_argument", `${path} ${rule}`, {
    path,
    ...(cause === undefined ? {} : { cause }),
  });
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
