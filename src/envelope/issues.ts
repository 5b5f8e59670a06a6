/**
 * Converts zod issues into sinkproof's {@link ValidationIssue}s, so no ZodError (or its
 * shape) escapes the public API. Paths use the library's one format (`$.schema.version`).
 *
 * @module
 */

import type { z } from "zod";
import { formatPath } from "../canonical/path.js";
import { EnvelopeValidationError, isSinkproofError, type ValidationIssue } from "../errors.js";
import { errorText } from "../internal/arguments.js";

/** Every zod issue as a {@link ValidationIssue}, prefixed by `base` path segments. */
export function zodIssues(
  issues: readonly z.core.$ZodIssue[],
  base: readonly PropertyKey[] = [],
): ValidationIssue[] {
  return issues.map((issue) => ({
    path: formatPath([...base, ...issue.path]),
    code: issue.code,
    message: issue.message,
  }));
}

/**
 * Runs code that reads an envelope or a draft handed in: a sinkproof error passes
 * through, anything else (a Proxy trap or a getter that threw, a revoked Proxy) becomes an
 * `EnvelopeValidationError` with one `unreadable_value` issue at `base`.
 */
export function readingEnvelope<T>(what: string, base: readonly PropertyKey[], read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (isSinkproofError(error)) throw error;
    return unreadableEnvelope(what, base, error);
  }
}

/** The `EnvelopeValidationError` for an envelope or a draft whose reading threw `error`. */
export function unreadableEnvelope(
  what: string,
  base: readonly PropertyKey[],
  error: unknown,
): never {
  throw new EnvelopeValidationError(
    [
      {
        path: formatPath(base),
        code: "unreadable_value",
        message: `reading the ${what} threw: ${errorText(error)}`,
      },
    ],
    { cause: error },
  );
}
