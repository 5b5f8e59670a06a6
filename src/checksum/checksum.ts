/**
 * Checksums of canonical bytes.
 *
 * Owns: the checksum format `<algorithm>:<lowercase hex>` and its two algorithms:
 * - `xxh64`, the default: XXH64 with seed 0 of the UTF-8 canonical bytes, 16 hex digits.
 *   Fast, catches accidental damage (truncation, bit flips, a wrong field), not tampering.
 * - `sha256`: SHA-256 of the same bytes, 64 hex digits. Tamper-evident.
 * Promises: `checksum(v)` depends only on `canonicalize(v)`, so a sink written in any
 * language that follows RFC 8785 + XXH64/SHA-256 recomputes the same string
 * (docs/checksums.md gives the recipe).
 *
 * @module
 */

import * as crypto from "node:crypto";
import { timingSafeEqual } from "node:crypto";
import {
  type CanonicalizeOptions,
  canonicalBytes,
  DEFAULT_LIMITS,
  resolveLimits,
} from "../canonical/canonicalize.js";
import { InvalidArgumentError } from "../errors.js";
import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { xxh64Bytes, xxh64Text } from "./xxhash.js";

/** The checksum algorithms: `xxh64` (default, fast) or `sha256` (tamper-evident). */
export type ChecksumAlgorithm = "xxh64" | "sha256";

/** A checksum string: `xxh64:` + 16 lowercase hex digits, or `sha256:` + 64. */
export type Checksum = `xxh64:${string}` | `sha256:${string}`;

/** Options of {@link checksum}: the algorithm plus the canonical-form limits. */
export interface ChecksumOptions extends CanonicalizeOptions {
  /**
   * Hash function over the canonical UTF-8 bytes.
   * @default "xxh64"
   */
  readonly algorithm?: ChecksumAlgorithm | undefined;
}

/** Options of {@link checksumOf}. */
export interface ChecksumOfOptions {
  /**
   * Hash function over the bytes.
   * @default "xxh64"
   */
  readonly algorithm?: ChecksumAlgorithm | undefined;
}

const CHECKSUM_KEYS = optionKeys<ChecksumOptions>()("algorithm", "maxDepth", "maxBytes");
const CHECKSUM_OF_KEYS = optionKeys<ChecksumOfOptions>()("algorithm");

/** Lowercase hex digits after the prefix: a loop, not a regex (this runs per observation in reconciliation). */
function isLowerHexFrom(value: string, start: number): boolean {
  for (let i = start; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

type HashInput = string | Uint8Array;
/** SHA-256 as 64 lowercase hex digits (one-shot `crypto.hash` where Node has it). Internal. */
export const sha256Hex: (data: HashInput) => string =
  typeof crypto.hash === "function"
    ? (data) => crypto.hash("sha256", data, "hex")
    : (data) => crypto.createHash("sha256").update(data).digest("hex");

function resolveAlgorithm(algorithm: unknown, where: string): ChecksumAlgorithm {
  if (algorithm === undefined || algorithm === "xxh64") return "xxh64";
  if (algorithm === "sha256") return "sha256";
  return invalidArgument(where, `must be "xxh64" or "sha256", got ${describe(algorithm)}`);
}

/** Checksum of bytes, e.g. canonical bytes. Internal fast path: no argument checks. */
export function checksumOfBytes(bytes: Uint8Array, algorithm: ChecksumAlgorithm): Checksum {
  return algorithm === "xxh64" ? `xxh64:${xxh64Bytes(bytes)}` : `sha256:${sha256Hex(bytes)}`;
}

/**
 * Checksum of a JSON value: the hash of the UTF-8 bytes of its RFC 8785 canonical form,
 * written `xxh64:<16 hex>` (default) or `sha256:<64 hex>`. Two values get the same
 * checksum exactly when their canonical forms are equal, whatever their key order.
 *
 * Throws a {@link CanonicalizationError} when the value is not JSON (see `canonicalize`).
 *
 * @example
 * ```ts
 * import { checksum } from "sinkproof";
 * checksum({ id: 1, total: 9.5 });                        // "xxh64:…" (16 hex digits)
 * checksum({ total: 9.5, id: 1 }) === checksum({ id: 1, total: 9.5 }); // true
 * checksum({ id: 1 }, { algorithm: "sha256" });           // "sha256:…" (64 hex digits)
 * ```
 */
export function checksum(value: unknown, options?: ChecksumOptions): Checksum {
  if (options === undefined)
    return checksumOfBytes(canonicalBytes(value, DEFAULT_LIMITS).bytes, "xxh64");
  const read = readOptions<ChecksumOptions>(options, "options", CHECKSUM_KEYS);
  const algorithm = resolveAlgorithm(read.algorithm, "options.algorithm");
  return checksumOfBytes(canonicalBytes(value, resolveLimits(read)).bytes, algorithm);
}

/**
 * Checksum of raw data: the bytes as given, or the UTF-8 bytes of a string. Use it for
 * files and message bodies that are not JSON values; for JSON values use {@link checksum},
 * which hashes the canonical form instead.
 *
 * @example
 * ```ts
 * import { checksumOf } from "sinkproof";
 * checksumOf("a");                          // "xxh64:d24ec4f1a98c6e5b"
 * checksumOf(new Uint8Array([0x61]));       // "xxh64:d24ec4f1a98c6e5b"
 * ```
 */
export function checksumOf(data: Uint8Array | string, options?: ChecksumOfOptions): Checksum {
  const algorithm = resolveAlgorithm(
    readOptions<ChecksumOfOptions>(options, "options", CHECKSUM_OF_KEYS).algorithm,
    "options.algorithm",
  );
  if (typeof data === "string") {
    if (!data.isWellFormed()) {
      invalidArgument("data", "holds a lone surrogate and has no UTF-8 encoding");
    }
    return algorithm === "xxh64" ? `xxh64:${xxh64Text(data)}` : `sha256:${sha256Hex(data)}`;
  }
  if (!reading("data", () => data instanceof Uint8Array)) {
    return invalidArgument("data", `must be a Uint8Array or a string, got ${describe(data)}`);
  }
  return checksumOfBytes(data, algorithm);
}

/**
 * True when `value` is a well-formed checksum string (`xxh64:` + 16 or `sha256:` + 64
 * lowercase hex digits).
 *
 * @example
 * ```ts
 * isChecksum("xxh64:d24ec4f1a98c6e5b"); // true
 * isChecksum("XXH64:D24EC4F1A98C6E5B"); // false (lowercase only)
 * ```
 */
export function isChecksum(value: unknown): value is Checksum {
  if (typeof value !== "string") return false;
  if (value.length === 22) return value.startsWith("xxh64:") && isLowerHexFrom(value, 6);
  return value.length === 71 && value.startsWith("sha256:") && isLowerHexFrom(value, 7);
}

/** The algorithm of a well-formed checksum. */
export function algorithmOf(checksum: Checksum): ChecksumAlgorithm {
  return checksum.charCodeAt(0) === 0x78 /* x */ ? "xxh64" : "sha256";
}

function assertChecksum(value: unknown, where: string): asserts value is Checksum {
  if (!isChecksum(value)) {
    const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : describe(value);
    throw new InvalidArgumentError(
      "invalid_checksum",
      `${where} must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits, got ${shown}`,
      { path: where },
    );
  }
}

/**
 * Compares two checksums. Checksums of different algorithms are never equal. SHA-256
 * checksums are compared in constant time (`crypto.timingSafeEqual`), so the comparison
 * leaks nothing about where they differ. A malformed checksum is an
 * {@link InvalidArgumentError} with code `invalid_checksum`, not `false`.
 *
 * @example
 * ```ts
 * import { checksum, checksumsEqual } from "sinkproof";
 * checksumsEqual(checksum({ a: 1 }), checksum({ a: 1 })); // true
 * ```
 */
export function checksumsEqual(a: string, b: string): boolean {
  assertChecksum(a, "a");
  assertChecksum(b, "b");
  return sameChecksum(a, b);
}

/** {@link checksumsEqual} for checksums already known to be well-formed. Internal. */
export function sameChecksum(a: Checksum, b: Checksum): boolean {
  if (a.length !== b.length) return false;
  if (algorithmOf(a) === "xxh64") return a === b;
  return timingSafeEqual(Buffer.from(a, "latin1"), Buffer.from(b, "latin1"));
}
