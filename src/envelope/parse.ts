/**
 * Reading envelopes from the outside world (a queue, HTTP, a file): JSON text, UTF-8
 * bytes or an already-parsed value in, a frozen, verified {@link Envelope} out, or an
 * {@link EnvelopeValidationError} listing every issue. Never a raw SyntaxError or ZodError.
 *
 * @module
 */

import type { Limits } from "../canonical/canonicalize.js";
import { algorithmOf, isChecksum, sameChecksum } from "../checksum/checksum.js";
import { CanonicalizationError, EnvelopeValidationError, type ValidationIssue } from "../errors.js";
import { checkBoolean } from "../internal/checks.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { logger } from "../observe/debug.js";
import { readingEnvelope, zodIssues } from "./issues.js";
import { type HashedPayload, hashPayload } from "./payload.js";
import { type Envelope, envelopeFieldsSchema } from "./schema.js";
import { buildEnvelope, type EnvelopeFields } from "./seal.js";
import { checksumMismatch, payloadLimits, type VerifyOptions } from "./verify.js";

const log = logger("envelope");

/** Options of {@link parseEnvelope}. */
export interface ParseEnvelopeOptions extends VerifyOptions {
  /**
   * Verify the checksum against the payload; a mismatch throws an `IntegrityError`.
   * Turn off only to inspect damaged envelopes.
   * @default true
   */
  readonly verify?: boolean | undefined;
}

const PARSE_KEYS = optionKeys<ParseEnvelopeOptions>()("verify", "maxPayloadBytes", "maxDepth");

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
/** JSON text longer than this cannot hold a payload within the limit (6 = `\u00XX` escaping). */
const textLimit = (maxBytes: number) => maxBytes * 6 + 64 * 1024;

function reject(issue: ValidationIssue): never {
  throw new EnvelopeValidationError([issue]);
}

/** Refuses input of `size` bytes or characters that cannot hold a payload within the limit. */
function refuseLonger(size: number, unit: "bytes" | "characters", maxBytes: number): void {
  if (size > textLimit(maxBytes)) {
    reject({ path: "$", code: "too_large", message: `input of ${size} ${unit} exceeds the limit` });
  }
}

function decode(input: unknown, maxBytes: number): unknown {
  let text: string;
  if (typeof input === "string") text = input;
  else if (input instanceof Uint8Array) {
    refuseLonger(input.byteLength, "bytes", maxBytes);
    try {
      text = utf8.decode(input);
    } catch {
      return reject({ path: "$", code: "invalid_utf8", message: "input is not valid UTF-8" });
    }
  } else return input;
  refuseLonger(text.length, "characters", maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    return reject({
      path: "$",
      code: "invalid_json",
      message: `input is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    });
  }
}

/**
 * Validates foreign input as an envelope and returns it frozen (payload deep-frozen).
 * Accepts JSON text, UTF-8 bytes, or a parsed value. Checks every field's format and
 * limit and that the payload is JSON within the limits, then (unless `verify: false`)
 * that the checksum matches the payload.
 *
 * Throws an `EnvelopeValidationError` listing every issue (path, code, message), or an
 * `IntegrityError` (code `checksum_mismatch`) when the envelope is well-formed but altered.
 * Unknown fields are issues too: envelopes are read strictly.
 *
 * @example
 * ```ts
 * import { parseEnvelope } from "sinkproof";
 * const envelope = parseEnvelope(message.body); // a string or a Buffer from the queue
 * ```
 */
export function parseEnvelope(input: unknown, options?: ParseEnvelopeOptions): Envelope {
  const read = readOptions<ParseEnvelopeOptions>(options, "options", PARSE_KEYS);
  const limits = payloadLimits(read);
  const verifyChecksum = checkBoolean(read.verify ?? true, "options.verify");
  return readingEnvelope("envelope", [], () => parseReading(input, limits, verifyChecksum));
}

function parseReading(input: unknown, limits: Limits, verifyChecksum: boolean): Envelope {
  const value = decode(input, limits.maxBytes);
  const result = envelopeFieldsSchema.safeParse(value);
  const issues: ValidationIssue[] = result.success ? [] : zodIssues(result.error.issues);
  let hashed: HashedPayload | undefined;
  const isRecord = typeof value === "object" && value !== null && !Array.isArray(value);
  if (isRecord && (value as { payload?: unknown }).payload === undefined) {
    issues.push({ path: "$.payload", code: "invalid_type", message: "payload is required" });
  } else if (isRecord) {
    // Freeze only what will be returned: nothing is frozen when the envelope is rejected.
    const freeze = issues.length === 0;
    const declared = (value as { checksum?: unknown }).checksum;
    const algorithm = isChecksum(declared) ? algorithmOf(declared) : "xxh64";
    try {
      hashed = hashPayload((value as { payload: unknown }).payload, limits, algorithm, freeze);
    } catch (error) {
      if (!(error instanceof CanonicalizationError)) throw error;
      issues.push({ path: error.path ?? "$.payload", code: error.code, message: error.message });
    }
  }
  if (issues.length > 0 || hashed === undefined || !result.success) {
    log("rejected envelope: %d issue(s), first %o", issues.length, issues[0]);
    throw new EnvelopeValidationError(issues);
  }
  const fields = result.data as EnvelopeFields<unknown>;
  if (verifyChecksum && !sameChecksum(fields.checksum, hashed.checksum)) {
    throw checksumMismatch(fields.checksum, hashed.checksum, fields.key);
  }
  return buildEnvelope({ ...fields, payload: hashed.payload });
}
