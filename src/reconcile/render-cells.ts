/**
 * The cells and tables of the report model (`render-model.ts`): what a cell holds, by
 * kind, so that the Markdown and HTML writers each draw and escape it their own way.
 * Internal.
 *
 * @module
 */

import { formatDuration, num, str } from "./render-text.js";
import type { PayloadDifference } from "./types.js";

/** The tone of a badge. */
export type Tone = "good" | "bad" | "warn" | "info";

/** A badge: a word in a coloured box in HTML, the word in Markdown. */
export interface Badge {
  readonly text: string;
  readonly tone: Tone;
}

/**
 * One table cell, by what it holds. Each writer draws and escapes it its own way.
 * - `text`: free text; `plain`: text with nothing to escape in Markdown (a number, a
 *   duration), drawn as it is there; `code`: a literal (key, name, checksum, path);
 * - `badges`: badges (Markdown: their words joined by commas);
 * - `tagged`: text with a class (HTML colours it);
 * - `link`: a sink's name linking to its section (Markdown: the name alone);
 * - `paths` and `diffs`: the differing paths of a mismatch, without and with values;
 * - `error`: an error code and its message.
 */
export type Cell =
  | { readonly t: "text"; readonly text: string }
  | { readonly t: "plain"; readonly text: string }
  | { readonly t: "code"; readonly text: string }
  | { readonly t: "badges"; readonly items: readonly Badge[] }
  | { readonly t: "tagged"; readonly text: string; readonly cls: string }
  | { readonly t: "link"; readonly text: string; readonly href: string }
  | { readonly t: "paths"; readonly paths: readonly string[] }
  | { readonly t: "diffs"; readonly diffs: readonly PayloadDifference[] }
  | { readonly t: "error"; readonly code: string; readonly message: string };

/** A table: its head, its rows, and which columns are numbers (right-aligned). */
export interface Table {
  readonly head: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
  readonly numeric: ReadonlySet<number>;
}

/** A list cut at `shown` of `total`: the writers add "… and N more `what`". */
export interface More {
  readonly shown: number;
  readonly total: number;
  readonly what: string;
}

/** Free text. */
export const text = (value: unknown): Cell => ({ t: "text", text: str(value) });
/** A literal, shown as code. */
export const code = (value: unknown): Cell => ({ t: "code", text: str(value) });
/** A number (`?` when it is not a finite one). */
export const count = (value: unknown): Cell => ({ t: "plain", text: num(value) });
/** A duration in words. */
export const duration = (ms: number): Cell => ({ t: "plain", text: formatDuration(ms) });
/** An empty cell. */
export const EMPTY: Cell = text("");
