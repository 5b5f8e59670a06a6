/**
 * `PostgresLedger`: one ledger shared by many producer and sink-writer processes, in
 * PostgreSQL, through node-postgres (`pg` 8, an optional peer dependency).
 *
 * Promises:
 * - an acknowledged write is committed with `synchronous_commit` on and `fsync` on, both
 *   checked at open (`unsafe_settings` otherwise, unless `allowUnsafeSettings`);
 * - positions are gap-free and become visible in order: appends serialize on a
 *   transaction-scoped advisory lock and take `max(position) + 1` inside it, so position
 *   n + 1 is never committed before n and a reader that has seen n + 1 has seen n (a
 *   sequence or identity column would leave holes on rollback and let a later position
 *   commit first);
 * - every call is one transaction: a batch that fails leaves nothing behind; the tables
 *   carry the ledger's rules as constraints (unique key, id and position, receipts that
 *   name an entry);
 * - claims live in a table with server-side expiry (the server's clock): taken with
 *   `INSERT … ON CONFLICT DO UPDATE … WHERE expires_at <= now`, and checked against the
 *   key's final receipts in the same transaction, after the claim is taken;
 * - watermarks advance with `GREATEST`, in one statement;
 * - every read is verified before it is returned (see read-checks.ts): the payload's stored
 *   canonical text hashes to its checksum, the entry hash stored at append (schema 2)
 *   covers every other field, the position and the append time, the key, id, producer,
 *   stream and checksum columns agree with the envelope; damage is a `CorruptionError`
 *   naming the database, the table and the position;
 * - migrations run at open, in one transaction, under an advisory lock, so concurrent
 *   openers do not race; a schema made by a newer sinkproof is refused
 *   (`database_too_new`);
 * - transactions run READ COMMITTED with `synchronous_commit` on whatever the session's
 *   defaults (a database may default to repeatable read or serializable);
 * - driver errors become the library's: unique violation of an entry's key or id →
 *   `IdempotencyConflictError` (after re-reading what clashed), serialization failure or
 *   deadlock → retried, then `serialization_failure`, connection loss → `unavailable`;
 *   configuration mistakes are not transient and say so: `database_not_found`,
 *   `authentication_failed`, `permission_denied`; a connection string that is neither a
 *   postgres URL nor keyword/value pairs is refused before connecting.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { algorithmOf } from "../../checksum/checksum.js";
import type { Envelope } from "../../envelope/schema.js";
import {
  IdempotencyConflictError,
  isSinkproofError,
  LedgerError,
  type LedgerErrorCode,
} from "../../errors.js";
import { describe, invalidArgument } from "../../internal/arguments.js";
import { optionKeys, readOptions, readProperty } from "../../internal/options.js";
import { logger } from "../../observe/debug.js";
import {
  type AppendOutcome,
  BaseLedger,
  type ClaimRequest,
  checkLedgerOptions,
  type EntryScan,
  type FreezeChange,
  type FreezeChanged,
  LEDGER_OPTION_KEYS,
  type LedgerOptions,
  planAppend,
} from "../base.js";
import { storedEnvelope } from "../envelope-json.js";
import { peerLoader } from "../peer.js";
import {
  backfilledEntryHash,
  entryHashOfRest,
  parseStoredJson,
  type StoragePart,
  type StorageSite,
  type StoredEntry,
} from "../read-checks.js";
import type {
  AppendedEntry,
  AuditHead,
  AuditRecord,
  Claim,
  ClaimResult,
  LedgerCapabilities,
  LedgerEntry,
  Receipt,
  SinkFreeze,
} from "../types.js";
import { isFinalStatus } from "../validate.js";
import { checkConnectionString } from "./connection-string.js";
import type { PgPool, PgPoolClient, PgQueryable, PgQueryResult } from "./pool.js";

const log = logger("ledger:postgres");

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
export const POSTGRES_SCHEMA_VERSION = 3;

/** The server's clock in ms since the epoch: claim expiry follows it. */
const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

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
        const hashes = rows.map((row) => backfilledEntryHash(storedOf(row as never), site));
        await client.query({
          text: `UPDATE ${t.entries} AS e SET entry_hash = u.hash FROM unnest($1::bigint[], $2::text[]) AS u(position, hash) WHERE e.position = u.position`,
          values: [positions, hashes],
        });
        if (rows.length < 1000) return;
        after = positions.at(-1) as number;
      }
    },
  };

const PAGE = 1000;

/**
 * Most characters of envelope text in one INSERT. node-postgres writes a `text[]`
 * parameter as one string, with quotes and backslashes escaped (up to twice as long),
 * and a JavaScript string holds at most 2^29 - 24 characters: 32 Mi keeps every chunk far
 * below that. A bigger batch is several INSERTs in the same transaction.
 */
let insertChunkChars = 32 * 1024 * 1024;

/**
 * Sets the chunk size of appends and returns the previous one. Internal, for tests (a
 * small chunk shows the chunking without hundreds of megabytes); not exported by
 * `sinkproof/postgres`.
 */
export function setInsertChunkChars(chars: number): number {
  const previous = insertChunkChars;
  insertChunkChars = chars;
  return previous;
}
const SERIALIZATION_RETRIES = 5;
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

interface PgModule {
  Pool: new (config: {
    connectionString: string;
    max: number;
  }) => PgPool & {
    on(event: "error", listener: (error: unknown) => void): unknown;
  };
}

/** Loads `pg` once; a missing package is a `missing_driver` error with the fix. */
const loadDriver = peerLoader<PgModule>(
  () => import("pg"),
  "PostgresLedger with a connection string needs the optional peer dependency pg 8: npm install pg@8",
);

interface EntryRow {
  position: string | number;
  appended_at: string;
  envelope: string;
  entry_hash?: string;
  key: string;
  id: string;
  producer: string;
  stream: string;
  checksum: string;
}

/** The columns of `entryColumns`, in order, as a row in `rowMode: "array"`. */
type RawEntryRow = [string, string, string, string, string, string, string, string, string];

/** An array row as the core verifies it (see {@link storedOf}). */
function storedOfRaw(row: RawEntryRow): StoredEntry {
  return {
    position: Number(row[0]),
    appendedAt: row[1],
    envelope: row[2],
    entryHash: row[3],
    columns: { key: row[4], id: row[5], producer: row[6], stream: row[7], checksum: row[8] },
  };
}

/** A row as the core verifies it: the envelope text, its entry hash, the columns beside it. */
function storedOf(row: EntryRow): StoredEntry {
  return {
    position: Number(row.position),
    appendedAt: row.appended_at,
    envelope: row.envelope,
    entryHash: row.entry_hash,
    columns: row,
  };
}

interface Locks {
  append: number;
  audit: number;
}

const POSTGRES_KEYS = optionKeys<PostgresLedgerOptions>()(
  ...LEDGER_OPTION_KEYS,
  "pool",
  "connectionString",
  "poolSize",
  "schema",
  "allowUnsafeSettings",
);

/**
 * A ledger in PostgreSQL, shared by every process that opens it: gap-free positions
 * visible in commit order, durable claims with server-side expiry, versioned migrations
 * under an advisory lock. Give it a `pg.Pool` or a connection string (then it needs the
 * optional peer dependency `pg` 8).
 *
 * @example
 * ```ts
 * import { PostgresLedger } from "sinkproof/postgres";
 * const ledger = await PostgresLedger.open({ connectionString: process.env.DATABASE_URL });
 * await ledger.append([envelope]); // committed (synchronous_commit on) when it resolves
 * await ledger.close();
 * ```
 */
export class PostgresLedger extends BaseLedger {
  readonly capabilities: LedgerCapabilities;
  protected override readonly keepsCanonicalPayloads: boolean = true;
  /** The PostgreSQL schema holding the ledger's tables. */
  readonly schema: string;
  readonly #pool: PgPool;
  readonly #ownsPool: boolean;
  readonly #locks: Locks;
  /** The database's name, for the `CorruptionError` of damage found in it. */
  readonly #database: string;
  /** The session defaults seen at open were READ COMMITTED with synchronous_commit not off. */
  readonly #direct: boolean;
  readonly #t: ReturnType<typeof tables>;
  readonly #q: ReturnType<typeof statements>;

  private constructor(
    pool: PgPool,
    ownsPool: boolean,
    schema: string,
    locks: Locks,
    durable: boolean,
    direct: boolean,
    database: string,
    options: PostgresLedgerOptions,
  ) {
    super(options);
    this.#database = database;
    this.#direct = direct;
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.schema = schema;
    this.#locks = locks;
    this.#t = tables(schema);
    this.#q = statements(schema, this.#t);
    this.capabilities = Object.freeze({
      durability: durable ? "synchronous-commit" : "none",
      concurrency: "multi-process",
      claims: "durable",
      clock: "server",
    });
  }

  /**
   * Opens the ledger in a PostgreSQL database: checks `synchronous_commit` and `fsync`,
   * runs the schema migrations (in a transaction, under an advisory lock). Throws
   * `LedgerError` `unsafe_settings`, `database_too_new`, `unavailable` (the server
   * cannot be reached) or `missing_driver` (a connection string without `pg` installed).
   *
   * @example
   * ```ts
   * import pg from "pg";
   * import { PostgresLedger } from "sinkproof/postgres";
   * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
   * pool.on("error", (error) => console.error("idle client failed", error));
   * const ledger = await PostgresLedger.open({ pool, schema: "orders_ledger" });
   * ```
   */
  static async open(openOptions: PostgresLedgerOptions): Promise<PostgresLedger> {
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
    const allowUnsafe = options.allowUnsafeSettings ?? false;
    if (typeof allowUnsafe !== "boolean") {
      invalidArgument(
        "options.allowUnsafeSettings",
        `must be a boolean, got ${describe(allowUnsafe)}`,
      );
    }
    const poolSize = options.poolSize ?? 10;
    if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1000) {
      invalidArgument(
        "options.poolSize",
        `must be an integer from 1 to 1000, got ${describe(poolSize)}`,
      );
    }
    let pool: PgPool;
    if (given !== undefined) pool = given;
    else {
      const pg = await loadDriver();
      const made = new pg.Pool({ connectionString: target as string, max: poolSize });
      // An idle client whose connection drops emits `error` on the pool; without a
      // listener that would end the process. The next query gets a new connection.
      made.on("error", (error) => log("idle connection failed: %O", error));
      pool = made;
    }
    try {
      const settings = await query(pool, {
        text: "SELECT current_setting('synchronous_commit') AS synchronous_commit, current_setting('fsync') AS fsync, hashtext($1) AS append_lock, hashtext($2) AS audit_lock, hashtext($3) AS migrate_lock, current_setting('default_transaction_isolation') AS isolation, current_database() AS database",
        values: [
          `sinkproof:append:${schema}`,
          `sinkproof:audit:${schema}`,
          `sinkproof:migrate:${schema}`,
        ],
      });
      const row = settings.rows[0] as Record<string, unknown>;
      const weak: string[] = [];
      if (row.synchronous_commit === "off") weak.push("synchronous_commit is off");
      if (row.fsync !== "on") weak.push(`fsync is ${String(row.fsync)}`);
      if (weak.length > 0 && !allowUnsafe) {
        throw new LedgerError(
          "unsafe_settings",
          `Refusing to open the ledger: ${weak.join("; ")}. An acknowledged write could be lost; pass allowUnsafeSettings: true to accept that (tests only)`,
        );
      }
      await migrate(pool, schema, Number(row.migrate_lock));
      return new PostgresLedger(
        pool,
        given === undefined,
        schema,
        { append: Number(row.append_lock), audit: Number(row.audit_lock) },
        weak.length === 0,
        row.isolation === "read committed" && row.synchronous_commit !== "off",
        String(row.database),
        options,
      );
    } catch (error) {
      if (given === undefined) await pool.end().catch(() => undefined);
      const translated = translatePgError(error);
      // `BaseLedger` does not wrap `open`: nothing raw may leave it.
      if (isSinkproofError(translated)) throw translated;
      throw new LedgerError(
        "storage_error",
        `Opening the PostgreSQL ledger failed: ${String(error)}`,
        { cause: error },
      );
    }
  }

  async #query(config: { text: string; values?: unknown[]; name?: string; rowMode?: "array" }) {
    return query(this.#pool, config);
  }

  /** A write of one statement, outside a transaction of the ledger's (see `writeOne`). */
  async #write(config: { text: string; values?: unknown[]; name?: string }) {
    return writeOne(this.#pool, config, this.#direct);
  }

  async #transaction<T>(
    body: (client: PgPoolClient, first: PgQueryResult | undefined) => Promise<[T, boolean]>,
    lock?: number,
    prelude?: string,
  ): Promise<T> {
    return transaction(this.#pool, body, lock, prelude);
  }

  protected override storageSite(part: StoragePart): StorageSite {
    return { file: `database "${this.#database}"`, table: `${this.#t.schema}.sinkproof_${part}` };
  }

  /** An entry an append found in its way, verified like every read. */
  #entry(row: EntryRow | undefined): LedgerEntry | undefined {
    return row === undefined ? undefined : this.entryFromStored(storedOf(row));
  }

  // ---- BaseLedger ----------------------------------------------------------------------

  protected async _append(
    envelopes: readonly Envelope[],
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
  ): Promise<AppendOutcome> {
    // Fast path, for envelopes that are all new (the usual case): the head is read with the
    // lock, and one INSERT … ON CONFLICT DO NOTHING takes every next position. If any row
    // was already there (by key, id or position), it rolls back and the careful path below
    // decides envelope by envelope.
    const fast = await this.#transaction(
      (client, first) =>
        this.#appendFresh(
          client,
          Number(first?.rows[0]?.head ?? 0),
          envelopes,
          appendedAt,
          canonical,
        ),
      this.#locks.append,
      this.#q.head.text,
    );
    if (fast !== undefined) return fast;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#transaction(
          (client) => this.#appendIn(client, envelopes, appendedAt, canonical),
          this.#locks.append,
        );
      } catch (error) {
        // A unique violation means a writer that bypassed the append lock committed one
        // of these keys or ids meanwhile: read again, and answer as if it had come first.
        if (isUniqueViolation(error) && attempt < 3) continue;
        throw error;
      }
    }
  }

  async #appendFresh(
    client: PgPoolClient,
    head: number,
    envelopes: readonly Envelope[],
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
  ): Promise<[AppendOutcome | undefined, boolean]> {
    const results: AppendedEntry[] = new Array(envelopes.length);
    const chunks = this.#columns(
      envelopes,
      envelopes.map((_, i) => i),
      head,
      appendedAt,
      canonical,
      results,
    );
    for (const columns of chunks) {
      const inserted = await client.query({ ...this.#q.insertFresh, values: columns });
      if (inserted.rowCount !== (columns[0] as unknown[]).length) return [undefined, false];
    }
    return [{ ok: true, results }, true];
  }

  /**
   * The insert's columns for `envelopes[indexes]` at positions after `head`, cut into
   * chunks of at most `insertChunkChars` characters of envelope text (one `text[]`
   * parameter must fit in one JavaScript string); fills `results`. The chunks are inserted
   * in order in one transaction, so positions stay contiguous and the batch all-or-nothing.
   */
  #columns(
    envelopes: readonly Envelope[],
    indexes: readonly number[],
    head: number,
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
    results: AppendedEntry[],
  ): unknown[][][] {
    const chunks: unknown[][][] = [];
    let positions: number[] = [];
    let keys: string[] = [];
    let ids: string[] = [];
    let producers: string[] = [];
    let streams: string[] = [];
    let checksums: string[] = [];
    let times: string[] = [];
    let texts: string[] = [];
    let hashes: string[] = [];
    let chars = 0;
    const cut = () => {
      chunks.push([positions, keys, ids, producers, streams, checksums, times, texts, hashes]);
      positions = [];
      keys = [];
      ids = [];
      producers = [];
      streams = [];
      checksums = [];
      times = [];
      texts = [];
      hashes = [];
      chars = 0;
    };
    for (let j = 0; j < indexes.length; j++) {
      const index = indexes[j] as number;
      const envelope = envelopes[index] as Envelope;
      const { text, rest } = storedEnvelope(envelope, canonical[index]);
      if (texts.length > 0 && chars + text.length > insertChunkChars) cut();
      chars += text.length;
      const position = head + j + 1;
      positions.push(position);
      keys.push(envelope.key);
      ids.push(envelope.id);
      producers.push(envelope.producer);
      streams.push(envelope.stream);
      checksums.push(envelope.checksum);
      times.push(appendedAt);
      texts.push(text);
      hashes.push(entryHashOfRest(position, appendedAt, rest, algorithmOf(envelope.checksum)));
      results[index] = {
        entry: Object.freeze({ position, appendedAt, envelope }),
        status: "appended",
      };
    }
    if (texts.length > 0) cut();
    return chunks;
  }

  async #appendIn(
    client: PgPoolClient,
    envelopes: readonly Envelope[],
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
  ): Promise<[AppendOutcome, boolean]> {
    const keys = envelopes.map((e) => e.key);
    const ids = envelopes.map((e) => e.id);
    const found = await client.query({ ...this.#q.lookup, values: [keys, ids] });
    const byKey = new Map<string, LedgerEntry>();
    const byId = new Map<string, LedgerEntry>();
    for (const row of found.rows as unknown as EntryRow[]) {
      const entry = this.#entry(row) as LedgerEntry;
      byKey.set(entry.envelope.key, entry);
      byId.set(entry.envelope.id, entry);
    }
    const plan = planAppend(
      envelopes,
      (key) => byKey.get(key),
      (id) => byId.get(id),
    );
    if (!plan.ok) return [plan, false];
    const results: AppendedEntry[] = new Array(envelopes.length);
    for (const [index, entry] of plan.existing) results[index] = { entry, status: "existing" };
    if (plan.fresh.length === 0) return [{ ok: true, results }, false];
    const head = Number((await client.query(this.#q.head)).rows[0]?.head ?? 0);
    const chunks = this.#columns(envelopes, plan.fresh, head, appendedAt, canonical, results);
    for (const columns of chunks) await client.query({ ...this.#q.insert, values: columns });
    return [{ ok: true, results }, true];
  }

  protected async _getByKey(key: string): Promise<StoredEntry | undefined> {
    const row = (await this.#query({ ...this.#q.byKey, values: [key] })).rows[0];
    return row === undefined ? undefined : storedOf(row as unknown as EntryRow);
  }

  protected async _getById(id: string): Promise<StoredEntry | undefined> {
    const row = (await this.#query({ ...this.#q.byId, values: [id] })).rows[0];
    return row === undefined ? undefined : storedOf(row as unknown as EntryRow);
  }

  protected async *_scan(scan: EntryScan): AsyncIterable<StoredEntry> {
    let from = scan.from;
    let left = scan.limit;
    const statement =
      scan.producer === undefined
        ? scan.stream === undefined
          ? this.#q.scan
          : this.#q.scanStream
        : scan.stream === undefined
          ? this.#q.scanProducer
          : this.#q.scanBoth;
    const filters: string[] = [];
    if (scan.producer !== undefined) filters.push(scan.producer);
    if (scan.stream !== undefined) filters.push(scan.stream);
    const page = (first: number, size: number) => {
      const asked = this.#query({
        ...statement,
        values: [first, scan.to, ...filters, size],
        rowMode: "array",
      });
      // Heard at once: a consumer may stop before it is awaited (then its failure is moot).
      asked.catch(() => undefined);
      return asked;
    };
    // The next page is asked for while this one is checked: the round trip overlaps the work.
    let size = Math.min(PAGE, left);
    let next: Promise<PgQueryResult> | undefined = page(from, size);
    while (next !== undefined) {
      const rows = (await next).rows as unknown as RawEntryRow[];
      next = undefined;
      left -= rows.length;
      if (rows.length === size && left > 0) {
        from = Number((rows.at(-1) as RawEntryRow)[0]) + 1;
        size = Math.min(PAGE, left);
        if (from <= scan.to) next = page(from, size);
      }
      for (const row of rows) yield storedOfRaw(row);
    }
  }

  protected async _head(): Promise<number> {
    return Number((await this.#query(this.#q.head)).rows[0]?.head ?? 0);
  }

  protected async _reserveSequence(producer: string, count: number): Promise<number> {
    const { rows } = await this.#write({ ...this.#q.reserve, values: [producer, count] });
    return Number(rows[0]?.next) - count;
  }

  protected async _putReceipt(receipt: Receipt): Promise<boolean> {
    const final = isFinalStatus(receipt.status);
    if (!final || receipt.fencingToken === undefined) {
      await this.#write({
        ...this.#q.putReceipt,
        values: [receipt.sink, receipt.key, receipt.position, final, JSON.stringify(receipt)],
      });
      return true;
    }
    // One statement: the claim row is share-locked while the receipt goes in, so a
    // takeover of the claim is ordered before (this receipt is refused) or after (the
    // takeover then sees the key done).
    const result = await this.#write({
      ...this.#q.putFencedReceipt,
      values: [
        receipt.sink,
        receipt.key,
        receipt.position,
        JSON.stringify(receipt),
        receipt.fencingToken,
      ],
    });
    return result.rowCount === 1;
  }

  protected async _getReceipts(sink: string, key: string): Promise<readonly Receipt[]> {
    const { rows } = await this.#query({ ...this.#q.receipts, values: [sink, key] });
    return rows.map((row) => parseStoredJson(row.receipt) as Receipt);
  }

  protected async *_scanReceipts(sink: string, from: number, to: number): AsyncIterable<Receipt> {
    let position = from;
    let seq = 0;
    while (true) {
      const { rows } = await this.#query({
        ...this.#q.scanReceipts,
        values: [sink, position, seq, to, PAGE],
      });
      for (const row of rows) yield parseStoredJson(row.receipt) as Receipt;
      if (rows.length < PAGE) return;
      const last = rows.at(-1) as Record<string, unknown>;
      position = Number(last.position);
      seq = Number(last.seq);
    }
  }

  protected async _getWatermark(sink: string): Promise<number> {
    const { rows } = await this.#query({ ...this.#q.watermark, values: [sink] });
    return rows[0] === undefined ? 0 : Number(rows[0].position);
  }

  protected async _advanceWatermark(sink: string, position: number): Promise<number> {
    const { rows } = await this.#write({ ...this.#q.advanceWatermark, values: [sink, position] });
    return Number(rows[0]?.position);
  }

  protected async _claim(request: ClaimRequest): Promise<ClaimResult> {
    const ttl = request.expiresAt - request.now;
    for (let attempt = 0; ; attempt++) {
      const result = await this.#transaction(
        async (client): Promise<[ClaimResult | undefined, boolean]> => {
          const taken = await client.query({
            ...this.#q.takeClaim,
            values: [
              request.sink,
              request.key,
              request.owner,
              request.token,
              ttl,
              request.takeOverFrom ?? null,
            ],
          });
          // The final receipts are read after the claim is taken, in a later statement (a
          // later snapshot): a holder stores its receipt before it releases, so a claim
          // taken after a release always sees the receipt.
          if (!request.ignoreDone) {
            const done = await client.query({
              ...this.#q.lastFinal,
              values: [request.sink, request.key],
            });
            const row = done.rows[0];
            if (row !== undefined) {
              return [{ status: "done", receipt: parseStoredJson(row.receipt) as Receipt }, false];
            }
          }
          const acquired = taken.rows[0];
          if (acquired !== undefined) {
            const claim: Claim = Object.freeze({
              sink: request.sink,
              key: request.key,
              owner: request.owner,
              token: request.token,
              fencingToken: Number(acquired.fencing_token),
              expiresAt: Number(acquired.expires_at),
            });
            return [{ status: "acquired", claim }, true];
          }
          const current = await client.query({
            ...this.#q.currentClaim,
            values: [request.sink, request.key],
          });
          const row = current.rows[0];
          // Released or expired between the two statements: try again.
          if (row === undefined || row.released === true || row.expired === true) {
            return [undefined, false];
          }
          return [
            { status: "held", owner: row.owner as string, expiresAt: Number(row.expires_at) },
            false,
          ];
        },
      );
      if (result !== undefined) return result;
      if (attempt >= 10) throw new LedgerError("unavailable", "The claim kept changing hands");
    }
  }

  protected async _renewClaim(claim: Claim, expiresAt: number): Promise<boolean> {
    const ttl = Math.max(1, expiresAt - this.clock());
    const result = await this.#write({
      ...this.#q.renew,
      values: [ttl, claim.sink, claim.key, claim.token],
    });
    return result.rowCount === 1;
  }

  protected async _releaseClaim(claim: Claim): Promise<boolean> {
    const result = await this.#write({
      ...this.#q.release,
      values: [claim.sink, claim.key, claim.token],
    });
    return result.rowCount === 1;
  }

  protected async _appendAudit(
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    return this.#transaction(async (client): Promise<[AuditRecord, boolean]> => {
      const last = (await client.query(this.#q.lastAudit)).rows[0];
      const record = make(
        last === undefined ? undefined : { index: Number(last.idx), hash: last.hash as string },
      );
      await client.query({
        ...this.#q.insertAudit,
        values: [record.index, record.hash, JSON.stringify(record)],
      });
      return [record, true];
    }, this.#locks.audit);
  }

  protected async _changeFreeze(
    change: FreezeChange,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<FreezeChanged> {
    return this.#transaction(async (client): Promise<[FreezeChanged, boolean]> => {
      const found = (
        await client.query({ ...this.#q.freezeOf, values: [change.sink, change.origin] })
      ).rows[0];
      const before =
        found === undefined
          ? undefined
          : Object.freeze(JSON.parse(found.state as string) as SinkFreeze);
      if ((before === undefined) === (change.freeze === undefined)) {
        return [{ before, record: undefined }, false];
      }
      const last = (await client.query(this.#q.lastAudit)).rows[0];
      const record = make(
        last === undefined ? undefined : { index: Number(last.idx), hash: last.hash as string },
      );
      await client.query({
        ...this.#q.insertAudit,
        values: [record.index, record.hash, JSON.stringify(record)],
      });
      if (change.freeze === undefined) {
        await client.query({ ...this.#q.deleteFreeze, values: [change.sink, change.origin] });
      } else {
        await client.query({
          ...this.#q.putFreeze,
          values: [
            change.sink,
            change.origin,
            record.index,
            JSON.stringify({ ...change.freeze, audit: record.index }),
          ],
        });
      }
      return [{ before, record }, true];
    }, this.#locks.audit);
  }

  protected async _getFreezes(sink: string | undefined): Promise<readonly SinkFreeze[]> {
    const { rows } =
      sink === undefined
        ? await this.#query(this.#q.allFreezes)
        : await this.#query({ ...this.#q.freezes, values: [sink] });
    return rows.map((row) => Object.freeze(JSON.parse(row.state as string) as SinkFreeze));
  }

  protected async *_scanAudit(): AsyncIterable<AuditRecord> {
    let after = 0;
    while (true) {
      const { rows } = await this.#query({ ...this.#q.scanAudit, values: [after, PAGE] });
      for (const row of rows) yield JSON.parse(row.record as string) as AuditRecord;
      if (rows.length < PAGE) return;
      after = Number((rows.at(-1) as Record<string, unknown>).idx);
    }
  }

  protected async _close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.end();
  }
}

function tables(schema: string) {
  const s = `"${schema}"`;
  return {
    schema: s,
    entries: `${s}.sinkproof_entries`,
    sequences: `${s}.sinkproof_sequences`,
    receipts: `${s}.sinkproof_receipts`,
    watermarks: `${s}.sinkproof_watermarks`,
    claims: `${s}.sinkproof_claims`,
    freezes: `${s}.sinkproof_freezes`,
    audit: `${s}.sinkproof_audit`,
    meta: `${s}.sinkproof_meta`,
  };
}

/**
 * The ledger's statements, each prepared once per connection under a name:
 * `sp_<12 hex of the schema's SHA-256>_<statement>`, so that ledgers of two schemas on one
 * pool never share a name (`x` + `scan_receipts` and `x_scan` + `receipts` would), and
 * every name stays under PostgreSQL's 63 bytes (longer ones are cut, and can then clash).
 */
function statements(schema: string, t: ReturnType<typeof tables>) {
  const prefix = `sp_${createHash("sha256").update(schema).digest("hex").slice(0, 12)}_`;
  const named = (name: string, text: string) => ({ name: `${prefix}${name}`, text });
  const entryColumns = `SELECT position, appended_at, envelope, entry_hash, key, id, producer, stream, checksum FROM ${t.entries}`;
  return {
    lookup: named("lookup", `${entryColumns} WHERE key = ANY($1::text[]) OR id = ANY($2::text[])`),
    head: named("head", `SELECT coalesce(max(position), 0) AS head FROM ${t.entries}`),
    insert: named(
      "insert",
      `INSERT INTO ${t.entries} (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`,
    ),
    insertFresh: named(
      "insert_fresh",
      `INSERT INTO ${t.entries} (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) ON CONFLICT DO NOTHING`,
    ),
    byKey: named("by_key", `${entryColumns} WHERE key = $1`),
    byId: named("by_id", `${entryColumns} WHERE id = $1`),
    scan: named(
      "scan",
      `${entryColumns} WHERE position >= $1 AND position <= $2 ORDER BY position LIMIT $3`,
    ),
    scanProducer: named(
      "scan_p",
      `${entryColumns} WHERE position >= $1 AND position <= $2 AND producer = $3 ORDER BY position LIMIT $4`,
    ),
    scanStream: named(
      "scan_s",
      `${entryColumns} WHERE position >= $1 AND position <= $2 AND stream = $3 ORDER BY position LIMIT $4`,
    ),
    scanBoth: named(
      "scan_ps",
      `${entryColumns} WHERE position >= $1 AND position <= $2 AND producer = $3 AND stream = $4 ORDER BY position LIMIT $5`,
    ),
    reserve: named(
      "reserve",
      `INSERT INTO ${t.sequences} AS s (producer, next) VALUES ($1, $2) ON CONFLICT (producer) DO UPDATE SET next = s.next + excluded.next RETURNING next`,
    ),
    putReceipt: named(
      "put_receipt",
      `INSERT INTO ${t.receipts} (sink, key, position, final, receipt) VALUES ($1, $2, $3, $4, $5)`,
    ),
    receipts: named(
      "receipts",
      `SELECT receipt FROM ${t.receipts} WHERE sink = $1 AND key = $2 ORDER BY seq`,
    ),
    scanReceipts: named(
      "scan_receipts",
      `SELECT seq, position, receipt FROM ${t.receipts} WHERE sink = $1 AND (position, seq) > ($2, $3) AND position <= $4 ORDER BY position, seq LIMIT $5`,
    ),
    watermark: named("watermark", `SELECT position FROM ${t.watermarks} WHERE sink = $1`),
    advanceWatermark: named(
      "advance_watermark",
      `INSERT INTO ${t.watermarks} AS w (sink, position) VALUES ($1, $2) ON CONFLICT (sink) DO UPDATE SET position = GREATEST(w.position, excluded.position) RETURNING position`,
    ),
    putFencedReceipt: named(
      "put_fenced_receipt",
      `WITH c AS (SELECT fencing_token FROM ${t.claims} WHERE sink = $1 AND key = $2 FOR SHARE) INSERT INTO ${t.receipts} (sink, key, position, final, receipt) SELECT $1, $2, $3, true, $4 WHERE NOT EXISTS (SELECT 1 FROM c WHERE c.fencing_token > $5::bigint)`,
    ),
    // Claim rows are kept after release, so the key's last token is always there to grow from.
    takeClaim: named(
      "take_claim",
      `INSERT INTO ${t.claims} AS c (sink, key, owner, token, expires_at, fencing_token, released) VALUES ($1, $2, $3, $4, ${NOW_MS} + $5, 1, false) ON CONFLICT (sink, key) DO UPDATE SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at, fencing_token = c.fencing_token + 1, released = false WHERE c.expires_at <= ${NOW_MS} OR c.released OR c.owner = $6::text RETURNING expires_at, fencing_token`,
    ),
    lastFinal: named(
      "last_final",
      `SELECT receipt FROM ${t.receipts} WHERE sink = $1 AND key = $2 AND final ORDER BY seq DESC LIMIT 1`,
    ),
    currentClaim: named(
      "current_claim",
      `SELECT owner, expires_at, released, expires_at <= ${NOW_MS} AS expired FROM ${t.claims} WHERE sink = $1 AND key = $2`,
    ),
    renew: named(
      "renew",
      `UPDATE ${t.claims} SET expires_at = ${NOW_MS} + $1 WHERE sink = $2 AND key = $3 AND token = $4 AND NOT released`,
    ),
    release: named(
      "release",
      `UPDATE ${t.claims} SET released = true WHERE sink = $1 AND key = $2 AND token = $3 AND NOT released`,
    ),
    freezeOf: named(
      "freeze_of",
      `SELECT state FROM ${t.freezes} WHERE sink = $1 AND origin = $2 FOR UPDATE`,
    ),
    putFreeze: named(
      "put_freeze",
      `INSERT INTO ${t.freezes} (sink, origin, audit, state) VALUES ($1, $2, $3, $4)`,
    ),
    deleteFreeze: named(
      "delete_freeze",
      `DELETE FROM ${t.freezes} WHERE sink = $1 AND origin = $2`,
    ),
    freezes: named("freezes", `SELECT state FROM ${t.freezes} WHERE sink = $1 ORDER BY audit`),
    allFreezes: named("all_freezes", `SELECT state FROM ${t.freezes} ORDER BY sink, audit`),
    lastAudit: named("last_audit", `SELECT idx, hash FROM ${t.audit} ORDER BY idx DESC LIMIT 1`),
    insertAudit: named(
      "insert_audit",
      `INSERT INTO ${t.audit} (idx, hash, record) VALUES ($1, $2, $3)`,
    ),
    scanAudit: named(
      "scan_audit",
      `SELECT idx, record FROM ${t.audit} WHERE idx > $1 ORDER BY idx LIMIT $2`,
    ),
  };
}

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
async function migrate(pool: PgPool, schema: string, lock: number): Promise<void> {
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

/**
 * One statement on the pool (its own implicit transaction), its failure translated; a
 * serialization failure or deadlock is retried like a transaction's.
 */
async function query(
  pool: PgQueryable,
  config: { text: string; values?: unknown[]; name?: string; rowMode?: "array" },
): Promise<PgQueryResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await pool.query(config);
    } catch (error) {
      if (!isRetryableConflict(error) || attempt >= SERIALIZATION_RETRIES) {
        throw translatePgError(error);
      }
      log("statement retried after %s (attempt %d)", codeOf(error), attempt);
    }
    await sleep(Math.random() * 10 * attempt);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How every ledger transaction starts: READ COMMITTED (the ledger's reasoning about locks
 * and snapshots needs it), and `synchronous_commit` raised to on where a session has it
 * off (other values are at least as strong for the primary and are kept).
 */
const BEGIN =
  "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT set_config('synchronous_commit', 'on', true) WHERE current_setting('synchronous_commit') = 'off'";

/**
 * One write statement on its own: run directly on the pool (its own implicit transaction)
 * when the session defaults were safe at open, else in a READ COMMITTED transaction with
 * `synchronous_commit` on. A serialization failure or deadlock is retried like a
 * transaction's.
 */
export async function writeOne(
  pool: PgPool,
  config: { text: string; values?: unknown[]; name?: string },
  direct: boolean,
): Promise<PgQueryResult> {
  if (!direct) {
    return transaction(pool, async (client) => [await client.query(config), true]);
  }
  return query(pool, config);
}

/**
 * Runs `body` in a transaction on one client, after taking the advisory lock `lock` (for
 * the transaction) when given. `body` returns its value and whether to commit. A
 * serialization failure or deadlock is retried with a short random backoff; other
 * failures roll back and are translated. A client whose connection failed is destroyed,
 * not returned to the pool.
 */
export async function transaction<T>(
  pool: PgPool,
  body: (client: PgPoolClient, first: PgQueryResult | undefined) => Promise<[T, boolean]>,
  lock?: number,
  prelude?: string,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: PgPoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw translatePgError(error);
    }
    let destroy: Error | undefined;
    // The query in flight fails with the same error; this only keeps the event heard.
    const onError = (error: Error) => {
      destroy = error;
    };
    client.on?.("error", onError);
    try {
      // One round trip: BEGIN, the lock, and a first statement. The isolation is READ
      // COMMITTED whatever the session's default (a database may set repeatable read or
      // serializable): each statement takes its own snapshot, so statements after the lock
      // see what committed before it was granted. A session with synchronous_commit off
      // gets it on for this transaction, so an acknowledged commit is flushed.
      const started = (await client.query(
        [
          BEGIN,
          ...(lock === undefined ? [] : [`SELECT pg_advisory_xact_lock(${Math.trunc(lock)})`]),
          ...(prelude === undefined ? [] : [prelude]),
        ].join("; "),
      )) as PgQueryResult | PgQueryResult[];
      const first = prelude === undefined ? undefined : [started].flat().at(-1);
      const [value, commit] = await body(client, first);
      await client.query(commit ? "COMMIT" : "ROLLBACK");
      return value;
    } catch (error) {
      const translated = translatePgError(error);
      if (isSinkproofError(translated) && translated.code === "unavailable") {
        // The connection is gone, or a statement (perhaps the COMMIT) timed out on the
        // client and may still run: destroy the connection (the server rolls back whatever
        // did not commit) and never reuse it. The outcome of a COMMIT is then unknown.
        destroy = error instanceof Error ? error : new Error(String(error));
      } else {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          // The connection is gone or confused: destroy it rather than reuse it.
          destroy =
            rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
      }
      if (!isRetryableConflict(error) || attempt >= SERIALIZATION_RETRIES) {
        throw translatePgError(error);
      }
      log("transaction retried after %s (attempt %d)", codeOf(error), attempt);
    } finally {
      client.removeListener?.("error", onError);
      client.release(destroy);
    }
    await sleep(Math.random() * 10 * attempt);
  }
}

function codeOf(error: unknown): string | undefined {
  const code =
    typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

function isUniqueViolation(error: unknown): boolean {
  const cause = isSinkproofError(error) ? error.cause : error;
  return codeOf(cause) === "23505";
}

function isRetryableConflict(error: unknown): boolean {
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
