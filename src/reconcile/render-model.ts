/**
 * The report model of `renderReport`: what a rendered report says, worked out once from a
 * reconciliation report and the repair that followed, for the Markdown writer
 * (`render-markdown.ts`) and the HTML writer (`render-html.ts`) to draw. Every table is
 * built here, once, as rows of {@link Cell}s that name what a cell holds (free text, a
 * literal, a badge...), never how a format escapes it. Internal.
 *
 * @module
 */

import {
  type Badge,
  type Cell,
  code,
  count,
  duration,
  EMPTY,
  type More,
  type Table,
  type Tone,
  text,
} from "./render-cells.js";
import { historySummary } from "./render-history.js";
import {
  type InterruptedModel,
  interruptedModel,
  interruptedOf,
  mismatchText,
  type SettledModel,
  settledModel,
} from "./render-interrupted.js";
import { formatDuration, num, plural, str } from "./render-text.js";
import type { RepairOutcome, RepairResult } from "./repair.js";
import {
  FINDING_KINDS,
  type Finding,
  type FindingKind,
  type ReconcileReport,
  type SinkReport,
} from "./types.js";

/** The findings of one sink: how many, and the first ones in a table. */
export interface FindingsModel {
  /** Every non-matched finding the counts know of. */
  readonly total: number;
  /** How many the report lists (it may have been cut at `maxFindings`). */
  readonly listed: number;
  readonly truncated: boolean;
  /** Absent when there are none to show. */
  readonly table: Table | undefined;
  readonly more: More;
  /** The sentence when there are none: matched entries, or an unreadable sink. */
  readonly none: string;
}

/** One sink of the report. */
export interface SinkModel {
  readonly sink: SinkReport;
  /** Its place in the report, for anchors. */
  readonly index: number;
  readonly verdict: "consistent" | "inconsistent" | "unreadable";
  /** Its window and statistics, as label and value. */
  readonly facts: ReadonlyArray<readonly [string, string]>;
  readonly findings: FindingsModel;
  /** Interrupted repair actions; `undefined` when there are none. */
  readonly interrupted: InterruptedModel | undefined;
}

/** The per-sink lists of a repair: the actions, or the unresolved keys. */
export interface SinkList {
  readonly name: string;
  readonly table: Table | undefined;
  readonly more: More;
}

/** The repair that followed the report. */
export interface RepairModel {
  readonly repair: RepairResult;
  /** The one line that leads the report. */
  readonly headline: { readonly text: string; readonly tone: Tone; readonly badge: string };
  /** Its summary, after the converged or not verdict. */
  readonly summary: {
    readonly actions: string;
    readonly startedAt: string;
    readonly took: string;
    readonly verification: string | undefined;
  };
  readonly sinks: Table;
  readonly actions: readonly SinkList[];
  readonly settled: SettledModel | undefined;
  readonly unresolved: readonly SinkList[];
}

/** A whole rendered report. */
export interface ReportModel {
  readonly title: string;
  readonly report: ReconcileReport;
  /** The overall verdict, in words. */
  readonly verdict: string;
  /** The ledger range, in words. */
  readonly range: string;
  readonly took: string;
  /** One row per sink; absent when no sink was reconciled. */
  readonly summary: Table | undefined;
  readonly sinks: readonly SinkModel[];
  readonly repair: RepairModel | undefined;
}

/** The note on a sink judged from receipts alone. */
export const RECEIPTS_NOTE =
  "judged from receipts only: weaker, since a receipt says what was written, not what is still there";

/** "Some reports were truncated" after a repair's summary. */
export const REMAINING_NOTE =
  " Some reports were truncated: reconcile and repair again for the rest.";

function sinkVerdict(sink: SinkReport): SinkModel["verdict"] {
  if (sink.error !== undefined) return "unreadable";
  return sink.consistent ? "consistent" : "inconsistent";
}

function verdictBadge(verdict: string): Badge {
  return { text: verdict, tone: verdict === "consistent" ? "good" : "bad" };
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

/** True when every finding of the sink is a late entry: the sink lags, it does not differ. */
function onlyLate(sink: SinkReport): boolean {
  for (const kind of FINDING_KINDS) {
    if (kind !== "matched" && kind !== "missing-late" && sink.counts[kind] > 0) return false;
  }
  return true;
}

/**
 * The consistency window in words. A sink whose only differences are late entries is
 * behind (a lag); a sink with any other finding is not behind, it differs: the window then
 * says where the first difference is, not how far behind it runs.
 */
function windowText(sink: SinkReport): string {
  const w = sink.window;
  if (sink.error !== undefined) return "unknown: the sink could not be read";
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
function repairHeadline(repair: RepairResult): RepairModel["headline"] {
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

function statusText(outcome: RepairOutcome): string {
  return outcome.receipt === undefined ? outcome.status : `${outcome.status} (${outcome.receipt})`;
}

/**
 * The kinds of finding as a report shows them, in order, with the label of each: the
 * summary's count columns and the HTML bar's segments both come from this list, and the
 * build fails until it names every kind.
 */
const KIND_COLUMN_LIST = [
  { kind: "matched", label: "matched" },
  { kind: "missing-late", label: "late" },
  { kind: "missing-lost", label: "lost" },
  { kind: "mismatched", label: "mismatched" },
  { kind: "duplicate", label: "duplicate" },
  { kind: "unexpected", label: "unexpected" },
] as const satisfies ReadonlyArray<{ kind: FindingKind; label: string }>;
/** Compile-time: a column for every kind of finding. */
const _everyKindShown: [Exclude<FindingKind, (typeof KIND_COLUMN_LIST)[number]["kind"]>] extends [
  never,
]
  ? true
  : never = true;
export const KIND_COLUMNS: ReadonlyArray<{ readonly kind: FindingKind; readonly label: string }> =
  KIND_COLUMN_LIST;

const SUMMARY_HEAD = [
  "sink",
  "basis",
  "verdict",
  ...KIND_COLUMNS.map((c) => c.label),
  "contradicted",
  "window",
];

function summaryTable(sinks: readonly SinkModel[]): Table {
  return {
    head: SUMMARY_HEAD,
    rows: sinks.map(({ sink: s, index, verdict }) => {
      const interrupted = interruptedOf(s).length;
      const badges = [verdictBadge(verdict)];
      if (s.frozen !== undefined) badges.push({ text: "frozen", tone: "bad" });
      if (interrupted > 0) badges.push({ text: `${interrupted} interrupted`, tone: "warn" });
      return [
        { t: "link", text: str(s.name), href: `#sink-${index}` },
        text(s.basis),
        { t: "badges", items: badges },
        ...KIND_COLUMNS.map((c) => count(s.counts[c.kind])),
        count(s.contradicted),
        text(windowText(s)),
      ];
    }),
    numeric: new Set(KIND_COLUMNS.map((_, i) => 3 + i).concat(3 + KIND_COLUMNS.length)),
  };
}

function findingRow(f: Finding): Cell[] {
  const observed = observedText(f);
  const receipt = f.receipt === undefined ? "" : `says ${f.receipt}`;
  return [
    { t: "tagged", text: kindText(f), cls: `kind k-${str(f.kind)}` },
    code(f.key),
    f.position === undefined ? EMPTY : count(f.position),
    f.expected === undefined ? EMPTY : code(f.expected),
    observed === undefined ? EMPTY : code(observed),
    f.differences === undefined
      ? { t: "paths", paths: f.paths ?? [] }
      : { t: "diffs", diffs: f.differences },
    f.ageMs === undefined ? EMPTY : duration(f.ageMs),
    receipt === "" ? EMPTY : { t: "badges", items: [{ text: receipt, tone: "warn" }] },
  ];
}

function findingsModel(sink: SinkReport, top: number): FindingsModel {
  const total = findingTotal(sink);
  const shown = total === 0 ? [] : topOf(sink, top);
  return {
    total,
    listed: sink.findings.length,
    truncated: sink.truncated,
    table:
      shown.length === 0
        ? undefined
        : {
            head: [
              "kind",
              "key",
              "position",
              "expected",
              "observed",
              "differing paths",
              "age",
              "receipt",
            ],
            rows: shown.map(findingRow),
            numeric: new Set([2]),
          },
    more: {
      shown: shown.length,
      total,
      what: total - shown.length === 1 ? "finding" : "findings",
    },
    none:
      sink.error === undefined
        ? `No findings: ${plural(sink.counts.matched, "entry", "entries")} matched.`
        : "No findings (the sink could not be read).",
  };
}

/** The window's facts: none known of a sink that could not be read. */
function windowFacts(sink: SinkReport): Array<[string, string]> {
  if (sink.error !== undefined) return [["window", "unknown: the sink could not be read"]];
  const w = sink.window;
  const lagging = w.behindEntries === 0 || onlyLate(sink);
  return [
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
  ];
}

function factsOf(sink: SinkReport): Array<[string, string]> {
  const facts: Array<[string, string]> = [
    ...windowFacts(sink),
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
  if (sink.history !== undefined && sink.history.length > 0)
    facts.push(["history", historySummary(sink.history)]);
  facts.push(["took", formatDuration(sink.durationMs)]);
  return facts;
}

function sinkModel(sink: SinkReport, index: number, top: number): SinkModel {
  return {
    sink,
    index,
    verdict: sinkVerdict(sink),
    facts: factsOf(sink),
    findings: findingsModel(sink, top),
    interrupted: interruptedModel(sink, top),
  };
}

const REPAIR_SINKS_HEAD = [
  "sink",
  "planned",
  "done",
  "failed",
  "flagged",
  "already resolved",
  "deferred",
  "converged",
  "unfrozen",
];

function sinkLists<T extends { readonly sink: string }>(
  items: readonly T[],
  order: readonly string[],
  top: number,
  what: string,
  table: (shown: readonly T[]) => Table,
): SinkList[] {
  return [...bySink(items, order)].map(([name, list]) => {
    const shown = list.slice(0, top);
    return {
      name,
      table: shown.length === 0 ? undefined : table(shown),
      more: { shown: shown.length, total: list.length, what },
    };
  });
}

function repairModel(repair: RepairResult, top: number): RepairModel {
  const order = repair.sinks.map((s) => s.name);
  return {
    repair,
    headline: repairHeadline(repair),
    summary: {
      actions: plural(repair.actions.length, "action"),
      startedAt: repair.startedAt,
      took: formatDuration(repair.durationMs),
      verification:
        repair.verification === undefined
          ? undefined
          : repair.verification.consistent
            ? "consistent"
            : "inconsistent",
    },
    sinks: {
      head: REPAIR_SINKS_HEAD,
      rows: repair.sinks.map((s) => [
        code(s.name),
        count(s.planned),
        count(s.done),
        count(s.failed),
        count(s.flagged),
        count(s.alreadyResolved),
        count(s.deferred),
        text(s.converged ? "yes" : "no"),
        text(s.unfrozen ? "yes" : "no"),
      ]),
      numeric: new Set([1, 2, 3, 4, 5, 6]),
    },
    actions: sinkLists(
      repair.actions,
      order,
      top,
      "actions (see the ledger's audit log)",
      (shown) => ({
        head: ["action", "key", "position", "finding", "status", "audit record", "error"],
        rows: shown.map((a) => [
          text(a.action),
          code(a.key),
          a.position === undefined ? EMPTY : count(a.position),
          text(a.finding),
          { t: "tagged", text: statusText(a), cls: `status s-${str(a.status)}` },
          a.audit === undefined ? EMPTY : count(a.audit),
          a.error === undefined
            ? EMPTY
            : { t: "error", code: str(a.error.code), message: str(a.error.message) },
        ]),
        numeric: new Set([2, 5]),
      }),
    ),
    settled: settledModel(repair, top),
    unresolved: sinkLists(repair.unresolved, order, top, "unresolved keys", (shown) => ({
      head: ["key", "finding", "reason"],
      rows: shown.map((u) => [code(u.key), text(u.finding), text(u.reason)]),
      numeric: new Set(),
    })),
  };
}

/** Works out what a report (and the repair that followed) says, for the writers. */
export function reportModel(
  report: ReconcileReport,
  repair: RepairResult | undefined,
  top: number,
  title: string,
): ReportModel {
  const sinks = report.sinks.map((s, i) => sinkModel(s, i, top));
  return {
    title,
    report,
    verdict: overallVerdict(report),
    range: rangeText(report),
    took: formatDuration(report.durationMs),
    summary: sinks.length === 0 ? undefined : summaryTable(sinks),
    sinks,
    repair: repair === undefined ? undefined : repairModel(repair, top),
  };
}
