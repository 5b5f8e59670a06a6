/**
 * Schema versions a sink accepts, and the envelope a sink should hold for a ledger entry:
 * the entry's own, or its upcast into the sink's range. One rule, used by the guard (what
 * it writes) and by reconciliation and repair (what the sink should hold).
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { isSinkproofError, type ValidationIssue } from "../errors.js";
import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { readArray } from "../internal/options.js";
import type { SchemaRegistry } from "./registry.js";

/** Schema versions a sink accepts, per schema name: `{ order: [2, 3] }`. */
export type AcceptedVersions = Readonly<Record<string, readonly [number, number]>>;

/** Checked {@link AcceptedVersions}. */
export type AcceptedRanges = ReadonlyMap<string, readonly [number, number]>;

/** What a sink should hold for an entry, or why it cannot hold it. */
export type SinkVersion =
  | { readonly envelope: Envelope; readonly issues?: undefined }
  | { readonly issues: readonly ValidationIssue[]; readonly code: string };

/** Checks `accepts` (an option at `where`); undefined when not given. */
export function checkAccepts(accepts: unknown, where: string): AcceptedRanges | undefined {
  if (accepts === undefined) return undefined;
  return reading(where, () => acceptsOf(accepts, where));
}

function acceptsOf(accepts: unknown, where: string): AcceptedRanges {
  if (typeof accepts !== "object" || accepts === null || Array.isArray(accepts)) {
    invalidArgument(
      where,
      `must be an object of schema name to [min, max], got ${describe(accepts)}`,
    );
  }
  const out = new Map<string, readonly [number, number]>();
  for (const [schema, given] of Object.entries(accepts)) {
    const at = `${where}[${JSON.stringify(schema)}]`;
    const range = Array.isArray(given) ? readArray(given, at, 3) : given;
    if (
      !Array.isArray(range) ||
      range.length !== 2 ||
      !range.every((v) => Number.isSafeInteger(v) && v >= 1) ||
      range[0] > range[1]
    ) {
      invalidArgument(
        at,
        `must be [min, max]: positive integers, min <= max, got ${describe(range)}`,
      );
    }
    out.set(schema, [range[0], range[1]]);
  }
  return out;
}

/** Checks a `registry` option: something with `upcast` and `latest`. */
export function checkRegistry(registry: unknown, where: string): SchemaRegistry | undefined {
  if (registry === undefined) return undefined;
  const r = registry as Partial<SchemaRegistry> | null;
  if (
    typeof r !== "object" ||
    r === null ||
    !reading(where, () => typeof r.upcast === "function" && typeof r.latest === "function")
  ) {
    invalidArgument(where, `must be a schema registry, got ${describe(registry)}`);
  }
  return registry as SchemaRegistry;
}

/**
 * The envelope a sink accepting `accepts` should hold for `stored`: `stored` itself when
 * its schema is not listed or its version is in range; else its upcast (with `registry`)
 * to the newest version in range; or the issues that keep it out.
 */
export function envelopeForSink(
  stored: Envelope,
  accepts: AcceptedRanges | undefined,
  registry: SchemaRegistry | undefined,
): SinkVersion {
  const range = accepts?.get(stored.schema.name);
  if (range === undefined) return { envelope: stored };
  const [min, max] = range;
  const version = stored.schema.version;
  if (version >= min && version <= max) return { envelope: stored };
  const refuse = (code: string, message: string, extra: readonly ValidationIssue[] = []) => ({
    code,
    issues: [{ path: "$.schema.version", code, message }, ...extra],
  });
  if (version > max) {
    return refuse(
      "unsupported_schema_version",
      `the sink accepts "${stored.schema.name}" versions ${min} to ${max}, got ${version}: newer versions cannot be brought down`,
    );
  }
  if (registry === undefined) {
    return refuse(
      "unsupported_schema_version",
      `the sink accepts "${stored.schema.name}" versions ${min} to ${max}, got ${version}, and there is no registry to upcast it`,
    );
  }
  const latest = registry.latest(stored.schema.name) ?? 0;
  const target = Math.min(max, latest);
  if (target < min) {
    return refuse(
      "unsupported_schema_version",
      `the sink accepts "${stored.schema.name}" versions ${min} to ${max}, the registry knows versions up to ${latest}`,
    );
  }
  try {
    return { envelope: registry.upcast(stored, target).envelope };
  } catch (error) {
    if (!isSinkproofError(error)) throw error;
    const issues = (error as { issues?: readonly ValidationIssue[] }).issues ?? [];
    return refuse(error.code, error.message, issues);
  }
}
