/**
 * The on-disk record format of the file ledger.
 *
 * A record is a frame:
 *
 * ```
 * u32 LE  body length N
 * u32 LE  XXH32 (seed 0) of the body
 * N bytes body: one kind byte, then the record
 * ```
 *
 * Format version 2 writes the frames of one group commit (everything one write and one
 * fdatasync make durable) behind a fixed-size group header, the group's commit record:
 *
 * ```
 * u32 LE  magic 0x31475053 ("SPG1")
 * u32 LE  bytes of the frames that follow
 * u32 LE  how many frames
 * u32 LE  XXH32 of the frames' 8-byte headers, concatenated (each covers its body)
 * u32 LE  the check of the group before this one, in this segment or the one before (0 first)
 * u32 LE  check: XXH32 of the 20 bytes above
 * ```
 *
 * The header is complete and checked before its length is trusted, so no damaged byte
 * can make a durable group look like a torn write, and a group is acknowledged only once
 * the whole of it is synced: a group whose bytes are all there is either intact or
 * damage. Version 1 wrote bare frames (one group commit was several frames with nothing
 * to say where it ended); it is still read.
 *
 * A frame is the unit of meaning: one `append` call is one `entries` frame, so after a
 * crash either all of its envelopes are there or none. `entries` bodies are binary so
 * that reopening a ledger reads the index fields (key, id, producer, stream, checksum)
 * without parsing any envelope; every other record is JSON.
 *
 * @module
 */

import { xxh32Bytes } from "../../checksum/xxhash.js";
import { hashBytes } from "./hash-index.js";

/** Bytes before a frame's body. */
export const FRAME_HEADER = 8;
/** Largest body accepted when reading: anything longer is damage, not data. */
export const MAX_BODY: number = 256 * 1024 * 1024;

/**
 * Record kinds. A new kind takes the next number and a case in the ledger's replay; a
 * reader that does not know a kind refuses the segment (a record it cannot replay is not
 * skipped).
 */
export const KIND = {
  segment: 1,
  entries: 2,
  receipt: 3,
  watermark: 4,
  sequence: 5,
  audit: 6,
  /** `{ next }`: fencing tokens below `next` may have been given; reserved before use. */
  fence: 7,
  /** `{ sink, origin, freeze, record }`: a freeze set (or lifted: null) and its audit record. */
  freeze: 8,
  /**
   * `{ sink, through, record }`: the receipts of `sink` at positions 1 to `through`
   * compacted (each key keeps its last final receipt) and the audit record of it.
   */
  compact: 9,
  /** A reconciliation checkpoint (the whole record), replacing the sink's previous one. */
  checkpoint: 10,
  /** Consistency-window samples (an array of them), appended to their sinks' histories. */
  windows: 11,
} as const;

/**
 * The highest record kind this sinkproof writes and reads. A new kind is added within the
 * same format version (a reader that does not know it stops, saying the directory was
 * written by a newer sinkproof), never by changing the meaning of an old one.
 */
export const LAST_KIND: number = Math.max(...Object.values(KIND));

const KINDS: ReadonlySet<number> = new Set(Object.values(KIND));

/** Bytes of a group header (version 2). */
export const GROUP_HEADER = 24;
/** "SPG1" read as a little-endian u32: the first bytes of every version-2 group. */
export const GROUP_MAGIC = 0x31475053;
/** Largest group written: the queue is split past it (a group's length is a u32). */
export const MAX_GROUP: number = 1024 * 1024 * 1024;

/** XXH32 of `count` frame headers (their first 8 bytes), concatenated; `header(i)` gives the i-th. */
function headersHash(count: number, header: (i: number) => Uint8Array): number {
  const headers = Buffer.allocUnsafe(count * FRAME_HEADER);
  for (let i = 0; i < count; i++) headers.set(header(i), i * FRAME_HEADER);
  return xxh32Bytes(headers);
}

/** The header of a group of `frames` following the group whose check is `previous`. */
export function groupHeader(frames: readonly Uint8Array[], previous: number): Buffer {
  const out = Buffer.allocUnsafe(GROUP_HEADER);
  let bytes = 0;
  for (const f of frames) bytes += f.length;
  out.writeUInt32LE(GROUP_MAGIC, 0);
  out.writeUInt32LE(bytes, 4);
  out.writeUInt32LE(frames.length, 8);
  out.writeUInt32LE(
    headersHash(frames.length, (i) => (frames[i] as Uint8Array).subarray(0, FRAME_HEADER)),
    12,
  );
  out.writeUInt32LE(previous >>> 0, 16);
  out.writeUInt32LE(xxh32Bytes(out.subarray(0, 20)), 20);
  return out;
}

/** The check of a group header: what the next group names as `previous`. */
export const groupCheck = (header: Buffer, offset = 0): number => header.readUInt32LE(offset + 20);

/** A group header that passed its check. */
export interface GroupHeader {
  readonly bytes: number;
  readonly count: number;
  readonly framesHash: number;
  readonly previous: number;
  readonly check: number;
}

/** Reads the complete group header at `offset` (the caller checked that 24 bytes are there). */
export function readGroupHeader(
  data: Buffer,
  offset: number,
): { ok: true; header: GroupHeader } | { ok: false; reason: string } {
  if (data.readUInt32LE(offset) !== GROUP_MAGIC) return { ok: false, reason: "no group header" };
  const check = data.readUInt32LE(offset + 20);
  if (xxh32Bytes(data.subarray(offset, offset + 20)) !== check)
    return { ok: false, reason: "group header checksum mismatch" };
  return {
    ok: true,
    header: {
      bytes: data.readUInt32LE(offset + 4),
      count: data.readUInt32LE(offset + 8),
      framesHash: data.readUInt32LE(offset + 12),
      previous: data.readUInt32LE(offset + 16),
      check,
    },
  };
}

/** Whether the frames starting at `starts` in `data` are the ones a group header hashed. */
export function framesMatch(data: Buffer, starts: readonly number[], header: GroupHeader): boolean {
  if (starts.length !== header.count) return false;
  const hash = headersHash(starts.length, (i) => {
    const at = starts[i] as number;
    return data.subarray(at, at + FRAME_HEADER);
  });
  return hash === header.framesHash;
}

/**
 * One envelope to write: its index fields and its JSON text in three parts, the payload's
 * canonical bytes (already made by the integrity check) between the other fields.
 */
export interface EntryInput {
  readonly key: string;
  readonly id: string;
  readonly producer: string;
  readonly stream: string;
  readonly checksum: string;
  /** `{"id":…,…,"payload":` */
  readonly prefix: string;
  /** The payload's canonical UTF-8 bytes. */
  readonly payload: Uint8Array;
  /** `,"trace":…,"parents":…}` */
  readonly suffix: string;
}

/** Wraps a body in a frame. */
export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(xxh32Bytes(body), 4);
  out.set(body, FRAME_HEADER);
  return out;
}

/** A frame whose body is a kind byte and JSON. */
export function jsonFrame(kind: number, value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), "utf8");
  const body = Buffer.allocUnsafe(1 + json.length);
  body[0] = kind;
  json.copy(body, 1);
  return frame(body);
}

/**
 * An `entries` frame: first position, appendedAt, then per envelope its index fields and
 * JSON. Returns the frame and, per envelope, where its JSON starts inside the frame.
 */
export function entriesFrame(
  first: number,
  appendedAt: string,
  entries: readonly EntryInput[],
): { bytes: Buffer; offsets: number[]; lengths: number[]; hashes: number[] } {
  let size = 1 + 8 + 2 + utf8Length(appendedAt) + 4;
  const lengths: number[] = [];
  for (const e of entries) {
    const length = utf8Length(e.prefix) + e.payload.length + utf8Length(e.suffix);
    lengths.push(length);
    size +=
      2 +
      utf8Length(e.key) +
      1 +
      e.id.length +
      2 +
      utf8Length(e.producer) +
      2 +
      utf8Length(e.stream) +
      1 +
      e.checksum.length +
      4 +
      4 +
      length;
  }
  // One buffer for the whole frame: header, then the body written in place.
  const out = Buffer.allocUnsafe(FRAME_HEADER + size);
  const body = out.subarray(FRAME_HEADER);
  let pos = 0;
  body[pos++] = KIND.entries;
  body.writeDoubleLE(first, pos);
  pos += 8;
  pos = writeShortString(body, pos, appendedAt);
  body.writeUInt32LE(entries.length, pos);
  pos += 4;
  const offsets: number[] = [];
  const hashes: number[] = [];
  entries.forEach((e, i) => {
    const length = lengths[i] as number;
    pos = writeShortString(body, pos, e.key);
    pos = writeTinyString(body, pos, e.id);
    pos = writeShortString(body, pos, e.producer);
    pos = writeShortString(body, pos, e.stream);
    pos = writeTinyString(body, pos, e.checksum);
    const hashAt = pos;
    body.writeUInt32LE(length, pos + 4);
    pos += 8;
    const start = pos;
    pos += writeUtf8(body, pos, e.prefix);
    body.set(e.payload, pos);
    pos += e.payload.length;
    pos += writeUtf8(body, pos, e.suffix);
    const hash = xxh32Bytes(body.subarray(start, pos));
    body.writeUInt32LE(hash, hashAt);
    offsets.push(FRAME_HEADER + start);
    hashes.push(hash);
  });
  out.writeUInt32LE(size, 0);
  out.writeUInt32LE(xxh32Bytes(body), 4);
  return { bytes: out, offsets, lengths, hashes };
}

/** UTF-8 length of a string: short strings are counted here, faster than a native call. */
function utf8Length(value: string): number {
  const n = value.length;
  if (n > 64) return Buffer.byteLength(value, "utf8");
  let length = n;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) length += c < 0x800 ? 1 : c >= 0xd800 && c <= 0xdbff ? 0 : 2;
  }
  return length;
}

/** Writes a string as UTF-8 at `pos`; ASCII is copied here, the rest handed to Node. */
function writeUtf8(buf: Buffer, pos: number, value: string): number {
  const n = value.length;
  if (n <= 64) {
    let i = 0;
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      buf[pos + i] = c;
    }
    if (i === n) return n;
  }
  return buf.write(value, pos, "utf8");
}

function writeShortString(buf: Buffer, pos: number, value: string): number {
  const length = writeUtf8(buf, pos + 2, value);
  buf.writeUInt16LE(length, pos);
  return pos + 2 + length;
}

function writeTinyString(buf: Buffer, pos: number, value: string): number {
  // ids and checksums: ASCII by construction.
  const length = value.length;
  for (let i = 0; i < length; i++) buf[pos + 1 + i] = value.charCodeAt(i);
  buf[pos] = length;
  return pos + 1 + length;
}

/** Thrown by the decoders on a body that passed its checksum but does not parse. */
export class MalformedBody extends Error {}

/** Receives the decoded index fields of one envelope of an `entries` frame. */
export type EntryVisitor = (
  /** Hash of the key's UTF-8 bytes (see hash-index.ts). */
  keyHash: number,
  /** Hash of the id's bytes. */
  idHash: number,
  producer: string,
  stream: string,
  /** XXH32 of the envelope's JSON bytes. */
  hash: number,
  /** Offset of the envelope's JSON bytes from the start of the frame. */
  offset: number,
  length: number,
) => void;

/**
 * Decodes an `entries` body (`body` starts at the kind byte), calling `visit` for each
 * envelope in order: no object per entry, so a million-entry replay makes little garbage.
 * Returns the frame's first position and appendedAt, read before any visit; `check`
 * runs then, so the caller can refuse the frame before anything is visited.
 */
export function decodeEntries(
  body: Buffer,
  check: (first: number, appendedAt: string, count: number) => void,
  visit: EntryVisitor,
): void {
  let pos = 1;
  const end = body.length;
  const need = (n: number) => {
    if (pos + n > end) throw new MalformedBody("entries body ends early");
  };
  need(8);
  const first = body.readDoubleLE(pos);
  pos += 8;
  need(2);
  const atLength = body.readUInt16LE(pos);
  need(2 + atLength);
  const appendedAt = body.toString("latin1", pos + 2, pos + 2 + atLength);
  pos += 2 + atLength;
  need(4);
  const count = body.readUInt32LE(pos);
  pos += 4;
  if (!Number.isSafeInteger(first) || first < 1)
    throw new MalformedBody("entries body has a bad position");
  check(first, appendedAt, count);
  let lastProducer = "";
  let lastStream = "";
  /** A u16-length name; `last` itself when the bytes spell it, so equal names share one string. */
  const readName = (last: string): string => {
    need(2);
    const length = body.readUInt16LE(pos);
    need(2 + length);
    const name = sameBytes(body, pos + 2, length, last)
      ? last
      : body.toString("utf8", pos + 2, pos + 2 + length);
    pos += 2 + length;
    return name;
  };
  for (let i = 0; i < count; i++) {
    need(2);
    let length = body.readUInt16LE(pos);
    need(2 + length);
    const keyHash = hashBytes(body, pos + 2, pos + 2 + length);
    pos += 2 + length;
    need(1);
    length = body[pos] as number;
    need(1 + length);
    const idHash = hashBytes(body, pos + 1, pos + 1 + length);
    pos += 1 + length;
    // Producer and stream repeat from envelope to envelope: compare bytes, share strings.
    const producer = readName(lastProducer);
    lastProducer = producer;
    const stream = readName(lastStream);
    lastStream = stream;
    // The checksum is stored for tools that read segments; the ledger reads it from the envelope.
    need(1);
    pos += 1 + (body[pos] as number);
    need(8);
    const hash = body.readUInt32LE(pos);
    length = body.readUInt32LE(pos + 4);
    pos += 8;
    need(length);
    visit(keyHash, idHash, producer, stream, hash, FRAME_HEADER + pos, length);
    pos += length;
  }
  if (pos !== end) throw new MalformedBody("entries body has trailing bytes");
}

/** Whether `buf[at..at+length)` is the UTF-8 of `value`, checked for ASCII values only. */
function sameBytes(buf: Buffer, at: number, length: number, value: string): boolean {
  if (value.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80 || buf[at + i] !== c) return false;
  }
  return true;
}

/** Decodes a JSON body. */
export function decodeJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8", 1));
  } catch (error) {
    throw new MalformedBody(`JSON body does not parse: ${String(error)}`);
  }
}

/**
 * Reads the frame at `offset`: its body, or why it is not a good frame. `end` is where
 * the readable bytes stop. `incomplete` says that the bytes stop before the frame does (a
 * write cut short may look like that); any other failure is a frame whose bytes are all
 * there and wrong.
 */
export function readFrame(
  data: Buffer,
  offset: number,
  end: number,
): { ok: true; body: Buffer; next: number } | { ok: false; reason: string; incomplete: boolean } {
  if (end - offset < FRAME_HEADER)
    return { ok: false, reason: "incomplete frame header", incomplete: true };
  const length = data.readUInt32LE(offset);
  if (length === 0 || length > MAX_BODY)
    return { ok: false, reason: `implausible frame length ${length}`, incomplete: false };
  if (end - offset - FRAME_HEADER < length)
    return { ok: false, reason: "frame body runs past the end", incomplete: true };
  const body = data.subarray(offset + FRAME_HEADER, offset + FRAME_HEADER + length);
  if (xxh32Bytes(body) !== data.readUInt32LE(offset + 4))
    return { ok: false, reason: "frame checksum mismatch", incomplete: false };
  const kind = body[0] as number;
  if (!KINDS.has(kind)) {
    // Past the last kind this sinkproof knows, in a frame whose hash checks out: most
    // likely written by a newer sinkproof, and said so rather than only "unknown".
    const reason =
      kind > LAST_KIND
        ? `record kind ${kind}, which this sinkproof does not know (kinds 1 to ${LAST_KIND}): written by a newer sinkproof? Open the directory with that version`
        : `unknown record kind ${kind}`;
    return { ok: false, reason, incomplete: false };
  }
  return { ok: true, body, next: offset + FRAME_HEADER + length };
}
