/**
 * `sinkproof/sqlite`: {@link SqliteLedger}, the ledger in one SQLite file (WAL,
 * `synchronous=FULL`), for one machine and data larger than the `FileLedger` keeps in
 * memory. Needs the optional peer dependency `better-sqlite3` 12
 * (`npm install better-sqlite3@12`), loaded when a ledger is opened.
 *
 * @packageDocumentation
 */

export { SQLITE_SCHEMA_VERSION } from "./migrations.js";
export type { SqliteLedgerOptions } from "./options.js";
export { SqliteLedger } from "./sqlite-ledger.js";
