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
import type { Ledger, Receipt, ReceiptStatus } from "../ledger/types.js";
import type { Logger } from "../observe/debug.js";
import type { Metrics } from "../observe/metrics.js";
import { type AcceptedRanges, envelopeForSink, type SinkVersion } from "../schema/accepts.js";
import type { SchemaRegistry } from "../schema/registry.js";
import { type FreezeWatch, watchFreezes } from "./freezes.js";
import { checkedTime, type GuardConfig } from "./guard-options.js";
import type { ClaimWait, SinkFailure, SinkValidator, SinkWriter } from "./guard-types.js";
import { createLeases, type Leases } from "./leases.js";
import type { RetryPolicy } from "./retry.js";
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
}

/** What a receipt may carry besides what every receipt has. */
export type ReceiptExtra = Partial<
  Pick<Receipt, "sinkOffset" | "error" | "issues" | "fencingToken">
>;

/** The shared state of one guard. */
export class GuardContext implements GuardConfig {
  readonly name: string;
  readonly ledger: Ledger;
  /** The caller's writer: call it detached (`const write = ctx.write`), as `clock`. */
  readonly write: SinkWriter;
  readonly validate: SinkValidator | undefined;
  readonly retry: RetryPolicy;
  readonly concurrency: number;
  readonly claimTtlMs: number;
  readonly pollMs: number;
  readonly freezeCheckMs: number;
  readonly owner: string;
  readonly metrics: Metrics;
  readonly signer: { readonly keyId: string; readonly secret: Buffer } | undefined;
  /**
   * The caller's clock. Call it through {@link GuardContext.time}, never as
   * `ctx.clock()`: a caller's function is never handed the context as `this`.
   */
  readonly clock: () => number;
  readonly labels: Readonly<Record<string, string>>;
  readonly log: Logger;
  readonly accepts: AcceptedRanges | undefined;
  readonly registry: SchemaRegistry | undefined;

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
  #lastMs = Number.NaN;
  #lastIso = "";

  constructor(config: GuardConfig) {
    this.name = config.name;
    this.ledger = config.ledger;
    this.write = config.write;
    this.validate = config.validate;
    this.retry = config.retry;
    this.concurrency = config.concurrency;
    this.claimTtlMs = config.claimTtlMs;
    this.pollMs = config.pollMs;
    this.freezeCheckMs = config.freezeCheckMs;
    this.owner = config.owner;
    this.metrics = config.metrics;
    this.signer = config.signer;
    this.clock = config.clock;
    this.labels = config.labels;
    this.log = config.log;
    this.accepts = config.accepts;
    this.registry = config.registry;
    this.freezes = watchFreezes(this.ledger, this.name, this.freezeCheckMs, this.clock);
    this.watermark = new WatermarkFold(this.ledger, this.name);
    this.leases = createLeases(this.ledger, this.claimTtlMs, this.clock, this.log);
  }

  /** ISO time of `ms`, cached: deliveries in one millisecond share the string. */
  iso(ms: number): string {
    if (ms !== this.#lastMs) {
      this.#lastIso = new Date(checkedTime(ms)).toISOString();
      this.#lastMs = ms;
    }
    return this.#lastIso;
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
