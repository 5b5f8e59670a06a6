/**
 * The Markdown writer of `renderReport`: draws the report model (`render-model.ts`) for a
 * terminal or a pull request. Keys, names and paths are code spans with `|`, newlines and
 * backticks escaped, so a table never breaks, whatever a key holds. Internal.
 *
 * @module
 */

import type { Cell, More, Table } from "./render-cells.js";
import { historySummary } from "./render-history.js";
import type { RepairModel, ReportModel, SinkModel } from "./render-model.js";
import { RECEIPTS_NOTE, REMAINING_NOTE } from "./render-model.js";
import { mdCode, mdMore, mdTable, mdText, num, plural } from "./render-text.js";
import type { SinkReport } from "./types.js";

function cell(c: Cell): string {
  switch (c.t) {
    case "text":
      return mdText(c.text);
    case "plain":
      return c.text;
    case "code":
      return mdCode(c.text);
    case "badges":
      return mdText(c.items.map((b) => b.text).join(", "));
    case "tagged":
      return mdText(c.text);
    case "link":
      return mdCode(c.text);
    case "paths":
      return c.paths.map((p) => mdCode(p)).join(", ");
    case "diffs":
      return c.diffs
        .map((d) => `${mdCode(d.path)}: ${mdCode(d.expected)} → ${mdCode(d.observed)}`)
        .join("; ");
    case "error":
      return `${mdCode(c.code)} ${mdText(c.message)}`;
  }
}

function table(t: Table): string[] {
  return mdTable(
    t.head,
    t.rows.map((row) => row.map(cell)),
    t.numeric,
  );
}

function more(m: More): string[] {
  return mdMore(m.shown, m.total, m.what);
}

function findings({ sink, findings: f }: SinkModel): string[] {
  const out = ["", `### ${mdCode(sink.name, false)}`, ""];
  if (f.total === 0) {
    out.push(f.none);
    return out;
  }
  out.push(
    `${plural(f.total, "finding")}${f.more.shown < f.total ? `, ${f.more.shown} shown` : ""}.` +
      (f.truncated
        ? ` The report lists ${f.listed}: reconcile with a larger maxFindings to list the rest.`
        : ""),
  );
  if (f.table !== undefined) out.push("", ...table(f.table));
  out.push(...more(f.more));
  return out;
}

function repairSection(m: RepairModel): string[] {
  const { repair, summary } = m;
  const out = ["", repair.dryRun ? "## Repair (dry run: nothing executed)" : "## Repair", ""];
  out.push(
    `**${repair.converged ? "Converged" : "Not converged"}.** ${summary.actions}, started ${mdText(summary.startedAt)}, took ${summary.took}.` +
      (summary.verification === undefined ? "" : ` Verification: ${summary.verification}.`) +
      (repair.remaining ? REMAINING_NOTE : ""),
  );
  out.push("", ...table(m.sinks));
  if (m.actions.length > 0) {
    out.push("", "### Actions");
    for (const list of m.actions) {
      out.push("", `#### ${mdCode(list.name, false)}`, "");
      if (list.table !== undefined) out.push(...table(list.table));
      out.push(...more(list.more));
    }
  }
  if (m.settled !== undefined) {
    out.push("", "### Interrupted actions settled", "", ...table(m.settled.table));
    out.push(...more(m.settled.more));
  }
  if (m.unresolved.length > 0) out.push("", "### Unresolved", "");
  for (const list of m.unresolved) {
    out.push(`#### ${mdCode(list.name, false)}`, "");
    if (list.table !== undefined) out.push(...table(list.table));
    out.push(...more(list.more), "");
  }
  return out;
}

function interrupted(sinks: readonly SinkModel[]): string[] {
  const withAny = sinks.filter((s) => s.interrupted !== undefined);
  const first = withAny[0]?.interrupted;
  if (first === undefined) return [];
  const out = ["", "### Interrupted repair actions", "", `${mdText(first.note)}.`];
  for (const { sink, interrupted: i } of withAny) {
    if (i === undefined) continue;
    out.push("", `#### ${mdCode(sink.name, false)}: ${plural(i.total, "action")}`, "");
    if (i.table !== undefined) out.push(...table(i.table));
    out.push(...more(i.more));
  }
  return out;
}

function notes(m: ReportModel): string[] {
  const sinks = m.report.sinks;
  const out: string[] = [];
  for (const s of sinks.filter((s) => s.basis === "receipts")) {
    out.push("", `> **Receipt-based:** ${mdCode(s.name, false)} is ${RECEIPTS_NOTE}.`);
  }
  const errors = sinks.filter((s) => s.error !== undefined);
  if (errors.length > 0) {
    out.push("", "### Sink read errors", "");
    for (const s of errors) {
      const e = s.error as NonNullable<SinkReport["error"]>;
      out.push(
        `- ${mdCode(s.name, false)}: ${mdCode(e.code, false)} ${mdText(e.message)}` +
          (e.path === undefined ? "" : ` (at ${mdCode(e.path, false)})`) +
          "; its counts are partial.",
      );
    }
  }
  out.push(...interrupted(m.sinks));
  const frozen = sinks.filter((s) => s.frozen !== undefined);
  if (frozen.length > 0) {
    out.push("", "### Frozen", "");
    for (const s of frozen) {
      out.push(`- ${mdCode(s.name, false)}: guard frozen: ${mdText(s.frozen)}`);
    }
  }
  const histories = sinks.filter((s) => s.history !== undefined && s.history.length > 0);
  const historyError = m.report.historyError;
  if (historyError !== undefined)
    out.push(
      "",
      `> **Window history not kept:** ${mdCode(historyError.code, false)} ${mdText(historyError.message)}`,
    );
  if (histories.length > 0) {
    out.push("", "### Consistency-window history", "");
    for (const s of histories) {
      out.push(`- ${mdCode(s.name, false)}: ${mdText(historySummary(s.history ?? []))}`);
    }
  }
  const digests = sinks.filter((s) => s.digest !== undefined);
  if (digests.length > 0) {
    out.push("", "### Digest mode", "");
    out.push(
      ...mdTable(
        ["sink", "buckets compared", "differing", "rows read"],
        digests.map((s) => {
          const d = s.digest as NonNullable<SinkReport["digest"]>;
          return [mdCode(s.name), num(d.buckets), num(d.differing), num(d.rowsRead)];
        }),
        new Set([1, 2, 3]),
      ),
    );
  }
  return out;
}

/** The report model as Markdown. */
export function renderMarkdown(m: ReportModel): string {
  const out: string[] = [`# ${mdText(m.title)}`, ""];
  if (m.repair !== undefined) {
    // After a repair, what it came to is the news; the report shows what it started from.
    const head = m.repair.headline;
    out.push(`**Repair: ${head.badge}.** ${mdText(head.text)}.`, "");
  }
  out.push(
    `**${m.repair === undefined ? "Verdict" : "Verdict before repair"}: ${m.verdict}.** ${m.range}, generated ${mdText(m.report.generatedAt)}, took ${m.took}.`,
  );
  out.push("", "## Summary", "");
  if (m.summary === undefined) out.push("No sinks were reconciled.");
  else out.push(...table(m.summary));
  out.push(...notes(m));
  if (m.sinks.length > 0) out.push("", "## Findings");
  for (const s of m.sinks) out.push(...findings(s));
  if (m.repair !== undefined) out.push(...repairSection(m.repair));
  while (out.at(-1) === "") out.pop();
  return `${out.join("\n")}\n`;
}
