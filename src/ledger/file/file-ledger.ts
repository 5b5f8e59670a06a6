/**
 * `FileLedger`: the embedded, crash-safe ledger. No dependency beyond Node.
 *
 * Layout: a directory with a `LOCK` file and append-only segment files
 * (`segment-000001.log`, …) of checksummed frames (see frames.ts). Promises:
 * - an append (and every other write) is acknowledged only after its bytes are fsync'd;
 *   writes that arrive while a sync is running are grouped into the next one;
 * - one call is one frame, so after a crash each call is all there or not there;
 * - a new segment appears atomically (written as a temp file, fsync'd, renamed, and the
 *   directory fsync'd);
 * - reopening replays the segments: a torn last frame is cut off and reported; damage
 *   before the last good frame is a `CorruptionError` with file and offset, never skipped
 *   and never read as data;
 * - one process writes at a time (`LOCK`, taken over from a dead holder).
 *
 * Memory: the process keeps the indexes (key and id to position, each entry's index
 * fields and where its envelope lies on disk), the receipts and the audit log. Envelopes
 * are read from disk when asked for, and checked against their stored hash on every read.
 *
 * @module
 */

import { closeSync, fsyncSync, openSync, readdirSync, readSync, unlinkSync } from "node:fs";
import { type FileHandle, mkdir, open, readFile, realpath, rename } from "node:fs/promises";
import { join } from "node:path";
import { xxh32Bytes } from "../../checksum/xxhash.js";
import { isValidEnvelopeFields } from "../../envelope/fields.js";
import type { Envelope, JsonValue } from "../../envelope/schema.js";
import { buildEnvelope } from "../../envelope/seal.js";
import { CorruptionError } from "../../errors.js";
import { describe, invalidArgument } from "../../internal/arguments.js";
import { logger } from "../../observe/debug.js";
import {
  type AppendOutcome,
  BaseLedger,
  type ClaimRequest,
  type EntryScan,
  type LedgerOptions,
  planAppend,
} from "../base.js";
import { jsonParts } from "../envelope-json.js";
import { ClaimTable, ReceiptIndex } from "../state.js";
import type {
  AppendedEntry,
  AuditHead,
  AuditRecord,
  Claim,
  ClaimResult,
  LedgerCapabilities,
  LedgerEntry,
  Receipt,
} from "../types.js";
import {
  decodeEntries,
  decodeJson,
  entriesFrame,
  jsonFrame,
  KIND,
  MalformedBody,
  readFrame,
} from "./frames.js";
import { HashIndex, hashString } from "./hash-index.js";
import { type DirectoryLock, lockDirectory } from "./lock.js";

const log = logger("ledger");

const FORMAT = "sinkproof-file-ledger";
const FORMAT_VERSION = 1;
const SEGMENT_FILE = /^segment-(\d{6})\.log$/;
const segmentFile = (n: number) => `segment-${String(n).padStart(6, "0")}.log`;
const READ_BLOCK = 1024 * 1024;

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

/** A torn last frame cut off when the ledger was opened. */
export interface TornTail {
  /** The segment file. */
  readonly file: string;
  /** Where the torn frame started: the file now ends here. */
  readonly offset: number;
  /** How many bytes were cut off. */
  readonly bytes: number;
  /** What was wrong with the frame. */
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
  /** A torn last frame (a crash during a write) that was cut off, if there was one. */
  readonly truncated?: TornTail | undefined;
  /** The pid of a dead process whose stale lock was taken over, if one was. */
  readonly tookOverLockOf?: number | undefined;
  /** Time spent opening, in ms. */
  readonly durationMs: number;
}

interface Segment {
  readonly number: number;
  readonly path: string;
  /** A read-only descriptor for reading envelopes back. */
  readonly fd: number;
}

interface Pending {
  readonly entry: LedgerEntry;
  durable: Promise<void>;
}

interface Queued {
  readonly bytes: Buffer;
  readonly apply: (segment: number, frameOffset: number) => void;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Deep-freezes a value made by `JSON.parse`. */
function deepFreeze(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  for (const member of Object.values(value)) deepFreeze(member);
  Object.freeze(value);
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
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
  readonly #segmentBytes: number;
  readonly #cacheLimit: number;
  readonly #segments: Segment[] = [];
  #writer: FileHandle | undefined;
  #writeOffset = 0;
  /** During recovery: where the segment before the one being read ended (0 before the first). */
  #previousSize = 0;
  readonly #queue: Queued[] = [];
  #flushing: Promise<void> | undefined;

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
  readonly #claims = new ClaimTable();
  readonly #audit: AuditRecord[] = [];
  #auditTail: AuditHead | undefined;

  private constructor(directory: string, lock: DirectoryLock, options: FileLedgerOptions) {
    super(options);
    this.directory = directory;
    this.#lock = lock;
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
    this.#segmentBytes = segmentBytes;
    this.#cacheLimit = cacheEntries;
  }

  /** What opening found: segments, frames, entries, a torn tail cut off, a stale lock taken over. */
  get recovery(): FileLedgerRecovery {
    return this.#recovery;
  }

  /**
   * Opens (creating it if needed) the ledger in `directory`: takes the lock, replays the
   * segments, cuts off a torn last frame. Throws `LedgerLockedError` when another process
   * holds it, `CorruptionError` when data before the last good frame is damaged.
   */
  static async open(directory: string, options: FileLedgerOptions = {}): Promise<FileLedger> {
    if (typeof directory !== "string" || directory.length === 0) {
      invalidArgument("directory", `must be a path, got ${describe(directory)}`);
    }
    if (typeof options !== "object" || options === null) {
      invalidArgument("options", `must be an object, got ${describe(options)}`);
    }
    const started = performance.now();
    await mkdir(directory, { recursive: true });
    const real = await realpath(directory);
    const lock = lockDirectory(real);
    let ledger: FileLedger | undefined;
    try {
      ledger = new FileLedger(real, lock, options);
      await ledger.#recover(started);
      return ledger;
    } catch (error) {
      if (ledger !== undefined) await ledger.#closeFiles().catch(() => undefined);
      lock.release();
      throw error;
    }
  }

  // ---- recovery ----------------------------------------------------------------------

  async #recover(started: number): Promise<void> {
    const names = readdirSync(this.directory);
    for (const name of names) {
      // A segment whose creation was interrupted before its rename never held data.
      if (name.endsWith(".log.tmp")) unlinkSync(join(this.directory, name));
    }
    const numbers = names
      .map((name) => SEGMENT_FILE.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    numbers.forEach((n, i) => {
      if (n !== i + 1) {
        throw new CorruptionError(`Segment ${segmentFile(i + 1)} is missing`, {
          file: join(this.directory, segmentFile(i + 1)),
          offset: 0,
        });
      }
    });
    let frames = 0;
    let truncated: FileLedgerRecovery["truncated"];
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
      let offset = 0;
      while (offset < data.length) {
        const result = readFrame(data, offset, data.length);
        if (!result.ok) {
          if (!last || hasGoodFrameAfter(data, offset + 1)) {
            throw new CorruptionError(
              `Damaged record in ${path} at byte ${offset}: ${result.reason}`,
              {
                file: path,
                offset,
              },
            );
          }
          truncated = { file: path, offset, bytes: data.length - offset, reason: result.reason };
          log(
            "cutting off a torn tail of %d bytes at %s:%d (%s)",
            truncated.bytes,
            path,
            offset,
            result.reason,
          );
          break;
        }
        try {
          this.#replay(result.body, i, number, offset);
        } catch (error) {
          if (error instanceof CorruptionError) throw error;
          throw new CorruptionError(
            `Unreadable record in ${path} at byte ${offset}: ${String(error)}`,
            { file: path, offset },
            { cause: error },
          );
        }
        frames++;
        offset = result.next;
      }
      if (offset === 0) {
        throw new CorruptionError(`Segment ${path} has no header`, { file: path, offset: 0 });
      }
      this.#segments.push({ number, path, fd: openSync(path, "r") });
      this.#previousSize = offset;
      if (last) {
        this.#writer = await open(path, "r+");
        if (truncated !== undefined) {
          await this.#writer.truncate(offset);
          await this.#writer.sync();
        }
        this.#writeOffset = offset;
      }
    }
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
    if (this.#segments.length === 0) await this.#createSegment(1);
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

  #replay(body: Buffer, segment: number, number: number, offset: number): void {
    const kind = body[0];
    if (offset === 0) {
      const header =
        kind === KIND.segment ? (decodeJson(body) as Record<string, unknown>) : undefined;
      if (header?.format !== FORMAT || header.segment !== number) {
        throw new MalformedBody(`not a ${FORMAT} segment header for segment ${number}`);
      }
      if (header.version !== FORMAT_VERSION) {
        throw new MalformedBody(
          `segment format version ${String(header.version)}; this sinkproof reads version ${FORMAT_VERSION}`,
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
        this.#watermarks.set(sink, Math.max(this.#watermarks.get(sink) ?? 0, position));
        return;
      }
      case KIND.sequence: {
        const { producer, next } = decodeJson(body) as { producer: string; next: number };
        this.#sequences.set(producer, Math.max(this.#sequences.get(producer) ?? 0, next));
        return;
      }
      case KIND.audit: {
        const record = decodeJson(body) as AuditRecord;
        deepFreeze(record);
        this.#audit.push(record);
        this.#auditTail = { index: record.index, hash: record.hash };
        return;
      }
      default:
        throw new MalformedBody(`record kind ${String(kind)} out of place`);
    }
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

  // ---- segments and the write queue --------------------------------------------------

  async #createSegment(number: number): Promise<void> {
    const path = join(this.directory, segmentFile(number));
    const temp = `${path}.tmp`;
    // The header records where the previous segment ended: a sealed segment cut short
    // exactly between two records is then damage, not a shorter log.
    const header = jsonFrame(KIND.segment, {
      format: FORMAT,
      version: FORMAT_VERSION,
      segment: number,
      previousSize: number > 1 ? this.#writeOffset : 0,
    });
    const handle = await open(temp, "w");
    try {
      await handle.write(header, 0, header.length, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    fsyncDirectory(this.directory);
    const previous = this.#writer;
    this.#writer = await open(path, "r+");
    this.#writeOffset = header.length;
    this.#segments.push({ number, path, fd: openSync(path, "r") });
    await previous?.close();
    log("started segment %s", path);
  }

  /** Queues a frame; resolves once it is on disk and `apply` has run. */
  #write(bytes: Buffer, apply: Queued["apply"]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ bytes, apply, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#queue.length);
        const data =
          batch.length === 1
            ? (batch[0] as Queued).bytes
            : Buffer.concat(batch.map((q) => q.bytes));
        const segment = this.#segments.length - 1;
        const start = this.#writeOffset;
        const writer = this.#writer as FileHandle;
        try {
          let written = 0;
          while (written < data.length) {
            const { bytesWritten } = await writer.write(
              data,
              written,
              data.length - written,
              start + written,
            );
            written += bytesWritten;
          }
          await writer.datasync();
        } catch (error) {
          this.#failAll(error, batch);
          return;
        }
        this.#writeOffset = start + data.length;
        let offset = start;
        for (const queued of batch) {
          queued.apply(segment, offset);
          offset += queued.bytes.length;
          queued.resolve();
        }
        if (this.#writeOffset >= this.#segmentBytes) {
          try {
            await this.#createSegment((this.#segments.at(-1)?.number ?? 0) + 1);
          } catch (error) {
            this.#failAll(error, []);
            return;
          }
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  #failAll(error: unknown, batch: readonly Queued[]): void {
    log("write failed, the ledger is now failed: %O", error);
    this.fail(error);
    for (const queued of [...batch, ...this.#queue.splice(0, this.#queue.length)])
      queued.reject(error);
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
      const durable = this.#write(encoded.bytes, (segment, frameOffset) => {
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
    await this.#write(jsonFrame(KIND.sequence, { producer, next: first + count }), () => undefined);
    return first;
  }

  protected async _putReceipt(receipt: Receipt): Promise<void> {
    await this.#write(jsonFrame(KIND.receipt, receipt), () => this.#receipts.put(receipt));
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
    await this.#write(jsonFrame(KIND.watermark, { sink, position }), () => {
      this.#watermarks.set(sink, Math.max(this.#watermarks.get(sink) ?? 0, position));
    });
    return this.#watermarks.get(sink) ?? 0;
  }

  protected async _claim(request: ClaimRequest): Promise<ClaimResult> {
    return this.#claims.claim(request, this.#receipts.lastFinal(request.sink, request.key));
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
    await this.#write(jsonFrame(KIND.audit, record), () => this.#audit.push(record));
    return record;
  }

  protected async *_scanAudit(): AsyncIterable<AuditRecord> {
    yield* this.#audit.slice();
  }

  protected async _close(): Promise<void> {
    try {
      while (this.#flushing !== undefined) await this.#flushing;
    } finally {
      await this.#closeFiles();
      this.#lock.release();
    }
  }

  async #closeFiles(): Promise<void> {
    for (const segment of this.#segments) {
      try {
        closeSync(segment.fd);
      } catch {
        // already closed
      }
    }
    this.#segments.length = 0;
    await this.#writer?.close();
    this.#writer = undefined;
  }
}

const anyPosition = (): boolean => true;

/** True when a good frame starts anywhere at or after `from`: the damage is not a torn tail. */
function hasGoodFrameAfter(data: Buffer, from: number): boolean {
  for (let offset = from; offset + 8 <= data.length; offset++) {
    if (readFrame(data, offset, data.length).ok) return true;
  }
  return false;
}
