/**
 * better-sqlite3 errors as the library's: a lock held past the busy timeout, a unique
 * key or id, a damaged or read-only file, a file that cannot be opened; and the failures
 * of `SqliteLedger.open`, which `BaseLedger` does not wrap.
 *
 * @module
 */

import {
  CorruptionError,
  IdempotencyConflictError,
  isSinkproofError,
  LedgerError,
} from "../../errors.js";

/** Another connection holds the lock (`SQLITE_BUSY…` or `SQLITE_LOCKED…`): try again. */
export function isBusy(error: unknown): boolean {
  const code =
    typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return (
    typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
  );
}

/** A failure to open as the library's error: `BaseLedger` does not wrap `open`. */
export function openError(error: unknown, path: string): unknown {
  if (isSinkproofError(error)) return error;
  return new LedgerError(
    "storage_error",
    `Opening the SQLite ledger ${path} failed: ${String(error)}`,
    {
      cause: error,
    },
  );
}

/**
 * A better-sqlite3 error as the library's: a lock held past the busy timeout is
 * `unavailable`; a unique key or id is an `IdempotencyConflictError`; a damaged file is a
 * `CorruptionError`; sinkproof errors pass; anything else is left for `BaseLedger` to wrap
 * as `storage_error`.
 */
export function translateSqliteError(error: unknown, path: string): unknown {
  if (typeof error !== "object" || error === null) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return error;
  const message = (error as { message?: unknown }).message;
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return new LedgerError(
      "unavailable",
      `The SQLite database ${path} stayed locked by another connection past the busy timeout`,
      { cause: error },
    );
  }
  if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    const column = String(message).includes("sinkproof_entries.id")
      ? "id_conflict"
      : "idempotency_conflict";
    return new IdempotencyConflictError(
      column,
      `The database refused a second row for one ledger identity: ${String(message)}`,
      { existing: undefined, incoming: "" },
      { cause: error },
    );
  }
  if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
    return new CorruptionError(
      `The SQLite database ${path} is damaged: ${String(message)}`,
      { file: path, offset: 0 },
      { cause: error },
    );
  }
  if (code.startsWith("SQLITE_READONLY")) {
    return new LedgerError(
      "storage_error",
      `The SQLite database ${path} is read-only (${code}): the ledger cannot write to it`,
      { cause: error },
    );
  }
  if (code === "SQLITE_CANTOPEN") {
    return new LedgerError("unavailable", `Cannot open the SQLite database ${path}`, {
      cause: error,
    });
  }
  return error;
}
