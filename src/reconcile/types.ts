/**
 * Reconciliation's public types: how a sink is read back, what a finding is, what a
 * report holds.
 *
 * @module
 */

import type { Checksum } from "../checksum/checksum.js";
import type { SinkGuard } from "../delivery/guard.js";
import type { Envelope, JsonValue } from "../envelope/schema.js";
import type {
  Ledger,
  PositionRange,
  ReceiptStatus,
  ReconcileCheckpoint,
  WindowSample,
} from "../ledger/types.js";
import type { AcceptedVersions } from "../schema/accepts.js";
import type { SchemaRegistry } from "../schema/registry.js";

/** What a sink really holds for one key, read back from the sink. */
export interface Observation {
  /** The idempotency key the sink stored the envelope under. */
  readonly key: string;
  /** The checksum the sink stored (preferred: no payload needs to be read). */
  readonly checksum?: Checksum | string | undefined;
  /** The payload the sink holds, when it has no checksum (the checksum is then computed). */
  readonly payload?: JsonValue | undefined;
  /**
   * How many times the sink holds the key (rows, documents, lines).
   * @default 1
   */
  readonly count?: number | undefined;
}

/** The part of the ledger a reconciliation covers, given to `observe` so a sink may narrow its read. */
export interface ObserveRange {
  /** First ledger position covered. */
  readonly from: number;
  /** Last ledger position covered. */
  readonly to: number;
  /** `appendedAt` of the first entry covered (ISO-8601), when there is one. */
  readonly since: string | undefined;
}

import type { BucketDigest, DigestSplit, HashRange } from "../ledger/types.js";

export type { BucketDigest, DigestSplit, HashRange };

/**
 * A sink's digest mode: it can summarise, and read back, its rows by row hash. See
 * docs/reconciliation.md for the row hash and a one-query SQL version, and
 * {@link digest!digestIndex} for sinks whose rows are at hand in code.
 */
export interface SinkDigest {
  /** Count and digest of every non-empty bucket of the split. */
  digest(split: DigestSplit): Promise<readonly BucketDigest[]> | readonly BucketDigest[];
  /** The rows whose row hash falls in `range`, each copy on its own or with a `count`. */
  observeRange(range: HashRange): AsyncIterable<Observation> | Iterable<Observation>;
}

/** How reconciliation sees one sink. */
export interface ReconcileSink {
  /** The sink's name, as its guard and receipts know it. */
  readonly name: string;
  /**
   * How long an entry may be missing at this sink before it counts as lost, in ms
   * (measured from its `appendedAt`).
   * @default 60_000
   */
  readonly lagToleranceMs?: number | undefined;
  /**
   * Reads back what the sink holds. When absent (and there is no `digest`), receipts
   * alone are used and the sink's verdict is marked receipt-based: weaker, since a
   * receipt says what was written, not what is still there.
   */
  readonly observe?:
    | ((range: ObserveRange) => AsyncIterable<Observation> | Iterable<Observation>)
    | undefined;
  /** Digest mode, for large sets: compared bucket by bucket, only differing buckets read. */
  readonly digest?: SinkDigest | undefined;
  /** The sink's guard: `repair` replays missing entries through it. */
  readonly guard?: SinkGuard | undefined;
  /**
   * Overwrites a key with the envelope the sink should hold (an upsert), for mismatched
   * entries: the ledger's, or its upcast when the sink has `accepts`.
   */
  readonly rewrite?: ((envelope: Envelope) => Promise<void> | void) | undefined;
  /**
   * Removes every copy of a key from the sink: for unexpected keys, and for duplicates
   * (which `repair` then replays once through the guard).
   */
  readonly remove?: ((key: string) => Promise<void> | void) | undefined;
  /** Overrides the reconciliation's `freezeOn` for this sink. */
  readonly freezeOn?: FreezePolicy | undefined;
  /**
   * Schema versions the sink holds, per schema name, as given to its guard: an entry of
   * an older version is expected at the sink as its upcast (with `registry`) to the
   * newest version in range, so it is compared with the upcast's checksum and payload.
   * An entry that cannot be upcast is expected as it is. Not with `digest`.
   */
  readonly accepts?: AcceptedVersions | undefined;
  /** The registry that upcasts entries into `accepts`. */
  readonly registry?: SchemaRegistry | undefined;
}

/**
 * When reconciliation freezes a sink: a finding count above its threshold. `0` means
 * "any". The freeze is ledger state (origin `reconcile`, audited): every guard of the sink
 * on the ledger refuses deliveries (repair replays still pass) until `repair` converges
 * for that sink and lifts it.
 *
 * @example
 * ```ts
 * const freezeOn = { mismatched: 0, "missing-lost": 100 }; // any altered entry, or over 100 lost
 * ```
 */
export interface FreezePolicy {
  /** Freeze when more entries than this are lost. */
  readonly "missing-lost"?: number | undefined;
  /** Freeze when more keys than this are held more than once. */
  readonly duplicate?: number | undefined;
  /** Freeze when more keys than this are held with another checksum. */
  readonly mismatched?: number | undefined;
  /** Freeze when the sink holds more keys than this that the ledger never emitted. */
  readonly unexpected?: number | undefined;
  /** Receipts that say written for entries the sink lacks. */
  readonly contradicted?: number | undefined;
}

/**
 * The kinds of finding. Each (entry, sink) pair gets exactly one of the first five;
 * `unexpected` is a key the sink holds that the ledger never emitted.
 */
export type FindingKind = (typeof FINDING_KINDS)[number];

/**
 * Every kind of finding, in one place: the type, the counts, the report checks and the
 * renderers come from this list (the renderers' tables must name each, or the build fails).
 */
export const FINDING_KINDS = [
  "matched",
  "missing-late",
  "missing-lost",
  "duplicate",
  "mismatched",
  "unexpected",
] as const;

/**
 * What disagrees, in a `mismatched` finding read back from a sink (see
 * docs/reconciliation.md for what each way of reading a sink can see):
 * - `checksum`: only a stored checksum was read, and it is not the ledger's;
 * - `payload`: only a payload was read, and it does not hash to the ledger's checksum;
 * - `value`: both were read and agree with each other, not with the ledger: the sink
 *   holds another value (an old version, a lossy mapping);
 * - `payload-edited`: the stored checksum is the ledger's, the payload does not hash to
 *   it (edited in place under its checksum: digest mode cannot see this);
 * - `checksum-edited`: the payload is the ledger's, the stored checksum is another (a
 *   sink read by payload alone cannot see this; digest mode can);
 * - `self-inconsistent`: the stored checksum, the payload's checksum and the ledger's
 *   are three different values.
 */
export type MismatchReason = (typeof MISMATCH_REASONS)[number];

/** Every {@link MismatchReason}, in one place. */
export const MISMATCH_REASONS = [
  "checksum",
  "payload",
  "value",
  "payload-edited",
  "checksum-edited",
  "self-inconsistent",
] as const;

/** The kinds a report lists: every kind but `matched`, which is counted, not listed. */
export type ListedFindingKind = Exclude<FindingKind, "matched">;

/** The kinds a report lists, in {@link FINDING_KINDS} order. */
export const LISTED_FINDING_KINDS: readonly ListedFindingKind[] = FINDING_KINDS.filter(
  (kind): kind is ListedFindingKind => kind !== "matched",
);

/** What every finding says: what was found, at which sink, for which key. */
export interface FindingOf<K extends ListedFindingKind> {
  /** What was found. */
  readonly kind: K;
  /** The sink. */
  readonly sink: string;
  /** The idempotency key. */
  readonly key: string;
}

/**
 * The fields a kind of finding may carry beyond kind, sink and key; each kind's interface
 * says which it has, and declares the others absent (so that any finding can be read for
 * any of them).
 */
interface FindingFields {
  /** The ledger position (absent for `unexpected`). */
  readonly position: number;
  /** The ledger's checksum (absent for `unexpected`). */
  readonly expected: string;
  /** The checksum the sink holds (for `duplicate`, `mismatched` and `unexpected`). */
  readonly observed: string;
  /** What disagrees (for `mismatched` read back from the sink). */
  readonly mismatch: MismatchReason;
  /** The checksum a row stored that is not its payload's (for some `mismatched`). */
  readonly storedChecksum: string;
  /** How many copies the sink holds (for `duplicate`, `mismatched` and `unexpected`). */
  readonly count: number;
  /** The JSON paths whose values differ (for `mismatched` with a payload). */
  readonly paths: readonly string[];
  /** At each differing path, both values (for `mismatched` with a payload). */
  readonly differences: readonly PayloadDifference[];
  /** Age of the entry when reconciled, ms (for missing entries). */
  readonly ageMs: number;
  /** The final receipt the sink contradicts (for missing entries). */
  readonly receipt: ReceiptStatus;
}

/** Fields a kind of finding never carries (absent; their docs say which kinds have them). */
type Absent<K extends keyof FindingFields> = {
  readonly [P in keyof Pick<FindingFields, K>]?: undefined;
};

/** A ledger entry the sink does not hold. */
interface MissingFinding
  extends Absent<"observed" | "mismatch" | "storedChecksum" | "count" | "paths" | "differences"> {
  /** The ledger position. */
  readonly position: number;
  /** The ledger's checksum (of the version the sink should hold). */
  readonly expected: string;
  /** Age of the entry when reconciled, ms since its `appendedAt`. */
  readonly ageMs: number;
  /**
   * When the entry's last final receipt says the sink has it (`written`, `duplicate` or
   * `replayed`): that status. The receipt is contradicted by the sink.
   */
  readonly receipt?: ReceiptStatus | undefined;
}

/** Missing, within the sink's lag tolerance: expected to arrive. */
export interface MissingLateFinding extends FindingOf<"missing-late">, MissingFinding {}

/** Missing, older than the sink's lag tolerance: lost. */
export interface MissingLostFinding extends FindingOf<"missing-lost">, MissingFinding {}

/** Held more than once, each copy with the ledger's checksum. */
export interface DuplicateFinding
  extends FindingOf<"duplicate">,
    Absent<"mismatch" | "storedChecksum" | "paths" | "differences" | "ageMs" | "receipt"> {
  /** The ledger position. */
  readonly position: number;
  /** The ledger's checksum. */
  readonly expected: string;
  /** The checksum the copies hold (the ledger's). */
  readonly observed: string;
  /** How many copies the sink holds. */
  readonly count: number;
}

/** Held with another checksum or payload than the ledger's. */
export interface MismatchedFinding extends FindingOf<"mismatched">, Absent<"ageMs" | "receipt"> {
  /** The ledger position. */
  readonly position: number;
  /** The ledger's checksum. */
  readonly expected: string;
  /**
   * The checksum the sink holds, when it holds one: its payload's checksum when the
   * payload was read, else the checksum it stored. Absent when judged from a receipt.
   */
  readonly observed?: string | undefined;
  /** Read back from the sink: what disagrees. */
  readonly mismatch?: MismatchReason | undefined;
  /**
   * For rows that disagree with themselves (`payload-edited`, `checksum-edited`,
   * `self-inconsistent`): the checksum the sink stored, which is not its payload's (that
   * one is `observed`).
   */
  readonly storedChecksum?: string | undefined;
  /** How many copies the sink holds. */
  readonly count?: number | undefined;
  /** With a payload: the JSON paths whose values differ. */
  readonly paths?: readonly string[] | undefined;
  /** With a payload: at each of `paths`, what the ledger's payload holds and what the sink's does. */
  readonly differences?: readonly PayloadDifference[] | undefined;
}

/** A key the sink holds that the ledger never emitted. */
export interface UnexpectedFinding
  extends FindingOf<"unexpected">,
    Absent<
      | "position"
      | "expected"
      | "mismatch"
      | "storedChecksum"
      | "paths"
      | "differences"
      | "ageMs"
      | "receipt"
    > {
  /** The checksum the sink holds for it. */
  readonly observed?: string | undefined;
  /** How many copies the sink holds. */
  readonly count: number;
}

/**
 * One reconciliation result, by `kind` (narrow on it to read a kind's fields). `matched`
 * entries are counted, not listed. `reconcile` makes every finding to this type; a report
 * read back from JSON (by `repair` or `renderReport`) has each field's type checked, and
 * each finding's kind, but not that a kind carries every field its interface requires.
 */
export type Finding =
  | MissingLateFinding
  | MissingLostFinding
  | DuplicateFinding
  | MismatchedFinding
  | UnexpectedFinding;

/** The finding of one listed kind. */
export type FindingFor<K extends ListedFindingKind> = Extract<Finding, FindingOf<K>>;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time: one interface per listed kind, and counts for every kind, no more. */
const _oneSourceOfTruth: [
  Same<Finding["kind"], ListedFindingKind>,
  Same<keyof FindingCounts, FindingKind>,
] = [true, true];

/** One place where a sink's payload differs from the ledger's (see `Finding.differences`). */
export interface PayloadDifference {
  /** The JSON path, e.g. `$.items[0].qty`. */
  readonly path: string;
  /**
   * The ledger's value there, as canonical JSON of at most 120 characters (cut around the
   * first character that differs from the sink's when both are longer), or `(absent)`.
   */
  readonly expected: string;
  /** The sink's value there, the same way. */
  readonly observed: string;
}

/** Counts of findings by kind. */
export interface FindingCounts {
  /** Held once, with the ledger's checksum. */
  readonly matched: number;
  /** Missing, within the lag tolerance. */
  readonly "missing-late": number;
  /** Missing, older than the lag tolerance. */
  readonly "missing-lost": number;
  /** Held more than once. */
  readonly duplicate: number;
  /** Held with another checksum. */
  readonly mismatched: number;
  /** Keys the ledger never emitted. */
  readonly unexpected: number;
}

/** How far behind a sink is. */
export interface ConsistencyWindow {
  /**
   * Every entry up to this position matched (0 when the first did not). For a sink that
   * could not be read (`error`), the position before the range: it vouches for none.
   */
  readonly position: number;
  /** Entries of the covered range past `position`. */
  readonly behindEntries: number;
  /**
   * Age of the first entry past `position`, in ms (0 when none, and for a sink that could
   * not be read).
   */
  readonly behindMs: number;
}

/** What digest mode did for one sink. */
export interface DigestStats {
  /** Buckets whose count and digest were compared. */
  readonly buckets: number;
  /** Of those, how many differed. */
  readonly differing: number;
  /** Rows read row by row (the differing buckets' rows, copies counted). */
  readonly rowsRead: number;
}

/** One sink's part of a report. */
export interface SinkReport {
  /** The sink. */
  readonly name: string;
  /** `observed` (read back), `digest` (bucket digests, differing buckets read) or `receipts` (weaker). */
  readonly basis: "observed" | "digest" | "receipts";
  /** No finding but `matched` and `missing-late`. */
  readonly consistent: boolean;
  /** Findings by kind. */
  readonly counts: FindingCounts;
  /** Missing entries whose final receipt says the sink has them. */
  readonly contradicted: number;
  /** Findings other than `matched`, in position order (unexpected keys last), at most `maxFindings`. */
  readonly findings: readonly Finding[];
  /** True when the list was cut at `maxFindings` (the counts are still complete). */
  readonly truncated: boolean;
  /** How far behind it is. */
  readonly window: ConsistencyWindow;
  /** The lag tolerance used. */
  readonly lagToleranceMs: number;
  /** Observations read (rows, in digest mode). */
  readonly observations: number;
  /** In digest mode: buckets compared and rows read row by row. */
  readonly digest?: DigestStats | undefined;
  /** Time spent reading this sink (observations, receipts, digests, differing rows), ms. */
  readonly durationMs: number;
  /**
   * Actions on this sink that a repair started and never recorded as finished (audit
   * intents with no outcome), in log order. They do not change `consistent` (the
   * findings say what the sink holds); the next `repair` of the sink settles them.
   */
  readonly interrupted: readonly InterruptedAction[];
  /**
   * Set when this reconciliation's `freezeOn` policy froze the sink: why the sink is frozen
   * (the reason of its oldest freeze, which may be one a person put before).
   */
  readonly frozen?: string | undefined;
  /**
   * Set when the sink could not be read (its `observe` or `digest` threw, or answered
   * something malformed): the sink is then not consistent and its counts are partial.
   */
  readonly error?: SinkReadFailure | undefined;
  /** With `incremental`: where this sink's pass started, and the checkpoint it moved. */
  readonly checkpoint?: CheckpointReport | undefined;
  /**
   * Observations the sink gave for entries outside the positions checked (ignored, not
   * unexpected): a sink that reads back by range gives none; a positive count means it
   * was read whole.
   */
  readonly outOfRange?: number | undefined;
  /**
   * With `history`: this sink's recent consistency windows as the ledger keeps them
   * ({@link Ledger.windowHistory}), oldest first, this pass's last (a sink that could not
   * be read records none: its series skips this pass). The HTML report draws them as a
   * time series.
   */
  readonly history?: readonly WindowSample[] | undefined;
}

/** What an incremental pass did with one sink's checkpoint. */
export interface CheckpointReport {
  /**
   * `trusted` (the pass started after it), `none` (there was none: a full pass),
   * `untrusted` (it no longer matches the ledger: see `reason`; a full pass), `sweep`
   * (`incremental: "sweep"`: a full pass that also checked the prefix digest), or `whole`
   * (a digest-mode sink, which compares its whole table: a full pass).
   */
  readonly status: "trusted" | "none" | "untrusted" | "sweep" | "whole";
  /** Why an untrusted checkpoint was not trusted. */
  readonly reason?: string | undefined;
  /** The first position checked for this sink. */
  readonly from: number;
  /** The checkpoint found in the ledger before the pass. */
  readonly previous?: ReconcileCheckpoint | undefined;
  /**
   * The checkpoint stored after the pass (absent when none was stored: the sink could not
   * be read, or nothing moved).
   */
  readonly stored?: ReconcileCheckpoint | undefined;
}

/**
 * An action on a sink that was started and never recorded as finished: an audit intent
 * with no outcome (a repair killed between the two). `repair` rechecks the key and
 * appends the missing outcome, saying what it found.
 */
export interface InterruptedAction {
  /** Index of the intent record in the ledger's audit log. */
  readonly intent: number;
  /** When the intent was recorded: ISO-8601 UTC. */
  readonly time: string;
  /** Who started it. */
  readonly actor: string;
  /** What it was to do (`replay`, `rewrite`, `remove`, `remove-and-replay`, ...). */
  readonly action: string;
  /** The idempotency key, when the intent names one. */
  readonly key?: string | undefined;
  /** The ledger position, when the intent names one. */
  readonly position?: number | undefined;
  /** The checksum the sink held before, or null for none, as the intent says. */
  readonly before?: string | null | undefined;
  /** The checksum the sink was to hold after, or null for none, as the intent says. */
  readonly after?: string | null | undefined;
}

/** Why a sink could not be reconciled. */
export interface SinkReadFailure {
  /** Machine-readable: the thrown error's `code` when it has one, else `sink_read_failed`. */
  readonly code: string;
  /** Human-readable description. */
  readonly message: string;
  /** Where in the sink's answer the problem is, for malformed answers. */
  readonly path?: string | undefined;
}

/** The ledger positions a report covers. */
export interface ReportRange {
  /** First position. */
  readonly from: number;
  /** Last position (`from - 1` when the range is empty). */
  readonly to: number;
  /** How many entries. */
  readonly entries: number;
}

/** Result of {@link reconcile}. */
export interface ReconcileReport {
  /** When it ran: ISO-8601 UTC. */
  readonly generatedAt: string;
  /** Every sink consistent. */
  readonly consistent: boolean;
  /** The ledger range covered. */
  readonly range: ReportRange;
  /** Per sink, in the order given. */
  readonly sinks: readonly SinkReport[];
  /** Total time, ms. */
  readonly durationMs: number;
  /**
   * With `history`: set when the history could not be recorded or read (the ledger keeps
   * none, or failed, or a stored sample is damaged): what was thrown. The findings stand;
   * the sinks' reports then carry no `history`.
   */
  readonly historyError?: HistoryError | undefined;
}

/** Why a report asked for `history` carries none: what the history step threw. */
export interface HistoryError {
  /** The error's `code` (`unsupported`, `corruption`, a driver's). */
  readonly code: string;
  /** Its message. */
  readonly message: string;
  /** Its `path`, for an argument the ledger refused. */
  readonly path?: string;
}

/** Progress of a reconciliation, reported now and then. */
export interface ReconcileProgress {
  /** The sink being read; undefined in the `compare` phase, which serves every sink at once. */
  readonly sink: string | undefined;
  /**
   * `observe` (reading a sink's observations), `compare` (the one ledger scan, judging
   * each entry at every sink) or `digest` (comparing a sink's bucket digests).
   */
  readonly phase: "observe" | "compare" | "digest";
  /** Items done in this phase. */
  readonly done: number;
  /** Items in this phase, when known. */
  readonly total: number | undefined;
}

/** Options of {@link reconcile}. */
export interface ReconcileOptions {
  /** The source of truth. */
  readonly ledger: Ledger;
  /** The sinks to compare with it. */
  readonly sinks: readonly ReconcileSink[];
  /**
   * The current time in ms since the epoch (for lateness), as the producer, the ledgers
   * and the guard take it.
   * @default Date.now
   */
  readonly clock?: (() => number) | undefined;
  /**
   * The ledger positions to cover.
   * @default the whole ledger
   */
  readonly range?: PositionRange | undefined;
  /** Called with progress now and then (every 10,000 items and at the end of a phase). */
  readonly onProgress?: ((progress: ReconcileProgress) => void) | undefined;
  /**
   * Findings listed per sink; the counts are always complete. `repair` acts on listed
   * findings only, so a truncated report needs another reconcile and repair round.
   * @default 10_000
   */
  readonly maxFindings?: number | undefined;
  /** Freeze a sink when its findings cross these thresholds (a sink's own `freezeOn` wins). */
  readonly freezeOn?: FreezePolicy | undefined;
  /**
   * Who reconciles, for the audit record of a freeze.
   * @default "sinkproof.reconcile"
   */
  readonly actor?: string | undefined;
  /**
   * Checkpointed passes. `true`: each sink is checked only after its checkpoint in the
   * ledger (the whole ledger when it has none, or one that no longer matches), and the
   * checkpoint is moved to the end of what matched. `"sweep"`: every entry is checked (a
   * full pass, for drift in old data), the checkpoint's prefix digest is verified, and the
   * checkpoint is rewritten. Not with `range`. The ledger must keep checkpoints.
   * @default false
   */
  readonly incremental?: boolean | "sweep" | undefined;
  /**
   * Sinks read at once (their `observe`, `digest` or receipts), and settled at once after
   * the ledger scan (leftover keys, digest bisection). The ledger is still scanned once per
   * pass for every sink. `1` reads them one after another. An integer from 1 to 256.
   * @default 4
   */
  readonly concurrency?: number | undefined;
  /**
   * The most keys a pass holds in memory at once: the keys its read-back sinks gave (all
   * sinks together), or one receipts-only sink's keys. Past it, the pass starts again split
   * into hash partitions (4, 16, 64, … of the key space): each reads every sink and the
   * ledger once more and holds only its share, so memory stays near this many keys (a few
   * hundred bytes of heap each) whatever the size of the sinks, at the cost of one more
   * read of each per partition (`observe` is called once per partition: it must read the
   * sink afresh at each call).
   * @default 4_000_000
   */
  readonly maxKeysInMemory?: number | undefined;
  /**
   * Keeps each sink's consistency window of this pass in the ledger's history
   * ({@link Ledger.recordWindows}; each sink's last 1,000 are kept), and puts each sink's
   * recent history in its report (`SinkReport.history`, drawn by the HTML report as a time
   * series): `true` for its last 100 passes, or `{ points }` for that many (1 to 1,000).
   * A sink that could not be read records no sample. A history that cannot be recorded or
   * read (a ledger that keeps none: `unsupported`; a failure; a damaged sample) does not
   * fail the pass: the report says so in `historyError`, and its sinks carry no history.
   * @default false
   */
  readonly history?: boolean | HistoryOptions | undefined;
}

/** `reconcile`'s `history` option in full. */
export interface HistoryOptions {
  /** How many of each sink's most recent samples its report carries, 1 to 1,000. @default 100 */
  readonly points?: number | undefined;
}
