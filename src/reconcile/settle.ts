/**
 * Settling interrupted actions: an audit intent with no outcome is an action on a sink
 * that a repair started and never recorded as finished (a process killed between the
 * sink's write and the outcome record). `repair` rechecks the key (its recheck
 * reconciliation, which lists the open intents of each sink it covers) and appends the
 * missing outcome, saying what it found: `completed` (the sink holds what the action
 * aimed at) or `incomplete` (it does not; the finding is then planned like any other).
 * An intent it cannot recheck (the sink cannot be read, no key, a position outside the
 * range) stays open, and its sink does not converge. Internal.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.js";
import type { Ledger } from "../ledger/types.js";
import type {
  Finding,
  InterruptedAction,
  ListedFindingKind,
  ReconcileReport,
  SinkReadFailure,
} from "./types.js";

/**
 * What repair did about one interrupted action (an audit intent with no outcome): the
 * action's `intent`, `action`, `key` and `position` (see {@link InterruptedAction}), its
 * sink, and what the recheck found.
 */
export interface InterruptedSettlement
  extends Pick<InterruptedAction, "intent" | "action" | "key" | "position"> {
  /** The sink. */
  readonly sink: string;
  /**
   * What the recheck found: `completed` (the sink holds what the action aimed at: the
   * ledger's checksum, or nothing for a removal), `incomplete` (it does not: see
   * `finding`; repair plans for it like any other finding of the report), or `unknown`
   * (it could not be rechecked: see `reason`).
   */
  readonly found: "completed" | "incomplete" | "unknown";
  /** For `incomplete`: the key's finding at the recheck. */
  readonly finding?: ListedFindingKind | undefined;
  /**
   * `planned` (dry run: nothing appended), `settled` (an outcome record now closes the
   * intent), or `unsettled` (left open: `reason` says why; the sink does not converge).
   */
  readonly status: "planned" | "settled" | "unsettled";
  /** Why, in words. */
  readonly reason: string;
  /** Index of the outcome record appended for it. */
  readonly audit?: number | undefined;
}

/** What settling needs of the repair in progress. */
export interface SettleContext {
  readonly ledger: Ledger;
  readonly recheck: ReconcileReport | undefined;
  /** The recheck's non-matched findings by `findingKey(sink, key)`. */
  readonly current: ReadonlyMap<string, Finding>;
  readonly findingKey: (sink: string, key: string) => string;
  /** Sinks that cannot be read (now, or in the report). */
  readonly unreadable: ReadonlyMap<string, SinkReadFailure>;
  readonly dryRun: boolean;
  readonly actor: string;
  readonly why: string | undefined;
}

function judge(
  ctx: SettleContext,
  sink: string,
  action: InterruptedAction,
): Pick<InterruptedSettlement, "found" | "finding" | "reason"> & { observed?: string | undefined } {
  const range = ctx.recheck?.range;
  if (ctx.unreadable.has(sink))
    return { found: "unknown", reason: "the sink could not be read back to recheck it" };
  if (action.key === undefined)
    return { found: "unknown", reason: "the intent names no key to recheck" };
  if (
    action.position !== undefined &&
    range !== undefined &&
    (action.position < range.from || action.position > range.to)
  ) {
    return {
      found: "unknown",
      reason: `position ${action.position} is outside the range rechecked (${range.from} to ${range.to}): repair a report that covers it`,
    };
  }
  const finding = ctx.current.get(ctx.findingKey(sink, action.key));
  if (finding === undefined) {
    return {
      found: "completed",
      reason:
        action.after === null
          ? "the recheck found the key gone, as the action aimed"
          : "the recheck found the key as the ledger has it",
    };
  }
  const kind = finding.kind;
  return {
    found: "incomplete",
    finding: kind,
    observed: finding.observed,
    reason: `the recheck found the key ${kind}`,
  };
}

/**
 * Settles every interrupted action the recheck lists for the sinks it covers: appends
 * an outcome for each that can be rechecked (none in a dry run).
 */
export async function settleInterrupted(ctx: SettleContext): Promise<InterruptedSettlement[]> {
  const out: InterruptedSettlement[] = [];
  for (const report of ctx.recheck?.sinks ?? []) {
    for (const action of report.interrupted ?? []) {
      const base = {
        sink: report.name,
        intent: action.intent,
        action: action.action,
        ...(action.key === undefined ? {} : { key: action.key }),
        ...(action.position === undefined ? {} : { position: action.position }),
      };
      const { observed, ...verdict } = judge(ctx, report.name, action);
      if (verdict.found === "unknown") {
        out.push({ ...base, ...verdict, status: "unsettled" });
        continue;
      }
      if (ctx.dryRun) {
        out.push({ ...base, ...verdict, status: "planned" });
        continue;
      }
      const reason = `settled after an interruption: ${verdict.reason}`;
      try {
        const record = await ctx.ledger.appendAudit({
          actor: ctx.actor,
          action: action.action,
          reason: ctx.why === undefined ? reason : `${reason} (${ctx.why})`,
          subject: {
            sink: report.name,
            key: action.key,
            ...(action.position === undefined ? {} : { position: action.position }),
          },
          before: action.before ?? null,
          after: verdict.found === "completed" ? (action.after ?? null) : (observed ?? null),
          phase: "outcome",
          intent: action.intent,
          details: {
            outcome: "interrupted",
            found: verdict.found,
            finding: verdict.finding ?? "matched",
            interruptedAt: action.time,
            interruptedActor: action.actor,
          },
        });
        out.push({ ...base, ...verdict, status: "settled", audit: record.index });
      } catch (error) {
        // Another repair settled it between our recheck and this append.
        if (!(error instanceof InvalidArgumentError) || error.path !== "input.intent") throw error;
        out.push({
          ...base,
          ...verdict,
          status: "settled",
          reason: `${verdict.reason}; another repair appended its outcome meanwhile`,
        });
      }
    }
  }
  return out;
}
