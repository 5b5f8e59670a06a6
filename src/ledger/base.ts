/**
 * `BaseLedger`: the thick core every ledger adapter extends.
 *
 * Owns the ledger's rules, so that each adapter only stores and fetches: argument checks,
 * envelope verification (fields and checksum) before anything is stored and again on
 * everything read back (read-checks.ts: entries, positions in order and without gaps,
 * receipts, claims, watermarks; damage is a `CorruptionError`, never returned), idempotency
 * within a batch, conflict errors carrying the existing entry, the receipt/entry link,
 * watermark bounds, claim arguments and tokens, the audit hash chain, closed-ledger
 * errors, and the translation of any adapter failure into a `LedgerError` with its cause.
 *
 * Adapters implement the protected `_` methods (the template pattern of Powertools'
 * persistence layers). Each `_` method must be atomic; the contracts are in their TSDoc.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import {
  type Limits,
  MAX_BYTES_LIMIT,
  MAX_DEPTH_LIMIT,
  resolveLimits,
} from "../canonical/canonicalize.js";
import { checkEnvelopeKeepingPayload } from "../envelope/check.js";
import { ENVELOPE_LIMITS, type Envelope } from "../envelope/schema.js";
import {
  IdempotencyConflictError,
  InvalidArgumentError,
  isSinkproofError,
  LedgerError,
} from "../errors.js";
import { describe, invalidArgument, show, unreadableArgument } from "../internal/arguments.js";
import {
  type OptionKeys,
  optionKeys,
  readArray,
  readOptions,
  readProperty,
} from "../internal/options.js";
import {
  AuditIntents,
  checkAuditHead,
  nextAuditRecord,
  StaleAuditState,
  verifyAuditChain,
} from "./audit.js";
import {
  checkedClaimResult,
  checkedCount,
  checkedEntry,
  checkedReceipt,
  corruption,
  entryFromStored,
  markIntact,
  ScanOrder,
  type StoragePart,
  type StorageSite,
  type StoredEntry,
} from "./read-checks.js";
import type {
  AppendedEntry,
  AppendResult,
  AuditHead,
  AuditInput,
  AuditRecord,
  AuditVerification,
  Claim,
  ClaimOptions,
  ClaimResult,
  FreezeInput,
  Ledger,
  LedgerCapabilities,
  LedgerEntry,
  PositionRange,
  Receipt,
  ScanQuery,
  SequenceReservation,
  SinkFreeze,
  UnfreezeInput,
} from "./types.js";
import {
  checkAuditInput,
  checkFreezeInput,
  checkId,
  checkInteger,
  checkKey,
  checkName,
  checkProducer,
  checkRange,
  checkReceipt,
  checkScanQuery,
  isFencingToken,
  MAX_BATCH,
  MAX_OWNER,
  MAX_RESERVATION,
  MAX_TTL_MS,
  type ResolvedScan,
} from "./validate.js";

/** Options every ledger takes. */
export interface LedgerOptions {
  /**
   * Milliseconds since the epoch: claim expiry and `appendedAt`. Inject a manual clock in
   * tests.
   * @default Date.now
   */
  readonly clock?: (() => number) | undefined;
  /**
   * Largest canonical payload accepted by `append`, in UTF-8 bytes.
   * @default 1_048_576 (1 MiB)
   */
  readonly maxPayloadBytes?: number | undefined;
  /**
   * Deepest payload nesting accepted by `append`.
   * @default 64
   */
  readonly maxDepth?: number | undefined;
}

/** What `_append` decided, atomically: everything appended, or nothing and why. */
export type AppendOutcome =
  | {
      /** Everything was appended (or already there). */
      readonly ok: true;
      /** One result per envelope given to `_append`, in order. */
      readonly results: readonly AppendedEntry[];
    }
  | AppendClash;

/** Why an append was refused, with nothing written. */
export interface AppendClash {
  /** Nothing was appended. */
  readonly ok: false;
  /** Index (in the envelopes given to `_append`) of the envelope that clashes. */
  readonly index: number;
  /** `key`: its key exists with another checksum; `id`: its id exists under another key. */
  readonly clash: "key" | "id";
  /** The entry already in the ledger. */
  readonly existing: LedgerEntry;
}

/** What {@link planAppend} decided when nothing clashes. */
export interface AppendPlan {
  /** No clash. */
  readonly ok: true;
  /** Indexes of the envelopes that are new, in order. */
  readonly fresh: number[];
  /** Envelopes already in the ledger (same key and checksum), by index. */
  readonly existing: Map<number, LedgerEntry>;
}

/** A claim request, with the token and expiry the core chose. */
export interface ClaimRequest {
  /** Sink name. */
  readonly sink: string;
  /** Idempotency key. */
  readonly key: string;
  /** Who asks. */
  readonly owner: string;
  /** Unique token of this acquisition. */
  readonly token: string;
  /** The ledger's clock now. */
  readonly now: number;
  /** When the claim expires if acquired (ms since the epoch). */
  readonly expiresAt: number;
  /** Acquire even when the key is done (a replay): never answer `done`. */
  readonly ignoreDone: boolean;
  /** Take a live claim over when its owner is exactly this one (see `ClaimOptions.takeOverFrom`). */
  readonly takeOverFrom: string | undefined;
}

/** A freeze to set or lift, for `_changeFreeze`. */
export interface FreezeChange {
  /** The sink. */
  readonly sink: string;
  /** The freeze's origin. */
  readonly origin: string;
  /**
   * The freeze to set (the adapter adds `audit`: the index of the record it appended), or
   * undefined to lift the freeze of (sink, origin).
   */
  readonly freeze: Omit<SinkFreeze, "audit"> | undefined;
}

/** What `_changeFreeze` did. */
export interface FreezeChanged {
  /** The freeze of (sink, origin) before the call. */
  readonly before: SinkFreeze | undefined;
  /** The audit record appended, or undefined when nothing changed. */
  readonly record: AuditRecord | undefined;
}

/** A scan with every bound resolved: `to` is a position, `limit` a count. */
export interface EntryScan {
  /** First position, inclusive. */
  readonly from: number;
  /** Last position, inclusive; never past the head. */
  readonly to: number;
  /** Only this producer, when set. */
  readonly producer: string | undefined;
  /** Only this stream, when set. */
  readonly stream: string | undefined;
  /** At most this many entries. */
  readonly limit: number;
}

/** The last ms of year 9999: the latest time an envelope or a receipt can hold. */
const MAX_TIME_MS = 253_402_300_799_999;

/** Tries of an outcome's append while other writers keep moving the audit log. */
const AUDIT_RETRIES = 8;

const EMPTY_RESULT: AppendResult = Object.freeze({
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
  if (typeof byKey !== "function")
    invalidArgument("byKey", `must be a function, got ${describe(byKey)}`);
  if (typeof byId !== "function")
    invalidArgument("byId", `must be a function, got ${describe(byId)}`);
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

/**
 * Checks the options every ledger takes (clock and payload limits), each error naming the
 * option as the caller spelled it. Adapters that open storage call it first, so bad
 * options leave storage untouched; the `BaseLedger` constructor calls it too. It reads only
 * these keys (an adapter may take more): each sinkproof adapter refuses unknown keys itself.
 */
export function checkLedgerOptions(options: LedgerOptions): LedgerOptions {
  if (typeof options !== "object" || options === null) {
    invalidArgument("options", `must be an object, got ${describe(options)}`);
  }
  const clock = readProperty(options, "clock", "options");
  const maxPayloadBytes = readProperty(options, "maxPayloadBytes", "options") as number | undefined;
  const maxDepth = readProperty(options, "maxDepth", "options") as number | undefined;
  if (clock !== undefined && typeof clock !== "function") {
    invalidArgument("options.clock", `must be a function, got ${describe(clock)}`);
  }
  if (
    maxPayloadBytes !== undefined &&
    (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1 || maxPayloadBytes > MAX_BYTES_LIMIT)
  ) {
    invalidArgument(
      "options.maxPayloadBytes",
      `must be an integer from 1 to ${MAX_BYTES_LIMIT}, got ${describe(maxPayloadBytes)}`,
    );
  }
  if (
    maxDepth !== undefined &&
    (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > MAX_DEPTH_LIMIT)
  ) {
    invalidArgument(
      "options.maxDepth",
      `must be an integer from 1 to ${MAX_DEPTH_LIMIT}, got ${describe(maxDepth)}`,
    );
  }
  return { clock, maxPayloadBytes, maxDepth } as LedgerOptions;
}

/** The keys of {@link LedgerOptions}, for adapters that read their options strictly. */
export const LEDGER_OPTION_KEYS: OptionKeys<LedgerOptions> = optionKeys<LedgerOptions>()(
  "clock",
  "maxPayloadBytes",
  "maxDepth",
);

/**
 * The core of every ledger. Extend it and implement the protected `_` methods; the
 * public methods check arguments, verify envelopes, enforce the ledger's rules and wrap
 * adapter failures, so the adapter only stores and fetches.
 *
 * @example
 * ```ts
 * import { BaseLedger } from "sinkproof";
 * class MyLedger extends BaseLedger {
 *   readonly capabilities = { durability: "none", concurrency: "single-process", claims: "process", clock: "injected" } as const;
 *   protected async _append(envelopes, appendedAt) { ... }
 *   // … the other _ methods
 * }
 * ```
 */
export abstract class BaseLedger implements Ledger {
  /** What this ledger promises. */
  abstract readonly capabilities: LedgerCapabilities;
  /** The ledger's clock (ms since the epoch). */
  protected readonly clock: () => number;
  /** Payload limits for `append`. */
  protected readonly limits: Limits;
  /**
   * Set by adapters that store the payload's JSON: `_append` then receives each payload's
   * canonical bytes, already computed by the integrity check.
   */
  protected readonly keepsCanonicalPayloads: boolean = false;
  /**
   * Set by adapters that prove on every read that an entry is the one appended (FileLedger
   * checks each frame's hash): the core then checks only positions and order, and does not
   * verify the envelope's checksum again. Adapters that cannot prove it leave it unset, and
   * the core verifies every envelope read, unless it is an object this process already
   * checked (an in-memory adapter's) or a {@link StoredEntry} (a hash of its stored text).
   */
  protected readonly readsVerified: boolean = false;
  #closed = false;
  #failure: unknown;
  readonly #intents = new AuditIntents();
  readonly #auditAppends = new Set<Promise<AuditRecord>>();

  constructor(ledgerOptions: LedgerOptions = {}) {
    const options = checkLedgerOptions(ledgerOptions);
    this.clock = options.clock ?? Date.now;
    this.limits = resolveLimits(
      {
        maxDepth: options.maxDepth ?? ENVELOPE_LIMITS.maxDepth,
        maxBytes: options.maxPayloadBytes ?? ENVELOPE_LIMITS.maxPayloadBytes,
      },
      "options",
    );
  }

  // ---- the adapter's part --------------------------------------------------------------

  /**
   * Atomically: for each envelope (keys and ids are unique within the call), an entry with
   * the same key is `existing`; if its checksum differs, or another entry has the same id,
   * append nothing and report the clash. Otherwise give every new envelope the next
   * position, in order, with `appendedAt`, and return one result per envelope.
   * `canonical[i]` is the canonical UTF-8 of envelope i's payload (valid JSON text) when
   * the adapter sets `keepsCanonicalPayloads`, so it can store it without serializing.
   */
  protected abstract _append(
    envelopes: readonly Envelope[],
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
  ): Promise<AppendOutcome>;
  /**
   * The entry with this key: as a `LedgerEntry`, or as it is stored ({@link StoredEntry}:
   * the core parses and verifies it).
   */
  protected abstract _getByKey(key: string): Promise<LedgerEntry | StoredEntry | undefined>;
  /** The entry with this id (a `LedgerEntry` or a {@link StoredEntry}). */
  protected abstract _getById(id: string): Promise<LedgerEntry | StoredEntry | undefined>;
  /**
   * Entries with `from <= position <= to`, matching the filters, in order, at most
   * `limit` (each a `LedgerEntry` or a {@link StoredEntry}). An adapter that holds its
   * entries in memory may return a synchronous iterable: the scan then costs one async
   * step per entry instead of two. The core checks what comes back: positions in range and
   * increasing, without a gap when unfiltered, every entry matching the filters.
   */
  protected abstract _scan(
    scan: EntryScan,
  ): AsyncIterable<LedgerEntry | StoredEntry> | Iterable<LedgerEntry | StoredEntry>;
  /** The last position; 0 when empty. */
  protected abstract _head(): Promise<number>;
  /** Atomically reserves `count` numbers for `producer` (from 0) and returns the first; durable where the ledger is. */
  protected abstract _reserveSequence(producer: string, count: number): Promise<number>;
  /**
   * Atomically: if the receipt is final (see `isFinalStatus`), carries a `fencingToken`,
   * and the stored claim of (sink, key) has a higher fencing token, store nothing and
   * return false; else store it (already checked, its entry exists) and return true.
   */
  protected abstract _putReceipt(receipt: Receipt): Promise<boolean>;
  /** Receipts of (sink, key) in the order they were put. */
  protected abstract _getReceipts(sink: string, key: string): Promise<readonly Receipt[]>;
  /** Receipts of a sink with `from <= position <= to`, in position order, then put order. */
  protected abstract _scanReceipts(sink: string, from: number, to: number): AsyncIterable<Receipt>;
  /** The sink's watermark; 0 when none. */
  protected abstract _getWatermark(sink: string): Promise<number>;
  /** Atomically sets the watermark to max(current, position) and returns it. */
  protected abstract _advanceWatermark(sink: string, position: number): Promise<number>;
  /**
   * Atomically: `done` with the last final receipt (see `isFinalStatus`) of (sink, key)
   * if there is one and `ignoreDone` is false; else `held` if a claim that is not released
   * has `expiresAt > now` (unless its owner is `takeOverFrom`); else store this claim
   * (replacing an expired or released one) and return `acquired`. The acquired claim's
   * `fencingToken` is a positive integer above every fencing token ever given for
   * (sink, key) by this storage, across restarts: keep released claims (or the highest
   * token) rather than delete them.
   */
  protected abstract _claim(request: ClaimRequest): Promise<ClaimResult>;
  /** Atomically: if the stored claim of (sink, key) has this token and is not released, set its expiry; return whether it had. */
  protected abstract _renewClaim(claim: Claim, expiresAt: number): Promise<boolean>;
  /** Atomically: if the stored claim of (sink, key) has this token and is not released, mark it released (keeping its fencing token); return whether it had. */
  protected abstract _releaseClaim(claim: Claim): Promise<boolean>;
  /**
   * Atomically: set or lift the freeze of (sink, origin) and append the audit record `make`
   * returns for the last record's head, both or neither. When there is nothing to change
   * (setting a freeze that exists, lifting one that does not), append nothing.
   */
  protected abstract _changeFreeze(
    change: FreezeChange,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<FreezeChanged>;
  /** The freezes of `sink` (every sink's when undefined), by sink, then oldest first. */
  protected abstract _getFreezes(sink: string | undefined): Promise<readonly SinkFreeze[]>;
  /** Atomically: call `make` with the last record's head and store the record it returns. */
  protected abstract _appendAudit(
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<AuditRecord>;
  /** Audit records in stored order. */
  protected abstract _scanAudit(): AsyncIterable<AuditRecord>;
  /** Releases resources (files, locks, connections). */
  protected abstract _close(): Promise<void>;

  // ---- helpers for adapters ------------------------------------------------------------

  /**
   * Where this ledger keeps a part of its state, for the `CorruptionError` of damage found
   * there. Adapters with files or tables override it.
   */
  protected storageSite(_part: StoragePart): StorageSite {
    return { file: this.constructor.name };
  }

  /**
   * A stored entry parsed and verified (see {@link StoredEntry}), for an adapter's own
   * lookups (an append's existing entries): damage is a `CorruptionError`.
   */
  protected entryFromStored(stored: StoredEntry): LedgerEntry {
    const entry = entryFromStored(stored, this.storageSite("entries"));
    // The core checks an append's existing entries again: by identity, at no cost.
    markIntact(entry.envelope);
    return entry;
  }

  #entries: StorageSite | undefined;

  /** An adapter's entry, checked: what every read path hands out. */
  #checked(entry: LedgerEntry | StoredEntry): LedgerEntry {
    this.#entries ??= this.storageSite("entries");
    return checkedEntry(entry, this.#entries, this.readsVerified);
  }

  /**
   * Marks the ledger failed: every later call throws `LedgerError` `ledger_failed` with
   * this cause. For adapters whose state can no longer be trusted (a failed fsync).
   */
  protected fail(cause: unknown): void {
    this.#failure ??= cause ?? new Error("ledger failed");
  }

  /** Throws unless the ledger is open and healthy. */
  protected assertOpen(): void {
    if (this.#closed) throw new LedgerError("ledger_closed", "The ledger is closed");
    if (this.#failure !== undefined) {
      throw new LedgerError("ledger_failed", "The ledger failed earlier and must be reopened", {
        cause: this.#failure,
      });
    }
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await operation();
    } catch (error) {
      throw storageError(error);
    }
  }

  #iterate<T>(source: () => AsyncIterable<T>): AsyncIterable<T> {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        self.assertOpen();
        let iterator: AsyncIterator<T>;
        try {
          iterator = source()[Symbol.asyncIterator]();
        } catch (error) {
          if (isSinkproofError(error)) throw error;
          throw new LedgerError("storage_error", `Ledger storage failed: ${String(error)}`, {
            cause: error,
          });
        }
        while (true) {
          self.assertOpen();
          let step: IteratorResult<T>;
          try {
            step = await iterator.next();
          } catch (error) {
            if (isSinkproofError(error)) throw error;
            throw new LedgerError("storage_error", `Ledger storage failed: ${String(error)}`, {
              cause: error,
            });
          }
          if (step.done) return;
          yield step.value;
        }
      },
    };
  }

  #now(): number {
    const now = this.clock();
    // Within what an ISO time of an envelope can say (years 1970 to 9999).
    if (typeof now !== "number" || !Number.isFinite(now) || now < 0 || now > MAX_TIME_MS) {
      invalidArgument(
        "options.clock()",
        `must return ms since the epoch, up to the end of year 9999, got ${show(now)}`,
      );
    }
    return now;
  }

  // ---- the public API ------------------------------------------------------------------

  async append(envelopes: readonly Envelope[]): Promise<AppendResult> {
    this.assertOpen();
    // Read once: a Proxy's length or elements cannot change under the checks.
    envelopes = readArray(envelopes, "envelopes", MAX_BATCH) as Envelope[];
    if (envelopes.length === 0) return EMPTY_RESULT;
    const checked: Envelope[] = [];
    const canonical: Array<Uint8Array | undefined> = [];
    const keep = this.keepsCanonicalPayloads;
    for (let i = 0; i < envelopes.length; i++) {
      const result = checkEnvelopeKeepingPayload(envelopes[i], this.limits, [i], keep);
      // An adapter that proves its reads (FileLedger, MemoryLedger) needs no mark to trust.
      if (!this.readsVerified) markIntact(result.envelope);
      checked.push(result.envelope);
      canonical.push(result.canonical);
    }
    // Within the batch: one key is one effect; repeats map to the first occurrence.
    const { unique, uniqueCanonical, slot, firstOf } = foldRepeats(checked, canonical);
    const appendedAt = new Date(this.#now()).toISOString();
    let outcome: AppendOutcome;
    try {
      outcome = await this._append(unique, appendedAt, uniqueCanonical);
    } catch (error) {
      throw storageError(error);
    }
    if (!outcome.ok) {
      // The entry in the way was read from storage: checked before it is shown.
      outcome = { ...outcome, existing: this.#checked(outcome.existing) };
      const envelope = unique[outcome.index] as Envelope;
      const index = firstOf === undefined ? outcome.index : (firstOf[outcome.index] as number);
      throw outcome.clash === "key"
        ? new IdempotencyConflictError(
            "idempotency_conflict",
            `Key ${JSON.stringify(envelope.key)} is already in the ledger at position ${outcome.existing.position} with checksum ${outcome.existing.envelope.checksum}, not ${envelope.checksum}`,
            { existing: outcome.existing, incoming: envelope.checksum },
            { key: envelope.key, position: outcome.existing.position, path: `$[${index}]` },
          )
        : new IdempotencyConflictError(
            "id_conflict",
            `Id ${envelope.id} is already in the ledger at position ${outcome.existing.position} under key ${JSON.stringify(outcome.existing.envelope.key)}`,
            { existing: outcome.existing, incoming: envelope.checksum },
            { key: envelope.key, position: outcome.existing.position, path: `$[${index}]` },
          );
    }
    const results: AppendedEntry[] = [];
    let appended = 0;
    const existing = new Map<number, AppendedEntry>();
    for (let i = 0; i < checked.length; i++) {
      const u = slot === undefined ? i : (slot[i] as number);
      let result = outcome.results[u] as AppendedEntry;
      if (result.status === "existing") {
        // Read from storage, so checked like any read; and it must be this key's entry.
        let seen = existing.get(u);
        if (seen === undefined) {
          const entry = this.#checked(result.entry);
          const envelope = unique[u] as Envelope;
          if (
            entry.envelope.key !== envelope.key ||
            entry.envelope.checksum !== envelope.checksum
          ) {
            throw corruption(
              this.storageSite("entries"),
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

  async get(key: string): Promise<LedgerEntry | undefined> {
    this.assertOpen();
    checkKey(key);
    let found: LedgerEntry | StoredEntry | undefined;
    try {
      found = await this._getByKey(key);
    } catch (error) {
      throw storageError(error);
    }
    return found === undefined ? undefined : this.#answering(found, "key", key);
  }

  async getById(id: string): Promise<LedgerEntry | undefined> {
    this.assertOpen();
    checkId(id);
    let found: LedgerEntry | StoredEntry | undefined;
    try {
      found = await this._getById(id);
    } catch (error) {
      throw storageError(error);
    }
    return found === undefined ? undefined : this.#answering(found, "id", id);
  }

  /** A looked-up entry, checked, and the one asked for (an edited index column would answer with another). */
  #answering(found: LedgerEntry | StoredEntry, field: "key" | "id", value: string): LedgerEntry {
    const entry = this.#checked(found);
    if (entry.envelope[field] !== value) {
      throw corruption(
        this.storageSite("entries"),
        entry.position,
        `the entry found for ${field} ${JSON.stringify(value)} holds ${field} ${JSON.stringify(entry.envelope[field])}`,
      );
    }
    return entry;
  }

  scan(query?: ScanQuery): AsyncIterable<LedgerEntry> {
    this.assertOpen();
    const q: ResolvedScan = checkScanQuery(query);
    const self = this;
    // One async generator, not one per layer: a scan of a million entries pays for each
    // layer a million times.
    return {
      async *[Symbol.asyncIterator]() {
        self.assertOpen();
        let sync: Iterator<LedgerEntry | StoredEntry> | undefined;
        let async: AsyncIterator<LedgerEntry | StoredEntry> | undefined;
        let to: number;
        try {
          const head = await self.#head();
          to = Math.min(q.to ?? head, head);
          if (q.limit === 0 || to < q.from) return;
          const source = self._scan({
            from: q.from,
            to,
            producer: q.producer,
            stream: q.stream,
            limit: q.limit,
          });
          if (typeof (source as Iterable<LedgerEntry>)?.[Symbol.iterator] === "function") {
            sync = (source as Iterable<LedgerEntry | StoredEntry>)[Symbol.iterator]();
          } else
            async = (source as AsyncIterable<LedgerEntry | StoredEntry>)[Symbol.asyncIterator]();
        } catch (error) {
          throw storageError(error);
        }
        const order = new ScanOrder(q, to, self.storageSite("entries"));
        if (sync !== undefined) {
          const iterator = sync;
          let done = false;
          try {
            while (true) {
              self.assertOpen();
              let step: IteratorResult<LedgerEntry | StoredEntry>;
              try {
                step = iterator.next();
              } catch (error) {
                done = true;
                throw storageError(error);
              }
              if (step.done === true) {
                done = true;
                order.end();
                return;
              }
              yield order.next(self.#checked(step.value));
            }
          } finally {
            // The consumer stopped early: let the adapter release what it holds.
            if (!done) iterator.return?.();
          }
        }
        const iterator = async as AsyncIterator<LedgerEntry | StoredEntry>;
        let done = false;
        try {
          while (true) {
            self.assertOpen();
            let step: IteratorResult<LedgerEntry | StoredEntry>;
            try {
              step = await iterator.next();
            } catch (error) {
              done = true;
              throw storageError(error);
            }
            if (step.done === true) {
              done = true;
              order.end();
              return;
            }
            yield order.next(self.#checked(step.value));
          }
        } finally {
          if (!done) await iterator.return?.();
        }
      },
    };
  }

  /** The adapter's head, checked to be a count. */
  async #head(): Promise<number> {
    return checkedCount(await this._head(), this.storageSite("entries"), "the head");
  }

  async head(): Promise<number> {
    this.assertOpen();
    try {
      return await this.#head();
    } catch (error) {
      throw storageError(error);
    }
  }

  async reserveSequence(producer: string, count: number): Promise<SequenceReservation> {
    this.assertOpen();
    checkProducer(producer, "producer");
    checkInteger(count, "count", 1, MAX_RESERVATION);
    let first: number;
    try {
      first = checkedCount(
        await this._reserveSequence(producer, count),
        this.storageSite("sequences"),
        `the sequence of producer ${JSON.stringify(producer)}`,
      );
    } catch (error) {
      throw storageError(error);
    }
    return Object.freeze({ producer, first, count });
  }

  async putReceipt(receipt: Receipt): Promise<void> {
    this.assertOpen();
    const checked = checkReceipt(receipt);
    await this.#run(async () => {
      const found = await this._getByKey(checked.key);
      const entry = found === undefined ? undefined : this.#answering(found, "key", checked.key);
      if (
        entry === undefined ||
        entry.position !== checked.position ||
        entry.envelope.id !== checked.id
      ) {
        throw new LedgerError(
          "not_found",
          `No entry with key ${JSON.stringify(checked.key)}, id ${checked.id} at position ${checked.position}: a receipt must refer to an entry`,
          { key: checked.key, position: checked.position, sink: checked.sink },
        );
      }
      if (!(await this._putReceipt(checked))) {
        throw new LedgerError(
          "fenced",
          `The claim with fencing token ${checked.fencingToken} on ${JSON.stringify(checked.key)} at ${checked.sink} was taken over: a newer holder's receipt counts, not this ${checked.status} one`,
          { key: checked.key, position: checked.position, sink: checked.sink },
        );
      }
    });
  }

  async getReceipts(sink: string, key: string): Promise<readonly Receipt[]> {
    this.assertOpen();
    checkName(sink, "sink");
    checkKey(key);
    let receipts: readonly Receipt[];
    try {
      receipts = await this._getReceipts(sink, key);
    } catch (error) {
      throw storageError(error);
    }
    const site = this.storageSite("receipts");
    if (!Array.isArray(receipts)) {
      throw corruption(site, undefined, `the receipts of ${JSON.stringify(key)} are not a list`);
    }
    return Object.freeze(receipts.map((receipt) => checkedReceipt(receipt, site, sink, key)));
  }

  scanReceipts(sink: string, range?: PositionRange): AsyncIterable<Receipt> {
    this.assertOpen();
    checkName(sink, "sink");
    const { from, to } = checkRange(range);
    return this.#iterate(() => this.#scanReceipts(sink, from, to));
  }

  async *#scanReceipts(sink: string, from: number, to: number | undefined): AsyncIterable<Receipt> {
    const last = Math.min(to ?? Number.MAX_SAFE_INTEGER, await this.#head());
    if (last < from) return;
    const site = this.storageSite("receipts");
    let previous = from;
    for await (const found of this._scanReceipts(sink, from, last)) {
      const receipt = checkedReceipt(found, site, sink, undefined);
      if (receipt.position < previous || receipt.position > last) {
        throw corruption(
          site,
          receipt.position,
          `a scan of the receipts of sink ${JSON.stringify(sink)} over ${from}..${last} met one at position ${receipt.position} after ${previous}`,
        );
      }
      previous = receipt.position;
      yield receipt;
    }
  }

  async getWatermark(sink: string): Promise<number> {
    this.assertOpen();
    checkName(sink, "sink");
    return this.#run(async () => {
      const site = this.storageSite("watermarks");
      const watermark = checkedCount(
        await this._getWatermark(sink),
        site,
        `the watermark of ${JSON.stringify(sink)}`,
      );
      // The head is read after the watermark: every position below a watermark was appended
      // before it was set, so a watermark past a later head is damage (or a deleted tail).
      if (watermark > 0) {
        const head = await this.#head();
        if (watermark > head) {
          throw corruption(
            site,
            watermark,
            `the watermark of ${JSON.stringify(sink)} is ${watermark}, past the head ${head}: the watermark was altered or the last entries were deleted`,
          );
        }
      }
      return watermark;
    });
  }

  async advanceWatermark(sink: string, position: number): Promise<number> {
    this.assertOpen();
    checkName(sink, "sink");
    checkInteger(position, "position", 0, Number.MAX_SAFE_INTEGER);
    return this.#run(async () => {
      const head = await this._head();
      if (position > head) {
        throw new InvalidArgumentError(
          "invalid_argument",
          `position ${position} is past the head ${head}`,
          {
            path: "position",
            sink,
            position,
          },
        );
      }
      const site = this.storageSite("watermarks");
      const raised = checkedCount(
        await this._advanceWatermark(sink, position),
        site,
        `the watermark of ${JSON.stringify(sink)}`,
      );
      // Another process may have appended and advanced meanwhile: read the head again.
      if (raised < position || (raised > head && raised > (await this.#head()))) {
        throw corruption(
          site,
          raised,
          `the watermark of ${JSON.stringify(sink)} was raised to ${position} and reads ${raised} (head ${head})`,
        );
      }
      return raised;
    });
  }

  async claim(sink: string, key: string, claimOptions: ClaimOptions): Promise<ClaimResult> {
    this.assertOpen();
    checkName(sink, "sink");
    checkKey(key);
    const options = readOptions<ClaimOptions>(claimOptions, "options", CLAIM_KEYS, {
      required: true,
    });
    const owner = checkName(options.owner, "options.owner", MAX_OWNER);
    const ttlMs = checkInteger(options.ttlMs, "options.ttlMs", 1, MAX_TTL_MS);
    const replay = options.replay ?? false;
    if (typeof replay !== "boolean")
      invalidArgument("options.replay", `must be a boolean, got ${describe(replay)}`);
    const takeOverFrom =
      options.takeOverFrom === undefined
        ? undefined
        : checkName(options.takeOverFrom, "options.takeOverFrom", MAX_OWNER);
    const now = this.#now();
    const token = randomUUID();
    return this.#run(async () =>
      checkedClaimResult(
        await this._claim({
          sink,
          key,
          owner,
          token,
          now,
          expiresAt: now + ttlMs,
          ignoreDone: replay,
          takeOverFrom,
        }),
        { sink, key, owner, token },
        this.storageSite("claims"),
        this.storageSite("receipts"),
      ),
    );
  }

  async renewClaim(claim: Claim, ttlMs: number): Promise<Claim> {
    this.assertOpen();
    const checked = checkClaim(claim);
    checkInteger(ttlMs, "ttlMs", 1, MAX_TTL_MS);
    const expiresAt = this.#now() + ttlMs;
    let held: boolean;
    try {
      held = await this._renewClaim(checked, expiresAt);
    } catch (error) {
      throw storageError(error);
    }
    if (!held) {
      throw new LedgerError(
        "claim_lost",
        `The claim on ${JSON.stringify(checked.key)} at ${checked.sink} was taken over or released`,
        {
          key: checked.key,
          sink: checked.sink,
        },
      );
    }
    return Object.freeze({ ...checked, expiresAt });
  }

  async releaseClaim(claim: Claim): Promise<boolean> {
    this.assertOpen();
    const checked = checkClaim(claim);
    try {
      return await this._releaseClaim(checked);
    } catch (error) {
      throw storageError(error);
    }
  }

  async freezeSink(sink: string, input: FreezeInput): Promise<SinkFreeze> {
    this.assertOpen();
    checkName(sink, "sink");
    const { reason, actor, origin = "manual" } = checkFreezeInput(input, "input");
    const since = new Date(this.#now()).toISOString();
    const changed = await this.#run(() =>
      this._changeFreeze({ sink, origin, freeze: { sink, origin, reason, actor, since } }, (head) =>
        nextAuditRecord(
          { actor, action: "freeze", reason, subject: { sink }, details: { origin } },
          head,
          since,
        ),
      ),
    );
    if (changed.before !== undefined) return changed.before;
    const record = changed.record as AuditRecord;
    return Object.freeze({ sink, origin, reason, actor, since, audit: record.index });
  }

  async unfreezeSink(sink: string, input: UnfreezeInput): Promise<readonly SinkFreeze[]> {
    this.assertOpen();
    checkName(sink, "sink");
    const { reason, actor, origin } = checkFreezeInput(input, "input");
    const origins =
      origin !== undefined
        ? [origin]
        : (await this.#run(() => this._getFreezes(sink))).map((f) => f.origin);
    const lifted: SinkFreeze[] = [];
    for (const o of origins) {
      const time = new Date(this.#now()).toISOString();
      const changed = await this.#run(() =>
        this._changeFreeze({ sink, origin: o, freeze: undefined }, (head) =>
          nextAuditRecord(
            {
              actor,
              action: "unfreeze",
              reason,
              subject: { sink },
              details: { origin: o },
            },
            head,
            time,
          ),
        ),
      );
      if (changed.before !== undefined && changed.record !== undefined) lifted.push(changed.before);
    }
    return Object.freeze(lifted);
  }

  async getFreezes(sink: string): Promise<readonly SinkFreeze[]> {
    this.assertOpen();
    checkName(sink, "sink");
    return this.#run(() => this._getFreezes(sink));
  }

  async listFreezes(): Promise<readonly SinkFreeze[]> {
    this.assertOpen();
    return this.#run(() => this._getFreezes(undefined));
  }

  async appendAudit(input: AuditInput): Promise<AuditRecord> {
    this.assertOpen();
    const checked = checkAuditInput(input);
    const time = new Date(this.#now()).toISOString();
    // An outcome is checked against the open intents inside the adapter's atomic append
    // (`admit`); when another writer moved the log meanwhile, reload and check again.
    for (let attempt = 1; ; attempt++) {
      if (checked.phase === "outcome" && !this.#intents.known) {
        // An adapter may chain on records it has not stored yet (FileLedger's group
        // commit): let this ledger's own appends land first, so the scan reaches them.
        await Promise.allSettled(this.#auditAppends);
        await this.#intents.load(this.#iterate(() => this._scanAudit()));
      }
      const append = this.#run(() =>
        this._appendAudit((previous) =>
          this.#intents.admit(nextAuditRecord(checked, previous, time), previous),
        ),
      );
      this.#auditAppends.add(append);
      try {
        return await append;
      } catch (error) {
        this.#intents.forget();
        if (!(error instanceof StaleAuditState) || attempt >= AUDIT_RETRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, attempt * 5));
      } finally {
        this.#auditAppends.delete(append);
      }
    }
  }

  scanAudit(): AsyncIterable<AuditRecord> {
    this.assertOpen();
    return this.#iterate(() => this._scanAudit());
  }

  async verifyAudit(options?: {
    readonly head?: AuditHead | undefined;
  }): Promise<AuditVerification> {
    this.assertOpen();
    const given = readOptions<{ head?: AuditHead | undefined }>(options, "options", ["head"]).head;
    return verifyAuditChain(this.scanAudit(), checkAuditHead(given, "options.head"));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this._close();
    } catch (error) {
      if (isSinkproofError(error)) throw error;
      throw new LedgerError("storage_error", `Closing the ledger failed: ${String(error)}`, {
        cause: error,
      });
    }
  }
}

/** An adapter's failure as the library's error: sinkproof errors pass, others are wrapped. */
function storageError(error: unknown): unknown {
  if (isSinkproofError(error)) return error;
  return new LedgerError("storage_error", `Ledger storage failed: ${String(error)}`, {
    cause: error,
  });
}

const CLAIM_KEYS = optionKeys<ClaimOptions>()("owner", "ttlMs", "replay", "takeOverFrom");
const CLAIM_FIELDS = optionKeys<Claim>()(
  "sink",
  "key",
  "owner",
  "token",
  "fencingToken",
  "expiresAt",
);

function checkClaim(given: Claim): Claim {
  if (typeof given !== "object" || given === null)
    invalidArgument("claim", `must be a claim, got ${describe(given)}`);
  const claim = readOptions<Claim>(given, "claim", CLAIM_FIELDS, { what: "a claim field" });
  const sink = checkName(claim.sink, "claim.sink");
  const key = checkKey(claim.key, "claim.key");
  const owner = checkName(claim.owner, "claim.owner", MAX_OWNER);
  if (typeof claim.token !== "string" || claim.token.length === 0 || claim.token.length > 64) {
    invalidArgument("claim.token", "must be the token `claim` returned");
  }
  if (typeof claim.expiresAt !== "number" || !Number.isFinite(claim.expiresAt)) {
    invalidArgument("claim.expiresAt", `must be a number of ms, got ${describe(claim.expiresAt)}`);
  }
  if (!isFencingToken(claim.fencingToken)) {
    invalidArgument("claim.fencingToken", "must be the fencing token `claim` returned");
  }
  return {
    sink,
    key,
    owner,
    token: claim.token,
    fencingToken: claim.fencingToken,
    expiresAt: claim.expiresAt,
  };
}
