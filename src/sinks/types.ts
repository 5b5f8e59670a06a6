/**
 * What every ready-made sink of sinkproof is (`sinkproof/sinks/*`): a `ReconcileSink`
 * (read back by range, digests, `rewrite` and `remove` for repair) with the writers a
 * guard needs, fenced by the claim's token, and a `close`. `sinkConformance` in
 * `sinkproof/testing` checks a sink against it.
 *
 * @module
 */

import type { SinkBatchWriter, SinkWriteContext, SinkWriter } from "../delivery/guard-types.js";
import type { Envelope } from "../envelope/schema.js";
import { describe, invalidArgument, show } from "../internal/arguments.js";
import { checkName } from "../ledger/validate.js";
import type { Observation, ObserveRange, ReconcileSink, SinkDigest } from "../reconcile/types.js";

/** A ready-made sink: give `write`/`writeBatch` to `guardSink`, the sink itself to `reconcile`. */
export interface ReadySink extends ReconcileSink {
  /** The sink's name. */
  readonly name: string;
  /** Its lag tolerance for reconciliation, ms. */
  readonly lagToleranceMs: number;
  /**
   * When a write is safe once it resolved: `fsync` (on disk), `synchronous-commit` (a
   * committed database transaction), `server` (as durable as the server is configured to
   * be), `none` (lost on a crash).
   */
  readonly durability: "fsync" | "synchronous-commit" | "server" | "none";
  /** What digest mode compares in it, and so what it cannot see. */
  readonly digestSees: string;
  /**
   * An upsert by key, fenced: a write whose `ctx.fencingToken` is not above the token
   * stored with the row changes nothing (the same write twice is a no-op).
   */
  readonly write: SinkWriter;
  /** `write` for many envelopes in one call (one append, one transaction, one round trip). */
  readonly writeBatch: SinkBatchWriter;
  /** The rows held, those of ledger positions `range.from` to `range.to` when given. */
  readonly observe: (range?: ObserveRange) => AsyncIterable<Observation>;
  /**
   * Digest mode over the rows held, present when the sink was made with
   * `reconcileBy: "digest"`: reconcile then compares bucket digests instead of reading
   * every row back (see `digestSees` for what that cannot see).
   */
  readonly digest?: SinkDigest | undefined;
  /** The same digests, whatever `reconcileBy` says (not enumerable: reconcile does not see it). */
  readonly digests: SinkDigest;
  /** Replaces the key's row with the envelope (repair: no fencing, the row's token kept). */
  readonly rewrite: (envelope: Envelope) => Promise<void>;
  /** Removes the key's row (repair); a key not held is fine. */
  readonly remove: (key: string) => Promise<void>;
  /** Releases what it holds (files, connections it opened); later writes are `sink_closed`. */
  close(): Promise<void>;
}

/**
 * A ready-made sink made of `own` (the {@link ReadySink} members, enumerable: `{ ...sink,
 * guard }` keeps them) and `extras` (what is the adapter's own: its path, `migrate`,
 * `compact`), kept on its prototype, not enumerable, so that `reconcile` and `repair`
 * take the sink as it is. Internal.
 */
export function withExtras<S extends ReadySink>(
  own: Omit<ReadySink, "digests">,
  extras: object,
): S {
  const prototype: object = {};
  for (const key of Object.keys(extras)) {
    const descriptor = Object.getOwnPropertyDescriptor(extras, key) as PropertyDescriptor;
    Object.defineProperty(prototype, key, { ...descriptor, enumerable: false });
  }
  return Object.assign(Object.create(prototype) as object, own) as S;
}

/**
 * The position and fencing token a write context gives, checked (non-negative safe
 * integers: a row stored under anything else could not be read back). Internal.
 */
export function writeTarget(
  context: SinkWriteContext | undefined,
  where: string,
): { position: number; token: number } {
  const c = context as { position?: unknown; fencingToken?: unknown } | undefined;
  if (typeof c !== "object" || c === null)
    invalidArgument(
      where,
      `must be a write context { position, fencingToken, ... }, got ${describe(c)}`,
    );
  const { position, fencingToken } = c;
  if (typeof position !== "number" || !Number.isSafeInteger(position) || position < 0)
    invalidArgument(
      `${where}.position`,
      `must be a non-negative integer, got ${describe(position)}`,
    );
  if (typeof fencingToken !== "number" || !Number.isSafeInteger(fencingToken) || fencingToken < 0)
    invalidArgument(
      `${where}.fencingToken`,
      `must be a non-negative integer, got ${describe(fencingToken)}`,
    );
  return { position, token: fencingToken };
}

/** Of the writes of one call, per key the one under the highest token. Internal. */
export function highestPerKey<T extends { envelope: Envelope; token: number }>(
  list: readonly T[],
): T[] {
  const best = new Map<string, T>();
  for (const item of list) {
    const seen = best.get(item.envelope.key);
    if (seen === undefined || item.token > seen.token) best.set(item.envelope.key, item);
  }
  return [...best.values()];
}

/** The options every ready-made sink takes, beside its own. */
export interface ReadySinkOptions {
  /** The sink's name (as its guard and the ledger's receipts know it). */
  readonly name: string;
  /**
   * What read-back yields per row: `both` (the stored checksum and the payload, so that
   * reconcile also finds a payload edited under its checksum) or `checksum` (cheaper).
   * @default "both"
   */
  readonly observe?: "both" | "checksum" | undefined;
  /** The lag tolerance reconcile uses for it, ms. @default 60_000 */
  readonly lagToleranceMs?: number | undefined;
  /**
   * How reconcile reads it: `observe` (every row read back: sees everything the sinks
   * catalog says) or `digest` (bucket digests, only differing buckets' rows read: for
   * large sinks, blind to what `digestSees` says).
   * @default "observe"
   */
  readonly reconcileBy?: "observe" | "digest" | undefined;
}

/** The keys of {@link ReadySinkOptions}, for each sink's list of option keys. Internal. */
export const READY_SINK_OPTION_KEYS = ["name", "observe", "lagToleranceMs", "reconcileBy"] as const;

/** {@link ReadySinkOptions} read (already copied by `readOptions`) and checked. Internal. */
export function readySinkOptions(o: Partial<ReadySinkOptions>): {
  name: string;
  mode: "both" | "checksum";
  lagToleranceMs: number;
  reconcileBy: "observe" | "digest";
} {
  const name = checkName(o.name, "options.name");
  const mode = o.observe ?? "both";
  if (mode !== "both" && mode !== "checksum")
    invalidArgument("options.observe", `must be "both" or "checksum", got ${show(mode)}`);
  const reconcileBy = o.reconcileBy ?? "observe";
  if (reconcileBy !== "observe" && reconcileBy !== "digest")
    invalidArgument(
      "options.reconcileBy",
      `must be "observe" or "digest", got ${show(reconcileBy)}`,
    );
  const lagToleranceMs = o.lagToleranceMs ?? 60_000;
  if (typeof lagToleranceMs !== "number" || !Number.isFinite(lagToleranceMs) || lagToleranceMs < 0)
    invalidArgument(
      "options.lagToleranceMs",
      `must be a non-negative number of ms, got ${show(lagToleranceMs)}`,
    );
  return { name, mode, lagToleranceMs, reconcileBy };
}
