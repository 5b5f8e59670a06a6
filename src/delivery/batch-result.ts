/**
 * What a batch writer answered, read once and checked: the keys it failed (each with its
 * error) and the offsets it gave, or an `InvalidArgumentError` at `options.writeBatch()`
 * for anything else; and the single writer a guard makes of a batch writer when it was
 * given no `write`.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { readArray, readOptions } from "../internal/options.js";
import type { SinkBatchWriter, SinkWriteResult, SinkWriter } from "./guard-types.js";

const WHERE = "options.writeBatch()";
const RESULT_KEYS = ["failed", "offsets"] as const;
/** Most failures a batch answer may list: one per envelope of the largest batch. */
const MAX_FAILED = 10_000;

/** A batch writer's answer, checked against the keys of the batch it was given. */
export interface BatchAnswer {
  /** The error of each key it did not write. */
  readonly failed: ReadonlyMap<string, unknown>;
  /** The offset of each key it gave one for. */
  readonly offsets: ReadonlyMap<string, string>;
}

const ALL_WRITTEN: BatchAnswer = Object.freeze({ failed: new Map(), offsets: new Map() });

/**
 * Reads a batch writer's answer for a batch of `keys`: nothing means all written; else an
 * object with `failed` (an array of `{ key, error }`, each key one of the batch's) and
 * `offsets` (an object of key to string). Anything else is an `InvalidArgumentError`.
 */
export function readBatchAnswer(answer: unknown, keys: ReadonlySet<string>): BatchAnswer {
  if (answer === undefined || answer === null) return ALL_WRITTEN;
  try {
    // A getter or a Proxy trap that throws is a bad answer too, at the writer's path.
    return reading(WHERE, () => readAnswer(answer, keys));
  } catch (error) {
    if (typeof error === "object" && error !== null) BAD_ANSWERS.add(error);
    throw error;
  }
}

/** Errors {@link readBatchAnswer} threw: the guard stores the receipts, then throws them. */
const BAD_ANSWERS = new WeakSet<object>();

/** True for an error a batch writer's bad answer made (see {@link readBatchAnswer}). */
export function isBadBatchAnswer(error: unknown): boolean {
  return typeof error === "object" && error !== null && BAD_ANSWERS.has(error);
}

function readAnswer(answer: unknown, keys: ReadonlySet<string>): BatchAnswer {
  if (typeof answer !== "object" || answer === null || Array.isArray(answer)) {
    invalidArgument(WHERE, `must return nothing or { failed?, offsets? }, got ${describe(answer)}`);
  }
  // Own fields only, each read once (a Proxy or a getter cannot change them under the check).
  const read = readOptions<{ failed: unknown; offsets: unknown }>(answer, WHERE, RESULT_KEYS, {
    what: "a field of a batch result (failed, offsets)",
  });
  const failed = new Map<string, unknown>();
  if (read.failed !== undefined) {
    const list = readArray(read.failed, `${WHERE}.failed`, MAX_FAILED);
    list.forEach((item: unknown, i) => {
      const at = `${WHERE}.failed[${i}]`;
      const entry = readOptions<{ key: unknown; error: unknown }>(item, at, ["key", "error"], {
        required: true,
        what: "a field of a batch failure (key, error)",
      });
      const key = entry.key;
      if (typeof key !== "string" || !keys.has(key)) {
        invalidArgument(
          `${at}.key`,
          `must be the key of an envelope of the batch, got ${describe(key)}`,
        );
      }
      if (!failed.has(key)) {
        failed.set(key, entry.error ?? new Error("the batch writer failed it, without an error"));
      }
    });
  }
  const offsets = new Map<string, string>();
  if (read.offsets !== undefined) {
    const given = read.offsets;
    if (typeof given !== "object" || given === null || Array.isArray(given)) {
      invalidArgument(
        `${WHERE}.offsets`,
        `must be an object of key to offset, got ${describe(given)}`,
      );
    }
    for (const key of Object.keys(given)) {
      const offset: unknown = (given as Record<string, unknown>)[key];
      if (!keys.has(key) || typeof offset !== "string") {
        invalidArgument(
          `${WHERE}.offsets[${JSON.stringify(key)}]`,
          `must be the string offset of an envelope of the batch, got ${describe(offset)}`,
        );
      }
      offsets.set(key, offset);
      if (offsets.size > keys.size) break;
    }
  }
  return { failed, offsets };
}

/**
 * The single writer of a guard given only `writeBatch`: a batch of one, its failure
 * thrown (so the guard's retries treat it as a single write's error). A bad answer is
 * thrown as it is: the guard stores the `failed` receipt, then throws it (never retried).
 */
export function batchOfOne(writeBatch: SinkBatchWriter): SinkWriter {
  return async (envelope: Envelope, context): Promise<SinkWriteResult | undefined> => {
    const answer = readBatchAnswer(
      await writeBatch([envelope], {
        sink: context.sink,
        attempt: context.attempt,
        replay: context.replay,
        get signal() {
          return context.signal;
        },
        items: [context],
      }),
      new Set([envelope.key]),
    );
    if (answer.failed.has(envelope.key)) throw answer.failed.get(envelope.key);
    const offset = answer.offsets.get(envelope.key);
    return offset === undefined ? undefined : { offset };
  };
}
