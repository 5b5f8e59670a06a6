/**
 * The steps of `repair` that deal with one finding or one action: planning what to do
 * about a finding, executing an action on the record (an audit intent before the sink
 * is touched, an outcome after), and the digest-mode read-back of repaired rows. Internal.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.js";
import { errorSummary } from "../internal/arguments.js";
import type { Ledger, ReceiptStatus } from "../ledger/types.js";
import { logger } from "../observe/debug.js";
import type { RepairAction, RepairOutcome, Unresolved } from "./repair.js";
import { expectedAtSink } from "./sinks.js";
import type { Finding, ReconcileReport, ReconcileSink } from "./types.js";
import { inconsistentRowsOf } from "./verify-payloads.js";

const log = logger("repair");

export function findingKey(sink: string, key: string): string {
  return `${sink}\u0000${key}`;
}

/** Non-matched findings by (sink, key). */
export function index(report: ReconcileReport | undefined): Map<string, Finding> {
  const out = new Map<string, Finding>();
  for (const sink of report?.sinks ?? []) {
    for (const finding of sink.findings) out.set(findingKey(sink.name, finding.key), finding);
  }
  return out;
}

export function plan(finding: Finding, sink: ReconcileSink): RepairAction {
  const base = {
    sink: sink.name,
    key: finding.key,
    position: finding.position,
    before: finding.observed ?? null,
    ...(finding.mismatch === undefined ? {} : { mismatch: finding.mismatch }),
  };
  const kind = finding.kind;
  const flag = (reason: string): RepairAction => ({
    ...base,
    finding: kind,
    action: "flag",
    reason,
    after: base.before,
  });
  const guard = sink.guard !== undefined;
  switch (kind) {
    case "missing-late":
    case "missing-lost":
      return guard
        ? {
            ...base,
            finding: kind,
            action: "replay",
            reason: `${kind}: replay through the guard`,
            after: finding.expected ?? null,
          }
        : flag(`${kind}: the sink has no guard to replay through`);
    case "mismatched":
      if (sink.rewrite !== undefined) {
        return {
          ...base,
          finding: kind,
          action: "rewrite",
          reason: "mismatched: rewrite with the ledger's payload",
          after: finding.expected ?? null,
        };
      }
      return sink.remove !== undefined && guard
        ? {
            ...base,
            finding: kind,
            action: "remove-and-replay",
            reason: "mismatched: remove, then replay through the guard",
            after: finding.expected ?? null,
          }
        : flag(
            "mismatched: the sink can neither rewrite nor remove-and-replay (give it rewrite, or remove and a guard)",
          );
    case "duplicate":
      return sink.remove !== undefined && guard
        ? {
            ...base,
            finding: kind,
            action: "remove-and-replay",
            reason: `duplicate (${finding.count ?? 2} copies): remove every copy, then replay one`,
            after: finding.expected ?? null,
          }
        : flag(
            "duplicate: the sink cannot remove copies and write one back (give it remove and a guard)",
          );
    case "unexpected":
      return sink.remove !== undefined
        ? {
            ...base,
            finding: kind,
            action: "remove",
            reason: "unexpected: the ledger never emitted this key",
            after: null,
          }
        : flag("unexpected: the sink cannot remove keys (give it remove)");
  }
}

function describeError(error: unknown): { code: string; message: string } {
  const { code, message } = errorSummary(error, "repair_failed");
  return { code, message };
}

/**
 * Runs one action, on the record: the intent is appended before the sink is touched (so
 * a sink change never goes unrecorded, even when the process dies in the middle), the
 * outcome after. A ledger failure on either append propagates (the repair stops; an
 * intent left open is reported and settled next time). A flag touches no sink and gets
 * one record.
 */
export async function execute(
  ledger: Ledger,
  sink: ReconcileSink,
  action: RepairAction,
  actor: string,
  why: string | undefined,
): Promise<RepairOutcome> {
  const reason = why === undefined ? action.reason : `${action.reason} (${why})`;
  const subject = {
    sink: action.sink,
    key: action.key,
    ...(action.position === undefined ? {} : { position: action.position }),
  };
  const found = {
    finding: action.finding,
    ...(action.mismatch === undefined ? {} : { mismatch: action.mismatch }),
  };
  if (action.action === "flag") {
    const record = await ledger.appendAudit({
      actor,
      action: "flag",
      reason,
      subject,
      before: action.before,
      after: action.before,
      details: { ...found, outcome: "flagged" },
    });
    log("flag %s at %s", action.key, action.sink);
    return { ...action, after: action.before, status: "flagged", audit: record.index };
  }
  const intent = await ledger.appendAudit({
    actor,
    action: action.action,
    reason,
    subject,
    before: action.before,
    after: action.after,
    phase: "intent",
    details: found,
  });
  let status: RepairOutcome["status"] = "done";
  let receipt: ReceiptStatus | undefined;
  let error: { code: string; message: string } | undefined;
  // What the sink holds for the key after each step, for the outcome record.
  let after: string | null = action.before;
  try {
    if (action.action === "remove" || action.action === "remove-and-replay") {
      await (sink.remove as NonNullable<ReconcileSink["remove"]>)(action.key);
      after = null;
    }
    if (action.action !== "remove") {
      const entry = await ledger.get(action.key);
      if (entry === undefined) throw new Error(`${action.key} is not in the ledger`);
      if (action.action === "rewrite") {
        await (sink.rewrite as NonNullable<ReconcileSink["rewrite"]>)(
          expectedAtSink(sink, entry.envelope),
        );
        after = action.after;
      } else {
        const r = await (sink.guard as NonNullable<ReconcileSink["guard"]>).deliver(
          entry.envelope,
          { replay: true },
        );
        receipt = r.status;
        if (r.status !== "replayed" && r.status !== "written" && r.status !== "duplicate") {
          status = "failed";
          error = r.error ?? { code: r.status, message: `the guard answered ${r.status}` };
        } else after = action.after;
      }
    }
  } catch (caught) {
    status = "failed";
    error = describeError(caught);
  }
  let audit: number | undefined;
  let settledElsewhere = false;
  try {
    const record = await ledger.appendAudit({
      actor,
      action: action.action,
      reason,
      subject,
      before: action.before,
      after,
      phase: "outcome",
      intent: intent.index,
      details: {
        ...found,
        outcome: status,
        ...(receipt === undefined ? {} : { receipt }),
        ...(error === undefined
          ? {}
          : { error: { code: error.code, message: error.message.slice(0, 1024) } }),
      },
    });
    audit = record.index;
  } catch (caught) {
    // This repair was slow (paused) past another repair that found the intent open and
    // settled it as interrupted: that outcome stands, and the ledger refuses a second.
    // Found by the simulator (a paused repairer); the action is reported as it went.
    if (!(caught instanceof InvalidArgumentError) || caught.path !== "input.intent") throw caught;
    settledElsewhere = true;
  }
  log("%s %s at %s: %s", action.action, action.key, action.sink, status);
  return {
    ...action,
    ...(settledElsewhere
      ? {
          reason: `${action.reason}; another repair settled its intent meanwhile, and that outcome stands`,
        }
      : {}),
    after,
    status,
    receipt,
    error,
    audit,
    intent: intent.index,
  };
}

/**
 * Digest mode compares stored checksums only, so a repaired row whose stored checksum
 * is right over a wrong payload verifies there as matched. The rows of each key repaired
 * in a sink verified in digest mode are read back by their row hash, and any whose
 * payload does not hash to its stored checksum stays unresolved.
 */
export async function digestRowsUnresolved(
  outcomes: readonly RepairOutcome[],
  verification: ReconcileReport | undefined,
  byName: ReadonlyMap<string, ReconcileSink>,
  still: ReadonlyMap<string, Finding>,
): Promise<Unresolved[]> {
  const out: Unresolved[] = [];
  for (const outcome of outcomes) {
    const basis = verification?.sinks.find((s) => s.name === outcome.sink);
    const digest = byName.get(outcome.sink)?.digest;
    if (basis?.basis !== "digest" || basis.error !== undefined || digest === undefined) continue;
    if (outcome.status !== "done" || outcome.after === null) continue;
    if (still.has(findingKey(outcome.sink, outcome.key))) continue;
    const bad = await inconsistentRowsOf(
      digest,
      outcome.key,
      outcome.after,
      `sinks["${outcome.sink}"].digest.observeRange()`,
    );
    if (bad.length > 0) {
      out.push({
        sink: outcome.sink,
        key: outcome.key,
        finding: "mismatched",
        reason: `still mismatched (payload-edited) after ${outcome.action}: the row's payload hashes to ${bad[0]?.payloadChecksum ?? "nothing"}, not to its stored checksum`,
      });
    }
  }
  return out;
}
