/**
 * `renderReport`: a reconciliation report (and the repair that followed) as JSON, as
 * Markdown for a terminal or a pull request, or as one self-contained HTML file.
 *
 * Output depends on the input alone (no clock, no randomness), so the same report always
 * renders the same text. Every string taken from the report (sink names, keys, JSON paths,
 * messages) is escaped for the format: Markdown tables never break, whatever a key holds,
 * and HTML never carries markup from the report. Control, bidi and zero-width characters
 * are shown as `\n`, `\u202e`, ... so that two keys that look alike stay apart.
 *
 * @module
 */

import { describe, invalidArgument } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import {
  hInterrupted,
  hSettled,
  interruptedOf,
  mdInterrupted,
  mdSettled,
  mismatchText,
} from "./render-interrupted.js";
import {
  badge,
  formatDuration,
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
  str,
} from "./render-text.js";
import type { RepairOutcome, RepairResult, Unresolved } from "./repair.js";
import { checkRepairShape, checkReportShape } from "./shape.js";

export { formatDuration };

import {
  FINDING_KINDS,
  type Finding,
  type FindingKind,
  type ReconcileReport,
  type SinkReport,
} from "./types.js";

/** Options of {@link renderReport}. */
export interface RenderOptions {
  /**
   * `json`: the report (and repair) as indented JSON, complete and parseable.
   * `markdown`: for a terminal or a pull request. `html`: one self-contained page (inline
   * CSS and SVG, no scripts, no external assets).
   */
  readonly format: "json" | "markdown" | "html";
  /** The repair that followed, to include its log. */
  readonly repair?: RepairResult | undefined;
  /**
   * Findings shown per sink (late entries listed last); the rest are counted. Also caps
   * the repair actions and unresolved keys listed per sink. Not used by `json`, which is
   * always complete.
   * @default 20
   */
  readonly topFindings?: number | undefined;
  /**
   * Title.
   * @default "sinkproof consistency report"
   */
  readonly title?: string | undefined;
}

/** Default title of a rendered report. */
const DEFAULT_TITLE = "sinkproof consistency report";
/** Default number of findings shown per sink. */
const DEFAULT_TOP_FINDINGS = 20;
const FORMATS = ["json", "markdown", "html"] as const;

/** The kinds a sink's bar shows, in order, with their label and colour. */
const SEGMENTS = [
  { kind: "matched", label: "matched", color: "#2e7d32" },
  { kind: "missing-late", label: "late", color: "#f9a825" },
  { kind: "missing-lost", label: "lost", color: "#c62828" },
  { kind: "mismatched", label: "mismatched", color: "#ef6c00" },
  { kind: "duplicate", label: "duplicate", color: "#1565c0" },
  { kind: "unexpected", label: "unexpected", color: "#6a1b9a" },
] as const satisfies ReadonlyArray<{ kind: FindingKind; label: string; color: string }>;
/** Compile-time: the bar has a segment for every kind of finding. */
const _everyKindDrawn: [Exclude<FindingKind, (typeof SEGMENTS)[number]["kind"]>] extends [never]
  ? true
  : never = true;

/** Width of a bar in SVG units, and the narrowest a nonzero segment is drawn. */
const BAR_WIDTH = 600;
const BAR_HEIGHT = 22;
const MIN_SEGMENT = 4;

// ---------------------------------------------------------------------------------------
// Shared helpers

function sinkVerdict(sink: SinkReport): "consistent" | "inconsistent" | "unreadable" {
  if (sink.error !== undefined) return "unreadable";
  return sink.consistent ? "consistent" : "inconsistent";
}

/** Every non-matched finding the counts know of (the list may be shorter). */
function findingTotal(sink: SinkReport): number {
  const c = sink.counts;
  let counted = 0;
  for (const kind of FINDING_KINDS) if (kind !== "matched") counted += c[kind];
  return Math.max(Number.isFinite(counted) ? counted : 0, sink.findings.length);
}

/** The findings shown: the first `top`, late entries after the rest (they are expected to arrive). */
function topOf(sink: SinkReport, top: number): readonly Finding[] {
  const late = sink.findings.filter((f) => f.kind === "missing-late");
  const rest = sink.findings.filter((f) => f.kind !== "missing-late");
  return [...rest, ...late].slice(0, top);
}

/**
 * The consistency window in words. A sink whose only differences are late entries is
 * behind (a lag); a sink with any other finding is not behind, it differs: the window then
 * says where the first difference is, not how far behind it runs.
 */
function windowText(sink: SinkReport): string {
  const w = sink.window;
  if (w.behindEntries === 0) {
    return sink.counts.unexpected > 0
      ? `every entry matches (to position ${num(w.position)}); ${plural(sink.counts.unexpected, "key")} the ledger never emitted`
      : `up to date (position ${num(w.position)})`;
  }
  if (onlyLate(sink)) {
    return `consistent to position ${num(w.position)}; ${plural(w.behindEntries, "entry", "entries")}, ${formatDuration(w.behindMs)} behind`;
  }
  return `matches up to position ${num(w.position)}; first entry not matched at ${num(w.position + 1)}, ${formatDuration(w.behindMs)} old`;
}

/**
 * What a repair came to, in one line: the headline of a report rendered with its repair.
 * It says only what the result shows: a dry run changed nothing, a repair over a truncated
 * report fixed the listed findings only, and a repair that did not converge says why.
 */
function repairHeadline(repair: RepairResult): {
  text: string;
  tone: "good" | "bad" | "warn";
  badge: string;
} {
  if (repair.dryRun) {
    return {
      badge: "dry run",
      tone: "warn",
      text: `nothing was changed: ${plural(repair.actions.length, "action")} planned`,
    };
  }
  const unreadable = repair.sinks.filter((s) => s.error !== undefined).length;
  if (repair.converged) {
    return repair.remaining
      ? {
          badge: "converged",
          tone: "warn",
          text: `the listed findings fixed and verified (${plural(repair.actions.length, "action")}); the report was cut at maxFindings, so more remain: reconcile and repair again`,
        }
      : {
          badge: "converged",
          tone: "good",
          text: `every finding fixed and verified (${plural(repair.actions.length, "action")})`,
        };
  }
  const why = [
    repair.unresolved.length > 0 ? `${plural(repair.unresolved.length, "finding")} unresolved` : "",
    unreadable > 0 ? `${plural(unreadable, "sink")} could not be read back` : "",
  ].filter((x) => x !== "");
  return {
    badge: "not converged",
    tone: "bad",
    text: why.length > 0 ? why.join(", ") : "see the repair's actions below",
  };
}

/** True when every finding of the sink is a late entry: the sink lags, it does not differ. */
function onlyLate(sink: SinkReport): boolean {
  for (const kind of FINDING_KINDS) {
    if (kind !== "matched" && kind !== "missing-late" && sink.counts[kind] > 0) return false;
  }
  return true;
}

function rangeText(report: ReconcileReport): string {
  const { from, to, entries } = report.range;
  if (entries === 0) return "no ledger entries";
  return `ledger positions ${num(from)} to ${num(to)} (${plural(entries, "entry", "entries")})`;
}

function overallVerdict(report: ReconcileReport): string {
  if (report.consistent) return "consistent";
  const bad = report.sinks.filter((s) => !s.consistent).length;
  return `inconsistent (${bad} of ${plural(report.sinks.length, "sink")})`;
}

const RECEIPTS_NOTE =
  "judged from receipts only: weaker, since a receipt says what was written, not what is still there";

/** Groups items by sink, in the order sinks are first met (`order` first). */
function bySink<T extends { readonly sink: string }>(
  items: readonly T[],
  order: readonly string[],
): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const name of order) out.set(name, []);
  for (const item of items) {
    const list = out.get(item.sink);
    if (list === undefined) out.set(item.sink, [item]);
    else list.push(item);
  }
  for (const [name, list] of out) if (list.length === 0) out.delete(name);
  return out;
}

function receiptText(finding: Finding): string {
  return finding.receipt === undefined ? "" : `says ${finding.receipt}`;
}

function kindText(finding: Finding): string {
  const notes: string[] = [];
  const why = finding.kind === "mismatched" ? mismatchText(finding) : "";
  if (why !== "") notes.push(why);
  if (finding.kind === "duplicate" || (finding.count !== undefined && finding.count > 1))
    notes.push(`${finding.count ?? 2} copies`);
  return notes.length === 0 ? finding.kind : `${finding.kind} (${notes.join("; ")})`;
}

/** The checksum(s) the sink holds: its payload's and, when they differ, the stored one. */
function observedText(finding: Finding): string | undefined {
  if (finding.storedChecksum === undefined) return finding.observed;
  return `payload ${str(finding.observed ?? "(not JSON)")}; stored ${str(finding.storedChecksum)}`;
}

/** The summary's verdict cell: the verdict, then frozen and interrupted when they apply. */
function verdictNotes(sink: SinkReport): string {
  const interrupted = interruptedOf(sink).length;
  return (
    (sink.frozen === undefined ? "" : ", frozen") +
    (interrupted === 0 ? "" : `, ${interrupted} interrupted`)
  );
}

function statusText(outcome: RepairOutcome): string {
  return outcome.receipt === undefined ? outcome.status : `${outcome.status} (${outcome.receipt})`;
}

// ---------------------------------------------------------------------------------------
// Markdown

function mdFindings(sink: SinkReport, top: number): string[] {
  const out = ["", `### ${mdCode(sink.name, false)}`, ""];
  const total = findingTotal(sink);
  if (total === 0) {
    out.push(
      sink.error === undefined
        ? `No findings: ${plural(sink.counts.matched, "entry", "entries")} matched.`
        : "No findings (the sink could not be read).",
    );
    return out;
  }
  const shown = topOf(sink, top);
  out.push(
    `${plural(total, "finding")}${shown.length < total ? `, ${shown.length} shown` : ""}.` +
      (sink.truncated
        ? ` The report lists ${sink.findings.length}: reconcile with a larger maxFindings to list the rest.`
        : ""),
  );
  if (shown.length > 0) {
    out.push("");
    out.push(
      ...mdTable(
        ["kind", "key", "position", "expected", "observed", "differing paths", "age", "receipt"],
        shown.map((f) => [
          mdText(kindText(f)),
          mdCode(f.key),
          f.position === undefined ? "" : num(f.position),
          f.expected === undefined ? "" : mdCode(f.expected),
          observedText(f) === undefined ? "" : mdCode(observedText(f)),
          f.differences === undefined
            ? (f.paths ?? []).map((p) => mdCode(p)).join(", ")
            : f.differences
                .map((d) => `${mdCode(d.path)}: ${mdCode(d.expected)} → ${mdCode(d.observed)}`)
                .join("; "),
          f.ageMs === undefined ? "" : formatDuration(f.ageMs),
          mdText(receiptText(f)),
        ]),
        new Set([2]),
      ),
    );
  }
  out.push(...mdMore(shown.length, total, total - shown.length === 1 ? "finding" : "findings"));
  return out;
}

function mdRepair(repair: RepairResult, top: number): string[] {
  const out = ["", repair.dryRun ? "## Repair (dry run: nothing executed)" : "## Repair", ""];
  out.push(
    `**${repair.converged ? "Converged" : "Not converged"}.** ${plural(repair.actions.length, "action")}, started ${mdText(repair.startedAt)}, took ${formatDuration(repair.durationMs)}.` +
      (repair.verification === undefined
        ? ""
        : ` Verification: ${repair.verification.consistent ? "consistent" : "inconsistent"}.`) +
      (repair.remaining
        ? " Some reports were truncated: reconcile and repair again for the rest."
        : ""),
  );
  out.push("");
  out.push(
    ...mdTable(
      [
        "sink",
        "planned",
        "done",
        "failed",
        "flagged",
        "already resolved",
        "deferred",
        "converged",
        "unfrozen",
      ],
      repair.sinks.map((s) => [
        mdCode(s.name),
        num(s.planned),
        num(s.done),
        num(s.failed),
        num(s.flagged),
        num(s.alreadyResolved),
        num(s.deferred),
        s.converged ? "yes" : "no",
        s.unfrozen ? "yes" : "no",
      ]),
      new Set([1, 2, 3, 4, 5, 6]),
    ),
  );
  const order = repair.sinks.map((s) => s.name);
  const actions = bySink(repair.actions, order);
  if (actions.size > 0) out.push("", "### Actions");
  for (const [name, list] of actions) {
    const shown = list.slice(0, top);
    out.push("", `#### ${mdCode(name, false)}`, "");
    if (shown.length > 0) {
      out.push(
        ...mdTable(
          ["action", "key", "position", "finding", "status", "audit record", "error"],
          shown.map((a) => [
            mdText(a.action),
            mdCode(a.key),
            a.position === undefined ? "" : num(a.position),
            mdText(a.finding),
            mdText(statusText(a)),
            a.audit === undefined ? "" : num(a.audit),
            a.error === undefined ? "" : `${mdCode(a.error.code)} ${mdText(a.error.message)}`,
          ]),
          new Set([2, 5]),
        ),
      );
    }
    out.push(...mdMore(shown.length, list.length, "actions (see the ledger's audit log)"));
  }
  out.push(...mdSettled(repair, top));
  const unresolved = bySink(repair.unresolved, order);
  if (unresolved.size > 0) out.push("", "### Unresolved", "");
  for (const [name, list] of unresolved) {
    const shown = list.slice(0, top);
    out.push(`#### ${mdCode(name, false)}`, "");
    if (shown.length > 0) {
      out.push(
        ...mdTable(
          ["key", "finding", "reason"],
          shown.map((u: Unresolved) => [mdCode(u.key), mdText(u.finding), mdText(u.reason)]),
        ),
      );
    }
    out.push(...mdMore(shown.length, list.length, "unresolved keys"), "");
  }
  return out;
}

function renderMarkdown(
  report: ReconcileReport,
  repair: RepairResult | undefined,
  top: number,
  title: string,
): string {
  const out: string[] = [`# ${mdText(title)}`, ""];
  if (repair !== undefined) {
    // After a repair, what it came to is the news; the report shows what it started from.
    const head = repairHeadline(repair);
    out.push(`**Repair: ${head.badge}.** ${mdText(head.text)}.`, "");
  }
  out.push(
    `**${repair === undefined ? "Verdict" : "Verdict before repair"}: ${overallVerdict(report)}.** ${rangeText(report)}, generated ${mdText(report.generatedAt)}, took ${formatDuration(report.durationMs)}.`,
  );
  out.push("", "## Summary", "");
  if (report.sinks.length === 0) out.push("No sinks were reconciled.");
  else {
    out.push(
      ...mdTable(
        [
          "sink",
          "basis",
          "verdict",
          "matched",
          "late",
          "lost",
          "mismatched",
          "duplicate",
          "unexpected",
          "contradicted",
          "window",
        ],
        report.sinks.map((s) => [
          mdCode(s.name),
          mdText(s.basis),
          sinkVerdict(s) + verdictNotes(s),
          num(s.counts.matched),
          num(s.counts["missing-late"]),
          num(s.counts["missing-lost"]),
          num(s.counts.mismatched),
          num(s.counts.duplicate),
          num(s.counts.unexpected),
          num(s.contradicted),
          mdText(windowText(s)),
        ]),
        new Set([3, 4, 5, 6, 7, 8, 9]),
      ),
    );
  }
  for (const s of report.sinks.filter((s) => s.basis === "receipts")) {
    out.push("", `> **Receipt-based:** ${mdCode(s.name, false)} is ${RECEIPTS_NOTE}.`);
  }
  const errors = report.sinks.filter((s) => s.error !== undefined);
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
  out.push(...mdInterrupted(report.sinks, top));
  const frozen = report.sinks.filter((s) => s.frozen !== undefined);
  if (frozen.length > 0) {
    out.push("", "### Frozen", "");
    for (const s of frozen) {
      out.push(`- ${mdCode(s.name, false)}: guard frozen: ${mdText(s.frozen)}`);
    }
  }
  const digests = report.sinks.filter((s) => s.digest !== undefined);
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
  if (report.sinks.length > 0) out.push("", "## Findings");
  for (const s of report.sinks) out.push(...mdFindings(s, top));
  if (repair !== undefined) out.push(...mdRepair(repair, top));
  while (out.at(-1) === "") out.pop();
  return `${out.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------
// HTML

function verdictBadge(verdict: string): string {
  return badge(verdict, verdict === "consistent" ? "good" : "bad");
}

/**
 * Segment widths for counts: proportional, each nonzero count at least `MIN_SEGMENT`
 * wide, the whole exactly `BAR_WIDTH`.
 */
function segmentWidths(counts: readonly number[]): number[] {
  const widths = counts.map(() => 0);
  const nonzero = counts.map((c, i) => ({ c, i })).filter((x) => x.c > 0);
  if (nonzero.length === 0) return widths;
  const small = new Set<number>();
  for (;;) {
    const free = BAR_WIDTH - small.size * MIN_SEGMENT;
    const rest = nonzero.filter((x) => !small.has(x.i));
    const sum = rest.reduce((a, x) => a + x.c, 0);
    const newlySmall = rest.filter((x) => (x.c / sum) * free < MIN_SEGMENT);
    if (newlySmall.length === 0 || newlySmall.length === rest.length) {
      for (const x of nonzero) {
        widths[x.i] = small.has(x.i) ? MIN_SEGMENT : (x.c / sum) * free;
      }
      return widths;
    }
    for (const x of newlySmall) small.add(x.i);
  }
}

/** Rounds to two decimals, as text. */
function fixed(value: number): string {
  return String(Math.round(value * 100) / 100);
}

function countOf(sink: SinkReport, kind: FindingKind): number {
  const value = sink.counts[kind];
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0;
}

function hBar(sink: SinkReport): string {
  const counts = SEGMENTS.map((s) => countOf(sink, s.kind));
  const total = counts.reduce((a, c) => a + c, 0);
  const label =
    total === 0
      ? "nothing to compare"
      : SEGMENTS.map((s, i) => `${s.label} ${counts[i]}`).join(", ");
  const parts: string[] = [];
  if (total === 0) {
    parts.push(
      `<rect x="0" y="0" width="${BAR_WIDTH}" height="${BAR_HEIGHT}" fill="#9e9e9e"><title>nothing to compare</title></rect>`,
    );
  } else {
    const widths = segmentWidths(counts);
    let x = 0;
    SEGMENTS.forEach((s, i) => {
      const w = widths[i] as number;
      if (w <= 0) return;
      const share = ((counts[i] as number) / total) * 100;
      parts.push(
        `<rect x="${fixed(x)}" y="0" width="${fixed(w)}" height="${BAR_HEIGHT}" fill="${s.color}"><title>${h(`${s.label}: ${counts[i]} (${share.toFixed(1)}%)`)}</title></rect>`,
      );
      x += w;
    });
  }
  const legend = SEGMENTS.map((s, i) => {
    const c = counts[i] as number;
    const share = c === 0 ? "" : ` (${((c / total) * 100).toFixed(1)}%)`;
    return `<li${c === 0 ? ' class="zero"' : ""}><span class="swatch" style="background:${s.color}"></span>${h(s.label)} <b>${c}</b>${h(share)}</li>`;
  }).join("");
  return [
    `<svg class="bar" viewBox="0 0 ${BAR_WIDTH} ${BAR_HEIGHT}" width="100%" height="${BAR_HEIGHT}" preserveAspectRatio="none" role="img" aria-label="${h(label)}">`,
    ...parts,
    "</svg>",
    `<ul class="legend">${legend}</ul>`,
  ].join("\n");
}

function hFindings(sink: SinkReport, top: number): string {
  const total = findingTotal(sink);
  if (total === 0) {
    return sink.error === undefined
      ? `<p>No findings: ${h(plural(sink.counts.matched, "entry", "entries"))} matched.</p>`
      : "<p>No findings (the sink could not be read).</p>";
  }
  const shown = topOf(sink, top);
  const out = [
    `<h3>Findings</h3>`,
    `<p>${h(plural(total, "finding"))}${shown.length < total ? `, ${shown.length} shown` : ""}.${
      sink.truncated
        ? ` The report lists ${sink.findings.length}: reconcile with a larger maxFindings to list the rest.`
        : ""
    }</p>`,
  ];
  if (shown.length > 0) {
    out.push(
      hTable(
        ["kind", "key", "position", "expected", "observed", "differing paths", "age", "receipt"],
        shown.map((f) => [
          `<span class="kind k-${h(f.kind)}">${h(kindText(f))}</span>`,
          hCode(f.key),
          f.position === undefined ? "" : h(num(f.position)),
          f.expected === undefined ? "" : hCode(f.expected),
          observedText(f) === undefined ? "" : hCode(observedText(f)),
          f.differences === undefined
            ? (f.paths ?? []).map(hCode).join(" ")
            : f.differences
                .map(
                  (d) =>
                    `<div class="diff">${hCode(d.path)}: ${hCode(d.expected)} → ${hCode(d.observed)}</div>`,
                )
                .join(""),
          f.ageMs === undefined ? "" : h(formatDuration(f.ageMs)),
          f.receipt === undefined ? "" : badge(receiptText(f), "warn"),
        ]),
        new Set([2]),
      ),
    );
  }
  out.push(hMore(shown.length, total, total - shown.length === 1 ? "finding" : "findings"));
  return out.filter((x) => x !== "").join("\n");
}

function hSink(sink: SinkReport, index: number, top: number): string {
  const w = sink.window;
  const lagging = w.behindEntries === 0 || onlyLate(sink);
  const facts: Array<[string, string]> = [
    ["consistent to position", num(w.position)],
    lagging
      ? [
          "behind",
          w.behindEntries > 0
            ? plural(w.behindEntries, "entry", "entries")
            : sink.counts.unexpected > 0
              ? "no entry (the differences are keys the ledger never emitted)"
              : "up to date",
        ]
      : ["first entry not matched at", num(w.position + 1)],
    [lagging ? "time behind" : "first unmatched entry age", formatDuration(w.behindMs)],
    ["lag tolerance", formatDuration(sink.lagToleranceMs)],
    ["contradicted receipts", num(sink.contradicted)],
    ["observations read", num(sink.observations)],
  ];
  if (sink.digest !== undefined) {
    facts.push(
      ["buckets compared", num(sink.digest.buckets)],
      ["buckets differing", num(sink.digest.differing)],
      ["rows read", num(sink.digest.rowsRead)],
    );
  }
  facts.push(["took", formatDuration(sink.durationMs)]);
  const out = [
    `<section class="sink" id="sink-${index}">`,
    `<h2>${hCode(sink.name)} ${badge(sink.basis, sink.basis === "receipts" ? "warn" : "info")} ${verdictBadge(sinkVerdict(sink))}${sink.frozen === undefined ? "" : ` ${badge("frozen", "bad")}`}</h2>`,
  ];
  if (sink.basis === "receipts")
    out.push(`<p class="note"><b>Receipt-based:</b> ${h(RECEIPTS_NOTE)}.</p>`);
  if (sink.error !== undefined) {
    out.push(
      `<p class="error"><b>Could not be read:</b> ${hCode(sink.error.code)} ${h(sink.error.message)}${
        sink.error.path === undefined ? "" : ` (at ${hCode(sink.error.path)})`
      }. The counts are partial.</p>`,
    );
  }
  if (sink.frozen !== undefined)
    out.push(`<p class="error"><b>Guard frozen:</b> ${h(sink.frozen)}</p>`);
  const interrupted = hInterrupted(sink, top);
  if (interrupted !== "") out.push(interrupted);
  out.push(hBar(sink));
  out.push(
    `<dl class="facts">${facts.map(([k, v]) => `<div><dt>${h(k)}</dt><dd>${h(v)}</dd></div>`).join("")}</dl>`,
  );
  out.push(hFindings(sink, top));
  out.push("</section>");
  return out.join("\n");
}

function hRepair(repair: RepairResult, top: number): string {
  const out = [
    `<section class="repair">`,
    `<h2>Repair${repair.dryRun ? " (dry run: nothing executed)" : ""} ${badge(
      repair.converged ? "converged" : "not converged",
      repair.converged ? "good" : "bad",
    )}</h2>`,
    `<p>${h(plural(repair.actions.length, "action"))}, started ${h(repair.startedAt)}, took ${h(formatDuration(repair.durationMs))}.${
      repair.verification === undefined
        ? ""
        : ` Verification: ${h(repair.verification.consistent ? "consistent" : "inconsistent")}.`
    }${repair.remaining ? " Some reports were truncated: reconcile and repair again for the rest." : ""}</p>`,
    hTable(
      [
        "sink",
        "planned",
        "done",
        "failed",
        "flagged",
        "already resolved",
        "deferred",
        "converged",
        "unfrozen",
      ],
      repair.sinks.map((s) => [
        hCode(s.name),
        h(num(s.planned)),
        h(num(s.done)),
        h(num(s.failed)),
        h(num(s.flagged)),
        h(num(s.alreadyResolved)),
        h(num(s.deferred)),
        s.converged ? "yes" : "no",
        s.unfrozen ? "yes" : "no",
      ]),
      new Set([1, 2, 3, 4, 5, 6]),
    ),
  ];
  const order = repair.sinks.map((s) => s.name);
  const actions = bySink(repair.actions, order);
  if (actions.size > 0) out.push("<h3>Actions</h3>");
  for (const [name, list] of actions) {
    const shown = list.slice(0, top);
    out.push(`<h4>${hCode(name)}</h4>`);
    if (shown.length > 0) {
      out.push(
        hTable(
          ["action", "key", "position", "finding", "status", "audit record", "error"],
          shown.map((a) => [
            h(a.action),
            hCode(a.key),
            a.position === undefined ? "" : h(num(a.position)),
            h(a.finding),
            `<span class="status s-${h(a.status)}">${h(statusText(a))}</span>`,
            a.audit === undefined ? "" : h(num(a.audit)),
            a.error === undefined ? "" : `${hCode(a.error.code)} ${h(a.error.message)}`,
          ]),
          new Set([2, 5]),
        ),
      );
    }
    const more = hMore(shown.length, list.length, "actions (see the ledger's audit log)");
    if (more !== "") out.push(more);
  }
  const settled = hSettled(repair, top);
  if (settled !== "") out.push(settled);
  const unresolved = bySink(repair.unresolved, order);
  if (unresolved.size > 0) out.push("<h3>Unresolved</h3>");
  for (const [name, list] of unresolved) {
    const shown = list.slice(0, top);
    out.push(`<h4>${hCode(name)}</h4>`);
    if (shown.length > 0) {
      out.push(
        hTable(
          ["key", "finding", "reason"],
          shown.map((u) => [hCode(u.key), h(u.finding), h(u.reason)]),
        ),
      );
    }
    const more = hMore(shown.length, list.length, "unresolved keys");
    if (more !== "") out.push(more);
  }
  out.push("</section>");
  return out.join("\n");
}

const CSS = `
:root{color-scheme:light dark;--fg:#1f2328;--bg:#fff;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#3d444d;--soft:#151b23}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1680px;padding:24px;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.6em;margin:0 0 8px}h2{font-size:1.25em;margin:0 0 8px}h3{font-size:1.05em;margin:16px 0 6px}h4{margin:12px 0 6px}
p{margin:6px 0}.meta{color:var(--muted)}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);padding:1px 4px;border-radius:4px;overflow-wrap:anywhere}
h2 code,td code{overflow-wrap:normal;white-space:nowrap}
td .diff code{white-space:normal;overflow-wrap:anywhere}
.headline{font-size:1.1em;margin:8px 0}
.table{overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft)}.num{text-align:right;font-variant-numeric:tabular-nums}
section{border:1px solid var(--line);border-radius:8px;padding:16px;margin:16px 0}
.badge{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;vertical-align:middle;border:1px solid transparent}
.badge.good{background:#dafbe1;color:#116329}.badge.bad{background:#ffebe9;color:#a40e26}
.badge.warn{background:#fff8c5;color:#7d4e00}.badge.info{background:#ddf4ff;color:#0349b4}
.note{border-left:4px solid #d4a72c;padding:4px 10px;background:var(--soft)}
.error{border-left:4px solid #cf222e;padding:4px 10px;background:var(--soft)}
svg.bar{display:block;margin:12px 0 6px;border-radius:4px;overflow:hidden}
.legend{list-style:none;padding:0;margin:0 0 8px;display:flex;flex-wrap:wrap;gap:4px 16px}
.legend .zero{color:var(--muted)}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.facts{display:flex;flex-wrap:wrap;gap:4px 24px;margin:8px 0}.facts div{display:flex;gap:6px}
.facts dt{color:var(--muted)}.facts dd{margin:0;font-weight:600}
.more{color:var(--muted);font-style:italic}
.s-failed,.s-flagged{color:#cf222e;font-weight:600}
`.trim();

function renderHtml(
  report: ReconcileReport,
  repair: RepairResult | undefined,
  top: number,
  title: string,
): string {
  const summary =
    report.sinks.length === 0
      ? "<p>No sinks were reconciled.</p>"
      : hTable(
          [
            "sink",
            "basis",
            "verdict",
            "matched",
            "late",
            "lost",
            "mismatched",
            "duplicate",
            "unexpected",
            "contradicted",
            "window",
          ],
          report.sinks.map((s, i) => [
            `<a href="#sink-${i}">${hCode(s.name)}</a>`,
            h(s.basis),
            verdictBadge(sinkVerdict(s)) +
              (s.frozen === undefined ? "" : ` ${badge("frozen", "bad")}`) +
              (interruptedOf(s).length === 0
                ? ""
                : ` ${badge(`${interruptedOf(s).length} interrupted`, "warn")}`),
            h(num(s.counts.matched)),
            h(num(s.counts["missing-late"])),
            h(num(s.counts["missing-lost"])),
            h(num(s.counts.mismatched)),
            h(num(s.counts.duplicate)),
            h(num(s.counts.unexpected)),
            h(num(s.contradicted)),
            h(windowText(s)),
          ]),
          new Set([3, 4, 5, 6, 7, 8, 9]),
        );
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${h(title)}</title>`,
    `<style>\n${CSS}\n</style>`,
    "</head>",
    "<body>",
    "<header>",
    `<h1>${h(title)}</h1>`,
    // After a repair, what it came to is the news; the report shows what it started from.
    ...(repair === undefined
      ? []
      : [
          `<p class="headline">${badge(repairHeadline(repair).badge, repairHeadline(repair).tone)} <span class="meta">${h(repairHeadline(repair).text)}</span></p>`,
        ]),
    `<p>${repair === undefined ? "" : `<span class="meta">before repair:</span> `}${verdictBadge(report.consistent ? "consistent" : "inconsistent")} <span class="meta">${h(
      `${overallVerdict(report)}; ${rangeText(report)}; generated ${str(report.generatedAt)}; took ${formatDuration(report.durationMs)}`,
    )}</span></p>`,
    "</header>",
    summary,
    ...report.sinks.map((s, i) => hSink(s, i, top)),
    ...(repair === undefined ? [] : [hRepair(repair, top)]),
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------
// Entry point

function checkReport(report: unknown): ReconcileReport {
  return checkReportShape(report, "report");
}

function checkRepair(repair: unknown): RepairResult | undefined {
  return repair === undefined ? undefined : checkRepairShape(repair, "options.repair");
}

const RENDER_KEYS = optionKeys<RenderOptions>()("format", "repair", "topFindings", "title");

/**
 * Renders a reconciliation report, and the repair that followed when given, for people
 * or machines.
 *
 * - `json`: `{ report, repair }` as indented JSON (`repair` only when given): complete,
 *   and `JSON.parse` gives the inputs back.
 * - `markdown`: for a terminal or a pull request: the verdict (range, entries, when,
 *   how long), a summary table with one row per sink, a note for receipt-based sinks,
 *   read errors, interrupted repair actions, freezes, digest statistics, then each
 *   sink's top findings (key, position, checksums, what disagrees, differing JSON paths,
 *   age, contradicting receipt), and the repair log (per-sink summary, actions,
 *   interrupted actions settled, unresolved keys). Keys and paths are code
 *   spans with `|`, newlines and backticks escaped, so tables never break.
 * - `html`: one self-contained page (inline CSS and SVG; no scripts, links or external
 *   URLs) with, per sink, a stacked bar of matched / late / lost / mismatched / duplicate
 *   / unexpected, the consistency window, basis and verdict, the top findings and the
 *   repair log. Every string from the report is HTML-escaped.
 *
 * The output depends on the inputs alone (no clock, no randomness).
 * Throws `InvalidArgumentError` for a malformed report or options.
 *
 * @example
 * ```ts
 * import { reconcile, renderReport, repair } from "sinkproof";
 * const report = await reconcile({ ledger, sinks });
 * console.log(renderReport(report, { format: "markdown" }));
 * const fixed = await repair(report, { ledger, sinks });
 * await writeFile("report.html", renderReport(report, { format: "html", repair: fixed }));
 * ```
 */
export function renderReport(report: ReconcileReport, renderOptions: RenderOptions): string {
  const checked = checkReport(report);
  const options = readOptions<RenderOptions>(renderOptions, "options", RENDER_KEYS, {
    required: true,
  });
  const format = options.format as RenderOptions["format"];
  if (!(FORMATS as readonly unknown[]).includes(format)) {
    invalidArgument(
      "options.format",
      `must be one of ${FORMATS.map((f) => `"${f}"`).join(", ")}, got ${typeof format === "string" ? `"${format}"` : describe(format)}`,
    );
  }
  const top = options.topFindings ?? DEFAULT_TOP_FINDINGS;
  if (!Number.isSafeInteger(top) || top < 0) {
    invalidArgument(
      "options.topFindings",
      `must be a non-negative integer, got ${typeof top === "number" ? String(top) : describe(top)}`,
    );
  }
  const title = options.title ?? DEFAULT_TITLE;
  if (typeof title !== "string")
    invalidArgument("options.title", `must be a string, got ${describe(title)}`);
  const repair = checkRepair(options.repair);
  switch (format) {
    case "json":
      try {
        return JSON.stringify(
          repair === undefined ? { report: checked } : { report: checked, repair },
          null,
          2,
        );
      } catch (error) {
        return invalidArgument("report", "must be serializable as JSON", error);
      }
    case "markdown":
      return renderMarkdown(checked, repair, top, title);
    case "html":
      return renderHtml(checked, repair, top, title);
  }
}
