/**
 * The file ledger's receipts, kept on disk and indexed off the JS heap. A receipt is a
 * frame of its segment already (written by `putReceipt`, read back by replay); in memory
 * each sink has one column by entry position ({@link LocationColumn}) holding where the
 * latest receipt of that position lies (its segment and frame offset in 8 bytes, negative
 * when that receipt is final), and only the positions with more than one receipt (a retry,
 * a failure, a superseded write) keep the list of all of theirs, on the heap. Ten sinks'
 * receipts cost 80 bytes an entry in typed arrays, and nothing per receipt on the heap.
 *
 * A receipt asked for is read back from its segment and its frame checked by its hash: a
 * damaged byte is a `CorruptionError` naming the file and offset, never a receipt. A key's
 * receipts are found through the entries' key index (every receipt is of the entry at its
 * position: `putReceipt` and replay check it), confirmed on the receipt itself.
 *
 * @module
 */

import { readSync } from "node:fs";
import { CorruptionError } from "../../errors.js";
import { deepFreeze } from "../../internal/freeze.js";
import type { Receipt } from "../types.js";
import { isFinalStatus } from "../validate.js";
import { LocationColumn, ledgerFull } from "./columns.js";
import { decodeJson, FRAME_HEADER, KIND, readFrame } from "./frames.js";
import type { Segment } from "./segments.js";

/** Bytes read at once for one receipt: most frames fit, a longer one takes a second read. */
const SMALL_READ = 2048;
/** Bytes read at once while scanning: receipts of neighbouring positions lie close together. */
const SCAN_READ = 256 * 1024;
/** Segments a location can name: `segment · 2^32 + offset + 1` stays below 2^53. */
const MAX_SEGMENTS = 2 ** 21 - 1;

interface SinkReceipts {
  /** By position: ±(where the latest receipt lies + 1), negative when it is final; 0 for none. */
  readonly latest: LocationColumn;
  /** Positions with more than one receipt: every one of theirs, in order, signed as above. */
  readonly more: Map<number, number[]>;
}

/** A block of a segment read into memory, reused while the frames asked for lie inside it. */
interface Block {
  segment: number;
  start: number;
  data: Buffer;
}

/**
 * Receipts by sink and position, read back from the segments. `positionsOf(key, visit)`
 * calls `visit` with each committed position whose entry may have `key` (its key hash
 * matches) until `visit` answers true.
 */
export class ReceiptColumns {
  readonly #segments: readonly Segment[];
  readonly #positionsOf: (key: string, visit: (position: number) => boolean) => void;
  readonly #sinks = new Map<string, SinkReceipts>();
  readonly #chunkBits: number;

  constructor(
    segments: readonly Segment[],
    positionsOf: (key: string, visit: (position: number) => boolean) => void,
    chunkBits = 14,
  ) {
    this.#segments = segments;
    this.#positionsOf = positionsOf;
    this.#chunkBits = chunkBits;
  }

  /** Records `receipt`, whose frame starts at `offset` of the `segment`-th segment. */
  put(receipt: Receipt, segment: number, offset: number): void {
    if (segment >= MAX_SEGMENTS) throw ledgerFull(MAX_SEGMENTS, "segments");
    let sink = this.#sinks.get(receipt.sink);
    if (sink === undefined) {
      sink = { latest: new LocationColumn(this.#chunkBits), more: new Map() };
      this.#sinks.set(receipt.sink, sink);
    }
    const location = segment * 2 ** 32 + offset + 1;
    const signed = isFinalStatus(receipt.status) ? -location : location;
    const position = receipt.position;
    const before = sink.latest.get(position);
    if (before !== 0) {
      const list = sink.more.get(position);
      if (list === undefined) sink.more.set(position, [before, signed]);
      else list.push(signed);
    }
    sink.latest.set(position, signed);
  }

  /** Every receipt of (sink, key), in the order they were put. */
  get(sink: string, key: string): readonly Receipt[] {
    const receipts = this.#sinks.get(sink);
    if (receipts === undefined) return EMPTY;
    let found: readonly Receipt[] = EMPTY;
    this.#positionsOf(key, (position) => {
      const latest = receipts.latest.get(position);
      if (latest === 0) return false;
      const locations = receipts.more.get(position) ?? [latest];
      const first = this.#read(locations[0] as number, sink, position);
      // Another key with the same hash: its position's receipts are not this key's.
      if (first.key !== key) return false;
      const block: Block[] = [];
      found = Object.freeze([
        first,
        ...locations.slice(1).map((at) => this.#read(at, sink, position, block)),
      ]);
      return true;
    });
    return found;
  }

  /** The last receipt of (sink, key) with a final status. */
  lastFinal(sink: string, key: string): Receipt | undefined {
    const receipts = this.#sinks.get(sink);
    if (receipts === undefined) return undefined;
    let found: Receipt | undefined;
    this.#positionsOf(key, (position) => {
      const latest = receipts.latest.get(position);
      let final = Math.min(latest, 0);
      if (final === 0 && latest !== 0) {
        const list = receipts.more.get(position);
        if (list !== undefined) {
          for (let i = list.length - 1; i >= 0 && final === 0; i--) {
            if ((list[i] as number) < 0) final = list[i] as number;
          }
        }
      }
      if (final === 0) return false;
      const receipt = this.#read(final, sink, position);
      if (receipt.key !== key) return false;
      found = receipt;
      return true;
    });
    return found;
  }

  /**
   * Of each key of `sink` at positions 1 to `through` with a final receipt, keeps only the
   * last final one (in the column; the frames stay in their segments); returns how many
   * receipts were removed. Only positions with more than one receipt can lose any, and
   * those are the ones in `more`: the cost follows them, not the positions.
   */
  compact(sink: string, through: number): number {
    const receipts = this.#sinks.get(sink);
    if (receipts === undefined) return 0;
    let removed = 0;
    for (const [position, list] of receipts.more) {
      if (position > through) continue;
      let final = 0;
      for (let i = list.length - 1; i >= 0 && final === 0; i--) {
        if ((list[i] as number) < 0) final = list[i] as number;
      }
      if (final === 0) continue;
      removed += list.length - 1;
      receipts.latest.set(position, final);
      receipts.more.delete(position);
    }
    return removed;
  }

  /** The receipts of `sink` at positions `from` to `to`, by position, each in its order. */
  *scan(sink: string, from: number, to: number): Iterable<Receipt> {
    const receipts = this.#sinks.get(sink);
    if (receipts === undefined) return;
    const last = Math.min(to, receipts.latest.end);
    const block: Block[] = [];
    for (let position = Math.max(from, 1); position <= last; position++) {
      const latest = receipts.latest.get(position);
      if (latest === 0) {
        // A chunk never written holds no receipt: skip it whole.
        position = receipts.latest.nextFrom(position + 1) - 1;
        continue;
      }
      const list = receipts.more.get(position);
      if (list === undefined) yield this.#read(latest, sink, position, block);
      else for (const at of list) yield this.#read(at, sink, position, block);
    }
  }

  /**
   * The receipt whose frame `signed` locates, checked: a frame that does not check out,
   * or that is not a receipt of `sink` at `position`, is corruption. `block` (one element
   * at most) keeps what a scan read last, for the next frames to be read from.
   */
  #read(signed: number, sink: string, position: number, block?: Block[]): Receipt {
    const location = Math.abs(signed) - 1;
    const index = Math.floor(location / 2 ** 32);
    const offset = location - index * 2 ** 32;
    const segment = this.#segments[index] as Segment;
    const damaged = (reason: string): CorruptionError =>
      new CorruptionError(
        `Unreadable receipt of ${JSON.stringify(sink)} at position ${position} in ${segment.path} at byte ${offset}: ${reason}`,
        { file: segment.path, offset },
      );
    const kept = block?.[0];
    let framed: ReturnType<typeof readFrame> | undefined;
    if (kept !== undefined && kept.segment === index && offset >= kept.start) {
      framed = readFrame(kept.data, offset - kept.start, kept.data.length);
      // Past the end of what the scan read: read from the frame on.
      if (!framed.ok && framed.incomplete) framed = undefined;
    }
    if (framed === undefined) {
      let data = Buffer.allocUnsafe(block === undefined ? SMALL_READ : SCAN_READ);
      data = data.subarray(0, readSync(segment.fd, data, 0, data.length, offset));
      if (block !== undefined) block[0] = { segment: index, start: offset, data };
      framed = readFrame(data, 0, data.length);
      if (!framed.ok && framed.incomplete && data.length >= FRAME_HEADER) {
        // Longer than what was read: the whole frame, in a second read.
        const whole = Buffer.allocUnsafe(FRAME_HEADER + data.readUInt32LE(0));
        framed = readFrame(whole, 0, readSync(segment.fd, whole, 0, whole.length, offset));
      }
    }
    if (!framed.ok) throw damaged(framed.reason);
    if (framed.body[0] !== KIND.receipt) throw damaged(`a frame of kind ${framed.body[0]}`);
    let receipt: Receipt;
    try {
      receipt = decodeJson(framed.body) as Receipt;
    } catch (error) {
      throw damaged(String(error));
    }
    if (
      typeof receipt !== "object" ||
      receipt === null ||
      receipt.sink !== sink ||
      receipt.position !== position
    ) {
      throw damaged("the frame holds another receipt");
    }
    return deepFreeze(receipt);
  }
}

const EMPTY: readonly Receipt[] = Object.freeze([]);
