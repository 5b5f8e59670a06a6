/**
 * How a guard's delivery ends: its receipt signed (when the guard signs) and stored in
 * the ledger (a receipt fenced off by a newer claim stored as `superseded` instead),
 * counted, and a final one folded into the watermark; and the receipts made without a
 * write (a key already done, a refusal, an abort).
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { isSinkproofError, type ValidationIssue } from "../errors.js";
import { errorText } from "../internal/arguments.js";
import type { Receipt, ReceiptStatus } from "../ledger/types.js";
import { adoptReceipt, isFinalStatus } from "../ledger/validate.js";
import type { Delivery, GuardContext } from "./guard-context.js";
import { clipIssue, clipMessage } from "./limits.js";
import { signWith } from "./signing.js";

const SUCCESS: ReadonlySet<ReceiptStatus> = new Set(["written", "duplicate", "replayed"]);

/** The counter of each status; any other (`failed`) counts as `sinkproof.failed`. */
const COUNTERS: ReadonlyMap<ReceiptStatus, string> = new Map<ReceiptStatus, string>([
  ["written", "sinkproof.delivered"],
  ["duplicate", "sinkproof.duplicates"],
  ["replayed", "sinkproof.replayed"],
  ["conflict", "sinkproof.conflicts"],
  ["rejected", "sinkproof.rejected"],
  ["superseded", "sinkproof.superseded"],
]);

/** Why a delivery was aborted, for its receipt (the reason is the caller's, any value). */
export function abortText(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason === undefined ? "aborted" : clipMessage(errorText(reason)) || "aborted";
}

/** The receipt as the guard hands it out: signed when the guard signs, frozen. */
export function sealAnswer(ctx: GuardContext, receipt: Receipt): Receipt {
  const signer = ctx.signer;
  // Built here from the ledger's envelope: checked once, so the ledger need not again.
  return signer === undefined
    ? adoptReceipt(receipt)
    : adoptReceipt(signWith(receipt, signer.keyId, signer.secret));
}

async function record(ctx: GuardContext, receipt: Receipt): Promise<Receipt> {
  const stored = sealAnswer(ctx, receipt);
  await ctx.ledger.putReceipt(stored);
  return stored;
}

/**
 * Stores a final receipt of a write under a claim; if the ledger fences it off (a newer
 * claim took the key over while the write ran), stores and returns a `superseded`
 * receipt instead: the newer holder's receipt is the one that counts.
 */
async function recordUnderClaim(ctx: GuardContext, receipt: Receipt): Promise<Receipt> {
  try {
    return await record(ctx, receipt);
  } catch (error) {
    if (!isSinkproofError(error) || error.code !== "fenced" || !isFinalStatus(receipt.status)) {
      throw error;
    }
    ctx.log("%s at %d: claim lost while writing, superseded", receipt.key, receipt.position);
    return record(ctx, supersededOf(receipt));
  }
}

/** The `superseded` receipt stored instead of a final one the ledger fenced off. */
function supersededOf(receipt: Receipt): Receipt {
  return {
    ...receipt,
    status: "superseded",
    error: {
      code: "superseded",
      message: `the claim (fencing token ${receipt.fencingToken}) was taken over by a newer deliverer before the ${receipt.status} receipt was stored`,
    },
  };
}

/**
 * Ends a delivery: stores the receipt (unless `store` is false: a repeated answer adds
 * nothing to what the ledger knows), counts it, and folds a final one into the watermark.
 */
export async function finish(
  ctx: GuardContext,
  receipt: Receipt,
  startedAt: number,
  store = true,
): Promise<Receipt> {
  const stored = !store
    ? sealAnswer(ctx, receipt)
    : receipt.fencingToken === undefined
      ? await record(ctx, receipt)
      : await recordUnderClaim(ctx, receipt);
  account(ctx, stored, startedAt);
  if (store && isFinalStatus(stored.status)) await ctx.watermark.advance(receipt.position);
  return stored;
}

/** Counts a receipt, times its delivery, keeps its error as the last one, logs it. */
function account(ctx: GuardContext, stored: Receipt, startedAt: number): void {
  const { metrics, labels } = ctx;
  metrics.counter(COUNTERS.get(stored.status) ?? "sinkproof.failed", 1, labels);
  metrics.histogram("sinkproof.delivery.duration", ctx.time() - startedAt, labels);
  if (
    (stored.status === "failed" || stored.status === "superseded") &&
    stored.error !== undefined
  ) {
    ctx.lastError = {
      code: stored.error.code,
      message: stored.error.message,
      at: stored.finishedAt,
    };
  }
  ctx.log(
    "%s %s at %d: %s",
    stored.status,
    stored.key,
    stored.position,
    stored.error?.message ?? "",
  );
}

/**
 * Ends the deliveries of a batch written under claims: their receipts stored with one
 * `putReceipts` (the ones the ledger fenced off stored as `superseded` with a second),
 * each counted, and every final one folded into the watermark in one move. Returns the
 * stored receipts, in order.
 */
export async function finishMany(
  ctx: GuardContext,
  receipts: readonly Receipt[],
  startedAt: number,
): Promise<Receipt[]> {
  if (receipts.length === 0) return [];
  const stored = receipts.map((receipt) => sealAnswer(ctx, receipt));
  const statuses = await ctx.ledger.putReceipts(stored);
  const fenced: number[] = [];
  statuses.forEach((status, i) => {
    if (status === "fenced") fenced.push(i);
  });
  if (fenced.length > 0) {
    const replaced = fenced.map((i) => sealAnswer(ctx, supersededOf(stored[i] as Receipt)));
    await ctx.ledger.putReceipts(replaced);
    fenced.forEach((i, j) => {
      ctx.log(
        "%s at %d: claim lost while writing, superseded",
        stored[i]?.key,
        stored[i]?.position,
      );
      stored[i] = replaced[j] as Receipt;
    });
  }
  const finals: number[] = [];
  for (const receipt of stored) {
    account(ctx, receipt, startedAt);
    if (isFinalStatus(receipt.status)) finals.push(receipt.position);
  }
  if (finals.length > 0) await ctx.watermark.advance(finals);
  return stored;
}

/** The receipt of an envelope refused by the sink's versions or its validator. */
export function rejected(
  ctx: GuardContext,
  delivery: Delivery,
  issues: readonly ValidationIssue[],
  code: string,
  fencingToken: number,
): Receipt {
  return ctx.receiptOf(delivery, "rejected", 1, {
    fencingToken,
    error: {
      code,
      message: clipMessage(`${issues.length} issue(s): ${issues[0]?.path}: ${issues[0]?.message}`),
    },
    issues: issues.slice(0, 100).map(clipIssue),
  });
}

/** The answer for a key that already has a final receipt at this sink. */
export async function answerDone(
  ctx: GuardContext,
  delivery: Delivery,
  previous: Receipt,
): Promise<Receipt> {
  const stored: Envelope = delivery.stored;
  const startedAt = delivery.startedAt;
  const offset = previous.sinkOffset === undefined ? {} : { sinkOffset: previous.sinkOffset };
  if (SUCCESS.has(previous.status)) {
    if (previous.checksum === stored.checksum) {
      // Already done: answered, not stored (the final receipt already says so).
      return finish(ctx, ctx.receiptOf(delivery, "duplicate", 1, offset), startedAt, false);
    }
    return finish(
      ctx,
      ctx.receiptOf(delivery, "conflict", 1, {
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
    ctx,
    ctx.receiptOf(delivery, previous.status, 1, {
      ...(previous.error === undefined ? {} : { error: previous.error }),
      ...(previous.issues === undefined ? {} : { issues: previous.issues }),
    }),
    startedAt,
    false,
  );
}
