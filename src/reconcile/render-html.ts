/**
 * The HTML writer of `renderReport`: draws the report model (`render-model.ts`) as one
 * self-contained page (inline CSS and SVG, no scripts, links or external assets), with a
 * stacked bar of the findings per sink. Every string from the report is HTML-escaped.
 * Internal.
 *
 * @module
 */

import type { Badge, Cell, More, Table } from "./render-cells.js";
import { historyChart } from "./render-history.js";
import {
  KIND_COLUMNS,
  RECEIPTS_NOTE,
  REMAINING_NOTE,
  type RepairModel,
  type ReportModel,
  type SinkList,
  type SinkModel,
} from "./render-model.js";
import { badge, h, hCode, hMore, hTable, plural, str } from "./render-text.js";
import type { FindingKind, SinkReport } from "./types.js";

/** The kinds a sink's bar shows, in order, with their label and colour. */
/** The colour of each kind's segment in a sink's bar. */
const COLORS: Readonly<Record<FindingKind, string>> = {
  matched: "#2e7d32",
  "missing-late": "#f9a825",
  "missing-lost": "#c62828",
  mismatched: "#ef6c00",
  duplicate: "#1565c0",
  unexpected: "#6a1b9a",
};

/** The kinds a sink's bar shows, in the report's order, with their label and colour. */
const SEGMENTS = KIND_COLUMNS.map((c) => ({ ...c, color: COLORS[c.kind] }));

/** Width of a bar in SVG units, and the narrowest a nonzero segment is drawn. */
const BAR_WIDTH = 600;
const BAR_HEIGHT = 22;
const MIN_SEGMENT = 4;

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

function bar(sink: SinkReport): string {
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

function badgeOf(b: Badge): string {
  return badge(b.text, b.tone);
}

function verdictBadge(verdict: string): string {
  return badge(verdict, verdict === "consistent" ? "good" : "bad");
}

function cell(c: Cell): string {
  switch (c.t) {
    case "text":
    case "plain":
      return h(c.text);
    case "code":
      return hCode(c.text);
    case "badges":
      return c.items.map(badgeOf).join(" ");
    case "tagged":
      return `<span class="${h(c.cls)}">${h(c.text)}</span>`;
    case "link":
      return `<a href="${h(c.href)}">${hCode(c.text)}</a>`;
    case "paths":
      return c.paths.map((p) => hCode(p)).join(" ");
    case "diffs":
      return c.diffs
        .map(
          (d) =>
            `<div class="diff">${hCode(d.path)}: ${hCode(d.expected)} → ${hCode(d.observed)}</div>`,
        )
        .join("");
    case "error":
      return `${hCode(c.code)} ${h(c.message)}`;
  }
}

function table(t: Table): string {
  return hTable(
    t.head,
    t.rows.map((row) => row.map(cell)),
    t.numeric,
  );
}

function more(m: More): string {
  return hMore(m.shown, m.total, m.what);
}

function findings({ findings: f }: SinkModel): string {
  if (f.total === 0) return `<p>${h(f.none)}</p>`;
  const out = [
    `<h3>Findings</h3>`,
    `<p>${h(plural(f.total, "finding"))}${f.more.shown < f.total ? `, ${f.more.shown} shown` : ""}.${
      f.truncated
        ? ` The report lists ${f.listed}: reconcile with a larger maxFindings to list the rest.`
        : ""
    }</p>`,
  ];
  if (f.table !== undefined) out.push(table(f.table));
  out.push(more(f.more));
  return out.filter((x) => x !== "").join("\n");
}

function interrupted({ interrupted: i }: SinkModel): string {
  if (i === undefined) return "";
  return [
    `<p class="error"><b>${h(plural(i.total, "interrupted repair action"))}:</b> ${h(i.note)}.</p>`,
    i.table === undefined ? "" : table(i.table),
    more(i.more),
  ]
    .filter((x) => x !== "")
    .join("\n");
}

function sinkSection(m: SinkModel): string {
  const sink = m.sink;
  const out = [
    `<section class="sink" id="sink-${m.index}">`,
    `<h2>${hCode(sink.name)} ${badge(sink.basis, sink.basis === "receipts" ? "warn" : "info")} ${verdictBadge(m.verdict)}${sink.frozen === undefined ? "" : ` ${badge("frozen", "bad")}`}</h2>`,
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
  const i = interrupted(m);
  if (i !== "") out.push(i);
  out.push(bar(sink));
  if (sink.history !== undefined) out.push(historyChart(sink.history));
  out.push(
    `<dl class="facts">${m.facts.map(([k, v]) => `<div><dt>${h(k)}</dt><dd>${h(v)}</dd></div>`).join("")}</dl>`,
  );
  out.push(findings(m));
  out.push("</section>");
  return out.join("\n");
}

function sinkLists(out: string[], lists: readonly SinkList[], heading: string): void {
  if (lists.length > 0) out.push(heading);
  for (const list of lists) {
    out.push(`<h4>${hCode(list.name)}</h4>`);
    if (list.table !== undefined) out.push(table(list.table));
    const rest = more(list.more);
    if (rest !== "") out.push(rest);
  }
}

function repairSection(m: RepairModel): string {
  const { repair, summary } = m;
  const out = [
    `<section class="repair">`,
    `<h2>Repair${repair.dryRun ? " (dry run: nothing executed)" : ""} ${badge(
      repair.converged ? "converged" : "not converged",
      repair.converged ? "good" : "bad",
    )}</h2>`,
    `<p>${h(summary.actions)}, started ${h(summary.startedAt)}, took ${h(summary.took)}.${
      summary.verification === undefined ? "" : ` Verification: ${h(summary.verification)}.`
    }${repair.remaining ? REMAINING_NOTE : ""}</p>`,
    table(m.sinks),
  ];
  sinkLists(out, m.actions, "<h3>Actions</h3>");
  if (m.settled !== undefined) {
    out.push(
      ["<h3>Interrupted actions settled</h3>", table(m.settled.table), more(m.settled.more)]
        .filter((x) => x !== "")
        .join("\n"),
    );
  }
  sinkLists(out, m.unresolved, "<h3>Unresolved</h3>");
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
figure.history{margin:8px 0}figure.history figcaption{color:var(--muted);font-size:12px}
.s-failed,.s-flagged{color:#cf222e;font-weight:600}
`.trim();

/** The report model as one self-contained HTML page. */
export function renderHtml(m: ReportModel): string {
  const report = m.report;
  const head = m.repair?.headline;
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${h(m.title)}</title>`,
    `<style>\n${CSS}\n</style>`,
    "</head>",
    "<body>",
    "<header>",
    `<h1>${h(m.title)}</h1>`,
    // After a repair, what it came to is the news; the report shows what it started from.
    ...(head === undefined
      ? []
      : [
          `<p class="headline">${badge(head.badge, head.tone)} <span class="meta">${h(head.text)}</span></p>`,
        ]),
    `<p>${m.repair === undefined ? "" : `<span class="meta">before repair:</span> `}${verdictBadge(report.consistent ? "consistent" : "inconsistent")} <span class="meta">${h(
      `${m.verdict}; ${m.range}; generated ${str(report.generatedAt)}; took ${m.took}`,
    )}</span></p>`,
    "</header>",
    m.summary === undefined ? "<p>No sinks were reconciled.</p>" : table(m.summary),
    ...(report.historyError === undefined
      ? []
      : [
          `<p class="error"><b>Window history not kept:</b> ${hCode(report.historyError.code)} ${h(report.historyError.message)}</p>`,
        ]),
    ...m.sinks.map(sinkSection),
    ...(m.repair === undefined ? [] : [repairSection(m.repair)]),
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
