/**
 * `repair`: removes the findings of a reconciliation report, safely and on the record.
 *
 * 1. **Recheck.** The sinks with findings are reconciled again, and only the report's
 *    findings that are still there are planned: a stale report, or a second repair with
 *    the same report, does nothing twice.
 * 2. **Plan**, per finding: `replay` a missing entry through the sink's guard (position
 *    order, receipt `replayed`); `rewrite` a mismatched one where the sink can upsert (or
 *    `remove-and-replay` where it can only remove); `remove-and-replay` a duplicate (every
 *    copy removed, one written back); `remove` an unexpected key; and `flag` what the sink
 *    cannot do, with the reason (needs a person). `dryRun` stops here.
 * 3. **Execute and audit.** Each action on a sink is recorded in the ledger's
 *    hash-chained audit log twice: an intent before the sink is touched (who, what, why,
 *    the checksums before and planned after), an outcome after it (the checksum after,
 *    the result). A repair killed between the two leaves an intent with no outcome:
 *    reconcile reports it as interrupted, and the next repair rechecks the key and
 *    appends the missing outcome (settle.ts) before it plans anything.
 * 4. **Verify.** The affected sinks are reconciled once more; every repaired key must
 *    now match (or be gone, for unexpected keys), by the same rule as any
 *    reconciliation: a row whose payload and stored checksum disagree is not matched. In
 *    digest mode, which compares stored checksums only, the repaired keys' rows are also
 *    read back and their payloads checked. Keys that did not converge are listed with
 *    the reason. A freeze the reconciliation's policy put in the ledger (origin
 *    `reconcile`) is lifted, audited, once its sink converged and the whole ledger reads
 *    back consistent there; freezes of any other origin stay.
 *
 * @module
 */

import { performance } from "node:perf_hooks";
import { describe, invalidArgument, show } from "../internal/arguments.js";
import { checkBoolean } from "../internal/checks.js";
import { MESSAGE_LIMIT, OWNER_LIMIT } from "../internal/limits.js";
import { optionKeys, readOptions } from "../internal/options.js";
import type { Ledger, ReceiptStatus } from "../ledger/types.js";
import { POLICY_FREEZE_ORIGIN } from "./freeze.js";
import { interruptedBySink } from "./interrupted.js";
import { reconcile } from "./reconcile.js";
import { digestRowsUnresolved, execute, findingKey, index, plan } from "./repair-steps.js";
import { type InterruptedSettlement, settleInterrupted } from "./settle.js";
import { checkReportShape } from "./shape.js";
import { checkLedger, checkSinks } from "./sinks.js";
import type {
  Finding,
  ListedFindingKind,
  MismatchReason,
  ReconcileReport,
  ReconcileSink,
  SinkReadFailure,
  SinkReport,
} from "./types.js";

/** What repair does about one finding. */
export type RepairActionKind = "replay" | "rewrite" | "remove" | "remove-and-replay" | "flag";

/** One planned action. */
export interface RepairAction {
  /** The sink. */
  readonly sink: string;
  /** The idempotency key. */
  readonly key: string;
  /** The ledger position (absent for unexpected keys). */
  readonly position?: number | undefined;
  /** The finding it answers, as rechecked. */
  readonly finding: ListedFindingKind;
  /** What will be done. `flag`: nothing the sink can do; a person must look. */
  readonly action: RepairActionKind;
  /** Why this action (for `flag`: why nothing can be done). */
  readonly reason: string;
  /** The checksum the sink held, or null when it held nothing. */
  readonly before: string | null;
  /** The checksum the sink should hold after, or null when the key should be gone. */
  readonly after: string | null;
  /** For a mismatched finding read back from the sink: what disagreed. */
  readonly mismatch?: MismatchReason | undefined;
}

/** Why a repair action failed. */
export interface RepairError {
  /** The thrown error's `code`, the receipt's error code, or `repair_failed`. */
  readonly code: string;
  /** Human-readable description. */
  readonly message: string;
}

/** An action as executed (or only planned, in a dry run). */
export interface RepairOutcome extends RepairAction {
  /**
   * `planned` (dry run), `done` (executed and audited), `failed` (the sink or guard
   * failed; audited), `flagged` (needs a person; audited).
   */
  readonly status: "planned" | "done" | "failed" | "flagged";
  /** The guard's receipt status, for replays. */
  readonly receipt?: ReceiptStatus | undefined;
  /** Why it failed. */
  readonly error?: RepairError | undefined;
  /**
   * Index of its audit record: the outcome (or, for `flag`, the one record). Absent when
   * another repair settled the action's intent while this one ran (this repair was paused
   * past it): that repair's outcome record stands, and `reason` says so.
   */
  readonly audit?: number | undefined;
  /** Index of its intent record, appended before the sink was touched. */
  readonly intent?: number | undefined;
}

/** A key that is still wrong after the repair. */
export interface Unresolved {
  /** The sink. */
  readonly sink: string;
  /** The idempotency key. */
  readonly key: string;
  /** Its finding after the repair. */
  readonly finding: ListedFindingKind;
  /** Why it did not converge. */
  readonly reason: string;
}

/** Per-sink summary of a repair. */
export interface SinkRepair {
  /** The sink. */
  readonly name: string;
  /** Actions planned. */
  readonly planned: number;
  /** Of those, done. */
  readonly done: number;
  /** Failed. */
  readonly failed: number;
  /** Flagged for a person. */
  readonly flagged: number;
  /** Findings of the report that were already gone at the recheck. */
  readonly alreadyResolved: number;
  /** Late entries left alone (still within the lag tolerance). */
  readonly deferred: number;
  /** Every action done and verified (false in a dry run with actions). */
  readonly converged: boolean;
  /** True when this repair lifted the sink's freeze of origin `reconcile` (the freeze policy's). */
  readonly unfrozen: boolean;
  /** Interrupted actions of earlier repairs found for this sink (see `RepairResult.interrupted`). */
  readonly interrupted: number;
  /** Set when the sink could not be read back to verify the repair (it has not converged then). */
  readonly error?: SinkReadFailure | undefined;
}

/** Result of {@link repair}. */
export interface RepairResult {
  /** True when nothing was executed. */
  readonly dryRun: boolean;
  /** When the repair started: ISO-8601 UTC. */
  readonly startedAt: string;
  /** Every action, in execution order. */
  readonly actions: readonly RepairOutcome[];
  /** Per sink. */
  readonly sinks: readonly SinkRepair[];
  /**
   * Every action done and verified, nothing flagged, and every repaired sink readable
   * (false in a dry run with actions).
   */
  readonly converged: boolean;
  /** Keys still wrong after the repair, with the reason. */
  readonly unresolved: readonly Unresolved[];
  /**
   * Interrupted actions of earlier repairs (audit intents with no outcome) on the sinks
   * rechecked, and how this repair settled each, before planning anything.
   */
  readonly interrupted: readonly InterruptedSettlement[];
  /** Some sink's report was truncated: reconcile and repair again for the rest. */
  readonly remaining: boolean;
  /** The reconciliation after the repair (absent in a dry run or when nothing was done). */
  readonly verification: ReconcileReport | undefined;
  /** Total time, ms. */
  readonly durationMs: number;
}

/** Options of {@link repair}. */
export interface RepairOptions {
  /** The ledger the report was made from. */
  readonly ledger: Ledger;
  /** The sinks, as given to `reconcile` (with a `guard` to replay through, `rewrite`, `remove`). */
  readonly sinks: readonly ReconcileSink[];
  /**
   * Plan only: recheck and return the plan, change nothing, audit nothing.
   * @default false
   */
  readonly dryRun?: boolean | undefined;
  /**
   * Who repairs, for the audit log.
   * @default "sinkproof.repair"
   */
  readonly actor?: string | undefined;
  /** Why, for the audit log (e.g. a ticket). Each record also names its finding. */
  readonly reason?: string | undefined;
  /**
   * Also replay `missing-late` entries (by default they are left to arrive).
   * @default false
   */
  readonly includeLate?: boolean | undefined;
  /**
   * The current time in ms since the epoch, for the rechecks (as `reconcile` takes it).
   * @default Date.now
   */
  readonly clock?: (() => number) | undefined;
}

const REPAIR_KEYS = optionKeys<RepairOptions>()(
  "ledger",
  "sinks",
  "dryRun",
  "actor",
  "reason",
  "includeLate",
  "clock",
);

/**
 * Repairs what a reconciliation found: see the module notes for the four steps
 * (recheck, plan, execute and audit, verify).
 *
 * @example
 * ```ts
 * import { reconcile, repair } from "sinkproof";
 * const sinks = [{ name: "search", observe: readAll, guard: searchGuard, rewrite: upsert, remove: deleteKey }];
 * const report = await reconcile({ ledger, sinks });
 * const plan = await repair(report, { ledger, sinks, dryRun: true }); // look first
 * const result = await repair(report, { ledger, sinks, actor: "alice", reason: "INC-4211" });
 * result.converged; // true when every finding was fixed and verified
 * ```
 */
export async function repair(
  given: ReconcileReport,
  repairOptions: RepairOptions,
): Promise<RepairResult> {
  // The report as checked (a plain copy): the caller's object is not read again.
  const report = checkReportShape(given, "report");
  const run = resolveOptions(report, repairOptions);
  const { ledger, dryRun, actor, why } = run;
  const started = performance.now();
  const startedAt = new Date(startTime(run.clock)).toISOString();
  const checked = await recheck(report, run);
  const { perSink, actions } = planActions(checked, run.byName, run.includeLate);
  const remaining = report.sinks.some((s) => s.truncated);
  // Interrupted actions are settled (their outcome appended) before anything new is done.
  const interrupted = await settleInterrupted({
    ledger,
    recheck: checked.recheck,
    current: checked.current,
    findingKey,
    unreadable: checked.unreadable,
    dryRun,
    actor,
    why,
  });
  const unsettled = new Set(interrupted.filter((i) => i.status === "unsettled").map((i) => i.sink));
  const { unreadable } = checked;
  // The result, a dry run's or a real one's: what differs is what was done and verified.
  const result = (
    outcomes: RepairOutcome[],
    unresolvedSinks: ReadonlySet<string>,
    unfrozen: ReadonlySet<string>,
    done: Pick<RepairResult, "converged" | "unresolved" | "verification">,
  ): RepairResult => ({
    dryRun,
    startedAt,
    actions: outcomes,
    sinks: summarize(
      report.sinks,
      perSink,
      outcomes,
      unresolvedSinks,
      unfrozen,
      unreadable,
      interrupted,
    ),
    converged: done.converged,
    unresolved: done.unresolved,
    interrupted,
    remaining,
    verification: done.verification,
    durationMs: performance.now() - started,
  });

  if (dryRun) {
    const outcomes = actions.map((a): RepairOutcome => ({ ...a, status: "planned" }));
    return result(outcomes, new Set(unreadable.keys()), new Set(), {
      converged: actions.length === 0 && unreadable.size === 0 && interrupted.length === 0,
      unresolved: [],
      verification: undefined,
    });
  }

  // 3. Execute: an intent record, the sink action, an outcome record.
  const outcomes: RepairOutcome[] = [];
  for (const action of actions) {
    const sink = run.byName.get(action.sink) as ReconcileSink;
    outcomes.push(await execute(ledger, sink, action, actor, why));
  }

  // 4. Verify.
  const frozenSinks = checked.touchedSinks.filter((s) => checked.policyFrozen.has(s.name));
  const { verification, unresolved } = await verify(run, checked, outcomes, frozenSinks);
  const unresolvedSinks = new Set([
    ...unresolved.map((u) => u.sink),
    ...unreadable.keys(),
    ...unsettled,
  ]);
  const liftable = frozenSinks.filter((s) => !unresolvedSinks.has(s.name));
  const unfrozen = await liftFreezes(run, liftable);
  return result(outcomes, unresolvedSinks, unfrozen, {
    converged: unresolvedSinks.size === 0,
    unresolved,
    verification,
  });
}

/** The options of one repair, checked, and the range of its report. */
interface RepairRun {
  readonly ledger: Ledger;
  readonly byName: ReadonlyMap<string, ReconcileSink>;
  readonly dryRun: boolean;
  readonly includeLate: boolean;
  readonly actor: string;
  readonly why: string | undefined;
  readonly clock: () => number;
  /** The report's range (an empty one stays open-ended: the ledger had no entries yet). */
  readonly range: { readonly from: number; readonly to?: number };
}

function resolveOptions(report: ReconcileReport, repairOptions: RepairOptions): RepairRun {
  const options = readOptions<RepairOptions>(repairOptions, "options", REPAIR_KEYS, {
    required: true,
    renamed: { now: "clock" },
  });
  const sinks = checkSinks(options.sinks, "options.sinks");
  const byName = new Map(sinks.map((sink) => [sink.name, sink]));
  for (const [i, sink] of report.sinks.entries()) {
    if (!byName.has(sink.name))
      invalidArgument(`report.sinks[${i}].name`, `"${sink.name}" is not in options.sinks`);
  }
  const dryRun = checkBoolean(options.dryRun ?? false, "options.dryRun");
  const includeLate = checkBoolean(options.includeLate ?? false, "options.includeLate");
  const actor = options.actor ?? "sinkproof.repair";
  if (typeof actor !== "string" || actor.length === 0 || actor.length > OWNER_LIMIT)
    invalidArgument(
      "options.actor",
      `must be a non-empty string of at most ${OWNER_LIMIT} characters`,
    );
  const why = options.reason;
  if (why !== undefined && (typeof why !== "string" || why.length > MESSAGE_LIMIT))
    invalidArgument("options.reason", `must be a string of at most ${MESSAGE_LIMIT} characters`);
  const ledger = checkLedger(options.ledger);
  if (options.clock !== undefined && typeof options.clock !== "function") {
    invalidArgument(
      "options.clock",
      `must be a function returning ms since the epoch, got ${describe(options.clock)}`,
    );
  }
  const range =
    report.range.entries > 0
      ? { from: report.range.from, to: report.range.to }
      : { from: report.range.from };
  return {
    ledger,
    byName,
    dryRun,
    includeLate,
    actor,
    why,
    clock: options.clock ?? Date.now,
    range,
  };
}

function startTime(clock: () => number): number {
  const startMs = clock();
  if (typeof startMs !== "number" || !Number.isFinite(startMs) || Math.abs(startMs) > 8.64e15) {
    invalidArgument(
      "options.clock()",
      `must return ms since the epoch (a valid Date), got ${show(startMs)}`,
    );
  }
  return startMs;
}

/** What the recheck found: the sinks to repair and what each holds now. */
interface Rechecked {
  /** Sinks frozen by a reconciliation's policy (origin `reconcile`). */
  readonly policyFrozen: ReadonlySet<string>;
  /** The report's sinks with findings, a read error, a policy freeze or open intents. */
  readonly touched: readonly SinkReport[];
  readonly touchedSinks: readonly ReconcileSink[];
  readonly recheck: ReconcileReport | undefined;
  /** Every finding of the recheck, by sink and key. */
  readonly current: ReadonlyMap<string, Finding>;
  /** Sinks that cannot be repaired safely: unreadable now, or when reported. */
  readonly unreadable: Map<string, SinkReadFailure>;
}

/** 1. Recheck the sinks that have findings (or a freeze of the policy's to lift). */
async function recheck(report: ReconcileReport, run: RepairRun): Promise<Rechecked> {
  const { ledger, byName } = run;
  const policyFrozen = new Set<string>();
  for (const name of byName.keys()) {
    const freezes = await ledger.getFreezes(name);
    if (freezes.some((f) => f.origin === POLICY_FREEZE_ORIGIN)) policyFrozen.add(name);
  }
  // Open intents are read from the log, not the report: a repair killed after the
  // report was made left them.
  const open = await interruptedBySink(ledger, new Set(report.sinks.map((s) => s.name)));
  const touched = report.sinks.filter(
    (s) =>
      s.findings.length > 0 ||
      s.error !== undefined ||
      policyFrozen.has(s.name) ||
      open.has(s.name),
  );
  const touchedSinks = touched.map((s) => byName.get(s.name) as ReconcileSink);
  const again =
    touchedSinks.length === 0
      ? undefined
      : await reconcile({
          ledger,
          sinks: touchedSinks,
          range: run.range,
          clock: run.clock,
          maxFindings: Number.MAX_SAFE_INTEGER,
        });
  // A sink that cannot be read now (or could not when reported) cannot be repaired safely.
  const unreadable = new Map<string, SinkReadFailure>();
  for (const s of again?.sinks ?? []) if (s.error !== undefined) unreadable.set(s.name, s.error);
  for (const s of report.sinks) {
    const now = again?.sinks.find((r) => r.name === s.name);
    if (s.error !== undefined && !unreadable.has(s.name) && now?.consistent !== true) {
      unreadable.set(s.name, {
        code: s.error.code,
        message: `the report could not read this sink (${s.error.message}): reconcile again, then repair`,
      });
    }
  }
  return {
    policyFrozen,
    touched,
    touchedSinks,
    recheck: again,
    current: index(again),
    unreadable,
  };
}

type SinkTally = { planned: number; alreadyResolved: number; deferred: number };

/** 2. Plan: the report's findings still there now, per sink, in position order. */
function planActions(
  checked: Rechecked,
  byName: ReadonlyMap<string, ReconcileSink>,
  includeLate: boolean,
): { perSink: Map<string, SinkTally>; actions: RepairAction[] } {
  const perSink = new Map<string, SinkTally>();
  const actions: RepairAction[] = [];
  for (const sinkReport of checked.touched) {
    const sink = byName.get(sinkReport.name) as ReconcileSink;
    const tally = { planned: 0, alreadyResolved: 0, deferred: 0 };
    perSink.set(sink.name, tally);
    if (checked.unreadable.has(sink.name)) continue;
    const mine: RepairAction[] = [];
    for (const finding of sinkReport.findings) {
      const now = checked.current.get(findingKey(sink.name, finding.key));
      if (now === undefined) {
        tally.alreadyResolved++;
        continue;
      }
      if (now.kind === "missing-late" && !includeLate) {
        tally.deferred++;
        continue;
      }
      mine.push(plan(now, sink));
    }
    // Unexpected keys first (they block nothing), then entries in position order.
    mine.sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
    tally.planned = mine.length;
    actions.push(...mine);
  }
  return { perSink, actions };
}

/**
 * 4. Verify: the affected sinks (and the policy-frozen ones) reconciled once more; each
 * action whose key still differs, or that was flagged, is unresolved. Sinks unreadable now
 * join `checked.unreadable`.
 */
async function verify(
  run: RepairRun,
  checked: Rechecked,
  outcomes: readonly RepairOutcome[],
  frozenSinks: readonly ReconcileSink[],
): Promise<{ verification: ReconcileReport | undefined; unresolved: Unresolved[] }> {
  const { ledger, byName } = run;
  const affected = [...new Set(outcomes.map((o) => o.sink))].map(
    (name) => byName.get(name) as ReconcileSink,
  );
  const verifySinks = [...new Set([...affected, ...frozenSinks])];
  const verification =
    verifySinks.length === 0
      ? undefined
      : await reconcile({
          ledger,
          sinks: verifySinks,
          range: run.range,
          clock: run.clock,
          maxFindings: Number.MAX_SAFE_INTEGER,
        });
  const after = index(verification);
  const unresolved: Unresolved[] = [];
  for (const outcome of outcomes) {
    const still = after.get(findingKey(outcome.sink, outcome.key));
    if (outcome.status === "flagged") {
      unresolved.push({
        sink: outcome.sink,
        key: outcome.key,
        finding: outcome.finding,
        reason: outcome.reason,
      });
    } else if (still !== undefined) {
      const kind = still.kind;
      const cause =
        outcome.status === "failed"
          ? `${outcome.action} failed: ${outcome.error?.message ?? "unknown"}`
          : `still ${kind}${still.mismatch === undefined ? "" : ` (${still.mismatch})`} after ${outcome.action}`;
      unresolved.push({ sink: outcome.sink, key: outcome.key, finding: kind, reason: cause });
    }
  }
  for (const s of verification?.sinks ?? [])
    if (s.error !== undefined) checked.unreadable.set(s.name, s.error);
  unresolved.push(...(await digestRowsUnresolved(outcomes, verification, byName, after)));
  return { verification, unresolved };
}

/**
 * Lifts the freezes put by the policy once the sink converged and the WHOLE ledger reads
 * back consistent there (a report over a partial range proves nothing about the rest).
 * Only the policy's freeze: one a person put stays until a person lifts it.
 */
async function liftFreezes(
  run: RepairRun,
  liftable: readonly ReconcileSink[],
): Promise<Set<string>> {
  const { ledger, actor, why } = run;
  const unfrozen = new Set<string>();
  if (liftable.length === 0) return unfrozen;
  const whole = await reconcile({ ledger, sinks: liftable, clock: run.clock, maxFindings: 0 });
  for (const sink of liftable) {
    const sinkAfter = whole.sinks.find((s) => s.name === sink.name);
    if (sinkAfter === undefined || !sinkAfter.consistent) continue;
    const input = {
      actor,
      reason: why === undefined ? "repair converged" : `repair converged (${why})`,
      origin: POLICY_FREEZE_ORIGIN,
    };
    const lifted =
      sink.guard !== undefined && sink.guard.ledger === ledger
        ? await sink.guard.unfreeze(input)
        : await ledger.unfreezeSink(sink.name, input);
    if (lifted.length > 0) unfrozen.add(sink.name);
  }
  return unfrozen;
}

function summarize(
  reports: readonly SinkReport[],
  perSink: Map<string, { planned: number; alreadyResolved: number; deferred: number }>,
  outcomes: readonly RepairOutcome[],
  unresolved: ReadonlySet<string>,
  unfrozen: ReadonlySet<string>,
  unreadable: ReadonlyMap<string, SinkReadFailure>,
  interrupted: readonly InterruptedSettlement[],
): SinkRepair[] {
  return reports.map((r) => {
    const tally = perSink.get(r.name) ?? { planned: 0, alreadyResolved: 0, deferred: 0 };
    const mine = outcomes.filter((o) => o.sink === r.name);
    const count = (status: RepairOutcome["status"]) =>
      mine.filter((o) => o.status === status).length;
    return {
      name: r.name,
      planned: tally.planned,
      done: count("done"),
      failed: count("failed"),
      flagged: count("flagged"),
      alreadyResolved: tally.alreadyResolved,
      deferred: tally.deferred,
      converged: !unresolved.has(r.name) && count("planned") === 0,
      unfrozen: unfrozen.has(r.name),
      interrupted: interrupted.filter((i) => i.sink === r.name).length,
      ...(unreadable.has(r.name) ? { error: unreadable.get(r.name) } : {}),
    };
  });
}
