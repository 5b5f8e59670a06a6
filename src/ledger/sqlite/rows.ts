/**
 * `SqliteLedger`'s entry rows as the core verifies them: a `StoredEntry` (envelope text,
 * entry hash, the columns beside it) from a row as an object or as an array (`raw`).
 *
 * @module
 */

import type { StoredEntry } from "../read-checks.js";

/** An entry row as better-sqlite3 returns it, keyed by column name. */
export interface EntryRow {
  position: number;
  appended_at: string;
  envelope: string;
  entry_hash?: string;
  key: string;
  id: string;
  producer: string;
  stream: string;
  checksum: string;
}

/** The columns of `ENTRY_COLUMNS` (sql.ts), in order, as a raw row (an array: cheaper than an object). */
export type RawEntryRow = [number, string, string, string, string, string, string, string, string];

/** A raw row as the core verifies it (see {@link storedOf}). */
export function storedOfRaw(row: RawEntryRow): StoredEntry {
  return {
    position: row[0],
    appendedAt: row[1],
    envelope: row[2],
    entryHash: row[3],
    columns: { key: row[4], id: row[5], producer: row[6], stream: row[7], checksum: row[8] },
  };
}

/** A row as the core verifies it: the envelope text, its entry hash, the columns beside it. */
export function storedOf(row: EntryRow): StoredEntry {
  return {
    position: row.position,
    appendedAt: row.appended_at,
    envelope: row.envelope,
    entryHash: row.entry_hash,
    columns: row,
  };
}
