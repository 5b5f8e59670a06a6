/**
 * The row hash of digest mode: one copy of one key holding one checksum, as a place in
 * the hash space `[0, 2^32)` and two digest words; and the digest of a bucket of rows.
 * Here, below the ledger, so that ledgers can keep bucket digests of their entries.
 * `sinkproof/digest` exports them.
 *
 * @module
 */

import crypto from "node:crypto";
import { InvalidArgumentError } from "../errors.js";
import { describe, invalidArgument, reading, show } from "../internal/arguments.js";
import type { DigestSplit, HashRange } from "../ledger/types.js";

/** Size of the row-hash space: row hashes are unsigned 32-bit integers. */
export const HASH_SPACE: number = 2 ** 32;

/** A row's place in the hash space and its digest words. */
export interface RowHash {
  /** Unsigned 32-bit: the first 4 bytes of the SHA-256, big-endian. */
  readonly hash: number;
  /** Unsigned 32-bit: bytes 4 to 7. */
  readonly hi: number;
  /** Unsigned 32-bit: bytes 8 to 11. */
  readonly lo: number;
}

const sha256: (data: string) => Buffer =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "buffer") as unknown as Buffer
    : (data) => crypto.createHash("sha256").update(data).digest();

/**
 * The row hash of one copy of `key` holding `checksum`: see the module notes. A sink
 * implementing digest mode in code (not SQL) uses it for each of its rows.
 *
 * @example
 * ```ts
 * import { rowHash } from "sinkproof/digest";
 * const { hash, hi, lo } = rowHash(envelope.key, envelope.checksum);
 * ```
 */
export function rowHash(key: string, checksum: string): RowHash {
  if (typeof key !== "string" || typeof checksum !== "string") {
    throw new InvalidArgumentError(
      "invalid_argument",
      `rowHash needs a key and a checksum (strings), got ${describe(key)} and ${describe(checksum)}`,
      { path: typeof key !== "string" ? "key" : "checksum" },
    );
  }
  // UTF-8 would turn a lone surrogate into U+FFFD: two different keys, one row hash.
  if (!isWellFormed(key) || !isWellFormed(checksum)) {
    throw new InvalidArgumentError(
      "invalid_argument",
      "rowHash needs well-formed strings (a lone surrogate has no UTF-8 form)",
      { path: isWellFormed(key) ? "checksum" : "key" },
    );
  }
  const d = sha256(`${key}\n${checksum}`);
  return { hash: d.readUInt32BE(0), hi: d.readUInt32BE(4), lo: d.readUInt32BE(8) };
}

/** Whether a string has a UTF-8 form (no lone surrogate). */
export const isWellFormed = (value: string): boolean =>
  (value as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * The 16-hex-digit digest of a bucket from its two word sums, each reduced mod 2^32 here
 * (so a database may return the plain sums, as numbers or bigints).
 *
 * @example
 * ```ts
 * formatDigest(0x1_0000_0001, 2); // "0000000100000002"
 * ```
 */
export function formatDigest(hiSum: number | bigint, loSum: number | bigint): string {
  return word(hiSum, "hiSum") + word(loSum, "loSum");
}

function word(value: number | bigint, where: string): string {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    invalidArgument(where, `must be a safe integer or a bigint, got ${show(value)}`);
  }
  if (typeof value !== "number" && typeof value !== "bigint") {
    invalidArgument(where, `must be a safe integer or a bigint, got ${describe(value)}`);
  }
  return BigInt.asUintN(32, BigInt(value)).toString(16).padStart(8, "0");
}

/** True for integers `from` and `to` with `0 ≤ from < to ≤ 2^32` (a range or a split). */
function isHashRange(range: unknown): range is HashRange {
  if (typeof range !== "object" || range === null) return false;
  const { from, to } = range as HashRange;
  return (
    Number.isSafeInteger(from) &&
    Number.isSafeInteger(to) &&
    from >= 0 &&
    from < to &&
    to <= HASH_SPACE
  );
}

/** Checks a hash range: integers with `0 ≤ from < to ≤ 2^32`. Internal. */
export function checkHashRange(range: HashRange, where: string): void {
  const ok = reading(where, () => isHashRange(range));
  if (!ok) {
    invalidArgument(where, "must be { from, to } with 0 ≤ from < to ≤ 2^32");
  }
}

/** Checks a split and returns its bucket width. Internal. */
export function splitWidth(split: DigestSplit, where: string): number {
  const ok = reading(
    where,
    () =>
      isHashRange(split) &&
      Number.isSafeInteger(split.buckets) &&
      split.buckets >= 1 &&
      (split.to - split.from) % split.buckets === 0,
  );
  if (!ok) {
    invalidArgument(
      where,
      "must be { from, to, buckets } with 0 ≤ from < to ≤ 2^32 and (to - from) divisible by buckets",
    );
  }
  return (split.to - split.from) / split.buckets;
}
