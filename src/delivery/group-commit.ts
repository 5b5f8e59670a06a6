/**
 * Group commit of a producer's single emits: an `emit` that arrives while an append is in
 * flight waits for it and goes into the next append with every other that arrived
 * meanwhile, so N concurrent emits cost about two ledger appends (two fsyncs, two
 * transactions), not N. The first emit is never held back: alone, it is appended at once.
 *
 * An append is atomic, so a group that fails (one envelope's key clashes with an entry, or
 * the ledger is unavailable) is appended again envelope by envelope: each emit gets its own
 * answer, as if it had been appended alone.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import type { AppendedEntry, Ledger } from "../ledger/types.js";
import { MAX_BATCH } from "../ledger/validate.js";

interface Waiting {
  readonly envelope: Envelope;
  readonly resolve: (appended: AppendedEntry) => void;
  readonly reject: (error: unknown) => void;
}

/** The appends of one producer's single emits, grouped. */
export class GroupCommit {
  readonly #ledger: Ledger;
  #waiting: Waiting[] = [];
  #running = false;
  /** Appends made, and envelopes they carried (for tests and the debug log). */
  readonly stats = { appends: 0, envelopes: 0 };

  constructor(ledger: Ledger) {
    this.#ledger = ledger;
  }

  /** Appends `envelope` with the others waiting; resolves with its entry once durable. */
  append(envelope: Envelope): Promise<AppendedEntry> {
    return new Promise<AppendedEntry>((resolve, reject) => {
      this.#waiting.push({ envelope, resolve, reject });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        const group = this.#waiting.splice(0, MAX_BATCH);
        await this.#commit(group);
      }
    } finally {
      this.#running = false;
    }
  }

  async #commit(group: readonly Waiting[]): Promise<void> {
    this.stats.appends++;
    this.stats.envelopes += group.length;
    try {
      const { results } = await this.#ledger.append(group.map((w) => w.envelope));
      group.forEach((w, i) => {
        w.resolve(results[i] as AppendedEntry);
      });
      return;
    } catch (error) {
      if (group.length === 1) {
        (group[0] as Waiting).reject(error);
        return;
      }
    }
    // The group was refused as a whole: each envelope alone, in order, gets its own answer.
    for (const w of group) {
      this.stats.appends++;
      this.stats.envelopes++;
      try {
        const { results } = await this.#ledger.append([w.envelope]);
        w.resolve(results[0] as AppendedEntry);
      } catch (error) {
        w.reject(error);
      }
    }
  }
}
