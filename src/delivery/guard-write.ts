/**
 * The steps a guard takes under an acquired claim, up to the receipt it will store: the
 * envelope upcast into the sink's versions, the sink's validator, then the writer, tried
 * again with backoff while its error is retryable, the caller has not given up and the
 * claim is still this guard's.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import type { ValidationIssue } from "../errors.js";
import { describe, errorSummary, invalidArgument, reading } from "../internal/arguments.js";
import { OFFSET_LIMIT } from "../internal/limits.js";
import type { Receipt } from "../ledger/types.js";
import { isBadBatchAnswer } from "./batch-result.js";
import type { Delivery, GuardContext } from "./guard-context.js";
import { abortText, rejected } from "./guard-receipts.js";
import type { SinkValidator } from "./guard-types.js";
import type { Lease } from "./leases.js";
import { clipIssue } from "./limits.js";
import { backoffMs } from "./retry.js";
import { schemaIssues } from "./validation.js";

/** A write's error as a receipt states it. */
export function describeError(error: unknown): { code: string; message: string } {
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
      return clipIssue({ path, code, message });
    });
  });
}

/**
 * Under the claim: upcast into the sink's versions, validate, write. Done here, not
 * before the claim, so a key already done is answered without upcasting or validating
 * it again.
 */
export async function writeUnderClaim(
  ctx: GuardContext,
  delivery: Delivery,
  lease: Lease,
): Promise<Receipt> {
  const prepared = prepareWrite(ctx, delivery, lease.claim.fencingToken);
  if (!("written" in prepared)) return prepared;
  return writeWithRetries(ctx, delivery, prepared.written, lease);
}

/**
 * The envelope the sink is given (the ledger's, or its upcast), or the `rejected` receipt
 * when the sink's versions or its validator refuse it.
 */
export function prepareWrite(
  ctx: GuardContext,
  delivery: Delivery,
  token: number,
): Receipt | { readonly written: Envelope } {
  const given = ctx.forSink(delivery.stored);
  if (given.issues !== undefined) {
    return rejected(ctx, delivery, given.issues, given.code, token);
  }
  const written = given.envelope;
  const validate = ctx.validate;
  if (validate !== undefined) {
    const issues = validatorIssues(validate, written);
    if (issues.length > 0) return rejected(ctx, delivery, issues, "rejected", token);
  }
  return { written };
}

/** Writes `written` (the sink's version of the delivery's envelope) until done or out of tries. */
export async function writeWithRetries(
  ctx: GuardContext,
  delivery: Delivery,
  written: Envelope,
  lease: Lease,
): Promise<Receipt> {
  const { retry, name, metrics, labels } = ctx;
  const write = ctx.write;
  const { stored, position, replay, signal } = delivery;
  const fencingToken = lease.claim.fencingToken;
  const original = written === stored ? undefined : stored;
  let lastFailure: { code: string; message: string } = {
    code: "write_failed",
    message: "not written",
  };
  for (let attempt = 1; attempt <= retry.attempts; attempt++) {
    if (signal?.aborted) {
      return ctx.receiptOf(delivery, "failed", attempt, {
        error: { code: "aborted", message: abortText(signal) },
        fencingToken,
      });
    }
    if (lease.lost) {
      // Another deliverer holds the key now: a further attempt would only race it.
      return ctx.receiptOf(delivery, "superseded", attempt, {
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
      return ctx.receiptOf(delivery, replay ? "replayed" : "written", attempt, {
        ...(typeof offset === "string" ? { sinkOffset: offset.slice(0, OFFSET_LIMIT) } : {}),
        fencingToken,
      });
    } catch (error) {
      lastFailure = describeError(error);
      ctx.log("attempt %d of %s failed: %s", attempt, stored.key, lastFailure.message);
      if (isBadBatchAnswer(error)) {
        // Not the sink failing but the writer's answer: never retried, thrown once stored.
        delivery.badAnswer = error;
        return ctx.receiptOf(delivery, "failed", attempt, { error: lastFailure, fencingToken });
      }
      if (!retry.retryable(error) || attempt === retry.attempts) {
        return ctx.receiptOf(delivery, "failed", attempt, {
          error: lastFailure,
          fencingToken,
        });
      }
    }
    metrics.counter("sinkproof.retries", 1, labels);
    try {
      await retry.sleep(backoffMs(retry, attempt), signal);
    } catch {
      return ctx.receiptOf(delivery, "failed", attempt, {
        error: { code: "aborted", message: abortText(signal) },
        fencingToken,
      });
    }
  }
  return ctx.receiptOf(delivery, "failed", retry.attempts, {
    error: lastFailure,
    fencingToken,
  });
}
