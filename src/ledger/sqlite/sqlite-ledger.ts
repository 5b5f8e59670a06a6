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
 * This file is the ledger class and its append transaction; its parts are beside it: the
 * options (options.ts), the driver and lock waits (driver.ts), the schema and its
 * migrations (migrations.ts), the statements and the other transactions (sql.ts), rows as
 * read (rows.ts) and driver errors (errors.ts).
 *
 * @module
 */

import { accessSync, constants, existsSync } from "node:fs";
import { algorithmOf } from "../../checksum/checksum.js";
import type { Envelope } from "../../envelope/schema.js";
import { LedgerError } from "../../errors.js";
import { describe, invalidArgument } from "../../internal/arguments.js";
import {
  type AppendClash,
  type AppendOutcome,
  BaseLedger,
  type ClaimRequest,
  type EntryScan,
  type FreezeChange,
  type FreezeChanged,
  planAppend,
  type ReceiptsCompacted,
} from "../base.js";
import {
  type BucketRow,
  bucketsOfRows,
  type HashedRow,
  positionsOfRows,
  rowWords,
} from "../digests.js";
import { storedEnvelope } from "../envelope-json.js";
import {
  entryHashOfRest,
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
  AppendedEntry,
  AuditHead,
  AuditRecord,
  BucketDigest,
  Claim,
  ClaimResult,
  DigestScope,
  DigestSplit,
  HashRange,
  LedgerCapabilities,
  LedgerEntry,
  Receipt,
  ReconcileCheckpoint,
  SinkFreeze,
  WindowSample,
} from "../types.js";
import { busyBackoff, type Database, DRIVER_BUSY_MS, loadDriver, sleep } from "./driver.js";
import { isBusy, openError, translateSqliteError } from "./errors.js";
import { migrate, refuseNewer } from "./migrations.js";
import { readSqliteOptions, type SqliteLedgerOptions, SYNCHRONOUS } from "./options.js";
import { type Prepared, prepareAll } from "./sql.js";

const PAGE = 1000;

/** Rolls an append's transaction back, carrying the clash that decided it. */
class Clash {
  readonly clash: AppendClash;
  constructor(clash: AppendClash) {
    this.clash = clash;
  }
}

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
  readonly #s: Prepared;
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
    const { options, allowUnsafe, synchronous, busyTimeoutMs } = readSqliteOptions(openOptions);
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
        ...rowWords(envelope),
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
    const { statement, filters } = scanStatement(scan, this.#s);
    while (left > 0 && from <= scan.to) {
      const size = Math.min(PAGE, left);
      const rows = this.#runSync(
        () => statement.all(from, scan.to, ...filters, size) as RawEntryRow<number>[],
      );
      for (const row of rows) yield storedOfRaw(row);
      if (rows.length < size) return;
      left -= rows.length;
      from = (rows.at(-1) as RawEntryRow<number>)[0] + 1;
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

  protected override async _getReceiptsMany(
    sink: string,
    keys: readonly string[],
  ): Promise<readonly (readonly Receipt[])[]> {
    const lists = await this.#run(() => this.#s.receiptsMany(sink, keys));
    return lists.map((rows) => rows.map((row) => parseStoredJson(row.receipt) as Receipt));
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

  protected override async _getManyByKey(
    keys: readonly string[],
  ): Promise<(StoredEntry | undefined)[]> {
    // One read transaction: every key answered from the same snapshot.
    return this.#run(() =>
      this.#s.getMany(keys).map((row) => (row === undefined ? undefined : storedOf(row))),
    );
  }

  protected override async _claimMany(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    return this.#run(() => this.#s.claimMany.immediate(requests));
  }

  protected override async _releaseClaims(claims: readonly Claim[]): Promise<boolean[]> {
    return this.#run(() => this.#s.releaseMany.immediate(claims));
  }

  protected override async _putReceipts(receipts: readonly Receipt[]): Promise<boolean[]> {
    return this.#run(() => this.#s.putReceipts.immediate(receipts));
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

  protected override async _compactReceipts(
    sink: string,
    through: number,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<ReceiptsCompacted> {
    return this.#run(() => this.#s.compactReceipts.immediate(sink, through, make));
  }

  protected async _changeFreeze(
    change: FreezeChange,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<FreezeChanged> {
    return this.#run(() => this.#s.changeFreeze.immediate(change, make));
  }

  protected override async _digestBuckets(
    split: DigestSplit,
    scope: DigestScope,
  ): Promise<readonly BucketDigest[]> {
    const width = (split.to - split.from) / split.buckets;
    return this.#run(() =>
      bucketsOfRows(
        this.#s.digestBuckets.all(
          split.from,
          width,
          split.from,
          split.to,
          scope.through,
        ) as BucketRow[],
      ),
    );
  }

  protected override async _digestPositions(
    range: HashRange,
    scope: DigestScope,
  ): Promise<readonly number[]> {
    return this.#run(() =>
      positionsOfRows(
        this.#s.digestPositions.all(range.from, range.to, scope.through) as HashedRow[],
        this.storageSite("entries"),
      ),
    );
  }

  protected override async _getCheckpoint(sink: string): Promise<ReconcileCheckpoint | undefined> {
    const row = await this.#run(
      () => this.#s.checkpoint.get(sink) as { checkpoint: string } | undefined,
    );
    return row === undefined ? undefined : (parseStoredJson(row.checkpoint) as ReconcileCheckpoint);
  }

  protected override async _putCheckpoint(checkpoint: ReconcileCheckpoint): Promise<void> {
    await this.#run(() => this.#s.putCheckpoint.run(checkpoint.sink, JSON.stringify(checkpoint)));
  }

  protected override async _recordWindows(
    samples: readonly WindowSample[],
    keep: number,
  ): Promise<void> {
    await this.#run(() => this.#s.recordWindows.immediate(samples, keep));
  }

  protected override async _windowHistory(
    sink: string,
    limit: number,
  ): Promise<readonly unknown[]> {
    const rows = await this.#run(() => this.#s.windows.all(sink, limit) as { sample: string }[]);
    return rows.map((row) => parseStoredJson(row.sample));
  }

  protected override async _replaceCheckpoint(
    checkpoint: ReconcileCheckpoint,
    expected: ReconcileCheckpoint | null,
  ): Promise<boolean> {
    const json = JSON.stringify(checkpoint);
    const want = expected === null ? null : JSON.stringify(expected);
    return this.#run(() => this.#s.replaceCheckpoint.immediate(checkpoint.sink, json, want));
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
