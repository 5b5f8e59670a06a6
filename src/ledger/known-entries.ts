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

/** A bounded memo of key → position and id. */
export class KnownEntries {
  readonly #limit: number;
  readonly #byKey = new Map<string, KnownEntry>();

  constructor(limit: number = KNOWN_ENTRIES) {
    this.#limit = limit;
  }

  /** Notes an entry (checked already). */
  note(entry: LedgerEntry): void {
    const key = entry.envelope.key;
    if (this.#byKey.has(key)) return;
    this.#byKey.set(key, { position: entry.position, id: entry.envelope.id });
    if (this.#byKey.size > this.#limit) {
      this.#byKey.delete(this.#byKey.keys().next().value as string);
    }
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
