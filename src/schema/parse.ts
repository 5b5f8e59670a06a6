/**
 * Reading values with a registered payload schema: `parse`, a `safeParse` that never
 * throws, and `jsonCopy`, the JSON copy of a value given to the registry or to an
 * upcaster, so nothing the caller holds is shared.
 *
 * Owns: how a schema's verdict becomes `SchemaValidation` issues (paths as `$.a.b`), used
 * alike by `validate`, by the checks of a registration and by `upcast`.
 *
 * @module
 */

import { canonicalize } from "../canonical/canonicalize.js";
import { zodIssues } from "../envelope/issues.js";
import type { JsonValue } from "../envelope/schema.js";
import { invalidArgument } from "../internal/arguments.js";
import type { PayloadSchema, SchemaValidation } from "./types.js";

/** `safeParse` that never throws: a throwing schema (async refinement, stack overflow) is an issue. */
export function parse(
  schema: PayloadSchema,
  value: unknown,
  base: readonly PropertyKey[],
): SchemaValidation {
  try {
    const result = schema.safeParse(value);
    if (result.success) return { success: true, data: result.data };
    return { success: false, issues: zodIssues(result.error.issues, base) };
  } catch (error) {
    return {
      success: false,
      issues: [
        {
          path: base.length === 0 ? "$" : `$.${base.map(String).join(".")}`,
          code: "schema_threw",
          message: `the schema threw: ${error instanceof Error ? error.message : String(error)}`,
        },
      ],
    };
  }
}

/** Copies a JSON value (examples, upcaster input) so nothing the caller holds is shared. */
export function jsonCopy(value: unknown, where: string): JsonValue {
  try {
    return JSON.parse(canonicalize(value)) as JsonValue;
  } catch (error) {
    return invalidArgument(where, "must be a JSON value", error);
  }
}
