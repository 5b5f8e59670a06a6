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
 * This file makes the guard and its public object; the steps live beside it: options in
 * `guard-options.ts`, shared state in `guard-context.ts`, one delivery in
 * `guard-deliver.ts` (the write in `guard-write.ts`, the receipt in `guard-receipts.ts`),
 * a batch in `guard-many.ts` (its writes in `guard-write-batch.ts`, a batch writer's
 * answer read in `batch-result.ts`), `deliverAll` in `guard-batch.ts`, the watermark in
 * `watermark.ts`, and the public types in `guard-types.ts`.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { invalidArgument } from "../internal/arguments.js";
import { readOptions } from "../internal/options.js";
import type { Receipt } from "../ledger/types.js";
import { deliverAll } from "./guard-batch.js";
import { GuardContext } from "./guard-context.js";
import { deliverWith } from "./guard-deliver.js";
import { deliverEntries, deliverMany } from "./guard-many.js";
import {
  envelopeRef,
  FREEZE_KEYS,
  readDeliverOptions,
  resolveGuardOptions,
  UNFREEZE_KEYS,
} from "./guard-options.js";
import type {
  ClaimWait,
  DeliverOptions,
  GuardFreezeOptions,
  GuardSinkOptions,
  GuardUnfreezeOptions,
  SinkGuard,
  SinkMeasure,
  SinkStatus,
} from "./guard-types.js";
import { DELIVER_ENTRIES, type DeliverEntries, withHidden } from "./handoff.js";
import { clipMessage } from "./limits.js";

export { GUARD_KEYS } from "./guard-options.js";
export type {
  ClaimWait,
  DeliverOptions,
  GuardFreezeOptions,
  GuardSinkOptions,
  GuardTimers,
  GuardUnfreezeOptions,
  SinkBatchContext,
  SinkBatchFailure,
  SinkBatchResult,
  SinkBatchWriter,
  SinkFailure,
  SinkGuard,
  SinkMeasure,
  SinkStatus,
  SinkValidator,
  SinkWriteContext,
  SinkWriteResult,
  SinkWriter,
} from "./guard-types.js";

const NO_WAITS: readonly ClaimWait[] = Object.freeze([]);

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
  const ctx = new GuardContext(resolveGuardOptions(guardOptions));
  const { name, ledger } = ctx;
  const guard: SinkGuard = {
    name,
    ledger,
    deliver(envelope: Envelope, deliverOptions?: DeliverOptions): Promise<Receipt> {
      try {
        return deliverWith(ctx, envelopeRef(envelope), readDeliverOptions(deliverOptions));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    deliverMany: (envelopes, deliverOptions) => deliverMany(ctx, envelopes, deliverOptions),
    deliverAll: (envelopes, deliverOptions) => deliverAll(ctx, envelopes, deliverOptions),
    freeze: (reason, options) => freeze(ctx, reason, options),
    unfreeze: (options) => unfreeze(ctx, options),
    status: () => status(ctx),
    measure: () => measure(ctx),
  };
  const handed: DeliverEntries = (from, entries, options) =>
    deliverEntries(ctx, from, entries, options);
  return withHidden(guard, DELIVER_ENTRIES, handed);
}

async function freeze(ctx: GuardContext, reason: string, options?: GuardFreezeOptions) {
  if (typeof reason !== "string" || reason.length === 0)
    invalidArgument("reason", "must be a non-empty string");
  const freezeOptions = readOptions<GuardFreezeOptions>(options, "options", FREEZE_KEYS);
  const freeze = await ctx.ledger.freezeSink(ctx.name, {
    reason: clipMessage(reason),
    actor: freezeOptions.actor ?? ctx.owner,
    ...(freezeOptions.origin === undefined ? {} : { origin: freezeOptions.origin }),
  });
  await ctx.freezes.refresh();
  ctx.log("frozen: %s", freeze.reason);
  return freeze;
}

async function unfreeze(ctx: GuardContext, options?: GuardUnfreezeOptions) {
  const unfreezeOptions = readOptions<GuardUnfreezeOptions>(options, "options", UNFREEZE_KEYS);
  const lifted = await ctx.ledger.unfreezeSink(ctx.name, {
    reason: unfreezeOptions.reason ?? "unfrozen",
    actor: unfreezeOptions.actor ?? ctx.owner,
    ...(unfreezeOptions.origin === undefined ? {} : { origin: unfreezeOptions.origin }),
  });
  await ctx.freezes.refresh();
  for (const freeze of lifted) ctx.log("unfrozen after: %s", freeze.reason);
  return lifted;
}

function status(ctx: GuardContext): SinkStatus {
  const found = ctx.freezes.cached();
  const waiting = ctx.waiting;
  return Object.freeze({
    name: ctx.name,
    frozen: found[0],
    freezes: found,
    waiting: waiting.size === 0 ? NO_WAITS : Object.freeze([...waiting.values()]),
    inFlight: ctx.inFlight,
    refused: ctx.refused,
    lastError: ctx.lastError,
    watermark: ctx.watermark.watermark ?? 0,
  });
}

async function measure(ctx: GuardContext): Promise<SinkMeasure> {
  const { ledger, name, metrics, labels } = ctx;
  await ctx.watermark.advance(undefined, true);
  const head = await ledger.head();
  const w = await ledger.getWatermark(name);
  ctx.watermark.saw(w);
  let oldestUndeliveredAgeMs = 0;
  let heldBy: SinkMeasure["heldBy"];
  for await (const entry of ledger.scan({ from: w + 1, limit: 1 })) {
    oldestUndeliveredAgeMs = Math.max(0, ctx.time() - Date.parse(entry.appendedAt));
    heldBy = Object.freeze({ position: entry.position, key: entry.envelope.key });
  }
  metrics.gauge("sinkproof.sink.lag", head - w, labels);
  metrics.gauge("sinkproof.sink.oldest_undelivered_age", oldestUndeliveredAgeMs, labels);
  if (heldBy !== undefined)
    ctx.log("watermark %d held by %s at %d", w, heldBy.key, heldBy.position);
  return Object.freeze({ lag: head - w, oldestUndeliveredAgeMs, heldBy });
}
