/**
 * The parts of `renderReport` about interrupted repair actions (audit intents with no
 * outcome) and what disagrees in a mismatched finding: a report's list per sink, and a
 * repair's settlements, in Markdown and HTML. Internal.
 *
 * @module
 */

import {
  badge,
  h,
  hCode,
  hMore,
  hTable,
  mdCode,
  mdMore,
  mdTable,
  mdText,
  num,
  plural,
} from "./render-text.js";
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

function rows(list: readonly InterruptedAction[]): string[][] {
  return list.map((a) => [
    num(a.intent),
    a.action,
    a.key ?? "",
    a.position === undefined ? "" : num(a.position),
    a.actor,
    a.time,
  ]);
}

const HEAD = ["intent record", "action", "key", "position", "actor", "started"];

/** Markdown: every sink's interrupted actions, at most `top` per sink. */
export function mdInterrupted(sinks: readonly SinkReport[], top: number): string[] {
  const withAny = sinks.filter((s) => interruptedOf(s).length > 0);
  if (withAny.length === 0) return [];
  const out = ["", "### Interrupted repair actions", "", `${mdText(NOTE)}.`];
  for (const s of withAny) {
    const list = interruptedOf(s);
    const shown = list.slice(0, top);
    out.push("", `#### ${mdCode(s.name, false)}: ${plural(list.length, "action")}`, "");
    if (shown.length > 0) {
      out.push(
        ...mdTable(
          HEAD,
          rows(shown).map((r) => [
            r[0] as string,
            mdText(r[1]),
            r[2] === "" ? "" : mdCode(r[2]),
            r[3] as string,
            mdText(r[4]),
            mdText(r[5]),
          ]),
          new Set([0, 3]),
        ),
      );
    }
    out.push(...mdMore(shown.length, list.length, "interrupted actions"));
  }
  return out;
}

/** HTML: one sink's interrupted actions, at most `top`. */
export function hInterrupted(sink: SinkReport, top: number): string {
  const list = interruptedOf(sink);
  if (list.length === 0) return "";
  const shown = list.slice(0, top);
  return [
    `<p class="error"><b>${h(plural(list.length, "interrupted repair action"))}:</b> ${h(NOTE)}.</p>`,
    shown.length === 0
      ? ""
      : hTable(
          HEAD,
          rows(shown).map((r) => [
            h(r[0]),
            h(r[1]),
            r[2] === "" ? "" : hCode(r[2]),
            h(r[3]),
            h(r[4]),
            h(r[5]),
          ]),
          new Set([0, 3]),
        ),
    hMore(shown.length, list.length, "interrupted actions"),
  ]
    .filter((x) => x !== "")
    .join("\n");
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

function settledRows(list: readonly InterruptedSettlement[]): string[][] {
  return list.map((i) => [
    i.sink,
    num(i.intent),
    i.action,
    i.key ?? "",
    i.finding === undefined ? i.found : `${i.found} (${i.finding})`,
    i.status,
    i.audit === undefined ? "" : num(i.audit),
    i.reason,
  ]);
}

/** Markdown: how a repair settled the interrupted actions it found, at most `top`. */
export function mdSettled(repair: RepairResult, top: number): string[] {
  const list = settlementsOf(repair);
  if (list.length === 0) return [];
  const shown = list.slice(0, top);
  return [
    "",
    "### Interrupted actions settled",
    "",
    ...mdTable(
      SETTLED_HEAD,
      settledRows(shown).map((r) => [
        mdCode(r[0]),
        r[1] as string,
        mdText(r[2]),
        r[3] === "" ? "" : mdCode(r[3]),
        mdText(r[4]),
        mdText(r[5]),
        r[6] as string,
        mdText(r[7]),
      ]),
      new Set([1, 6]),
    ),
    ...mdMore(shown.length, list.length, "interrupted actions (see the ledger's audit log)"),
  ];
}

/** HTML: how a repair settled the interrupted actions it found, at most `top`. */
export function hSettled(repair: RepairResult, top: number): string {
  const list = settlementsOf(repair);
  if (list.length === 0) return "";
  const shown = list.slice(0, top);
  return [
    "<h3>Interrupted actions settled</h3>",
    hTable(
      SETTLED_HEAD,
      settledRows(shown).map((r, i) => [
        hCode(r[0]),
        h(r[1]),
        h(r[2]),
        r[3] === "" ? "" : hCode(r[3]),
        h(r[4]),
        shown[i]?.status === "unsettled" ? badge(r[5] as string, "bad") : h(r[5]),
        h(r[6]),
        h(r[7]),
      ]),
      new Set([1, 6]),
    ),
    hMore(shown.length, list.length, "interrupted actions (see the ledger's audit log)"),
  ]
    .filter((x) => x !== "")
    .join("\n");
}
