/**
 * The file ledger's entries, in the process: committed ones (on disk: the key and id
 * indexes, each entry's index fields and where its envelope lies in which segment, a
 * cache of recently parsed entries) and pending ones (written, not yet durable: invisible
 * to readers, but not to idempotency). Appending plans against both, encodes one
 * `entries` frame, and commits the entries only once the segment log says the frame is
 * durable. Reading back checks every envelope against its stored hash, so damage is a
 * `CorruptionError` with the file and offset, never an entry.
 *
 * During recovery, replay commits each entry read back; a key or id whose hash equals an
 * earlier one's is a suspect, confirmed or cleared once every segment can be read.
 *
 * @module
 */

import { readSync } from "node:fs";
import { xxh32Bytes } from "../../checksum/xxhash.js";
import { isValidEnvelopeFields } from "../../envelope/fields.js";
import type { Envelope, JsonValue } from "../../envelope/schema.js";
import { buildEnvelope } from "../../envelope/seal.js";
import { CorruptionError } from "../../errors.js";
import { deepFreeze } from "../../internal/freeze.js";
import { type AppendOutcome, type EntryScan, planAppend } from "../base.js";
import { jsonParts } from "../envelope-json.js";
import type { AppendedEntry, LedgerEntry } from "../types.js";
import { ledgerFull, MAX_ENTRIES, NumberColumn, StringColumn, TimeColumn } from "./columns.js";
import { decodeEntries, entriesFrame, MalformedBody } from "./frames.js";
import { HashIndex, hashString } from "./hash-index.js";
import type { Segment, SegmentLog } from "./segments.js";

const READ_BLOCK = 1024 * 1024;

interface Pending {
  readonly entry: LedgerEntry;
  durable: Promise<void>;
}

const anyPosition = (): boolean => true;

/** The entries of one file ledger: committed and pending. */
export class EntryTable {
  readonly #log: SegmentLog;
  /** The segments, in order (owned by the log). */
  readonly #segments: Segment[];
  readonly #cacheLimit: number;

  // Committed entries: everything here is on disk.
  readonly #keys = new HashIndex();
  readonly #ids = new HashIndex();
  /** During recovery: entries whose key or id hash equals an earlier one's, to confirm. */
  #suspects: Array<[position: number, earlier: number]> = [];
  // Per entry, by index (position − 1), in chunked typed columns (columns.ts): about 48
  // bytes an entry, with no engine limit before MAX_ENTRIES.
  readonly #segmentOf = new NumberColumn("uint32");
  readonly #offsetOf = new NumberColumn("float64");
  readonly #lengthOf = new NumberColumn("uint32");
  readonly #hashOf = new NumberColumn("uint32");
  readonly #producerOf = new StringColumn();
  readonly #streamOf = new StringColumn();
  readonly #appendedAtOf = new TimeColumn();
  /** Most entries this table takes: {@link MAX_ENTRIES} (a test sets less). */
  readonly #maxEntries: number;
  readonly #cache = new Map<number, LedgerEntry>();

  // Appended, not yet durable: invisible to readers, but not to idempotency.
  readonly #pendingKeys = new Map<string, Pending>();
  readonly #pendingIds = new Map<string, Pending>();
  #nextPosition = 1;

  /** Entries of `log`'s segments; at most `cacheLimit` stay parsed in memory. */
  constructor(log: SegmentLog, cacheLimit: number, maxEntries: number = MAX_ENTRIES) {
    this.#log = log;
    this.#segments = log.segments;
    this.#cacheLimit = cacheLimit;
    this.#maxEntries = maxEntries;
  }

  /** How many entries are committed: the last durable position. */
  get count(): number {
    return this.#offsetOf.length;
  }

  // ---- recovery ----------------------------------------------------------------------

  /**
   * Commits the entries of an `entries` frame read back by replay (its `body`, at `offset`
   * of the `segment`-th segment). A repeated key or id would be corruption; a hash seen
   * before is only a suspect, confirmed or cleared by {@link checkSuspects}.
   */
  replayFrame(body: Buffer, segment: number, offset: number): void {
    let appendedAt = "";
    decodeEntries(
      body,
      (first, at) => {
        if (first !== this.count + 1) {
          throw new MalformedBody(`entries start at position ${first}, expected ${this.count + 1}`);
        }
        appendedAt = at;
      },
      (keyHash, idHash, producer, stream, hash, entryOffset, length) => {
        const sameKeyHash = this.#keys.find(keyHash, anyPosition);
        const sameIdHash = this.#ids.find(idHash, anyPosition);
        const position = this.#commit(
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
  }

  /** Whether the entry at `position` may have `key` (its key hash matches). */
  /**
   * Calls `visit` with each committed position whose entry may have `key` (its key hash
   * matches; the caller confirms), until `visit` answers true.
   */
  positionsOf(key: string, visit: (position: number) => boolean): void {
    this.#keys.find(hashString(key), visit);
  }

  mayHoldKey(key: string, position: number): boolean {
    return this.#keys.find(hashString(key), (p) => p === position) !== undefined;
  }

  /** Entries whose key or id hash equals an earlier one's: corruption if the key or id is really the same. */
  checkSuspects(): void {
    for (const [position, earlier] of this.#suspects) {
      const a = this.#read(position).envelope;
      const b = this.#read(earlier).envelope;
      if (a.key === b.key || a.id === b.id) {
        const index = position - 1;
        throw new CorruptionError(
          `Positions ${earlier} and ${position} hold the same key or id`,
          {
            file: (this.#segments[this.#segmentOf.get(index) as number] as Segment).path,
            offset: this.#offsetOf.get(index) as number,
          },
          { position },
        );
      }
    }
    this.#suspects = [];
  }

  /** After recovery: appends go on after the last committed entry. */
  resume(): void {
    this.#nextPosition = this.#offsetOf.length + 1;
  }

  #commit(
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

  /** The entry at `position` from the bytes read back: its stored length and hash, then an envelope. */
  #decode(position: number, bytes: Buffer): LedgerEntry {
    const index = position - 1;
    const segment = this.#segments[this.#segmentOf.get(index) as number] as Segment;
    if (
      bytes.length !== this.#lengthOf.get(index) ||
      xxh32Bytes(bytes) !== this.#hashOf.get(index)
    ) {
      throw new CorruptionError(
        `The envelope at position ${position} no longer matches its hash on disk`,
        { file: segment.path, offset: this.#offsetOf.get(index) as number },
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
        { file: segment.path, offset: this.#offsetOf.get(index) as number },
        { position },
      );
    }
    deepFreeze(parsed.payload);
    return Object.freeze({
      position,
      appendedAt: this.#appendedAtOf.get(index) as string,
      envelope: buildEnvelope(parsed),
    });
  }

  /** The committed entry at `position`, from the cache or the disk. */
  #read(position: number): LedgerEntry {
    const cached = this.#cache.get(position);
    if (cached !== undefined) return cached;
    const index = position - 1;
    const length = this.#lengthOf.get(index) as number;
    const bytes = Buffer.allocUnsafe(length);
    const segment = this.#segments[this.#segmentOf.get(index) as number] as Segment;
    const read = readSync(segment.fd, bytes, 0, length, this.#offsetOf.get(index) as number);
    const entry = this.#decode(position, read === length ? bytes : bytes.subarray(0, read));
    this.#remember(entry);
    return entry;
  }

  /** The committed entry with this key: candidates by hash, confirmed on the entry itself. */
  byKey(key: string): LedgerEntry | undefined {
    return this.#lookup(this.#keys, "key", key);
  }

  /** The committed entry with this id: candidates by hash, confirmed on the entry itself. */
  byId(id: string): LedgerEntry | undefined {
    return this.#lookup(this.#ids, "id", id);
  }

  #lookup(index: HashIndex, field: "key" | "id", value: string): LedgerEntry | undefined {
    let found: LedgerEntry | undefined;
    index.find(hashString(value), (position) => {
      const entry = this.#read(position);
      if (entry.envelope[field] !== value) return false;
      found = entry;
      return true;
    });
    return found;
  }

  /** The entry with this key, committed or pending: what an append plans against. */
  #lookupKey(key: string): LedgerEntry | undefined {
    return this.byKey(key) ?? this.#pendingKeys.get(key)?.entry;
  }

  #lookupId(id: string): LedgerEntry | undefined {
    return this.byId(id) ?? this.#pendingIds.get(id)?.entry;
  }

  /** The committed entries of `scan` (checked by the core), read in blocks of a segment. */
  async *scan(scan: EntryScan): AsyncIterable<LedgerEntry> {
    let left = scan.limit;
    let block: { segment: number; start: number; data: Buffer } | undefined;
    const last = Math.min(scan.to, this.#offsetOf.length);
    for (let position = scan.from; position <= last && left > 0; position++) {
      const index = position - 1;
      if (scan.producer !== undefined && this.#producerOf.get(index) !== scan.producer) continue;
      if (scan.stream !== undefined && this.#streamOf.get(index) !== scan.stream) continue;
      left--;
      const cached = this.#cache.get(position);
      if (cached !== undefined) {
        yield cached;
        continue;
      }
      const segment = this.#segmentOf.get(index) as number;
      const offset = this.#offsetOf.get(index) as number;
      const length = this.#lengthOf.get(index) as number;
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

  // ---- appending ---------------------------------------------------------------------

  /**
   * The `_append` of the file ledger: plans against committed and pending entries, writes
   * the new ones as one `entries` frame, and resolves once it is durable (and once the
   * pending entries found existing are).
   */
  async append(
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
      // Refused before anything is written: past the limit, never a half-appended batch.
      if (this.#nextPosition - 1 + plan.fresh.length > this.#maxEntries) {
        throw ledgerFull(this.#maxEntries);
      }
      const first = this.#nextPosition;
      this.#nextPosition += plan.fresh.length;
      const fresh = plan.fresh.map((index, i) => {
        const envelope = envelopes[index] as Envelope;
        const entry: LedgerEntry = Object.freeze({ position: first + i, appendedAt, envelope });
        results[index] = { entry, status: "appended" };
        return entry;
      });
      waits.push(this.#write(first, appendedAt, fresh, plan.fresh, canonical));
    }
    await Promise.all(waits);
    return { ok: true, results };
  }

  /**
   * Writes the `fresh` entries (at `first` on; `indexes` in the call's envelopes, for
   * `canonical`) as one frame, pending until it is durable; resolves then.
   */
  #write(
    first: number,
    appendedAt: string,
    fresh: readonly LedgerEntry[],
    indexes: readonly number[],
    canonical: readonly (Uint8Array | undefined)[],
  ): Promise<void> {
    const encoded = entriesFrame(
      first,
      appendedAt,
      fresh.map(({ envelope }, i) => {
        const index = indexes[i] as number;
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
        this.#commit(
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
    return durable;
  }
}
