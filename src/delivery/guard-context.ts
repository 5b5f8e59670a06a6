/**
 * The state one guard's deliveries share ({@link GuardContext}: its checked options, the
 * freezes it watches, the claims it holds, its watermark, what it waits for, its counts
 * and last error), and the receipt every step starts from. The steps (`guard-deliver.ts`,
 * `guard-write.ts`, `guard-receipts.ts`, `guard-batch.ts`) take the context; `guardSink`
 * makes one per guard.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import type { Receipt, ReceiptStatus } from "../ledger/types.js";
import { envelopeForSink, type SinkVersion } from "../schema/accepts.js";
import { type FreezeWatch, watchFreezes } from "./freezes.js";
import { checkedTime, type GuardConfig } from "./guard-options.js";
import type { ClaimWait, SinkFailure } from "./guard-types.js";
import { createLeases, type Leases } from "./leases.js";
import { WatermarkFold } from "./watermark.js";

/** One delivery under way, from its ledger check on: what its steps share. */
export interface Delivery {
  /** The ledger's envelope: the one written (it is durable and verified). */
  readonly stored: Envelope;
  /** Its ledger position. */
  readonly position: number;
  readonly replay: boolean;
  /** The caller's signal. */
  readonly signal: AbortSignal | undefined;
  /** When the delivery started, by the guard's clock. */
  readonly startedAt: number;
  /**
   * Set when a batch writer (a guard given only `writeBatch`) answered something that is
   * not an answer: the `failed` receipt is stored, then this is thrown.
   */
  badAnswer?: unknown;
}

/** What a receipt may carry besides what every receipt has. */
export type ReceiptExtra = Partial<
  Pick<Receipt, "sinkOffset" | "error" | "issues" | "fencingToken">
>;

/**
 * The shared state of one guard: its checked options ({@link GuardConfig}, copied in by the
 * constructor; call the caller's `write` and `clock` detached, through {@link GuardContext.time}
 * for the clock, never as `ctx.clock()`: a caller's function is never handed the context as
 * `this`) and what its deliveries share.
 */
export interface GuardContext extends GuardConfig {}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the constructor copies every field of the config in (Object.assign), so each field merged in from GuardConfig is set
export class GuardContext {
  readonly freezes: FreezeWatch;
  /** The claims held while their writes run, renewed by one timer. */
  readonly leases: Leases;
  readonly watermark: WatermarkFold;
  /** Claims of other deliverers that deliveries of this guard wait for, by key. */
  readonly waiting: Map<string, ClaimWait> = new Map();
  /** Deliveries of this guard running now, by key: later callers wait for them. */
  readonly running: Map<string, Promise<unknown>> = new Map();
  /** Deliveries refused while frozen. */
  refused = 0;
  lastError: SinkFailure | undefined;
  inFlight = 0;
  // The last two times turned into ISO strings: a receipt's start and its end alternate.
  #lastMs = Number.NaN;
  #lastIso = "";
  #otherMs = Number.NaN;
  #otherIso = "";

  constructor(config: GuardConfig) {
    Object.assign(this, config);
    this.freezes = watchFreezes(this.ledger, this.name, this.freezeCheckMs, this.clock);
    this.watermark = new WatermarkFold(this.ledger, this.name);
    this.leases = createLeases(this.ledger, this.claimTtlMs, this.clock, this.log, this.timers);
  }

  /**
   * ISO time of `ms`, cached: deliveries in one millisecond share the string, and the two
   * last are kept (the start and the end of the receipts of one batch).
   */
  iso(ms: number): string {
    if (ms === this.#lastMs) return this.#lastIso;
    if (ms === this.#otherMs) return this.#otherIso;
    const iso = new Date(checkedTime(ms)).toISOString();
    this.#otherMs = this.#lastMs;
    this.#otherIso = this.#lastIso;
    this.#lastMs = ms;
    this.#lastIso = iso;
    return iso;
  }

  /** The clock's answer, unchecked (called without a `this`, as the guard always has). */
  time(): number {
    const clock = this.clock;
    return clock();
  }

  /** The clock's answer, checked before anything is claimed or written. */
  now(): number {
    return checkedTime(this.time());
  }

  /** The envelope the sink is given: the ledger's, or its upcast into `accepts`. */
  forSink(stored: Envelope): SinkVersion {
    return envelopeForSink(stored, this.accepts, this.registry);
  }

  /** A receipt of `delivery`, finished now. */
  receiptOf(
    delivery: Delivery,
    status: ReceiptStatus,
    attempt: number,
    extra: ReceiptExtra = {},
  ): Receipt {
    const { stored } = delivery;
    return {
      sink: this.name,
      key: stored.key,
      id: stored.id,
      position: delivery.position,
      status,
      checksum: stored.checksum,
      attempt,
      startedAt: this.iso(delivery.startedAt),
      finishedAt: this.iso(this.time()),
      ...extra,
    };
  }
}
