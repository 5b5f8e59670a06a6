/**
 * Consistency-window history as the ledger keeps it: `recordWindows`' samples checked,
 * `windowHistory`'s query checked, and stored samples checked on read (their damage a
 * `CorruptionError`). Internal.
 *
 * @module
 */

import { isEnvelopeTime } from "../envelope/schema.js";
import { describe, eachUnderPath, invalidArgument } from "../internal/arguments.js";
import { optionKeys, readArray, readOptions } from "../internal/options.js";
import { corruption, type StorageSite } from "./read-checks.js";
import { WINDOW_HISTORY_LIMIT, type WindowHistoryQuery, type WindowSample } from "./types.js";
import { checkName } from "./validate.js";

const SAMPLE_KEYS = optionKeys<WindowSample>()(
  "sink",
  "at",
  "position",
  "behindEntries",
  "behindMs",
  "consistent",
);
const QUERY_KEYS = optionKeys<WindowHistoryQuery>()("limit");

/** How many samples one `recordWindows` call takes. */
export const MAX_SAMPLES = 1000;

function count(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    invalidArgument(where, `must be a non-negative integer, got ${describe(value)}`);
  return value + 0;
}

/** One sample, checked and frozen (a copy). */
export function checkWindowSample(input: unknown, where: string): WindowSample {
  const o = readOptions<WindowSample>(input, where, SAMPLE_KEYS, { required: true });
  const sink = checkName(o.sink, `${where}.sink`);
  if (typeof o.at !== "string" || !isEnvelopeTime(o.at))
    invalidArgument(
      `${where}.at`,
      `must be an ISO-8601 UTC time with milliseconds, got ${describe(o.at)}`,
    );
  const position = count(o.position, `${where}.position`);
  const behindEntries = count(o.behindEntries, `${where}.behindEntries`);
  const behindMs = o.behindMs;
  if (typeof behindMs !== "number" || !Number.isFinite(behindMs) || behindMs < 0)
    invalidArgument(
      `${where}.behindMs`,
      `must be a non-negative finite number, got ${describe(behindMs)}`,
    );
  if (typeof o.consistent !== "boolean")
    invalidArgument(`${where}.consistent`, `must be a boolean, got ${describe(o.consistent)}`);
  return Object.freeze({
    sink,
    at: o.at,
    position,
    behindEntries,
    behindMs: behindMs + 0,
    consistent: o.consistent,
  });
}

/** `recordWindows`' argument, checked: every sample before any is kept. */
export function checkWindowSamples(samples: unknown, where: string): WindowSample[] {
  return eachUnderPath(readArray(samples, where, MAX_SAMPLES), "sample", where, (sample) =>
    checkWindowSample(sample, "sample"),
  );
}

/** `windowHistory`'s query, checked: the number of samples it asks for. */
export function checkHistoryQuery(query: unknown, where: string): number {
  const o = readOptions<WindowHistoryQuery>(query, where, QUERY_KEYS);
  const limit = o.limit ?? WINDOW_HISTORY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > WINDOW_HISTORY_LIMIT)
    invalidArgument(
      `${where}.limit`,
      `must be an integer from 1 to ${WINDOW_HISTORY_LIMIT}, got ${describe(limit)}`,
    );
  return limit;
}

/**
 * Samples of `sink` read from storage, oldest first: each checked as `recordWindows` checks
 * one and of that sink, at most `limit`; anything else is damage.
 */
export function adoptWindows(
  stored: unknown,
  sink: string,
  limit: number,
  site: StorageSite,
): readonly WindowSample[] {
  if (!Array.isArray(stored) || stored.length > limit)
    throw corruption(
      site,
      undefined,
      `the window history of ${JSON.stringify(sink)} is not a list of at most ${limit} samples`,
    );
  const out: WindowSample[] = [];
  for (const item of stored) {
    let sample: WindowSample;
    try {
      sample = checkWindowSample(item, "sample");
    } catch (error) {
      throw corruption(
        site,
        undefined,
        `a sample of the window history of ${JSON.stringify(sink)} is not one: ${(error as Error).message}`,
        error,
      );
    }
    if (sample.sink !== sink)
      throw corruption(
        site,
        undefined,
        `the window history asked for ${JSON.stringify(sink)} holds a sample of ${JSON.stringify(sample.sink)}`,
      );
    out.push(sample);
  }
  return Object.freeze(out);
}

/** A ring of each sink's most recent samples, for the ledgers that keep them in memory. */
export class WindowHistories {
  readonly #bySink = new Map<string, WindowSample[]>();

  /** Keeps `samples` (checked already), each sink's most recent {@link WINDOW_HISTORY_LIMIT}. */
  add(samples: readonly WindowSample[]): void {
    for (const sample of samples) {
      let list = this.#bySink.get(sample.sink);
      if (list === undefined) {
        list = [];
        this.#bySink.set(sample.sink, list);
      }
      list.push(sample);
      // Trimmed in chunks, so that a long history costs O(1) per sample.
      if (list.length >= 2 * WINDOW_HISTORY_LIMIT)
        list.splice(0, list.length - WINDOW_HISTORY_LIMIT);
    }
  }

  /** The most recent `limit` samples of `sink`, oldest first. */
  get(sink: string, limit: number): WindowSample[] {
    const list = this.#bySink.get(sink) ?? [];
    return list.slice(Math.max(0, list.length - Math.min(limit, WINDOW_HISTORY_LIMIT)));
  }
}
