/**
 * What one reconciliation's comparisons share: the run's context, each sink's state and
 * tally of findings, and the `Comparer` shape of the three bases (observed, receipts,
 * digest). Internal.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import type { Ledger, LedgerEntry } from "../ledger/types.js";
import type { ExpectedRows } from "./digest-compare.js";
import {
  FINDING_KINDS,
  type Finding,
  type FindingKind,
  type PayloadDifference,
  type ReconcileProgress,
  type ReconcileSink,
  type SinkReadFailure,
  type SinkReport,
} from "./types.js";

/** Observations or entries between two progress reports. */
export const PROGRESS_EVERY = 10_000;

/** `paths` and `differences` of a mismatched finding whose payload was read. */
export function differencesOf(
  differences: PayloadDifference[] | undefined,
): Pick<Finding, "paths" | "differences"> {
  if (differences === undefined) return { paths: undefined };
  return { paths: differences.map((d) => d.path), differences };
}

/** Findings of one sink as they are made. */
export class Tally {
  readonly counts = Object.fromEntries(FINDING_KINDS.map((kind) => [kind, 0])) as Record<
    FindingKind,
    number
  >;
  contradicted = 0;
  readonly findings: Finding[] = [];
  truncated = false;
  /** First entry (by position) that did not match. */
  firstBad: LedgerEntry | undefined;

  constructor(readonly max: number) {}

  add(finding: Finding, entry?: LedgerEntry): void {
    this.counts[finding.kind]++;
    if (finding.receipt !== undefined) this.contradicted++;
    if (
      entry !== undefined &&
      (this.firstBad === undefined || entry.position < this.firstBad.position)
    ) {
      this.firstBad = entry;
    }
    if (this.findings.length < this.max) this.findings.push(finding);
    else this.truncated = true;
  }
}

/** What every sink's comparison shares. */
export interface Context {
  readonly ledger: Ledger;
  readonly from: number;
  readonly to: number;
  readonly entries: number;
  readonly since: string | undefined;
  readonly nowMs: number;
  readonly maxFindings: number;
  readonly onProgress: ((progress: ReconcileProgress) => void) | undefined;
  /** In a partitioned pass: whether a key is this partition's (undefined: every key). */
  readonly part?: ((key: string) => boolean) | undefined;
  /** The most keys (read-back keys, receipts' keys) held at once. */
  readonly maxKeys: number;
}

/** Per-sink state of one comparison. */
export interface SinkRun {
  readonly sink: ReconcileSink;
  readonly where: string;
  readonly lagMs: number;
  /** What the sink should hold for an envelope, when it holds upcast versions (`accepts`). */
  readonly expect: ((envelope: Envelope) => Envelope) | undefined;
  readonly tally: Tally;
  observations: number;
  digest: { buckets: number; differing: number; rowsRead: number } | undefined;
  error: SinkReadFailure | undefined;
  durationMs: number;
  /** Observations of entries outside the positions checked. */
  outOfRange: number;
}

export function progress(
  ctx: Context,
  sink: string | undefined,
  phase: ReconcileProgress["phase"],
  done: number,
  total?: number,
): void {
  if (ctx.onProgress !== undefined) ctx.onProgress({ sink, phase, done, total });
}

/**
 * One sink's comparison, in three steps around the shared ledger scan: `prepare` reads
 * the sink, `visit` judges one entry (a promise only when it must look up receipts),
 * `finish` handles what the scan could not (leftover keys, digest bisection).
 */
/** A scanned entry, with its key's number in the shared key index (when a sink holds it). */
export interface ScannedEntry {
  readonly entry: LedgerEntry;
  readonly i: number | undefined;
}

export interface Comparer {
  readonly run: SinkRun;
  readonly basis: SinkReport["basis"];
  prepare(): Promise<void>;
  /**
   * Before the visits of a batch of scanned entries (in order, each with its key's
   * number): what the visits will need from the ledger, read at once (the receipts of
   * the entries the sink misses), so that they cost no round trip each.
   */
  prefetch?(batch: readonly ScannedEntry[]): Promise<void>;
  /** `i`: the entry key's number in the shared key index, when some sink holds it. */
  visit(entry: LedgerEntry, i: number | undefined): Promise<void> | undefined;
  finish(expected: ExpectedRows | undefined): Promise<void>;
}
