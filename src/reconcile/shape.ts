/**
 * Shape checks of reports and repair results handed back to `repair` and
 * `renderReport`: they may have been stored as JSON and edited, so every field read later
 * is checked here, and a bad one is an `InvalidArgumentError` naming its path. Internal.
 *
 * @module
 */

import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { WINDOW_HISTORY_LIMIT } from "../ledger/types.js";
import { checkWindowSample } from "../ledger/windows.js";
import type { RepairResult } from "./repair.js";
import {
  FINDING_KINDS,
  LISTED_FINDING_KINDS,
  MISMATCH_REASONS,
  type ReconcileReport,
} from "./types.js";

/** The kinds a report lists (`matched` is counted, never listed). */
const KINDS: ReadonlySet<string> = new Set(LISTED_FINDING_KINDS);
const MISMATCHES: ReadonlySet<string> = new Set(MISMATCH_REASONS);
const COUNT_KINDS = FINDING_KINDS;

function isObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  try {
    return !Array.isArray(value);
  } catch {
    return true; // a revoked Proxy: reading it says so
  }
}

function isCount(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function optionalString(value: unknown, where: string): void {
  if (value !== undefined && value !== null && typeof value !== "string") {
    invalidArgument(where, `must be a string, got ${describe(value)}`);
  }
}

/** Checks that `list` is an array, then each item, at `where[i]`. */
function forEachItem(
  list: unknown,
  where: string,
  check: (item: unknown, at: string) => void,
): void {
  if (!Array.isArray(list)) invalidArgument(where, `must be an array, got ${describe(list)}`);
  list.forEach((item: unknown, i) => {
    check(item, `${where}[${i}]`);
  });
}

/**
 * A report or a repair result, read once into plain JSON values (what it is meant to be:
 * it round-trips through JSON): a getter or Proxy that throws, a cycle or a BigInt in it is
 * an `InvalidArgumentError` at `where`, and what is checked is what is then used.
 */
function plainCopy(value: object, where: string): Record<string, unknown> {
  const copy: unknown = reading(where, () => JSON.parse(JSON.stringify(value)) as unknown);
  if (!isObject(copy)) invalidArgument(where, `must be an object, got ${describe(copy)}`);
  return copy;
}

/** Checks a report made by `reconcile` (or read back from its JSON). */
export function checkReportShape(given: unknown, where: string): ReconcileReport {
  if (!isObject(given))
    invalidArgument(where, `must be a report made by reconcile(), got ${describe(given)}`);
  const report = plainCopy(given, where);
  const range = report.range;
  if (!isObject(range) || !isCount(range.from) || !isCount(range.to) || !isCount(range.entries)) {
    invalidArgument(`${where}.range`, "must be { from, to, entries } (integers ≥ 0)");
  }
  const historyError = report.historyError;
  if (
    historyError !== undefined &&
    (!isObject(historyError) ||
      typeof historyError.code !== "string" ||
      typeof historyError.message !== "string")
  )
    invalidArgument(`${where}.historyError`, "must be { code, message } (strings)");
  forEachItem(report.sinks, `${where}.sinks`, (sink, at) => {
    if (!isObject(sink) || typeof sink.name !== "string") {
      invalidArgument(at, "must be a sink report { name, basis, counts, findings, window, ... }");
    }
    if (
      !isObject(sink.counts) ||
      !COUNT_KINDS.every((k) => isCount((sink.counts as Record<string, unknown>)[k]))
    ) {
      invalidArgument(
        `${at}.counts`,
        `must count every kind (${COUNT_KINDS.join(", ")}) with integers ≥ 0`,
      );
    }
    const window = sink.window;
    if (
      !isObject(window) ||
      !isCount(window.position) ||
      !isCount(window.behindEntries) ||
      typeof window.behindMs !== "number"
    ) {
      invalidArgument(`${at}.window`, "must be { position, behindEntries, behindMs }");
    }
    if (sink.history !== undefined) {
      if (Array.isArray(sink.history) && sink.history.length > WINDOW_HISTORY_LIMIT)
        invalidArgument(
          `${at}.history`,
          `must have at most ${WINDOW_HISTORY_LIMIT} samples, got ${sink.history.length}`,
        );
      forEachItem(sink.history, `${at}.history`, (sample, p) => {
        checkWindowSample(sample, p);
      });
    }
    forEachItem(sink.findings, `${at}.findings`, (finding, f) => {
      if (
        !isObject(finding) ||
        !KINDS.has(finding.kind as string) ||
        typeof finding.key !== "string"
      ) {
        invalidArgument(f, "must be a finding { kind, sink, key, ... }");
      }
      if (finding.position !== undefined && !isCount(finding.position))
        invalidArgument(`${f}.position`, "must be an integer ≥ 0");
      if (finding.count !== undefined && !isCount(finding.count))
        invalidArgument(`${f}.count`, "must be an integer ≥ 0");
      if (finding.ageMs !== undefined && typeof finding.ageMs !== "number")
        invalidArgument(`${f}.ageMs`, "must be a number");
      optionalString(finding.expected, `${f}.expected`);
      optionalString(finding.observed, `${f}.observed`);
      optionalString(finding.receipt, `${f}.receipt`);
      optionalString(finding.storedChecksum, `${f}.storedChecksum`);
      if (finding.mismatch !== undefined && !MISMATCHES.has(finding.mismatch as string)) {
        invalidArgument(
          `${f}.mismatch`,
          `must be one of ${[...MISMATCHES].join(", ")}, got ${describe(finding.mismatch)}`,
        );
      }
      if (
        finding.paths !== undefined &&
        (!Array.isArray(finding.paths) || !finding.paths.every((p) => typeof p === "string"))
      ) {
        invalidArgument(`${f}.paths`, "must be an array of strings");
      }
      if (
        finding.differences !== undefined &&
        (!Array.isArray(finding.differences) ||
          !finding.differences.every(
            (d) =>
              isObject(d) &&
              typeof d.path === "string" &&
              typeof d.expected === "string" &&
              typeof d.observed === "string",
          ))
      ) {
        invalidArgument(
          `${f}.differences`,
          "must be an array of { path, expected, observed } (strings)",
        );
      }
    });
    if (
      sink.error !== undefined &&
      (!isObject(sink.error) || typeof sink.error.message !== "string")
    ) {
      invalidArgument(`${at}.error`, "must be { code, message, path? }");
    }
    optionalString(sink.frozen, `${at}.frozen`);
    // Reports made before interrupted actions were tracked have no list: read as none.
    if (sink.interrupted !== undefined) {
      forEachItem(sink.interrupted, `${at}.interrupted`, (item, it) => {
        if (
          !isObject(item) ||
          !isCount(item.intent) ||
          typeof item.action !== "string" ||
          typeof item.actor !== "string" ||
          typeof item.time !== "string"
        ) {
          invalidArgument(
            it,
            "must be an interrupted action { intent, time, actor, action, key?, ... }",
          );
        }
        optionalString(item.key, `${it}.key`);
        if (item.position !== undefined && !isCount(item.position))
          invalidArgument(`${it}.position`, "must be an integer ≥ 0");
      });
    }
  });
  return report as unknown as ReconcileReport;
}

/** Checks a result of `repair` (or read back from its JSON). */
export function checkRepairShape(given: unknown, where: string): RepairResult {
  if (!isObject(given))
    invalidArgument(where, `must be a result of repair(), got ${describe(given)}`);
  const repair = plainCopy(given, where);
  for (const list of ["actions", "sinks", "unresolved", "interrupted"] as const) {
    const items = repair[list];
    // Results made before interrupted actions were settled have no list: read as none.
    if (list === "interrupted" && items === undefined) continue;
    forEachItem(items, `${where}.${list}`, (item, at) => {
      if (!isObject(item)) invalidArgument(at, `must be an object, got ${describe(item)}`);
      const strings =
        list === "sinks"
          ? ["name"]
          : list === "actions"
            ? ["sink", "key", "action", "status", "reason"]
            : list === "interrupted"
              ? ["sink", "action", "found", "status", "reason"]
              : ["sink", "key", "reason"];
      for (const field of strings) {
        if (typeof item[field] !== "string")
          invalidArgument(`${at}.${field}`, `must be a string, got ${describe(item[field])}`);
      }
    });
  }
  return repair as unknown as RepairResult;
}
