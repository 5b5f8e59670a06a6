/**
 * The PostgreSQL schema of the ledger and its versioned migrations: the DDL of each
 * version, the backfills SQL cannot do, the version read from `sinkproof_meta`, and the
 * migration run at open.
 *
 * Promises: migrations run in one transaction, under an advisory lock, so concurrent
 * openers do not race; a schema already current is only read (no DDL, no lock); a schema
 * made by a newer sinkproof is refused (`database_too_new`). A released migration is never
 * edited: the next one is added.
 *
 * @module
 */

import { LedgerError } from "../../errors.js";
import { backfilledEntryHash } from "../read-checks.js";
import { storedOf } from "../sql-rows.js";
import type { PgPool, PgPoolClient, PgQueryable } from "./pool.js";
import { tables } from "./sql.js";
import { transaction } from "./transaction.js";

/**
 * The schema version this code writes (row `schema_version` of `sinkproof_meta`); a
 * database with a higher one is refused with `database_too_new`.
 *
 * @example
 * ```ts
 * import { POSTGRES_SCHEMA_VERSION } from "sinkproof/postgres";
 * console.log(`this sinkproof writes ledger schema ${POSTGRES_SCHEMA_VERSION}`);
 * ```
 */
export const POSTGRES_SCHEMA_VERSION = 6;

/**
 * Migrations by the version they lead to, given the quoted schema. Never edit a released
 * one: add the next. docs/ledgers.md shows every version (a test keeps the two equal); a step that
 * needs more than SQL has its part in `BACKFILLS`, run right after it.
 */
export const MIGRATIONS: readonly ((s: string) => string)[] = [
  () => "",
  (s) => `
  CREATE TABLE ${s}.sinkproof_entries (
    position bigint PRIMARY KEY CHECK (position >= 1),
    key text NOT NULL UNIQUE,
    id text NOT NULL UNIQUE,
    producer text NOT NULL,
    stream text NOT NULL,
    checksum text NOT NULL,
    appended_at text NOT NULL,
    envelope text NOT NULL
  );
  CREATE TABLE ${s}.sinkproof_sequences (
    producer text PRIMARY KEY,
    next bigint NOT NULL CHECK (next >= 0)
  );
  CREATE TABLE ${s}.sinkproof_receipts (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sink text NOT NULL,
    key text NOT NULL,
    position bigint NOT NULL REFERENCES ${s}.sinkproof_entries (position),
    final boolean NOT NULL,
    receipt text NOT NULL
  );
  CREATE INDEX sinkproof_receipts_by_key ON ${s}.sinkproof_receipts (sink, key, seq);
  CREATE INDEX sinkproof_receipts_by_position ON ${s}.sinkproof_receipts (sink, position, seq);
  CREATE TABLE ${s}.sinkproof_watermarks (
    sink text PRIMARY KEY,
    position bigint NOT NULL CHECK (position >= 0)
  );
  CREATE TABLE ${s}.sinkproof_claims (
    sink text NOT NULL,
    key text NOT NULL,
    owner text NOT NULL,
    token text NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (sink, key)
  );
  CREATE TABLE ${s}.sinkproof_audit (
    idx bigint PRIMARY KEY CHECK (idx >= 1),
    hash text NOT NULL,
    record text NOT NULL
  );
  `,
  // The entry hash of every entry (see `entryHash`): a read then finds a change to any
  // field, not only to the payload. Rows already there get theirs in `BACKFILLS`.
  (s) => `
  ALTER TABLE ${s}.sinkproof_entries ADD COLUMN entry_hash text NOT NULL DEFAULT '';
  `,
  // Fencing tokens on claims (rows kept after release, marked released) and per-sink
  // freezes.
  (s) => `
  ALTER TABLE ${s}.sinkproof_claims
    ADD COLUMN fencing_token bigint NOT NULL DEFAULT 0,
    ADD COLUMN released boolean NOT NULL DEFAULT false;
  CREATE TABLE ${s}.sinkproof_freezes (
    sink text NOT NULL,
    origin text NOT NULL,
    audit bigint NOT NULL,
    state text NOT NULL,
    PRIMARY KEY (sink, origin)
  );
  `,
  // Reconciliation checkpoints, one per sink (the record as JSON text).
  (s) => `
  CREATE TABLE ${s}.sinkproof_checkpoints (
    sink text PRIMARY KEY,
    checkpoint text NOT NULL
  );
  `,
  // Each entry's row hash for digest mode (`rowHash(key, checksum)`: its place in the hash
  // space and two digest words), computed in SQL for the rows already there (the same
  // bytes as rowHash: SHA-256 of the UTF-8 of key, newline, checksum), indexed, so that
  // bucket digests are one range scan of the index.
  (s) => `
  ALTER TABLE ${s}.sinkproof_entries
    ADD COLUMN row_hash bigint NOT NULL DEFAULT 0 CHECK (row_hash BETWEEN 0 AND 4294967295),
    ADD COLUMN row_hi bigint NOT NULL DEFAULT 0 CHECK (row_hi BETWEEN 0 AND 4294967295),
    ADD COLUMN row_lo bigint NOT NULL DEFAULT 0 CHECK (row_lo BETWEEN 0 AND 4294967295);
  UPDATE ${s}.sinkproof_entries AS e SET
    row_hash = ('x' || encode(substring(h.d FROM 1 FOR 4), 'hex'))::bit(32)::bigint,
    row_hi = ('x' || encode(substring(h.d FROM 5 FOR 4), 'hex'))::bit(32)::bigint,
    row_lo = ('x' || encode(substring(h.d FROM 9 FOR 4), 'hex'))::bit(32)::bigint
  FROM (
    SELECT position, sha256(convert_to(key || E'\\n' || checksum, 'UTF8')) AS d
    FROM ${s}.sinkproof_entries
  ) AS h
  WHERE e.position = h.position;
  CREATE INDEX sinkproof_entries_by_row_hash ON ${s}.sinkproof_entries (row_hash, position) INCLUDE (row_hi, row_lo);
  `,
  // Consistency-window history: each sink's most recent samples (each as JSON text), in
  // the order recorded.
  (s) => `
  CREATE TABLE ${s}.sinkproof_windows (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sink text NOT NULL,
    sample text NOT NULL
  );
  CREATE INDEX sinkproof_windows_by_sink ON ${s}.sinkproof_windows (sink, seq);
  `,
];

/**
 * The part of a migration that SQL cannot do, by the version it belongs to, run in the
 * migration's transaction right after its SQL.
 */
const BACKFILLS: Readonly<Record<number, (client: PgPoolClient, schema: string) => Promise<void>>> =
  {
    // Rows appended before schema 2 get their entry hash if they verify; a row that does
    // not keeps '' and reads as damaged at its position (a fresh hash would seal it in).
    2: async (client, schema) => {
      const t = tables(schema);
      const site = { file: "migration", table: t.entries };
      for (let after = 0; ; ) {
        const { rows } = await client.query({
          text: `SELECT position, appended_at, envelope, key, id, producer, stream, checksum FROM ${t.entries} WHERE position > $1 ORDER BY position LIMIT 1000`,
          values: [after],
        });
        const positions = rows.map((row) => Number(row.position));
        const hashes = rows.map((row) =>
          backfilledEntryHash(storedOf(row as never, Number(row.position)), site),
        );
        await client.query({
          text: `UPDATE ${t.entries} AS e SET entry_hash = u.hash FROM unnest($1::bigint[], $2::text[]) AS u(position, hash) WHERE e.position = u.position`,
          values: [positions, hashes],
        });
        if (rows.length < 1000) return;
        after = positions.at(-1) as number;
      }
    },
  };

/**
 * The schema's ledger version (0 when it has no `sinkproof_meta`), read without touching
 * anything; a version newer than this code is `database_too_new`.
 */
async function schemaVersion(q: PgQueryable, schema: string): Promise<number> {
  const t = tables(schema);
  const present = (
    await q.query({ text: "SELECT to_regclass($1) IS NOT NULL AS present", values: [t.meta] })
  ).rows[0];
  if (present?.present !== true) return 0;
  const row = (await q.query({ text: `SELECT value FROM ${t.meta} WHERE name = 'schema_version'` }))
    .rows[0];
  const version = row === undefined ? 0 : Number(row.value);
  if (!Number.isSafeInteger(version) || version > POSTGRES_SCHEMA_VERSION) {
    throw new LedgerError(
      "database_too_new",
      `Schema ${schema} has ledger schema version ${String(row?.value)}, made by a newer sinkproof; this one reads up to ${POSTGRES_SCHEMA_VERSION}`,
    );
  }
  return version;
}

/**
 * Runs the migrations the schema lacks, in one transaction, under the migration lock. A
 * schema already current is only read (no DDL, no lock), so a role with nothing but
 * `SELECT, INSERT, UPDATE, DELETE` on the tables can open a ledger an owner created.
 */
export async function migrate(pool: PgPool, schema: string, lock: number): Promise<void> {
  if ((await schemaVersion(pool, schema)) === POSTGRES_SCHEMA_VERSION) return;
  const t = tables(schema);
  await transaction(
    pool,
    async (client): Promise<[undefined, boolean]> => {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${t.schema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${t.meta} (name text PRIMARY KEY, value text NOT NULL)`,
      );
      // Read again under the lock: another opener may have migrated meanwhile.
      const version = await schemaVersion(client, schema);
      if (version === POSTGRES_SCHEMA_VERSION) return [undefined, false];
      for (let next = version + 1; next <= POSTGRES_SCHEMA_VERSION; next++) {
        await client.query((MIGRATIONS[next] as (s: string) => string)(t.schema));
        await BACKFILLS[next]?.(client, schema);
      }
      await client.query({
        text: `INSERT INTO ${t.meta} (name, value) VALUES ('schema_version', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
        values: [String(POSTGRES_SCHEMA_VERSION)],
      });
      return [undefined, true];
    },
    lock,
  );
}
