/**
 * The SQLite schema of the ledger and its versioned migrations: the DDL of each version
 * (or a step that runs statements of its own), the version read from `PRAGMA user_version`,
 * and the migration run at open.
 *
 * Promises: migrations run in one write transaction; a database made by a newer sinkproof
 * is refused (`database_too_new`), untouched. A released migration is never edited: the
 * next one is added.
 *
 * @module
 */

import { rowHash } from "../../checksum/row-hash.js";
import { LedgerError } from "../../errors.js";
import { backfilledEntryHash } from "../read-checks.js";
import { type EntryRow, storedOf } from "../sql-rows.js";
import type { Database } from "./driver.js";

/**
 * The schema version this code writes (`PRAGMA user_version`); a database with a higher
 * one is refused with `database_too_new`.
 *
 * @example
 * ```ts
 * import { SQLITE_SCHEMA_VERSION } from "sinkproof/sqlite";
 * db.pragma("user_version", { simple: true }) <= SQLITE_SCHEMA_VERSION; // this version reads it
 * ```
 */
export const SQLITE_SCHEMA_VERSION = 6;

/**
 * Migrations by the version they lead to: SQL, or a step that runs statements of its own.
 * Never edit a released one: add the next.
 */
const MIGRATIONS: readonly (string | ((db: Database, path: string) => void))[] = [
  "",
  `
  CREATE TABLE sinkproof_entries (
    position INTEGER PRIMARY KEY CHECK (position >= 1),
    key TEXT NOT NULL UNIQUE,
    id TEXT NOT NULL UNIQUE,
    producer TEXT NOT NULL,
    stream TEXT NOT NULL,
    checksum TEXT NOT NULL,
    appended_at TEXT NOT NULL,
    envelope TEXT NOT NULL
  ) STRICT;
  CREATE TABLE sinkproof_sequences (
    producer TEXT PRIMARY KEY,
    next INTEGER NOT NULL CHECK (next >= 0)
  ) STRICT;
  CREATE TABLE sinkproof_receipts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    key TEXT NOT NULL,
    position INTEGER NOT NULL REFERENCES sinkproof_entries (position),
    final INTEGER NOT NULL CHECK (final IN (0, 1)),
    receipt TEXT NOT NULL
  ) STRICT;
  CREATE INDEX sinkproof_receipts_by_key ON sinkproof_receipts (sink, key, seq);
  CREATE INDEX sinkproof_receipts_by_position ON sinkproof_receipts (sink, position, seq);
  CREATE TABLE sinkproof_watermarks (
    sink TEXT PRIMARY KEY,
    position INTEGER NOT NULL CHECK (position >= 0)
  ) STRICT;
  CREATE TABLE sinkproof_claims (
    sink TEXT NOT NULL,
    key TEXT NOT NULL,
    owner TEXT NOT NULL,
    token TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (sink, key)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE sinkproof_audit (
    idx INTEGER PRIMARY KEY CHECK (idx >= 1),
    hash TEXT NOT NULL,
    record TEXT NOT NULL
  ) STRICT;
  `,
  // 2: the entry hash of every entry (see `entryHash`), so that a read finds a change to
  // any field, not only to the payload. Rows already there get theirs if they verify; a
  // row that does not keeps '' and reads as damaged at its position.
  (db, path) => {
    db.exec("ALTER TABLE sinkproof_entries ADD COLUMN entry_hash TEXT NOT NULL DEFAULT ''");
    const page = db.prepare(
      "SELECT position, appended_at, envelope, key, id, producer, stream, checksum FROM sinkproof_entries WHERE position > ? ORDER BY position LIMIT 1000",
    );
    const set = db.prepare("UPDATE sinkproof_entries SET entry_hash = ? WHERE position = ?");
    const site = { file: path, table: "sinkproof_entries" };
    for (let after = 0; ; ) {
      const rows = page.all(after) as EntryRow<number>[];
      for (const row of rows) set.run(backfilledEntryHash(storedOf(row), site), row.position);
      if (rows.length < 1000) return;
      after = (rows.at(-1) as EntryRow<number>).position;
    }
  },
  // 3: fencing tokens (claims are kept, released, after release; a ledger-wide counter
  // keeps tokens growing even if claim rows were deleted) and durable per-sink freezes.
  `
  ALTER TABLE sinkproof_claims ADD COLUMN fencing_token INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE sinkproof_claims ADD COLUMN released INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE sinkproof_fencing (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL CHECK (last >= 0)
  ) STRICT;
  INSERT INTO sinkproof_fencing (id, last) VALUES (1, 0);
  CREATE TABLE sinkproof_freezes (
    sink TEXT NOT NULL,
    origin TEXT NOT NULL,
    audit INTEGER NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (sink, origin)
  ) STRICT, WITHOUT ROWID;
  `,
  // 4: reconciliation checkpoints, one per sink (the record as JSON text).
  `
  CREATE TABLE sinkproof_checkpoints (
    sink TEXT PRIMARY KEY,
    checkpoint TEXT NOT NULL
  ) STRICT, WITHOUT ROWID;
  `,
  // 5: each entry's row hash for digest mode (`rowHash(key, checksum)`: its place in the
  // hash space and its two digest words), indexed, so that bucket digests are one range
  // scan of the index. Rows already there get theirs here.
  (db) => {
    db.exec(`
      ALTER TABLE sinkproof_entries ADD COLUMN row_hash INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE sinkproof_entries ADD COLUMN row_hi INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE sinkproof_entries ADD COLUMN row_lo INTEGER NOT NULL DEFAULT 0;
    `);
    const page = db.prepare(
      "SELECT position, key, checksum FROM sinkproof_entries WHERE position > ? ORDER BY position LIMIT 1000",
    );
    const set = db.prepare(
      "UPDATE sinkproof_entries SET row_hash = ?, row_hi = ?, row_lo = ? WHERE position = ?",
    );
    for (let after = 0; ; ) {
      const rows = page.all(after) as { position: number; key: string; checksum: string }[];
      for (const row of rows) {
        const { hash, hi, lo } = rowHash(row.key, row.checksum);
        set.run(hash, hi, lo, row.position);
      }
      if (rows.length < 1000) break;
      after = (rows.at(-1) as { position: number }).position;
    }
    db.exec(
      "CREATE INDEX sinkproof_entries_by_row_hash ON sinkproof_entries (row_hash, position, row_hi, row_lo)",
    );
  },
  // 6: consistency-window history, each sink's most recent samples (each as JSON text), in
  // the order recorded.
  `
  CREATE TABLE sinkproof_windows (
    seq INTEGER PRIMARY KEY,
    sink TEXT NOT NULL,
    sample TEXT NOT NULL
  ) STRICT;
  CREATE INDEX sinkproof_windows_by_sink ON sinkproof_windows (sink, seq);
  `,
];

/** The database's schema version; a newer one than this code is `database_too_new`. */
export function refuseNewer(db: Database, path: string): number {
  const version = Number(db.pragma("user_version", { simple: true }));
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new LedgerError(
      "database_too_new",
      `${path} has ledger schema version ${version}, made by a newer sinkproof; this one reads up to ${SQLITE_SCHEMA_VERSION}`,
    );
  }
  return version;
}

/** Runs the migrations the database lacks, in one transaction; refuses a newer schema. */
export function migrate(db: Database, path: string): void {
  const run = db.transaction(() => {
    // Again inside the write transaction: another process may have migrated meanwhile.
    const version = refuseNewer(db, path);
    for (let next = version + 1; next <= SQLITE_SCHEMA_VERSION; next++) {
      const step = MIGRATIONS[next];
      if (typeof step === "function") step(db, path);
      else db.exec(step as string);
      db.pragma(`user_version = ${next}`);
    }
  });
  run.immediate();
}
