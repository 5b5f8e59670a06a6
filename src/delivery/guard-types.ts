/**
 * The public types of `guardSink` (`guard.ts` exports them): its options, what a writer
 * is told and may answer, the options of one delivery and of a freeze, and the guard
 * object with its status and measures. Types only: the guard's steps import them from
 * here without importing the guard.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import type { ValidationIssue } from "../errors.js";
import type { Ledger, Receipt, SinkFreeze } from "../ledger/types.js";
import type { Metrics } from "../observe/metrics.js";
import type { SchemaRegistry } from "../schema/registry.js";
import type { RetryOptions } from "./retry.js";
import type { ReceiptSigningKey } from "./signing.js";
import type { SafeParseSchema } from "./validation.js";

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

/** What a batch writer is told about the batch it performs. */
export interface SinkBatchContext {
  /** The sink's name. */
  readonly sink: string;
  /** 1 for the first call with these envelopes, then 2, 3, … for the ones retried. */
  readonly attempt: number;
  /** True when a repair writes the entries again. */
  readonly replay: boolean;
  /** Aborts when the caller gives up. */
  readonly signal: AbortSignal;
  /**
   * One per envelope, in the same order: what {@link SinkWriteContext} tells a single
   * write (its position, the fencing token of its claim, a signal that aborts when that
   * claim is lost, the ledger's envelope when it was upcast).
   */
  readonly items: readonly SinkWriteContext[];
}

/** One envelope a batch writer did not write, and why. */
export interface SinkBatchFailure {
  /** The envelope's key (one of the batch's). */
  readonly key: string;
  /**
   * Why: retried like a single write's error while `retry.retryable` says so (wrap it in
   * `permanent()` to stop), else stored in its `failed` receipt.
   */
  readonly error: unknown;
}

/** What a batch writer may return; nothing (or `{}`) means every envelope was written. */
export interface SinkBatchResult {
  /**
   * The envelopes not written, by key (an Elasticsearch bulk response's failed items, the
   * rows a multi-row upsert refused); every other envelope of the batch counts as written.
   */
  readonly failed?: readonly SinkBatchFailure[] | undefined;
  /** Where the sink put each written envelope, by key (each stored as its receipt's `sinkOffset`). */
  readonly offsets?: Readonly<Record<string, string>> | undefined;
}

/**
 * Writes many envelopes to the sink in one call (a multi-row upsert, a COPY, a bulk
 * request), each under its own claim. Idempotent by key, as a {@link SinkWriter}; throw
 * to fail the whole call (retried while the error is retryable), or return the keys that
 * failed (see {@link SinkBatchResult}).
 */
export type SinkBatchWriter = (
  envelopes: readonly Envelope[],
  context: SinkBatchContext,
) => Promise<SinkBatchResult | undefined | void> | SinkBatchResult | undefined | void;

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
  /**
   * Writes one envelope to the sink; see {@link SinkWriter}. May be left out when
   * `writeBatch` is given: a single delivery then writes a batch of one.
   */
  readonly write?: SinkWriter | undefined;
  /**
   * Writes many envelopes in one call; see {@link SinkBatchWriter}. `deliverMany` (and a
   * pipeline's background workers) use it for every batch: one claim call, one write
   * call, one receipt call and one watermark move per batch. Without it, `deliverMany`
   * calls `write` for each envelope, at most `concurrency` at once.
   */
  readonly writeBatch?: SinkBatchWriter | undefined;
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
  /**
   * The timer that renews the claims of running writes (every `claimTtlMs / 6`). Inject
   * one to drive claim renewal from virtual time, as `simulate` does; a paused timer means
   * claims expire while their writes run.
   * @default the global `setInterval` and `clearInterval`
   */
  readonly timers?: GuardTimers | undefined;
}

/** An interval timer, as {@link GuardSinkOptions.timers} takes it. */
export interface GuardTimers {
  /** Calls `tick` every `ms` milliseconds until cleared; returns a handle for `clearInterval`. */
  setInterval(tick: () => void, ms: number): unknown;
  /** Stops the timer `setInterval` returned. */
  clearInterval(handle: unknown): void;
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
  /**
   * What a delivery does when another deliverer holds the key's claim: `wait` for it (then
   * answer `duplicate` once that one is done, or write if it gave up), or `skip`: answer
   * at once with a `failed` receipt of code `claim_held` naming the holder, not stored
   * (the holder's receipt will say what happened). Background workers skip, so that
   * processes sharing a ledger spread over the backlog instead of queueing on one batch.
   * @default "wait"
   */
  readonly whenHeld?: "wait" | "skip" | undefined;
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
  /**
   * The entry that holds the watermark (the first past it, with no final receipt at the
   * sink yet), or undefined when caught up: a poison entry or a key another deliverer
   * holds shows here while the positions after it are delivered.
   */
  readonly heldBy:
    | {
        /** The ledger position of the entry that holds the watermark back. */
        readonly position: number;
        /** That entry's idempotency key. */
        readonly key: string;
      }
    | undefined;
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
   * Delivers a batch (1 to 10,000 envelopes) with one ledger call of each kind: one
   * `getMany`, one `claimMany`, the writes (one `writeBatch` call when the guard has one,
   * else `write` for each, at most `concurrency` at once), one `putReceipts`, one
   * watermark move and one `releaseClaims`. Returns the receipts in input order, the same
   * receipts `deliver` would give each. Throws `DeliveryError` before anything is claimed
   * when the sink is frozen or any envelope is not in the ledger as given. A key that
   * another deliverer holds waits as in `deliver`; a key given twice is written once (the
   * later ones answer `duplicate`).
   */
  deliverMany(envelopes: readonly Envelope[], options?: DeliverOptions): Promise<Receipt[]>;
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
