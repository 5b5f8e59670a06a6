/**
 * `sinkproof/postgres`: {@link PostgresLedger}, one ledger shared by many producer and
 * sink-writer processes, in PostgreSQL. Give it a `pg.Pool` or a connection string (the
 * latter needs the optional peer dependency `pg` 8: `npm install pg@8`).
 *
 * @packageDocumentation
 */

export { POSTGRES_SCHEMA_VERSION } from "./migrations.js";
export type { PostgresLedgerOptions } from "./options.js";
export type {
  PgPool,
  PgPoolClient,
  PgQueryable,
  PgQueryConfig,
  PgQueryResult,
} from "./pool.js";
export { PostgresLedger } from "./postgres-ledger.js";
