/**
 * Idempotency keys: the identity of an effect. Two envelopes with one key are the same
 * effect; the same key with another checksum is a conflict.
 *
 * Derivation (version 1), reproducible in any language (docs/idempotency-keys.md):
 *   key = "ik1_" + first 32 lowercase hex digits of SHA-256( UTF-8( JCS(parts) ) )
 * where `parts` is the JSON object of named parts (strings, finite numbers, booleans).
 * 128 bits of SHA-256: a collision is not expected before ~2^64 keys.
 *
 * Envelopes sealed without a key get {@link sequenceKey}: readable, and unique because
 * the (producer, stream, seq) triple is.
 *
 * @module
 */

import { canonicalBytes } from "../canonical/canonicalize.js";
import { sha256Hex } from "../checksum/checksum.js";
import { CanonicalizationError } from "../errors.js";
import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { isCleanText, isProducerName } from "./schema.js";

/** A value allowed in a key part. Prefer strings and integers for cross-language keys. */
export type KeyPart = string | number | boolean;

/** Prefix of keys made by {@link idempotencyKey}; the digit is the derivation version. */
export const KEY_PREFIX = "ik1_";
const MAX_PARTS = 64;
const MAX_PART_NAME = 128;
const PARTS_LIMITS = { maxDepth: 2, maxBytes: 64 * 1024 };

/**
 * Derives a deterministic, collision-resistant idempotency key from named parts: the same
 * parts give the same key in every process and, following the documented recipe, in every
 * language. Part order does not matter; names and values do.
 *
 * Parts must be a plain object of 1 to 64 entries whose values are strings, finite numbers
 * or booleans; anything else is an `InvalidArgumentError` naming the part.
 *
 * @example
 * ```ts
 * import { idempotencyKey } from "sinkproof";
 * idempotencyKey({ producer: "orders-svc", stream: "orders", seq: 42 });
 * // "ik1_" + 32 hex digits; equal to idempotencyKey({ seq: 42, stream: "orders", producer: "orders-svc" })
 * idempotencyKey({ orderId: "ord_1", event: "paid" }); // a business key
 * ```
 */
export function idempotencyKey(parts: Readonly<Record<string, KeyPart>>): string {
  return reading("parts", () => keyOf(parts));
}

function keyOf(parts: Readonly<Record<string, KeyPart>>): string {
  if (typeof parts !== "object" || parts === null || Array.isArray(parts)) {
    return invalidArgument("parts", `must be an object of named parts, got ${describe(parts)}`);
  }
  const proto = Object.getPrototypeOf(parts) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    return invalidArgument("parts", `must be a plain object, got ${describe(parts)}`);
  }
  const names = Object.keys(parts);
  if (names.length === 0 || names.length > MAX_PARTS) {
    return invalidArgument("parts", `must have 1 to ${MAX_PARTS} parts, got ${names.length}`);
  }
  for (const name of names) {
    const value = (parts as Record<string, unknown>)[name];
    const where = `parts[${JSON.stringify(name)}]`;
    if (name.length === 0 || name.length > MAX_PART_NAME) {
      invalidArgument(where, `name must be 1 to ${MAX_PART_NAME} characters`);
    }
    if (
      typeof value === "number"
        ? !Number.isFinite(value)
        : typeof value !== "string" && typeof value !== "boolean"
    ) {
      invalidArgument(
        where,
        `must be a string, a finite number or a boolean, got ${describe(value)}`,
      );
    }
    if (!name.isWellFormed() || (typeof value === "string" && !value.isWellFormed())) {
      invalidArgument(where, "holds a lone surrogate (not valid Unicode)");
    }
  }
  let key: string;
  try {
    key = `${KEY_PREFIX}${sha256Hex(canonicalBytes(parts, PARTS_LIMITS).bytes).slice(0, 32)}`;
  } catch (error) {
    if (error instanceof CanonicalizationError) {
      const rule = `must be at most ${PARTS_LIMITS.maxBytes} bytes in canonical form`;
      return invalidArgument("parts", rule, error);
    }
    throw error;
  }
  return key;
}

/**
 * The key of an envelope sealed without one: `<producer>/<stream>/<seq>`, e.g.
 * `orders-svc/orders/42`. Producer names cannot hold `/` and seq is a number, so distinct
 * (producer, stream, seq) triples never share a key, even when the stream holds `/`.
 * Readable on purpose: an operator who sees the key in a sink knows where it came from.
 *
 * @example
 * ```ts
 * import { sequenceKey } from "sinkproof";
 * sequenceKey("orders-svc", "orders/eu", 42); // "orders-svc/orders/eu/42"
 * ```
 */
export function sequenceKey(producer: string, stream: string, seq: number): string {
  if (typeof producer !== "string" || producer.length === 0 || !isProducerName(producer)) {
    invalidArgument(
      "producer",
      "must be a non-empty name without control characters, lone surrogates or '/'",
    );
  }
  if (typeof stream !== "string" || stream.length === 0 || !isCleanText(stream)) {
    invalidArgument(
      "stream",
      "must be a non-empty name without control characters, noncharacters or lone surrogates",
    );
  }
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    invalidArgument("seq", `must be a non-negative safe integer, got ${describe(seq)}`);
  }
  return joinSequenceKey(producer, stream, seq);
}

/** {@link sequenceKey} for parts already validated (by `seal`). Internal. */
export function joinSequenceKey(producer: string, stream: string, seq: number): string {
  return `${producer}/${stream}/${seq}`;
}
