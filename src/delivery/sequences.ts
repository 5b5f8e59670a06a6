/**
 * A producer's sequence numbers: reserved from the ledger a block at a time (so numbers
 * survive restarts) and handed out in order; concurrent emits share one reservation.
 * Numbers left in a block when the process stops are skipped, never reused.
 *
 * @module
 */

import type { Ledger } from "../ledger/types.js";

/** The sequence numbers of one producer. */
export class SequenceBlocks {
  readonly #ledger: Ledger;
  readonly #producer: string;
  readonly #block: number;
  #next = 0;
  #end = 0;
  #reserving: Promise<void> | undefined;

  constructor(ledger: Ledger, producer: string, block: number) {
    this.#ledger = ledger;
    this.#producer = producer;
    this.#block = block;
  }

  /** The next `count` numbers, in order; reserves a block (or more) when these run out. */
  async take(count: number): Promise<number[]> {
    const out: number[] = [];
    while (out.length < count) {
      if (this.#next < this.#end) {
        out.push(this.#next++);
        continue;
      }
      if (this.#reserving === undefined) {
        this.#reserving = this.#ledger
          .reserveSequence(this.#producer, Math.max(this.#block, count - out.length))
          .then((r) => {
            this.#next = r.first;
            this.#end = r.first + r.count;
          })
          .finally(() => {
            this.#reserving = undefined;
          });
      }
      await this.#reserving;
    }
    return out;
  }
}
