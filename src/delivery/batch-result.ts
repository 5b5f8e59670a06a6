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
import type { SinkBatchWriter, SinkWriteResult, SinkWriter } from "./guard-types.js";

const WHERE = "options.writeBatch()";
const RESULT_KEYS: ReadonlySet<string> = new Set(["failed", "offsets"]);

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
  return reading(WHERE, () => {
    if (typeof answer !== "object" || Array.isArray(answer)) {
      invalidArgument(
        WHERE,
        `must return nothing or { failed?, offsets? }, got ${describe(answer)}`,
      );
    }
    for (const name of Object.keys(answer)) {
      if (!RESULT_KEYS.has(name)) {
        invalidArgument(`${WHERE}.${name}`, "is not a field of a batch result (failed, offsets)");
      }
    }
    const { failed: givenFailed, offsets: givenOffsets } = answer as Record<string, unknown>;
    const failed = new Map<string, unknown>();
    if (givenFailed !== undefined) {
      if (!Array.isArray(givenFailed)) {
        invalidArgument(
          `${WHERE}.failed`,
          `must be an array of { key, error }, got ${describe(givenFailed)}`,
        );
      }
      givenFailed.forEach((item: unknown, i) => {
        const key = (item as { key?: unknown } | null)?.key;
        if (
          typeof item !== "object" ||
          item === null ||
          typeof key !== "string" ||
          !keys.has(key)
        ) {
          invalidArgument(
            `${WHERE}.failed[${i}]`,
            `must be { key, error } with the key of an envelope of the batch, got ${describe(item)}`,
          );
        }
        if (!failed.has(key)) failed.set(key, (item as { error?: unknown }).error);
      });
    }
    const offsets = new Map<string, string>();
    if (givenOffsets !== undefined) {
      if (
        typeof givenOffsets !== "object" ||
        givenOffsets === null ||
        Array.isArray(givenOffsets)
      ) {
        invalidArgument(
          `${WHERE}.offsets`,
          `must be an object of key to offset, got ${describe(givenOffsets)}`,
        );
      }
      for (const [key, offset] of Object.entries(givenOffsets)) {
        if (!keys.has(key) || typeof offset !== "string") {
          invalidArgument(
            `${WHERE}.offsets[${JSON.stringify(key)}]`,
            `must be the string offset of an envelope of the batch, got ${describe(offset)}`,
          );
        }
        offsets.set(key, offset);
      }
    }
    return { failed, offsets };
  });
}

/**
 * The single writer of a guard given only `writeBatch`: a batch of one, its failure
 * thrown (so the guard's retries treat it as a single write's error).
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
