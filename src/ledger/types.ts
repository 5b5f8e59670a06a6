/**
 * The ledger's public types: what a ledger stores and what it answers.
 *
 * The ledger is the source of truth of what was emitted (entries, in position order) and
 * the memory of every delivery (receipts, watermarks, claims), plus a hash-chained audit
 * log. Every adapter (memory, file, SQLite, PostgreSQL, yours) implements {@link Ledger}
 * through `BaseLedger`, and proves it with the conformance suite in `sinkproof/testing`.
 *
 * @module
 */

import type { Checksum } from "../checksum/checksum.js";
import type { Envelope, JsonValue } from "../envelope/schema.js";
import type { ValidationIssue } from "../errors.js";

/** One envelope in the ledger, at its position. */
export interface LedgerEntry {
  /** The ledger's own index of the entry: 1, 2, 3, … with no gaps. */
  readonly position: number;
  /** When the ledger accepted it: ISO-8601 UTC with milliseconds. */
  readonly appendedAt: string;
  /** The envelope, frozen, exactly as appended. */
  readonly envelope: Envelope;
}

/** What `append` did with one envelope. */
export interface AppendedEntry {
  /** The entry, new or already there. */
  readonly entry: LedgerEntry;
  /** `appended`: new position; `existing`: the key was already there with the same checksum. */
  readonly status: "appended" | "existing";
}

/** Result of `append`: one item per envelope given, in the same order. */
export interface AppendResult {
  /** One result per envelope given, in the same order. */
  readonly results: readonly AppendedEntry[];
  /** How many envelopes got a new position. */
  readonly appended: number;
  /** How many were already in the ledger (same key and checksum). */
  readonly existing: number;
}

/** Which entries `scan` yields: a {@link PositionRange} (both ends inclusive), narrowed. */
export interface ScanQuery extends PositionRange {
  /** Only entries of this producer. */
  readonly producer?: string | undefined;
  /** Only entries of this stream. */
  readonly stream?: string | undefined;
  /** At most this many entries. */
  readonly limit?: number | undefined;
}

/** A position range; both ends inclusive. */
export interface PositionRange {
  /**
   * First position.
   * @default 1
   */
  readonly from?: number | undefined;
  /**
   * Last position.
   * @default the head when the scan starts
   */
  readonly to?: number | undefined;
}

/** Sequence numbers reserved for a producer: `first` to `first + count - 1`. */
export interface SequenceReservation {
  /** The producer. */
  readonly producer: string;
  /** The first number reserved. */
  readonly first: number;
  /** How many numbers were reserved. */
  readonly count: number;
}

/**
 * What happened to one envelope at one sink on one attempt:
 * - `written`: the sink writer applied it;
 * - `duplicate`: already done with the same checksum, the writer was not called;
 * - `replayed`: written again by a repair;
 * - `conflict`: the key was done at this sink with another checksum;
 * - `rejected`: the sink's validator refused it (no write, no retry);
 * - `failed`: every attempt failed; it may be delivered again later;
 * - `superseded`: the write ended after its claim had been taken over by a newer holder
 *   (a higher fencing token): the newer holder's receipt is the one that counts. Not
 *   final, like `failed`.
 */
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

/**
 * Every receipt status, in one place: the type, the checks of stored receipts and the
 * renderers come from this list. `failed` and `superseded` are not final (see
 * {@link FINAL_RECEIPT_STATUSES}).
 */
export const RECEIPT_STATUSES = [
  "written",
  "duplicate",
  "replayed",
  "conflict",
  "rejected",
  "failed",
  "superseded",
] as const;

/** The statuses that end a key's delivery at a sink (the watermark moves past them). */
export const FINAL_RECEIPT_STATUSES: readonly ReceiptStatus[] = Object.freeze([
  "written",
  "duplicate",
  "replayed",
  "conflict",
  "rejected",
]);

/** Why a delivery failed, was rejected or conflicted. */
export interface ReceiptError {
  /** Machine-readable reason. */
  readonly code: string;
  /** Human-readable description. */
  readonly message: string;
}

/** One receipt: the memory of one delivery attempt of one envelope at one sink. */
export interface Receipt {
  /** Sink name. */
  readonly sink: string;
  /** Idempotency key of the envelope. */
  readonly key: string;
  /** Envelope id. */
  readonly id: string;
  /** Ledger position of the envelope. */
  readonly position: number;
  /** Outcome. */
  readonly status: ReceiptStatus;
  /** Checksum of the payload that was (or would have been) written. */
  readonly checksum: Checksum;
  /** Attempt number, from 1. */
  readonly attempt: number;
  /** When the attempt started: ISO-8601 UTC. */
  readonly startedAt: string;
  /** When it ended: ISO-8601 UTC. */
  readonly finishedAt: string;
  /** Where the sink put it (a row id, an offset, a document version), as the writer said. */
  readonly sinkOffset?: string | undefined;
  /** Why it failed, was rejected or conflicted. */
  readonly error?: ReceiptError | undefined;
  /** For `rejected`: every problem the sink's validator found. */
  readonly issues?: readonly ValidationIssue[] | undefined;
  /**
   * The fencing token of the claim the attempt ran under. A final receipt that carries one
   * is stored only under the claim of (sink, key) held now with that token (neither taken
   * over nor released): `putReceipt` refuses it with `fenced` otherwise.
   */
  readonly fencingToken?: number | undefined;
  /** HMAC-SHA256 over the canonical form of every other field, when the guard signs receipts. */
  readonly signature?: ReceiptSignature | undefined;
}

/** A receipt's signature: which key, and the HMAC-SHA256 (hex) of the unsigned receipt's canonical form. */
export interface ReceiptSignature {
  /** Names the secret, so that keys can be rotated. */
  readonly keyId: string;
  /** Always `HMAC-SHA256`. */
  readonly algorithm: "HMAC-SHA256";
  /** 64 lowercase hex digits. */
  readonly value: string;
}

/**
 * What `putReceipts` did with one receipt: `stored`, or `fenced` (a final receipt whose
 * fencing token is not that of the claim of its (sink, key) held now: not stored, as
 * `putReceipt` refuses it with `fenced`).
 */
export type PutReceiptStatus = "stored" | "fenced";

/** A live lease on one (sink, key): only its holder writes. */
export interface Claim {
  /** Sink name. */
  readonly sink: string;
  /** Idempotency key. */
  readonly key: string;
  /** Who holds it (a process, a worker, a guard instance). */
  readonly owner: string;
  /** Unique per acquisition: renew and release need it. */
  readonly token: string;
  /**
   * A positive integer that strictly increases for a (sink, key) with every acquisition,
   * across takeovers, releases and restarts of the ledger (the fencing tokens of Chubby's
   * sequencers). A sink that stores the highest token it applied per key, and refuses
   * lower ones, never applies a write that outlived its claim once the newer holder's
   * write is stored (before that, the late write carries the same envelope).
   */
  readonly fencingToken: number;
  /** When it expires, in ms since the epoch (the ledger's clock). */
  readonly expiresAt: number;
}

/** Result of `claim`. */
export type ClaimResult =
  | {
      /** The caller holds the claim until `claim.expiresAt`. */
      readonly status: "acquired";
      /** The claim, for `renewClaim` and `releaseClaim`. */
      readonly claim: Claim;
    }
  | {
      /** Someone else holds a live claim. */
      readonly status: "held";
      /** Who holds it. */
      readonly owner: string;
      /** When it expires (ms since the epoch). */
      readonly expiresAt: number;
    }
  | {
      /** The key already has a final receipt at this sink. */
      readonly status: "done";
      /** The last final receipt. */
      readonly receipt: Receipt;
    };

/** Options of `claim`. */
export interface ClaimOptions {
  /** Who asks. */
  readonly owner: string;
  /** How long the claim lives, in ms, unless renewed. 1 ms to 24 h. */
  readonly ttlMs: number;
  /**
   * Acquire even when the key already has a final receipt at the sink (never `done`): for
   * a repair that writes an entry again.
   * @default false
   */
  readonly replay?: boolean | undefined;
  /**
   * Take the claim over even while it is live, if and only if its holder is exactly this
   * owner: for a deliverer that knows the holder is gone (a process on this host that no
   * longer exists). A claim that changed hands meanwhile is still `held`.
   */
  readonly takeOverFrom?: string | undefined;
}

/**
 * A sink frozen by someone: while a sink has any freeze, every guard of it on this
 * ledger (in any process) refuses deliveries other than repair replays.
 */
export interface SinkFreeze {
  /** The sink. */
  readonly sink: string;
  /**
   * Who put the freeze in place, as a kind: `manual` (a person, `guard.freeze`) or
   * `reconcile` (a reconciliation's `freezeOn` policy); freezes of different origins are
   * independent, and `repair` lifts only the `reconcile` ones.
   */
  readonly origin: string;
  /** Why. */
  readonly reason: string;
  /** Who froze it. */
  readonly actor: string;
  /** When: ISO-8601 UTC (the ledger's clock). */
  readonly since: string;
  /** Index of the audit record of the freeze. */
  readonly audit: number;
}

/** What `freezeSink` records. */
export interface FreezeInput {
  /** Why the sink is frozen. 1 to 4096 characters. */
  readonly reason: string;
  /** Who freezes it. */
  readonly actor: string;
  /**
   * The freeze's origin (see {@link SinkFreeze.origin}).
   * @default "manual"
   */
  readonly origin?: string | undefined;
}

/** What `unfreezeSink` records. */
export interface UnfreezeInput {
  /** Why the freeze is lifted. 1 to 4096 characters. */
  readonly reason: string;
  /** Who lifts it. */
  readonly actor: string;
  /**
   * Lift only the freeze of this origin.
   * @default every freeze of the sink
   */
  readonly origin?: string | undefined;
}

/** What an audit record is about. */
export interface AuditSubject {
  /** The sink concerned. */
  readonly sink?: string | undefined;
  /** The idempotency key concerned. */
  readonly key?: string | undefined;
  /** The ledger position concerned. */
  readonly position?: number | undefined;
}

/**
 * Where a record stands in an action on something outside the ledger (a sink): the
 * `intent` is appended before the action, the `outcome` after it. See {@link AuditInput.phase}.
 */
export type AuditPhase = "intent" | "outcome";

/** What to record in the audit log. */
export interface AuditInput {
  /** Who did it: a user, a service, a job. */
  readonly actor: string;
  /** What was done, e.g. `replay`, `rewrite`, `remove`, `freeze`. */
  readonly action: string;
  /** Why. */
  readonly reason: string;
  /** What it was done to. */
  readonly subject?: AuditSubject | undefined;
  /** Checksum before the action, or null for none. */
  readonly before?: string | null | undefined;
  /** Checksum after the action, or null for none. */
  readonly after?: string | null | undefined;
  /** Anything else worth keeping, as JSON. */
  readonly details?: JsonValue | undefined;
  /**
   * For an action the ledger cannot make atomic with its record (a write to a sink):
   * `intent` before the action, `outcome` after it (with {@link AuditInput.intent}). A
   * process killed between the two leaves an intent with no outcome, which
   * `verifyAudit` lists as `interrupted` until an outcome settles it. Absent on a record
   * that stands alone (a freeze, a note, a flag); absent fields are not hashed, so
   * records made before phases existed keep their hashes.
   */
  readonly phase?: AuditPhase | undefined;
  /**
   * On an outcome (and only there): the `index` of its intent record, which must be an
   * earlier intent with no outcome yet. The ledger checks this atomically with the append.
   */
  readonly intent?: number | undefined;
}

/** One audit record as stored: the input plus its place in the hash chain. */
export interface AuditRecord extends AuditInput {
  /** 1, 2, 3, … in append order. */
  readonly index: number;
  /** When it was appended: ISO-8601 UTC. */
  readonly time: string;
  /** `hash` of the previous record; 64 zeros for the first. */
  readonly prevHash: string;
  /** SHA-256 (hex) of the RFC 8785 form of every other field of this record. */
  readonly hash: string;
}

/** The last record of an audit log, to keep outside the ledger and check truncation with. */
export interface AuditHead {
  /** Index of the last record. */
  readonly index: number;
  /** Its hash. */
  readonly hash: string;
}

/** One problem `verifyAudit` found. */
export interface AuditProblem {
  /** Index (as stored) of the record where the problem shows. */
  readonly index: number;
  /**
   * - `edited`: the record's hash does not match its content;
   * - `removed`: an index is missing;
   * - `reordered`: an index goes backwards;
   * - `inserted`: an index appears twice;
   * - `broken_link`: `prevHash` is not the previous record's hash;
   * - `truncated`: the log ends before the head you knew;
   * - `head_mismatch`: the record at the known head index has another hash;
   * - `unmatched_outcome`: an outcome whose `intent` is not an earlier intent record;
   * - `settled_twice`: a second outcome for one intent.
   *
   * The ledger refuses the last two at append time, so in a log it wrote they mean the
   * chain was rebuilt by hand (the hashes are not keyed) or written by a broken adapter.
   */
  readonly code:
    | "edited"
    | "removed"
    | "reordered"
    | "inserted"
    | "broken_link"
    | "truncated"
    | "head_mismatch"
    | "unmatched_outcome"
    | "settled_twice";
  /** Human-readable description. */
  readonly message: string;
}

/** Result of `verifyAudit`. */
export type AuditVerification =
  | {
      /** The chain is intact (and reaches the known head, when one was given). */
      readonly ok: true;
      /** Number of records. */
      readonly count: number;
      /** The last record, to keep for the next check; undefined when the log is empty. */
      readonly head: AuditHead | undefined;
      /**
       * Intent records with no outcome, in log order: actions started and never
       * recorded as finished (a process killed mid-repair). Not damage, so `ok` stays
       * true; the next `repair` of the sink rechecks each one and settles it.
       */
      readonly interrupted: readonly AuditRecord[];
    }
  | {
      /** Something was edited, removed, reordered, inserted or truncated. */
      readonly ok: false;
      /** Number of records read. */
      readonly count: number;
      /** Every problem found. */
      readonly problems: readonly AuditProblem[];
      /** Intent records with no outcome among the records read, in log order. */
      readonly interrupted: readonly AuditRecord[];
    };

/** What {@link Ledger.compactReceipts} is asked to do. */
export interface CompactReceiptsInput {
  /** Who compacts: a user, a service, a job. 1 to 200 characters. */
  readonly actor: string;
  /** Why, for the audit record: 1 to 4096 characters (for example `nightly retention`). */
  readonly reason: string;
  /**
   * Compact the receipts of positions 1 to `through`. At most the sink's watermark, which is
   * the default: receipts above it are work in flight.
   */
  readonly through?: number | undefined;
}

/** What {@link Ledger.compactReceipts} did. */
export interface ReceiptCompaction {
  /** The sink. */
  readonly sink: string;
  /** The receipts of positions 1 to this one were compacted. */
  readonly through: number;
  /** How many receipts were removed. */
  readonly removed: number;
  /** Index of the audit record of the compaction (action `compact-receipts`). */
  readonly audit: number;
}

/** A range of per-row hash values, `[from, to)` over unsigned 32-bit numbers. */
export interface HashRange {
  /** Inclusive lower bound. */
  readonly from: number;
  /** Exclusive upper bound (at most 2^32). */
  readonly to: number;
}

/**
 * A digest request: split the hash range `[from, to)` into `buckets` equal buckets of
 * width `(to - from) / buckets` (always an integer). Bucket `b` covers
 * `[from + b × width, from + (b + 1) × width)`.
 */
export interface DigestSplit {
  /** Inclusive lower bound of the whole range. */
  readonly from: number;
  /** Exclusive upper bound of the whole range (at most 2^32). */
  readonly to: number;
  /** How many equal buckets. */
  readonly buckets: number;
}

/** What a sink answers for one bucket in digest mode. Empty buckets may be left out. */
export interface BucketDigest {
  /** The bucket's number in the split, from 0. */
  readonly bucket: number;
  /** Rows whose row hash falls in the bucket (each copy of a key counts). */
  readonly count: number;
  /** `formatDigest(sum of hi, sum of lo)`: 16 lowercase hex digits. */
  readonly digest: string;
}

/** Which entries a ledger's digest request covers: positions 1 to `through`. */
export interface DigestScope {
  /** The last position covered (at most the head; 0 covers none). */
  readonly through: number;
}

/**
 * Where incremental reconciliation of one sink got to, kept in the ledger
 * ({@link Ledger.putCheckpoint}): every entry at positions 1 to `through` was found at the
 * sink as the ledger has it. `reconcile({ incremental: true })` checks only what follows,
 * and trusts the checkpoint only while the entry at `through` is still `key` with
 * `checksum`; a sweep (`incremental: "sweep"`) also recomputes `digest`.
 */
export interface ReconcileCheckpoint {
  /** The sink. */
  readonly sink: string;
  /** Entries 1 to `through` were verified at the sink (0: none yet). */
  readonly through: number;
  /** When the pass that moved the checkpoint ran: ISO-8601 UTC with milliseconds. */
  readonly at: string;
  /** The key of the entry at `through` (absent when `through` is 0). */
  readonly key?: string | undefined;
  /** That entry's checksum (absent when `through` is 0). */
  readonly checksum?: Checksum | undefined;
  /**
   * Digest of the verified prefix: `xxh64sum:` and 16 hex digits, the sums mod 2^32 of the
   * two halves of xxh64(`key` + "\n" + `checksum`) over the entries 1 to `through`.
   */
  readonly digest: string;
  /** When a full pass last verified the whole prefix (absent: never; only incremental passes). */
  readonly sweptAt?: string | undefined;
}

/**
 * One point of a sink's consistency-window history ({@link Ledger.recordWindows}): where
 * one reconciliation found the sink's window. `reconcile({ history: true })` and the
 * monitor record one per sink per pass; the HTML report draws them as a time series.
 */
export interface WindowSample {
  /** The sink. */
  readonly sink: string;
  /** When the reconciliation ran (its report's `generatedAt`): ISO-8601 UTC with milliseconds. */
  readonly at: string;
  /** Every entry up to this position matched (the report's `window.position`). */
  readonly position: number;
  /** Entries of the range checked past `position`. */
  readonly behindEntries: number;
  /** Age of the first entry past `position`, ms (0 when none). */
  readonly behindMs: number;
  /** Whether the sink was consistent in that pass. */
  readonly consistent: boolean;
}

/** Which samples {@link Ledger.windowHistory} answers. */
export interface WindowHistoryQuery {
  /** At most this many, the most recent (1 to {@link WINDOW_HISTORY_LIMIT}; default: all kept). */
  readonly limit?: number | undefined;
}

/** How many samples of each sink's window history a ledger keeps: older ones are dropped. */
export const WINDOW_HISTORY_LIMIT = 1000;

/** {@link Ledger.putCheckpoint}'s options. */
export interface PutCheckpointOptions {
  /**
   * Store only if the sink's checkpoint is still this one (`null`: the sink has none), in
   * the same atomic step: a compare-and-set. Absent: store whatever is there.
   */
  readonly expected?: ReconcileCheckpoint | null | undefined;
}

/** What a ledger promises; the conformance suite reads these to choose its tests. */
export interface LedgerCapabilities {
  /**
   * When an acknowledged write is safe: `none` (memory: lost on exit), `fsync` (on disk
   * after fsync), `wal-synchronous` (SQLite WAL with synchronous=FULL),
   * `synchronous-commit` (PostgreSQL).
   */
  readonly durability: "none" | "fsync" | "wal-synchronous" | "synchronous-commit";
  /** Who may use it at once: one process, or many processes sharing it. */
  readonly concurrency: "single-process" | "multi-process";
  /**
   * Whether live claims survive a restart (`durable`) or live in the process that
   * holds the ledger (`process`: right when only one process can open it).
   */
  readonly claims: "process" | "durable";
  /** Whether claim expiry follows the clock given to the ledger (`injected`) or a server's. */
  readonly clock: "injected" | "server";
}

/**
 * The ledger: the source of truth of what was emitted, and the memory of every delivery.
 * Every method is async and atomic. Using a closed ledger is a `LedgerError` with code
 * `ledger_closed`; bad arguments are `InvalidArgumentError`s.
 */
export interface Ledger {
  /** What this ledger promises. */
  readonly capabilities: LedgerCapabilities;

  /**
   * Appends envelopes, atomically: all of them or none. Each envelope is verified first
   * (shape and checksum). A key already in the ledger with the same checksum returns the
   * existing entry (no second position); with another checksum the whole call fails with
   * an `IdempotencyConflictError` carrying the existing entry. New entries get consecutive
   * positions after the head.
   */
  append(envelopes: readonly Envelope[]): Promise<AppendResult>;
  /** The entry with this idempotency key. */
  get(key: string): Promise<LedgerEntry | undefined>;
  /** The entry with this envelope id. */
  getById(id: string): Promise<LedgerEntry | undefined>;
  /** Entries in position order. */
  scan(query?: ScanQuery): AsyncIterable<LedgerEntry>;
  /** The last position; 0 when empty. */
  head(): Promise<number>;

  /** Reserves `count` sequence numbers for a producer; reservations survive a restart. */
  reserveSequence(producer: string, count: number): Promise<SequenceReservation>;

  /**
   * Stores a receipt. The entry it refers to (key and position) must exist. A final
   * receipt with a `fencingToken` is stored only under the claim of (sink, key) held now
   * with that token (live or expired, but neither taken over nor released); any other is
   * refused, atomically, with a `LedgerError` of code `fenced`: a write that outlived its
   * claim never leaves a final receipt beside the new holder's.
   */
  putReceipt(receipt: Receipt): Promise<void>;
  /** Every receipt of one key at one sink, in the order they were put. */
  getReceipts(sink: string, key: string): Promise<readonly Receipt[]>;
  /** Receipts of one sink in position order (then in the order they were put). */
  scanReceipts(sink: string, range?: PositionRange): AsyncIterable<Receipt>;

  /** The sink's watermark; 0 when it has none. */
  getWatermark(sink: string): Promise<number>;
  /**
   * Raises the sink's watermark to `position` and returns the watermark. A watermark
   * never moves backwards: a lower `position` is ignored (the current one is returned).
   * A position past the head is an `InvalidArgumentError`.
   */
  advanceWatermark(sink: string, position: number): Promise<number>;

  /**
   * Takes a lease on (sink, key): `acquired`, or `held` by another caller (until its
   * expiry), or `done` when the key already has a final receipt at the sink. An expired
   * claim can be taken over.
   */
  claim(sink: string, key: string, options: ClaimOptions): Promise<ClaimResult>;
  /** Extends a claim; a `LedgerError` with code `claim_lost` when it was taken over or released. */
  renewClaim(claim: Claim, ttlMs: number): Promise<Claim>;
  /** Gives a claim up; false when it was no longer held by this token. */
  releaseClaim(claim: Claim): Promise<boolean>;

  /**
   * Freezes a sink, durably and audited in one step: from now on every guard of the sink
   * on this ledger refuses deliveries other than replays (within its `freezeCheckMs`).
   * A sink already frozen with this origin keeps its freeze (returned, nothing recorded).
   */
  freezeSink(sink: string, input: FreezeInput): Promise<SinkFreeze>;
  /**
   * Lifts the sink's freeze of `input.origin` (or every freeze of the sink), durably and
   * audited in one step per freeze. Returns the freezes lifted (none when there were none).
   */
  unfreezeSink(sink: string, input: UnfreezeInput): Promise<readonly SinkFreeze[]>;
  /** The sink's freezes, oldest first; empty when it is not frozen. */
  getFreezes(sink: string): Promise<readonly SinkFreeze[]>;
  /** Every freeze of every sink, by sink then oldest first. */
  listFreezes(): Promise<readonly SinkFreeze[]>;

  /**
   * Appends a record to the hash-chained audit log and returns it. An outcome
   * (`phase: "outcome"`) must name, in `intent`, an earlier intent with no outcome yet,
   * checked atomically with the append (else an `InvalidArgumentError` at `input.intent`).
   */
  appendAudit(input: AuditInput): Promise<AuditRecord>;
  /** The audit log, in order. */
  scanAudit(): AsyncIterable<AuditRecord>;
  /**
   * Checks the audit chain: every hash, every link, every index, and that each outcome
   * settles one earlier intent. With `head` (a head kept from an earlier check), also
   * detects truncation and rewriting after it. Intents with no outcome are listed in
   * `interrupted`, whatever `ok` says.
   */
  verifyAudit(options?: { readonly head?: AuditHead | undefined }): Promise<AuditVerification>;

  // Batch operations: one call (one round trip, one transaction on the SQL ledgers) for
  // many items. Each takes at most 100,000 items; an empty list answers an empty list.

  /**
   * The entries of many keys, one answer per key in the same order (undefined for a key
   * not in the ledger). Keys must be distinct.
   */
  getMany(keys: readonly string[]): Promise<readonly (LedgerEntry | undefined)[]>;
  /**
   * `getReceipts` for many keys of one sink: one answer per key in the same order, each
   * the key's receipts in the order they were put (empty for a key with none). Keys must
   * be distinct. PostgresLedger answers in one query, SqliteLedger in one read transaction;
   * the default of `BaseLedger` asks `_getReceipts` of its adapter for each key.
   */
  getReceiptsMany(sink: string, keys: readonly string[]): Promise<readonly (readonly Receipt[])[]>;
  /**
   * `claim` for many keys of one sink with the same options, one result per key in the
   * same order; each key is decided on its own, exactly as `claim` decides it (some may be
   * `acquired`, others `held` or `done`). Keys must be distinct.
   */
  claimMany(
    sink: string,
    keys: readonly string[],
    options: ClaimOptions,
  ): Promise<readonly ClaimResult[]>;
  /** `releaseClaim` for many claims, one answer per claim in the same order. */
  releaseClaims(claims: readonly Claim[]): Promise<readonly boolean[]>;
  /**
   * `putReceipt` for many receipts, stored in the order given, one {@link PutReceiptStatus}
   * per receipt: a fenced receipt is reported, not thrown, and the others are stored. Every
   * receipt is checked, and its entry looked up, before any is stored: a bad receipt or a
   * missing entry stores none. The SQL ledgers store them in one transaction; the default
   * of `BaseLedger` stores them one after the other.
   */
  putReceipts(receipts: readonly Receipt[]): Promise<readonly PutReceiptStatus[]>;

  /**
   * Retention: of each key of `sink` at positions 1 to `input.through` (the watermark by
   * default, never past it) that has a final receipt, keeps only the last final receipt and
   * removes the others (failures, retries, superseded and earlier writes, later attempts),
   * with an audit record of action `compact-receipts`, both or neither. A key with no final
   * receipt keeps all of its receipts. What `claim` answers (`done` and its receipt) and
   * what reconciliation reads (the last final receipt) stay the same. A `LedgerError` with
   * code `unsupported` from a ledger that cannot compact (a `BaseLedger` whose adapter does
   * not override `_compactReceipts`).
   */
  compactReceipts(sink: string, input: CompactReceiptsInput): Promise<ReceiptCompaction>;

  /**
   * The reconciliation checkpoint of `sink` (see {@link ReconcileCheckpoint}), or undefined
   * when none was put. A `LedgerError` with code `unsupported` from a ledger that keeps no
   * checkpoints (a `BaseLedger` whose adapter does not override `_getCheckpoint`).
   */
  getCheckpoint(sink: string): Promise<ReconcileCheckpoint | undefined>;

  /**
   * Replaces the reconciliation checkpoint of `checkpoint.sink`, durably, and answers true.
   * `through` must not be past the head. The ledger checks its shape, not its truth:
   * `reconcile` decides whether to trust it. With `options.expected`, a compare-and-set:
   * stored only if the sink's checkpoint is still exactly that one (`null`: none yet), as
   * one atomic step, else nothing is stored and the answer is false; so of two passes that
   * read the same checkpoint, one moves it. `unsupported` as for `getCheckpoint`.
   */
  putCheckpoint(checkpoint: ReconcileCheckpoint, options?: PutCheckpointOptions): Promise<boolean>;

  /**
   * Appends samples to their sinks' consistency-window histories, durably, in the order
   * given (at most 1,000 a call), and drops each sink's oldest past the most recent
   * {@link WINDOW_HISTORY_LIMIT}. Every sample is checked before any is kept. A
   * `LedgerError` with code `unsupported` from a ledger that keeps no history (a
   * `BaseLedger` whose adapter does not override `_recordWindows`).
   */
  recordWindows(samples: readonly WindowSample[]): Promise<void>;

  /**
   * The consistency-window history of `sink`, oldest first: its most recent samples, at
   * most `query.limit` (all that are kept by default). `unsupported` as for `recordWindows`.
   */
  windowHistory(sink: string, query?: WindowHistoryQuery): Promise<readonly WindowSample[]>;

  /**
   * Digest mode's ledger side: the bucket digests of the entries at positions 1 to
   * `scope.through`, one row each (the row hash of its key and checksum, as `rowHash` of
   * `sinkproof/digest` computes it), over `split` exactly as a sink's
   * `SinkDigest.digest` answers (empty buckets left out, in bucket order). The ledger
   * keeps what it needs up to date itself (stored row hashes in the SQL ledgers, an
   * in-memory index in MemoryLedger and FileLedger), so `reconcile` never hashes every
   * entry. `unsupported` from a ledger that keeps none: reconcile then hashes its scan.
   */
  digestBuckets(split: DigestSplit, scope: DigestScope): Promise<readonly BucketDigest[]>;

  /**
   * The positions (ascending) of the entries at positions 1 to `scope.through` whose row
   * hash lies in `range`: the ledger's rows of a bucket that differs. `unsupported` as
   * for `digestBuckets`.
   */
  digestPositions(range: HashRange, scope: DigestScope): Promise<readonly number[]>;

  /** Closes the ledger; later calls fail with `ledger_closed`. Calling it twice is fine. */
  close(): Promise<void>;
}
