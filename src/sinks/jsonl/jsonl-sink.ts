/**
 * `jsonlSink`: a sink that is one append-only JSON Lines file. Each write appends one line
 * per envelope (`{"op":"put","key","position","checksum","token","payload"}`) and fsyncs
 * before it resolves; `remove` appends a tombstone (`{"op":"del","key"}`). The live rows
 * are indexed in memory by key (position, checksum, fencing token, the line's offset:
 * no payload is held), so writes are fenced and digests answered without reading the
 * file; read-back streams the file and yields each key's live line. Opening cuts off a
 * torn last line (a write a crash cut short, never acknowledged) and refuses a damaged
 * line before it (`CorruptionError` with the file and offset). `compact()` rewrites the
 * file with the live lines only (a temporary file renamed over it), and runs by itself
 * once dead lines outnumber live ones. One process writes a file at a time.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import { type FileHandle, open, rename, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import type { Checksum } from "../../checksum/checksum.js";
import { isWellFormed, rowHash } from "../../checksum/row-hash.js";
import type {
  SinkBatchContext,
  SinkBatchResult,
  SinkWriteContext,
  SinkWriteResult,
} from "../../delivery/guard-types.js";
import type { Envelope, JsonValue } from "../../envelope/schema.js";
import { assertIntact } from "../../envelope/verify.js";
import { CorruptionError, SinkError } from "../../errors.js";
import { describe, eachUnderPath, invalidArgument, show } from "../../internal/arguments.js";
import { optionKeys, readArray, readOptions } from "../../internal/options.js";
import { fsyncDirectory } from "../../ledger/file/segments.js";
import type { BucketDigest, DigestSplit, HashRange } from "../../ledger/types.js";
import { digestIndex } from "../../reconcile/digest.js";
import type { Observation, ObserveRange, SinkDigest } from "../../reconcile/types.js";
import {
  highestPerKey,
  READY_SINK_OPTION_KEYS,
  type ReadySink,
  type ReadySinkOptions,
  readySinkOptions,
  withExtras,
  writeTarget,
} from "../types.js";

/** Options of {@link jsonlSink}. */
export interface JsonlSinkOptions extends ReadySinkOptions {
  /** The file (created when missing). */
  readonly path: string;
  /**
   * fsync each write before it resolves (`false`: the operating system's page cache only,
   * for tests: a crash may lose acknowledged writes).
   * @default true
   */
  readonly fsync?: boolean | undefined;
}

const OPTION_KEYS = optionKeys<JsonlSinkOptions>()(...READY_SINK_OPTION_KEYS, "path", "fsync");

/** A live row, as the index keeps it. */
interface Row {
  readonly position: number;
  readonly checksum: string;
  readonly token: number;
  /** Byte offset of its line. */
  readonly offset: number;
}

/** A line of the file, parsed. */
type Line =
  | {
      readonly op: "put";
      readonly key: string;
      readonly position: number;
      readonly checksum: string;
      readonly token: number;
      readonly payload: JsonValue;
    }
  | { readonly op: "del"; readonly key: string };

/** What opening found. */
export interface JsonlRecovery {
  /** Lines read. */
  readonly lines: number;
  /** Live keys. */
  readonly rows: number;
  /** Bytes of a torn last line cut off (0: none). */
  readonly tornBytes: number;
}

/** A JSON Lines sink: see {@link jsonlSink}. */
export interface JsonlSink extends ReadySink {
  /** The file. */
  readonly path: string;
  /** What opening found. */
  readonly recovery: JsonlRecovery;
  /** Rewrites the file with its live lines only. */
  compact(): Promise<void>;
}

/**
 * The lines of the file's first `end` bytes, split on the byte 0x0A only (never on
 * U+2028 or U+2029, which JSON leaves raw in strings), each with its byte offset; the
 * last one without its newline has `complete: false`. Streamed: any file size.
 */
async function* fileLines(
  path: string,
  end: number,
): AsyncIterable<{ bytes: Buffer; offset: number; complete: boolean }> {
  if (end === 0) return;
  let carry: Buffer = Buffer.alloc(0);
  let offset = 0;
  for await (const chunk of createReadStream(path, { start: 0, end: end - 1 })) {
    let data = carry.length === 0 ? (chunk as Buffer) : Buffer.concat([carry, chunk as Buffer]);
    let start = 0;
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, start)) {
      yield { bytes: data.subarray(start, nl), offset, complete: true };
      offset += nl - start + 1;
      start = nl + 1;
    }
    data = data.subarray(start);
    carry = Buffer.from(data);
  }
  if (carry.length > 0) yield { bytes: carry, offset, complete: false };
}

function parseLine(text: string): Line | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (typeof o.key !== "string" || o.key.length === 0) return undefined;
  if (o.op === "del") return { op: "del", key: o.key };
  if (
    o.op !== "put" ||
    !Number.isSafeInteger(o.position) ||
    (o.position as number) < 0 ||
    typeof o.checksum !== "string" ||
    !Number.isSafeInteger(o.token) ||
    (o.token as number) < 0 ||
    !("payload" in o)
  )
    return undefined;
  return value as Line;
}

/**
 * Opens (creating it when missing) a JSON Lines sink, ready for `guardSink` (`write`,
 * `writeBatch`) and for `reconcile` and `repair` (`observe(range)`, `digest`, `rewrite`,
 * `remove`). Its durability: each write is fsync'd before it resolves. What each mode of
 * reconcile sees in it: read-back (default) sees missing, duplicate-free (one line per key
 * is live), altered and extra rows, and, with `observe: "both"`, a payload edited under
 * its checksum; digest mode compares the stored checksums only.
 *
 * @example
 * ```ts
 * import { guardSink, reconcile } from "sinkproof";
 * import { jsonlSink } from "sinkproof/sinks/jsonl";
 * const archive = await jsonlSink({ name: "archive", path: "./data/archive.jsonl" });
 * const guard = guardSink({ name: archive.name, ledger, write: archive.write, writeBatch: archive.writeBatch });
 * const report = await reconcile({ ledger, sinks: [{ ...archive, guard }] });
 * ```
 */
export async function jsonlSink(options: JsonlSinkOptions): Promise<JsonlSink> {
  const o = readOptions<JsonlSinkOptions>(options, "options", OPTION_KEYS, { required: true });
  const { name, mode, lagToleranceMs, reconcileBy } = readySinkOptions(o);
  const given = o.path;
  // A lone surrogate would become U+FFFD in the file name: another file than the one named.
  if (
    typeof given !== "string" ||
    given.length === 0 ||
    given.includes("\u0000") ||
    !isWellFormed(given)
  )
    invalidArgument("options.path", `must be a file path, got ${describe(given)}`);
  const path: string = given;
  const fsync = o.fsync ?? true;
  if (typeof fsync !== "boolean")
    invalidArgument("options.fsync", `must be a boolean, got ${show(fsync)}`);

  const rows = new Map<string, Row>();
  let size = 0;
  let lines = 0;
  let tornBytes = 0;
  let handle: FileHandle;
  try {
    handle = await open(path, "a+");
    const length = (await handle.stat()).size;
    for await (const { bytes, offset, complete } of fileLines(path, length)) {
      if (!complete) {
        // A last line without its newline: a write a crash cut short (never acknowledged).
        tornBytes = bytes.length;
        break;
      }
      const line = parseLine(bytes.toString("utf8"));
      if (line === undefined) {
        // A whole line (with its newline) that is not a row: damage, not a torn write.
        throw new CorruptionError(
          `${path}: line ${lines + 1} (at byte ${offset}) is not a sink row`,
          { file: path, offset },
        );
      }
      if (line.op === "put")
        rows.set(line.key, {
          position: line.position,
          checksum: line.checksum,
          token: line.token,
          offset,
        });
      else rows.delete(line.key);
      lines++;
    }
    size = length - tornBytes;
    if (tornBytes > 0) {
      await handle.close();
      await truncate(path, size);
      handle = await open(path, "a+");
    }
  } catch (error) {
    if (error instanceof CorruptionError) throw error;
    throw new SinkError(
      "sink_storage_error",
      `Cannot open the JSONL sink ${path}: ${String(error)}`,
      {
        cause: error,
      },
    );
  }
  let closed = false;
  /** Set when a write failed: the file's end is no longer known, so nothing more is written. */
  let broken: unknown;
  let dead = lines - rows.size;
  let turn: Promise<unknown> = Promise.resolve();

  /**
   * Runs `fn` after every earlier call: appends, compactions and read-backs one at a time,
   * in order (a read-back sees the file as it was when it began, whole).
   */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = turn.then(() => {
      if (closed) throw new SinkError("sink_closed", `The JSONL sink ${name} is closed`);
      if (broken !== undefined)
        throw new SinkError(
          "sink_storage_error",
          `The JSONL sink ${path} failed a write and refuses more until it is reopened`,
          { cause: broken },
        );
      return fn();
    });
    turn = next.catch(() => undefined);
    return next;
  };

  /** Appends `text` (whole lines), fsync'd; returns the offset it starts at. */
  const append = async (text: string): Promise<number> => {
    const at = size;
    const bytes = Buffer.from(text, "utf8");
    try {
      // Every byte, however many calls the kernel takes.
      for (let done = 0; done < bytes.length; ) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, null);
        done += bytesWritten;
      }
      if (fsync) await handle.sync();
    } catch (error) {
      // Some of the bytes may be in the file: cut them off if possible, and refuse further
      // writes either way (a reopen finds a torn tail, or the lines, whole).
      broken = error;
      await handle.truncate(at).catch(() => undefined);
      throw new SinkError(
        "sink_storage_error",
        `Writing the JSONL sink ${path} failed: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
    size += bytes.length;
    return at;
  };

  const putLine = (envelope: Envelope, position: number, token: number): string =>
    `${JSON.stringify({
      op: "put",
      key: envelope.key,
      position,
      checksum: envelope.checksum,
      token,
      payload: envelope.payload,
    })}\n`;

  /** The envelopes of `list` a fenced upsert stores (not those a newer token holds). */
  const writeAll = async (
    list: readonly { envelope: Envelope; position: number; token: number }[],
  ): Promise<void> => {
    const lines: string[] = [];
    const kept: { key: string; row: Omit<Row, "offset">; length: number }[] = [];
    // A key twice in one call: only its write under the highest token counts.
    for (const { envelope, position, token } of highestPerKey(list)) {
      const stored = rows.get(envelope.key);
      // Fenced: a write under a token not above the stored one changes nothing (the same
      // write again is a no-op too, so the upsert is idempotent).
      if (stored !== undefined && stored.token >= token) continue;
      const line = putLine(envelope, position, token);
      lines.push(line);
      kept.push({
        key: envelope.key,
        row: { position, checksum: envelope.checksum, token },
        length: Buffer.byteLength(line),
      });
    }
    if (lines.length === 0) return;
    let offset = await append(lines.join(""));
    for (const { key, row, length } of kept) {
      if (rows.has(key)) dead++;
      rows.set(key, { ...row, offset });
      offset += length;
    }
  };

  /** An envelope to store, verified (shape and checksum): a typed error otherwise. */
  const checkedEnvelope = (envelope: unknown): Envelope => {
    assertIntact(envelope);
    return envelope;
  };

  const compactNow = async (): Promise<void> => {
    const temp = `${path}.compact`;
    const out = await open(temp, "w");
    let written = 0;
    const moved = new Map<string, Row>();
    try {
      for await (const { line, offset } of readLines()) {
        const row = rows.get(line.key);
        if (line.op !== "put" || row === undefined || row.offset !== offset) continue;
        const text = `${JSON.stringify(line)}\n`;
        await out.write(text);
        moved.set(line.key, { ...row, offset: written });
        written += Buffer.byteLength(text);
      }
      await out.sync();
    } finally {
      await out.close();
    }
    if (moved.size !== rows.size)
      throw new CorruptionError(
        `${path}: compaction found ${moved.size} of the ${rows.size} live rows; the file was left as it is`,
        { file: path, offset: 0 },
      );
    await handle.close();
    await rename(temp, path);
    fsyncDirectory(dirname(path));
    handle = await open(path, "a+");
    rows.clear();
    for (const [key, row] of moved) rows.set(key, row);
    size = written;
    dead = 0;
  };

  const maybeCompact = async (): Promise<void> => {
    if (dead > 1000 && dead > rows.size) await compactNow();
  };

  /** Every line of the file as written up to now, with its byte offset. */
  async function* readLines(): AsyncIterable<{ line: Line; offset: number }> {
    for await (const { bytes, offset, complete } of fileLines(path, size)) {
      const line = complete ? parseLine(bytes.toString("utf8")) : undefined;
      if (line === undefined)
        throw new CorruptionError(`${path}: the line at byte ${offset} is not a sink row`, {
          file: path,
          offset,
        });
      yield { line, offset };
    }
  }

  /**
   * The live rows, streamed from the file, those within `range` when given. Writes wait
   * while it reads (it holds the sink's turn), so what it yields is one state of the file.
   */
  async function* observe(range?: ObserveRange): AsyncIterable<Observation> {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered: () => void = () => undefined;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const enter = serial(async () => {
      entered();
      await held;
    });
    // Waits for the turn; fails, closed or broken, as a write would.
    await Promise.race([inside, enter]);
    try {
      yield* liveRows(range);
    } finally {
      release();
      await enter.catch(() => undefined);
    }
  }

  async function* liveRows(range: ObserveRange | undefined): AsyncIterable<Observation> {
    for await (const { line, offset } of readLines()) {
      if (line.op !== "put") continue;
      const row = rows.get(line.key);
      if (row === undefined || row.offset !== offset) continue;
      // Position 0: a row a repair rewrote without a delivery before it (no position known).
      if (
        range !== undefined &&
        line.position !== 0 &&
        (line.position < range.from || line.position > range.to)
      )
        continue;
      yield mode === "both"
        ? { key: line.key, checksum: line.checksum as Checksum, payload: line.payload }
        : { key: line.key, checksum: line.checksum as Checksum };
    }
  }

  const digest: SinkDigest = {
    digest(split: DigestSplit): readonly BucketDigest[] | Promise<readonly BucketDigest[]> {
      return digestIndex([...rows].map(([key, row]) => ({ key, checksum: row.checksum }))).digest(
        split,
      );
    },
    async *observeRange(range: HashRange): AsyncIterable<Observation> {
      for (const [key, row] of rows) {
        const { hash } = rowHash(key, row.checksum);
        if (hash >= range.from && hash < range.to)
          yield { key, checksum: row.checksum as Checksum };
      }
    },
  };

  const extras = {
    digests: digest,
    path,
    recovery: { lines, rows: rows.size, tornBytes },
    compact(): Promise<void> {
      return serial(compactNow);
    },
  };
  return withExtras<JsonlSink>(
    {
      name,
      lagToleranceMs,
      durability: fsync ? "fsync" : "none",
      digestSees:
        "the stored checksums: a payload edited under its checksum is seen by read-back only",
      write(envelope: Envelope, context: SinkWriteContext): Promise<SinkWriteResult> {
        const e = checkedEnvelope(envelope);
        return serial(async () => {
          await writeAll([{ envelope: e, ...writeTarget(context, "context") }]);
          return { offset: `${name}:${e.key}` };
        });
      },
      writeBatch(
        envelopes: readonly Envelope[],
        context: SinkBatchContext,
      ): Promise<SinkBatchResult> {
        const list = eachUnderPath(
          readArray(envelopes, "envelopes"),
          "",
          "envelopes",
          checkedEnvelope,
        );
        return serial(async () => {
          await writeAll(
            list.map((envelope, i) => ({
              envelope,
              ...writeTarget(
                (context as { items?: readonly SinkWriteContext[] } | undefined)?.items?.[i],
                `context.items[${i}]`,
              ),
            })),
          );
          return {};
        });
      },
      observe,
      ...(reconcileBy === "digest" ? { digest } : {}),
      rewrite(envelope: Envelope): Promise<void> {
        const e = checkedEnvelope(envelope);
        return serial(async () => {
          const stored = rows.get(e.key);
          // A repair's rewrite keeps the row's place and token (it is not a delivery).
          const at = await append(putLine(e, stored?.position ?? 0, stored?.token ?? 0));
          if (stored !== undefined) dead++;
          rows.set(e.key, {
            position: stored?.position ?? 0,
            checksum: e.checksum,
            token: stored?.token ?? 0,
            offset: at,
          });
          await maybeCompact();
        });
      },
      remove(key: string): Promise<void> {
        if (typeof key !== "string" || key.length === 0)
          invalidArgument("key", `must be a non-empty string, got ${describe(key)}`);
        return serial(async () => {
          if (!rows.has(key)) return;
          await append(`${JSON.stringify({ op: "del", key })}\n`);
          rows.delete(key);
          dead += 2;
          await maybeCompact();
        });
      },
      close(): Promise<void> {
        return turn.then(async () => {
          if (closed) return;
          closed = true;
          await handle.close();
        });
      },
    },
    extras,
  );
}
