/**
 * `guardSink`: wraps a sink writer so that every delivery is checked against the ledger,
 * claimed, written at most once per claim, retried with backoff, and remembered as a
 * receipt; and so that the sink's watermark advances as entries are done.
 *
 * Promises:
 * - nothing reaches the writer unless its envelope is in the ledger, unchanged;
 * - for one (sink, key), the writer never runs twice at once while a claim is live, and
 *   never again once the key has a final receipt (unless it is a replay);
 * - every `deliver` returns a receipt (written, duplicate, replayed, conflict, rejected or
 *   failed); every one that says something new is stored in the ledger first (a
 *   duplicate, or a repeated refusal, is answered from the final receipt already there);
 * - the watermark only moves forward, to the highest position below which every entry
 *   has a final receipt at this sink.
 *
 * A crash after the write but before the receipt leaves a claim that expires; the entry
 * is then written again, so writers must be idempotent by key (docs/sinks.md has recipes).
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import {
  DeliveryError,
  InvalidArgumentError,
  isSinkproofError,
  type ValidationIssue,
} from "../errors.js";
import {
  describe,
  errorSummary,
  errorText,
  invalidArgument,
  isIterableObject,
  reading,
  show,
} from "../internal/arguments.js";
import { type OptionKeys, optionKeys, readOptions, readProperty } from "../internal/options.js";
import type { Claim, Ledger, Receipt, ReceiptStatus, SinkFreeze } from "../ledger/types.js";
import { checkName, isFinalStatus } from "../ledger/validate.js";
import { logger } from "../observe/debug.js";
import { checkMetrics, type Metrics, safeMetrics } from "../observe/metrics.js";
import { checkAccepts, checkRegistry, envelopeForSink } from "../schema/accepts.js";
import type { SchemaRegistry } from "../schema/registry.js";
import { watchFreezes } from "./freezes.js";
import { createLeases, type Lease } from "./leases.js";
import { defaultOwner, isDeadLocalOwner } from "./owner.js";
import { backoffMs, type RetryOptions, resolveRetry } from "./retry.js";
import { checkSigningKey, type ReceiptSigningKey, signWith } from "./signing.js";
import { isSafeParseSchema, type SafeParseSchema, schemaIssues } from "./validation.js";

/** What the writer is told about the delivery it performs. */
export interface SinkWriteContext {
  /** The sink's name. */
  readonly sink: string;
  /** 1 for the first try, then 2, 3, … */
  readonly attempt: number;
  /** True when a repair writes the entry again. */
  readonly replay: boolean;
  /** The entry's ledger position. */
  readonly position: number;
  /**
   * The fencing token of the claim this write runs under: strictly greater than any
   * earlier claim's on this (sink, key). Store it beside the row and refuse a write whose
   * token is not above the stored one (`… WHERE stored_token < $token`): then a writer
   * paused past its claim, whose claim was taken over, can never overwrite the newer
   * holder's write (docs/sinks.md).
   */
  readonly fencingToken: number;
  /**
   * Aborts when the caller gives up, or as soon as the guard learns the claim was lost
   * (taken over by another deliverer while this write ran too long).
   */
  readonly signal: AbortSignal;
  /**
   * The ledger's envelope when the guard upcast it to a version the sink accepts (the
   * writer receives the upcast one, with its own checksum); undefined otherwise. Give
   * `reconcile` the sink's `accepts` and `registry` to compare the sink with the upcasts.
   */
  readonly original: Envelope | undefined;
}

/** What a writer may return: where the sink put the envelope (a row id, an offset, a version). */
export interface SinkWriteResult {
  /** Stored in the receipt as `sinkOffset`. At most 1024 characters. */
  readonly offset?: string | undefined;
}

/**
 * Writes one envelope to the sink. Must be idempotent by `envelope.key` (an upsert, a PUT
 * by key, a document id): after a crash between the write and its receipt, the same
 * envelope is written again. Throw to fail the attempt; wrap in `permanent()` to stop retries.
 */
export type SinkWriter = (
  envelope: Envelope,
  context: SinkWriteContext,
) => Promise<SinkWriteResult | undefined | void> | SinkWriteResult | undefined | void;

/**
 * The sink's own validator: return the problems (or throw nothing and return nothing when
 * the envelope is fine). A zod schema is accepted too; it is applied to the payload.
 */
export type SinkValidator =
  | ((envelope: Envelope) => readonly ValidationIssue[] | undefined | void)
  | SafeParseSchema;

/** Options of {@link guardSink}. */
export interface GuardSinkOptions {
  /** The sink's name: receipts, claims and the watermark are kept under it. 1-128 characters. */
  readonly name: string;
  /** The ledger the envelopes come from. */
  readonly ledger: Ledger;
  /** Writes one envelope to the sink; see {@link SinkWriter}. */
  readonly write: SinkWriter;
  /** The sink's validator; a refused envelope gets a `rejected` receipt, no write, no retry. */
  readonly validate?: SinkValidator | undefined;
  /** Retries of a failing write. */
  readonly retry?: RetryOptions | undefined;
  /**
   * Most writes in flight at once in `deliverAll`.
   * @default 8
   */
  readonly concurrency?: number | undefined;
  /**
   * How long a claim lives before another deliverer may take over; renewed while a write
   * runs. Longer than the slowest write you expect.
   * @default 30_000
   */
  readonly claimTtlMs?: number | undefined;
  /**
   * Who this guard is, in claims.
   * @default `<hostname>:<pid>:<random>`
   */
  readonly owner?: string | undefined;
  /** Where to report; see docs/observability.md. */
  readonly metrics?: Metrics | undefined;
  /** Sign every receipt with HMAC-SHA256 under this key. */
  readonly signReceipts?: ReceiptSigningKey | undefined;
  /**
   * Milliseconds since the epoch, for receipt times and durations.
   * @default Date.now
   */
  readonly clock?: (() => number) | undefined;
  /**
   * How often to look again when another deliverer holds the claim, in ms.
   * @default 20
   */
  readonly pollMs?: number | undefined;
  /**
   * Schema versions the sink accepts, per schema name: `{ order: [2, 3] }`. An envelope of
   * an older version is upcast with `registry` to the newest version the sink accepts
   * before it is written; one that cannot be (newer than the range, no registry, a
   * missing upcaster, an invalid result) gets a `rejected` receipt whose error says why.
   * Schema names not listed pass as they are.
   */
  readonly accepts?: Readonly<Record<string, readonly [number, number]>> | undefined;
  /** The registry that upcasts envelopes into the range of `accepts`. */
  readonly registry?: SchemaRegistry | undefined;
  /**
   * How old (by `clock`) the guard's knowledge of the sink's freezes may be, in ms: a
   * freeze put by any process on this ledger stops this guard's deliveries at most this
   * long after (plus one ledger read). 0 reads the freezes before every delivery.
   * @default 1000
   */
  readonly freezeCheckMs?: number | undefined;
}

/** A claim another deliverer holds, that a delivery waits for. */
export interface ClaimWait {
  /** The sink. */
  readonly sink: string;
  /** The key waited for. */
  readonly key: string;
  /** Who holds the claim. */
  readonly owner: string;
  /** When the claim expires unless renewed: ISO-8601 UTC. */
  readonly until: string;
}

/** Options of one delivery. */
export interface DeliverOptions {
  /** A repair writing the entry again: written even when the key is done; receipt `replayed`. */
  readonly replay?: boolean | undefined;
  /** Stops waiting and retrying; the receipt is then `failed` with code `aborted`. */
  readonly signal?: AbortSignal | undefined;
  /** Told each time the delivery starts waiting for a claim another deliverer holds. */
  readonly onWait?: ((wait: ClaimWait) => void) | undefined;
}

/** Options of {@link SinkGuard.freeze}. */
export interface GuardFreezeOptions {
  /**
   * Who freezes it, for the audit record.
   * @default the guard's owner
   */
  readonly actor?: string | undefined;
  /**
   * The freeze's origin.
   * @default "manual"
   */
  readonly origin?: string | undefined;
}

/** Options of {@link SinkGuard.unfreeze}. */
export interface GuardUnfreezeOptions {
  /**
   * Why, for the audit record.
   * @default "unfrozen"
   */
  readonly reason?: string | undefined;
  /**
   * Who lifts it, for the audit record.
   * @default the guard's owner
   */
  readonly actor?: string | undefined;
  /**
   * Lift only the freeze of this origin.
   * @default every freeze of the sink
   */
  readonly origin?: string | undefined;
}

/** The last failed delivery of a guard. */
export interface SinkFailure {
  /** The error's code (the writer's `code`, or `write_failed`). */
  readonly code: string;
  /** The error's message. */
  readonly message: string;
  /** When: ISO-8601 UTC. */
  readonly at: string;
}

/** What {@link SinkGuard.measure} found. */
export interface SinkMeasure {
  /** Ledger head minus the sink's watermark, in entries. */
  readonly lag: number;
  /** Age of the oldest entry past the watermark, in ms; 0 when caught up. */
  readonly oldestUndeliveredAgeMs: number;
}

/** What {@link SinkGuard.status} reports. */
export interface SinkStatus {
  /** The sink's name. */
  readonly name: string;
  /** The sink's oldest freeze as this guard last read it; set while it refuses deliveries. */
  readonly frozen: SinkFreeze | undefined;
  /** Every freeze of the sink as this guard last read them. */
  readonly freezes: readonly SinkFreeze[];
  /** Claims held by other deliverers that deliveries of this guard wait for now. */
  readonly waiting: readonly ClaimWait[];
  /** Deliveries running now. */
  readonly inFlight: number;
  /** Deliveries refused while frozen, since the guard was made. */
  readonly refused: number;
  /** The last failure, if any. */
  readonly lastError: SinkFailure | undefined;
  /** The watermark as this guard last saw it (0 before its first delivery). */
  readonly watermark: number;
}

/** A guarded sink: see {@link guardSink}. */
export interface SinkGuard {
  /** The sink's name. */
  readonly name: string;
  /** The ledger it delivers from. */
  readonly ledger: Ledger;
  /**
   * Delivers one envelope and returns its receipt. Throws `DeliveryError` when the sink is
   * frozen or the envelope is not in the ledger as given; ledger failures propagate.
   */
  deliver(envelope: Envelope, options?: DeliverOptions): Promise<Receipt>;
  /**
   * Delivers many, at most `concurrency` at once, in order within each stream. Returns the
   * receipts in input order; if a delivery throws, the others still finish and then the
   * first error is thrown.
   */
  deliverAll(
    envelopes: Iterable<Envelope> | AsyncIterable<Envelope>,
    options?: DeliverOptions,
  ): Promise<Receipt[]>;
  /**
   * Freezes the sink in the ledger (durable, audited): this guard refuses deliveries at
   * once, every other guard of the sink on this ledger within its `freezeCheckMs`, until
   * `unfreeze`. Repair replays (`deliver(envelope, { replay: true })`) still pass, so a
   * frozen sink can be repaired. Resolves to the freeze in place.
   */
  freeze(reason: string, options?: GuardFreezeOptions): Promise<SinkFreeze>;
  /**
   * Lifts the sink's freezes (or those of one origin), durably and audited; resolves to
   * the freezes lifted.
   */
  unfreeze(options?: GuardUnfreezeOptions): Promise<readonly SinkFreeze[]>;
  /** Frozen state, in-flight count, refusals, last error, watermark. */
  status(): SinkStatus;
  /**
   * Reads the lag (ledger head − watermark) and the age of the oldest undelivered entry,
   * reports both as gauges and returns them.
   */
  measure(): Promise<SinkMeasure>;
}

const SUCCESS: ReadonlySet<ReceiptStatus> = new Set(["written", "duplicate", "replayed"]);
const NO_WAITS: readonly ClaimWait[] = Object.freeze([]);

function describeError(error: unknown): { code: string; message: string } {
  const { code, message } = errorSummary(error, "write_failed");
  return { code, message };
}

function validatorIssues(validate: SinkValidator, envelope: Envelope): readonly ValidationIssue[] {
  if (typeof validate !== "function") return schemaIssues(validate, envelope.payload);
  const answer: unknown = validate(envelope) ?? [];
  return reading("options.validate()", () => {
    if (!Array.isArray(answer))
      invalidArgument(
        "options.validate()",
        `must return an array of issues or nothing, got ${describe(answer)}`,
      );
    // Read once into plain issues: the receipt stores exactly these.
    return answer.map((issue: unknown) => {
      const { path, code, message } = (issue ?? {}) as Record<string, unknown>;
      return {
        path: typeof path === "string" ? path.slice(0, 1024) : "$",
        code: (typeof code === "string" ? code.slice(0, 128) : "") || "invalid",
        message: typeof message === "string" ? message.slice(0, 4096) : show(message),
      };
    });
  });
}

/** The keys of {@link GuardSinkOptions}. Internal (the memory sink reads its guard options with them). */
export const GUARD_KEYS: OptionKeys<GuardSinkOptions> = optionKeys<GuardSinkOptions>()(
  "name",
  "ledger",
  "write",
  "validate",
  "retry",
  "concurrency",
  "claimTtlMs",
  "owner",
  "metrics",
  "signReceipts",
  "clock",
  "pollMs",
  "accepts",
  "registry",
  "freezeCheckMs",
);
const DELIVER_KEYS = optionKeys<DeliverOptions>()("replay", "signal", "onWait");
const FREEZE_KEYS = optionKeys<GuardFreezeOptions>()("actor", "origin");
const UNFREEZE_KEYS = optionKeys<GuardUnfreezeOptions>()("reason", "actor", "origin");
const NO_OPTIONS: DeliverOptions = Object.freeze({});

/** What a delivery reads of the caller's envelope, read once: the ledger has the rest. */
interface EnvelopeRef {
  readonly key: string;
  readonly checksum: unknown;
}

function envelopeRef(envelope: unknown): EnvelopeRef {
  if (typeof envelope !== "object" || envelope === null) {
    invalidArgument("envelope", `must be an envelope, got ${describe(envelope)}`);
  }
  const key = readProperty(envelope, "key", "envelope");
  if (typeof key !== "string") {
    invalidArgument("envelope", `must be an envelope, got ${describe(envelope)}`);
  }
  const checksum = readProperty(envelope, "checksum", "envelope");
  if (typeof checksum !== "string")
    invalidArgument("envelope.checksum", `must be a checksum, got ${describe(checksum)}`);
  return { key, checksum };
}

function readDeliverOptions(options: unknown): DeliverOptions {
  if (options === undefined) return NO_OPTIONS;
  const read = readOptions<DeliverOptions>(options, "options", DELIVER_KEYS);
  const { signal, onWait, replay } = read;
  if (
    signal !== undefined &&
    !reading(
      "options.signal",
      () => signal instanceof AbortSignal && typeof signal.aborted === "boolean",
    )
  ) {
    invalidArgument("options.signal", `must be an AbortSignal, got ${describe(signal)}`);
  }
  if (onWait !== undefined && typeof onWait !== "function")
    invalidArgument("options.onWait", `must be a function, got ${describe(onWait)}`);
  if (replay !== undefined && typeof replay !== "boolean")
    invalidArgument("options.replay", `must be a boolean, got ${describe(replay)}`);
  return read;
}

/** Why a delivery was aborted, for its receipt (the reason is the caller's, any value). */
function abortText(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason === undefined ? "aborted" : errorText(reason).slice(0, 4096) || "aborted";
}

/** A time from the guard's clock: an integer of ms within what a `Date` can hold. */
function checkedTime(ms: unknown): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0 || ms > 253_402_300_799_999) {
    invalidArgument(
      "options.clock()",
      `must return ms since the epoch, up to the end of year 9999, got ${show(ms)}`,
    );
  }
  return ms;
}

function checkLedgerOption(ledger: unknown): Ledger {
  if (
    typeof ledger !== "object" ||
    ledger === null ||
    typeof readProperty(ledger, "claim", "options.ledger") !== "function"
  ) {
    invalidArgument("options.ledger", `must be a ledger, got ${describe(ledger)}`);
  }
  return ledger as Ledger;
}

/**
 * Wraps a sink writer in a guard: ledger check, claim, validation, retries, receipt,
 * watermark, metrics. See the module notes for what it promises.
 *
 * @example
 * ```ts
 * import { guardSink } from "sinkproof";
 * const warehouse = guardSink({
 *   name: "warehouse",
 *   ledger,
 *   write: async (envelope) => {
 *     await db.query(
 *       "INSERT INTO orders (key, body, checksum) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET body = $2, checksum = $3",
 *       [envelope.key, envelope.payload, envelope.checksum],
 *     );
 *   },
 *   retry: { attempts: 5 },
 * });
 * const receipt = await warehouse.deliver(envelope); // status "written", "duplicate", …
 * ```
 */
export function guardSink(guardOptions: GuardSinkOptions): SinkGuard {
  const options = readOptions<GuardSinkOptions>(guardOptions, "options", GUARD_KEYS, {
    required: true,
  });
  const name = checkName(options.name, "options.name");
  const ledger = checkLedgerOption(options.ledger);
  const write = options.write as SinkWriter;
  if (typeof write !== "function")
    invalidArgument("options.write", `must be a function, got ${describe(write)}`);
  const validate = options.validate;
  if (validate !== undefined && typeof validate !== "function" && !isSafeParseSchema(validate)) {
    invalidArgument("options.validate", "must be a function or a zod schema");
  }
  const retry = resolveRetry(options.retry);
  const integer = (value: unknown, where: string, min: number, max: number, fallback: number) => {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      invalidArgument(where, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
    }
    return value;
  };
  const concurrency = integer(options.concurrency, "options.concurrency", 1, 10_000, 8);
  const claimTtlMs = integer(options.claimTtlMs, "options.claimTtlMs", 10, 86_400_000, 30_000);
  const pollMs = integer(options.pollMs, "options.pollMs", 1, 60_000, 20);
  const freezeCheckMs = integer(options.freezeCheckMs, "options.freezeCheckMs", 0, 3_600_000, 1000);
  const owner =
    options.owner === undefined ? defaultOwner() : checkName(options.owner, "options.owner", 256);
  const metrics = safeMetrics(checkMetrics(options.metrics, "options.metrics"));
  const signer =
    options.signReceipts === undefined
      ? undefined
      : checkSigningKey(options.signReceipts, "options.signReceipts");
  const clock = options.clock ?? Date.now;
  if (typeof clock !== "function")
    invalidArgument("options.clock", `must be a function, got ${describe(clock)}`);
  const labels = Object.freeze({ sink: name });
  const log = logger(`sink:${name}`);
  const accepts = checkAccepts(options.accepts, "options.accepts");
  const registry = checkRegistry(options.registry, "options.registry");

  /** The envelope the sink is given: the ledger's, or its upcast into `accepts`. */
  const forSink = (stored: Envelope) => envelopeForSink(stored, accepts, registry);

  const freezes = watchFreezes(ledger, name, freezeCheckMs, clock);
  const waiting = new Map<string, ClaimWait>();
  let refused = 0;
  let lastError: SinkStatus["lastError"];
  let inFlight = 0;
  /** Deliveries of this guard running now, by key: later callers wait for them. */
  const running = new Map<string, Promise<unknown>>();
  let watermark: number | undefined;
  /** Positions done at this sink above the watermark, not yet folded into it. */
  const done = new Set<number>();
  let advancing: Promise<void> | undefined;
  let nextAdvance: Promise<void> | undefined;
  let wantCatchUp = false;

  let lastMs = Number.NaN;
  let lastIso = "";
  /** ISO time of `ms`, cached: deliveries in one millisecond share the string. */
  const iso = (ms: number) => {
    if (ms !== lastMs) {
      lastIso = new Date(checkedTime(ms)).toISOString();
      lastMs = ms;
    }
    return lastIso;
  };
  /** The clock's answer, checked before anything is claimed or written. */
  const now = (): number => checkedTime(clock());

  const leases = createLeases(ledger, claimTtlMs, clock, log);

  function sealAnswer(receipt: Receipt): Receipt {
    return signer === undefined
      ? Object.freeze(receipt)
      : signWith(receipt, signer.keyId, signer.secret);
  }

  async function record(receipt: Receipt): Promise<Receipt> {
    const stored = sealAnswer(receipt);
    await ledger.putReceipt(stored);
    return stored;
  }

  /**
   * Folds a final receipt at `position` into the watermark (serialized per guard). Other
   * guards of the sink may have delivered the positions in between: when this guard's own
   * record cannot move the watermark, it reads the ledger's receipts, one position at a
   * time (`catchUp` reads them even when it has no record of its own waiting).
   */
  function advance(position: number | undefined, catchUp = false): Promise<void> {
    if (position !== undefined) done.add(position);
    if (catchUp) wantCatchUp = true;
    // One run at a time; callers arriving during a run share the next one, which folds
    // everything they added: under load the watermark is written once per run, not per
    // delivery.
    if (advancing === undefined) {
      advancing = foldWatermark().finally(() => {
        advancing = undefined;
      });
      return advancing;
    }
    nextAdvance ??= advancing
      .catch(() => undefined)
      .then(() => {
        nextAdvance = undefined;
        return advance(undefined);
      });
    return nextAdvance;
  }

  async function foldWatermark(): Promise<void> {
    const catchUp = wantCatchUp;
    wantCatchUp = false;
    let w = watermark ?? (await ledger.getWatermark(name));
    const start = w;
    for (let steps = 0; steps < 100_000; steps++) {
      if (done.delete(w + 1)) {
        w++;
        continue;
      }
      if (done.size === 0 && !catchUp) break;
      let final = false;
      for await (const receipt of ledger.scanReceipts(name, { from: w + 1, to: w + 1 })) {
        if (isFinalStatus(receipt.status)) final = true;
      }
      if (!final) break;
      w++;
    }
    for (const p of done) if (p <= w) done.delete(p);
    watermark = w > start ? await ledger.advanceWatermark(name, w) : w;
  }

  function receiptOf(
    entryEnvelope: Envelope,
    position: number,
    status: ReceiptStatus,
    attempt: number,
    startedAt: number,
    extra: Partial<Pick<Receipt, "sinkOffset" | "error" | "issues" | "fencingToken">> = {},
  ): Receipt {
    return {
      sink: name,
      key: entryEnvelope.key,
      id: entryEnvelope.id,
      position,
      status,
      checksum: entryEnvelope.checksum,
      attempt,
      startedAt: iso(startedAt),
      finishedAt: iso(clock()),
      ...extra,
    };
  }

  /**
   * Stores a final receipt of a write under a claim; if the ledger fences it off (a newer
   * claim took the key over while the write ran), stores and returns a `superseded`
   * receipt instead: the newer holder's receipt is the one that counts.
   */
  async function recordUnderClaim(receipt: Receipt): Promise<Receipt> {
    try {
      return await record(receipt);
    } catch (error) {
      if (!isSinkproofError(error) || error.code !== "fenced" || !isFinalStatus(receipt.status)) {
        throw error;
      }
      log("%s at %d: claim lost while writing, superseded", receipt.key, receipt.position);
      return record({
        ...receipt,
        status: "superseded",
        error: {
          code: "superseded",
          message: `the claim (fencing token ${receipt.fencingToken}) was taken over by a newer deliverer before the ${receipt.status} receipt was stored`,
        },
      });
    }
  }

  /**
   * Ends a delivery: stores the receipt (unless `store` is false: a repeated answer adds
   * nothing to what the ledger knows), counts it, and folds a final one into the watermark.
   */
  async function finish(receipt: Receipt, startedAt: number, store = true): Promise<Receipt> {
    const stored = !store
      ? sealAnswer(receipt)
      : receipt.fencingToken === undefined
        ? await record(receipt)
        : await recordUnderClaim(receipt);
    const counter =
      stored.status === "written"
        ? "sinkproof.delivered"
        : stored.status === "duplicate"
          ? "sinkproof.duplicates"
          : stored.status === "replayed"
            ? "sinkproof.replayed"
            : stored.status === "conflict"
              ? "sinkproof.conflicts"
              : stored.status === "rejected"
                ? "sinkproof.rejected"
                : stored.status === "superseded"
                  ? "sinkproof.superseded"
                  : "sinkproof.failed";
    metrics.counter(counter, 1, labels);
    metrics.histogram("sinkproof.delivery.duration", clock() - startedAt, labels);
    if (
      (stored.status === "failed" || stored.status === "superseded") &&
      stored.error !== undefined
    ) {
      lastError = {
        code: stored.error.code,
        message: stored.error.message,
        at: stored.finishedAt,
      };
    }
    if (store && isFinalStatus(stored.status)) await advance(receipt.position);
    log("%s %s at %d: %s", stored.status, stored.key, stored.position, stored.error?.message ?? "");
    return stored;
  }

  async function writeWithRetries(
    entryEnvelope: Envelope,
    written: Envelope,
    position: number,
    replay: boolean,
    signal: AbortSignal | undefined,
    startedAt: number,
    lease: Lease,
  ): Promise<Receipt> {
    const fencingToken = lease.claim.fencingToken;
    const original = written === entryEnvelope ? undefined : entryEnvelope;
    let lastFailure: { code: string; message: string } = {
      code: "write_failed",
      message: "not written",
    };
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      if (signal?.aborted) {
        return receiptOf(entryEnvelope, position, "failed", attempt, startedAt, {
          error: { code: "aborted", message: abortText(signal) },
          fencingToken,
        });
      }
      if (lease.lost) {
        // Another deliverer holds the key now: a further attempt would only race it.
        return receiptOf(entryEnvelope, position, "superseded", attempt, startedAt, {
          error: {
            code: "claim_lost",
            message: `the claim (fencing token ${fencingToken}) was taken over before attempt ${attempt}`,
          },
          fencingToken,
        });
      }
      try {
        const result = await write(written, {
          sink: name,
          attempt,
          replay,
          position,
          fencingToken,
          get signal() {
            return lease.signal;
          },
          original,
        });
        const offset = result?.offset;
        return receiptOf(
          entryEnvelope,
          position,
          replay ? "replayed" : "written",
          attempt,
          startedAt,
          {
            ...(typeof offset === "string" ? { sinkOffset: offset.slice(0, 1024) } : {}),
            fencingToken,
          },
        );
      } catch (error) {
        lastFailure = describeError(error);
        log("attempt %d of %s failed: %s", attempt, entryEnvelope.key, lastFailure.message);
        if (!retry.retryable(error) || attempt === retry.attempts) {
          return receiptOf(entryEnvelope, position, "failed", attempt, startedAt, {
            error: lastFailure,
            fencingToken,
          });
        }
      }
      metrics.counter("sinkproof.retries", 1, labels);
      try {
        await retry.sleep(backoffMs(retry, attempt), signal);
      } catch {
        return receiptOf(entryEnvelope, position, "failed", attempt, startedAt, {
          error: { code: "aborted", message: abortText(signal) },
          fencingToken,
        });
      }
    }
    return receiptOf(entryEnvelope, position, "failed", retry.attempts, startedAt, {
      error: lastFailure,
      fencingToken,
    });
  }

  function rejected(
    stored: Envelope,
    position: number,
    startedAt: number,
    issues: readonly ValidationIssue[],
    code: string,
    fencingToken: number,
  ): Receipt {
    return receiptOf(stored, position, "rejected", 1, startedAt, {
      fencingToken,
      error: {
        code,
        message: `${issues.length} issue(s): ${issues[0]?.path}: ${issues[0]?.message}`.slice(
          0,
          4096,
        ),
      },
      issues: issues.slice(0, 100).map((i) => ({
        path: typeof i.path === "string" ? i.path.slice(0, 1024) : "$",
        code: (typeof i.code === "string" ? i.code.slice(0, 128) : "") || "invalid",
        message: typeof i.message === "string" ? i.message.slice(0, 4096) : show(i.message),
      })),
    });
  }

  /**
   * Under the claim: upcast into the sink's versions, validate, write. Done here, not
   * before the claim, so a key already done is answered without upcasting or validating
   * it again.
   */
  async function writeUnderClaim(
    stored: Envelope,
    position: number,
    replay: boolean,
    signal: AbortSignal | undefined,
    startedAt: number,
    lease: Lease,
  ): Promise<Receipt> {
    const token = lease.claim.fencingToken;
    const given = forSink(stored);
    if (given.issues !== undefined) {
      return rejected(stored, position, startedAt, given.issues, given.code, token);
    }
    const written = given.envelope;
    if (validate !== undefined) {
      const issues = validatorIssues(validate, written);
      if (issues.length > 0)
        return rejected(stored, position, startedAt, issues, "rejected", token);
    }
    return writeWithRetries(stored, written, position, replay, signal, startedAt, lease);
  }

  /** Refuses a delivery of a frozen sink (replays pass): counted, logged, thrown. */
  function refuseIfFrozen(found: readonly SinkFreeze[], key: string, replay: boolean): void {
    const first = found[0];
    if (first === undefined || replay) return;
    refused++;
    metrics.counter("sinkproof.refused", 1, labels);
    log("refused %s: frozen (%s)", key, first.reason);
    throw new DeliveryError("sink_frozen", `Sink ${name} is frozen: ${first.reason}`, {
      sink: name,
      key,
    });
  }

  /** The delivery waits for `wait`: said once per holder, in the debug log and to `onWait`. */
  function noteWait(wait: ClaimWait, options: DeliverOptions): void {
    const known = waiting.get(wait.key);
    if (known?.owner === wait.owner && known.until === wait.until) return;
    waiting.set(wait.key, wait);
    log("waiting for %s: claimed by %s until %s", wait.key, wait.owner, wait.until);
    options.onWait?.(wait);
  }

  async function deliverOnce(envelope: EnvelopeRef, options: DeliverOptions): Promise<Receipt> {
    const replay = options.replay ?? false;
    const signal = options.signal;
    const startedAt = now();
    const entry = await ledger.get(envelope.key);
    if (entry === undefined) {
      throw new DeliveryError(
        "not_in_ledger",
        `Envelope ${JSON.stringify(envelope.key)} is not in the ledger: nothing reaches a sink before it is durable`,
        {
          sink: name,
          key: envelope.key,
        },
      );
    }
    if (entry.envelope.checksum !== envelope.checksum) {
      throw new DeliveryError(
        "ledger_mismatch",
        `Envelope ${JSON.stringify(envelope.key)} has checksum ${envelope.checksum}, the ledger holds ${entry.envelope.checksum}`,
        { sink: name, key: envelope.key, position: entry.position },
      );
    }
    // The ledger's copy is the one written: it is durable and verified.
    const stored = entry.envelope;
    let takeOverFrom: string | undefined;
    try {
      for (;;) {
        const claimed = await ledger.claim(name, stored.key, {
          owner,
          ttlMs: claimTtlMs,
          replay,
          ...(takeOverFrom === undefined ? {} : { takeOverFrom }),
        });
        if (claimed.status === "acquired") {
          waiting.delete(stored.key);
          return await underClaim(stored, entry.position, replay, signal, startedAt, claimed.claim);
        }
        if (claimed.status === "done") {
          waiting.delete(stored.key);
          return await answerDone(stored, entry.position, claimed.receipt, startedAt);
        }
        // Held by a process of this host that no longer exists: a crash left it. Taken over
        // at once (only from that exact owner), instead of waiting out its TTL.
        if (claimed.owner !== takeOverFrom && isDeadLocalOwner(claimed.owner)) {
          log("taking over %s from %s: that process is gone", stored.key, claimed.owner);
          takeOverFrom = claimed.owner;
          continue;
        }
        takeOverFrom = undefined;
        noteWait(
          { sink: name, key: stored.key, owner: claimed.owner, until: iso(claimed.expiresAt) },
          options,
        );
        // Held by another deliverer: wait for it (here, or by polling the ledger).
        try {
          const wait = Math.max(1, Math.min(pollMs, claimed.expiresAt - clock() + 1));
          await retry.sleep(wait, signal);
        } catch {
          return await finish(
            receiptOf(stored, entry.position, "failed", 1, startedAt, {
              error: {
                code: "aborted",
                message: abortText(signal),
              },
            }),
            startedAt,
          );
        }
      }
    } finally {
      waiting.delete(stored.key);
    }
  }

  /** The write and its receipt, under an acquired claim; the claim is released after. */
  async function underClaim(
    stored: Envelope,
    position: number,
    replay: boolean,
    signal: AbortSignal | undefined,
    startedAt: number,
    claim: Claim,
  ): Promise<Receipt> {
    const lease = leases.hold(claim, signal);
    let receipt: Receipt;
    try {
      // A freeze this guard learnt of while the delivery waited for its claim.
      refuseIfFrozen(freezes.cached(), stored.key, replay);
      receipt = await writeUnderClaim(stored, position, replay, signal, startedAt, lease);
    } catch (error) {
      // Frozen, or a validator or an upcaster's host threw: let the claim go first.
      leases.letGo(stored.key);
      await ledger.releaseClaim(lease.claim).catch(() => undefined);
      throw error;
    }
    leases.letGo(stored.key);
    try {
      return await finish(receipt, startedAt);
    } finally {
      // Whether or not the receipt could be stored: the claim is not left held.
      await ledger
        .releaseClaim(lease.claim)
        .catch((error: unknown) => log("release failed: %O", error));
    }
  }

  /** The answer for a key that already has a final receipt at this sink. */
  async function answerDone(
    stored: Envelope,
    position: number,
    previous: Receipt,
    startedAt: number,
  ): Promise<Receipt> {
    const offset = previous.sinkOffset === undefined ? {} : { sinkOffset: previous.sinkOffset };
    if (SUCCESS.has(previous.status)) {
      if (previous.checksum === stored.checksum) {
        // Already done: answered, not stored (the final receipt already says so).
        return finish(
          receiptOf(stored, position, "duplicate", 1, startedAt, offset),
          startedAt,
          false,
        );
      }
      return finish(
        receiptOf(stored, position, "conflict", 1, startedAt, {
          error: {
            code: "conflict",
            message: `the sink holds this key with checksum ${previous.checksum}`,
          },
          ...offset,
        }),
        startedAt,
      );
    }
    // A final refusal (rejected, conflict) stands: the same answer, no write, nothing new to store.
    return finish(
      receiptOf(stored, position, previous.status, 1, startedAt, {
        ...(previous.error === undefined ? {} : { error: previous.error }),
        ...(previous.issues === undefined ? {} : { issues: previous.issues }),
      }),
      startedAt,
      false,
    );
  }

  function deliver(envelope: Envelope, deliverOptions?: DeliverOptions): Promise<Receipt> {
    try {
      return deliverWith(envelopeRef(envelope), readDeliverOptions(deliverOptions));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async function deliverWith(envelope: EnvelopeRef, options: DeliverOptions): Promise<Receipt> {
    if (options.replay !== true) {
      const found = freezes.current();
      refuseIfFrozen(Array.isArray(found) ? found : await found, envelope.key, false);
    }
    // Deliveries of one key in this process queue behind each other: only the first writes.
    const before = running.get(envelope.key);
    const mine =
      before === undefined
        ? deliverOnce(envelope, options)
        : before.then(
            () => deliverOnce(envelope, options),
            () => deliverOnce(envelope, options),
          );
    running.set(envelope.key, mine);
    inFlight++;
    try {
      return await mine;
    } finally {
      inFlight--;
      if (running.get(envelope.key) === mine) running.delete(envelope.key);
    }
  }

  async function deliverAll(
    envelopes: Iterable<Envelope> | AsyncIterable<Envelope>,
    deliverOptions?: DeliverOptions,
  ): Promise<Receipt[]> {
    const options = readDeliverOptions(deliverOptions);
    if (!isIterableObject(envelopes)) {
      invalidArgument("envelopes", `must be an iterable of envelopes, got ${describe(envelopes)}`);
    }
    const receipts: Receipt[] = [];
    const errors: unknown[] = [];
    const tails = new Map<string, Promise<void>>();
    const active = new Set<Promise<void>>();
    let index = 0;
    const streamOf = (envelope: unknown): string => {
      try {
        const stream = (envelope as { stream?: unknown } | null | undefined)?.stream;
        return typeof stream === "string" ? stream : "";
      } catch {
        return ""; // deliverWith reports the unreadable envelope
      }
    };
    try {
      for await (const envelope of envelopes as AsyncIterable<Envelope>) {
        const i = index++;
        while (active.size >= concurrency) await Promise.race(active);
        const stream = streamOf(envelope);
        const previous = tails.get(stream) ?? Promise.resolve();
        const task: Promise<void> = previous
          .then(() => deliverWith(envelopeRef(envelope), options))
          .then(
            (receipt) => {
              receipts[i] = receipt;
            },
            (error: unknown) => {
              errors.push(error);
            },
          )
          .finally(() => {
            active.delete(task);
          });
        active.add(task);
        tails.set(stream, task);
      }
    } catch (error) {
      await Promise.all(active);
      if (isSinkproofError(error)) throw error;
      throw new InvalidArgumentError(
        "invalid_argument",
        `envelopes could not be iterated: ${errorText(error)}`,
        { path: "envelopes", cause: error },
      );
    }
    await Promise.all(active);
    if (errors.length > 0) throw errors[0];
    return receipts;
  }

  return {
    name,
    ledger,
    deliver,
    deliverAll,
    async freeze(reason: string, options?: GuardFreezeOptions) {
      if (typeof reason !== "string" || reason.length === 0)
        invalidArgument("reason", "must be a non-empty string");
      const freezeOptions = readOptions<GuardFreezeOptions>(options, "options", FREEZE_KEYS);
      const freeze = await ledger.freezeSink(name, {
        reason: reason.slice(0, 4096),
        actor: freezeOptions.actor ?? owner,
        ...(freezeOptions.origin === undefined ? {} : { origin: freezeOptions.origin }),
      });
      await freezes.refresh();
      log("frozen: %s", freeze.reason);
      return freeze;
    },
    async unfreeze(options?: GuardUnfreezeOptions) {
      const unfreezeOptions = readOptions<GuardUnfreezeOptions>(options, "options", UNFREEZE_KEYS);
      const lifted = await ledger.unfreezeSink(name, {
        reason: unfreezeOptions.reason ?? "unfrozen",
        actor: unfreezeOptions.actor ?? owner,
        ...(unfreezeOptions.origin === undefined ? {} : { origin: unfreezeOptions.origin }),
      });
      await freezes.refresh();
      for (const freeze of lifted) log("unfrozen after: %s", freeze.reason);
      return lifted;
    },
    status() {
      const found = freezes.cached();
      return Object.freeze({
        name,
        frozen: found[0],
        freezes: found,
        waiting: waiting.size === 0 ? NO_WAITS : Object.freeze([...waiting.values()]),
        inFlight,
        refused,
        lastError,
        watermark: watermark ?? 0,
      });
    },
    async measure() {
      await advance(undefined, true);
      const head = await ledger.head();
      const w = await ledger.getWatermark(name);
      watermark = Math.max(watermark ?? 0, w);
      let oldestUndeliveredAgeMs = 0;
      for await (const entry of ledger.scan({ from: w + 1, limit: 1 })) {
        oldestUndeliveredAgeMs = Math.max(0, clock() - Date.parse(entry.appendedAt));
      }
      metrics.gauge("sinkproof.sink.lag", head - w, labels);
      metrics.gauge("sinkproof.sink.oldest_undelivered_age", oldestUndeliveredAgeMs, labels);
      return { lag: head - w, oldestUndeliveredAgeMs };
    },
  };
}
