/**
 * What the SQL adapters (`SqliteLedger`, `PostgresLedger`) share about entry rows: the
 * `StoredEntry` the core verifies (envelope text, entry hash, the columns beside it) from a
 * row as an object or as an array, and which scan statement a query picks, with its
 * filter values.
 *
 * @module
 */

import type { EntryScan } from "./base.js";
import type { StoredEntry } from "./read-checks.js";

/**
 * An entry row keyed by column name. `P` is how the driver gives the position: a number
 * (better-sqlite3), or a number or a string (node-postgres, for a `bigint`).
 */
export interface EntryRow<P extends number | string = number | string> {
  position: P;
  appended_at: string;
  envelope: string;
  entry_hash?: string;
  key: string;
  id: string;
  producer: string;
  stream: string;
  checksum: string;
}

/**
 * The entry columns (each adapter's `sql.ts`), in order, as an array row (cheaper than an
 * object): position, appended_at, envelope, entry_hash, key, id, producer, stream, checksum.
 */
export type RawEntryRow<P extends number | string = number | string> = [
  P,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];

/**
 * An array row as the core verifies it (see {@link storedOf}). `position` is the row's, as
 * the driver gave it, unless the adapter converts it (node-postgres' `bigint` strings): a
 * position of another type is the core's to refuse, never this function's to mend.
 */
export function storedOfRaw(row: RawEntryRow, position: number = row[0] as number): StoredEntry {
  return {
    position,
    appendedAt: row[1],
    envelope: row[2],
    entryHash: row[3],
    columns: { key: row[4], id: row[5], producer: row[6], stream: row[7], checksum: row[8] },
  };
}

/** A row as the core verifies it: the envelope text, its entry hash, the columns beside it. */
export function storedOf(row: EntryRow, position: number = row.position as number): StoredEntry {
  return {
    position,
    appendedAt: row.appended_at,
    envelope: row.envelope,
    entryHash: row.entry_hash,
    columns: row,
  };
}

/** An adapter's four scan statements: by position only, or also by stream, producer, both. */
export interface ScanStatements<S> {
  readonly scan: S;
  readonly scanStream: S;
  readonly scanProducer: S;
  readonly scanBoth: S;
}

/**
 * The statement a scan runs, and the filter values it binds after `from` and `to`
 * (the producer, then the stream, each when asked for).
 */
export function scanStatement<S>(
  scan: EntryScan,
  statements: ScanStatements<S>,
): { statement: S; filters: string[] } {
  const statement =
    scan.producer === undefined
      ? scan.stream === undefined
        ? statements.scan
        : statements.scanStream
      : scan.stream === undefined
        ? statements.scanProducer
        : statements.scanBoth;
  const filters: string[] = [];
  if (scan.producer !== undefined) filters.push(scan.producer);
  if (scan.stream !== undefined) filters.push(scan.stream);
  return { statement, filters };
}
