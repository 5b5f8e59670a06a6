/**
 * Reconciliation checkpoints as the ledger keeps them: `putCheckpoint`'s argument checked
 * (shape, not truth: `reconcile` decides whether to trust one), and a stored one checked
 * on read, its damage a `CorruptionError`. Internal.
 *
 * @module
 */

import { isChecksum } from "../checksum/checksum.js";
import { isEnvelopeTime } from "../envelope/schema.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { corruption, type StorageSite } from "./read-checks.js";
import type { ReconcileCheckpoint } from "./types.js";
import { checkKey, checkName } from "./validate.js";

const CHECKPOINT_KEYS = optionKeys<ReconcileCheckpoint>()(
  "sink",
  "through",
  "at",
  "key",
  "checksum",
  "digest",
  "sweptAt",
);

/** `xxh64sum:` and 16 lower-case hex digits. */
const DIGEST = /^xxh64sum:[0-9a-f]{16}$/;

/** The digest of no entries. */
export const EMPTY_PREFIX_DIGEST = "xxh64sum:0000000000000000";

function time(value: unknown, where: string): string {
  if (typeof value !== "string" || !isEnvelopeTime(value)) {
    invalidArgument(
      where,
      `must be an ISO-8601 UTC time with milliseconds, got ${describe(value)}`,
    );
  }
  return value;
}

const swept = (sweptAt: string | undefined): { sweptAt?: string } =>
  sweptAt === undefined ? {} : { sweptAt };

/** A checkpoint to put, checked and frozen (a copy: later changes to the input do not count). */
export function checkCheckpoint(input: unknown, where: string): ReconcileCheckpoint {
  const o = readOptions<ReconcileCheckpoint>(input, where, CHECKPOINT_KEYS, { required: true });
  const sink = checkName(o.sink, `${where}.sink`);
  const through = o.through;
  if (typeof through !== "number" || !Number.isSafeInteger(through) || through < 0) {
    invalidArgument(`${where}.through`, `must be a non-negative integer, got ${describe(through)}`);
  }
  const at = time(o.at, `${where}.at`);
  const sweptAt = o.sweptAt === undefined ? undefined : time(o.sweptAt, `${where}.sweptAt`);
  if (typeof o.digest !== "string" || !DIGEST.test(o.digest)) {
    invalidArgument(
      `${where}.digest`,
      `must be "xxh64sum:" and 16 lower-case hex digits, got ${describe(o.digest)}`,
    );
  }
  if (through === 0) {
    if (o.key !== undefined) invalidArgument(`${where}.key`, "must be absent when through is 0");
    if (o.checksum !== undefined)
      invalidArgument(`${where}.checksum`, "must be absent when through is 0");
    if (o.digest !== EMPTY_PREFIX_DIGEST)
      invalidArgument(`${where}.digest`, `must be ${EMPTY_PREFIX_DIGEST} when through is 0`);
    return Object.freeze({ sink, through: 0, at, digest: o.digest, ...swept(sweptAt) });
  }
  const key = checkKey(o.key, `${where}.key`);
  if (!isChecksum(o.checksum)) {
    invalidArgument(`${where}.checksum`, `must be a checksum, got ${describe(o.checksum)}`);
  }
  return Object.freeze({
    sink,
    through: through + 0,
    at,
    key,
    checksum: o.checksum,
    digest: o.digest,
    ...swept(sweptAt),
  });
}

/**
 * A checkpoint read from storage for `sink`: checked as `putCheckpoint` checks one, and
 * of that sink; anything else is damage.
 */
export function adoptCheckpoint(
  stored: unknown,
  sink: string,
  site: StorageSite,
): ReconcileCheckpoint | undefined {
  if (stored === undefined || stored === null) return undefined;
  let checkpoint: ReconcileCheckpoint;
  try {
    checkpoint = checkCheckpoint(stored, "checkpoint");
  } catch (error) {
    throw corruption(
      site,
      undefined,
      `the checkpoint of ${JSON.stringify(sink)} is not one: ${(error as Error).message}`,
      error,
    );
  }
  if (checkpoint.sink !== sink) {
    throw corruption(
      site,
      undefined,
      `the checkpoint asked for ${JSON.stringify(sink)} is that of ${JSON.stringify(checkpoint.sink)}`,
    );
  }
  return checkpoint;
}
