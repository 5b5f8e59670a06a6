/**
 * The HTML report's time series of one sink's consistency window (`SinkReport.history`):
 * an inline SVG of how far behind the sink was at each pass (time behind, a line with one
 * point per pass, red where the pass found it inconsistent), with the axes labelled, and
 * one line of summary for the text formats. Internal.
 *
 * @module
 */

import type { WindowSample } from "../ledger/types.js";
import { formatDuration, h, num, plural } from "./render-text.js";

const WIDTH = 600;
const HEIGHT = 140;
/** Room for the labels: left (the y axis), bottom (the times), top. */
const LEFT = 64;
const BOTTOM = 22;
const TOP = 8;
const RIGHT = 8;

function fixed(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/**
 * A "nice" top for an axis that must reach `max` (1, 2 or 5 times a power of ten, at
 * least 1 ms); `max` itself when that is not a finite number above it.
 */
function niceTop(max: number): number {
  if (!(max > 1)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) {
    const top = step * power;
    if (top >= max && Number.isFinite(top)) return top;
  }
  return max;
}

/** The least and greatest of `values` (not empty), without spreading them into a call. */
function extent(values: readonly number[]): [number, number] {
  let least = Number.POSITIVE_INFINITY;
  let most = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < least) least = v;
    if (v > most) most = v;
  }
  return [least, most];
}

/** One line for a person: how many passes, how many inconsistent, the worst time behind. */
export function historySummary(history: readonly WindowSample[]): string {
  const bad = history.filter((s) => !s.consistent).length;
  const worst = history.length === 0 ? 0 : Math.max(0, extent(history.map((s) => s.behindMs))[1]);
  const span =
    history.length < 2
      ? ""
      : ` from ${(history[0] as WindowSample).at} to ${(history.at(-1) as WindowSample).at}`;
  return `${plural(history.length, "pass", "passes")}${span}: ${bad === 0 ? "all consistent" : `${bad} inconsistent`}, at most ${formatDuration(worst)} behind`;
}

/**
 * The series as one SVG, or "" for no samples. Points are placed by time (by order when
 * every sample has the same time), the y axis is time behind from 0 to a round top.
 */
export function historyChart(history: readonly WindowSample[]): string {
  if (history.length === 0) return "";
  const times = history.map((s) => Date.parse(s.at));
  const [first, last] = extent(times);
  const top = niceTop(extent(history.map((s) => s.behindMs))[1]);
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const xOf = (i: number) =>
    LEFT +
    (last > first
      ? (((times[i] as number) - first) / (last - first)) * plotW
      : history.length === 1
        ? plotW / 2
        : (i / (history.length - 1)) * plotW);
  // A value past the largest finite top (1e308 ms and more) is drawn at the top.
  const yOf = (ms: number) => TOP + plotH - Math.min(1, ms / top) * plotH;
  const points = history.map((s, i) => `${fixed(xOf(i))},${fixed(yOf(s.behindMs))}`);
  const dots = history.map((s, i) => {
    const what = `${s.at}: ${s.consistent ? "consistent" : "inconsistent"}, ${formatDuration(s.behindMs)} behind (${plural(s.behindEntries, "entry", "entries")}), matched to position ${num(s.position)}`;
    return `<circle cx="${fixed(xOf(i))}" cy="${fixed(yOf(s.behindMs))}" r="3" fill="${s.consistent ? "#2e7d32" : "#c62828"}"><title>${h(what)}</title></circle>`;
  });
  const label = `Consistency window over ${historySummary(history)}`;
  const axis = "var(--muted,#59636e)";
  return [
    `<figure class="history"><svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="100%" height="${HEIGHT}" role="img" aria-label="${h(label)}">`,
    `<line x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${TOP + plotH}" stroke="${axis}"/>`,
    `<line x1="${LEFT}" y1="${TOP + plotH}" x2="${WIDTH - RIGHT}" y2="${TOP + plotH}" stroke="${axis}"/>`,
    `<text x="${LEFT - 6}" y="${TOP + 10}" text-anchor="end" font-size="11" fill="${axis}">${h(formatDuration(top))}</text>`,
    `<text x="${LEFT - 6}" y="${TOP + plotH}" text-anchor="end" font-size="11" fill="${axis}">0</text>`,
    `<text x="${LEFT}" y="${HEIGHT - 6}" font-size="11" fill="${axis}">${h((history[0] as WindowSample).at)}</text>`,
    `<text x="${WIDTH - RIGHT}" y="${HEIGHT - 6}" text-anchor="end" font-size="11" fill="${axis}">${h((history.at(-1) as WindowSample).at)}</text>`,
    `<polyline points="${points.join(" ")}" fill="none" stroke="#1565c0" stroke-width="1.5"/>`,
    ...dots,
    `</svg><figcaption>${h(`Time behind at each pass: ${historySummary(history)}.`)}</figcaption></figure>`,
  ].join("\n");
}
