/**
 * A guard's watermark: the positions it finished above the watermark, folded into one
 * advance at a time. Only ever moves forward, to the highest position below which every
 * entry has a final receipt at the sink; positions other guards of the sink finished are
 * read from the ledger's receipts.
 *
 * The positions finished above the watermark are kept as runs of consecutive positions
 * ({@link PositionRuns}): an entry that stays undelivered (a poison entry, a key whose
 * claim another process holds) pins the watermark, and every position finished after it
 * joins one run, so the guard's memory grows with the gaps (the work in flight and the
 * stuck entries), never with the positions behind a stuck one.
 *
 * @module
 */

import type { Ledger } from "../ledger/types.js";
import { isFinalStatus } from "../ledger/validate.js";

/**
 * A set of positions as sorted, disjoint, non-touching runs `[start, end]`. Adding the
 * next position of a run extends it in place; memory is two numbers per run, whatever the
 * number of positions (up to `Number.MAX_SAFE_INTEGER`).
 */
export class PositionRuns {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  /** How many runs. */
  get runs(): number {
    return this.#starts.length;
  }

  /** True when no position is held. */
  get empty(): boolean {
    return this.#starts.length === 0;
  }

  /** Whether `position` is held. */
  has(position: number): boolean {
    const i = this.#runAtOrBefore(position);
    return i >= 0 && (this.#ends[i] as number) >= position;
  }

  /** Adds `position` (an integer from 1); merging runs it joins. */
  add(position: number): void {
    const starts = this.#starts;
    const ends = this.#ends;
    const i = this.#runAtOrBefore(position);
    if (i >= 0 && (ends[i] as number) >= position) return;
    const joinsBefore = i >= 0 && (ends[i] as number) === position - 1;
    const joinsAfter = i + 1 < starts.length && (starts[i + 1] as number) === position + 1;
    if (joinsBefore && joinsAfter) {
      ends[i] = ends[i + 1] as number;
      starts.splice(i + 1, 1);
      ends.splice(i + 1, 1);
    } else if (joinsBefore) {
      ends[i] = position;
    } else if (joinsAfter) {
      starts[i + 1] = position;
    } else {
      starts.splice(i + 1, 0, position);
      ends.splice(i + 1, 0, position);
    }
  }

  /**
   * When a run starts at `position` (or holds it): removes it, with every run before, and
   * returns its last position; else undefined.
   */
  takeRunFrom(position: number): number | undefined {
    const i = this.#runAtOrBefore(position);
    if (i < 0 || (this.#ends[i] as number) < position) return undefined;
    const end = this.#ends[i] as number;
    this.#starts.splice(0, i + 1);
    this.#ends.splice(0, i + 1);
    return end;
  }

  /** Removes every position up to `position`. */
  dropThrough(position: number): void {
    const starts = this.#starts;
    const ends = this.#ends;
    let n = 0;
    while (n < starts.length && (ends[n] as number) <= position) n++;
    starts.splice(0, n);
    ends.splice(0, n);
    if (starts.length > 0 && (starts[0] as number) <= position) starts[0] = position + 1;
  }

  /** Index of the last run starting at or before `position`; -1 when none. */
  #runAtOrBefore(position: number): number {
    const starts = this.#starts;
    const last = starts.length - 1;
    // Most additions extend the last run: checked before the search.
    if (last >= 0 && (starts[last] as number) <= position) return last;
    let lo = 0;
    let hi = last;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((starts[mid] as number) <= position) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}

/** The watermark of one sink as one guard knows it, and the positions it has yet to fold in. */
export class WatermarkFold {
  /** The watermark as this guard last saw it; undefined before its first read. */
  watermark: number | undefined;
  readonly #ledger: Ledger;
  readonly #sink: string;
  /** Positions done at this sink above the watermark, not yet folded into it. */
  readonly #done = new PositionRuns();
  #advancing: Promise<void> | undefined;
  #nextAdvance: Promise<void> | undefined;
  #wantCatchUp = false;

  constructor(ledger: Ledger, sink: string) {
    this.#ledger = ledger;
    this.#sink = sink;
  }

  /** How many runs of finished positions wait above the watermark (the gaps it waits on). */
  get pendingRuns(): number {
    return this.#done.runs;
  }

  /** The ledger says the watermark is `w`: kept if it is higher than what this guard saw. */
  saw(w: number): void {
    this.watermark = Math.max(this.watermark ?? 0, w);
  }

  /**
   * Folds a final receipt at `position` (or at each of many) into the watermark (serialized per guard). Other
   * guards of the sink may have delivered the positions in between: when this guard's own
   * record cannot move the watermark, it reads the ledger's receipts, one position at a
   * time (`catchUp` reads them even when it has no record of its own waiting).
   */
  advance(position: number | readonly number[] | undefined, catchUp = false): Promise<void> {
    if (typeof position === "number") this.#done.add(position);
    else if (position !== undefined) for (const p of position) this.#done.add(p);
    if (catchUp) this.#wantCatchUp = true;
    // One run at a time; callers arriving during a run share the next one, which folds
    // everything they added: under load the watermark is written once per run, not per
    // delivery.
    if (this.#advancing === undefined) {
      this.#advancing = this.#fold().finally(() => {
        this.#advancing = undefined;
      });
      return this.#advancing;
    }
    this.#nextAdvance ??= this.#advancing
      .catch(() => undefined)
      .then(() => {
        this.#nextAdvance = undefined;
        return this.advance(undefined);
      });
    return this.#nextAdvance;
  }

  async #fold(): Promise<void> {
    const ledger = this.#ledger;
    const name = this.#sink;
    const done = this.#done;
    const catchUp = this.#wantCatchUp;
    this.#wantCatchUp = false;
    let w = this.watermark ?? (await ledger.getWatermark(name));
    const start = w;
    for (let steps = 0; steps < 100_000; steps++) {
      const end = done.takeRunFrom(w + 1);
      if (end !== undefined) {
        w = end;
        continue;
      }
      if (done.empty && !catchUp) break;
      let final = false;
      for await (const receipt of ledger.scanReceipts(name, { from: w + 1, to: w + 1 })) {
        if (isFinalStatus(receipt.status)) final = true;
      }
      if (!final) break;
      w++;
    }
    done.dropThrough(w);
    this.watermark = w > start ? await ledger.advanceWatermark(name, w) : w;
  }
}
