/**
 * Interrupted actions: audit intents with no outcome, read from the ledger's audit log
 * for the sinks a reconciliation covers. `reconcile` lists them in each sink's report;
 * `repair` settles them. Internal.
 *
 * @module
 */

import type { AuditRecord, Ledger } from "../ledger/types.js";
import type { InterruptedAction } from "./types.js";

/** An open intent as a report shows it. */
export function interruptedAction(record: AuditRecord): InterruptedAction {
  const subject = record.subject;
  return {
    intent: record.index,
    time: record.time,
    actor: record.actor,
    action: record.action,
    ...(subject?.key === undefined ? {} : { key: subject.key }),
    ...(subject?.position === undefined ? {} : { position: subject.position }),
    ...(record.before === undefined ? {} : { before: record.before }),
    ...(record.after === undefined ? {} : { after: record.after }),
  };
}

/**
 * The intents with no outcome whose subject is one of `sinks`, by sink, in log order.
 * One pass over the audit log, holding only the open intents.
 */
export async function interruptedBySink(
  ledger: Ledger,
  sinks: ReadonlySet<string>,
): Promise<Map<string, InterruptedAction[]>> {
  const open = new Map<number, AuditRecord>();
  for await (const record of ledger.scanAudit()) {
    if (record.phase === "intent") {
      const sink = record.subject?.sink;
      if (sink !== undefined && sinks.has(sink)) open.set(record.index, record);
    } else if (record.phase === "outcome" && typeof record.intent === "number") {
      open.delete(record.intent);
    }
  }
  const out = new Map<string, InterruptedAction[]>();
  for (const record of open.values()) {
    const sink = record.subject?.sink as string;
    const list = out.get(sink);
    if (list === undefined) out.set(sink, [interruptedAction(record)]);
    else list.push(interruptedAction(record));
  }
  return out;
}
