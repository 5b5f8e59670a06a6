/**
 * The freeze policy of a reconciliation (`freezeOn`): which counts cross their thresholds,
 * and freezing the sink in the ledger (origin `reconcile`) when they do. Internal.
 *
 * @module
 */

import type { Ledger } from "../ledger/types.js";
import type { FindingCounts, FreezePolicy, ReconcileSink, SinkReport } from "./types.js";

/** The kinds (and `contradicted`) a sink can be frozen on. */
export const FREEZE_KINDS = [
  "missing-lost",
  "duplicate",
  "mismatched",
  "unexpected",
  "contradicted",
] as const;

/**
 * The origin of the freezes a reconciliation's `freezeOn` policy puts in the ledger:
 * `repair` lifts these (and only these) once their sink converges.
 */
export const POLICY_FREEZE_ORIGIN = "reconcile";

/** The counts over their thresholds, in words; `undefined` when none is. */
export function crossed(
  policy: FreezePolicy,
  report: { counts: FindingCounts; contradicted: number },
): string | undefined {
  const over: string[] = [];
  for (const kind of FREEZE_KINDS) {
    const threshold = policy[kind];
    if (threshold === undefined) continue;
    const count = kind === "contradicted" ? report.contradicted : report.counts[kind];
    if (count > threshold) over.push(`${count} ${kind} (threshold ${threshold})`);
  }
  return over.length === 0 ? undefined : over.join(", ");
}

/**
 * Freezes `sink` when its report crosses `policy`, and returns the report saying so
 * (`frozen`: the reason of the sink's oldest freeze, which a person may have put first).
 */
export async function applyFreezePolicy(
  ledger: Ledger,
  sink: ReconcileSink,
  report: SinkReport,
  policy: FreezePolicy | undefined,
  actor: string,
): Promise<SinkReport> {
  const reason = policy === undefined ? undefined : crossed(policy, report);
  if (reason === undefined) return report;
  // In the ledger, so that every guard of the sink, in every process, stops writing;
  // through the sink's guard when it is at hand, so that it knows at once.
  const input = {
    reason: `reconciliation found ${reason}`,
    actor,
    origin: POLICY_FREEZE_ORIGIN,
  };
  if (sink.guard !== undefined && sink.guard.ledger === ledger) {
    await sink.guard.freeze(input.reason, { actor, origin: POLICY_FREEZE_ORIGIN });
  } else await ledger.freezeSink(sink.name, input);
  const [oldest] = await ledger.getFreezes(sink.name);
  return { ...report, frozen: oldest?.reason ?? input.reason };
}
