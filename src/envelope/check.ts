/**
 * Accepting an envelope handed over in-process (to a ledger, to a sink guard): the same
 * checks as `parseEnvelope` for a value that is already an object, fast enough for every
 * append. Returns the envelope frozen, payload included.
 *
 * @module
 */

import type { Limits } from "../canonical/canonicalize.js";
import { formatPath } from "../canonical/path.js";
import { algorithmOf, sameChecksum } from "../checksum/checksum.js";
import {
  CanonicalizationError,
  EnvelopeValidationError,
  IntegrityError,
  isSinkproofError,
} from "../errors.js";
import { isValidEnvelopeFields } from "./fields.js";
import { readingEnvelope, unreadableEnvelope, zodIssues } from "./issues.js";
import { hashPayload } from "./payload.js";
import { type Envelope, envelopeFieldsSchema } from "./schema.js";
import { buildEnvelope } from "./seal.js";
import { checksumMismatch } from "./verify.js";

/**
 * Checks an envelope's fields (not its payload or checksum) and returns it; throws
 * `EnvelopeValidationError` listing every issue.
 */
export function assertEnvelopeFields(
  value: unknown,
  base: readonly (string | number)[] = [],
): Envelope {
  // No closure on this path: it runs for every envelope appended.
  let valid: boolean;
  try {
    valid = isValidEnvelopeFields(value);
  } catch (error) {
    return unreadableEnvelope("envelope", base, error);
  }
  if (!valid) {
    readingEnvelope("envelope", base, () => {
      const result = envelopeFieldsSchema.safeParse(value);
      throw new EnvelopeValidationError(
        result.success
          ? [{ path: formatPath(base), code: "invalid_envelope", message: "not an envelope" }]
          : zodIssues(result.error.issues, base),
      );
    });
  }
  return value as unknown as Envelope;
}

/**
 * Checks an envelope's fields and its checksum, and returns it frozen: the same object
 * when it already is (as `seal` and `parseEnvelope` make them), else a frozen copy whose
 * payload is deep-frozen in place. `base` prefixes error paths (e.g. `[3]` → `$[3].seq`).
 *
 * Throws `EnvelopeValidationError` (fields), `CanonicalizationError` (payload, path under
 * `base`), `IntegrityError` (checksum).
 */
export function checkEnvelope(
  value: unknown,
  limits: Limits,
  base: readonly (string | number)[] = [],
): Envelope {
  return checkEnvelopeKeepingPayload(value, limits, base, false).envelope;
}

/**
 * {@link checkEnvelope}, also returning a copy of the payload's canonical UTF-8 bytes when
 * `keep` is set: storage adapters can write them as the payload's JSON without
 * serializing it again.
 */
export function checkEnvelopeKeepingPayload(
  value: unknown,
  limits: Limits,
  base: readonly (string | number)[],
  keep: boolean,
): { envelope: Envelope; canonical: Uint8Array | undefined } {
  try {
    return checkReading(value, limits, base, keep);
  } catch (error) {
    if (isSinkproofError(error)) throw error;
    return unreadableEnvelope("envelope", base, error);
  }
}

function checkReading(
  value: unknown,
  limits: Limits,
  base: readonly (string | number)[],
  keep: boolean,
): { envelope: Envelope; canonical: Uint8Array | undefined } {
  const envelope = assertEnvelopeFields(value, base);
  let hashed: ReturnType<typeof hashPayload>;
  try {
    hashed = hashPayload(
      envelope.payload,
      limits,
      algorithmOf(envelope.checksum),
      true,
      [...base, "payload"],
      keep,
    );
  } catch (error) {
    if (error instanceof CanonicalizationError) {
      throw new IntegrityError(
        "unverifiable",
        `Envelope integrity cannot be checked: ${error.message}`,
        { issues: [{ path: error.path ?? "$", code: error.code, message: error.message }] },
        { key: envelope.key, path: error.path, cause: error },
      );
    }
    throw error;
  }
  if (!sameChecksum(envelope.checksum, hashed.checksum)) {
    throw checksumMismatch(
      envelope.checksum,
      hashed.checksum,
      envelope.key,
      formatPath([...base, "checksum"]),
    );
  }
  if (
    hashed.payload === envelope.payload &&
    Object.isFrozen(envelope) &&
    Object.isFrozen(envelope.schema) &&
    Object.isFrozen(envelope.trace) &&
    Object.isFrozen(envelope.parents)
  ) {
    return { envelope, canonical: hashed.canonical };
  }
  const copy = buildEnvelope({ ...envelope, payload: hashed.payload });
  // The copy read every field again: an object whose fields change between reads (a Proxy)
  // must not slip another value past the check.
  if (!isValidEnvelopeFields(copy) || copy.checksum !== envelope.checksum) {
    assertEnvelopeFields(copy, base);
    throw new EnvelopeValidationError([
      {
        path: formatPath(base),
        code: "unreadable_value",
        message: "the envelope changed while it was read",
      },
    ]);
  }
  return { envelope: copy, canonical: hashed.canonical };
}
