/**
 * A guard's watermark: the positions it finished above the watermark, folded into one
 * advance at a time. Only ever moves forward, to the highest position below which every
 * entry has a final receipt at the sink; positions other guards of the sink finished are
 * read from the ledger's receipts.
 *
 * @module
 */

import type { Ledger } from "../ledger/types.js";
import { isFinalStatus } from "../ledger/validate.js";

/** The watermark of one sink as one guard knows it, and the positions it has yet to fold in. */
export class WatermarkFold {
  /** The watermark as this guard last saw it; undefined before its first read. */
  watermark: number | undefined;
  readonly #ledger: Ledger;
  readonly #sink: string;
  /** Positions done at this sink above the watermark, not yet folded into it. */
  readonly #done = new Set<number>();
  #advancing: Promise<void> | undefined;
  #nextAdvance: Promise<void> | undefined;
  #wantCatchUp = false;

  constructor(ledger: Ledger, sink: string) {
    this.#ledger = ledger;
    this.#sink = sink;
  }

  /** The ledger says the watermark is `w`: kept if it is higher than what this guard saw. */
  saw(w: number): void {
    this.watermark = Math.max(this.watermark ?? 0, w);
  }

  /**
   * Folds a final receipt at `position` into the watermark (serialized per guard). Other
   * guards of the sink may have delivered the positions in between: when this guard's own
   * record cannot move the watermark, it reads the ledger's receipts, one position at a
   * time (`catchUp` reads them even when it has no record of its own waiting).
   */
  advance(position: number | undefined, catchUp = false): Promise<void> {
    if (position !== undefined) this.#done.add(position);
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
      if (done.delete(w + 1)) {
        w++;
        continue;
      }
      if (done.size === 0 && !catchUp) break;
      let final = false;
      for await (const receipt of ledger.scanReceipts(name, { from: w + 1, to: w + 1 })) {
        if (isFinalStatus(receipt.status)) final = true;
      }
      if (!final) break;
      w++;
    }
    for (const p of done) if (p <= w) done.delete(p);
    this.watermark = w > start ? await ledger.advanceWatermark(name, w) : w;
  }
}
