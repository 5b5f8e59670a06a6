/**
 * node-postgres errors as the library's, and the questions the ledger asks of a driver
 * error (its SQLSTATE, whether it is a unique violation, whether a retry may help).
 *
 * Promises: configuration mistakes are never transient (`database_not_found`,
 * `authentication_failed`, `permission_denied`, each with its fix); connection loss, a
 * shutdown, a statement timeout, a pool or query timeout of node-postgres are
 * `unavailable`; serialization failure or deadlock is `serialization_failure` (once the
 * retries are spent); a unique violation of an entry's key or id is an
 * `IdempotencyConflictError`; anything else is left for `BaseLedger` to wrap.
 *
 * @module
 */

import {
  IdempotencyConflictError,
  isSinkproofError,
  LedgerError,
  type LedgerErrorCode,
} from "../../errors.js";

/** Tries of a statement or transaction that meets a serialization failure or deadlock. */
export const SERIALIZATION_RETRIES = 5;

/** The SQLSTATE (or Node.js error code) of a driver error, if it has one. */
export function codeOf(error: unknown): string | undefined {
  const code =
    typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

/** A unique violation, raw or wrapped in a sinkproof error as its cause. */
export function isUniqueViolation(error: unknown): boolean {
  const cause = isSinkproofError(error) ? error.cause : error;
  return codeOf(cause) === "23505";
}

/** A serialization failure or deadlock: the transaction may be tried again. */
export function isRetryableConflict(error: unknown): boolean {
  const code = codeOf(error);
  return code === "40001" || code === "40P01";
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "57P04", // database_dropped
  "57014", // query_canceled: statement_timeout, or a cancel request
  "25P03", // idle_in_transaction_session_timeout
  "53300", // too_many_connections
]);

/**
 * Server errors that say the configuration is wrong: trying again cannot help, so they are
 * never `unavailable` (a retry-on-unavailable loop would spin on them forever).
 */
const CONFIGURATION_CODES: ReadonlyMap<string, LedgerErrorCode> = new Map([
  ["3D000", "database_not_found"], // invalid_catalog_name: no such database (or it was dropped)
  ["28000", "authentication_failed"], // invalid_authorization_specification: no such role, no LOGIN, no pg_hba.conf entry
  ["28P01", "authentication_failed"], // invalid_password
  ["42501", "permission_denied"], // insufficient_privilege: CONNECT, CREATE on the schema, a table's grants
]);

const CONFIGURATION_ADVICE: Readonly<Record<string, string>> = {
  database_not_found: "check the database name in the connection string",
  authentication_failed: "check the role, its password and LOGIN, and pg_hba.conf",
  permission_denied:
    "grant the privilege to the role (docs/ledgers.md lists what the ledger needs)",
};

/** The unique constraints of `sinkproof_entries` that are ledger identities. */
const ENTRY_IDENTITIES = new Set(["sinkproof_entries_key_key", "sinkproof_entries_id_key"]);

/**
 * A node-postgres error as the library's: no such database → `database_not_found`; a
 * refused login (wrong password, no such role, no LOGIN, no pg_hba.conf entry) →
 * `authentication_failed`; a missing privilege → `permission_denied`; connection refused,
 * lost or shut down, a statement timeout, a pool or query timeout of node-postgres →
 * `LedgerError` `unavailable`; serialization failure or deadlock → `serialization_failure`;
 * unique violation of an entry's key or id → `IdempotencyConflictError`; sinkproof errors
 * pass; anything else is left for `BaseLedger` to wrap as `storage_error`.
 */
export function translatePgError(error: unknown): unknown {
  if (isSinkproofError(error) || typeof error !== "object" || error === null) return error;
  const code = codeOf(error);
  const message = String((error as { message?: unknown }).message ?? error);
  // node-postgres' own words when the server asks for a password and none was given.
  const configuration =
    (code === undefined ? undefined : CONFIGURATION_CODES.get(code)) ??
    (/client password must be a string|SASL: SCRAM-SERVER-FIRST-MESSAGE/.test(message)
      ? "authentication_failed"
      : undefined);
  if (configuration !== undefined) {
    return new LedgerError(
      configuration,
      `PostgreSQL refused the ledger: ${message}. This is a configuration mistake, not an outage: ${CONFIGURATION_ADVICE[configuration]}; trying again will not help`,
      { cause: error },
    );
  }
  if (
    (code !== undefined && (CONNECTION_CODES.has(code) || code.startsWith("08"))) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed|Cannot use a pool after calling end/i.test(
      message,
    )
  ) {
    return new LedgerError("unavailable", `PostgreSQL is unavailable: ${message}`, {
      cause: error,
    });
  }
  if (code === "40001" || code === "40P01") {
    return new LedgerError(
      "serialization_failure",
      `PostgreSQL could not serialize the transaction after ${SERIALIZATION_RETRIES} attempts: ${message}`,
      { cause: error },
    );
  }
  const constraint = String((error as { constraint?: unknown }).constraint ?? "");
  // Only the entries' key and id are ledger identities; any other unique violation (a
  // position, an audit index, a table outside the ledger) is a storage error.
  if (code === "23505" && ENTRY_IDENTITIES.has(constraint)) {
    return new IdempotencyConflictError(
      constraint === "sinkproof_entries_id_key" ? "id_conflict" : "idempotency_conflict",
      `The database refused a second row for one ledger identity (${constraint})`,
      { existing: undefined, incoming: "" },
      { cause: error },
    );
  }
  return error;
}
