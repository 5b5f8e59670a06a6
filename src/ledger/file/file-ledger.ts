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
 * - reopening replays the segments (recovery.ts) and cuts off only what cannot have been
 *   acknowledged, a group commit cut short, and reports it; damage anywhere else is a
 *   `CorruptionError` with file and offset, never skipped and never read as data: a
 *   complete group that does not check out, a segment shorter than its successor says, a
 *   log that no longer reaches where it was last closed, a watermark past the entries
 *   before it, a gap in the audit records;
 * - nothing on disk changes until everything read checked out;
 * - a directory of format version 1 is read as it is, and goes on in a new segment of
 *   version 2;
 * - one process writes at a time (`LOCK`, taken over only from a holder proved dead).
 *
 * Memory: the process keeps the indexes (key and id to position, each entry's index
 * fields and where its envelope lies on disk), the receipts and the audit log. Envelopes
 * are read from disk when asked for, and checked against their stored hash on every read.
 *
 * @module
 */

import { readdirSync, readSync, unlinkSync } from "node:fs";
import { mkdir, readFile, realpath } from "node:fs/promises";
import { join } from "node:path";
import { xxh32Bytes } from "../../checksum/xxhash.js";
import { isValidEnvelopeFields } from "../../envelope/fields.js";
import type { Envelope, JsonValue } from "../../envelope/schema.js";
import { buildEnvelope } from "../../envelope/seal.js";
import { CorruptionError, isSinkproofError, LedgerError } from "../../errors.js";
import { describe, errorText, invalidArgument } from "../../internal/arguments.js";
import { deepFreeze } from "../../internal/freeze.js";
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
  planAppend,
} from "../base.js";
import { jsonParts } from "../envelope-json.js";
import { ClaimTable, FreezeTable, ReceiptIndex } from "../state.js";
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
import {
  decodeEntries,
  decodeJson,
  entriesFrame,
  jsonFrame,
  KIND,
  MalformedBody,
} from "./frames.js";
import { HashIndex, hashString } from "./hash-index.js";
import { type DirectoryLock, lockDirectory } from "./lock.js";
import { type Layout, layoutOf, readClosed, walkSegment } from "./recovery.js";
import {
  CLOSED_FILE,
  FORMAT,
  FORMAT_VERSION,
  SEGMENT_FILE,
  type Segment,
  SegmentLog,
  segmentFile,
} from "./segments.js";

const log = logger("ledger");

const READ_BLOCK = 1024 * 1024;
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
}

/**
 * A torn tail cut off when the ledger was opened: the last group commit of the last
 * segment, cut short by a crash during its write (so never acknowledged), or, in a
 * version-1 segment, the last frame.
 */
export interface TornTail {
  /** The segment file. */
  readonly file: string;
  /** Where the torn group (or frame) started: the file now ends here. */
  readonly offset: number;
  /** How many bytes were cut off. */
  readonly bytes: number;
  /** What was incomplete: `group runs past the end of the file`, `incomplete group header`, `zero-filled tail`, … */
  readonly reason: string;
}

/** What opening the ledger found. */
export interface FileLedgerRecovery {
  /** Segment files read. */
  readonly segments: number;
  /** Good frames replayed. */
  readonly frames: number;
  /** Entries in the ledger. */
  readonly entries: number;
  /** A torn tail (a crash during a write) that was cut off, if there was one. */
  readonly truncated?: TornTail | undefined;
  /** The pid of a dead process whose stale lock was taken over, if one was. */
  readonly tookOverLockOf?: number | undefined;
  /** Time spent opening, in ms. */
  readonly durationMs: number;
}

interface Pending {
  readonly entry: LedgerEntry;
  durable: Promise<void>;
}

const FILE_KEYS = optionKeys<FileLedgerOptions>()(
  ...LEDGER_OPTION_KEYS,
  "segmentBytes",
  "cacheEntries",
);

/** The FileLedger's own options, checked (before anything on disk is touched). */
function checkFileOptions(options: FileLedgerOptions): {
  segmentBytes: number;
  cacheEntries: number;
} {
  const segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
  if (!Number.isInteger(segmentBytes) || segmentBytes < 4096 || segmentBytes > 1024 ** 3) {
    invalidArgument(
      "options.segmentBytes",
      `must be an integer from 4096 to ${1024 ** 3}, got ${describe(segmentBytes)}`,
    );
  }
  const cacheEntries = options.cacheEntries ?? 4096;
  if (!Number.isInteger(cacheEntries) || cacheEntries < 0 || cacheEntries > 1_000_000) {
    invalidArgument(
      "options.cacheEntries",
      `must be an integer from 0 to 1000000, got ${describe(cacheEntries)}`,
    );
  }
  return { segmentBytes, cacheEntries };
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
  /** Every read checks the frame's hash over the bytes appended (see `#decode`). */
  protected override readonly readsVerified: boolean = true;
  /** The ledger's directory (a real path). */
  readonly directory: string;
  #recovery: FileLedgerRecovery = { segments: 0, frames: 0, entries: 0, durationMs: 0 };

  readonly #lock: DirectoryLock;
  readonly #cacheLimit: number;
  readonly #log: SegmentLog;
  /** The segments, in order (owned by `#log`). */
  readonly #segments: Segment[];
  /** During recovery: where the segment before the one being read ended (0 before the first). */
  #previousSize = 0;

  // Committed entries: everything here is on disk.
  readonly #keys = new HashIndex();
  readonly #ids = new HashIndex();
  /** During recovery: entries whose key or id hash equals an earlier one's, to confirm. */
  #suspects: Array<[position: number, earlier: number]> = [];
  readonly #segmentOf: number[] = [];
  readonly #offsetOf: number[] = [];
  readonly #lengthOf: number[] = [];
  readonly #hashOf: number[] = [];
  readonly #producerOf: string[] = [];
  readonly #streamOf: string[] = [];
  readonly #appendedAtOf: string[] = [];
  readonly #cache = new Map<number, LedgerEntry>();

  // Appended, not yet durable: invisible to readers, but not to idempotency.
  readonly #pendingKeys = new Map<string, Pending>();
  readonly #pendingIds = new Map<string, Pending>();
  #nextPosition = 1;

  readonly #sequences = new Map<string, number>();
  readonly #receipts = new ReceiptIndex();
  readonly #watermarks = new Map<string, number>();
  readonly #claims = new ClaimTable(() => this.#fenceNext++);
  /** The next fencing token to give, and the first one not yet reserved on disk. */
  #fenceNext = 1;
  #fenceLimit = 1;
  #fenceReserving: Promise<void> | undefined;
  /** Final receipts written but not yet durable, by (sink, key): claims wait for them. */
  readonly #pendingFinal = new Map<string, Promise<void>>();
  /** Freezes on disk (what readers see), and as decided by writes still in flight. */
  readonly #freezes = new FreezeTable();
  readonly #freezesDecided = new FreezeTable();
  readonly #audit: AuditRecord[] = [];
  #auditTail: AuditHead | undefined;

  private constructor(directory: string, lock: DirectoryLock, options: FileLedgerOptions) {
    super(options);
    this.directory = directory;
    this.#lock = lock;
    const { segmentBytes, cacheEntries } = checkFileOptions(options);
    this.#cacheLimit = cacheEntries;
    this.#log = new SegmentLog(directory, segmentBytes, (error) => this.fail(error));
    this.#segments = this.#log.segments;
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
      await ledger.#recover(started);
      return ledger;
    } catch (error) {
      if (ledger !== undefined) await ledger.#log.closeFiles().catch(() => undefined);
      lock.release();
      throw error;
    }
  }

  // ---- recovery ----------------------------------------------------------------------

  async #recover(started: number): Promise<void> {
    const numbers = segmentNumbers(this.directory);
    const closed = await readClosed(this.directory);
    let closedSeen = closed === undefined;
    let frames = 0;
    let truncated: FileLedgerRecovery["truncated"];
    let layout: Layout = 2;
    let chain = 0;
    const pathOf = (i: number) => join(this.directory, segmentFile(numbers[i] as number));
    const read = (i: number) => {
      const promise = readFile(pathOf(i));
      promise.catch(() => undefined); // awaited below; this only keeps an abandoned read quiet
      return promise;
    };
    // The next segment is read while this one is replayed.
    let reading = numbers.length > 0 ? read(0) : undefined;
    for (let i = 0; i < numbers.length; i++) {
      const number = numbers[i] as number;
      const path = pathOf(i);
      const data = await (reading as Promise<Buffer>);
      reading = i + 1 < numbers.length ? read(i + 1) : undefined;
      const last = i === numbers.length - 1;
      const segmentLayout = layoutOf(data);
      if (segmentLayout < layout && i > 0) {
        throw new CorruptionError(`Segment ${path} has the version-1 layout after version 2`, {
          file: path,
          offset: 0,
        });
      }
      layout = segmentLayout;
      let first = true;
      const walk = walkSegment(data, layout, {
        path,
        last,
        chain,
        visit: (body, offset) => {
          try {
            this.#replay(body, i, number, offset, first, layout);
          } catch (error) {
            if (error instanceof CorruptionError) throw error;
            throw new CorruptionError(
              `Unreadable record in ${path} at byte ${offset}: ${String(error)}`,
              { file: path, offset },
              { cause: error },
            );
          }
          first = false;
          frames++;
        },
        committed:
          closed?.segment === number
            ? (end, chain) => {
                if (end === closed.size && chain === closed.chain) closedSeen = true;
              }
            : undefined,
      });
      if (walk.torn !== undefined) {
        truncated = { file: path, ...walk.torn };
        log(
          "cutting off a torn tail of %d bytes at %s:%d (%s)",
          truncated.bytes,
          path,
          truncated.offset,
          truncated.reason,
        );
      }
      if (first) {
        throw new CorruptionError(`Segment ${path} has no header`, { file: path, offset: 0 });
      }
      chain = walk.chain;
      this.#log.add(number, path);
      this.#previousSize = walk.end;
    }
    if (!closedSeen && closed !== undefined) {
      // The log must reach, unchanged, the point where it was last closed: everything
      // before it was acknowledged.
      const file = join(this.directory, CLOSED_FILE);
      throw new CorruptionError(
        `The ledger was closed at byte ${closed.size} of segment ${closed.segment} (${file}), but its segments no longer reach that point unchanged: acknowledged records are missing`,
        { file: join(this.directory, segmentFile(closed.segment)), offset: closed.size },
      );
    }
    this.#checkSuspects();
    // Only now, with everything checked, is anything on disk changed.
    await this.#log.resume(this.#previousSize, chain);
    // A directory of version 1 goes on in a new segment of version 2, so that what is written
    // from now on has group commit records; its version-1 segments stay as they are.
    if (this.#segments.length === 0 || layout === 1) {
      if (layout === 1)
        log("upgrading %s: new segments are format version %d", this.directory, FORMAT_VERSION);
      await this.#log.createSegment(this.#segments.length + 1);
    }
    this.#nextPosition = this.#offsetOf.length + 1;
    this.#recovery = Object.freeze({
      segments: this.#segments.length,
      frames,
      entries: this.#offsetOf.length,
      ...(truncated === undefined ? {} : { truncated: Object.freeze(truncated) }),
      ...(this.#lock.tookOver === undefined ? {} : { tookOverLockOf: this.#lock.tookOver.pid }),
      durationMs: performance.now() - started,
    });
  }

  /** Entries whose key or id hash equals an earlier one's: corruption if the key or id is really the same. */
  #checkSuspects(): void {
    for (const [position, earlier] of this.#suspects) {
      const a = this.#readEntry(position).envelope;
      const b = this.#readEntry(earlier).envelope;
      if (a.key === b.key || a.id === b.id) {
        const index = position - 1;
        throw new CorruptionError(
          `Positions ${earlier} and ${position} hold the same key or id`,
          {
            file: (this.#segments[this.#segmentOf[index] as number] as Segment).path,
            offset: this.#offsetOf[index] as number,
          },
          { position },
        );
      }
    }
    this.#suspects = [];
  }

  /**
   * Replays one record, whose frame starts at `offset`: `first` for the first record of a
   * segment (its header), whose version must match the segment's `layout`.
   */
  #replay(
    body: Buffer,
    segment: number,
    number: number,
    offset: number,
    first: boolean,
    layout: Layout,
  ): void {
    const kind = body[0];
    if (first) {
      const header =
        kind === KIND.segment ? (decodeJson(body) as Record<string, unknown>) : undefined;
      if (header?.format !== FORMAT || header.segment !== number) {
        throw new MalformedBody(`not a ${FORMAT} segment header for segment ${number}`);
      }
      if (header.version !== layout) {
        throw new MalformedBody(
          typeof header.version === "number" && header.version > FORMAT_VERSION
            ? `segment format version ${header.version}; this sinkproof reads versions 1 to ${FORMAT_VERSION}`
            : `segment format version ${String(header.version)} in a segment laid out as version ${layout}`,
        );
      }
      if (header.previousSize !== this.#previousSize) {
        throw new MalformedBody(
          `segment ${number - 1} ends at byte ${this.#previousSize}, but segment ${number} says it ended at ${String(header.previousSize)}`,
        );
      }
      return;
    }
    switch (kind) {
      case KIND.entries: {
        let appendedAt = "";
        decodeEntries(
          body,
          (first, at) => {
            if (first !== this.#offsetOf.length + 1) {
              throw new MalformedBody(
                `entries start at position ${first}, expected ${this.#offsetOf.length + 1}`,
              );
            }
            appendedAt = at;
          },
          (keyHash, idHash, producer, stream, hash, entryOffset, length) => {
            // A repeated key or id would be corruption; a hash seen before is only a
            // suspect, confirmed or cleared once every segment can be read.
            const sameKeyHash = this.#keys.find(keyHash, anyPosition);
            const sameIdHash = this.#ids.find(idHash, anyPosition);
            const position = this.#commitEntry(
              keyHash,
              idHash,
              producer,
              stream,
              appendedAt,
              segment,
              offset + entryOffset,
              length,
              hash,
            );
            if (sameKeyHash !== undefined) this.#suspects.push([position, sameKeyHash]);
            if (sameIdHash !== undefined) this.#suspects.push([position, sameIdHash]);
          },
        );
        return;
      }
      case KIND.receipt: {
        const receipt = decodeJson(body) as Receipt;
        if (this.#keys.find(hashString(receipt.key), (p) => p === receipt.position) === undefined) {
          throw new MalformedBody(`receipt for ${JSON.stringify(receipt.key)} refers to no entry`);
        }
        deepFreeze(receipt);
        this.#receipts.put(receipt);
        return;
      }
      case KIND.watermark: {
        const { sink, position } = decodeJson(body) as { sink: string; position: number };
        // Advanced only up to the durable head, so it never points past the entries before it.
        if (!(position <= this.#offsetOf.length)) {
          throw new MalformedBody(
            `watermark of ${JSON.stringify(sink)} at ${String(position)} is past the ${this.#offsetOf.length} entries before it`,
          );
        }
        this.#watermarks.set(sink, Math.max(this.#watermarks.get(sink) ?? 0, position));
        return;
      }
      case KIND.sequence: {
        const { producer, next } = decodeJson(body) as { producer: string; next: number };
        this.#sequences.set(producer, Math.max(this.#sequences.get(producer) ?? 0, next));
        return;
      }
      case KIND.audit: {
        this.#replayAudit(decodeJson(body) as AuditRecord);
        return;
      }
      case KIND.fence: {
        const { next } = decodeJson(body) as { next: number };
        if (!Number.isSafeInteger(next) || next < 1) {
          throw new MalformedBody(`fencing reservation ${String(next)} is not a token`);
        }
        // Every token below `next` may have been given before the restart: start above.
        this.#fenceNext = Math.max(this.#fenceNext, next);
        this.#fenceLimit = this.#fenceNext;
        return;
      }
      case KIND.freeze: {
        const { sink, origin, freeze, record } = decodeJson(body) as {
          sink: string;
          origin: string;
          freeze: SinkFreeze | null;
          record: AuditRecord;
        };
        this.#replayAudit(record);
        this.#freezes.set(sink, origin, freeze ?? undefined);
        this.#freezesDecided.set(sink, origin, freeze ?? undefined);
        return;
      }
      default:
        throw new MalformedBody(`record kind ${String(kind)} out of place`);
    }
  }

  #replayAudit(record: AuditRecord): void {
    // Written in index order: a gap means records are missing.
    const expected = (this.#auditTail?.index ?? 0) + 1;
    if (record.index !== expected) {
      throw new MalformedBody(`audit record ${String(record.index)} where ${expected} belongs`);
    }
    deepFreeze(record);
    this.#audit.push(record);
    this.#auditTail = { index: record.index, hash: record.hash };
  }

  #commitEntry(
    keyHash: number,
    idHash: number,
    producer: string,
    stream: string,
    appendedAt: string,
    segment: number,
    offset: number,
    length: number,
    hash: number,
  ): number {
    const position = this.#offsetOf.length + 1;
    this.#keys.add(keyHash, position);
    this.#ids.add(idHash, position);
    this.#segmentOf.push(segment);
    this.#offsetOf.push(offset);
    this.#lengthOf.push(length);
    this.#hashOf.push(hash);
    this.#producerOf.push(producer);
    this.#streamOf.push(stream);
    this.#appendedAtOf.push(appendedAt);
    return position;
  }

  // ---- reading entries back ------------------------------------------------------------

  #remember(entry: LedgerEntry): void {
    if (this.#cacheLimit === 0) return;
    this.#cache.set(entry.position, entry);
    if (this.#cache.size > this.#cacheLimit) {
      const oldest = this.#cache.keys().next().value as number;
      this.#cache.delete(oldest);
    }
  }

  #decode(position: number, bytes: Buffer): LedgerEntry {
    const index = position - 1;
    const segment = this.#segments[this.#segmentOf[index] as number] as Segment;
    if (bytes.length !== this.#lengthOf[index] || xxh32Bytes(bytes) !== this.#hashOf[index]) {
      throw new CorruptionError(
        `The envelope at position ${position} no longer matches its hash on disk`,
        { file: segment.path, offset: this.#offsetOf[index] as number },
        { position },
      );
    }
    let parsed: Envelope & { payload: JsonValue };
    try {
      parsed = JSON.parse(bytes.toString("utf8")) as Envelope & { payload: JsonValue };
    } catch (error) {
      parsed = error as never;
    }
    // Bytes that match their hash but are not an envelope were written by someone else.
    if (!isValidEnvelopeFields(parsed) || parsed.payload === undefined) {
      throw new CorruptionError(
        `The record at position ${position} is not an envelope`,
        { file: segment.path, offset: this.#offsetOf[index] as number },
        { position },
      );
    }
    deepFreeze(parsed.payload);
    return Object.freeze({
      position,
      appendedAt: this.#appendedAtOf[index] as string,
      envelope: buildEnvelope(parsed),
    });
  }

  #readEntry(position: number): LedgerEntry {
    const cached = this.#cache.get(position);
    if (cached !== undefined) return cached;
    const index = position - 1;
    const length = this.#lengthOf[index] as number;
    const bytes = Buffer.allocUnsafe(length);
    const segment = this.#segments[this.#segmentOf[index] as number] as Segment;
    const read = readSync(segment.fd, bytes, 0, length, this.#offsetOf[index] as number);
    const entry = this.#decode(position, read === length ? bytes : bytes.subarray(0, read));
    this.#remember(entry);
    return entry;
  }

  /** The committed entry with this key: candidates by hash, confirmed on the entry itself. */
  #committedByKey(key: string): LedgerEntry | undefined {
    let found: LedgerEntry | undefined;
    this.#keys.find(hashString(key), (position) => {
      const entry = this.#readEntry(position);
      if (entry.envelope.key !== key) return false;
      found = entry;
      return true;
    });
    return found;
  }

  #committedById(id: string): LedgerEntry | undefined {
    let found: LedgerEntry | undefined;
    this.#ids.find(hashString(id), (position) => {
      const entry = this.#readEntry(position);
      if (entry.envelope.id !== id) return false;
      found = entry;
      return true;
    });
    return found;
  }

  #lookupKey(key: string): LedgerEntry | undefined {
    return this.#committedByKey(key) ?? this.#pendingKeys.get(key)?.entry;
  }

  #lookupId(id: string): LedgerEntry | undefined {
    return this.#committedById(id) ?? this.#pendingIds.get(id)?.entry;
  }

  // ---- BaseLedger ----------------------------------------------------------------------

  protected async _append(
    envelopes: readonly Envelope[],
    appendedAt: string,
    canonical: readonly (Uint8Array | undefined)[],
  ): Promise<AppendOutcome> {
    const plan = planAppend(
      envelopes,
      (key) => this.#lookupKey(key),
      (id) => this.#lookupId(id),
    );
    if (!plan.ok) return plan;
    const results: AppendedEntry[] = new Array(envelopes.length);
    const waits: Promise<void>[] = [];
    for (const [index, entry] of plan.existing) {
      results[index] = { entry, status: "existing" };
      const pending = this.#pendingKeys.get(entry.envelope.key);
      if (pending !== undefined && pending.entry === entry) waits.push(pending.durable);
    }
    if (plan.fresh.length > 0) {
      const first = this.#nextPosition;
      this.#nextPosition += plan.fresh.length;
      const fresh = plan.fresh.map((index, i) => {
        const envelope = envelopes[index] as Envelope;
        const entry: LedgerEntry = Object.freeze({ position: first + i, appendedAt, envelope });
        results[index] = { entry, status: "appended" };
        return entry;
      });
      const encoded = entriesFrame(
        first,
        appendedAt,
        fresh.map(({ envelope }, i) => {
          const index = plan.fresh[i] as number;
          const { prefix, suffix } = jsonParts(envelope);
          return {
            key: envelope.key,
            id: envelope.id,
            producer: envelope.producer,
            stream: envelope.stream,
            checksum: envelope.checksum,
            prefix,
            payload: canonical[index] ?? Buffer.from(JSON.stringify(envelope.payload), "utf8"),
            suffix,
          };
        }),
      );
      const pendings = fresh.map((entry) => {
        const pending: Pending = { entry, durable: Promise.resolve() };
        this.#pendingKeys.set(entry.envelope.key, pending);
        this.#pendingIds.set(entry.envelope.id, pending);
        return pending;
      });
      const durable = this.#log.write(encoded.bytes, (segment, frameOffset) => {
        fresh.forEach((entry, i) => {
          const { envelope } = entry;
          this.#commitEntry(
            hashString(envelope.key),
            hashString(envelope.id),
            envelope.producer,
            envelope.stream,
            appendedAt,
            segment,
            frameOffset + (encoded.offsets[i] as number),
            encoded.lengths[i] as number,
            encoded.hashes[i] as number,
          );
          this.#pendingKeys.delete(envelope.key);
          this.#pendingIds.delete(envelope.id);
          this.#remember(entry);
        });
      });
      for (const pending of pendings) pending.durable = durable;
      waits.push(durable);
    }
    await Promise.all(waits);
    return { ok: true, results };
  }

  protected async _getByKey(key: string): Promise<LedgerEntry | undefined> {
    return this.#committedByKey(key);
  }

  protected async _getById(id: string): Promise<LedgerEntry | undefined> {
    return this.#committedById(id);
  }

  protected async *_scan(scan: EntryScan): AsyncIterable<LedgerEntry> {
    let left = scan.limit;
    let block: { segment: number; start: number; data: Buffer } | undefined;
    const last = Math.min(scan.to, this.#offsetOf.length);
    for (let position = scan.from; position <= last && left > 0; position++) {
      const index = position - 1;
      if (scan.producer !== undefined && this.#producerOf[index] !== scan.producer) continue;
      if (scan.stream !== undefined && this.#streamOf[index] !== scan.stream) continue;
      left--;
      const cached = this.#cache.get(position);
      if (cached !== undefined) {
        yield cached;
        continue;
      }
      const segment = this.#segmentOf[index] as number;
      const offset = this.#offsetOf[index] as number;
      const length = this.#lengthOf[index] as number;
      if (
        block === undefined ||
        block.segment !== segment ||
        offset < block.start ||
        offset + length > block.start + block.data.length
      ) {
        const data = Buffer.allocUnsafe(Math.max(READ_BLOCK, length));
        const read = readSync(
          (this.#segments[segment] as Segment).fd,
          data,
          0,
          data.length,
          offset,
        );
        block = { segment, start: offset, data: data.subarray(0, read) };
      }
      const from = offset - block.start;
      yield this.#decode(position, block.data.subarray(from, from + length));
    }
  }

  protected async _head(): Promise<number> {
    return this.#offsetOf.length;
  }

  protected async _reserveSequence(producer: string, count: number): Promise<number> {
    const first = this.#sequences.get(producer) ?? 0;
    // Taken now, so that concurrent reservations never overlap; durable before returning.
    this.#sequences.set(producer, first + count);
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
    const durable = this.#log.write(jsonFrame(KIND.receipt, receipt), () =>
      this.#receipts.put(receipt),
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

  protected async _getReceipts(sink: string, key: string): Promise<readonly Receipt[]> {
    return this.#receipts.get(sink, key);
  }

  protected async *_scanReceipts(sink: string, from: number, to: number): AsyncIterable<Receipt> {
    yield* this.#receipts.scan(sink, from, to);
  }

  protected async _getWatermark(sink: string): Promise<number> {
    return this.#watermarks.get(sink) ?? 0;
  }

  protected async _advanceWatermark(sink: string, position: number): Promise<number> {
    const current = this.#watermarks.get(sink) ?? 0;
    if (position <= current) return current;
    await this.#log.write(jsonFrame(KIND.watermark, { sink, position }), () => {
      this.#watermarks.set(sink, Math.max(this.#watermarks.get(sink) ?? 0, position));
    });
    return this.#watermarks.get(sink) ?? 0;
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
      if (this.#fenceNext >= this.#fenceLimit) {
        await this.#reserveFencing();
        continue;
      }
      return this.#claims.claim(request, this.#receipts.lastFinal(request.sink, request.key));
    }
  }

  #reserveFencing(): Promise<void> {
    this.#fenceReserving ??= (async () => {
      const next = Math.max(this.#fenceNext, this.#fenceLimit) + FENCE_BLOCK;
      try {
        await this.#log.write(jsonFrame(KIND.fence, { next }), () => {
          this.#fenceLimit = next;
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
    const before = this.#freezesDecided.find(change.sink, change.origin);
    if ((before === undefined) === (change.freeze === undefined))
      return { before, record: undefined };
    const record = make(this.#auditTail);
    this.#auditTail = { index: record.index, hash: record.hash };
    const freeze =
      change.freeze === undefined ? undefined : { ...change.freeze, audit: record.index };
    this.#freezesDecided.set(change.sink, change.origin, freeze);
    await this.#log.write(
      jsonFrame(KIND.freeze, {
        sink: change.sink,
        origin: change.origin,
        freeze: freeze ?? null,
        record,
      }),
      () => {
        this.#freezes.set(change.sink, change.origin, freeze);
        this.#audit.push(record);
      },
    );
    return { before, record };
  }

  protected async _getFreezes(sink: string | undefined): Promise<readonly SinkFreeze[]> {
    return sink === undefined ? this.#freezes.all() : this.#freezes.get(sink);
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
    const record = make(this.#auditTail);
    this.#auditTail = { index: record.index, hash: record.hash };
    await this.#log.write(jsonFrame(KIND.audit, record), () => this.#audit.push(record));
    return record;
  }

  protected async *_scanAudit(): AsyncIterable<AuditRecord> {
    yield* this.#audit.slice();
  }

  protected async _close(): Promise<void> {
    try {
      await this.#log.close();
    } finally {
      this.#lock.release();
    }
  }
}

const anyPosition = (): boolean => true;

/**
 * The numbers of the segments in `directory`, which must be 1, 2, …, n; removes files
 * whose creation was interrupted before their rename (they never held data).
 */
function segmentNumbers(directory: string): number[] {
  const names = readdirSync(directory);
  for (const name of names) {
    if (name.endsWith(".log.tmp") || name === `${CLOSED_FILE}.tmp`) {
      unlinkSync(join(directory, name));
    }
  }
  const numbers = names
    .map((name) => SEGMENT_FILE.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  numbers.forEach((n, i) => {
    if (n !== i + 1) {
      throw new CorruptionError(`Segment ${segmentFile(i + 1)} is missing`, {
        file: join(directory, segmentFile(i + 1)),
        offset: 0,
      });
    }
  });
  return numbers;
}
