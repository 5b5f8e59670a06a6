/**
 * The writes of a batch under its claims, up to the receipts `finishMany` stores: each
 * envelope upcast and validated as a single delivery's is (`prepareWrite`), then either
 * one `writeBatch` call for all that remain, the keys it failed tried again with backoff
 * while their errors are retryable, or (a guard with no batch writer) `write` for each,
 * at most `concurrency` at once, exactly as `deliver` writes.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { OFFSET_LIMIT } from "../internal/limits.js";
import type { Receipt } from "../ledger/types.js";
import { readBatchAnswer } from "./batch-result.js";
import type { Delivery, GuardContext } from "./guard-context.js";
import { abortText } from "./guard-receipts.js";
import type { SinkBatchContext, SinkBatchWriter, SinkWriteContext } from "./guard-types.js";
import { describeError, prepareWrite, writeWithRetries } from "./guard-write.js";
import type { Lease } from "./leases.js";
import { backoffMs } from "./retry.js";

/** One delivery of a batch, under its acquired claim. */
export interface Held {
  readonly delivery: Delivery;
  readonly lease: Lease;
}

/** A delivery ready to write: the envelope the sink is given. */
interface Ready extends Held {
  readonly written: Envelope;
}

const NEVER: AbortSignal = new AbortController().signal;

/**
 * Writes every delivery of `held` under its claim; one receipt per delivery, in order (not
 * yet stored). A batch writer's answer that is not one throws an `InvalidArgumentError`
 * after `failed` receipts are made for what it was given: `onBadAnswer` receives it, the
 * receipts are returned, and the caller throws it once they are stored.
 */
export async function writeHeld(
  ctx: GuardContext,
  held: readonly Held[],
  onBadAnswer: (error: unknown) => void,
): Promise<Receipt[]> {
  const receipts: Receipt[] = new Array(held.length);
  const ready: { index: number; item: Ready }[] = [];
  held.forEach((h, index) => {
    const prepared = prepareWrite(ctx, h.delivery, h.lease.claim.fencingToken);
    if ("written" in prepared) ready.push({ index, item: { ...h, written: prepared.written } });
    else receipts[index] = prepared;
  });
  const writeBatch = ctx.writeBatch;
  if (writeBatch === undefined) {
    await inStreamOrder(ready, ctx.concurrency, async ({ index, item }) => {
      receipts[index] = await writeWithRetries(ctx, item.delivery, item.written, item.lease);
    });
  } else if (ready.length > 0) {
    const written = await writeInBatches(
      ctx,
      writeBatch,
      ready.map((r) => r.item),
      onBadAnswer,
    );
    ready.forEach(({ index }, j) => {
      receipts[index] = written[j] as Receipt;
    });
  }
  return receipts;
}

/**
 * Runs `work` for each item, at most `limit` at once, the items of one stream one after
 * the other in the order given (as `deliverAll` orders them).
 */
async function inStreamOrder(
  items: readonly { readonly item: Ready }[],
  limit: number,
  work: (entry: { readonly index: number; readonly item: Ready }) => Promise<void>,
): Promise<void> {
  const tails = new Map<string, Promise<void>>();
  const active = new Set<Promise<void>>();
  const errors: unknown[] = [];
  for (const entry of items as readonly { readonly index: number; readonly item: Ready }[]) {
    while (active.size >= limit) await Promise.race(active);
    const stream = entry.item.delivery.stored.stream;
    // Settled either way: one write that throws does not stop the others.
    const task: Promise<void> = (tails.get(stream) ?? Promise.resolve())
      .then(() => work(entry))
      .catch((error: unknown) => {
        errors.push(error);
      })
      .finally(() => {
        active.delete(task);
      });
    active.add(task);
    tails.set(stream, task);
  }
  await Promise.all(active);
  if (errors.length > 0) throw errors[0];
}

/** What a single write is told, for one item of a batch. */
function itemContext(ctx: GuardContext, item: Ready, attempt: number): SinkWriteContext {
  const { delivery, lease, written } = item;
  return {
    sink: ctx.name,
    attempt,
    replay: delivery.replay,
    position: delivery.position,
    fencingToken: lease.claim.fencingToken,
    get signal() {
      return lease.signal;
    },
    original: written === delivery.stored ? undefined : delivery.stored,
  };
}

/**
 * What a batch writer is told. `items` is made when first read (most bulk writers never
 * look at it; making a context per envelope costs more than many writes), then kept.
 */
function batchContext(
  ctx: GuardContext,
  live: readonly Ready[],
  attempt: number,
  replay: boolean,
  signal: AbortSignal | undefined,
): SinkBatchContext {
  let items: readonly SinkWriteContext[] | undefined;
  return {
    sink: ctx.name,
    attempt,
    replay,
    signal: signal ?? NEVER,
    get items() {
      items ??= live.map((item) => itemContext(ctx, item, attempt));
      return items;
    },
  };
}

/**
 * `writeBatch` for `items`, then again for the ones it failed with a retryable error,
 * until each is written, failed for good, superseded (its claim lost) or out of tries.
 */
async function writeInBatches(
  ctx: GuardContext,
  writeBatch: SinkBatchWriter,
  items: readonly Ready[],
  onBadAnswer: (error: unknown) => void,
): Promise<Receipt[]> {
  const { retry, metrics, labels } = ctx;
  const out = new Map<Ready, Receipt>();
  const signal = items[0]?.delivery.signal;
  const replay = items[0]?.delivery.replay === true;
  let pending = items;
  const end = (item: Ready, receipt: Receipt) => out.set(item, receipt);
  // The caller gave up: every item still to write ends `failed`, code `aborted`.
  const abortAll = (left: readonly Ready[], attempt: number) => {
    for (const item of left) {
      end(
        item,
        ctx.receiptOf(item.delivery, "failed", attempt, {
          error: { code: "aborted", message: abortText(signal) },
          fencingToken: item.lease.claim.fencingToken,
        }),
      );
    }
  };
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (signal?.aborted) {
      abortAll(pending, attempt);
      break;
    }
    // A key another deliverer took over is not written again: the newer holder's counts.
    const live: Ready[] = [];
    for (const item of pending) {
      if (!item.lease.lost) {
        live.push(item);
        continue;
      }
      const token = item.lease.claim.fencingToken;
      end(
        item,
        ctx.receiptOf(item.delivery, "superseded", attempt, {
          error: {
            code: "claim_lost",
            message: `the claim (fencing token ${token}) was taken over before attempt ${attempt}`,
          },
          fencingToken: token,
        }),
      );
    }
    if (live.length === 0) break;
    const keys = new Set(live.map((item) => item.delivery.stored.key));
    let failed: ReadonlyMap<string, unknown>;
    let offsets: ReadonlyMap<string, string> = new Map();
    let answer: unknown;
    let threw = false;
    try {
      answer = await writeBatch(
        live.map((item) => item.written),
        batchContext(ctx, live, attempt, replay, signal),
      );
    } catch (error) {
      // The whole call failed: every item has its error.
      threw = true;
      answer = error;
    }
    if (threw) {
      failed = new Map(live.map((item) => [item.delivery.stored.key, answer]));
    } else {
      try {
        ({ failed, offsets } = readBatchAnswer(answer, keys));
      } catch (error) {
        // Not an answer: what was written is unknown. Every item fails (not final: it is
        // delivered again later) and the caller throws the error once they are stored.
        onBadAnswer(error);
        const { code, message } = describeError(error);
        for (const item of live) {
          end(
            item,
            ctx.receiptOf(item.delivery, "failed", attempt, {
              error: { code, message },
              fencingToken: item.lease.claim.fencingToken,
            }),
          );
        }
        break;
      }
    }
    const again: Ready[] = [];
    for (const item of live) {
      const key = item.delivery.stored.key;
      const token = item.lease.claim.fencingToken;
      if (!failed.has(key)) {
        const offset = offsets.get(key);
        end(
          item,
          ctx.receiptOf(item.delivery, replay ? "replayed" : "written", attempt, {
            ...(offset === undefined ? {} : { sinkOffset: offset.slice(0, OFFSET_LIMIT) }),
            fencingToken: token,
          }),
        );
        continue;
      }
      const error = failed.get(key);
      const failure = describeError(error);
      ctx.log("attempt %d of %s failed: %s", attempt, key, failure.message);
      if (retry.retryable(error) && attempt < retry.attempts) again.push(item);
      else
        end(
          item,
          ctx.receiptOf(item.delivery, "failed", attempt, { error: failure, fencingToken: token }),
        );
    }
    pending = again;
    if (pending.length === 0) break;
    metrics.counter("sinkproof.retries", pending.length, labels);
    try {
      await retry.sleep(backoffMs(retry, attempt), signal);
    } catch {
      abortAll(pending, attempt);
      break;
    }
  }
  return items.map((item) => out.get(item) as Receipt);
}
