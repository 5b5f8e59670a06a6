/**
 * The position and id of the entries a ledger appended or read back verified lately, by
 * key: what a receipt's entry check needs, so that storing the receipts of a batch just
 * appended (or just read) does not read its entries again. Entries never change once
 * appended, so what is known stays true; the memo is bounded (the oldest noted is
 * forgotten first) and only spares a read: a key it does not hold is looked up.
 *
 * @module
 */

import type { LedgerEntry } from "./types.js";

/** How many keys a ledger keeps: a few batches' worth. */
export const KNOWN_ENTRIES = 8192;

/** Position and id of an entry. */
export interface KnownEntry {
  readonly position: number;
  readonly id: string;
}

/** A bounded memo of key → position and id: a ring of keys, the oldest overwritten first. */
export class KnownEntries {
  readonly #limit: number;
  readonly #byKey = new Map<string, KnownEntry>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(limit: number = KNOWN_ENTRIES) {
    this.#limit = limit;
    this.#ring = new Array(limit).fill(undefined);
  }

  /** Notes an entry (checked already). */
  note(entry: LedgerEntry): void {
    const key = entry.envelope.key;
    if (this.#byKey.has(key)) return;
    const oldest = this.#ring[this.#next];
    if (oldest !== undefined) this.#byKey.delete(oldest);
    this.#ring[this.#next] = key;
    this.#next = this.#next + 1 === this.#limit ? 0 : this.#next + 1;
    this.#byKey.set(key, { position: entry.position, id: entry.envelope.id });
  }

  /** The entry of `key` if noted. */
  get(key: string): KnownEntry | undefined {
    return this.#byKey.get(key);
  }

  /** How many keys are noted. */
  get size(): number {
    return this.#byKey.size;
  }
}
