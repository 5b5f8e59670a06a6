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
 * Each public method here is a short sequence: check the arguments (validate.ts,
 * base-checks.ts), call the adapter, verify what it returns (read-checks.ts,
 * base-reads.ts), word a failure (base-errors.ts). An append's batch rules are in
 * append.ts, the audit appends in base-audit.ts. What an adapter needs besides the class
 * (the contract's types, base-types.ts; the options every ledger takes and their check;
 * `planAppend`) is re-exported from here, so that an adapter imports this module only.
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import { type Limits, resolveLimits } from "../canonical/canonicalize.js";
import { ENVELOPE_LIMITS, type Envelope } from "../envelope/schema.js";
import { LedgerError } from "../errors.js";
import { eachUnderPath, invalidArgument } from "../internal/arguments.js";
import { checkInteger } from "../internal/checks.js";
import { distinctOf } from "../internal/distinct.js";
import { readArray, readOptions } from "../internal/options.js";
import { appendResults, checkBatch, clashError, EMPTY_RESULT } from "./append.js";
import { checkAuditHead, verifyAuditChain } from "./audit.js";
import { AuditWriter, compactRecord, freezeRecord } from "./base-audit.js";
import {
  checkClaim,
  checkClaimOptions,
  checkedNow,
  checkLedgerOptions,
  type LedgerOptions,
} from "./base-checks.js";
import {
  claimLost,
  closeError,
  guardedIterable,
  noCheckpoints,
  noWindowHistory,
  pastHead,
  receiptFenced,
  receiptWithoutEntry,
  storageError,
} from "./base-errors.js";
import {
  checkedRaise,
  checkedReceiptScan,
  checkedReceipts,
  checkedScan,
  checkedWatermark,
} from "./base-reads.js";
import type {
  AppendOutcome,
  ClaimRequest,
  EntryScan,
  FreezeChange,
  FreezeChanged,
  ReceiptsCompacted,
} from "./base-types.js";
import { adoptCheckpoint, checkCheckpoint } from "./checkpoints.js";
import {
  adoptBuckets,
  adoptPositions,
  checkRange as checkHashRangeArgument,
  checkScope,
  checkSplit,
  noDigests,
} from "./digests.js";
import { KnownEntries, type KnownEntry } from "./known-entries.js";
import {
  checkedClaimResult,
  checkedCount,
  checkedEntry,
  corruption,
  entryFromStored,
  markIntact,
  type StoragePart,
  type StorageSite,
  type StoredEntry,
} from "./read-checks.js";
import type {
  AppendResult,
  AuditHead,
  AuditInput,
  AuditRecord,
  AuditVerification,
  BucketDigest,
  Claim,
  ClaimOptions,
  ClaimResult,
  CompactReceiptsInput,
  DigestScope,
  DigestSplit,
  FreezeInput,
  HashRange,
  Ledger,
  LedgerCapabilities,
  LedgerEntry,
  PositionRange,
  PutCheckpointOptions,
  PutReceiptStatus,
  Receipt,
  ReceiptCompaction,
  ReconcileCheckpoint,
  ScanQuery,
  SequenceReservation,
  SinkFreeze,
  UnfreezeInput,
  WindowHistoryQuery,
  WindowSample,
} from "./types.js";
import { WINDOW_HISTORY_LIMIT } from "./types.js";
import {
  checkAuditInput,
  checkCompactInput,
  checkFreezeInput,
  checkId,
  checkKey,
  checkName,
  checkProducer,
  checkRange,
  checkReceipt,
  checkScanQuery,
  MAX_BATCH,
  MAX_RESERVATION,
  MAX_TTL_MS,
  type ResolvedScan,
} from "./validate.js";
import { adoptWindows, checkHistoryQuery, checkWindowSamples } from "./windows.js";

export { type AppendPlan, planAppend } from "./append.js";
export { checkLedgerOptions, LEDGER_OPTION_KEYS, type LedgerOptions } from "./base-checks.js";
export type * from "./base-types.js";

/**
 * The core of every ledger. Extend it and implement the protected `_` methods; the
 * public methods check arguments, verify envelopes, enforce the ledger's rules and wrap
 * adapter failures, so the adapter only stores and fetches.
 *
 * @example
 * ```ts
 * import { BaseLedger } from "sinkproof/ledger";
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
  readonly #audit = new AuditWriter();
  /** Position and id of the entries appended or read lately: receipts' entry checks. */
  readonly #known = new KnownEntries();
  /** The last `putCheckpoint` of this ledger object: puts run one at a time. */
  #checkpointTurn: Promise<unknown> = Promise.resolve();

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
   * and (sink, key) has no claim held now with exactly that token (none, a released one,
   * or one with another token), store nothing and return false; else store it (already
   * checked, its entry exists) and return true.
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
  /** Atomically: if the stored claim of (sink, key) has this token and is not released, release it (mark it released, or forget it: nothing of it is needed to fence a late receipt); return whether it had. */
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

  // ---- batch operations: defaults an adapter may override --------------------------------

  /**
   * The entries of `keys` (distinct), one answer per key in the same order: the entry (a
   * `LedgerEntry` or a {@link StoredEntry}) or undefined. The default asks `_getByKey` for
   * each, one after the other; an adapter with a round trip per call overrides it with one
   * query.
   */
  protected async _getManyByKey(
    keys: readonly string[],
  ): Promise<readonly (LedgerEntry | StoredEntry | undefined)[]> {
    const found: (LedgerEntry | StoredEntry | undefined)[] = [];
    for (const key of keys) found.push(await this._getByKey(key));
    return found;
  }
  /**
   * The receipts of many keys (distinct) of one sink, one list per key in the same order,
   * each in the order put. The default asks `_getReceipts` for each, one after the other;
   * an adapter with a round trip per call overrides it with one query.
   */
  protected async _getReceiptsMany(
    sink: string,
    keys: readonly string[],
  ): Promise<readonly (readonly Receipt[])[]> {
    const found: (readonly Receipt[])[] = [];
    for (const key of keys) found.push(await this._getReceipts(sink, key));
    return found;
  }

  /**
   * `_claim` for many keys of one sink (distinct), one answer per request in order; each
   * request is decided atomically on its own, as `_claim` decides it. The default calls
   * `_claim` for each, one after the other; an adapter overrides it to decide them in one
   * transaction.
   */
  protected async _claimMany(requests: readonly ClaimRequest[]): Promise<readonly ClaimResult[]> {
    const results: ClaimResult[] = [];
    try {
      for (const request of requests) results.push(await this._claim(request));
    } catch (error) {
      // All or nothing for the caller: the claims taken before the failure are given up.
      await this.#giveUp(results);
      throw error;
    }
    return results;
  }
  /**
   * `_releaseClaim` for many claims, one answer per claim in order. The default calls
   * `_releaseClaim` for each, one after the other.
   */
  protected async _releaseClaims(claims: readonly Claim[]): Promise<readonly boolean[]> {
    const released: boolean[] = [];
    for (const claim of claims) released.push(await this._releaseClaim(claim));
    return released;
  }
  /**
   * `_putReceipt` for many receipts (already checked, their entries exist), in order, one
   * answer per receipt: true when stored, false when fenced off. Receipts of one (sink,
   * key) must be stored in the order given. The default calls `_putReceipt` for each, one
   * after the other (a storage failure midway leaves the receipts before it stored: each
   * is a fact on its own); an adapter overrides it to store them in one transaction.
   */
  protected async _putReceipts(receipts: readonly Receipt[]): Promise<readonly boolean[]> {
    const stored: boolean[] = [];
    for (const receipt of receipts) stored.push(await this._putReceipt(receipt));
    return stored;
  }

  /**
   * Atomically: of each key of `sink` at positions 1 to `through` (never past the sink's
   * watermark) that has a final receipt, remove every receipt but the last final one, and
   * append the audit record `make` returns for the last record's head; return how many
   * receipts were removed. The default refuses with `unsupported`: override it where the
   * storage can remove receipts (the four ledgers of sinkproof do).
   */
  protected async _compactReceipts(
    sink: string,
    _through: number,
    _make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<ReceiptsCompacted> {
    throw new LedgerError(
      "unsupported",
      `${this.constructor.name} does not compact receipts (its adapter does not implement _compactReceipts): the receipts of ${JSON.stringify(sink)} are kept`,
    );
  }

  /**
   * The reconciliation checkpoint of `sink` as stored (checked on the way out), or
   * undefined. The default refuses with `unsupported`: override it, and `_putCheckpoint`,
   * where the storage can keep one small record per sink (the four ledgers of sinkproof do).
   */
  protected async _getCheckpoint(sink: string): Promise<ReconcileCheckpoint | undefined> {
    throw noCheckpoints(this.constructor.name, sink);
  }

  /** Replaces the checkpoint of `checkpoint.sink`, durably (checked already). */
  protected async _putCheckpoint(checkpoint: ReconcileCheckpoint): Promise<void> {
    throw noCheckpoints(this.constructor.name, checkpoint.sink);
  }

  /**
   * Compare-and-set: replaces the checkpoint of `checkpoint.sink` only if the one stored is
   * `expected` (null: none), as one atomic step; false when it is not (nothing stored).
   * Both are checked already. The default reads with `_getCheckpoint`, compares their
   * JSON and puts with `_putCheckpoint`; `BaseLedger` runs one put at a time per ledger
   * object, so it is atomic in one process. A storage shared by several processes
   * overrides it with one atomic statement (the SQL ledgers do).
   */
  protected async _replaceCheckpoint(
    checkpoint: ReconcileCheckpoint,
    expected: ReconcileCheckpoint | null,
  ): Promise<boolean> {
    const stored = adoptCheckpoint(
      await this._getCheckpoint(checkpoint.sink),
      checkpoint.sink,
      this.storageSite("checkpoints"),
    );
    if (JSON.stringify(stored ?? null) !== JSON.stringify(expected)) return false;
    await this._putCheckpoint(checkpoint);
    return true;
  }

  /**
   * Appends samples (checked already, at least one) to their sinks' window histories,
   * durably, keeping each sink's most recent `keep`. The default refuses with
   * `unsupported`: override it, and `_windowHistory`, where the storage can keep a short
   * list per sink (the four ledgers of sinkproof do).
   */
  protected async _recordWindows(samples: readonly WindowSample[], _keep: number): Promise<void> {
    throw noWindowHistory(this.constructor.name, (samples[0] as WindowSample).sink);
  }

  /** The most recent `limit` samples of `sink` as stored, oldest first (checked on the way out). */
  protected async _windowHistory(sink: string, _limit: number): Promise<readonly unknown[]> {
    throw noWindowHistory(this.constructor.name, sink);
  }

  /**
   * Bucket digests of the entries at positions 1 to `scope.through` over `split` (checked
   * already): one row per entry, its `rowHash(key, checksum)`; non-empty buckets only, in
   * bucket order. The default refuses with `unsupported` (reconcile then hashes its own
   * scan): override it, and `_digestPositions`, where the storage can keep each entry's
   * row hash (the four ledgers of sinkproof do).
   */
  protected async _digestBuckets(
    _split: DigestSplit,
    _scope: DigestScope,
  ): Promise<readonly BucketDigest[]> {
    throw noDigests(this.constructor.name);
  }

  /** Positions from 1 to `scope.through` whose row hash is in `range`, ascending. */
  protected async _digestPositions(
    _range: HashRange,
    _scope: DigestScope,
  ): Promise<readonly number[]> {
    throw noDigests(this.constructor.name);
  }

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
    return guardedIterable(source, () => this.assertOpen());
  }

  #now(): number {
    return checkedNow(this.clock());
  }

  // ---- the public API ------------------------------------------------------------------

  async append(envelopes: readonly Envelope[]): Promise<AppendResult> {
    this.assertOpen();
    // Read once: a Proxy's length or elements cannot change under the checks.
    envelopes = readArray(envelopes, "envelopes", MAX_BATCH) as Envelope[];
    if (envelopes.length === 0) return EMPTY_RESULT;
    // An adapter that proves its reads (FileLedger, MemoryLedger) needs no mark to trust.
    const batch = checkBatch(
      envelopes,
      this.limits,
      this.keepsCanonicalPayloads,
      !this.readsVerified,
    );
    const appendedAt = new Date(this.#now()).toISOString();
    let outcome: AppendOutcome;
    try {
      outcome = await this._append(batch.unique, appendedAt, batch.uniqueCanonical);
    } catch (error) {
      throw storageError(error);
    }
    if (!outcome.ok) {
      // The entry in the way was read from storage: checked before it is shown.
      throw clashError(batch, outcome.clash, outcome.index, this.#checked(outcome.existing));
    }
    const result = appendResults(
      batch,
      outcome.results,
      (entry) => this.#checked(entry),
      () => this.storageSite("entries"),
    );
    for (const { entry } of result.results) this.#known.note(entry);
    return result;
  }

  async get(key: string): Promise<LedgerEntry | undefined> {
    this.assertOpen();
    checkKey(key);
    return this.#lookUp("key", key, this._getByKey);
  }

  async getById(id: string): Promise<LedgerEntry | undefined> {
    this.assertOpen();
    checkId(id);
    return this.#lookUp("id", id, this._getById);
  }

  /** The adapter's answer to a look-up by key or id, its failure mapped, then checked. */
  async #lookUp(
    field: "key" | "id",
    value: string,
    find: (value: string) => Promise<LedgerEntry | StoredEntry | undefined>,
  ): Promise<LedgerEntry | undefined> {
    let found: LedgerEntry | StoredEntry | undefined;
    try {
      found = await find.call(this, value);
    } catch (error) {
      throw storageError(error);
    }
    return found === undefined ? undefined : this.#answering(found, field, value);
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
    this.#known.note(entry);
    return entry;
  }

  /**
   * The position and id of each key's entry (undefined when there is none), for the entry
   * check of receipts: from the memo of entries appended or read lately, the rest read in
   * one `_getManyByKey`.
   */
  async #entriesOf(keys: readonly string[]): Promise<(KnownEntry | undefined)[]> {
    const out: (KnownEntry | undefined)[] = new Array(keys.length);
    const unknown: string[] = [];
    const unknownAt: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const known = this.#known.get(key);
      if (known !== undefined) out[i] = known;
      else {
        unknown.push(key);
        unknownAt.push(i);
      }
    }
    if (unknown.length === 0) return out;
    const found =
      unknown.length === 1
        ? [await this._getByKey(unknown[0] as string)]
        : await this._getManyByKey(unknown);
    answers(found, unknown.length, this.storageSite("entries"), "the entries of many keys");
    for (let j = 0; j < unknown.length; j++) {
      const entry = found[j];
      if (entry === undefined) continue;
      const checked = this.#answering(entry, "key", unknown[j] as string);
      out[unknownAt[j] as number] = { position: checked.position, id: checked.envelope.id };
    }
    return out;
  }

  scan(query?: ScanQuery): AsyncIterable<LedgerEntry> {
    this.assertOpen();
    const q: ResolvedScan = checkScanQuery(query);
    return checkedScan(
      {
        assertOpen: () => this.assertOpen(),
        head: () => this.#head(),
        scan: (scan) => this._scan(scan),
        site: () => this.storageSite("entries"),
        checked: (entry) => this.#checked(entry),
      },
      q,
    );
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
      const [entry] = await this.#entriesOf([checked.key]);
      if (entry === undefined || entry.position !== checked.position || entry.id !== checked.id) {
        throw receiptWithoutEntry(checked);
      }
      if (!(await this._putReceipt(checked))) throw receiptFenced(checked);
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
    return checkedReceipts(receipts, this.storageSite("receipts"), sink, key);
  }

  scanReceipts(sink: string, range?: PositionRange): AsyncIterable<Receipt> {
    this.assertOpen();
    checkName(sink, "sink");
    const { from, to } = checkRange(range);
    return this.#iterate(() =>
      checkedReceiptScan(
        {
          head: () => this.#head(),
          scanReceipts: (s, f, t) => this._scanReceipts(s, f, t),
          site: () => this.storageSite("receipts"),
        },
        sink,
        from,
        to,
      ),
    );
  }

  async getWatermark(sink: string): Promise<number> {
    this.assertOpen();
    checkName(sink, "sink");
    return this.#run(async () => {
      const site = this.storageSite("watermarks");
      return checkedWatermark(await this._getWatermark(sink), site, sink, () => this.#head());
    });
  }

  async advanceWatermark(sink: string, position: number): Promise<number> {
    this.assertOpen();
    checkName(sink, "sink");
    checkInteger(position, "position", 0, Number.MAX_SAFE_INTEGER);
    return this.#run(async () => {
      const head = await this._head();
      if (position > head) throw pastHead(sink, position, head);
      const site = this.storageSite("watermarks");
      const raised = await this._advanceWatermark(sink, position);
      return checkedRaise(raised, site, sink, position, head, () => this.#head());
    });
  }

  async compactReceipts(sink: string, input: CompactReceiptsInput): Promise<ReceiptCompaction> {
    this.assertOpen();
    checkName(sink, "sink");
    const { actor, reason, through } = checkCompactInput(input, "input");
    // A watermark never moves back: checked against it once, `through` stays under it.
    const watermark = await this.getWatermark(sink);
    const upTo = through ?? watermark;
    if (upTo > watermark) {
      invalidArgument(
        "input.through",
        `is ${upTo}, past the watermark of ${JSON.stringify(sink)} (${watermark}): receipts above it are work in flight and are not compacted`,
      );
    }
    const time = new Date(this.#now()).toISOString();
    const done = await this.#run(() =>
      this._compactReceipts(sink, upTo, compactRecord(sink, upTo, reason, actor, time)),
    );
    const removed = done?.removed;
    if (!Number.isSafeInteger(removed) || (removed as number) < 0 || done.record === undefined) {
      throw corruption(
        this.storageSite("receipts"),
        undefined,
        `the compaction of the receipts of ${JSON.stringify(sink)} answered ${String(removed)} receipts removed`,
      );
    }
    return Object.freeze({ sink, through: upTo, removed, audit: done.record.index });
  }

  async claim(sink: string, key: string, claimOptions: ClaimOptions): Promise<ClaimResult> {
    this.assertOpen();
    checkName(sink, "sink");
    checkKey(key);
    const { owner, ttlMs, replay, takeOverFrom } = checkClaimOptions(claimOptions);
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
    if (!held) throw claimLost(checked);
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
      this._changeFreeze(
        { sink, origin, freeze: { sink, origin, reason, actor, since } },
        freezeRecord("freeze", sink, origin, reason, actor, since),
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
        this._changeFreeze(
          { sink, origin: o, freeze: undefined },
          freezeRecord("unfreeze", sink, o, reason, actor, time),
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

  async getCheckpoint(sink: string): Promise<ReconcileCheckpoint | undefined> {
    this.assertOpen();
    checkName(sink, "sink");
    const stored = await this.#run(() => this._getCheckpoint(sink));
    return adoptCheckpoint(stored, sink, this.storageSite("checkpoints"));
  }

  async putCheckpoint(
    checkpoint: ReconcileCheckpoint,
    options?: PutCheckpointOptions,
  ): Promise<boolean> {
    this.assertOpen();
    const checked = checkCheckpoint(checkpoint, "checkpoint");
    const given = readOptions<PutCheckpointOptions>(options, "options", ["expected"]).expected;
    const expected =
      given === undefined || given === null ? given : checkCheckpoint(given, "options.expected");
    if (expected != null && expected.sink !== checked.sink)
      invalidArgument(
        "options.expected.sink",
        `must be the sink of the checkpoint (${JSON.stringify(checked.sink)}), got ${JSON.stringify(expected.sink)}`,
      );
    const head = await this.head();
    if (checked.through > head) {
      invalidArgument(
        "checkpoint.through",
        `is ${checked.through}, past the head of the ledger (${head})`,
      );
    }
    // One put at a time in this process: a compare-and-set of the default below is then
    // atomic here (and the SQL ledgers make theirs atomic across processes).
    const turn = this.#checkpointTurn.then(() =>
      this.#run(async () => {
        if (expected === undefined) {
          await this._putCheckpoint(checked);
          return true;
        }
        return this._replaceCheckpoint(checked, expected);
      }),
    );
    this.#checkpointTurn = turn.catch(() => undefined);
    return turn;
  }

  async recordWindows(samples: readonly WindowSample[]): Promise<void> {
    this.assertOpen();
    const checked = checkWindowSamples(samples, "samples");
    if (checked.length === 0) return;
    await this.#run(() => this._recordWindows(checked, WINDOW_HISTORY_LIMIT));
  }

  async windowHistory(sink: string, query?: WindowHistoryQuery): Promise<readonly WindowSample[]> {
    this.assertOpen();
    checkName(sink, "sink");
    const limit = checkHistoryQuery(query, "query");
    const stored = await this.#run(() => this._windowHistory(sink, limit));
    return adoptWindows(stored, sink, limit, this.storageSite("windows"));
  }

  async digestBuckets(split: DigestSplit, scope: DigestScope): Promise<readonly BucketDigest[]> {
    this.assertOpen();
    const checked = checkSplit(split, "split");
    const within = checkScope(scope, "scope", await this.head());
    const answer = await this.#run(() => this._digestBuckets(checked, within));
    return adoptBuckets(answer, checked, within, this.storageSite("entries"));
  }

  async digestPositions(range: HashRange, scope: DigestScope): Promise<readonly number[]> {
    this.assertOpen();
    const checked = checkHashRangeArgument(range, "range");
    const within = checkScope(scope, "scope", await this.head());
    const answer = await this.#run(() => this._digestPositions(checked, within));
    return adoptPositions(answer, within, this.storageSite("entries"));
  }

  async appendAudit(input: AuditInput): Promise<AuditRecord> {
    this.assertOpen();
    const checked = checkAuditInput(input);
    const time = new Date(this.#now()).toISOString();
    return this.#audit.append(checked, time, {
      append: (make) => this.#run(() => this._appendAudit(make)),
      scan: () => this.#iterate(() => this._scanAudit()),
    });
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

  /** Releases, best effort, the claims acquired in `results` (a batch that failed). */
  async #giveUp(results: readonly unknown[]): Promise<void> {
    for (const result of results) {
      const r = result as { status?: unknown; claim?: Claim } | null;
      if (r?.status !== "acquired" || typeof r.claim !== "object" || r.claim === null) continue;
      await this._releaseClaim(r.claim).catch(() => undefined);
    }
  }

  // ---- batch operations ---------------------------------------------------------------

  async getMany(keys: readonly string[]): Promise<readonly (LedgerEntry | undefined)[]> {
    this.assertOpen();
    const list = distinctKeys(keys, "keys");
    if (list.length === 0) return EMPTY;
    const found = await this.#run(() => this._getManyByKey(list));
    const site = this.storageSite("entries");
    answers(found, list.length, site, "the entries of many keys");
    return Object.freeze(
      list.map((key, i) => {
        const entry = found[i];
        return entry === undefined ? undefined : this.#answering(entry, "key", key);
      }),
    );
  }

  async getReceiptsMany(
    sink: string,
    keys: readonly string[],
  ): Promise<readonly (readonly Receipt[])[]> {
    this.assertOpen();
    checkName(sink, "sink");
    const list = distinctKeys(keys, "keys");
    if (list.length === 0) return EMPTY;
    const found = await this.#run(() => this._getReceiptsMany(sink, list));
    const site = this.storageSite("receipts");
    answers(found, list.length, site, `the receipts of many keys of ${JSON.stringify(sink)}`);
    return Object.freeze(
      list.map((key, i) => checkedReceipts(found[i] as readonly Receipt[], site, sink, key)),
    );
  }

  async claimMany(
    sink: string,
    keys: readonly string[],
    claimOptions: ClaimOptions,
  ): Promise<readonly ClaimResult[]> {
    this.assertOpen();
    checkName(sink, "sink");
    const list = distinctKeys(keys, "keys");
    const { owner, ttlMs, replay, takeOverFrom } = checkClaimOptions(claimOptions);
    if (list.length === 0) return EMPTY;
    const now = this.#now();
    const requests: ClaimRequest[] = list.map((key) => ({
      sink,
      key,
      owner,
      token: randomUUID(),
      now,
      expiresAt: now + ttlMs,
      ignoreDone: replay,
      takeOverFrom,
    }));
    return this.#run(async () => {
      const results = await this._claimMany(requests);
      const claims = this.storageSite("claims");
      const receipts = this.storageSite("receipts");
      try {
        answers(results, requests.length, claims, `the claims of ${JSON.stringify(sink)}`);
        return Object.freeze(
          requests.map((request, i) => checkedClaimResult(results[i], request, claims, receipts)),
        );
      } catch (error) {
        // An answer that does not check out: no claim of the batch is left held.
        await this.#giveUp(Array.isArray(results) ? results : []);
        throw error;
      }
    });
  }

  async releaseClaims(claims: readonly Claim[]): Promise<readonly boolean[]> {
    this.assertOpen();
    const list = eachUnderPath(readArray(claims, "claims", MAX_BATCH), "claim", "claims", (claim) =>
      checkClaim(claim as Claim),
    );
    if (list.length === 0) return EMPTY;
    const repeat = repeatedClaim(list);
    if (repeat !== -1) invalidArgument(`claims[${repeat}]`, "repeats a claim of the batch");
    const released = await this.#run(() => this._releaseClaims(list));
    answers(released, list.length, this.storageSite("claims"), "the release of many claims");
    return Object.freeze(released.map((r) => r === true));
  }

  async putReceipts(receipts: readonly Receipt[]): Promise<readonly PutReceiptStatus[]> {
    this.assertOpen();
    const list = eachUnderPath(
      readArray(receipts, "receipts", MAX_BATCH),
      "receipt",
      "receipts",
      checkReceipt,
    );
    if (list.length === 0) return EMPTY;
    return this.#run(async () => {
      // Every receipt's entry, looked up once per key, before anything is stored. Receipts
      // of distinct keys (a guard's batch) are matched to their entries by index.
      const { keys, indexOf } = distinctOf(list.map((r) => r.key));
      const entries = await this.#entriesOf(keys);
      for (let i = 0; i < list.length; i++) {
        const receipt = list[i] as Receipt;
        const entry = entries[indexOf === undefined ? i : (indexOf.get(receipt.key) as number)];
        if (entry === undefined || entry.position !== receipt.position || entry.id !== receipt.id) {
          throw receiptWithoutEntry(receipt);
        }
      }
      const stored = await this._putReceipts(list);
      answers(stored, list.length, this.storageSite("receipts"), "the receipts put");
      return Object.freeze(stored.map((s): PutReceiptStatus => (s ? "stored" : "fenced")));
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this._close();
    } catch (error) {
      throw closeError(error);
    }
  }
}

const EMPTY: readonly never[] = Object.freeze([]);

/**
 * The index of the first claim that repeats an earlier one of `list` (same sink, key and
 * token), or -1. A batch of distinct keys (the usual one: a guard's) is told by its keys
 * alone, an envelope's own strings whose hashes are kept; else claims are looked up by
 * token, the sink and key compared only when two tokens are equal.
 */
function repeatedClaim(list: readonly Claim[]): number {
  const keys = new Set<string>();
  for (const claim of list) keys.add(claim.key);
  if (keys.size === list.length) return -1;
  const byToken = new Map<string, Claim | Claim[]>();
  for (let i = 0; i < list.length; i++) {
    const claim = list[i] as Claim;
    const before = byToken.get(claim.token);
    if (before === undefined) {
      byToken.set(claim.token, claim);
      continue;
    }
    const same = Array.isArray(before) ? before : [before];
    if (same.some((c) => c.sink === claim.sink && c.key === claim.key)) return i;
    same.push(claim);
    byToken.set(claim.token, same);
  }
  return -1;
}

/** Distinct keys, each checked at its index; a repeated key is an `InvalidArgumentError`. */
function distinctKeys(keys: readonly string[], where: string): string[] {
  const list = readArray(keys, where, MAX_BATCH) as string[];
  const seen = new Set<string>();
  list.forEach((key, i) => {
    checkKey(key, `${where}[${i}]`);
    if (seen.has(key)) invalidArgument(`${where}[${i}]`, `repeats the key ${JSON.stringify(key)}`);
    seen.add(key);
  });
  return list;
}

/** An adapter's batch answer: an array with one answer per item asked, or damage. */
function answers(value: unknown, count: number, site: StorageSite, what: string): void {
  if (!Array.isArray(value) || value.length !== count) {
    throw corruption(
      site,
      undefined,
      `${what} answered ${Array.isArray(value) ? `${value.length} items for ${count}` : "something that is not an array"}`,
    );
  }
}
