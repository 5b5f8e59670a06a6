/**
 * `deliverMany` of a guard: a batch delivered with one ledger call of each kind. The
 * envelopes are checked against the ledger at once (`getMany`; one not there as given
 * refuses the whole batch before anything is claimed), their keys claimed at once
 * (`claimMany`), written under the claims (`guard-write-batch.ts`), their receipts stored
 * at once (`putReceipts`), the watermark moved once, and the claims released at once
 * (`releaseClaims`). A key another deliverer holds goes the single delivery's way (it
 * waits, or takes over a dead local process's claim); a key given twice, or one this
 * guard is delivering already, is delivered after the batch (and answers `duplicate`).
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { eachUnderPath, invalidArgument } from "../internal/arguments.js";
import { distinctOf } from "../internal/distinct.js";
import { readArray } from "../internal/options.js";
import type { Claim, LedgerEntry, Receipt } from "../ledger/types.js";
import type { Delivery, GuardContext } from "./guard-context.js";
import { deliverOnce, deliverWith, heldAnswer, inLedger, refuseIfFrozen } from "./guard-deliver.js";
import { type EnvelopeRef, envelopeRef, readDeliverOptions } from "./guard-options.js";
import { answerDone, finishMany } from "./guard-receipts.js";
import type { DeliverOptions } from "./guard-types.js";
import { type Held, writeHeld } from "./guard-write-batch.js";

/** Most envelopes in one `deliverMany`. */
export const MAX_DELIVER_BATCH = 10_000;

/** Delivers `envelopes` through the guard of `ctx`: see `SinkGuard.deliverMany`. */
export async function deliverMany(
  ctx: GuardContext,
  envelopes: readonly Envelope[],
  deliverOptions?: DeliverOptions,
): Promise<Receipt[]> {
  const options = readDeliverOptions(deliverOptions);
  const list = readArray(envelopes, "envelopes", MAX_DELIVER_BATCH);
  if (list.length === 0) invalidArgument("envelopes", "must hold at least one envelope");
  const refs = eachUnderPath(list, "envelope", "envelopes", envelopeRef);
  await refuseIfFrozenNow(ctx, options, refs);
  // Every envelope, repeats included, checked against the ledger before anything is
  // claimed: one not there as given refuses the whole batch.
  const { keys, indexOf } = distinctOf(refs.map((ref) => ref.key));
  const found = await ctx.ledger.getMany(keys);
  const checked = refs.map((ref, i) =>
    inLedger(ctx, ref, found[indexOf === undefined ? i : (indexOf.get(ref.key) as number)]),
  );
  return deliverChecked(ctx, refs, checked, options);
}

/**
 * `deliverMany` of entries that `ledger` handed out a moment ago (the append of a
 * pipeline's producer, the scan of its drain or worker): when `ledger` is the guard's own,
 * they are the ledger's answer already and are not read again; else they go as envelopes
 * through {@link deliverMany}.
 */
export async function deliverEntries(
  ctx: GuardContext,
  ledger: unknown,
  entries: readonly LedgerEntry[],
  deliverOptions?: DeliverOptions,
): Promise<Receipt[]> {
  if (ledger !== ctx.ledger) {
    return deliverMany(
      ctx,
      entries.map((entry) => entry.envelope),
      deliverOptions,
    );
  }
  const options = readDeliverOptions(deliverOptions);
  const list = readArray(entries, "envelopes", MAX_DELIVER_BATCH) as LedgerEntry[];
  if (list.length === 0) invalidArgument("envelopes", "must hold at least one envelope");
  const refs = list.map(({ envelope }) => ({ key: envelope.key, checksum: envelope.checksum }));
  await refuseIfFrozenNow(ctx, options, refs);
  return deliverChecked(ctx, refs, list, options);
}

/** Refuses the batch while the sink is frozen, unless it is a replay. */
async function refuseIfFrozenNow(
  ctx: GuardContext,
  options: DeliverOptions,
  refs: readonly EnvelopeRef[],
): Promise<void> {
  if (options.replay === true) return;
  const found = ctx.freezes.current();
  refuseIfFrozen(ctx, Array.isArray(found) ? found : await found, refs[0]?.key ?? "", false);
}

/** A batch whose every envelope was found in the ledger as `checked`: delivered. */
async function deliverChecked(
  ctx: GuardContext,
  refs: readonly EnvelopeRef[],
  checked: readonly LedgerEntry[],
  options: DeliverOptions,
): Promise<Receipt[]> {
  // The first of each key not already under way in this guard goes in the batch.
  const inBatch: number[] = [];
  const after: number[] = [];
  const seen = new Set<string>();
  refs.forEach((ref, i) => {
    if (seen.has(ref.key) || ctx.running.has(ref.key)) after.push(i);
    else {
      seen.add(ref.key);
      inBatch.push(i);
    }
  });
  const receipts: Receipt[] = new Array(refs.length);
  const batch = deliverBatch(
    ctx,
    inBatch.map((i) => refs[i] as EnvelopeRef),
    inBatch.map((i) => checked[i] as LedgerEntry),
    options,
  );
  const running = ctx.running;
  for (const i of inBatch) running.set((refs[i] as EnvelopeRef).key, batch);
  ctx.inFlight += inBatch.length;
  try {
    const done = await batch;
    inBatch.forEach((i, j) => {
      receipts[i] = done[j] as Receipt;
    });
  } finally {
    ctx.inFlight -= inBatch.length;
    for (const i of inBatch) {
      const key = (refs[i] as EnvelopeRef).key;
      if (running.get(key) === batch) running.delete(key);
    }
  }
  // Repeats and keys under way: each after the ones before it, as `deliver` orders them;
  // every one finishes before the first error, if any, is thrown.
  const later = await Promise.allSettled(
    after.map((i) => deliverWith(ctx, refs[i] as EnvelopeRef, options)),
  );
  const failed = later.find((r) => r.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  after.forEach((i, j) => {
    receipts[i] = (later[j] as PromiseFulfilledResult<Receipt>).value;
  });
  return receipts;
}

/** One batch of distinct keys, checked against the ledger: claimed, written, recorded, released. */
async function deliverBatch(
  ctx: GuardContext,
  refs: readonly EnvelopeRef[],
  entries: readonly LedgerEntry[],
  options: DeliverOptions,
): Promise<Receipt[]> {
  const { ledger, name, leases } = ctx;
  const replay = options.replay === true;
  const signal = options.signal;
  const startedAt = ctx.now();
  const deliveries: Delivery[] = entries.map((entry) => ({
    stored: entry.envelope,
    position: entry.position,
    replay,
    signal,
    startedAt,
  }));
  const claimed = await ledger.claimMany(
    name,
    refs.map((ref) => ref.key),
    { owner: ctx.owner, ttlMs: ctx.claimTtlMs, replay },
  );
  const receipts: Receipt[] = new Array(refs.length);
  const acquired: Claim[] = [];
  const held: Held[] = [];
  const heldAt: number[] = [];
  // Keys done already or held by another deliverer, each settled on its own; every one is
  // heard at once (none can go unhandled while the batch writes) and awaited at the end.
  const aside: Promise<void>[] = [];
  const asideErrors: { readonly error: unknown }[] = [];
  const settle = (i: number, delivering: Promise<Receipt>) =>
    aside.push(
      delivering.then(
        (receipt) => {
          receipts[i] = receipt;
        },
        (error: unknown) => {
          asideErrors.push({ error });
        },
      ),
    );
  let badAnswer: { readonly error: unknown } | undefined;
  try {
    for (const result of claimed) if (result.status === "acquired") acquired.push(result.claim);
    claimed.forEach((result, i) => {
      const delivery = deliveries[i] as Delivery;
      if (result.status === "acquired") {
        held.push({ delivery, lease: leases.hold(result.claim, signal) });
        heldAt.push(i);
      } else if (result.status === "done") {
        settle(i, answerDone(ctx, delivery, result.receipt));
      } else if (options.whenHeld === "skip") {
        receipts[i] = heldAnswer(ctx, delivery, result.owner, result.expiresAt);
      } else {
        // Held by another deliverer: waited for as a single delivery waits.
        settle(i, deliverOnce(ctx, refs[i] as EnvelopeRef, options));
      }
    });
    if (held.length > 0) {
      // A freeze this guard learnt of while the batch was claimed.
      refuseIfFrozen(ctx, ctx.freezes.cached(), held[0]?.delivery.stored.key ?? "", replay);
      const written = await writeHeld(ctx, held, (error) => {
        badAnswer = { error };
      });
      for (const h of held) leases.letGo(h.delivery.stored.key);
      const stored = await finishMany(ctx, written, startedAt);
      heldAt.forEach((i, j) => {
        receipts[i] = stored[j] as Receipt;
      });
    }
  } finally {
    for (const h of held) leases.letGo(h.delivery.stored.key);
    if (acquired.length > 0) {
      // Whether or not the receipts could be stored: no claim is left held.
      await ledger
        .releaseClaims(acquired)
        .catch((error: unknown) => ctx.log("release failed: %O", error));
    }
    await Promise.all(aside);
  }
  if (badAnswer !== undefined) throw badAnswer.error;
  const asideError = asideErrors[0];
  if (asideError !== undefined) throw asideError.error;
  // A key already done here has a final receipt at its position: folded into the
  // watermark like the ones written now (entries another deliverer finished move it too).
  const done: number[] = [];
  claimed.forEach((result, i) => {
    if (result.status === "done") done.push((deliveries[i] as Delivery).position);
  });
  if (done.length > 0) await ctx.watermark.advance(done);
  return receipts;
}
