/**
 * The audit log's hash chain. Each record carries the SHA-256 of the previous record
 * (`prevHash`) and its own `hash`: SHA-256 (hex) of the RFC 8785 form of every field but
 * `hash`. Editing, removing, reordering or inserting a record breaks the chain; truncation
 * and a rewritten tail show against a head kept outside the ledger.
 *
 * The chain is computed and checked here, above the adapters, so every ledger hashes the
 * same way and a verifier in another language can follow docs/ledgers.md.
 *
 * An action on a sink cannot commit atomically with its record, so it is recorded twice:
 * an `intent` before, an `outcome` (naming the intent) after. An intent with no outcome
 * is an interrupted action: reported, never lost. {@link AuditIntents} lets the ledger
 * refuse an outcome for anything but an earlier, unsettled intent, atomically with the
 * append; {@link verifyAuditChain} checks the same rule over a stored log.
 *
 * @module
 */

import { canonicalBytes } from "../canonical/canonicalize.js";
import { sha256Hex } from "../checksum/checksum.js";
import { isSinkproofError, LedgerError } from "../errors.js";
import {
  describe,
  invalidArgument,
  isIterableObject,
  reading,
  show,
  unreadableArgument,
} from "../internal/arguments.js";
import { readOptions } from "../internal/options.js";
import type {
  AuditHead,
  AuditInput,
  AuditProblem,
  AuditRecord,
  AuditVerification,
} from "./types.js";

/** `prevHash` of the first record: 64 zeros. */
export const GENESIS_HASH: string = "0".repeat(64);

const HASH_LIMITS = { maxDepth: 64, maxBytes: 1024 * 1024 };

/** The hash of a record: SHA-256 of the canonical form of every field but `hash`. */
export function auditHash(record: Omit<AuditRecord, "hash">): string {
  if (typeof record !== "object" || record === null) {
    invalidArgument("record", `must be an audit record, got ${describe(record)}`);
  }
  const rest = reading("record", () => {
    const { hash: _ignored, ...fields } = record as AuditRecord;
    return fields;
  });
  return sha256Hex(canonicalBytes(rest, HASH_LIMITS).bytes);
}

/** A record of a chain handed in, read once into a plain object; `undefined` when it cannot be. */
function plainRecord(record: unknown): AuditRecord | undefined {
  if (typeof record !== "object" || record === null) return undefined;
  try {
    if (Array.isArray(record)) return undefined;
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(record)) copy[key] = (record as Record<string, unknown>)[key];
    return copy as unknown as AuditRecord;
  } catch {
    return undefined;
  }
}

/** Checks a known head `{ index, hash }` at `where`. Internal. */
export function checkAuditHead(head: unknown, where: string): AuditHead | undefined {
  if (head === undefined) return undefined;
  const read = readOptions<AuditHead>(head, where, ["index", "hash"], {
    required: true,
    what: "an audit head field",
  });
  const { index, hash } = read;
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 1) {
    invalidArgument(`${where}.index`, `must be a positive integer, got ${show(index)}`);
  }
  if (typeof hash !== "string" || !/^[0-9a-f]{64}$/.test(hash)) {
    invalidArgument(`${where}.hash`, "must be 64 lowercase hex digits");
  }
  return { index, hash };
}

/** Builds the next record of a chain whose last record is `previous`. */
export function nextAuditRecord(
  input: AuditInput,
  previous: AuditHead | undefined,
  time: string,
): AuditRecord {
  const body: Omit<AuditRecord, "hash"> = {
    index: (previous?.index ?? 0) + 1,
    time,
    prevHash: previous?.hash ?? GENESIS_HASH,
    actor: input.actor,
    action: input.action,
    reason: input.reason,
    ...(input.subject === undefined ? {} : { subject: input.subject }),
    ...(input.before === undefined ? {} : { before: input.before }),
    ...(input.after === undefined ? {} : { after: input.after }),
    ...(input.details === undefined ? {} : { details: input.details }),
    // Absent unless given, so that records made before phases existed hash as they did.
    ...(input.phase === undefined ? {} : { phase: input.phase }),
    ...(input.intent === undefined ? {} : { intent: input.intent }),
  };
  return Object.freeze({ ...body, hash: auditHash(body) });
}

function safeHash(record: AuditRecord): string | undefined {
  try {
    return auditHash(record);
  } catch {
    return undefined;
  }
}

/**
 * Checks a chain of records, in stored order: every hash, every link, every index, and
 * that each outcome settles an earlier intent once; with `head`, also that the log
 * reaches it unchanged. Intents left without an outcome are returned as `interrupted`
 * (they do not make the chain bad).
 */
export async function verifyAuditChain(
  records: AsyncIterable<AuditRecord> | Iterable<AuditRecord>,
  knownHead?: AuditHead,
): Promise<AuditVerification> {
  const head = checkAuditHead(knownHead, "head");
  if (!isIterableObject(records)) {
    invalidArgument("records", `must be an iterable of audit records, got ${describe(records)}`);
  }
  try {
    return await verifyRecords(records, head);
  } catch (error) {
    if (isSinkproofError(error)) throw error;
    return unreadableArgument("records", error);
  }
}

async function verifyRecords(
  records: AsyncIterable<unknown> | Iterable<unknown>,
  head: AuditHead | undefined,
): Promise<AuditVerification> {
  const problems: AuditProblem[] = [];
  let expected = 1;
  let previousHash = GENESIS_HASH;
  let count = 0;
  let last: AuditHead | undefined;
  let atHead: string | undefined;
  // Intents by index: the record while open, `null` once settled.
  const intents = new Map<number, AuditRecord | null>();
  for await (const given of records) {
    count++;
    const record = plainRecord(given);
    if (record === undefined) {
      problems.push({
        index: expected,
        code: "edited",
        message: `record ${count} of the log is not an audit record (or cannot be read)`,
      });
      continue;
    }
    const index = typeof record.index === "number" ? record.index : Number.NaN;
    if (record.phase === "intent") intents.set(index, record);
    else if (record.phase === "outcome") {
      const intent = typeof record.intent === "number" ? record.intent : Number.NaN;
      const open = intent < index ? intents.get(intent) : undefined;
      if (open === null) {
        problems.push({
          index,
          code: "settled_twice",
          message: `record ${index}: intent ${intent} already has an outcome`,
        });
      } else if (open === undefined) {
        problems.push({
          index,
          code: "unmatched_outcome",
          message: `record ${index}: an outcome for ${show(record.intent)}, which is not an earlier intent record`,
        });
      } else intents.set(intent, null);
    }
    if (safeHash(record) !== record.hash) {
      problems.push({
        index,
        code: "edited",
        message: `record ${index}: hash does not match its content`,
      });
    }
    let indexProblem = true;
    if (index === expected) indexProblem = false;
    else if (index > expected) {
      problems.push({
        index,
        code: "removed",
        message: `records ${expected} to ${index - 1} are missing`,
      });
    } else if (index === expected - 1) {
      problems.push({ index, code: "inserted", message: `record ${index} appears twice` });
    } else {
      problems.push({
        index,
        code: "reordered",
        message: `record ${index} comes after record ${expected - 1}`,
      });
    }
    if (!indexProblem && record.prevHash !== previousHash) {
      problems.push({
        index,
        code: "broken_link",
        message: `record ${index}: prevHash is not the previous record's hash`,
      });
    }
    if (head !== undefined && index === head.index) atHead = record.hash;
    previousHash = record.hash;
    expected = Math.max(expected, index + 1);
    last = { index, hash: record.hash };
  }
  if (head !== undefined) {
    if ((last?.index ?? 0) < head.index) {
      problems.push({
        index: last?.index ?? 0,
        code: "truncated",
        message: `the log ends at record ${last?.index ?? 0}, before the known head ${head.index}`,
      });
    } else if (atHead !== head.hash) {
      problems.push({
        index: head.index,
        code: "head_mismatch",
        message: `record ${head.index} is not the one known as head`,
      });
    }
  }
  const interrupted: AuditRecord[] = [];
  for (const open of intents.values()) if (open !== null) interrupted.push(open);
  Object.freeze(interrupted);
  return problems.length === 0
    ? Object.freeze({ ok: true as const, count, head: last, interrupted })
    : Object.freeze({
        ok: false as const,
        count,
        problems: Object.freeze(problems),
        interrupted,
      });
}

/** The log changed under an outcome's check (another process appended): check again. */
export class StaleAuditState extends LedgerError {
  constructor() {
    super(
      "serialization_failure",
      "The audit log kept changing while an outcome was checked against its intents; try again",
    );
  }
}

function sameHead(a: AuditHead | undefined, b: AuditHead | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.index === b.index && a.hash === b.hash;
}

/**
 * The open intents of one ledger's audit log, as of a known last record, so that an
 * outcome is checked in O(1) inside the adapter's atomic append. The set is trusted only
 * while the head the adapter reads is the one it was built at: a record appended by
 * another process, connection or code path in between makes {@link admit} throw
 * {@link StaleAuditState} for an outcome (the caller reloads and tries again) and
 * forget the set otherwise. Only open intents are kept, so memory follows the
 * interrupted actions, not the log. Internal (BaseLedger).
 */
export class AuditIntents {
  #known = false;
  #head: AuditHead | undefined;
  #open = new Set<number>();

  /** Whether the set is loaded (it may still be stale: {@link admit} finds out). */
  get known(): boolean {
    return this.#known;
  }

  /** Rebuilds the set from the whole log. */
  async load(records: AsyncIterable<AuditRecord>): Promise<void> {
    const open = new Set<number>();
    let head: AuditHead | undefined;
    for await (const record of records) {
      if (record.phase === "intent") open.add(record.index);
      else if (record.phase === "outcome" && typeof record.intent === "number")
        open.delete(record.intent);
      head = { index: record.index, hash: record.hash };
    }
    this.#open = open;
    this.#head = head;
    this.#known = true;
  }

  /**
   * Called inside the adapter's atomic append, with the head the adapter read and the
   * record it is about to store: refuses an outcome that settles nothing, then moves
   * the set to the new record. Returns the record.
   */
  admit(record: AuditRecord, previous: AuditHead | undefined): AuditRecord {
    const current = this.#known && sameHead(previous, this.#head);
    if (record.phase === "outcome") {
      if (!current) throw new StaleAuditState();
      const intent = record.intent as number;
      if (intent >= record.index)
        invalidArgument(
          "input.intent",
          `must be an earlier record than ${record.index}, got ${intent}`,
        );
      if (!this.#open.has(intent)) {
        invalidArgument(
          "input.intent",
          `record ${intent} is not an intent awaiting its outcome (it is not an intent, or it is settled already)`,
        );
      }
      this.#open.delete(intent);
    } else if (!current) {
      this.#known = false;
      return record;
    } else if (record.phase === "intent") this.#open.add(record.index);
    this.#head = { index: record.index, hash: record.hash };
    return record;
  }

  /** Drops the set (an append failed, or its outcome is unknown): the next outcome reloads it. */
  forget(): void {
    this.#known = false;
  }
}
