/**
 * `PostgresLedgerOptions`: the options of `PostgresLedger.open`, their key list, and
 * the checks they pass before anything connects.
 *
 * Promises: the options are read strictly (`readOptions` with the complete key list: an
 * unknown key is refused); exactly one of `pool` and `connectionString`; a connection
 * string node-postgres would misread is refused (connection-string.ts); every bad value is
 * an `InvalidArgumentError` at its path, checked in the order the options are listed here.
 *
 * @module
 */

import { describe, invalidArgument } from "../../internal/arguments.js";
import { checkBoolean, checkInteger } from "../../internal/checks.js";
import { optionKeys, readOptions, readProperty } from "../../internal/options.js";
import { checkLedgerOptions, LEDGER_OPTION_KEYS, type LedgerOptions } from "../base.js";
import { checkConnectionString } from "./connection-string.js";
import type { PgPool } from "./pool.js";

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;

/**
 * Options of {@link PostgresLedger.open}: a pool or a connection string, not both.
 *
 * @example
 * ```ts
 * import { PostgresLedger, type PostgresLedgerOptions } from "sinkproof/postgres";
 * const options: PostgresLedgerOptions = {
 *   connectionString: "postgres://ledger@db.internal:5432/app",
 *   schema: "orders_ledger",
 *   poolSize: 20,
 * };
 * const ledger = await PostgresLedger.open(options);
 * ```
 */
export interface PostgresLedgerOptions extends LedgerOptions {
  /**
   * A `pg.Pool` (node-postgres 8) to use. The ledger does not end it on `close`: it is
   * yours. Give it an `error` listener, as node-postgres asks of every pool.
   */
  readonly pool?: PgPool | undefined;
  /**
   * A connection string; the ledger makes and ends its own pool. A postgres URL
   * (`postgres://user:password@host:5432/db?sslmode=require`) or libpq keyword/value pairs
   * (`host=db.internal port=5432 dbname=app user=ledger`, translated into the URL they
   * mean). Anything else, `localhost:5432` without a scheme among them, is an
   * `InvalidArgumentError` at `options.connectionString` before anything connects (the
   * message never repeats the string, which may hold a password).
   */
  readonly connectionString?: string | undefined;
  /**
   * Size of the pool made from `connectionString`. 1 to 1000.
   * @default 10
   */
  readonly poolSize?: number | undefined;
  /**
   * The PostgreSQL schema holding the ledger's tables (created if missing): lower-case
   * letters, digits and `_`, at most 40 characters; not `pg_…` (reserved by PostgreSQL)
   * nor `information_schema`.
   * @default "public"
   */
  readonly schema?: string | undefined;
  /**
   * Open even when `synchronous_commit` is `off` or `fsync` is `off` (acknowledged writes
   * could be lost): the ledger then declares `durability: "none"`. For tests only.
   * @default false
   */
  readonly allowUnsafeSettings?: boolean | undefined;
}

const POSTGRES_KEYS = optionKeys<PostgresLedgerOptions>()(
  ...LEDGER_OPTION_KEYS,
  "pool",
  "connectionString",
  "poolSize",
  "schema",
  "allowUnsafeSettings",
);

/** The options of one open, read and checked, with their defaults filled in. */
export interface CheckedPostgresOptions {
  /** The options as read (what `BaseLedger` is given). */
  readonly options: PostgresLedgerOptions;
  /** The pool given, if one was. */
  readonly given: PgPool | undefined;
  /** The URL the connection string means, when one was given instead of a pool. */
  readonly target: string | undefined;
  /** The PostgreSQL schema of the ledger's tables. */
  readonly schema: string;
  /** `allowUnsafeSettings`. */
  readonly allowUnsafe: boolean;
  /** The size of a pool made from the connection string. */
  readonly poolSize: number;
}

/**
 * Reads and checks the options of `PostgresLedger.open`, before anything connects: an
 * `InvalidArgumentError` at the path of the first bad one.
 */
export function readPostgresOptions(openOptions: PostgresLedgerOptions): CheckedPostgresOptions {
  const options = readOptions<PostgresLedgerOptions>(openOptions, "options", POSTGRES_KEYS, {
    required: true,
  });
  checkLedgerOptions(options);
  const { pool: given, connectionString } = options;
  if ((given === undefined) === (connectionString === undefined)) {
    invalidArgument("options", "must have exactly one of pool and connectionString");
  }
  if (
    given !== undefined &&
    (typeof given !== "object" ||
      given === null ||
      typeof readProperty(given, "connect", "options.pool") !== "function" ||
      typeof readProperty(given, "query", "options.pool") !== "function")
  ) {
    invalidArgument("options.pool", `must be a pg.Pool, got ${describe(given)}`);
  }
  if (
    connectionString !== undefined &&
    (typeof connectionString !== "string" || connectionString.length === 0)
  ) {
    invalidArgument(
      "options.connectionString",
      `must be a connection string, got ${describe(connectionString)}`,
    );
  }
  // Before anything connects: a string node-postgres would misread is refused here.
  const target =
    connectionString === undefined ? undefined : checkConnectionString(connectionString);
  const schema = options.schema ?? "public";
  if (
    typeof schema !== "string" ||
    !SCHEMA_NAME.test(schema) ||
    schema.startsWith("pg_") ||
    schema === "information_schema"
  ) {
    invalidArgument(
      "options.schema",
      `must be lower-case letters, digits and _, at most 40 characters, not starting with pg_ (PostgreSQL's own) and not information_schema, got ${describe(schema)}`,
    );
  }
  const allowUnsafe = checkBoolean(
    options.allowUnsafeSettings ?? false,
    "options.allowUnsafeSettings",
  );
  const poolSize = checkInteger(options.poolSize ?? 10, "options.poolSize", 1, 1000);
  return { options, given, target, schema, allowUnsafe, poolSize };
}
