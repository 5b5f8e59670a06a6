/**
 * The append's batch rules, above the adapters: every envelope of a batch checked (fields,
 * checksum, payload limits), repeated keys folded onto their first occurrence (a key
 * repeated with another checksum, an id under another key, refused), a clash reported as
 * an `IdempotencyConflictError` carrying the existing entry, and the adapter's results
 * mapped back onto the batch as given, each existing entry checked to be its key's.
 *
 * Also {@link planAppend}, the `_append` decision of the ledgers that hold their key and
 * id indexes in the process (memory, file).
 *
 * @module
 */

import type { Limits } from "../canonical/canonicalize.js";
import { checkEnvelopeKeepingPayload } from "../envelope/check.js";
import type { Envelope } from "../envelope/schema.js";
import { IdempotencyConflictError } from "../errors.js";
import { describe, invalidArgument, unreadableArgument } from "../internal/arguments.js";
import { checkFunction } from "../internal/checks.js";
import { readArray } from "../internal/options.js";
import type { AppendClash } from "./base-types.js";
import { corruption, markIntact, type StorageSite } from "./read-checks.js";
import type { AppendedEntry, AppendResult, LedgerEntry } from "./types.js";
import { MAX_BATCH } from "./validate.js";

/** What {@link planAppend} decided when nothing clashes. */
export interface AppendPlan {
  /** No clash. */
  readonly ok: true;
  /** Indexes of the envelopes that are new, in order. */
  readonly fresh: number[];
  /** Envelopes already in the ledger (same key and checksum), by index. */
  readonly existing: Map<number, LedgerEntry>;
}

/** What `append` answers for an empty batch. */
export const EMPTY_RESULT: AppendResult = Object.freeze({
  results: Object.freeze([]),
  appended: 0,
  existing: 0,
});

/** What `planAppend` reads of an envelope (the core has checked it): its key and id. */
function checkPlanned(value: unknown, i: number): { key: string; id: string; checksum: string } {
  if (typeof value !== "object" || value === null)
    invalidArgument(`envelopes[${i}]`, `must be an envelope, got ${describe(value)}`);
  let key: unknown;
  let id: unknown;
  let checksum: unknown;
  try {
    ({ key, id, checksum } = value as Record<string, unknown>);
  } catch (error) {
    unreadableArgument(`envelopes[${i}]`, error);
  }
  if (typeof key !== "string" || typeof id !== "string" || typeof checksum !== "string")
    invalidArgument(`envelopes[${i}]`, "must be an envelope (with a key, an id and a checksum)");
  return { key, id, checksum };
}

/**
 * Decides an append against indexes held in memory: the `_append` logic shared by
 * ledgers that keep their key and id indexes in the process (memory, file). Returns the
 * clash, or the list of envelopes that are new and the entries that already exist.
 */
export function planAppend(
  envelopes: readonly Envelope[],
  byKey: (key: string) => LedgerEntry | undefined,
  byId: (id: string) => LedgerEntry | undefined,
): AppendPlan | AppendClash {
  const list = readArray(envelopes, "envelopes", MAX_BATCH);
  checkFunction(byKey, "byKey");
  checkFunction(byId, "byId");
  const fresh: number[] = [];
  const existing = new Map<number, LedgerEntry>();
  for (let i = 0; i < list.length; i++) {
    const envelope = checkPlanned(list[i], i);
    const found = byKey(envelope.key);
    if (found !== undefined) {
      if (found.envelope.checksum !== envelope.checksum)
        return { ok: false, index: i, clash: "key", existing: found };
      existing.set(i, found);
      continue;
    }
    const sameId = byId(envelope.id);
    if (sameId !== undefined) return { ok: false, index: i, clash: "id", existing: sameId };
    fresh.push(i);
  }
  return { ok: true, fresh, existing };
}

/**
 * A batch checked and folded: the envelopes `_append` gets (keys and ids unique), and how
 * the batch as given maps onto them.
 */
export interface Batch {
  /** How many envelopes the batch as given holds. */
  readonly count: number;
  /** The envelopes for `_append`, each key once. */
  readonly unique: readonly Envelope[];
  /** The canonical payload bytes of each of `unique`, when the adapter keeps them. */
  readonly uniqueCanonical: readonly (Uint8Array | undefined)[];
  /** For each envelope given, its index in `unique`; undefined when nothing repeats. */
  readonly slot: number[] | undefined;
  /** For each of `unique`, its index in the batch as given; undefined when nothing repeats. */
  readonly firstOf: number[] | undefined;
}

/**
 * Checks every envelope of a batch (read once already) against `limits`, keeping the
 * canonical payload bytes when `keep`, marking each checked envelope intact when `mark`,
 * then folds its repeats.
 */
export function checkBatch(
  envelopes: readonly Envelope[],
  limits: Limits,
  keep: boolean,
  mark: boolean,
): Batch {
  const checked: Envelope[] = [];
  const canonical: Array<Uint8Array | undefined> = [];
  for (let i = 0; i < envelopes.length; i++) {
    const result = checkEnvelopeKeepingPayload(envelopes[i], limits, [i], keep);
    if (mark) markIntact(result.envelope);
    checked.push(result.envelope);
    canonical.push(result.canonical);
  }
  // Within the batch: one key is one effect; repeats map to the first occurrence.
  return { count: checked.length, ...foldRepeats(checked, canonical) };
}

/**
 * Folds repeated keys of a batch onto their first occurrence; refuses a key repeated with
 * another checksum and an id repeated under another key. Batches without repeats (the
 * usual case) pass through untouched: `slot` and `firstOf` are then undefined.
 */
function foldRepeats(
  checked: readonly Envelope[],
  canonical: readonly (Uint8Array | undefined)[],
): {
  unique: readonly Envelope[];
  uniqueCanonical: readonly (Uint8Array | undefined)[];
  slot: number[] | undefined;
  firstOf: number[] | undefined;
} {
  const keys = new Set<string>();
  const ids = new Set<string>();
  for (const envelope of checked) {
    keys.add(envelope.key);
    ids.add(envelope.id);
  }
  if (keys.size === checked.length && ids.size === checked.length) {
    return { unique: checked, uniqueCanonical: canonical, slot: undefined, firstOf: undefined };
  }
  const unique: Envelope[] = [];
  const uniqueCanonical: Array<Uint8Array | undefined> = [];
  const slot: number[] = [];
  const firstOf: number[] = [];
  const byKey = new Map<string, number>();
  const byId = new Map<string, number>();
  for (let i = 0; i < checked.length; i++) {
    const envelope = checked[i] as Envelope;
    const seen = byKey.get(envelope.key);
    if (seen !== undefined) {
      const first = unique[seen] as Envelope;
      if (first.checksum !== envelope.checksum) {
        throw new IdempotencyConflictError(
          "idempotency_conflict",
          `Envelopes ${i} and an earlier one in the batch share key ${JSON.stringify(envelope.key)} with different checksums`,
          { existing: undefined, incoming: envelope.checksum },
          { key: envelope.key, path: `$[${i}]` },
        );
      }
      slot.push(seen);
      continue;
    }
    if (byId.has(envelope.id)) {
      throw new IdempotencyConflictError(
        "id_conflict",
        `Envelope ${i} reuses id ${envelope.id} under another key`,
        { existing: undefined, incoming: envelope.checksum },
        { key: envelope.key, path: `$[${i}]` },
      );
    }
    byKey.set(envelope.key, unique.length);
    byId.set(envelope.id, unique.length);
    slot.push(unique.length);
    firstOf.push(i);
    unique.push(envelope);
    uniqueCanonical.push(canonical[i]);
  }
  return { unique, uniqueCanonical, slot, firstOf };
}

/** The error of a clash `_append` reported; `existing` is the entry in the way, checked. */
export function clashError(
  batch: Batch,
  clash: AppendClash["clash"],
  at: number,
  existing: LedgerEntry,
): IdempotencyConflictError {
  const envelope = batch.unique[at] as Envelope;
  const index = batch.firstOf === undefined ? at : (batch.firstOf[at] as number);
  return clash === "key"
    ? new IdempotencyConflictError(
        "idempotency_conflict",
        `Key ${JSON.stringify(envelope.key)} is already in the ledger at position ${existing.position} with checksum ${existing.envelope.checksum}, not ${envelope.checksum}`,
        { existing, incoming: envelope.checksum },
        { key: envelope.key, position: existing.position, path: `$[${index}]` },
      )
    : new IdempotencyConflictError(
        "id_conflict",
        `Id ${envelope.id} is already in the ledger at position ${existing.position} under key ${JSON.stringify(existing.envelope.key)}`,
        { existing, incoming: envelope.checksum },
        { key: envelope.key, position: existing.position, path: `$[${index}]` },
      );
}

/**
 * The adapter's results (one per envelope of `batch.unique`) mapped back onto the batch as
 * given. An existing entry was read from storage: it is checked with `check` like any read,
 * and must be its key's (else a `CorruptionError` at `site()`). A repeat inside the batch
 * is "existing" even when its first occurrence was new.
 */
export function appendResults(
  batch: Batch,
  outcome: readonly AppendedEntry[],
  check: (entry: LedgerEntry) => LedgerEntry,
  site: () => StorageSite,
): AppendResult {
  const { unique, slot, firstOf } = batch;
  const results: AppendedEntry[] = [];
  let appended = 0;
  const existing = new Map<number, AppendedEntry>();
  for (let i = 0; i < batch.count; i++) {
    const u = slot === undefined ? i : (slot[i] as number);
    let result = outcome[u] as AppendedEntry;
    if (result.status === "existing") {
      // Read from storage, so checked like any read; and it must be this key's entry.
      let seen = existing.get(u);
      if (seen === undefined) {
        const entry = check(result.entry);
        const envelope = unique[u] as Envelope;
        if (entry.envelope.key !== envelope.key || entry.envelope.checksum !== envelope.checksum) {
          throw corruption(
            site(),
            entry.position,
            `the entry the ledger found for key ${JSON.stringify(envelope.key)} holds key ${JSON.stringify(entry.envelope.key)} and checksum ${entry.envelope.checksum}`,
          );
        }
        seen = entry === result.entry ? result : { entry, status: "existing" };
        existing.set(u, seen);
      }
      result = seen;
    }
    // A repeat inside the batch is "existing" even when its first occurrence was new.
    const repeat = firstOf !== undefined && firstOf[u] !== i;
    const item =
      repeat && result.status === "appended"
        ? { entry: result.entry, status: "existing" as const }
        : result;
    if (item.status === "appended") appended++;
    results.push(item);
  }
  return Object.freeze({
    results: Object.freeze(results),
    appended,
    existing: results.length - appended,
  });
}
