/**
 * Reading a segment file back: which of its bytes are records to replay, which are a torn
 * tail to cut off, and which are damage (a `CorruptionError` with the file and offset).
 *
 * The one rule: bytes are cut off only when they cannot hold an acknowledged record. A
 * group commit is acknowledged after its whole group is synced, and a write cut short by a
 * crash leaves a prefix of it, so in the last segment a torn tail is
 * - version 2: fewer bytes than a group header, a checked header whose group runs past
 *   the end of the file, or nothing but zero bytes to the end (space a file system had
 *   allocated when the power went). A group whose bytes are all there must be intact: a
 *   bad header, a bad frame, frames that do not fill it or do not match its header, or a
 *   group that does not chain on the one before, are damage.
 * - version 1 (bare frames, no group boundaries): an incomplete frame with no good frame
 *   after it, or a zero-filled tail. A frame whose bytes are all there and do not match
 *   its checksum is damage; a flipped length that makes the last frame look incomplete
 *   cannot be told from a torn write in this layout (version 2 exists for that).
 * Anywhere but at the end of the last segment, anything short or wrong is damage.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CorruptionError } from "../../errors.js";
import {
  FRAME_HEADER,
  framesMatch,
  GROUP_HEADER,
  GROUP_MAGIC,
  groupCheck,
  readFrame,
  readGroupHeader,
} from "./frames.js";
import { CLOSED_FILE, type Closed, FORMAT } from "./segments.js";

/** Layout of a segment: 1 (bare frames) or 2 (groups). */
export type Layout = 1 | 2;

/** A segment's layout, told by its first bytes (a version-1 header frame cannot start with the group magic). */
export function layoutOf(data: Buffer): Layout {
  return data.length >= 4 && data.readUInt32LE(0) === GROUP_MAGIC ? 2 : 1;
}

export interface WalkOptions {
  readonly path: string;
  /** Whether this is the last segment: only its end may be a torn tail. */
  readonly last: boolean;
  /** The check of the last group (or version-1 frame) before this segment; 0 before the first. */
  readonly chain: number;
  /** Each record's body and its frame's offset, in order; a group's only once all of it checked out. */
  readonly visit: (body: Buffer, offset: number) => void;
  /** Each commit point: the offset just after a group (or version-1 frame), and its check. */
  readonly committed?: ((end: number, chain: number) => void) | undefined;
}

export interface WalkResult {
  /** Where the good bytes end: the file's length, or where a torn tail starts. */
  readonly end: number;
  /** The check of the last group (or frame): what the next one must chain on. */
  readonly chain: number;
  readonly torn?: { readonly offset: number; readonly bytes: number; readonly reason: string };
}

function isZero(data: Buffer, from: number): boolean {
  for (let i = from; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}

function damage(path: string, offset: number, reason: string): never {
  throw new CorruptionError(`Damaged record in ${path} at byte ${offset}: ${reason}`, {
    file: path,
    offset,
  });
}

function tornOrDamage(
  data: Buffer,
  options: WalkOptions,
  offset: number,
  chain: number,
  reason: string,
): WalkResult {
  if (!options.last) damage(options.path, offset, `${reason}, in a segment that was sealed`);
  return { end: offset, chain, torn: { offset, bytes: data.length - offset, reason } };
}

/** Walks a segment of `layout`; throws `CorruptionError` on damage. */
export function walkSegment(data: Buffer, layout: Layout, options: WalkOptions): WalkResult {
  return layout === 2 ? walkGroups(data, options) : walkFrames(data, options);
}

function walkGroups(data: Buffer, options: WalkOptions): WalkResult {
  const { path } = options;
  let chain = options.chain;
  let offset = 0;
  while (offset < data.length) {
    if (data.length - offset < GROUP_HEADER) {
      return tornOrDamage(data, options, offset, chain, "incomplete group header");
    }
    const read = readGroupHeader(data, offset);
    if (!read.ok) {
      if (isZero(data, offset))
        return tornOrDamage(data, options, offset, chain, "zero-filled tail");
      damage(path, offset, read.reason);
    }
    const { header } = read;
    if (header.previous !== chain) {
      damage(path, offset, "group does not follow the group before it (chain check mismatch)");
    }
    const end = offset + GROUP_HEADER + header.bytes;
    if (end > data.length) {
      return tornOrDamage(data, options, offset, chain, "group runs past the end of the file");
    }
    // Every frame of the group is checked before any of it is replayed.
    const starts: number[] = [];
    const bodies: Buffer[] = [];
    let at = offset + GROUP_HEADER;
    while (at < end) {
      const frame = readFrame(data, at, end);
      if (!frame.ok) damage(path, at, `${frame.reason}, inside a complete group`);
      starts.push(at);
      bodies.push(frame.body);
      at = frame.next;
    }
    if (!framesMatch(data, starts, header)) {
      damage(path, offset, "the group's frames do not match its header");
    }
    bodies.forEach((body, i) => {
      options.visit(body, starts[i] as number);
    });
    chain = groupCheck(data, offset);
    offset = end;
    options.committed?.(offset, chain);
  }
  return { end: offset, chain };
}

function walkFrames(data: Buffer, options: WalkOptions): WalkResult {
  const { path } = options;
  let chain = options.chain;
  let offset = 0;
  while (offset < data.length) {
    const frame = readFrame(data, offset, data.length);
    if (!frame.ok) {
      if (isZero(data, offset))
        return tornOrDamage(data, options, offset, chain, "zero-filled tail");
      if (!frame.incomplete || hasGoodFrameAfter(data, offset + 1)) {
        damage(path, offset, frame.reason);
      }
      return tornOrDamage(data, options, offset, chain, frame.reason);
    }
    options.visit(frame.body, offset);
    chain = data.readUInt32LE(offset + 4);
    offset = frame.next;
    options.committed?.(offset, chain);
  }
  return { end: offset, chain };
}

/** True when a good frame starts anywhere at or after `from`: the damage is not a torn tail. */
function hasGoodFrameAfter(data: Buffer, from: number): boolean {
  for (let offset = from; offset + FRAME_HEADER <= data.length; offset++) {
    if (readFrame(data, offset, data.length).ok) return true;
  }
  return false;
}

/** The point where the ledger was last closed, from `CLOSED`; undefined when there is none. */
export async function readClosed(directory: string): Promise<Closed | undefined> {
  const file = join(directory, CLOSED_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let parsed: Partial<Closed> & { format?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    parsed = {};
  }
  const { segment, size, chain } = parsed;
  if (
    parsed.format !== FORMAT ||
    !Number.isSafeInteger(segment) ||
    !Number.isSafeInteger(size) ||
    !Number.isSafeInteger(chain)
  ) {
    throw new CorruptionError(`${file} is damaged: ${JSON.stringify(text.slice(0, 120))}`, {
      file,
      offset: 0,
    });
  }
  return { segment, size, chain } as Closed;
}
