/**
 * `deliverAll` of a guard: many deliveries, at most `concurrency` at once, one after the
 * other within each stream; the receipts in input order, and the first error thrown once
 * every delivery started has finished.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { isSinkproofError } from "../errors.js";
import { describe, errorText, invalidArgument, isIterableObject } from "../internal/arguments.js";
import type { Receipt } from "../ledger/types.js";
import type { GuardContext } from "./guard-context.js";
import { deliverWith } from "./guard-deliver.js";
import { envelopeRef, readDeliverOptions } from "./guard-options.js";
import type { DeliverOptions } from "./guard-types.js";

/** The stream of an envelope, for ordering; "" when it cannot be read. */
function streamOf(envelope: unknown): string {
  try {
    const stream = (envelope as { stream?: unknown } | null | undefined)?.stream;
    return typeof stream === "string" ? stream : "";
  } catch {
    return ""; // deliverWith reports the unreadable envelope
  }
}

/** Delivers `envelopes` through the guard of `ctx`: see `SinkGuard.deliverAll`. */
export async function deliverAll(
  ctx: GuardContext,
  envelopes: Iterable<Envelope> | AsyncIterable<Envelope>,
  deliverOptions?: DeliverOptions,
): Promise<Receipt[]> {
  const options = readDeliverOptions(deliverOptions);
  if (!isIterableObject(envelopes)) {
    invalidArgument("envelopes", `must be an iterable of envelopes, got ${describe(envelopes)}`);
  }
  const concurrency = ctx.concurrency;
  const receipts: Receipt[] = [];
  const errors: unknown[] = [];
  const tails = new Map<string, Promise<void>>();
  const active = new Set<Promise<void>>();
  let index = 0;
  try {
    for await (const envelope of envelopes as AsyncIterable<Envelope>) {
      const i = index++;
      while (active.size >= concurrency) await Promise.race(active);
      const stream = streamOf(envelope);
      const previous = tails.get(stream) ?? Promise.resolve();
      const task: Promise<void> = previous
        .then(() => deliverWith(ctx, envelopeRef(envelope), options))
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
    invalidArgument("envelopes", `could not be iterated: ${errorText(error)}`, error);
  }
  await Promise.all(active);
  if (errors.length > 0) throw errors[0];
  return receipts;
}
