/**
 * One delivery of a guard, step by step: refused when the sink is frozen; queued behind
 * this guard's delivery of the same key; the envelope checked against the ledger; the
 * claim taken (waiting for another deliverer's, or taking over a dead local process's);
 * then, under the claim, the write (`guard-write.ts`) and the receipt
 * (`guard-receipts.ts`), the claim released in `finally` whatever happened.
 *
 * @module
 */

import { DeliveryError } from "../errors.js";
import type { Claim, LedgerEntry, Receipt, SinkFreeze } from "../ledger/types.js";
import type { Delivery, GuardContext } from "./guard-context.js";
import type { EnvelopeRef } from "./guard-options.js";
import { abortText, answerDone, finish, sealAnswer } from "./guard-receipts.js";
import type { ClaimWait, DeliverOptions } from "./guard-types.js";
import { writeUnderClaim } from "./guard-write.js";
import { isDeadLocalOwner } from "./owner.js";

/** Refuses a delivery of a frozen sink (replays pass): counted, logged, thrown. */
export function refuseIfFrozen(
  ctx: GuardContext,
  found: readonly SinkFreeze[],
  key: string,
  replay: boolean,
): void {
  const first = found[0];
  if (first === undefined || replay) return;
  ctx.refused++;
  ctx.metrics.counter("sinkproof.refused", 1, ctx.labels);
  ctx.log("refused %s: frozen (%s)", key, first.reason);
  throw new DeliveryError("sink_frozen", `Sink ${ctx.name} is frozen: ${first.reason}`, {
    sink: ctx.name,
    key,
  });
}

/** The delivery waits for `wait`: said once per holder, in the debug log and to `onWait`. */
function noteWait(ctx: GuardContext, wait: ClaimWait, options: DeliverOptions): void {
  const known = ctx.waiting.get(wait.key);
  if (known?.owner === wait.owner && known.until === wait.until) return;
  ctx.waiting.set(wait.key, wait);
  ctx.log("waiting for %s: claimed by %s until %s", wait.key, wait.owner, wait.until);
  options.onWait?.(wait);
}

/**
 * Delivers one envelope (its key and checksum read already): refused at once when the
 * sink is frozen (unless a replay); deliveries of one key by this guard run one after
 * the other.
 */
export async function deliverWith(
  ctx: GuardContext,
  envelope: EnvelopeRef,
  options: DeliverOptions,
): Promise<Receipt> {
  if (options.replay !== true) {
    const found = ctx.freezes.current();
    refuseIfFrozen(ctx, Array.isArray(found) ? found : await found, envelope.key, false);
  }
  const running = ctx.running;
  // Deliveries of one key in this process queue behind each other: only the first writes.
  const before = running.get(envelope.key);
  const mine =
    before === undefined
      ? deliverOnce(ctx, envelope, options)
      : before.then(
          () => deliverOnce(ctx, envelope, options),
          () => deliverOnce(ctx, envelope, options),
        );
  running.set(envelope.key, mine);
  ctx.inFlight++;
  try {
    return await mine;
  } finally {
    ctx.inFlight--;
    if (running.get(envelope.key) === mine) running.delete(envelope.key);
  }
}

/** The ledger's entry of `envelope`, or the `DeliveryError` that refuses it. */
export function inLedger(
  ctx: GuardContext,
  envelope: EnvelopeRef,
  entry: LedgerEntry | undefined,
): LedgerEntry {
  if (entry === undefined) {
    throw new DeliveryError(
      "not_in_ledger",
      `Envelope ${JSON.stringify(envelope.key)} is not in the ledger: nothing reaches a sink before it is durable`,
      {
        sink: ctx.name,
        key: envelope.key,
      },
    );
  }
  if (entry.envelope.checksum !== envelope.checksum) {
    throw new DeliveryError(
      "ledger_mismatch",
      `Envelope ${JSON.stringify(envelope.key)} has checksum ${envelope.checksum}, the ledger holds ${entry.envelope.checksum}`,
      { sink: ctx.name, key: envelope.key, position: entry.position },
    );
  }
  return entry;
}

/** Checks the envelope against the ledger, then claims its key (waiting if need be) and delivers. */
export async function deliverOnce(
  ctx: GuardContext,
  envelope: EnvelopeRef,
  options: DeliverOptions,
): Promise<Receipt> {
  const { ledger, name, waiting } = ctx;
  const replay = options.replay ?? false;
  const signal = options.signal;
  const startedAt = ctx.now();
  const entry = inLedger(ctx, envelope, await ledger.get(envelope.key));
  // The ledger's copy is the one written: it is durable and verified.
  const stored = entry.envelope;
  const delivery: Delivery = { stored, position: entry.position, replay, signal, startedAt };
  let takeOverFrom: string | undefined;
  try {
    for (;;) {
      const claimed = await ledger.claim(name, stored.key, {
        owner: ctx.owner,
        ttlMs: ctx.claimTtlMs,
        replay,
        ...(takeOverFrom === undefined ? {} : { takeOverFrom }),
      });
      if (claimed.status === "acquired") {
        waiting.delete(stored.key);
        return await underClaim(ctx, delivery, claimed.claim);
      }
      if (claimed.status === "done") {
        waiting.delete(stored.key);
        return await answerDone(ctx, delivery, claimed.receipt);
      }
      // Held by a process of this host that no longer exists: a crash left it. Taken over
      // at once (only from that exact owner), instead of waiting out its TTL.
      if (claimed.owner !== takeOverFrom && isDeadLocalOwner(claimed.owner)) {
        ctx.log("taking over %s from %s: that process is gone", stored.key, claimed.owner);
        takeOverFrom = claimed.owner;
        continue;
      }
      takeOverFrom = undefined;
      if (options.whenHeld === "skip") {
        waiting.delete(stored.key);
        return heldAnswer(ctx, delivery, claimed.owner, claimed.expiresAt);
      }
      noteWait(
        ctx,
        { sink: name, key: stored.key, owner: claimed.owner, until: ctx.iso(claimed.expiresAt) },
        options,
      );
      // Held by another deliverer: wait for it (here, or by polling the ledger).
      try {
        const wait = Math.max(1, Math.min(ctx.pollMs, claimed.expiresAt - ctx.time() + 1));
        await ctx.retry.sleep(wait, signal);
      } catch {
        return await finish(
          ctx,
          ctx.receiptOf(delivery, "failed", 1, {
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

/**
 * The answer of a delivery that skips a key another deliverer holds (`whenHeld: "skip"`):
 * a `failed` receipt of code `claim_held`, not stored (the holder's receipt will say what
 * happened to the key).
 */
export function heldAnswer(
  ctx: GuardContext,
  delivery: Delivery,
  owner: string,
  expiresAt: number,
): Receipt {
  return sealAnswer(
    ctx,
    ctx.receiptOf(delivery, "failed", 1, {
      error: { code: "claim_held", message: `claimed by ${owner} until ${ctx.iso(expiresAt)}` },
    }),
  );
}

/** The write and its receipt, under an acquired claim; the claim is released after. */
async function underClaim(ctx: GuardContext, delivery: Delivery, claim: Claim): Promise<Receipt> {
  const { ledger, leases } = ctx;
  const key = delivery.stored.key;
  const lease = leases.hold(claim, delivery.signal);
  let receipt: Receipt;
  try {
    // A freeze this guard learnt of while the delivery waited for its claim.
    refuseIfFrozen(ctx, ctx.freezes.cached(), key, delivery.replay);
    receipt = await writeUnderClaim(ctx, delivery, lease);
  } catch (error) {
    // Frozen, or a validator or an upcaster's host threw: let the claim go first.
    leases.letGo(key);
    await ledger.releaseClaim(lease.claim).catch(() => undefined);
    throw error;
  }
  leases.letGo(key);
  try {
    const stored = await finish(ctx, receipt, delivery.startedAt);
    if (delivery.badAnswer !== undefined) throw delivery.badAnswer;
    return stored;
  } finally {
    // Whether or not the receipt could be stored: the claim is not left held.
    await ledger
      .releaseClaim(lease.claim)
      .catch((error: unknown) => ctx.log("release failed: %O", error));
  }
}
