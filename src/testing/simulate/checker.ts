/**
 * The simulator's checker: a model of what happened, built from the history the gates see
 * (what was emitted and acknowledged, which claims were granted, which watermarks were
 * read, which writes a fault altered), and the invariants checked against it after every
 * step, after every reconciliation and at the end. It counts as Jepsen's total-queue
 * checker does: lost, duplicated, unexpected, recovered; and, for reconciliation, reports
 * that say consistent when the model knows better (false-consistent) and findings the
 * model cannot explain (false-alarm).
 *
 * @module
 */

import { checksum } from "../../checksum/checksum.js";
import type { LedgerEntry, Receipt, ReconcileCheckpoint } from "../../ledger/types.js";
import { isFinalStatus } from "../../ledger/validate.js";
import type { Observation, ReconcileReport, SinkReport } from "../../reconcile/types.js";

/** What an invariant found wrong. */
export type SimViolationKind =
  /**
   * Acknowledged and not in the ledger; held by a sink and then gone with nothing removing
   * it; acknowledged by a sink's writer or receipt and not there; or missing at the end.
   */
  | "lost"
  /** A sink held a key more than once. */
  | "duplicated"
  /** A sink held a key no producer emitted, or content no injected fault explains. */
  | "unexpected"
  /** A reconciliation said a sink is consistent while the model knows it is not. */
  | "false-consistent"
  /** A reconciliation listed a finding the model cannot explain. */
  | "false-alarm"
  /** A reconciliation missed a finding the model knows of. */
  | "missed-finding"
  /** A missing entry was called late when older than the tolerance, or lost when not. */
  | "late-lost"
  /** A sink's watermark moved back, passed an entry with no final receipt, or fell short at the end. */
  | "watermark"
  /** A writer was given a fencing token the ledger never granted its process for the key. */
  | "fencing"
  /** A fenced sink let a write change what it holds after a write under a newer claim. */
  | "stale-write"
  /** The audit chain is broken, or a repair action has an intent and no outcome. */
  | "audit"
  /** A (sink, key) has more than one final `written` receipt. */
  | "receipts"
  /** Drain and repair did not bring a sink to consistent by the end. */
  | "not-converged"
  /** A simulated process, or the user's code it ran, threw where nothing may throw. */
  | "process-error";

/** One violation: which invariant, at which step, where. */
export interface SimViolation {
  /** Which invariant. */
  readonly kind: SimViolationKind;
  /** The scheduler step it was found at (the last step plus one for the end phase). */
  readonly step: number;
  /** What is wrong, for a person. */
  readonly message: string;
  /** The sink, when one is concerned. */
  readonly sink?: string | undefined;
  /** The idempotency key, when one is concerned. */
  readonly key?: string | undefined;
}

/** The counts of a run, as Jepsen's total-queue checker gives them. */
export interface SimCounts {
  /** Keys acknowledged (or in the ledger) and missing where they must be at the end. */
  readonly lost: number;
  /** (sink, key) pairs held more than once at some point. */
  readonly duplicated: number;
  /** (sink, key) pairs held that no producer emitted, or with unexplained content. */
  readonly unexpected: number;
  /** Keys whose emit was never acknowledged (a crash, a lost answer) that still made it. */
  readonly recovered: number;
  /** Reconciliations of a sink that said consistent while it was not. */
  readonly falseConsistent: number;
  /** Findings the model could not explain. */
  readonly falseAlarm: number;
}

/** What a sink holds of one key, folded from its observations. */
export interface Held {
  copies: number;
  readonly checksums: string[];
}

/** Folds observations by key: copies and the checksum of each (its payload's, when read). */
export function foldRows(rows: readonly Observation[]): Map<string, Held> {
  const held = new Map<string, Held>();
  for (const row of rows) {
    let slot = held.get(row.key);
    if (slot === undefined) {
      slot = { copies: 0, checksums: [] };
      held.set(row.key, slot);
    }
    slot.copies += row.count ?? 1;
    if (row.payload !== undefined) slot.checksums.push(checksum(row.payload));
    if (row.checksum !== undefined) slot.checksums.push(String(row.checksum));
  }
  return held;
}

const pair = (sink: string, key: string) => `${sink}\u0000${key}`;

/** The set kept under `key` in `map`, made on first use. */
function setAt<T>(map: Map<string, Set<T>>, key: string): Set<T> {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}

/** The model of one run, and the invariants over it. */
export class Model {
  readonly violations: SimViolation[] = [];
  /** Keys offered to the ledger, with their checksum (every append's arguments). */
  readonly emitted: Map<string, string> = new Map();
  /** Keys whose emit was called, by producer. */
  readonly attempted: Set<string> = new Set();
  /** Keys whose emit returned: durable, by the producer's word. */
  readonly acked: Map<string, string> = new Map();
  readonly #corruptions = new Map<string, Set<string>>();
  readonly #latestToken = new Map<string, number>();
  readonly #appliedToken = new Map<string, number>();
  /** (sink, key, token) of every write that reached the sink's writer (an injected drop included). */
  readonly #wrote = new Set<string>();
  /** Positions with a final receipt stored, by sink. */
  readonly #final = new Map<string, Set<number>>();
  /** Positions checked against a watermark, by sink. */
  readonly #checkedThrough = new Map<string, number>();
  /** Keys each sink was seen holding, and keys a repair removed since. */
  readonly #seenHeld = new Map<string, Set<string>>();
  readonly #removedSince = new Map<string, Set<string>>();
  readonly #granted = new Map<string, Set<number>>();
  readonly #watermarks = new Map<string, number>();
  readonly #found = new Set<string>();
  readonly #lost = new Set<string>();
  readonly #duplicated = new Set<string>();
  readonly #unexpected = new Set<string>();
  #falseConsistent = 0;
  /** Per sink, the highest checkpoint a pass stored. */
  readonly #stored = new Map<string, number>();
  #falseAlarm = 0;
  recovered = 0;

  /** Records a violation, once per (kind, sink, key) for the per-key invariants. */
  violate(violation: SimViolation, once = true): void {
    const id = `${violation.kind}\u0000${violation.sink ?? ""}\u0000${violation.key ?? ""}`;
    if (once && this.#found.has(id)) return;
    this.#found.add(id);
    this.violations.push(Object.freeze(violation));
    const where = pair(violation.sink ?? "", violation.key ?? "");
    if (violation.kind === "lost") this.#lost.add(violation.key ?? where);
    if (violation.kind === "duplicated") this.#duplicated.add(where);
    if (violation.kind === "unexpected") this.#unexpected.add(where);
  }

  counts(): SimCounts {
    return Object.freeze({
      lost: this.#lost.size,
      duplicated: this.#duplicated.size,
      unexpected: this.#unexpected.size,
      recovered: this.recovered,
      falseConsistent: this.#falseConsistent,
      falseAlarm: this.#falseAlarm,
    });
  }

  /** A corrupt fault stored `made` for the key at the sink: a mismatch it explains. */
  corrupted(sink: string, key: string, made: string): void {
    const at = pair(sink, key);
    const set = setAt(this.#corruptions, at);
    set.add(made);
  }

  /** The ledger granted a claim on (sink, key) with this token to `holder`. */
  granted(sink: string, key: string, token: number, holder: string): void {
    const at = pair(sink, key);
    if (token > (this.#latestToken.get(at) ?? 0)) this.#latestToken.set(at, token);
    const mine = `${at}\u0000${holder}`;
    const set = setAt(this.#granted, mine);
    set.add(token);
  }

  /**
   * A write under `token` was stored at the sink (it returned, and no fault dropped it):
   * a fenced sink must refuse every later write under a lower token.
   */
  applied(sink: string, key: string, token: number): void {
    const at = pair(sink, key);
    if (token > (this.#appliedToken.get(at) ?? 0)) this.#appliedToken.set(at, token);
  }

  /** The key was removed from the sink (by repair): the sink may forget its tokens. */
  removed(sink: string, key: string): void {
    this.#appliedToken.delete(pair(sink, key));
    const set = setAt(this.#removedSince, sink);
    set.add(key);
  }

  /** A guard's writer reached the sink with this claim's token (what the sink did aside). */
  wrote(sink: string, key: string, token: number): void {
    this.#wrote.add(`${pair(sink, key)}\u0000${token}`);
  }

  /**
   * A receipt was stored: a `written` or `replayed` one must follow a write under its
   * claim that reached the sink; a final one marks its position done for the watermark.
   */
  /** A checkpoint a pass stored (`putCheckpoint` answered). */
  checkpointStored(checkpoint: ReconcileCheckpoint): void {
    this.#stored.set(
      checkpoint.sink,
      Math.max(this.#stored.get(checkpoint.sink) ?? 0, checkpoint.through),
    );
  }

  receipt(receipt: Receipt, step: number): void {
    const { sink, key, status, fencingToken } = receipt;
    if (
      (status === "written" || status === "replayed") &&
      fencingToken !== undefined &&
      !this.#wrote.has(`${pair(sink, key)}\u0000${fencingToken}`)
    ) {
      this.violate({
        kind: "lost",
        step,
        sink,
        key,
        message: `a ${status} receipt for ${key} at ${sink} (token ${fencingToken}), and no write under that claim reached the sink`,
      });
    }
    if (!isFinalStatus(status)) return;
    const set = setAt(this.#final, sink);
    set.add(receipt.position);
  }

  /** The highest token of a write stored at (sink, key) since it was last removed (0 when none). */
  appliedToken(sink: string, key: string): number {
    return this.#appliedToken.get(pair(sink, key)) ?? 0;
  }

  /** The highest token granted on (sink, key) so far (0 when none). */
  latestToken(sink: string, key: string): number {
    return this.#latestToken.get(pair(sink, key)) ?? 0;
  }

  /** A writer of `holder` is about to run with `token`: it must be one granted to it. */
  checkToken(sink: string, key: string, token: number, holder: string, step: number): void {
    if (this.#granted.get(`${pair(sink, key)}\u0000${holder}`)?.has(token) === true) return;
    this.violate({
      kind: "fencing",
      step,
      sink,
      key,
      message: `${holder} wrote ${key} to ${sink} with fencing token ${token}, which the ledger never granted it`,
    });
  }

  /** A watermark read or moved: it must never be below one seen before. */
  watermark(sink: string, value: number, step: number): void {
    const before = this.#watermarks.get(sink) ?? 0;
    if (value < before) {
      this.violate({
        kind: "watermark",
        step,
        sink,
        message: `the watermark of ${sink} moved back from ${before} to ${value}`,
      });
    }
    if (value > before) this.#watermarks.set(sink, value);
    // Every position up to a watermark has a final receipt at the sink.
    const from = (this.#checkedThrough.get(sink) ?? 0) + 1;
    if (value < from) return;
    const finals = this.#final.get(sink);
    for (let position = from; position <= value; position++) {
      if (finals?.has(position) === true) continue;
      this.violate({
        kind: "watermark",
        step,
        sink,
        message: `the watermark of ${sink} reached ${value}, past position ${position}, which has no final receipt there`,
      });
      break;
    }
    this.#checkedThrough.set(sink, value);
  }

  /**
   * What one sink holds now: never a key twice, never a key or content nobody made, and
   * never less than before unless a repair removed it.
   */
  checkHeld(sink: string, held: ReadonlyMap<string, Held>, step: number): void {
    const seen = setAt(this.#seenHeld, sink);
    const removed = this.#removedSince.get(sink);
    for (const key of seen) {
      if (held.has(key)) continue;
      seen.delete(key);
      if (removed?.has(key) === true) continue;
      this.violate({
        kind: "lost",
        step,
        sink,
        key,
        message: `${sink} held ${key} and no longer does, and nothing removed it`,
      });
    }
    removed?.clear();
    for (const key of held.keys()) seen.add(key);
    for (const [key, slot] of held) {
      if (slot.copies > 1) {
        this.violate({
          kind: "duplicated",
          step,
          sink,
          key,
          message: `${sink} holds ${key} ${slot.copies} times`,
        });
      }
      const expected = this.emitted.get(key);
      if (expected === undefined) {
        this.violate({
          kind: "unexpected",
          step,
          sink,
          key,
          message: `${sink} holds ${key}, which no producer emitted`,
        });
        continue;
      }
      const explained = this.#corruptions.get(pair(sink, key));
      for (const c of slot.checksums) {
        if (c === expected || explained?.has(c) === true) continue;
        this.violate({
          kind: "unexpected",
          step,
          sink,
          key,
          message: `${sink} holds ${key} with checksum ${c}: not the ledger's (${expected}) and not one an injected fault made`,
        });
        break;
      }
    }
  }

  /**
   * A reconciliation's verdict on each sink against what the sink held when it was read
   * (`snapshots`) and what the ledger holds (`entries`, every entry by key).
   */
  checkReport(
    report: ReconcileReport,
    snapshots: ReadonlyMap<string, ReadonlyMap<string, Held>>,
    entries: ReadonlyMap<string, LedgerEntry>,
    lagToleranceMs: number,
    step: number,
  ): void {
    const nowMs = Date.parse(report.generatedAt);
    for (const sinkReport of report.sinks) {
      this.#checkTrusted(sinkReport, step);
      const held = snapshots.get(sinkReport.name);
      if (sinkReport.error !== undefined || held === undefined) continue;
      this.#checkSinkReport(sinkReport, held, entries, report, nowMs, lagToleranceMs, step);
    }
  }

  /**
   * An incremental pass trusts only a checkpoint some pass stored (positions up to it are
   * skipped on its word).
   */
  #checkTrusted(sinkReport: SinkReport, step: number): void {
    const previous = sinkReport.checkpoint?.previous;
    if (
      sinkReport.checkpoint?.status === "trusted" &&
      previous !== undefined &&
      previous.through > (this.#stored.get(sinkReport.name) ?? 0)
    ) {
      // Positions up to it were skipped on the word of a checkpoint no pass stored.
      this.#falseConsistent++;
      this.violate(
        {
          kind: "false-consistent",
          step,
          sink: sinkReport.name,
          message: `reconcile trusted a checkpoint of ${sinkReport.name} at ${previous.through}; no pass stored one past ${this.#stored.get(sinkReport.name) ?? 0}`,
        },
        false,
      );
    }
  }

  /**
   * A checkpoint an incremental pass stored never passes an entry the model knows was not
   * matched when the sink was read (late ones included): the next pass would never check it.
   */
  #checkCheckpoint(
    sinkReport: SinkReport,
    expected: ReadonlyMap<string, string>,
    entries: ReadonlyMap<string, LedgerEntry>,
    step: number,
  ): void {
    const stored = sinkReport.checkpoint?.stored;
    if (stored === undefined) return;
    let first: LedgerEntry | undefined;
    for (const [key, kind] of expected) {
      const entry = entries.get(key);
      if (kind === "matched" || entry === undefined) continue;
      if (first === undefined || entry.position < first.position) first = entry;
    }
    if (first === undefined || stored.through < first.position) return;
    this.#falseConsistent++;
    this.violate(
      {
        kind: "false-consistent",
        step,
        sink: sinkReport.name,
        key: first.envelope.key,
        message: `reconcile moved the checkpoint of ${sinkReport.name} to ${stored.through}, past ${first.envelope.key} at ${first.position}, which the model knows is ${expected.get(first.envelope.key)}`,
      },
      false,
    );
  }

  #checkSinkReport(
    sinkReport: SinkReport,
    held: ReadonlyMap<string, Held>,
    entries: ReadonlyMap<string, LedgerEntry>,
    report: ReconcileReport,
    nowMs: number,
    lagToleranceMs: number,
    step: number,
  ): void {
    const sink = sinkReport.name;
    const expected = new Map<string, string>();
    // An incremental pass checks each sink from its own checkpoint on.
    const from = sinkReport.checkpoint?.from ?? report.range.from;
    for (const entry of entries.values()) {
      if (entry.position < from || entry.position > report.range.to) continue;
      const key = entry.envelope.key;
      const slot = held.get(key);
      let kind = "matched";
      if (slot === undefined) {
        const age = Math.max(0, nowMs - Date.parse(entry.appendedAt));
        kind = age <= lagToleranceMs ? "missing-late" : "missing-lost";
      } else if (slot.checksums.some((c) => c !== entry.envelope.checksum)) kind = "mismatched";
      else if (slot.copies > 1) kind = "duplicate";
      expected.set(key, kind);
    }
    for (const key of held.keys()) if (!entries.has(key)) expected.set(key, "unexpected");
    this.#checkCheckpoint(sinkReport, expected, entries, step);
    const troubled = [...expected.values()].some((k) => k !== "matched" && k !== "missing-late");
    if (sinkReport.consistent && troubled) {
      this.#falseConsistent++;
      const [key, kind] = [...expected].find(
        ([, k]) => k !== "matched" && k !== "missing-late",
      ) as [string, string];
      this.violate(
        {
          kind: "false-consistent",
          step,
          sink,
          key,
          message: `reconcile said ${sink} is consistent; the model knows ${key} is ${kind}`,
        },
        false,
      );
    }
    if (sinkReport.truncated) return;
    const listed = new Set<string>();
    for (const finding of sinkReport.findings) {
      listed.add(finding.key);
      const known = expected.get(finding.key) ?? "absent from the ledger's range";
      if (known === finding.kind) continue;
      const missingBoth = known.startsWith("missing") && finding.kind.startsWith("missing");
      if (!missingBoth) this.#falseAlarm++;
      this.violate(
        {
          kind: missingBoth ? "late-lost" : "false-alarm",
          step,
          sink,
          key: finding.key,
          message: `reconcile found ${finding.key} ${finding.kind} at ${sink}; the model knows it is ${known}`,
        },
        false,
      );
    }
    for (const [key, kind] of expected) {
      if (kind === "matched" || listed.has(key)) continue;
      this.violate(
        {
          kind: "missed-finding",
          step,
          sink,
          key,
          message: `reconcile did not list ${key} at ${sink}, which the model knows is ${kind}`,
        },
        false,
      );
    }
  }
}
