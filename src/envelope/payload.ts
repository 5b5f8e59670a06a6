/**
 * A payload's canonical checksum, and the value an envelope stores for it. Shared by
 * `seal`, `verify` and `parseEnvelope`, so the three can never disagree on what a
 * checksum covers.
 *
 * @module
 */

import { canonicalBytes, decodeUtf8, type Limits } from "../canonical/canonicalize.js";
import { type Checksum, type ChecksumAlgorithm, checksumOfBytes } from "../checksum/checksum.js";
import { deepFreeze } from "../internal/freeze.js";
import type { JsonValue } from "./schema.js";

const PAYLOAD_PATH = ["payload"];

/** A payload with its checksum. */
export interface HashedPayload {
  readonly checksum: Checksum;
  /**
   * With `freeze`: the value to store, deep-frozen; the caller's value itself, or, when
   * it held Dates, the JSON value its canonical form parses to. Without: the input as is.
   */
  readonly payload: JsonValue;
  /** With `keep`: a copy of the payload's canonical UTF-8 bytes (valid JSON text). */
  readonly canonical?: Uint8Array | undefined;
}

/**
 * Canonicalizes a payload (error paths under `path`, by default `$.payload`) and hashes
 * the bytes.
 * Throws a `CanonicalizationError` when it is not JSON within the limits; nothing is
 * frozen then.
 */
export function hashPayload(
  value: unknown,
  limits: Limits,
  algorithm: ChecksumAlgorithm,
  freeze: boolean,
  path: readonly (string | number)[] = PAYLOAD_PATH,
  keep = false,
): HashedPayload {
  const { bytes, sawDate } = canonicalBytes(value, limits, freeze, path);
  const checksum = checksumOfBytes(bytes, algorithm);
  // Buffer.from copies into the shared pool for small sizes: cheaper than a fresh ArrayBuffer.
  const canonical = keep ? Buffer.from(bytes) : undefined;
  if (!sawDate || !freeze) return { checksum, payload: value as JsonValue, canonical };
  const parsed = JSON.parse(decodeUtf8(bytes)) as JsonValue;
  deepFreeze(parsed);
  return { checksum, payload: parsed, canonical };
}
