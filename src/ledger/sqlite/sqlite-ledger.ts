/**
 * `SqliteLedger`: the ledger in one SQLite database file, through better-sqlite3 12 (an
 * optional peer dependency, loaded when a ledger is opened).
 *
 * Promises:
 * - an acknowledged write is in the WAL and fsync'd: the database runs in WAL mode with
 *   `synchronous=FULL`, read back and checked at open; weaker settings are refused
 *   (`unsafe_settings`) unless `allowUnsafeSettings` says otherwise, and the ledger then
 *   declares `durability: "none"`;
 * - every call is one transaction (`BEGIN IMMEDIATE` for writes), so a batch that fails
 *   leaves nothing behind, and positions are assigned and committed in order: SQLite has
 *   one writer at a time, so a reader never sees position n + 1 before n;
 * - the tables carry the ledger's rules as constraints (unique key, unique id, unique
 *   position, receipts that name an entry), so a bug above cannot store a second meaning;
 * - every read is verified before it is returned (see read-checks.ts): the payload's stored
 *   canonical text hashes to its checksum, the entry hash stored at append (schema 2)
 *   covers every other field, the position and the append time, the key, id, producer,
 *   stream and checksum columns agree with the envelope; damage is a `CorruptionError`
 *   naming the file, the table and the position;
 * - the schema is versioned (`PRAGMA user_version`); migrations run at open, in one
 *   transaction, and a database made by a newer version is refused
 *   (`database_too_new`);
 * - several processes on one machine may share the file (WAL); a call waits for another
 *   connection's lock in short blocking tries with asynchronous sleeps between them, so
 *   the event loop keeps running, and a lock held longer than `busyTimeoutMs` is
 *   `unavailable`.
 *
 * @module
 */

import { accessSync, constants, existsSync } from "node:fs";
import { algorithmOf } from "../../checksum/checksum.js";
import type { Envelope } from "../../envelope/schema.js";
import {
  CorruptionError,
  IdempotencyConflictError,
  isSinkproofError,
  LedgerError,
} from "../../errors.js";
import { describe, invalidArgument } from "../../internal/arguments.js";
import { optionKeys, readOptions } from "../../internal/options.js";
import {
  type AppendClash,
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
export const SQLITE_SCHEMA_VERSION = 3;

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
      const rows = page.all(after) as EntryRow[];
      for (const row of rows) set.run(backfilledEntryHash(storedOf(row), site), row.position);
      if (rows.length < 1000) return;
      after = (rows.at(-1) as EntryRow).position;
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
];

const PAGE = 1000;

/**
 * Options of {@link SqliteLedger.open}.
 *
 * @example
 * ```ts
 * import { SqliteLedger, type SqliteLedgerOptions } from "sinkproof/sqlite";
 * const options: SqliteLedgerOptions = { synchronous: "extra", busyTimeoutMs: 10_000 };
 * const ledger = await SqliteLedger.open("./data/ledger.db", options);
 * ```
 */
export interface SqliteLedgerOptions extends LedgerOptions {
  /**
   * Open even when the database cannot run with WAL and `synchronous=FULL` (an in-memory
   * database, a file system without shared memory): the ledger then declares
   * `durability: "none"`. For tests only.
   * @default false
   */
  readonly allowUnsafeSettings?: boolean | undefined;
  /**
   * `synchronous` setting. `"full"` and `"extra"` keep the promise; `"normal"` and
   * `"off"` lose acknowledged writes on power failure and need `allowUnsafeSettings`.
   * @default "full"
   */
  readonly synchronous?: "full" | "extra" | "normal" | "off" | undefined;
  /**
   * How long a call waits for another connection's lock (another process, or another
   * ledger on the same file) before it fails with `unavailable`, in ms. 0 to 600,000.
   * The wait does not block the event loop: the driver waits at most 20 ms at a time
   * (better-sqlite3 is synchronous, so that much is blocking), and the ledger sleeps
   * asynchronously between tries, so timers (claim renewals among them) keep running.
   * @default 5000
   */
  readonly busyTimeoutMs?: number | undefined;
}

/** The part of better-sqlite3's `Statement` the ledger uses. */
interface Statement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  raw(toggle: boolean): Statement;
}

/** The part of better-sqlite3's `Database` the ledger uses. */
interface Database {
  prepare(sql: string): Statement;
  exec(sql: string): unknown;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(
    fn: (...args: A) => R,
  ): { (...args: A): R; immediate(...args: A): R };
  close(): unknown;
  readonly open: boolean;
}

type DatabaseConstructor = new (path: string, options?: { timeout?: number }) => Database;

/** Loads better-sqlite3 once; a missing package is a `missing_driver` error with the fix. */
const loadDriver = peerLoader<DatabaseConstructor>(
  () => import("better-sqlite3"),
  "SqliteLedger needs the optional peer dependency better-sqlite3 12: npm install better-sqlite3@12",
);

interface EntryRow {
  position: number;
  appended_at: string;
  envelope: string;
  entry_hash?: string;
  key: string;
  id: string;
  producer: string;
  stream: string;
  checksum: string;
}

/** The columns of `entryColumns`, in order, as a raw row (an array: cheaper than an object). */
type RawEntryRow = [number, string, string, string, string, string, string, string, string];

/** A raw row as the core verifies it (see {@link storedOf}). */
function storedOfRaw(row: RawEntryRow): StoredEntry {
  return {
    position: row[0],
    appendedAt: row[1],
    envelope: row[2],
    entryHash: row[3],
    columns: { key: row[4], id: row[5], producer: row[6], stream: row[7], checksum: row[8] },
  };
}

/** A row as the core verifies it: the envelope text, its entry hash, the columns beside it. */
function storedOf(row: EntryRow): StoredEntry {
  return {
    position: row.position,
    appendedAt: row.appended_at,
    envelope: row.envelope,
    entryHash: row.entry_hash,
    columns: row,
  };
}

/** Rolls an append's transaction back, carrying the clash that decided it. */
class Clash {
  readonly clash: AppendClash;
  constructor(clash: AppendClash) {
    this.clash = clash;
  }
}

const SYNCHRONOUS = { off: 0, normal: 1, full: 2, extra: 3 } as const;

const SQLITE_KEYS = optionKeys<SqliteLedgerOptions>()(
  ...LEDGER_OPTION_KEYS,
  "allowUnsafeSettings",
  "synchronous",
  "busyTimeoutMs",
);

/**
 * A ledger in one SQLite file: WAL with `synchronous=FULL`, every call one transaction,
 * the ledger's rules as table constraints, and versioned migrations. Shared by the
 * processes of one machine. Needs `better-sqlite3` 12 (`npm install better-sqlite3@12`).
 *
 * @example
 * ```ts
 * import { SqliteLedger } from "sinkproof/sqlite";
 * const ledger = await SqliteLedger.open("./data/ledger.db");
 * await ledger.append([envelope]); // committed and fsync'd when it resolves
 * await ledger.close();
 * ```
 */
export class SqliteLedger extends BaseLedger {
  readonly capabilities: LedgerCapabilities;
  protected override readonly keepsCanonicalPayloads: boolean = true;
  /** The database file, as given to `open`. */
  readonly path: string;
  readonly #db: Database;
  readonly #busyTimeoutMs: number;
  readonly #s: ReturnType<typeof prepareAll>;
  readonly #append: (
    envelopes: readonly Envelope[],
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
  ) => AppendOutcome;

  private constructor(
    path: string,
    db: Database,
    durable: boolean,
    busyTimeoutMs: number,
    options: SqliteLedgerOptions,
  ) {
    super(options);
    this.#busyTimeoutMs = busyTimeoutMs;
    this.path = path;
    this.#db = db;
    this.capabilities = Object.freeze({
      durability: durable ? "wal-synchronous" : "none",
      concurrency: "multi-process",
      claims: "durable",
      clock: "injected",
    });
    this.#s = prepareAll(db);
    const append = db.transaction(
      (
        envelopes: readonly Envelope[],
        appendedAt: string,
        canonical: readonly (Uint8Array | undefined)[],
      ): AppendOutcome => this.#appendInTransaction(envelopes, appendedAt, canonical),
    );
    this.#append = (envelopes, appendedAt, canonical) => {
      try {
        return append.immediate(envelopes, appendedAt, canonical);
      } catch (error) {
        // Thrown to roll the transaction back; the clash is the answer.
        if (error instanceof Clash) return error.clash;
        throw error;
      }
    };
  }

  /**
   * Opens (creating it if needed) the ledger in the SQLite file at `path`: loads
   * better-sqlite3, sets WAL and `synchronous=FULL` and checks them, runs the schema
   * migrations. Throws `LedgerError` `missing_driver` without better-sqlite3,
   * `unsafe_settings` when the settings cannot be had, `database_too_new` for a
   * database made by a newer sinkproof.
   *
   * @example
   * ```ts
   * import { SqliteLedger } from "sinkproof/sqlite";
   * const ledger = await SqliteLedger.open("./data/ledger.db", { busyTimeoutMs: 10_000 });
   * ```
   */
  static async open(path: string, openOptions: SqliteLedgerOptions = {}): Promise<SqliteLedger> {
    if (typeof path !== "string" || path.length === 0 || path.includes("\u0000")) {
      invalidArgument("path", `must be a file path, got ${describe(path)}`);
    }
    const options = readOptions<SqliteLedgerOptions>(openOptions, "options", SQLITE_KEYS);
    checkLedgerOptions(options);
    const allowUnsafe = options.allowUnsafeSettings ?? false;
    if (typeof allowUnsafe !== "boolean") {
      invalidArgument(
        "options.allowUnsafeSettings",
        `must be a boolean, got ${describe(allowUnsafe)}`,
      );
    }
    const synchronous = options.synchronous ?? "full";
    if (typeof synchronous !== "string" || !Object.hasOwn(SYNCHRONOUS, synchronous)) {
      invalidArgument(
        "options.synchronous",
        `must be "full", "extra", "normal" or "off", got ${describe(synchronous)}`,
      );
    }
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > 600_000) {
      invalidArgument(
        "options.busyTimeoutMs",
        `must be an integer from 0 to 600000, got ${describe(busyTimeoutMs)}`,
      );
    }
    const Driver = await loadDriver();
    // SQLite opens a file it may not write read-only without a word, and the first write
    // would fail: refuse it here, untouched.
    if (path !== ":memory:" && existsSync(path)) {
      try {
        accessSync(path, constants.W_OK);
      } catch (error) {
        throw new LedgerError(
          "storage_error",
          `Refusing to open ${path}: the file is read-only to this process (${String((error as { code?: unknown }).code ?? error)}), and the ledger writes to it`,
          { cause: error },
        );
      }
    }
    let db: Database;
    try {
      db = new Driver(path, { timeout: Math.min(busyTimeoutMs, DRIVER_BUSY_MS) });
    } catch (error) {
      throw openError(translateSqliteError(error, path), path);
    }
    try {
      const setUp = (): boolean => {
        // Before anything is set: a database made by a newer sinkproof is refused untouched
        // (setting WAL would change its file).
        refuseNewer(db, path);
        db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
        const journal = String(db.pragma("journal_mode = WAL", { simple: true })).toLowerCase();
        const level = Number(db.pragma("synchronous", { simple: true }));
        db.pragma("foreign_keys = ON");
        const weak: string[] = [];
        if (journal !== "wal") weak.push(`journal_mode is ${journal}, not wal`);
        if (!(level >= SYNCHRONOUS.full))
          weak.push(`synchronous is ${synchronous}, not full or extra`);
        if (weak.length > 0 && !allowUnsafe) {
          throw new LedgerError(
            "unsafe_settings",
            `Refusing to open ${path}: ${weak.join("; ")}. An acknowledged write could be lost; pass allowUnsafeSettings: true to accept that (tests only)`,
          );
        }
        migrate(db, path);
        return weak.length === 0;
      };
      // Each step is idempotent: while another process holds a lock, sleep and start over.
      const deadline = Date.now() + busyTimeoutMs;
      let durable: boolean | undefined;
      for (let attempt = 0; durable === undefined; attempt++) {
        try {
          durable = setUp();
        } catch (error) {
          if (!isBusy(error) || Date.now() >= deadline) throw error;
          await sleep(busyBackoff(attempt, deadline));
        }
      }
      return new SqliteLedger(path, db, durable, busyTimeoutMs, options);
    } catch (error) {
      try {
        db.close();
      } catch {
        // already failing
      }
      throw openError(translateSqliteError(error, path), path);
    }
  }

  /**
   * Runs `fn` (one statement or one transaction); while the database is locked by another
   * connection, tries again after a short sleep that lets the event loop run, until
   * `busyTimeoutMs` has passed (then `unavailable`). The driver itself waits at most
   * `DRIVER_BUSY_MS` per try, blocking: better-sqlite3 is synchronous.
   */
  async #run<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return fn();
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) {
          throw translateSqliteError(error, this.path);
        }
      }
      await sleep(busyBackoff(attempt, deadline));
    }
  }

  /**
   * `#run` for the synchronous scan: a read waits for a lock only in rare moments (WAL
   * recovery, a truncating checkpoint), and then it waits blocking.
   */
  #runSync<T>(fn: () => T): T {
    const deadline = Date.now() + this.#busyTimeoutMs;
    while (true) {
      try {
        return fn();
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) {
          throw translateSqliteError(error, this.path);
        }
      }
    }
  }

  protected override storageSite(part: StoragePart): StorageSite {
    return { file: this.path, table: `sinkproof_${part}` };
  }

  /** An entry an append found in its way, verified like every read. */
  #entry(row: EntryRow | undefined): LedgerEntry | undefined {
    return row === undefined ? undefined : this.entryFromStored(storedOf(row));
  }

  /**
   * Inserts optimistically, in order: a new key and id take the next position; an insert
   * the unique constraints refuse is then looked up, as `planAppend` would decide it
   * (same key and checksum: existing; else a clash, and the transaction rolls back).
   */
  #appendInTransaction(
    envelopes: readonly Envelope[],
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
  ): AppendOutcome {
    const s = this.#s;
    const results: AppendedEntry[] = new Array(envelopes.length);
    let position = (s.head.get() as { head: number }).head;
    for (let index = 0; index < envelopes.length; index++) {
      const envelope = envelopes[index] as Envelope;
      const stored = storedEnvelope(envelope, canonical[index]);
      const inserted = s.insertEntry.run(
        position + 1,
        envelope.key,
        envelope.id,
        envelope.producer,
        envelope.stream,
        envelope.checksum,
        appendedAt,
        stored.text,
        entryHashOfRest(position + 1, appendedAt, stored.rest, algorithmOf(envelope.checksum)),
      );
      if (inserted.changes === 1) {
        position++;
        results[index] = {
          entry: Object.freeze({ position, appendedAt, envelope }),
          status: "appended",
        };
        continue;
      }
      const plan = planAppend(
        [envelope],
        (key) => this.#entry(s.byKey.get(key) as EntryRow | undefined),
        (id) => this.#entry(s.byId.get(id) as EntryRow | undefined),
      );
      if (!plan.ok) throw new Clash({ ...plan, index });
      const existing = plan.existing.get(0);
      // Neither key nor id is there: the position was taken, by a writer outside the ledger.
      if (existing === undefined) {
        throw new LedgerError(
          "storage_error",
          `Position ${position + 1} of ${this.path} is already taken by a row the ledger did not write`,
          { position: position + 1 },
        );
      }
      results[index] = { entry: existing, status: "existing" };
    }
    return { ok: true, results };
  }

  // ---- BaseLedger ----------------------------------------------------------------------

  protected async _append(
    envelopes: readonly Envelope[],
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
  ): Promise<AppendOutcome> {
    return this.#run(() => this.#append(envelopes, appendedAt, canonical));
  }

  protected async _getByKey(key: string): Promise<StoredEntry | undefined> {
    const row = await this.#run(() => this.#s.byKey.get(key) as EntryRow | undefined);
    return row === undefined ? undefined : storedOf(row);
  }

  protected async _getById(id: string): Promise<StoredEntry | undefined> {
    const row = await this.#run(() => this.#s.byId.get(id) as EntryRow | undefined);
    return row === undefined ? undefined : storedOf(row);
  }

  protected *_scan(scan: EntryScan): Iterable<StoredEntry> {
    // Page by page, so that no statement stays open between two steps of the consumer
    // (which may write to the ledger meanwhile).
    let from = scan.from;
    let left = scan.limit;
    const statement =
      scan.producer === undefined
        ? scan.stream === undefined
          ? this.#s.scan
          : this.#s.scanStream
        : scan.stream === undefined
          ? this.#s.scanProducer
          : this.#s.scanBoth;
    const filters: string[] = [];
    if (scan.producer !== undefined) filters.push(scan.producer);
    if (scan.stream !== undefined) filters.push(scan.stream);
    while (left > 0 && from <= scan.to) {
      const size = Math.min(PAGE, left);
      const rows = this.#runSync(
        () => statement.all(from, scan.to, ...filters, size) as RawEntryRow[],
      );
      for (const row of rows) yield storedOfRaw(row);
      if (rows.length < size) return;
      left -= rows.length;
      from = (rows.at(-1) as RawEntryRow)[0] + 1;
    }
  }

  protected async _head(): Promise<number> {
    return this.#run(() => (this.#s.head.get() as { head: number }).head);
  }

  protected async _reserveSequence(producer: string, count: number): Promise<number> {
    return this.#run(() => {
      const row = this.#s.reserve.get(producer, count) as { next: number };
      return row.next - count;
    });
  }

  protected async _putReceipt(receipt: Receipt): Promise<boolean> {
    return this.#run(() => this.#s.putReceipt.immediate(receipt));
  }

  protected async _getReceipts(sink: string, key: string): Promise<readonly Receipt[]> {
    return this.#run(() =>
      (this.#s.receipts.all(sink, key) as { receipt: string }[]).map(
        (row) => parseStoredJson(row.receipt) as Receipt,
      ),
    );
  }

  protected async *_scanReceipts(sink: string, from: number, to: number): AsyncIterable<Receipt> {
    let position = from;
    let seq = 0;
    while (true) {
      const rows = await this.#run(
        () =>
          this.#s.scanReceipts.all(sink, position, position, seq, to, PAGE) as {
            seq: number;
            position: number;
            receipt: string;
          }[],
      );
      for (const row of rows) yield parseStoredJson(row.receipt) as Receipt;
      if (rows.length < PAGE) return;
      const last = rows.at(-1) as { seq: number; position: number };
      position = last.position;
      seq = last.seq;
    }
  }

  protected async _getWatermark(sink: string): Promise<number> {
    return this.#run(
      () => (this.#s.watermark.get(sink) as { position: number } | undefined)?.position ?? 0,
    );
  }

  protected async _advanceWatermark(sink: string, position: number): Promise<number> {
    return this.#run(
      () => (this.#s.advanceWatermark.get(sink, position) as { position: number }).position,
    );
  }

  protected async _claim(request: ClaimRequest): Promise<ClaimResult> {
    return this.#run(() => this.#s.claim.immediate(request));
  }

  protected async _renewClaim(claim: Claim, expiresAt: number): Promise<boolean> {
    return this.#run(
      () => this.#s.renew.run(expiresAt, claim.sink, claim.key, claim.token).changes === 1,
    );
  }

  protected async _releaseClaim(claim: Claim): Promise<boolean> {
    return this.#run(() => this.#s.release.run(claim.sink, claim.key, claim.token).changes === 1);
  }

  protected async _appendAudit(
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    return this.#run(() => this.#s.appendAudit.immediate(make));
  }

  protected async _changeFreeze(
    change: FreezeChange,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<FreezeChanged> {
    return this.#run(() => this.#s.changeFreeze.immediate(change, make));
  }

  protected async _getFreezes(sink: string | undefined): Promise<readonly SinkFreeze[]> {
    return this.#run(() =>
      (
        (sink === undefined ? this.#s.allFreezes.all() : this.#s.freezes.all(sink)) as {
          state: string;
        }[]
      ).map((row) => Object.freeze(JSON.parse(row.state) as SinkFreeze)),
    );
  }

  protected async *_scanAudit(): AsyncIterable<AuditRecord> {
    let after = 0;
    while (true) {
      const rows = await this.#run(
        () => this.#s.scanAudit.all(after, PAGE) as { idx: number; record: string }[],
      );
      for (const row of rows) yield JSON.parse(row.record) as AuditRecord;
      if (rows.length < PAGE) return;
      after = (rows.at(-1) as { idx: number }).idx;
    }
  }

  protected async _close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

/**
 * How long the driver itself waits for a lock, per try, in ms. better-sqlite3 is
 * synchronous: its busy handler sleeps on the event loop's thread, so it is kept short
 * and the ledger sleeps asynchronously between tries instead (see `#run`).
 */
const DRIVER_BUSY_MS = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The sleep before try `attempt + 1`: 1, 2, 4 … up to 50 ms, with jitter, never past the deadline. */
function busyBackoff(attempt: number, deadline: number): number {
  const ms = Math.min(2 ** attempt, 50) * (0.5 + Math.random() / 2);
  return Math.max(0, Math.min(ms, deadline - Date.now()));
}

function isBusy(error: unknown): boolean {
  const code =
    typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return (
    typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
  );
}

/** A failure to open as the library's error: `BaseLedger` does not wrap `open`. */
function openError(error: unknown, path: string): unknown {
  if (isSinkproofError(error)) return error;
  return new LedgerError(
    "storage_error",
    `Opening the SQLite ledger ${path} failed: ${String(error)}`,
    {
      cause: error,
    },
  );
}

/** The database's schema version; a newer one than this code is `database_too_new`. */
function refuseNewer(db: Database, path: string): number {
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
function migrate(db: Database, path: string): void {
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

function prepareAll(db: Database) {
  const entryColumns =
    "SELECT position, appended_at, envelope, entry_hash, key, id, producer, stream, checksum FROM sinkproof_entries";
  const lastFinal = db.prepare(
    "SELECT receipt FROM sinkproof_receipts WHERE sink = ? AND key = ? AND final = 1 ORDER BY seq DESC LIMIT 1",
  );
  const currentClaim = db.prepare(
    "SELECT owner, token, expires_at, fencing_token, released FROM sinkproof_claims WHERE sink = ? AND key = ?",
  );
  const putClaim = db.prepare(
    "INSERT INTO sinkproof_claims (sink, key, owner, token, expires_at, fencing_token, released) VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (sink, key) DO UPDATE SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at, fencing_token = excluded.fencing_token, released = 0",
  );
  const nextFencingToken = db.prepare(
    "UPDATE sinkproof_fencing SET last = max(last + 1, ?) WHERE id = 1 RETURNING last",
  );
  const insertReceipt = db.prepare(
    "INSERT INTO sinkproof_receipts (sink, key, position, final, receipt) VALUES (?, ?, ?, ?, ?)",
  );
  const fencingTokenOf = db.prepare(
    "SELECT fencing_token FROM sinkproof_claims WHERE sink = ? AND key = ?",
  );
  const freezeOf = db.prepare("SELECT state FROM sinkproof_freezes WHERE sink = ? AND origin = ?");
  const putFreeze = db.prepare(
    "INSERT INTO sinkproof_freezes (sink, origin, audit, state) VALUES (?, ?, ?, ?)",
  );
  const deleteFreeze = db.prepare("DELETE FROM sinkproof_freezes WHERE sink = ? AND origin = ?");
  const lastAudit = db.prepare("SELECT idx, hash FROM sinkproof_audit ORDER BY idx DESC LIMIT 1");
  const insertAudit = db.prepare(
    "INSERT INTO sinkproof_audit (idx, hash, record) VALUES (?, ?, ?)",
  );
  return {
    byKey: db.prepare(`${entryColumns} WHERE key = ?`),
    byId: db.prepare(`${entryColumns} WHERE id = ?`),
    head: db.prepare("SELECT coalesce(max(position), 0) AS head FROM sinkproof_entries"),
    insertEntry: db.prepare(
      "INSERT INTO sinkproof_entries (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    ),
    // Scans return rows as arrays (`raw`): no object per row to build.
    scan: db
      .prepare(`${entryColumns} WHERE position >= ? AND position <= ? ORDER BY position LIMIT ?`)
      .raw(true),
    scanProducer: db
      .prepare(
        `${entryColumns} WHERE position >= ? AND position <= ? AND producer = ? ORDER BY position LIMIT ?`,
      )
      .raw(true),
    scanStream: db
      .prepare(
        `${entryColumns} WHERE position >= ? AND position <= ? AND stream = ? ORDER BY position LIMIT ?`,
      )
      .raw(true),
    scanBoth: db
      .prepare(
        `${entryColumns} WHERE position >= ? AND position <= ? AND producer = ? AND stream = ? ORDER BY position LIMIT ?`,
      )
      .raw(true),
    reserve: db.prepare(
      "INSERT INTO sinkproof_sequences (producer, next) VALUES (?, ?) ON CONFLICT (producer) DO UPDATE SET next = next + excluded.next RETURNING next",
    ),
    putReceipt: db.transaction((receipt: Receipt): boolean => {
      const final = isFinalStatus(receipt.status);
      if (final && receipt.fencingToken !== undefined) {
        const row = fencingTokenOf.get(receipt.sink, receipt.key) as
          | { fencing_token: number }
          | undefined;
        if (row !== undefined && row.fencing_token > receipt.fencingToken) return false;
      }
      insertReceipt.run(
        receipt.sink,
        receipt.key,
        receipt.position,
        final ? 1 : 0,
        JSON.stringify(receipt),
      );
      return true;
    }),
    receipts: db.prepare(
      "SELECT receipt FROM sinkproof_receipts WHERE sink = ? AND key = ? ORDER BY seq",
    ),
    scanReceipts: db.prepare(
      "SELECT seq, position, receipt FROM sinkproof_receipts WHERE sink = ? AND (position > ? OR (position = ? AND seq > ?)) AND position <= ? ORDER BY position, seq LIMIT ?",
    ),
    watermark: db.prepare("SELECT position FROM sinkproof_watermarks WHERE sink = ?"),
    advanceWatermark: db.prepare(
      "INSERT INTO sinkproof_watermarks (sink, position) VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET position = max(position, excluded.position) RETURNING position",
    ),
    claim: db.transaction((request: ClaimRequest): ClaimResult => {
      if (!request.ignoreDone) {
        const done = lastFinal.get(request.sink, request.key) as { receipt: string } | undefined;
        if (done !== undefined)
          return { status: "done", receipt: parseStoredJson(done.receipt) as Receipt };
      }
      const current = currentClaim.get(request.sink, request.key) as
        | {
            owner: string;
            token: string;
            expires_at: number;
            fencing_token: number;
            released: number;
          }
        | undefined;
      if (
        current !== undefined &&
        current.released === 0 &&
        current.expires_at > request.now &&
        (request.takeOverFrom === undefined || current.owner !== request.takeOverFrom)
      ) {
        return { status: "held", owner: current.owner, expiresAt: current.expires_at };
      }
      const { last: fencingToken } = nextFencingToken.get((current?.fencing_token ?? 0) + 1) as {
        last: number;
      };
      putClaim.run(
        request.sink,
        request.key,
        request.owner,
        request.token,
        request.expiresAt,
        fencingToken,
      );
      return {
        status: "acquired",
        claim: Object.freeze({
          sink: request.sink,
          key: request.key,
          owner: request.owner,
          token: request.token,
          fencingToken,
          expiresAt: request.expiresAt,
        }),
      };
    }),
    renew: db.prepare(
      "UPDATE sinkproof_claims SET expires_at = ? WHERE sink = ? AND key = ? AND token = ? AND released = 0",
    ),
    release: db.prepare(
      "UPDATE sinkproof_claims SET released = 1 WHERE sink = ? AND key = ? AND token = ? AND released = 0",
    ),
    changeFreeze: db.transaction(
      (
        change: FreezeChange,
        make: (previous: AuditHead | undefined) => AuditRecord,
      ): FreezeChanged => {
        const row = freezeOf.get(change.sink, change.origin) as { state: string } | undefined;
        const before =
          row === undefined ? undefined : Object.freeze(JSON.parse(row.state) as SinkFreeze);
        if ((before === undefined) === (change.freeze === undefined)) {
          return { before, record: undefined };
        }
        const last = lastAudit.get() as { idx: number; hash: string } | undefined;
        const record = make(last === undefined ? undefined : { index: last.idx, hash: last.hash });
        insertAudit.run(record.index, record.hash, JSON.stringify(record));
        if (change.freeze === undefined) deleteFreeze.run(change.sink, change.origin);
        else {
          putFreeze.run(
            change.sink,
            change.origin,
            record.index,
            JSON.stringify({ ...change.freeze, audit: record.index }),
          );
        }
        return { before, record };
      },
    ),
    freezes: db.prepare("SELECT state FROM sinkproof_freezes WHERE sink = ? ORDER BY audit"),
    allFreezes: db.prepare("SELECT state FROM sinkproof_freezes ORDER BY sink, audit"),
    appendAudit: db.transaction((make: (previous: AuditHead | undefined) => AuditRecord) => {
      const last = lastAudit.get() as { idx: number; hash: string } | undefined;
      const record = make(last === undefined ? undefined : { index: last.idx, hash: last.hash });
      insertAudit.run(record.index, record.hash, JSON.stringify(record));
      return record;
    }),
    scanAudit: db.prepare(
      "SELECT idx, record FROM sinkproof_audit WHERE idx > ? ORDER BY idx LIMIT ?",
    ),
  };
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
