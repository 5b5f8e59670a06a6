/**
 * What `BaseLedger` checks on everything it reads back from an adapter, before anyone
 * sees it: entries (fields, the payload's checksum, the entry hash, the columns beside the
 * envelope), receipts, claim answers, watermarks and counts. Damage is a `CorruptionError`
 * naming the storage and the position; it is never returned, so never delivered and never
 * judged consistent.
 *
 * Cheap paths, each a proof rather than a hope:
 * - an envelope object this process already checked and froze is trusted by identity (a
 *   `WeakSet` lookup): in-memory adapters return the very objects they were given;
 * - an adapter that proves integrity itself (FileLedger hashes every frame it reads)
 *   says so with `readsVerified`;
 * - an adapter that stores the envelope as the ledger's JSON text ({@link StoredEntry})
 *   hands over that text: the payload's checksum is then a hash of the canonical text
 *   already at hand, not a second canonicalization.
 *
 * @module
 */

import {
  type Limits,
  MAX_BYTES_LIMIT,
  MAX_DEPTH_LIMIT,
  resolveLimits,
} from "../canonical/canonicalize.js";
import {
  algorithmOf,
  type Checksum,
  isChecksum,
  sameChecksum,
  sha256Hex,
} from "../checksum/checksum.js";
import { xxh64Text } from "../checksum/xxhash.js";
import { assertEnvelopeFields, checkEnvelope } from "../envelope/check.js";
import { isValidEnvelopeFields } from "../envelope/fields.js";
import { hashPayload } from "../envelope/payload.js";
import { type Envelope, isEnvelopeTime, type JsonValue } from "../envelope/schema.js";
import { buildEnvelope } from "../envelope/seal.js";
import { CorruptionError, isSinkproofError } from "../errors.js";
import { invalidArgument, reading, show } from "../internal/arguments.js";
import { deepFreeze } from "../internal/freeze.js";
import { jsonParts } from "./envelope-json.js";
import type { Claim, ClaimResult, LedgerEntry, Receipt } from "./types.js";
import {
  copyReceipt,
  isCheckedReceipt,
  isFencingToken,
  isFinalStatus,
  isValidReceipt,
  type ResolvedScan,
  snapshotReceipt,
} from "./validate.js";

/** Where a ledger keeps what was found damaged, for the `CorruptionError`. */
export interface StorageSite {
  /** The file or database (see `CorruptionError.file`). */
  readonly file: string;
  /** The table, for SQL storage. */
  readonly table?: string | undefined;
}

/** The parts of a ledger's storage a read can find damaged. */
export type StoragePart =
  | "entries"
  | "receipts"
  | "watermarks"
  | "claims"
  | "sequences"
  | "checkpoints"
  | "windows";

/**
 * Envelope fields an adapter stores in columns of their own beside the envelope (to index
 * and filter by them). Each one given must equal the envelope's field, so an edited column
 * cannot make a lookup answer with another entry unnoticed.
 */
export interface StoredColumns {
  /** The key column, as stored. */
  readonly key?: unknown;
  /** The id column, as stored. */
  readonly id?: unknown;
  /** The producer column, as stored. */
  readonly producer?: unknown;
  /** The stream column, as stored. */
  readonly stream?: unknown;
  /** The checksum column, as stored. */
  readonly checksum?: unknown;
}

/**
 * An entry as a storage adapter keeps it: the envelope as the ledger's JSON text (what
 * `envelopeJson` writes: the payload's canonical text inside), the entry hash written
 * beside it at append, and the columns that index it. Return it from `_getByKey`,
 * `_getById` and `_scan` instead of a `LedgerEntry`, and `BaseLedger` parses and verifies
 * it: the payload's checksum is a hash of the stored canonical text, and the entry hash
 * covers every other field and the position.
 */
export interface StoredEntry {
  /** The entry's position, as stored. */
  readonly position: number;
  /** When it was appended, as stored. */
  readonly appendedAt: unknown;
  /** The envelope's JSON text, as stored. */
  readonly envelope: string;
  /**
   * The entry hash stored at append ({@link entryHash}). Leave it out only when the
   * storage keeps none: the fields beside the payload are then checked for validity, not
   * for being the ones appended.
   */
  readonly entryHash?: unknown;
  /** Envelope fields stored in columns of their own, to check against the envelope. */
  readonly columns?: StoredColumns | undefined;
}

/** Payload limits of a read: the largest the library allows, so what any append accepted reads back. */
const READ_LIMITS: Limits = resolveLimits({ maxDepth: MAX_DEPTH_LIMIT, maxBytes: MAX_BYTES_LIMIT });

/**
 * Envelopes this process checked (fields and checksum) and froze: trusted by identity.
 * Frozen plain data cannot change; an adapter that returns the object it was given at
 * append (MemoryLedger) costs one lookup per read.
 */
const intact = new WeakSet<Envelope>();

/** Records an envelope as checked and frozen. */
export function markIntact(envelope: Envelope): void {
  intact.add(envelope);
}

/** A `CorruptionError` at this site and position. */
export function corruption(
  site: StorageSite,
  position: number | undefined,
  message: string,
  cause?: unknown,
): CorruptionError {
  const where = site.table === undefined ? site.file : `${site.table} of ${site.file}`;
  const at = position === undefined ? "" : ` at position ${position}`;
  return new CorruptionError(
    `Damaged ledger data in ${where}${at}: ${message}. It is not returned; see docs/runbook.md`,
    { file: site.file, offset: 0, table: site.table },
    cause === undefined ? { position } : { position, cause },
  );
}

const isPosition = (value: unknown): value is number =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 1;

/**
 * The entry hash: the checksum, in the envelope's own algorithm, of the UTF-8 text
 * `<position>\n<appendedAt>\n<the envelope's JSON without its payload>`, where the JSON is
 * the ledger's stored form (`envelopeJson`: the envelope's own field order, `"payload":`
 * followed directly by `,"trace":`). The payload is left out because the envelope's
 * checksum, which is covered, binds it. Stored beside each entry at append by the SQL
 * ledgers; a read hashes the stored text with its payload cut out, so a change to any
 * field, the position or the append time is found, not only a change to the payload, and
 * the check costs one short hash, not a second serialization.
 *
 * @example
 * ```ts
 * import { entryHash } from "sinkproof/ledger";
 * const stored = entryHash(1, "2026-11-26T12:00:00.000Z", envelope); // "xxh64:…"
 * ```
 */
export function entryHash(position: number, appendedAt: string, envelope: Envelope): Checksum {
  if (typeof position !== "number" || !Number.isSafeInteger(position) || position < 1)
    invalidArgument("position", `must be a positive integer, got ${show(position)}`);
  if (typeof appendedAt !== "string" || !isEnvelopeTime(appendedAt))
    invalidArgument(
      "appendedAt",
      `must be an ISO-8601 UTC time with milliseconds, got ${show(appendedAt)}`,
    );
  // The envelope's fields, checked (its payload is not part of the entry hash).
  const checked = reading("envelope", () => {
    const fields = assertEnvelopeFields(envelope);
    return { ...fields, schema: { ...fields.schema } } as Envelope;
  });
  if (!isValidEnvelopeFields(checked)) assertEnvelopeFields(checked);
  const { prefix, suffix } = jsonParts(checked);
  return entryHashOfRest(position, appendedAt, prefix + suffix, algorithmOf(envelope.checksum));
}

/** {@link entryHash} from the envelope's stored JSON without its payload. Internal. */
export function entryHashOfRest(
  position: number,
  appendedAt: string,
  rest: string,
  algorithm: "xxh64" | "sha256",
): Checksum {
  const text = `${position}\n${appendedAt}\n${rest}`;
  return algorithm === "xxh64" ? `xxh64:${xxh64Text(text)}` : `sha256:${sha256Hex(text)}`;
}

/**
 * Where the payload lies in the stored form: after the first `"payload":` (no field before
 * it can hold that text unescaped: quotes in strings are escaped) and before the last
 * `,"trace":` (nothing after it can). Undefined when the text is not in that form.
 */
function payloadSpan(text: string): [number, number] | undefined {
  const start = text.indexOf('"payload":');
  const end = text.lastIndexOf(',"trace":');
  return start < 0 || end < start + 10 ? undefined : [start + 10, end];
}

/** Freezes what `JSON.parse` made (plain objects and arrays, none frozen yet), deeply. */
function freezeParsed(value: object): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const member: unknown = value[i];
      if (typeof member === "object" && member !== null) freezeParsed(member);
    }
  } else {
    for (const key in value) {
      const member: unknown = (value as Record<string, unknown>)[key];
      if (typeof member === "object" && member !== null) freezeParsed(member);
    }
  }
  Object.freeze(value);
}

const COLUMNS = ["key", "id", "producer", "stream", "checksum"] as const;

/** The last append time that passed: a batch's entries share one. */
let lastAppendTime = "";

function isAppendTime(value: unknown): value is string {
  if (value === lastAppendTime) return true;
  if (typeof value !== "string" || !isEnvelopeTime(value)) return false;
  lastAppendTime = value;
  return true;
}

/**
 * A stored entry parsed and verified, as a frozen `LedgerEntry`: the text is an envelope;
 * its payload hashes to its checksum (the stored canonical text hashed as it is; text not
 * in the ledger's form is canonicalized again, so it is never wrongly refused); the columns
 * agree with the envelope; the entry hash matches. Anything else is a `CorruptionError`.
 */
export function entryFromStored(stored: StoredEntry, site: StorageSite): LedgerEntry {
  const { position, appendedAt, envelope: text } = stored;
  if (!isPosition(position)) {
    throw corruption(site, undefined, `a row has position ${String(position)}, not 1, 2, 3, …`);
  }
  if (typeof text !== "string") throw corruption(site, position, "the row holds no envelope text");
  let parsed: (Envelope & { payload: JsonValue }) | undefined;
  try {
    parsed = JSON.parse(text) as Envelope & { payload: JsonValue };
  } catch (error) {
    throw corruption(site, position, "the envelope is not JSON", error);
  }
  if (
    typeof parsed !== "object" ||
    parsed === null ||
    !isChecksum(parsed.checksum) ||
    parsed.payload === undefined
  ) {
    throw corruption(site, position, "the row's envelope is not a valid envelope");
  }
  if (!isAppendTime(appendedAt)) {
    throw corruption(site, position, "the row's append time is not an ISO-8601 UTC time");
  }
  const algorithm = algorithmOf(parsed.checksum);
  const span = payloadSpan(text);
  // The cheap path: the payload's stored canonical text, hashed as it is.
  const fastPath =
    span !== undefined &&
    sameChecksum(checksumOfText(text.slice(span[0], span[1]), algorithm), parsed.checksum);
  let hashed: Checksum | undefined;
  if (stored.entryHash !== undefined && span !== undefined) {
    hashed = entryHashOfRest(
      position,
      appendedAt,
      text.slice(0, span[0]) + text.slice(span[1]),
      algorithm,
    );
  }
  const hashMatches =
    hashed !== undefined &&
    typeof stored.entryHash === "string" &&
    stored.entryHash.length === hashed.length &&
    sameChecksum(stored.entryHash as Checksum, hashed);
  // A matching entry hash over the ledger's own form proves the fields are the ones the
  // append checked; without that proof they are checked here.
  const proven = hashMatches && fastPath;
  if (!proven && !isValidEnvelopeFields(parsed)) {
    throw corruption(site, position, "the row's envelope is not a valid envelope");
  }
  if (!fastPath) {
    // Not the ledger's own form, or not the sealed bytes: the canonical form decides.
    let actual: Checksum;
    try {
      actual = hashPayload(parsed.payload, READ_LIMITS, algorithm, false).checksum;
    } catch (error) {
      if (!isSinkproofError(error)) throw error;
      throw corruption(site, position, `the payload cannot be canonicalized: ${error.message}`);
    }
    if (!sameChecksum(actual, parsed.checksum)) {
      throw corruption(
        site,
        position,
        `the payload of key ${JSON.stringify(parsed.key)} hashes to ${actual}, but the envelope says ${parsed.checksum}: the payload or the checksum was altered`,
      );
    }
  }
  const columns = stored.columns;
  if (
    columns !== undefined &&
    ((columns.key !== undefined && columns.key !== parsed.key) ||
      (columns.id !== undefined && columns.id !== parsed.id) ||
      (columns.producer !== undefined && columns.producer !== parsed.producer) ||
      (columns.stream !== undefined && columns.stream !== parsed.stream) ||
      (columns.checksum !== undefined && columns.checksum !== parsed.checksum))
  ) {
    const name = COLUMNS.find((c) => columns[c] !== undefined && columns[c] !== parsed[c]);
    throw corruption(
      site,
      position,
      `the ${name} column holds ${JSON.stringify(columns[name as "key"])}, the envelope ${JSON.stringify(parsed[name as "key"])}`,
    );
  }
  if (stored.entryHash !== undefined && !hashMatches) {
    throw corruption(
      site,
      position,
      `the entry hash is ${JSON.stringify(stored.entryHash)}, but the entry hashes to ${hashed ?? "(nothing: the text is not in the ledger's stored form)"}: a field, the position or the append time was altered (or the row was not written by the ledger)`,
    );
  }
  let envelope: Envelope;
  if (proven) {
    // The text is the ledger's own form: the parsed object has the envelope's fields in
    // the envelope's order, and is frozen as it is.
    freezeParsed(parsed);
    envelope = parsed;
  } else {
    if (typeof parsed.payload === "object" && parsed.payload !== null) freezeParsed(parsed.payload);
    envelope = buildEnvelope(parsed);
  }
  return Object.freeze({ position, appendedAt, envelope });
}

const checksumOfText = (text: string, algorithm: "xxh64" | "sha256"): Checksum =>
  algorithm === "xxh64" ? `xxh64:${xxh64Text(text)}` : `sha256:${sha256Hex(text)}`;

/**
 * The entry hash to store for a row written before entry hashes existed (a migration's
 * backfill): computed only when the row verifies (fields, payload checksum, columns);
 * otherwise the empty string, which no read accepts, so the damage is reported at its
 * position rather than sealed in by a fresh hash.
 */
export function backfilledEntryHash(stored: StoredEntry, site: StorageSite): string {
  try {
    const entry = entryFromStored({ ...stored, entryHash: undefined }, site);
    return entryHash(entry.position, entry.appendedAt, entry.envelope);
  } catch (error) {
    if (error instanceof CorruptionError) return "";
    throw error;
  }
}

/**
 * Any adapter's answer as a verified, frozen entry: a {@link StoredEntry} is parsed and
 * verified; an entry object is checked for its position and time, and its envelope
 * verified (fields, canonical form, checksum) unless it is one this process already
 * checked, or `trusted` (the adapter verified it on read).
 */
export function checkedEntry(
  entry: LedgerEntry | StoredEntry,
  site: StorageSite,
  trusted: boolean,
): LedgerEntry {
  if (typeof entry !== "object" || entry === null) {
    throw corruption(site, undefined, `the adapter returned ${String(entry)}, not an entry`);
  }
  if (typeof entry.envelope === "string") return entryFromStored(entry as StoredEntry, site);
  const { position, appendedAt } = entry;
  let envelope = entry.envelope as Envelope;
  if (!isPosition(position)) {
    throw corruption(site, undefined, `an entry has position ${String(position)}, not 1, 2, 3, …`);
  }
  if (!isAppendTime(appendedAt)) {
    throw corruption(site, position, "the entry's append time is not an ISO-8601 UTC time");
  }
  if (!trusted && !intact.has(envelope)) {
    try {
      envelope = checkEnvelope(envelope, READ_LIMITS);
    } catch (error) {
      if (!isSinkproofError(error)) throw error;
      throw corruption(site, position, `the envelope does not verify: ${error.message}`, error);
    }
    intact.add(envelope);
  }
  if (envelope !== entry.envelope) return Object.freeze({ position, appendedAt, envelope });
  // Entries leave the ledger frozen, whatever the adapter returned.
  if (!Object.isFrozen(entry) || !Object.isFrozen(envelope)) deepFreeze(entry);
  return entry as LedgerEntry;
}

// ---- scans --------------------------------------------------------------------------------

/**
 * The order a scan's entries must come in: positions within the range and increasing;
 * without a gap when the scan is unfiltered (positions are 1, 2, 3, … with no holes, so
 * a missing one is a deleted or lost row), and up to the range's end unless the limit
 * stops it; every entry of the producer and stream asked for.
 */
export class ScanOrder {
  readonly #q: ResolvedScan;
  readonly #to: number;
  readonly #site: StorageSite;
  readonly #filtered: boolean;
  #last: number;
  #count = 0;

  constructor(q: ResolvedScan, to: number, site: StorageSite) {
    this.#q = q;
    this.#to = to;
    this.#site = site;
    this.#filtered = q.producer !== undefined || q.stream !== undefined;
    this.#last = q.from - 1;
  }

  next(entry: LedgerEntry): LedgerEntry {
    const p = entry.position;
    const q = this.#q;
    if (!this.#filtered && p !== this.#last + 1) {
      throw corruption(
        this.#site,
        this.#last + 1,
        p > this.#last + 1 && p <= this.#to
          ? `position ${this.#last + 1} is missing: the scan of ${q.from}..${this.#to} went from ${this.#last} to ${p}`
          : `the scan of ${q.from}..${this.#to} met position ${p} after ${this.#last}`,
      );
    }
    if (p <= this.#last || p > this.#to || this.#count >= q.limit) {
      throw corruption(
        this.#site,
        p,
        `the scan of ${q.from}..${this.#to} met position ${p} after ${this.#last}, out of order or out of range`,
      );
    }
    if (
      (q.producer !== undefined && entry.envelope.producer !== q.producer) ||
      (q.stream !== undefined && entry.envelope.stream !== q.stream)
    ) {
      throw corruption(
        this.#site,
        p,
        `a scan of producer ${JSON.stringify(q.producer ?? "(any)")}, stream ${JSON.stringify(q.stream ?? "(any)")} met an entry of producer ${JSON.stringify(entry.envelope.producer)}, stream ${JSON.stringify(entry.envelope.stream)}`,
      );
    }
    this.#last = p;
    this.#count++;
    return entry;
  }

  /** The scan ran to its end: an unfiltered one must have met every position up to `to` or the limit. */
  end(): void {
    if (this.#filtered) return;
    const q = this.#q;
    if (this.#count < Math.min(q.limit, this.#to - q.from + 1)) {
      throw corruption(
        this.#site,
        this.#last + 1,
        `position ${this.#last + 1} is missing: the scan of ${q.from}..${this.#to} ended after ${this.#last}`,
      );
    }
  }
}

// ---- receipts, claims, counts ------------------------------------------------------------

/**
 * Stored JSON (a receipt) parsed for the checks below; text that is not JSON comes back as
 * it is, a string, which the check then reports as damage at its place.
 */
export function parseStoredJson(text: unknown): unknown {
  if (typeof text !== "string") return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * A receipt read back: of the receipt's shape, of this sink (and key, when asked by key);
 * returned as a frozen copy.
 */
export function checkedReceipt(
  receipt: unknown,
  site: StorageSite,
  sink: string,
  key: string | undefined,
): Receipt {
  if (
    isCheckedReceipt(receipt) &&
    receipt.sink === sink &&
    (key === undefined || receipt.key === key)
  ) {
    return receipt;
  }
  // Read once into plain objects, then checked: what is checked is what is returned (an
  // adapter's row with getters cannot answer the check one thing and the copy another).
  let read: Record<string, unknown> | undefined;
  try {
    read = snapshotReceipt(receipt);
  } catch {
    read = undefined;
  }
  const position = isPosition(read?.position) ? read.position : undefined;
  if (read === undefined || !isValidReceipt(read)) {
    throw corruption(site, position, `a receipt of sink ${JSON.stringify(sink)} is not a receipt`);
  }
  const valid: Receipt = read;
  if (valid.sink !== sink || (key !== undefined && valid.key !== key)) {
    throw corruption(
      site,
      position,
      `a receipt read for ${key === undefined ? "" : `key ${JSON.stringify(key)} at `}sink ${JSON.stringify(sink)} is for key ${JSON.stringify(valid.key)} at sink ${JSON.stringify(valid.sink)}`,
    );
  }
  return copyReceipt(valid);
}

/** What a claim asked for, to check the answer against. */
export interface ClaimAsked {
  readonly sink: string;
  readonly key: string;
  readonly owner: string;
  readonly token: string;
}

/**
 * A claim answer read back: `acquired` with this request's claim, `held` by a named owner
 * until a time, or `done` with a final receipt of this (sink, key). The answer itself is
 * returned (fields the adapter adds are kept).
 */
export function checkedClaimResult(
  result: unknown,
  asked: ClaimAsked,
  claims: StorageSite,
  receipts: StorageSite,
): ClaimResult {
  const r = result as Partial<Record<string, unknown>> | undefined;
  // Worded only when something is wrong: this runs for every claim.
  const of = () => `(${JSON.stringify(asked.sink)}, ${JSON.stringify(asked.key)})`;
  if (typeof r !== "object" || r === null) {
    throw corruption(claims, undefined, `the claim of ${of()} answered ${String(r)}`);
  }
  if (r.status === "done") {
    const receipt = checkedReceipt(r.receipt, receipts, asked.sink, asked.key);
    if (!isFinalStatus(receipt.status)) {
      throw corruption(
        receipts,
        receipt.position,
        `the receipt that makes ${of()} done has status ${receipt.status}, which is not final`,
      );
    }
    return result as ClaimResult;
  }
  if (r.status === "held") {
    if (typeof r.owner !== "string" || r.owner.length === 0 || !isTime(r.expiresAt)) {
      throw corruption(claims, undefined, `the claim row of ${of()} has no owner or no expiry`);
    }
    return result as ClaimResult;
  }
  const claim = r.claim as Partial<Claim> | undefined;
  if (
    r.status !== "acquired" ||
    typeof claim !== "object" ||
    claim === null ||
    claim.sink !== asked.sink ||
    claim.key !== asked.key ||
    claim.owner !== asked.owner ||
    claim.token !== asked.token ||
    !isTime(claim.expiresAt) ||
    !isFencingToken(claim.fencingToken)
  ) {
    throw corruption(
      claims,
      undefined,
      `the claim of ${of()} answered something that is not a claim`,
    );
  }
  return result as ClaimResult;
}

const isTime = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value);

/** A head, watermark or sequence number read back: an integer from 0. */
export function checkedCount(value: unknown, site: StorageSite, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw corruption(site, undefined, `${what} reads ${String(value)}, not an integer from 0`);
  }
  return value;
}
