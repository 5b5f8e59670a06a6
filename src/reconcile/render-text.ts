/**
 * The text primitives of `renderReport`: escaping for Markdown and HTML (so that no
 * string from a report can break a table or carry markup), tables, durations and
 * counts in words. Pure functions of their input. Internal.
 *
 * @module
 */

import { show } from "../internal/arguments.js";
/**
 * A duration in human form: `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`, `3 d 4 h`.
 * Internal.
 */
export function formatDuration(ms: number): string {
  if (typeof ms !== "number" || Number.isNaN(ms)) return "n/a";
  if (ms === Number.POSITIVE_INFINITY) return "∞";
  const value = Math.max(0, ms);
  if (value > 0 && value < 0.5) return "<1 ms";
  const whole = Math.round(value);
  if (whole < 1000) return `${whole} ms`;
  const tenths = Math.round(value / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)} s`;
  const seconds = Math.round(value / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  const minutes = Math.round(value / 60_000);
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  const hours = Math.round(value / 3_600_000);
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** Characters shown escaped: C0/C1 controls, line separators, bidi and zero-width marks, lone surrogates. */
const INVISIBLE =
  /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/** Shows invisible characters as escapes (`\n`, `\u202e`). */
export function visible(text: string): string {
  return text.replace(
    INVISIBLE,
    (c) => SHORT_ESCAPES[c] ?? `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`,
  );
}

/** Any value as a string (reports built by hand may hold anything). */
export function str(value: unknown): string {
  return typeof value === "string" ? value : show(value);
}

/** A finite number as text, or `?`. */
export function num(value: unknown): string {
  return typeof value === "number" && Number.isFinite(value) ? String(value) : "?";
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Free text: Markdown punctuation escaped, on one line. */
export function mdText(value: unknown): string {
  return visible(str(value).replace(/\r\n|[\r\n]/g, " ")).replace(/[\\`*_[\]<>|~&#!]/g, "\\$&");
}

/**
 * A literal (key, path, name, checksum) as a code span. Backticks get a longer fence;
 * in tables, `|` is escaped (GFM unescapes it before reading the span).
 */
export function mdCode(value: unknown, inTable = true): string {
  let text = visible(str(value));
  if (text.length === 0) return "*(empty)*";
  if (inTable) text = text.replace(/\|/g, "\\|");
  let longest = 0;
  for (const run of text.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  const fence = "`".repeat(longest + 1);
  const pad = /^[ `]|[ `]$/.test(text) ? " " : "";
  return `${fence}${pad}${text}${pad}${fence}`;
}

export function mdTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  numeric: ReadonlySet<number> = new Set(),
): string[] {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(head),
    line(head.map((_, i) => (numeric.has(i) ? "---:" : "---"))),
    ...rows.map((row) => line(row.map((cell) => (cell === "" ? " " : cell)))),
  ];
}

export function mdMore(shown: number, total: number, what: string): string[] {
  return total > shown ? ["", `… and ${total - shown} more ${what}`] : [];
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and attribute values. */
export function h(value: unknown): string {
  return visible(str(value)).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

export function hCode(value: unknown): string {
  return `<code>${h(value)}</code>`;
}

export function hTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  numeric: ReadonlySet<number> = new Set(),
): string {
  const cls = (i: number) => (numeric.has(i) ? ' class="num"' : "");
  // In a box of its own that scrolls sideways: a wide table never pushes out of the page.
  return [
    '<div class="table">',
    "<table>",
    `<thead><tr>${head.map((c, i) => `<th${cls(i)}>${h(c)}</th>`).join("")}</tr></thead>`,
    "<tbody>",
    ...rows.map((row) => `<tr>${row.map((c, i) => `<td${cls(i)}>${c}</td>`).join("")}</tr>`),
    "</tbody>",
    "</table>",
    "</div>",
  ].join("\n");
}

export function hMore(shown: number, total: number, what: string): string {
  return total > shown ? `<p class="more">… and ${total - shown} more ${h(what)}</p>` : "";
}

export function badge(text: string, tone: "good" | "bad" | "warn" | "info"): string {
  return `<span class="badge ${tone}">${h(text)}</span>`;
}
