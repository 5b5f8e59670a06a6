/**
 * Converts zod issues into sinkproof's {@link ValidationIssue}s, so no ZodError (or its
 * shape) escapes the public API. Paths use the library's one format (`$.schema.version`).
 *
 * @module
 */

import type { z } from "zod";
import { formatPath } from "../canonical/path.js";
import type { ValidationIssue } from "../errors.js";

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
