/**
 * The parts of `renderReport` about interrupted repair actions (audit intents with no
 * outcome) and what disagrees in a mismatched finding: a report's list per sink, and a
 * repair's settlements, as parts of the report model. Internal.
 *
 * @module
 */

import { type Cell, code, count, EMPTY, type More, type Table, text } from "./render-cells.js";
import type { RepairResult } from "./repair.js";
import type { InterruptedSettlement } from "./settle.js";
import type { Finding, InterruptedAction, MismatchReason, SinkReport } from "./types.js";

/** A mismatch reason in words, for a finding's kind cell. */
const MISMATCH_TEXT: Readonly<Record<MismatchReason, string>> = {
  checksum: "stored checksum differs",
  payload: "payload differs",
  value: "payload and checksum hold another value",
  "payload-edited": "payload edited under the ledger's checksum",
  "checksum-edited": "checksum edited over the ledger's payload",
  "self-inconsistent": "payload and checksum disagree, neither the ledger's",
};

/** What disagrees in a mismatched finding, in words; empty when the finding does not say. */
export function mismatchText(finding: Finding): string {
  const reason = finding.mismatch;
  return reason !== undefined && Object.hasOwn(MISMATCH_TEXT, reason) ? MISMATCH_TEXT[reason] : "";
}

/** The interrupted actions of a sink report (none in reports made before they were tracked). */
export function interruptedOf(sink: SinkReport): readonly InterruptedAction[] {
  return Array.isArray(sink.interrupted) ? sink.interrupted : [];
}

const NOTE =
  "a repair started these and never recorded how they ended (its process stopped between the sink action and the outcome record); the next repair of the sink rechecks each key and records the outcome";

const HEAD = ["intent record", "action", "key", "position", "actor", "started"];

/** A sink's interrupted repair actions: how many, why they matter, the first `top`. */
export interface InterruptedModel {
  readonly total: number;
  readonly note: string;
  readonly table: Table | undefined;
  readonly more: More;
}

/** The first `top` items of `list` as a table's rows, and what was left out. */
function firstRows<T>(
  list: readonly T[],
  top: number,
  what: string,
  table: Omit<Table, "rows">,
  row: (item: T) => Cell[],
): { readonly table: Table; readonly more: More } {
  const shown = list.slice(0, top);
  return {
    table: { ...table, rows: shown.map(row) },
    more: { shown: shown.length, total: list.length, what },
  };
}

/** The interrupted actions of a sink, at most `top` listed; `undefined` when it has none. */
export function interruptedModel(sink: SinkReport, top: number): InterruptedModel | undefined {
  const list = interruptedOf(sink);
  if (list.length === 0) return undefined;
  const { table, more } = firstRows(
    list,
    top,
    "interrupted actions",
    { head: HEAD, numeric: new Set([0, 3]) },
    (a) => [
      count(a.intent),
      text(a.action),
      (a.key ?? "") === "" ? EMPTY : code(a.key),
      a.position === undefined ? EMPTY : count(a.position),
      text(a.actor),
      text(a.time),
    ],
  );
  return { total: list.length, note: NOTE, table: more.shown === 0 ? undefined : table, more };
}

function settlementsOf(repair: RepairResult): readonly InterruptedSettlement[] {
  return Array.isArray(repair.interrupted) ? repair.interrupted : [];
}

const SETTLED_HEAD = [
  "sink",
  "intent record",
  "action",
  "key",
  "found",
  "status",
  "outcome record",
  "reason",
];

/** How a repair settled the interrupted actions it found, at most `top` listed. */
export interface SettledModel {
  readonly table: Table;
  readonly more: More;
}

/** The settlements of a repair, at most `top` listed; `undefined` when it has none. */
export function settledModel(repair: RepairResult, top: number): SettledModel | undefined {
  const list = settlementsOf(repair);
  if (list.length === 0) return undefined;
  return firstRows(
    list,
    top,
    "interrupted actions (see the ledger's audit log)",
    { head: SETTLED_HEAD, numeric: new Set([1, 6]) },
    (i) => [
      code(i.sink),
      count(i.intent),
      text(i.action),
      (i.key ?? "") === "" ? EMPTY : code(i.key),
      text(i.finding === undefined ? i.found : `${i.found} (${i.finding})`),
      i.status === "unsettled"
        ? { t: "badges", items: [{ text: i.status, tone: "bad" }] }
        : text(i.status),
      i.audit === undefined ? EMPTY : count(i.audit),
      text(i.reason),
    ],
  );
}
