/**
 * Incremental passes: where each sink's pass starts (after its checkpoint, when the ledger
 * still agrees with it), the running digest of the positions a pass scans, and the
 * checkpoint a pass leaves. Internal.
 *
 * A checkpoint is trusted while the entry at its `through` is still its `key` with its
 * `checksum`; a pass that scans the whole prefix (a sweep, or any pass from position 1)
 * also recomputes the prefix digest and reports a checkpoint whose digest no longer
 * matches. The checkpoint moves to the sink's consistency window: every entry up to it
 * matched, so a late, lost or altered entry holds it (and the next pass starts there).
 *
 * @module
 */

import { xxh64Text } from "../checksum/xxhash.js";
import { EMPTY_PREFIX_DIGEST } from "../ledger/checkpoints.js";
import type { Ledger, LedgerEntry, ReconcileCheckpoint } from "../ledger/types.js";
import { entryAt } from "./digest-compare.js";
import type { CheckpointReport, ReconcileSink, SinkReport } from "./types.js";

/** Where a sink's pass starts, and why. */
export interface Start {
  readonly status: CheckpointReport["status"];
  readonly from: number;
  readonly previous: ReconcileCheckpoint | undefined;
  readonly reason?: string | undefined;
}

const words = (digest: string): [number, number] => [
  Number.parseInt(digest.slice(9, 17), 16),
  Number.parseInt(digest.slice(17, 25), 16),
];

const hex8 = (word: number): string => word.toString(16).padStart(8, "0");

/** The prefix digest of one entry's row, as two 32-bit words. */
function rowWords(entry: LedgerEntry): [number, number] {
  const h = xxh64Text(`${entry.envelope.key}\n${entry.envelope.checksum}`);
  return [Number.parseInt(h.slice(0, 8), 16), Number.parseInt(h.slice(8, 16), 16)];
}

/**
 * Running sums (mod 2^32, per word) of the rows of the positions a pass scans, from
 * `from` on, one pair per position: the digest of any prefix of them is then a lookup.
 * Eight bytes per entry scanned.
 */
export class PrefixSums {
  readonly #hi: Uint32Array;
  readonly #lo: Uint32Array;
  #count = 0;

  constructor(
    readonly from: number,
    entries: number,
  ) {
    this.#hi = new Uint32Array(Math.max(0, entries));
    this.#lo = new Uint32Array(Math.max(0, entries));
  }

  /** The next position's entry, in position order. */
  add(entry: LedgerEntry): void {
    const i = this.#count;
    if (i >= this.#hi.length || entry.position !== this.from + i) return;
    const [hi, lo] = rowWords(entry);
    this.#hi[i] = ((i === 0 ? 0 : (this.#hi[i - 1] as number)) + hi) >>> 0;
    this.#lo[i] = ((i === 0 ? 0 : (this.#lo[i - 1] as number)) + lo) >>> 0;
    this.#count++;
  }

  /** Forgets what was added (a pass that starts again). */
  reset(): void {
    this.#count = 0;
  }

  /** Positions added: `from` to `from + count - 1`. */
  get count(): number {
    return this.#count;
  }

  /**
   * `base` (the digest of the positions before `from`) extended by the rows of `from` to
   * `through`; undefined when those were not all scanned.
   */
  extend(base: string, through: number): string | undefined {
    const n = through - this.from + 1;
    if (n <= 0) return base;
    if (n > this.#count) return undefined;
    const [hi, lo] = words(base);
    return `xxh64sum:${hex8((hi + (this.#hi[n - 1] as number)) >>> 0)}${hex8((lo + (this.#lo[n - 1] as number)) >>> 0)}`;
  }
}

/**
 * Where the pass of `sink` starts: after its checkpoint when it has one the ledger still
 * agrees with, else at position 1.
 */
export async function startOf(
  ledger: Ledger,
  sink: ReconcileSink,
  previous: ReconcileCheckpoint | undefined,
  head: number,
  sweep: boolean,
): Promise<Start> {
  const full = (status: Start["status"], reason?: string): Start => ({
    status,
    from: 1,
    previous,
    ...(reason === undefined ? {} : { reason }),
  });
  if (previous !== undefined) {
    const distrust = await distrusted(ledger, previous, head);
    if (distrust !== undefined) return full("untrusted", distrust);
  }
  if (sweep) return full("sweep");
  if (sink.digest !== undefined && sink.observe === undefined) return full("whole");
  if (previous === undefined) return full("none");
  return { status: "trusted", from: previous.through + 1, previous };
}

/** Why the ledger no longer agrees with a checkpoint, or undefined when it does. */
async function distrusted(
  ledger: Ledger,
  checkpoint: ReconcileCheckpoint,
  head: number,
): Promise<string | undefined> {
  if (checkpoint.through > head) {
    return `it verified through position ${checkpoint.through}, past the ledger's head (${head})`;
  }
  if (checkpoint.through === 0) return undefined;
  const entry = await entryAt(ledger, checkpoint.through);
  if (
    entry === undefined ||
    entry.envelope.key !== checkpoint.key ||
    entry.envelope.checksum !== checkpoint.checksum
  ) {
    return `the entry at position ${checkpoint.through} is no longer the one it verified (${JSON.stringify(checkpoint.key)})`;
  }
  return undefined;
}

/**
 * After a pass from position 1: whether the previous checkpoint's prefix digest matches
 * the entries just scanned (a reason when it does not).
 */
export function prefixMismatch(start: Start, sums: PrefixSums): string | undefined {
  const previous = start.previous;
  if (start.from !== 1 || previous === undefined || previous.through === 0) return undefined;
  const digest = sums.extend(EMPTY_PREFIX_DIGEST, previous.through);
  if (digest === undefined || digest === previous.digest) return undefined;
  return `its digest of entries 1 to ${previous.through} (${previous.digest}) no longer matches the ledger's (${digest})`;
}

/**
 * The checkpoint a pass leaves for a sink (undefined: none to store, the sink could not
 * be read or nothing moved).
 */
export async function nextCheckpoint(
  ledger: Ledger,
  start: Start,
  report: SinkReport,
  sums: PrefixSums,
  at: string,
): Promise<ReconcileCheckpoint | undefined> {
  if (report.error !== undefined) return undefined;
  // A key the ledger never emitted has no position to hold the checkpoint at: it holds
  // it where the pass started, so that the next pass reads that slice again until the row
  // is removed (a sink that reads back by range would never show it again otherwise).
  const through =
    report.counts.unexpected > 0
      ? Math.min(report.window.position, start.from - 1)
      : report.window.position;
  const trusted = start.status === "trusted" && start.previous !== undefined;
  if (trusted && through <= (start.previous as ReconcileCheckpoint).through) return undefined;
  const base = trusted ? (start.previous as ReconcileCheckpoint).digest : EMPTY_PREFIX_DIGEST;
  const digest = sums.extend(base, through);
  if (digest === undefined) return undefined;
  const sweptAt = start.from === 1 ? at : start.previous?.sweptAt;
  const swept = sweptAt === undefined ? {} : { sweptAt };
  if (through === 0) return { sink: report.name, through: 0, at, digest, ...swept };
  const boundary = await entryAt(ledger, through);
  if (boundary === undefined) return undefined;
  return {
    sink: report.name,
    through,
    at,
    key: boundary.envelope.key,
    checksum: boundary.envelope.checksum,
    digest,
    ...swept,
  };
}

function sameCheckpoint(
  a: ReconcileCheckpoint | undefined,
  b: ReconcileCheckpoint | undefined,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.through === b.through &&
    a.at === b.at &&
    a.digest === b.digest &&
    a.key === b.key &&
    a.checksum === b.checksum &&
    a.sweptAt === b.sweptAt
  );
}

/**
 * Stores `next` unless another pass changed the sink's checkpoint since this one read
 * it (a sweep that moved it back over old drift must not be overwritten by a pass that
 * started before it): true when stored. The store is a compare-and-set in the ledger
 * (`putCheckpoint`'s `expected`), so of two passes finishing at the same instant on one
 * checkpoint, one stores and the other does not.
 */
export async function storeCheckpoint(
  ledger: Ledger,
  start: Start,
  next: ReconcileCheckpoint,
): Promise<boolean> {
  const current = await ledger.getCheckpoint(next.sink);
  if (!sameCheckpoint(current, start.previous)) return false;
  // Compare-and-set against what the pass began from: another pass that stored its own
  // since (after the read above) wins, and this one stores nothing.
  const stored = await ledger.putCheckpoint(next, { expected: current ?? null });
  return stored !== false;
}
