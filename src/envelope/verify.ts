/**
 * Integrity of sealed envelopes: recompute the checksum from the payload's canonical form
 * and compare. Any change to the payload or to the checksum after sealing is detected
 * (for `xxh64`, up to its 64-bit collision odds, which cover accidents, not attackers;
 * use `sha256` where someone might forge a payload).
 *
 * @module
 */

import { type Limits, MAX_BYTES_LIMIT, resolveLimits } from "../canonical/canonicalize.js";
import { algorithmOf, type Checksum, isChecksum, sameChecksum } from "../checksum/checksum.js";
import {
  CanonicalizationError,
  IntegrityError,
  isSinkproofError,
  type ValidationIssue,
} from "../errors.js";
import { describe, errorText } from "../internal/arguments.js";
import { checkInteger } from "../internal/checks.js";
import { type OptionKeys, optionKeys, readOptions } from "../internal/options.js";
import { hashPayload } from "./payload.js";
import { ENVELOPE_LIMITS, type Envelope } from "./schema.js";

/** Limits used to canonicalize the payload while verifying. */
export interface VerifyOptions {
  /**
   * Largest canonical payload, in UTF-8 bytes.
   * @default 1_048_576 (1 MiB)
   */
  readonly maxPayloadBytes?: number | undefined;
  /**
   * Deepest payload nesting.
   * @default 64
   */
  readonly maxDepth?: number | undefined;
}

/** Result of {@link verify}. */
export type VerifyResult =
  | {
      /** The checksum matches the payload. */
      readonly ok: true;
    }
  | {
      /** The envelope is not intact, or cannot be checked. */
      readonly ok: false;
      /** What is wrong: `checksum_mismatch`, `invalid_checksum`, or a canonical-form code. */
      readonly issues: readonly ValidationIssue[];
    };

const OK: VerifyResult = Object.freeze({ ok: true });

/** Limits from verify-style options; bad options are an `InvalidArgumentError`. */
export function payloadLimits(
  options: Pick<VerifyOptions, "maxDepth" | "maxPayloadBytes"> | undefined,
): Limits {
  const maxPayloadBytes = options?.maxPayloadBytes;
  if (maxPayloadBytes !== undefined) {
    // Named as the caller spelled it (the canonical form's own option is `maxBytes`).
    checkInteger(maxPayloadBytes, "options.maxPayloadBytes", 1, MAX_BYTES_LIMIT);
  }
  return resolveLimits(
    {
      maxDepth: options?.maxDepth ?? ENVELOPE_LIMITS.maxDepth,
      maxBytes: options?.maxPayloadBytes ?? ENVELOPE_LIMITS.maxPayloadBytes,
    },
    "options",
  );
}

/** The keys of {@link VerifyOptions}. Internal. */
export const VERIFY_KEYS: OptionKeys<VerifyOptions> = optionKeys<VerifyOptions>()(
  "maxPayloadBytes",
  "maxDepth",
);
const DEFAULT_PAYLOAD_LIMITS = payloadLimits(undefined);

function verifyLimits(options: VerifyOptions | undefined): Limits {
  return options === undefined
    ? DEFAULT_PAYLOAD_LIMITS
    : payloadLimits(readOptions<VerifyOptions>(options, "options", VERIFY_KEYS));
}

interface Checked {
  readonly issues: readonly ValidationIssue[];
  readonly expected?: string;
  readonly actual?: string;
}

function check(envelope: unknown, limits: Limits): Checked {
  try {
    return checkReading(envelope, limits);
  } catch (error) {
    if (isSinkproofError(error)) throw error;
    const message = `reading the envelope threw: ${errorText(error)}`;
    return { issues: [{ path: "$", code: "unreadable_value", message }] };
  }
}

function checkReading(envelope: unknown, limits: Limits): Checked {
  if (typeof envelope !== "object" || envelope === null || Array.isArray(envelope)) {
    return {
      issues: [
        {
          path: "$",
          code: "invalid_type",
          message: `expected an envelope object, got ${describe(envelope)}`,
        },
      ],
    };
  }
  let read: { checksum?: unknown; payload?: unknown };
  try {
    const { checksum, payload } = envelope as { checksum?: unknown; payload?: unknown };
    read = { checksum, payload };
  } catch (error) {
    const message = `reading the envelope threw: ${String(error)}`;
    return { issues: [{ path: "$", code: "unreadable_value", message }] };
  }
  const declared = read.checksum;
  const wellFormed = isChecksum(declared);
  const issues: ValidationIssue[] = wellFormed
    ? []
    : [
        {
          path: "$.checksum",
          code: "invalid_checksum",
          message: 'must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits',
        },
      ];
  let actual: Checksum;
  try {
    actual = hashPayload(
      read.payload,
      limits,
      wellFormed ? algorithmOf(declared) : "xxh64",
      false,
    ).checksum;
  } catch (error) {
    if (!(error instanceof CanonicalizationError)) throw error;
    issues.push({ path: error.path ?? "$.payload", code: error.code, message: error.message });
    return { issues };
  }
  if (!wellFormed || sameChecksum(declared, actual)) return { issues };
  return { expected: declared, actual, issues: [mismatchIssue(declared, actual)] };
}

function mismatchIssue(expected: string, actual: string, path = "$.checksum"): ValidationIssue {
  return {
    path,
    code: "checksum_mismatch",
    message: `payload has checksum ${actual}, envelope says ${expected}`,
  };
}

/** The error for an envelope whose payload no longer matches its checksum. */
export function checksumMismatch(
  expected: string,
  actual: string,
  key: string | undefined,
  path = "$.checksum",
): IntegrityError {
  return new IntegrityError(
    "checksum_mismatch",
    `Envelope altered after sealing: payload has checksum ${actual}, envelope says ${expected}`,
    { expected, actual, issues: [mismatchIssue(expected, actual, path)] },
    { key, path },
  );
}

/**
 * Checks an envelope's integrity: its checksum is well-formed and equals the checksum of
 * its payload's canonical form. Never throws for a bad envelope (only for bad options);
 * returns the issues instead.
 *
 * @example
 * ```ts
 * import { seal, verify } from "sinkproof";
 * const envelope = seal({ producer: "p", seq: 0, type: "t", schema: { name: "t", version: 1 }, payload: { n: 1 } });
 * verify(envelope);                                   // { ok: true }
 * verify({ ...envelope, payload: { n: 2 } }).ok;      // false: checksum_mismatch at $.checksum
 * ```
 */
export function verify(envelope: unknown, options?: VerifyOptions): VerifyResult {
  const { issues } = check(envelope, verifyLimits(options));
  return issues.length === 0 ? OK : Object.freeze({ ok: false, issues: Object.freeze(issues) });
}

/**
 * Throws an {@link IntegrityError} unless the envelope is intact (see {@link verify}):
 * code `checksum_mismatch` when the payload and the checksum disagree (with `expected`
 * and `actual`), code `unverifiable` when the checksum is malformed or the payload is not
 * JSON within the limits.
 *
 * @example
 * ```ts
 * import { assertIntact } from "sinkproof";
 * assertIntact(envelope); // returns, or throws IntegrityError
 * ```
 */
export function assertIntact(
  envelope: unknown,
  options?: VerifyOptions,
): asserts envelope is Envelope {
  const { issues, expected, actual } = check(envelope, verifyLimits(options));
  if (issues.length === 0) return;
  let key: unknown;
  try {
    key = (envelope as { key?: unknown } | null)?.key;
  } catch {
    key = undefined; // unreadable: the issue says so
  }
  const context = typeof key === "string" ? { key } : {};
  if (expected !== undefined && actual !== undefined) {
    throw checksumMismatch(expected, actual, context.key);
  }
  const first = issues[0] as ValidationIssue;
  throw new IntegrityError(
    "unverifiable",
    `Envelope integrity cannot be checked: ${first.path}: ${first.message}`,
    { issues },
    { ...context, path: first.path },
  );
}
