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
 * This file is the ledger class; its parts are beside it: the options (options.ts), the
 * pool and the server's settings at open (connect.ts), the schema and its migrations
 * (migrations.ts), the SQL text (sql.ts), the append transactions (append.ts), rows as
 * read (rows.ts), how SQL runs (transaction.ts) and driver errors (errors.ts).
 *
 * @module
 */

import type { Envelope } from "../../envelope/schema.js";
import { isSinkproofError, LedgerError } from "../../errors.js";
import {
  type AppendOutcome,
  BaseLedger,
  type ClaimRequest,
  type EntryScan,
  type FreezeChange,
  type FreezeChanged,
  type ReceiptsCompacted,
} from "../base.js";
import { type BucketRow, bucketsOfRows, type HashedRow, positionsOfRows } from "../digests.js";
import {
  parseStoredJson,
  type StoragePart,
  type StorageSite,
  type StoredEntry,
} from "../read-checks.js";
import {
  type EntryRow,
  type RawEntryRow,
  scanStatement,
  storedOf,
  storedOfRaw,
} from "../sql-rows.js";
import type {
  AuditHead,
  AuditRecord,
  BucketDigest,
  Claim,
  ClaimResult,
  DigestScope,
  DigestSplit,
  HashRange,
  LedgerCapabilities,
  Receipt,
  ReconcileCheckpoint,
  SinkFreeze,
  WindowSample,
} from "../types.js";
import { isFinalStatus } from "../validate.js";
import { appendFresh, appendPlanned } from "./append.js";
import { checkServer, type Locks, makePool } from "./connect.js";
import { isUniqueViolation, translatePgError } from "./errors.js";
import { migrate } from "./migrations.js";
import { type PostgresLedgerOptions, readPostgresOptions } from "./options.js";
import type { PgPool, PgPoolClient, PgQueryResult } from "./pool.js";
import { type Statements, statements, type Tables, tables } from "./sql.js";
import { query, transaction, writeOne } from "./transaction.js";

const PAGE = 1000;

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
  readonly #t: Tables;
  readonly #q: Statements;

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
    const { options, given, target, schema, allowUnsafe, poolSize } =
      readPostgresOptions(openOptions);
    const pool = given ?? (await makePool(target as string, poolSize));
    try {
      const server = await checkServer(pool, schema, allowUnsafe);
      await migrate(pool, schema, server.migrateLock);
      return new PostgresLedger(
        pool,
        given === undefined,
        schema,
        server.locks,
        server.durable,
        server.direct,
        server.database,
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
        appendFresh(
          client,
          this.#q,
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
          (client) =>
            appendPlanned(
              client,
              this.#q,
              (row) => this.entryFromStored(pgStored(row)),
              envelopes,
              appendedAt,
              canonical,
            ),
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

  protected async _getByKey(key: string): Promise<StoredEntry | undefined> {
    const row = (await this.#query({ ...this.#q.byKey, values: [key] })).rows[0];
    return row === undefined ? undefined : pgStored(row as unknown as EntryRow);
  }

  protected async _getById(id: string): Promise<StoredEntry | undefined> {
    const row = (await this.#query({ ...this.#q.byId, values: [id] })).rows[0];
    return row === undefined ? undefined : pgStored(row as unknown as EntryRow);
  }

  protected async *_scan(scan: EntryScan): AsyncIterable<StoredEntry> {
    let from = scan.from;
    let left = scan.limit;
    const { statement, filters } = scanStatement(scan, this.#q);
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
      for (const row of rows) yield storedOfRaw(row, Number(row[0]));
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

  protected override async _getReceiptsMany(
    sink: string,
    keys: readonly string[],
  ): Promise<readonly (readonly Receipt[])[]> {
    const { rows } = await this.#query({ ...this.#q.receiptsOfKeys, values: [sink, keys] });
    const byKey = new Map<string, Receipt[]>();
    for (const row of rows) {
      const key = String(row.key);
      let list = byKey.get(key);
      if (list === undefined) {
        list = [];
        byKey.set(key, list);
      }
      list.push(parseStoredJson(row.receipt) as Receipt);
    }
    return keys.map((key) => byKey.get(key) ?? []);
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

  protected override async _getManyByKey(
    keys: readonly string[],
  ): Promise<(StoredEntry | undefined)[]> {
    const { rows } = await this.#query({ ...this.#q.byKeys, values: [keys] });
    const found = new Map<string, StoredEntry>();
    for (const row of rows) {
      const stored = pgStored(row as unknown as EntryRow);
      found.set(String((row as { key: unknown }).key), stored);
    }
    return keys.map((key) => found.get(key));
  }

  protected override async _putReceipts(receipts: readonly Receipt[]): Promise<boolean[]> {
    const finals = receipts.map((r) => isFinalStatus(r.status));
    const { rows } = await this.#write({
      ...this.#q.putReceipts,
      values: [
        receipts.map((r) => r.sink),
        receipts.map((r) => r.key),
        receipts.map((r) => r.position),
        finals,
        receipts.map((r) => JSON.stringify(r)),
        receipts.map((r) => r.fencingToken ?? null),
      ],
    });
    const fenced = new Set(rows.map((row) => Number(row.ord)));
    return receipts.map((_, i) => !fenced.has(i + 1));
  }

  protected override async _claimMany(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    const results = new Map<string, ClaimResult>();
    let left = requests;
    try {
      for (let attempt = 0; left.length > 0; attempt++) {
        if (attempt > 10) throw new LedgerError("unavailable", "The claims kept changing hands");
        const asked = left;
        left = await this.#transaction(
          async (client): Promise<[ClaimRequest[], boolean]> => [
            await this.#claimRound(client, asked, results),
            true,
          ],
        );
      }
    } catch (error) {
      // All or nothing for the caller: claims committed by earlier rounds are given up.
      const taken = [...results.values()].flatMap((r) =>
        r.status === "acquired" ? [r.claim] : [],
      );
      if (taken.length > 0) await this._releaseClaims(taken).catch(() => undefined);
      throw error;
    }
    return requests.map((r) => results.get(r.key) as ClaimResult);
  }

  /**
   * One round of `_claimMany` in the caller's transaction: every key asked claimed in one
   * statement, then the final receipts read in a later one (as `_claim` reads them: a claim
   * taken after a release always sees the receipt). A key found done is answered `done`
   * with its claim rolled back, exactly as `_claim` rolls back: the claims are taken under
   * a savepoint, and when some key turns out done the savepoint is rolled back and the
   * others taken again. Answers go into `results`; returns the keys to ask again (released
   * or expired between two statements).
   */
  async #claimRound(
    client: PgPoolClient,
    asked: readonly ClaimRequest[],
    results: Map<string, ClaimResult>,
  ): Promise<ClaimRequest[]> {
    // A transaction retried (a deadlock, a serialization failure) starts over: nothing an
    // attempt rolled back is kept.
    for (const request of asked) results.delete(request.key);
    const first = asked[0] as ClaimRequest;
    const { sink, owner, ignoreDone, takeOverFrom } = first;
    const ttl = first.expiresAt - first.now;
    let pending = asked;
    let acquired = new Map<string, Record<string, unknown>>();
    for (let round = 0; pending.length > 0; round++) {
      if (round > 10) throw new LedgerError("unavailable", "The claims kept changing hands");
      await client.query("SAVEPOINT sinkproof_claims");
      const taken = await client.query({
        ...this.#q.takeClaims,
        values: [
          sink,
          owner,
          ttl,
          pending.map((r) => r.key),
          pending.map((r) => r.token),
          takeOverFrom ?? null,
        ],
      });
      acquired = new Map();
      for (const row of taken.rows) acquired.set(String(row.key), row);
      if (ignoreDone) break;
      const finals = await client.query({
        ...this.#q.lastFinals,
        values: [sink, pending.map((r) => r.key)],
      });
      const done = new Map<string, Receipt>();
      for (const row of finals.rows) {
        done.set(String(row.key), parseStoredJson(row.receipt) as Receipt);
      }
      for (const [key, receipt] of done) results.set(key, { status: "done", receipt });
      if (![...done.keys()].some((key) => acquired.has(key))) break;
      // A claim was taken on a key that is done: undone, and the others taken again.
      await client.query("ROLLBACK TO SAVEPOINT sinkproof_claims");
      acquired = new Map();
      pending = pending.filter((r) => !done.has(r.key));
    }
    const unsettled = pending.filter((r) => !results.has(r.key) && !acquired.has(r.key));
    const current = new Map<string, Record<string, unknown>>();
    if (unsettled.length > 0) {
      const found = await client.query({
        ...this.#q.currentClaims,
        values: [sink, unsettled.map((r) => r.key)],
      });
      for (const row of found.rows) current.set(String(row.key), row);
    }
    const again: ClaimRequest[] = [];
    for (const request of pending) {
      if (results.get(request.key)?.status === "done") continue;
      const row = acquired.get(request.key);
      if (row !== undefined) {
        const claim: Claim = Object.freeze({
          sink,
          key: request.key,
          owner,
          token: request.token,
          fencingToken: Number(row.fencing_token),
          expiresAt: Number(row.expires_at),
        });
        results.set(request.key, { status: "acquired", claim });
        continue;
      }
      const held = current.get(request.key);
      // Released or expired between the two statements: asked again.
      if (held === undefined || held.released === true || held.expired === true) {
        again.push(request);
        continue;
      }
      results.set(request.key, {
        status: "held",
        owner: held.owner as string,
        expiresAt: Number(held.expires_at),
      });
    }
    return again;
  }

  protected override async _releaseClaims(claims: readonly Claim[]): Promise<boolean[]> {
    const { rows } = await this.#write({
      ...this.#q.releaseMany,
      values: [claims.map((c) => c.sink), claims.map((c) => c.key), claims.map((c) => c.token)],
    });
    const released = new Set(rows.map((row) => Number(row.ord)));
    return claims.map((_, i) => released.has(i + 1));
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
    return this.#transaction(
      async (client): Promise<[AuditRecord, boolean]> => [await this.#auditIn(client, make), true],
      this.#locks.audit,
    );
  }

  /** Appends the next audit record, made from the last, in the caller's transaction. */
  async #auditIn(
    client: PgPoolClient,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    const last = (await client.query(this.#q.lastAudit)).rows[0];
    const record = make(
      last === undefined ? undefined : { index: Number(last.idx), hash: last.hash as string },
    );
    await client.query({
      ...this.#q.insertAudit,
      values: [record.index, record.hash, JSON.stringify(record)],
    });
    return record;
  }

  protected override async _compactReceipts(
    sink: string,
    through: number,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<ReceiptsCompacted> {
    return this.#transaction(async (client): Promise<[ReceiptsCompacted, boolean]> => {
      const deleted = await client.query({ ...this.#q.deleteCompacted, values: [sink, through] });
      const record = await this.#auditIn(client, make);
      return [{ removed: deleted.rowCount ?? 0, record }, true];
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
      const record = await this.#auditIn(client, make);
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

  protected override async _digestBuckets(
    split: DigestSplit,
    scope: DigestScope,
  ): Promise<readonly BucketDigest[]> {
    const width = (split.to - split.from) / split.buckets;
    const { rows } = await this.#query({
      ...this.#q.digestBuckets,
      values: [split.from, split.to, width, scope.through],
    });
    return bucketsOfRows(rows as unknown as BucketRow[]);
  }

  protected override async _digestPositions(
    range: HashRange,
    scope: DigestScope,
  ): Promise<readonly number[]> {
    const { rows } = await this.#query({
      ...this.#q.digestPositions,
      values: [range.from, range.to, scope.through],
    });
    return positionsOfRows(rows as unknown as HashedRow[], this.storageSite("entries"));
  }

  protected override async _getCheckpoint(sink: string): Promise<ReconcileCheckpoint | undefined> {
    const { rows } = await this.#query({ ...this.#q.checkpoint, values: [sink] });
    const row = rows[0];
    return row === undefined ? undefined : (parseStoredJson(row.checkpoint) as ReconcileCheckpoint);
  }

  protected override async _putCheckpoint(checkpoint: ReconcileCheckpoint): Promise<void> {
    await this.#query({
      ...this.#q.putCheckpoint,
      values: [checkpoint.sink, JSON.stringify(checkpoint)],
    });
  }

  protected override async _recordWindows(
    samples: readonly WindowSample[],
    keep: number,
  ): Promise<void> {
    const sinks = samples.map((sample) => sample.sink);
    await this.#transaction(async (client): Promise<[undefined, boolean]> => {
      await client.query({
        ...this.#q.insertWindows,
        values: [sinks, samples.map((sample) => JSON.stringify(sample))],
      });
      await client.query({ ...this.#q.trimWindows, values: [[...new Set(sinks)], keep] });
      return [undefined, true];
    });
  }

  protected override async _windowHistory(
    sink: string,
    limit: number,
  ): Promise<readonly unknown[]> {
    const { rows } = await this.#query({ ...this.#q.windows, values: [sink, limit] });
    return rows.map((row) => parseStoredJson(row.sample));
  }

  protected override async _replaceCheckpoint(
    checkpoint: ReconcileCheckpoint,
    expected: ReconcileCheckpoint | null,
  ): Promise<boolean> {
    // One statement each: the row's lock decides between two processes swapping at once.
    const json = JSON.stringify(checkpoint);
    const result =
      expected === null
        ? await this.#query({ ...this.#q.insertCheckpoint, values: [checkpoint.sink, json] })
        : await this.#query({
            ...this.#q.swapCheckpoint,
            values: [checkpoint.sink, json, JSON.stringify(expected)],
          });
    return result.rowCount === 1;
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

/** A row as the core verifies it, its position (a `bigint`, given as a string) a number. */
function pgStored(row: EntryRow): StoredEntry {
  return storedOf(row, Number(row.position));
}
