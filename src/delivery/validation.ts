/**
 * Schemas as validators: anything with zod's `safeParse` (zod 3 and 4, and look-alikes),
 * its issues turned into sinkproof's {@link ValidationIssue}s with paths under `$.payload`.
 * Shared by the producer (emit-time validation) and the sink guard (a sink's validator).
 *
 * @module
 */

import type { ValidationIssue } from "../errors.js";
import { describe, invalidArgument, reading } from "../internal/arguments.js";

/** One issue as a schema library reports it. */
export interface SchemaIssue {
  /** Where, as path segments from the validated value. */
  readonly path: readonly PropertyKey[];
  /** Machine-readable rule. */
  readonly code: string;
  /** Human-readable description. */
  readonly message: string;
}

/** The error of a failed `safeParse`. */
export interface SchemaError {
  /** Every issue found. */
  readonly issues: readonly SchemaIssue[];
}

/** What `safeParse` returns. */
export interface SafeParseResult {
  /** True when the value is valid. */
  readonly success: boolean;
  /** When invalid: every issue. */
  readonly error?: SchemaError | undefined;
}

/** A schema that validates without throwing: a zod schema, or anything with the same `safeParse`. */
export interface SafeParseSchema {
  /** Validates `value`; never throws. */
  safeParse(value: unknown): SafeParseResult;
}

/** True when `value` looks like a {@link SafeParseSchema}. */
export function isSafeParseSchema(value: unknown): value is SafeParseSchema {
  if (typeof value !== "object" || value === null) return false;
  try {
    return typeof (value as { safeParse?: unknown }).safeParse === "function";
  } catch {
    return false; // a Proxy whose trap throws
  }
}

/** The issues of `value` under `schema`, with paths under `base` (default `$.payload`). */
export function schemaIssues(
  schema: SafeParseSchema,
  value: unknown,
  base = "$.payload",
): ValidationIssue[] {
  if (!isSafeParseSchema(schema))
    invalidArgument("schema", `must be a zod schema (with safeParse), got ${describe(schema)}`);
  if (typeof base !== "string") invalidArgument("base", `must be a path, got ${describe(base)}`);
  // The schema reading a value it cannot read (a Proxy whose trap throws), or a schema
  // whose own code throws: either way the value could not be validated; `cause` says why.
  return reading(
    "value",
    () => {
      const result = schema.safeParse(value);
      if (result.success) return [];
      const issues = result.error?.issues ?? [
        { path: [], code: "invalid", message: "rejected by the schema" },
      ];
      return issues.map((issue) => ({
        path: `${base}${issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`,
        code: String(issue.code),
        message: String(issue.message),
      }));
    },
    "could not be validated",
  );
}
