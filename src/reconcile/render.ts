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
import { renderHtml } from "./render-html.js";
import { renderMarkdown } from "./render-markdown.js";
import { reportModel } from "./render-model.js";
import { formatDuration } from "./render-text.js";
import type { RepairResult } from "./repair.js";
import { checkRepairShape, checkReportShape } from "./shape.js";
import type { ReconcileReport } from "./types.js";

export { formatDuration };

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
      return renderMarkdown(reportModel(checked, repair, top, title));
    case "html":
      return renderHtml(reportModel(checked, repair, top, title));
  }
}
