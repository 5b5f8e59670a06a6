/**
 * What a sink holds for one key (its copies), and the one rule that says whether a copy
 * is the ledger's: used by every read-back basis (observe, digest mode's differing
 * rows), by `repair`'s verification (which reconciles again) and by
 * `verifySinkPayloads`. Internal.
 *
 * The rule: a copy matches only when everything the sink gave for it agrees with the
 * ledger. A stored checksum alone is compared as it is (no hashing: the hot path); a
 * payload is hashed and compared; when both are given, both must be the ledger's, so a
 * payload edited in place under a stored checksum, or a checksum column edited over an
 * intact payload, is `mismatched` with a {@link MismatchReason} that says which.
 *
 * @module
 */

import { algorithmOf, type Checksum, checksum } from "../checksum/checksum.js";
import type { JsonValue } from "../envelope/schema.js";
import type { MismatchReason, Observation } from "./types.js";

/** One copy of a key as a sink holds it. */
export interface Copy {
  readonly checksum: string | undefined;
  readonly payload: JsonValue | undefined;
  readonly hasPayload: boolean;
  /** The payload's checksum, once computed (a copy is judged more than once). */
  hashed?: { readonly algorithm: "xxh64" | "sha256"; readonly value: string | undefined };
}

/** Every copy of one key at a sink: the first, the first that differs from it, and how many. */
export interface Held {
  readonly first: Copy;
  other: Copy | undefined;
  count: number;
}

/** A key's copies: a bare checksum string when there is one copy with a checksum (most keys). */
export type Slot = string | Held;

/** Why a copy is not the ledger's, with the checksums the sink gave. */
export interface CopyMismatch {
  readonly mismatch: MismatchReason;
  /** The payload's checksum when a payload was given, else the stored checksum. */
  readonly observed: string | undefined;
  /** The stored checksum, when it is not the payload's (the row disagrees with itself). */
  readonly storedChecksum?: string | undefined;
}

/**
 * The checksum of a copy's payload in `algorithm`; undefined when the payload cannot be
 * canonicalized (it then matches nothing).
 */
export function payloadChecksum(copy: Copy, algorithm: "xxh64" | "sha256"): string | undefined {
  if (copy.hashed?.algorithm === algorithm) return copy.hashed.value;
  let value: string | undefined;
  try {
    value = checksum(copy.payload, { algorithm });
  } catch {
    value = undefined;
  }
  copy.hashed = { algorithm, value };
  return value;
}

function algorithmOfText(value: string): "xxh64" | "sha256" {
  return algorithmOf(value as Checksum);
}

/** The checksum a copy shows: its payload's (in `algorithm`) when it has one, else the stored one. */
export function copyChecksum(copy: Copy, algorithm: "xxh64" | "sha256"): string | undefined {
  return copy.hasPayload ? payloadChecksum(copy, algorithm) : copy.checksum;
}

/** Whether a copy's stored checksum is its payload's (true when it lacks either). */
export function isSelfConsistent(copy: Copy): boolean {
  if (!copy.hasPayload || copy.checksum === undefined) return true;
  return payloadChecksum(copy, algorithmOfText(copy.checksum)) === copy.checksum;
}

/** Judges one copy against the checksum the sink should hold: undefined when it matches. */
export function judgeCopy(copy: Copy, expected: string): CopyMismatch | undefined {
  const stored = copy.checksum;
  if (!copy.hasPayload)
    return stored === expected ? undefined : { mismatch: "checksum", observed: stored };
  const fromPayload = payloadChecksum(copy, algorithmOfText(expected));
  const payloadOk = fromPayload === expected;
  if (stored === undefined)
    return payloadOk ? undefined : { mismatch: "payload", observed: fromPayload };
  const storedOk = stored === expected;
  if (payloadOk && storedOk) return undefined;
  if (payloadOk || storedOk) {
    return {
      mismatch: payloadOk ? "checksum-edited" : "payload-edited",
      observed: fromPayload,
      storedChecksum: stored,
    };
  }
  return isSelfConsistent(copy)
    ? { mismatch: "value", observed: fromPayload }
    : { mismatch: "self-inconsistent", observed: fromPayload, storedChecksum: stored };
}

export function toCopy(o: Observation): Copy {
  return { checksum: o.checksum, payload: o.payload, hasPayload: o.payload !== undefined };
}

export function toHeld(slot: Slot): Held {
  return typeof slot === "string"
    ? {
        first: { checksum: slot, payload: undefined, hasPayload: false },
        other: undefined,
        count: 1,
      }
    : slot;
}

/**
 * Whether two copies hold the same thing as far as the sink said: the same stored
 * checksum (or none) and the same payload (or none).
 */
function sameCopy(a: Copy, b: Copy): boolean {
  if (a.checksum !== b.checksum || a.hasPayload !== b.hasPayload) return false;
  if (!a.hasPayload) return true;
  const algorithm = a.checksum === undefined ? "xxh64" : algorithmOfText(a.checksum);
  const x = payloadChecksum(a, algorithm);
  return x !== undefined && x === payloadChecksum(b, algorithm);
}

/** What a sink holds for a key after one more observation of it (`slot`: before). */
export function merge(slot: Slot | undefined, o: Observation): Slot {
  const count = o.count ?? 1;
  if (slot === undefined) {
    return count === 1 && o.payload === undefined && o.checksum !== undefined
      ? o.checksum
      : { first: toCopy(o), other: undefined, count };
  }
  const held = toHeld(slot);
  held.count += count;
  if (held.other === undefined) {
    const copy = toCopy(o);
    if (!sameCopy(held.first, copy)) held.other = copy;
  }
  return held;
}
