/**
 * The file ledger's segment files, write side: group commit, new segments, the close
 * record.
 *
 * Promises:
 * - a frame is acknowledged (its promise resolves) only after the group it went out in
 *   was written, with its commit record (the group header, see frames.ts) in front, by one
 *   `pwritev` and made durable by one `fdatasync`; frames queued in the same turn of the
 *   event loop as the first form one group, and frames queued while a sync runs form the
 *   next;
 * - a new segment appears atomically (written as a temp file with its header group,
 *   fsync'd, renamed, and the directory fsync'd); its header records where the previous
 *   segment ended and its header group chains on that segment's last group;
 * - after a failed write or sync nothing more is written (the state of the file is
 *   unknown): every queued frame is refused and the owner is told;
 * - at a clean close, `CLOSED` records where the log ends (segment, size, the last
 *   group's check), so the next open can tell a log cut short from a crash.
 *
 * @module
 */

import { closeSync, fsyncSync, openSync, writevSync } from "node:fs";
import { type FileHandle, open, rename } from "node:fs/promises";
import { join } from "node:path";
import { logger } from "../../observe/debug.js";
import { GROUP_HEADER, groupCheck, groupHeader, jsonFrame, KIND, MAX_GROUP } from "./frames.js";

/**
 * The event loop's own `setImmediate`, taken when this module loads: a test that installs
 * fake timers afterwards (vitest's, Jest's, sinon's) must not stop the ledger's writes
 * from reaching the disk until it advances its clock.
 */
const nextTurn: typeof setImmediate = globalThis.setImmediate;

const log = logger("ledger");

export const FORMAT = "sinkproof-file-ledger";
/** The version new segments are written in (see frames.ts); version 1 is still read. */
export const FORMAT_VERSION = 2;
/** Where the log ended when the ledger was last closed cleanly. */
export const CLOSED_FILE = "CLOSED";
export const SEGMENT_FILE: RegExp = /^segment-(\d{6})\.log$/;
export const segmentFile = (n: number): string => `segment-${String(n).padStart(6, "0")}.log`;

/** An open segment file. */
export interface Segment {
  readonly number: number;
  readonly path: string;
  /** A read-only descriptor for reading envelopes back. */
  readonly fd: number;
}

/** The content of `CLOSED`: the end of the last segment, and the check of its last group. */
export interface Closed {
  readonly segment: number;
  readonly size: number;
  readonly chain: number;
}

interface Queued {
  readonly bytes: Buffer;
  readonly apply: (segment: number, frameOffset: number) => void;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** fsyncs a directory, so that a file created or renamed in it survives a power loss. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes every byte of `buffers` at `position` (one `pwritev`, more if the kernel takes
 * less); returns where they end. Synchronous:
 * the bytes go to the page cache at once (a copy, not a wait for the disk), without a trip
 * through the thread pool; only the fdatasync after it is awaited.
 */
function writeAllSync(fd: number, buffers: Buffer[], position: number): number {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const bytesWritten = writevSync(fd, rest, at);
    if (bytesWritten <= 0) throw new Error(`write of ${rest.length} buffers wrote nothing`);
    at += bytesWritten;
    rest = unwritten(rest, bytesWritten);
  }
  return at;
}

/** The part of `buffers` left after the first `written` bytes. */
function unwritten(buffers: Buffer[], written: number): Buffer[] {
  let skip = written;
  const next: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) skip -= buffer.length;
    else {
      next.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
  }
  return next;
}

/** The segments of one ledger directory, and the queue of frames going to the last one. */
export class SegmentLog {
  /** Every segment, in order; the last is written to. */
  readonly segments: Segment[] = [];
  readonly #directory: string;
  readonly #segmentBytes: number;
  readonly #onFail: (error: unknown) => void;
  #writer: FileHandle | undefined;
  #writeOffset = 0;
  /** The check of the last group written or read: the next group chains on it. */
  #chain = 0;
  #failed = false;
  readonly #queue: Queued[] = [];
  #flushing: Promise<void> | undefined;

  /** `onFail` hears of a failed write: from then on nothing is written. */
  constructor(directory: string, segmentBytes: number, onFail: (error: unknown) => void) {
    this.#directory = directory;
    this.#segmentBytes = segmentBytes;
    this.#onFail = onFail;
  }

  /** Adds a segment read back by recovery. */
  add(number: number, path: string): void {
    this.segments.push({ number, path, fd: openSync(path, "r") });
  }

  /**
   * After recovery: writes go on at `end` of the last segment, chained on `chain`; bytes
   * past `end` (a torn tail) are cut off first.
   */
  async resume(end: number, chain: number): Promise<void> {
    const last = this.segments.at(-1);
    if (last === undefined) return;
    this.#writer = await open(last.path, "r+");
    if ((await this.#writer.stat()).size !== end) {
      await this.#writer.truncate(end);
      await this.#writer.sync();
    }
    this.#writeOffset = end;
    this.#chain = chain;
  }

  /** Starts segment `number` (the next one), whose header says where the last one ended. */
  async createSegment(number: number): Promise<void> {
    const path = join(this.#directory, segmentFile(number));
    const temp = `${path}.tmp`;
    // The header records where the previous segment ended: a sealed segment cut short
    // exactly between two groups is then damage, not a shorter log.
    const record = jsonFrame(KIND.segment, {
      format: FORMAT,
      version: FORMAT_VERSION,
      segment: number,
      previousSize: number > 1 ? this.#writeOffset : 0,
    });
    // A group of its own, chained on the previous segment's last group.
    const group = groupHeader([record], this.#chain);
    const handle = await open(temp, "w");
    try {
      writeAllSync(handle.fd, [group, record], 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    fsyncDirectory(this.#directory);
    const previous = this.#writer;
    this.#writer = await open(path, "r+");
    this.#chain = groupCheck(group);
    this.#writeOffset = group.length + record.length;
    this.add(number, path);
    await previous?.close();
    log("started segment %s", path);
  }

  /** Queues a frame; resolves once it is on disk and `apply` has run. */
  write(bytes: Buffer, apply: Queued["apply"]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ bytes, apply, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  async #flush(): Promise<void> {
    try {
      // The first group waits for the rest of this turn of the event loop: the frames
      // that concurrent callers queue meanwhile (the receipts of several sinks delivering
      // one batch, their watermark moves) share its fsync instead of waiting for the next.
      await new Promise<void>((resolve) => nextTurn(resolve));
      while (this.#queue.length > 0) {
        const batch = this.#takeGroup();
        const frames = batch.map((q) => q.bytes);
        // The group's commit record goes first, in the same write and the same fdatasync:
        // nothing in the group is acknowledged before all of it is durable.
        const header = groupHeader(frames, this.#chain);
        const segment = this.segments.length - 1;
        const start = this.#writeOffset;
        const writer = this.#writer as FileHandle;
        let end: number;
        try {
          end = writeAllSync(writer.fd, [header, ...frames], start);
          await writer.datasync();
        } catch (error) {
          this.#failAll(error, batch);
          return;
        }
        this.#chain = groupCheck(header);
        this.#writeOffset = end;
        let offset = start + GROUP_HEADER;
        for (const queued of batch) {
          queued.apply(segment, offset);
          offset += queued.bytes.length;
          queued.resolve();
        }
        if (this.#writeOffset >= this.#segmentBytes) {
          try {
            await this.createSegment((this.segments.at(-1)?.number ?? 0) + 1);
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

  /** The queued frames of the next group: all of them, up to `MAX_GROUP` bytes (at least one). */
  #takeGroup(): Queued[] {
    let count = 0;
    let bytes = 0;
    for (const queued of this.#queue) {
      if (count > 0 && bytes + queued.bytes.length > MAX_GROUP) break;
      bytes += queued.bytes.length;
      count++;
    }
    return this.#queue.splice(0, count);
  }

  #failAll(error: unknown, batch: readonly Queued[]): void {
    log("write failed, the ledger is now failed: %O", error);
    this.#failed = true;
    this.#onFail(error);
    for (const queued of [...batch, ...this.#queue.splice(0, this.#queue.length)])
      queued.reject(error);
  }

  /** Waits for queued writes, records the close (unless a write failed), closes the files. */
  async close(): Promise<void> {
    try {
      while (this.#flushing !== undefined) await this.#flushing;
      await this.#writeClosed();
    } finally {
      await this.closeFiles();
    }
  }

  /**
   * Records where the log ends, for the next open to check that it still reaches there.
   * Best effort: without it (a crash, a failed write), the previous one still holds, as
   * the log only grows past it.
   */
  async #writeClosed(): Promise<void> {
    const segment = this.segments.at(-1);
    if (this.#failed || segment === undefined || this.#writer === undefined) return;
    const file = join(this.#directory, CLOSED_FILE);
    const closed: Closed = { segment: segment.number, size: this.#writeOffset, chain: this.#chain };
    try {
      const handle = await open(`${file}.tmp`, "w");
      try {
        await handle.writeFile(JSON.stringify({ format: FORMAT, ...closed }));
        // Synced before the rename: a CLOSED that is there is whole.
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(`${file}.tmp`, file);
    } catch (error) {
      log("could not record the close in %s: %O", file, error);
    }
  }

  async closeFiles(): Promise<void> {
    for (const segment of this.segments) {
      try {
        closeSync(segment.fd);
      } catch {
        // already closed
      }
    }
    this.segments.length = 0;
    await this.#writer?.close();
    this.#writer = undefined;
  }
}
