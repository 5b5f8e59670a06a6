/**
 * Entries handed from a pipeline's own ledger reads to its guards, so that a guard does not
 * read again what the pipeline read a moment before: the entries a producer's append
 * answered (`publishMany`), the entries a drain or a background worker scanned. Internal:
 * the two functions are on the producer and the guard under symbols no one else has, and
 * a guard takes entries only from the ledger it was given itself (the very object);
 * anything else goes the public way, `deliverMany`, which reads every key back.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import type { Ledger, LedgerEntry, Receipt } from "../ledger/types.js";
import type { DeliverOptions, SinkGuard } from "./guard-types.js";

/** The producer's `emitMany` answering the ledger entries its append returned. */
export const EMIT_ENTRIES: unique symbol = Symbol("sinkproof.emitEntries");
/** The guard's `deliverMany` of entries its own ledger handed out. */
export const DELIVER_ENTRIES: unique symbol = Symbol("sinkproof.deliverEntries");

/** A producer's `emitMany`, answering the entries. */
export type EmitEntries<I> = (items: readonly I[]) => Promise<LedgerEntry[]>;
/** {@link SinkGuard.deliverMany} of entries that `ledger` handed out. */
export type DeliverEntries = (
  ledger: Ledger,
  entries: readonly LedgerEntry[],
  options?: DeliverOptions,
) => Promise<Receipt[]>;

/** Adds a hidden, non-enumerable function under `symbol` to `target`; returns `target`. */
export function withHidden<T extends object>(target: T, symbol: symbol, value: unknown): T {
  Object.defineProperty(target, symbol, { value, enumerable: false });
  return target;
}

/**
 * Emits `items` through `producer`: the envelopes, and the entries of the append when the
 * producer is one of ours.
 */
export async function emitEntries<I>(
  producer: { emitMany(items: readonly I[]): Promise<Envelope[]> },
  items: readonly I[],
): Promise<{ envelopes: Envelope[]; entries: readonly LedgerEntry[] | undefined }> {
  const own = (producer as { [EMIT_ENTRIES]?: EmitEntries<I> })[EMIT_ENTRIES];
  if (own === undefined) return { envelopes: await producer.emitMany(items), entries: undefined };
  const entries = await own(items);
  return { envelopes: entries.map((entry) => entry.envelope), entries };
}

/**
 * Delivers `entries` (read from `ledger`) through `guard`: handed over as they are when the
 * guard is one of ours on that same ledger, else by envelope through `deliverMany`.
 */
export function deliverEntries(
  guard: SinkGuard,
  ledger: Ledger,
  entries: readonly LedgerEntry[],
  options?: DeliverOptions,
): Promise<Receipt[]> {
  const own = (guard as { [DELIVER_ENTRIES]?: DeliverEntries })[DELIVER_ENTRIES];
  if (own !== undefined) return own(ledger, entries, options);
  return guard.deliverMany(
    entries.map((entry) => entry.envelope),
    options,
  );
}
