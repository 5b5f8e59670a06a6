/**
 * How a guard cuts text before it goes into a receipt or a freeze: the ledger's receipt
 * checks (`ledger/validate.ts`) refuse anything longer than the limits of
 * `internal/limits.ts`, so a long message from a writer, a validator or an abort reason is
 * cut here to those same limits, never refused there.
 *
 * @module
 */

import type { ValidationIssue } from "../errors.js";
import { show } from "../internal/arguments.js";
import { CODE_LIMIT, MESSAGE_LIMIT, PATH_LIMIT } from "../internal/limits.js";

/** `text` cut to {@link MESSAGE_LIMIT} characters. */
export function clipMessage(text: string): string {
  return text.slice(0, MESSAGE_LIMIT);
}

/** The parts of an issue as given (a validator's answer may hold anything). */
export interface IssueParts {
  readonly path?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
}

/**
 * A plain issue a receipt can store: the path (or `$`), the code (or `invalid`) and the
 * message (or its `show()`), each cut to its limit. Reads each part where it is used.
 */
export function clipIssue(issue: IssueParts): ValidationIssue {
  return {
    path: typeof issue.path === "string" ? issue.path.slice(0, PATH_LIMIT) : "$",
    code: (typeof issue.code === "string" ? issue.code.slice(0, CODE_LIMIT) : "") || "invalid",
    message: typeof issue.message === "string" ? clipMessage(issue.message) : show(issue.message),
  };
}
