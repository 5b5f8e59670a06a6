/**
 * Reopening the file ledger: every segment read in order (walked by recovery.ts, which
 * tells records from a torn tail and from damage), each record replayed into the
 * in-memory state (entries into entries.ts, the rest into {@link FileState}), the checks
 * that need every segment (the log still reaches where `CLOSED` says it was last closed;
 * key and id hash suspects), and only then the log resumed for writing: the torn tail cut
 * off, a new segment started for an empty directory or a version-1 one.
 *
 * A record that cannot be replayed (a kind out of place, a header that does not match its
 * segment, entries that do not start at the next position, a receipt without its entry, a
 * watermark past the entries before it, a gap in the audit records) is a
 * `CorruptionError` with the file and offset of its frame.
 *
 * @module
 */

import { readdirSync, unlinkSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CorruptionError } from "../../errors.js";
import { deepFreeze } from "../../internal/freeze.js";
import { logger } from "../../observe/debug.js";
import { FreezeTable } from "../state.js";
import type { AuditHead, AuditRecord, Receipt, SinkFreeze, WindowSample } from "../types.js";
import { WindowHistories } from "../windows.js";
import type { EntryTable } from "./entries.js";
import { decodeJson, KIND, MalformedBody } from "./frames.js";
import type { DirectoryLock } from "./lock.js";
import type { ReceiptColumns } from "./receipts.js";
import { type Layout, layoutOf, readClosed, walkSegment } from "./recovery.js";
import {
  CLOSED_FILE,
  type Closed,
  FORMAT,
  FORMAT_VERSION,
  SEGMENT_FILE,
  type SegmentLog,
  segmentFile,
} from "./segments.js";

const log = logger("ledger");

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

/**
 * What the file ledger keeps in memory besides its entries: rebuilt by replay on open,
 * then kept by the ledger's writes (each applied once its frame is durable, unless said).
 */
export class FileState {
  readonly sequences: Map<string, number> = new Map();
  /** On disk, indexed by position off the JS heap (receipts.ts). */
  readonly receipts: ReceiptColumns;
  readonly watermarks: Map<string, number> = new Map();
  /** Reconciliation checkpoints as stored (checked by the ledger when read). */
  readonly checkpoints: Map<string, unknown> = new Map();
  /** Consistency-window histories, each sink's most recent samples as stored (checked when read). */
  readonly windows: WindowHistories = new WindowHistories();
  /** The next fencing token to give, and the first one not yet reserved on disk. */
  fenceNext = 1;
  fenceLimit = 1;
  /** Freezes on disk (what readers see), and as decided by writes still in flight. */
  readonly freezes: FreezeTable = new FreezeTable();
  readonly freezesDecided: FreezeTable = new FreezeTable();
  readonly audit: AuditRecord[] = [];
  /** The last audit record appended, durable or not: the next one chains on it. */
  auditTail: AuditHead | undefined;

  constructor(receipts: ReceiptColumns) {
    this.receipts = receipts;
  }
}

/**
 * Replays the segments of `directory` (whose lock is held) into `entries` and `state`,
 * then resumes `segmentLog` for writing. Throws `CorruptionError` when anything that was
 * or may have been acknowledged is damaged or missing; nothing on disk changes before
 * everything read checked out.
 */
export async function recover(
  directory: string,
  segmentLog: SegmentLog,
  entries: EntryTable,
  state: FileState,
  lock: DirectoryLock,
  started: number,
): Promise<FileLedgerRecovery> {
  const numbers = segmentNumbers(directory);
  const closed = await readClosed(directory);
  const replay = new Replay(entries, state, closed);
  const pathOf = (i: number) => join(directory, segmentFile(numbers[i] as number));
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
    replay.segment(i, number, path, data, i === numbers.length - 1);
    segmentLog.add(number, path);
  }
  if (!replay.closedSeen && closed !== undefined) {
    // The log must reach, unchanged, the point where it was last closed: everything
    // before it was acknowledged.
    const file = join(directory, CLOSED_FILE);
    throw new CorruptionError(
      `The ledger was closed at byte ${closed.size} of segment ${closed.segment} (${file}), but its segments no longer reach that point unchanged: acknowledged records are missing`,
      { file: join(directory, segmentFile(closed.segment)), offset: closed.size },
    );
  }
  entries.checkSuspects();
  // Only now, with everything checked, is anything on disk changed.
  await segmentLog.resume(replay.previousSize, replay.chain);
  // A directory of version 1 goes on in a new segment of version 2, so that what is written
  // from now on has group commit records; its version-1 segments stay as they are.
  const { segments } = segmentLog;
  if (segments.length === 0 || replay.layout === 1) {
    if (replay.layout === 1)
      log("upgrading %s: new segments are format version %d", directory, FORMAT_VERSION);
    await segmentLog.createSegment(segments.length + 1);
  }
  entries.resume();
  const { truncated } = replay;
  return Object.freeze({
    segments: segments.length,
    frames: replay.frames,
    entries: entries.count,
    ...(truncated === undefined ? {} : { truncated: Object.freeze(truncated) }),
    ...(lock.tookOver === undefined ? {} : { tookOverLockOf: lock.tookOver.pid }),
    durationMs: performance.now() - started,
  });
}

/** One reopening: what the segments read so far said. */
class Replay {
  readonly #entries: EntryTable;
  readonly #state: FileState;
  readonly #closed: Closed | undefined;
  /** Good frames replayed. */
  frames = 0;
  truncated: TornTail | undefined;
  /** The layout of the last segment read (a version-1 segment never follows a version-2 one). */
  layout: Layout = 2;
  /** The check of the last group (or version-1 frame) read: the next one chains on it. */
  chain = 0;
  /** Where the segment before the one being read ended (0 before the first). */
  previousSize = 0;
  /** Whether the log reached, unchanged, the point where `CLOSED` says it was last closed. */
  closedSeen: boolean;

  constructor(entries: EntryTable, state: FileState, closed: Closed | undefined) {
    this.#entries = entries;
    this.#state = state;
    this.#closed = closed;
    this.closedSeen = closed === undefined;
  }

  /** Replays segment `number` (the `i`-th, at `path`), whose bytes are `data`. */
  segment(i: number, number: number, path: string, data: Buffer, last: boolean): void {
    const layout = layoutOf(data);
    if (layout < this.layout && i > 0) {
      throw new CorruptionError(`Segment ${path} has the version-1 layout after version 2`, {
        file: path,
        offset: 0,
      });
    }
    this.layout = layout;
    const closed = this.#closed;
    let first = true;
    const walk = walkSegment(data, layout, {
      path,
      last,
      chain: this.chain,
      visit: (body, offset) => {
        try {
          this.#record(body, i, number, offset, first, layout);
        } catch (error) {
          if (error instanceof CorruptionError) throw error;
          throw new CorruptionError(
            `Unreadable record in ${path} at byte ${offset}: ${String(error)}`,
            { file: path, offset },
            { cause: error },
          );
        }
        first = false;
        this.frames++;
      },
      committed:
        closed?.segment === number
          ? (end, chain) => {
              if (end === closed.size && chain === closed.chain) this.closedSeen = true;
            }
          : undefined,
    });
    if (walk.torn !== undefined) {
      const truncated = { file: path, ...walk.torn };
      this.truncated = truncated;
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
    this.chain = walk.chain;
    this.previousSize = walk.end;
  }

  /**
   * Replays one record, whose frame starts at `offset`: `first` for the first record of a
   * segment (its header), whose version must match the segment's `layout`.
   */
  #record(
    body: Buffer,
    segment: number,
    number: number,
    offset: number,
    first: boolean,
    layout: Layout,
  ): void {
    if (first) {
      this.#header(body, number, layout);
      return;
    }
    const state = this.#state;
    const kind = body[0];
    switch (kind) {
      case KIND.entries: {
        this.#entries.replayFrame(body, segment, offset);
        return;
      }
      case KIND.receipt: {
        const receipt = decodeJson(body) as Receipt;
        if (!this.#entries.mayHoldKey(receipt.key, receipt.position)) {
          throw new MalformedBody(`receipt for ${JSON.stringify(receipt.key)} refers to no entry`);
        }
        state.receipts.put(receipt, segment, offset);
        return;
      }
      case KIND.watermark: {
        const { sink, position } = decodeJson(body) as { sink: string; position: number };
        // Advanced only up to the durable head, so it never points past the entries before it.
        if (!(position <= this.#entries.count)) {
          throw new MalformedBody(
            `watermark of ${JSON.stringify(sink)} at ${String(position)} is past the ${this.#entries.count} entries before it`,
          );
        }
        state.watermarks.set(sink, Math.max(state.watermarks.get(sink) ?? 0, position));
        return;
      }
      case KIND.sequence: {
        const { producer, next } = decodeJson(body) as { producer: string; next: number };
        state.sequences.set(producer, Math.max(state.sequences.get(producer) ?? 0, next));
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
        state.fenceNext = Math.max(state.fenceNext, next);
        state.fenceLimit = state.fenceNext;
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
        state.freezes.set(sink, origin, freeze ?? undefined);
        state.freezesDecided.set(sink, origin, freeze ?? undefined);
        return;
      }
      case KIND.checkpoint: {
        const checkpoint = decodeJson(body) as { sink: string; through: number };
        if (!(checkpoint.through <= this.#entries.count)) {
          throw new MalformedBody(
            `checkpoint of ${JSON.stringify(checkpoint.sink)} at ${String(checkpoint.through)} is past the ${this.#entries.count} entries before it`,
          );
        }
        state.checkpoints.set(checkpoint.sink, checkpoint);
        return;
      }
      case KIND.windows: {
        const samples = decodeJson(body) as unknown;
        if (
          !Array.isArray(samples) ||
          !samples.every((s) => typeof s === "object" && s !== null && typeof s.sink === "string")
        ) {
          throw new MalformedBody("window samples are not a list of samples, each of a sink");
        }
        state.windows.add(samples as WindowSample[]);
        return;
      }
      case KIND.compact: {
        const { sink, through, record } = decodeJson(body) as {
          sink: string;
          through: number;
          record: AuditRecord;
        };
        if (!Number.isSafeInteger(through) || !(through <= this.#entries.count)) {
          throw new MalformedBody(
            `compaction of ${JSON.stringify(sink)} through ${String(through)} is past the ${this.#entries.count} entries before it`,
          );
        }
        this.#replayAudit(record);
        state.receipts.compact(sink, through);
        return;
      }
      default:
        throw new MalformedBody(`record kind ${String(kind)} out of place`);
    }
  }

  /** The first record of segment `number`: its header, which must say what the segment is. */
  #header(body: Buffer, number: number, layout: Layout): void {
    const header =
      body[0] === KIND.segment ? (decodeJson(body) as Record<string, unknown>) : undefined;
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
    if (header.previousSize !== this.previousSize) {
      throw new MalformedBody(
        `segment ${number - 1} ends at byte ${this.previousSize}, but segment ${number} says it ended at ${String(header.previousSize)}`,
      );
    }
  }

  #replayAudit(record: AuditRecord): void {
    const state = this.#state;
    // Written in index order: a gap means records are missing.
    const expected = (state.auditTail?.index ?? 0) + 1;
    if (record.index !== expected) {
      throw new MalformedBody(`audit record ${String(record.index)} where ${expected} belongs`);
    }
    deepFreeze(record);
    state.audit.push(record);
    state.auditTail = { index: record.index, hash: record.hash };
  }
}

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
