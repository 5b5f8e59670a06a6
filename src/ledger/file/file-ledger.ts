/**
 * `FileLedger`: the embedded, crash-safe ledger. No dependency beyond Node.
 *
 * Layout: a directory with a `LOCK` file (lock.ts), append-only segment files
 * (`segment-000001.log`, …) of checksummed frames in group commits (frames.ts), and
 * `CLOSED`, where the log ended at the last clean close. Promises:
 * - an append (and every other write) is acknowledged only after the group commit it went
 *   out in, commit record and all, is fdatasync'd (segments.ts); writes that arrive while
 *   a sync is running are grouped into the next one;
 * - one call is one frame, so after a crash each call is all there or not there;
 * - reopening replays the segments (replay.ts, each walked by recovery.ts) and cuts off
 *   only what cannot have been acknowledged, a group commit cut short, and reports it;
 *   damage anywhere else is a `CorruptionError` with file and offset, never skipped and
 *   never read as data: a complete group that does not check out, a segment shorter than
 *   its successor says, a log that no longer reaches where it was last closed, a
 *   watermark past the entries before it, a gap in the audit records;
 * - nothing on disk changes until everything read checked out;
 * - a directory of format version 1 is read as it is, and goes on in a new segment of
 *   version 2;
 * - one process writes at a time (`LOCK`, taken over only from a holder proved dead).
 *
 * Memory: the process keeps the indexes (entries.ts: key and id to position, each entry's
 * index fields and where its envelope lies on disk), the receipts and the audit log
 * (`FileState`, replay.ts). Envelopes are read from disk when asked for, and checked
 * against their stored hash on every read.
 *
 * This module opens the ledger and answers the adapter's `_` methods; appending entries
 * (planning against committed and pending entries, one frame per call) is in entries.ts.
 *
 * @module
 */

import { mkdir, realpath } from "node:fs/promises";
import type { Envelope } from "../../envelope/schema.js";
import { isSinkproofError, LedgerError } from "../../errors.js";
import { describe, errorText, invalidArgument } from "../../internal/arguments.js";
import { checkInteger } from "../../internal/checks.js";
import { optionKeys, readOptions } from "../../internal/options.js";
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
  type ReceiptsCompacted,
} from "../base.js";
import { type IndexedRow, LazyRowIndex } from "../row-index.js";
import { ClaimTable } from "../state.js";
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
  LedgerEntry,
  Receipt,
  ReconcileCheckpoint,
  SinkFreeze,
  WindowSample,
} from "../types.js";
import { isFinalStatus } from "../validate.js";
import { MAX_ENTRIES } from "./columns.js";
import { EntryTable } from "./entries.js";
import { jsonFrame, KIND } from "./frames.js";
import { type DirectoryLock, lockDirectory } from "./lock.js";
import { ReceiptColumns } from "./receipts.js";
import { type FileLedgerRecovery, FileState, recover } from "./replay.js";
import { loadRowCache, saveRowCache } from "./row-cache.js";
import { SegmentLog } from "./segments.js";

const log = logger("ledger");

/**
 * Fencing tokens reserved on disk at a time: one small fsync'd record per this many
 * claims, and a reopen skips what was left of the last block (tokens only need to grow).
 */
const FENCE_BLOCK = 65_536;

const CAPABILITIES: LedgerCapabilities = Object.freeze({
  durability: "fsync",
  concurrency: "single-process",
  claims: "process",
  clock: "injected",
});

/** Options of {@link FileLedger.open}. */
export interface FileLedgerOptions extends LedgerOptions {
  /**
   * Size in bytes after which writes go to a new segment file. From 4 KiB to 1 GiB.
   * @default 67_108_864 (64 MiB)
   */
  readonly segmentBytes?: number | undefined;
  /**
   * How many recently appended or read entries stay parsed in memory. 0 to 1,000,000.
   * @default 4096
   */
  readonly cacheEntries?: number | undefined;
  /**
   * Most entries the ledger takes; past it `append` refuses with a `LedgerError` of code
   * `ledger_full`, appending nothing. At most (and by default) 2^32 − 1, the limit of
   * its 32-bit positions in memory.
   * @default 4_294_967_295
   */
  readonly maxEntries?: number | undefined;
}

export type { FileLedgerRecovery, TornTail } from "./replay.js";

const FILE_KEYS = optionKeys<FileLedgerOptions>()(
  ...LEDGER_OPTION_KEYS,
  "segmentBytes",
  "cacheEntries",
  "maxEntries",
);

/** The FileLedger's own options, checked (before anything on disk is touched). */
function checkFileOptions(options: FileLedgerOptions): {
  segmentBytes: number;
  cacheEntries: number;
  maxEntries: number;
} {
  const segmentBytes = checkInteger(
    options.segmentBytes ?? 64 * 1024 * 1024,
    "options.segmentBytes",
    4096,
    1024 ** 3,
  );
  const cacheEntries = checkInteger(
    options.cacheEntries ?? 4096,
    "options.cacheEntries",
    0,
    1_000_000,
  );
  const maxEntries = checkInteger(
    options.maxEntries ?? MAX_ENTRIES,
    "options.maxEntries",
    1,
    MAX_ENTRIES,
  );
  return { segmentBytes, cacheEntries, maxEntries };
}

/**
 * A crash-safe ledger in a directory: append-only, checksummed segment files, fsync'd
 * before every acknowledgement, with concurrent writes grouped into one fsync. Open it
 * with {@link FileLedger.open}; one process at a time.
 *
 * @example
 * ```ts
 * import { FileLedger } from "sinkproof";
 * const ledger = await FileLedger.open("./data/ledger");
 * console.log(ledger.recovery); // { segments, frames, entries, truncated?, durationMs }
 * await ledger.append([envelope]);   // returns once the bytes are on disk
 * await ledger.close();
 * ```
 */
export class FileLedger extends BaseLedger {
  readonly capabilities: LedgerCapabilities = CAPABILITIES;
  protected override readonly keepsCanonicalPayloads: boolean = true;
  /** Every read checks the frame's hash over the bytes appended (see entries.ts). */
  protected override readonly readsVerified: boolean = true;
  /** The ledger's directory (a real path). */
  readonly directory: string;
  #recovery: FileLedgerRecovery = { segments: 0, frames: 0, entries: 0, durationMs: 0 };

  readonly #lock: DirectoryLock;
  readonly #log: SegmentLog;
  readonly #entries: EntryTable;
  readonly #state: FileState;
  readonly #claims = new ClaimTable(() => this.#state.fenceNext++);
  #fenceReserving: Promise<void> | undefined;
  /** Final receipts written but not yet durable, by (sink, key): claims wait for them. */
  readonly #pendingFinal = new Map<string, Promise<void>>();
  /**
   * Digest mode's row hashes: at the first request, those the row-index cache kept when the
   * ledger last closed (row-cache.ts), caught up from a verified scan.
   */
  readonly #rowIndex = new LazyRowIndex(
    (from, to) => this.#indexedRows(from, to),
    async () => {
      const loaded = await loadRowCache(this.directory, this.#entries.count, (p) =>
        this.#entryAt(p),
      );
      this.#rowCacheLength = loaded?.length ?? 0;
      return loaded;
    },
  );
  /** Positions the row-index cache on disk holds (0: none read). */
  #rowCacheLength = 0;

  private constructor(directory: string, lock: DirectoryLock, options: FileLedgerOptions) {
    super(options);
    this.directory = directory;
    this.#lock = lock;
    const { segmentBytes, cacheEntries, maxEntries } = checkFileOptions(options);
    this.#log = new SegmentLog(directory, segmentBytes, (error) => this.fail(error));
    this.#entries = new EntryTable(this.#log, cacheEntries, maxEntries);
    const entries = this.#entries;
    this.#state = new FileState(
      new ReceiptColumns(this.#log.segments, (key, visit) => entries.positionsOf(key, visit)),
    );
  }

  /** What opening found: segments, frames, entries, a torn tail cut off, a stale lock taken over. */
  get recovery(): FileLedgerRecovery {
    return this.#recovery;
  }

  /**
   * Opens (creating it if needed) the ledger in `directory`: takes the lock, replays the
   * segments, cuts off a group commit that a crash cut short (and says so in
   * {@link FileLedger.recovery}). Throws `LedgerLockedError` when another process holds
   * it (or its holder cannot be checked from here), `CorruptionError` when anything that
   * was or may have been acknowledged is damaged or missing.
   */
  static async open(directory: string, openOptions: FileLedgerOptions = {}): Promise<FileLedger> {
    if (typeof directory !== "string" || directory.length === 0 || directory.includes("\u0000")) {
      invalidArgument("directory", `must be a path, got ${describe(directory)}`);
    }
    const options = readOptions<FileLedgerOptions>(openOptions, "options", FILE_KEYS);
    // Every option is checked before anything on disk is touched.
    checkLedgerOptions(options);
    checkFileOptions(options);
    const started = performance.now();
    let real: string;
    let lock: DirectoryLock;
    try {
      await mkdir(directory, { recursive: true });
      real = await realpath(directory);
      lock = await lockDirectory(real);
    } catch (error) {
      if (isSinkproofError(error)) throw error;
      // ENAMETOOLONG, EACCES, ENOTDIR, EROFS…: the directory cannot be had, nothing was written.
      const code = (error as { code?: unknown } | null)?.code;
      throw new LedgerError(
        "storage_error",
        `Cannot open the ledger directory ${JSON.stringify(directory.slice(0, 256))}: ${typeof code === "string" ? code : errorText(error)}`,
        { cause: error },
      );
    }
    let ledger: FileLedger | undefined;
    try {
      ledger = new FileLedger(real, lock, options);
      ledger.#recovery = await recover(
        real,
        ledger.#log,
        ledger.#entries,
        ledger.#state,
        lock,
        started,
      );
      return ledger;
    } catch (error) {
      if (ledger !== undefined) await ledger.#log.closeFiles().catch(() => undefined);
      lock.release();
      throw error;
    }
  }

  // ---- BaseLedger ----------------------------------------------------------------------

  protected _append(
    envelopes: readonly Envelope[],
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
  ): Promise<AppendOutcome> {
    return this.#entries.append(envelopes, appendedAt, canonical);
  }

  protected async _getByKey(key: string): Promise<LedgerEntry | undefined> {
    return this.#entries.byKey(key);
  }

  protected async _getById(id: string): Promise<LedgerEntry | undefined> {
    return this.#entries.byId(id);
  }

  protected _scan(scan: EntryScan): AsyncIterable<LedgerEntry> {
    return this.#entries.scan(scan);
  }

  protected async _head(): Promise<number> {
    return this.#entries.count;
  }

  protected async _reserveSequence(producer: string, count: number): Promise<number> {
    const first = this.#state.sequences.get(producer) ?? 0;
    // Taken now, so that concurrent reservations never overlap; durable before returning.
    this.#state.sequences.set(producer, first + count);
    await this.#log.write(
      jsonFrame(KIND.sequence, { producer, next: first + count }),
      () => undefined,
    );
    return first;
  }

  protected async _putReceipt(receipt: Receipt): Promise<boolean> {
    const final = isFinalStatus(receipt.status);
    if (
      final &&
      receipt.fencingToken !== undefined &&
      this.#claims.fenced(receipt.sink, receipt.key, receipt.fencingToken)
    ) {
      return false;
    }
    const durable = this.#log.write(jsonFrame(KIND.receipt, receipt), (segment, offset) =>
      this.#state.receipts.put(receipt, segment, offset),
    );
    if (final) {
      // Until it is on disk, a claim of the key must not see it as not done.
      const id = `${receipt.sink}\u0000${receipt.key}`;
      const pending = durable.then(
        () => undefined,
        () => undefined,
      );
      this.#pendingFinal.set(id, pending);
      void pending.then(() => {
        if (this.#pendingFinal.get(id) === pending) this.#pendingFinal.delete(id);
      });
    }
    await durable;
    return true;
  }

  protected override async _putReceipts(receipts: readonly Receipt[]): Promise<boolean[]> {
    // Every frame is handed to the log now, in order, before any is awaited: the whole
    // batch goes into one group commit (one fsync), not one per receipt.
    const settled = await Promise.allSettled(receipts.map((receipt) => this._putReceipt(receipt)));
    const failed = settled.find((s) => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<boolean>).value);
  }

  protected async _getReceipts(sink: string, key: string): Promise<readonly Receipt[]> {
    return this.#state.receipts.get(sink, key);
  }

  protected override async _getReceiptsMany(
    sink: string,
    keys: readonly string[],
  ): Promise<readonly (readonly Receipt[])[]> {
    return keys.map((key) => this.#state.receipts.get(sink, key));
  }

  protected async *_scanReceipts(sink: string, from: number, to: number): AsyncIterable<Receipt> {
    yield* this.#state.receipts.scan(sink, from, to);
  }

  protected async _getWatermark(sink: string): Promise<number> {
    return this.#state.watermarks.get(sink) ?? 0;
  }

  protected async _advanceWatermark(sink: string, position: number): Promise<number> {
    const current = this.#state.watermarks.get(sink) ?? 0;
    if (position <= current) return current;
    await this.#log.write(jsonFrame(KIND.watermark, { sink, position }), () => {
      this.#state.watermarks.set(sink, Math.max(this.#state.watermarks.get(sink) ?? 0, position));
    });
    return this.#state.watermarks.get(sink) ?? 0;
  }

  protected async _claim(request: ClaimRequest): Promise<ClaimResult> {
    const id = `${request.sink}\u0000${request.key}`;
    for (;;) {
      const pending = this.#pendingFinal.get(id);
      if (pending !== undefined) {
        await pending;
        continue;
      }
      // A claim may take a token only once it is reserved on disk: after a restart, tokens
      // keep growing, so a sink that fences by token never refuses a new holder.
      if (this.#state.fenceNext >= this.#state.fenceLimit) {
        await this.#reserveFencing();
        continue;
      }
      return this.#claims.claim(request, this.#state.receipts.lastFinal(request.sink, request.key));
    }
  }

  #reserveFencing(): Promise<void> {
    this.#fenceReserving ??= (async () => {
      const next = Math.max(this.#state.fenceNext, this.#state.fenceLimit) + FENCE_BLOCK;
      try {
        await this.#log.write(jsonFrame(KIND.fence, { next }), () => {
          this.#state.fenceLimit = next;
        });
      } finally {
        this.#fenceReserving = undefined;
      }
    })();
    return this.#fenceReserving;
  }

  protected async _changeFreeze(
    change: FreezeChange,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<FreezeChanged> {
    // Decided now, against writes still in flight, so concurrent calls decide in order.
    const before = this.#state.freezesDecided.find(change.sink, change.origin);
    if ((before === undefined) === (change.freeze === undefined))
      return { before, record: undefined };
    const record = make(this.#state.auditTail);
    this.#state.auditTail = { index: record.index, hash: record.hash };
    const freeze =
      change.freeze === undefined ? undefined : { ...change.freeze, audit: record.index };
    this.#state.freezesDecided.set(change.sink, change.origin, freeze);
    await this.#log.write(
      jsonFrame(KIND.freeze, {
        sink: change.sink,
        origin: change.origin,
        freeze: freeze ?? null,
        record,
      }),
      () => {
        this.#state.freezes.set(change.sink, change.origin, freeze);
        this.#state.audit.push(record);
      },
    );
    return { before, record };
  }

  protected override async _compactReceipts(
    sink: string,
    through: number,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<ReceiptsCompacted> {
    // Chained now, on the last record appended, durable or not (as `_appendAudit`); the
    // receipts go when the record is durable, in log order, exactly as replay will do it.
    const record = make(this.#state.auditTail);
    this.#state.auditTail = { index: record.index, hash: record.hash };
    let removed = 0;
    await this.#log.write(jsonFrame(KIND.compact, { sink, through, record }), () => {
      removed = this.#state.receipts.compact(sink, through);
      this.#state.audit.push(record);
    });
    return { removed, record };
  }

  /** The key and checksum of the committed entry at `position` (undefined past the head). */
  async #entryAt(position: number): Promise<{ key: string; checksum: string } | undefined> {
    if (position < 1 || position > this.#entries.count) return undefined;
    for await (const entry of this.#entries.scan({
      from: position,
      to: position,
      producer: undefined,
      stream: undefined,
      limit: 1,
    })) {
      return { key: entry.envelope.key, checksum: entry.envelope.checksum };
    }
    return undefined;
  }

  async *#indexedRows(from: number, to: number): AsyncIterable<IndexedRow> {
    for await (const { position, envelope } of this.scan({ from, to })) {
      yield { position, key: envelope.key, checksum: envelope.checksum };
    }
  }

  /**
   * Keeps digest mode's row index for the next process, when it holds more than the cache
   * does. A failure costs the next process one scan, nothing else: it is logged.
   */
  async #saveRowCache(): Promise<void> {
    const index = this.#rowIndex.built;
    if (index === undefined || index.length <= this.#rowCacheLength) return;
    try {
      const last = await this.#entryAt(index.length);
      if (last !== undefined) await saveRowCache(this.directory, index, last);
    } catch (error) {
      log("the row-index cache was not written: %s", errorText(error));
    }
  }

  protected override async _digestBuckets(
    split: DigestSplit,
    scope: DigestScope,
  ): Promise<readonly BucketDigest[]> {
    return (await this.#rowIndex.upTo(this.#entries.count)).buckets(split, scope);
  }

  protected override async _digestPositions(
    range: HashRange,
    scope: DigestScope,
  ): Promise<readonly number[]> {
    return (await this.#rowIndex.upTo(this.#entries.count)).positions(range, scope);
  }

  protected override async _getCheckpoint(sink: string): Promise<ReconcileCheckpoint | undefined> {
    return this.#state.checkpoints.get(sink) as ReconcileCheckpoint | undefined;
  }

  protected override async _putCheckpoint(checkpoint: ReconcileCheckpoint): Promise<void> {
    await this.#log.write(jsonFrame(KIND.checkpoint, checkpoint), () => {
      this.#state.checkpoints.set(checkpoint.sink, checkpoint);
    });
  }

  protected override async _recordWindows(samples: readonly WindowSample[]): Promise<void> {
    await this.#log.write(jsonFrame(KIND.windows, samples), () => this.#state.windows.add(samples));
  }

  protected override async _windowHistory(
    sink: string,
    limit: number,
  ): Promise<readonly unknown[]> {
    return this.#state.windows.get(sink, limit);
  }

  protected async _getFreezes(sink: string | undefined): Promise<readonly SinkFreeze[]> {
    return sink === undefined ? this.#state.freezes.all() : this.#state.freezes.get(sink);
  }

  protected async _renewClaim(claim: Claim, expiresAt: number): Promise<boolean> {
    return this.#claims.renew(claim, expiresAt);
  }

  protected async _releaseClaim(claim: Claim): Promise<boolean> {
    return this.#claims.release(claim);
  }

  protected async _appendAudit(
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<AuditRecord> {
    // Chained on the last record appended, durable or not, so concurrent appends chain in order.
    const record = make(this.#state.auditTail);
    this.#state.auditTail = { index: record.index, hash: record.hash };
    await this.#log.write(jsonFrame(KIND.audit, record), () => this.#state.audit.push(record));
    return record;
  }

  protected async *_scanAudit(): AsyncIterable<AuditRecord> {
    yield* this.#state.audit.slice();
  }

  protected async _close(): Promise<void> {
    try {
      await this.#saveRowCache();
      await this.#log.close();
    } finally {
      this.#lock.release();
    }
  }
}
