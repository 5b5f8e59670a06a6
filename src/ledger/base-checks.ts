/**
 * The argument checks of `BaseLedger` that are more than one call: the options every
 * ledger takes, a claim's options, a claim handed back (`renewClaim`, `releaseClaim`),
 * and the clock's answer. Pure functions of the raw arguments: each reads what it is
 * given once and returns the checked values, or throws an `InvalidArgumentError` naming
 * the path. The one-call checks (names, keys, ranges, receipts) are in validate.ts.
 *
 * @module
 */

import { MAX_BYTES_LIMIT, MAX_DEPTH_LIMIT } from "../canonical/canonicalize.js";
import { describe, invalidArgument, show } from "../internal/arguments.js";
import { checkBoolean, checkInteger, optionalFunction } from "../internal/checks.js";
import { type OptionKeys, optionKeys, readOptions, readProperty } from "../internal/options.js";
import type { Claim, ClaimOptions } from "./types.js";
import { checkKey, checkName, isFencingToken, MAX_OWNER, MAX_TTL_MS } from "./validate.js";

/** Options every ledger takes. */
export interface LedgerOptions {
  /**
   * Milliseconds since the epoch: claim expiry and `appendedAt`. Inject a manual clock in
   * tests.
   * @default Date.now
   */
  readonly clock?: (() => number) | undefined;
  /**
   * Largest canonical payload accepted by `append`, in UTF-8 bytes.
   * @default 1_048_576 (1 MiB)
   */
  readonly maxPayloadBytes?: number | undefined;
  /**
   * Deepest payload nesting accepted by `append`.
   * @default 64
   */
  readonly maxDepth?: number | undefined;
}

/**
 * Checks the options every ledger takes (clock and payload limits), each error naming the
 * option as the caller spelled it. Adapters that open storage call it first, so bad
 * options leave storage untouched; the `BaseLedger` constructor calls it too. It reads only
 * these keys (an adapter may take more): each sinkproof adapter refuses unknown keys itself.
 */
export function checkLedgerOptions(options: LedgerOptions): LedgerOptions {
  if (typeof options !== "object" || options === null) {
    invalidArgument("options", `must be an object, got ${describe(options)}`);
  }
  const clock = readProperty(options, "clock", "options");
  const maxPayloadBytes = readProperty(options, "maxPayloadBytes", "options") as number | undefined;
  const maxDepth = readProperty(options, "maxDepth", "options") as number | undefined;
  optionalFunction(clock, "options.clock");
  if (maxPayloadBytes !== undefined) {
    checkInteger(maxPayloadBytes, "options.maxPayloadBytes", 1, MAX_BYTES_LIMIT);
  }
  if (maxDepth !== undefined) checkInteger(maxDepth, "options.maxDepth", 1, MAX_DEPTH_LIMIT);
  return { clock, maxPayloadBytes, maxDepth } as LedgerOptions;
}

/** The keys of {@link LedgerOptions}, for adapters that read their options strictly. */
export const LEDGER_OPTION_KEYS: OptionKeys<LedgerOptions> = optionKeys<LedgerOptions>()(
  "clock",
  "maxPayloadBytes",
  "maxDepth",
);

/** The last ms of year 9999: the latest time an envelope or a receipt can hold. */
const MAX_TIME_MS = 253_402_300_799_999;

/** What the ledger's clock answered, checked: ms since the epoch, within years 1970 to 9999. */
export function checkedNow(now: unknown): number {
  // Within what an ISO time of an envelope can say (years 1970 to 9999).
  if (typeof now !== "number" || !Number.isFinite(now) || now < 0 || now > MAX_TIME_MS) {
    invalidArgument(
      "options.clock()",
      `must return ms since the epoch, up to the end of year 9999, got ${show(now)}`,
    );
  }
  return now;
}

const CLAIM_KEYS = optionKeys<ClaimOptions>()("owner", "ttlMs", "replay", "takeOverFrom");

/** The options of `claim`, checked in order: owner, ttlMs, replay, takeOverFrom. */
export function checkClaimOptions(claimOptions: ClaimOptions): {
  owner: string;
  ttlMs: number;
  replay: boolean;
  takeOverFrom: string | undefined;
} {
  const options = readOptions<ClaimOptions>(claimOptions, "options", CLAIM_KEYS, {
    required: true,
  });
  const owner = checkName(options.owner, "options.owner", MAX_OWNER);
  const ttlMs = checkInteger(options.ttlMs, "options.ttlMs", 1, MAX_TTL_MS);
  const replay = checkBoolean(options.replay ?? false, "options.replay");
  const takeOverFrom =
    options.takeOverFrom === undefined
      ? undefined
      : checkName(options.takeOverFrom, "options.takeOverFrom", MAX_OWNER);
  return { owner, ttlMs, replay, takeOverFrom };
}

const CLAIM_FIELDS = optionKeys<Claim>()(
  "sink",
  "key",
  "owner",
  "token",
  "fencingToken",
  "expiresAt",
);

/**
 * Claims a claim table of this process made ({@link trustedClaim}): frozen plain objects of
 * checked fields, so one handed back needs no reading again.
 */
const CHECKED_CLAIMS = new WeakSet<object>();

/**
 * `claim`, made by a claim table from a checked request and its own token, frozen and marked
 * checked. It must be an object literal the caller just made, with exactly the fields of a
 * claim: it is frozen as it is, not copied (this runs for every claim of every batch).
 */
export function trustedClaim(claim: Claim): Claim {
  const frozen = Object.freeze(claim);
  CHECKED_CLAIMS.add(frozen);
  return frozen;
}

/** A claim handed back (to `renewClaim`, `releaseClaim`), read once and checked field by field. */
export function checkClaim(given: Claim): Claim {
  if (CHECKED_CLAIMS.has(given)) return given;
  if (typeof given !== "object" || given === null)
    invalidArgument("claim", `must be a claim, got ${describe(given)}`);
  const claim = readOptions<Claim>(given, "claim", CLAIM_FIELDS, { what: "a claim field" });
  const sink = checkName(claim.sink, "claim.sink");
  const key = checkKey(claim.key, "claim.key");
  const owner = checkName(claim.owner, "claim.owner", MAX_OWNER);
  if (typeof claim.token !== "string" || claim.token.length === 0 || claim.token.length > 64) {
    invalidArgument("claim.token", "must be the token `claim` returned");
  }
  if (typeof claim.expiresAt !== "number" || !Number.isFinite(claim.expiresAt)) {
    invalidArgument("claim.expiresAt", `must be a number of ms, got ${describe(claim.expiresAt)}`);
  }
  if (!isFencingToken(claim.fencingToken)) {
    invalidArgument("claim.fencingToken", "must be the fencing token `claim` returned");
  }
  return {
    sink,
    key,
    owner,
    token: claim.token,
    fencingToken: claim.fencingToken,
    expiresAt: claim.expiresAt,
  };
}
