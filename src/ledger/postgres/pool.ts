/**
 * The few shapes of node-postgres that `PostgresLedger` uses, written out structurally so
 * that the published types do not name `pg` (an optional peer dependency): a `pg.Pool`
 * fits them, and so does any wrapper around one.
 *
 * @module
 */

/** What a query returns: its rows, and how many rows it touched. */
export interface PgQueryResult {
  /** The rows, as objects keyed by column name. */
  readonly rows: readonly Record<string, unknown>[];
  /** Rows inserted, updated, deleted or returned; null for other commands. */
  readonly rowCount: number | null;
}

/** A query: its text, its parameters, and optionally a name to prepare it under. */
export interface PgQueryConfig {
  /** SQL text with `$1`, `$2`, … placeholders. */
  readonly text: string;
  /** Parameter values. */
  readonly values?: unknown[] | undefined;
  /** Prepares the statement once per connection under this name. */
  readonly name?: string | undefined;
  /** `"array"`: each row as an array of its columns, in order (node-postgres' `rowMode`). */
  readonly rowMode?: "array" | undefined;
}

/** Something that runs queries: a pool or a checked-out client. */
export interface PgQueryable {
  /** Runs one query. */
  query(config: PgQueryConfig): Promise<PgQueryResult>;
}

/** A client checked out of a pool, for a transaction. */
export interface PgPoolClient extends PgQueryable {
  /** Runs a query given as text (several statements when there are no parameters). */
  query(config: PgQueryConfig | string): Promise<PgQueryResult>;
  /** Returns the client to the pool; `true` (or an error) destroys it instead. */
  release(destroy?: boolean | Error): void;
  /**
   * Listens for the client's `error` event: a connection that drops while the client is
   * checked out emits one, and an unheard `error` event would end the process.
   */
  on?(event: "error", listener: (error: Error) => void): unknown;
  /** Stops listening. */
  removeListener?(event: "error", listener: (error: Error) => void): unknown;
}

/**
 * The pool the ledger uses: a `pg.Pool` (node-postgres 8), or anything with the same
 * `connect`, `query` and `end`.
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { PostgresLedger, type PgPool } from "sinkproof/postgres";
 * const pool: PgPool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const ledger = await PostgresLedger.open({ pool });
 * ```
 */
export interface PgPool {
  /** Checks out a client for a transaction. */
  connect(): Promise<PgPoolClient>;
  /** Runs one query on any free client. */
  query(config: PgQueryConfig): Promise<PgQueryResult>;
  /** Closes every connection. */
  end(): Promise<void>;
}
