/**
 * The audit log's hash chain. Each record carries the SHA-256 of the previous record
 * (`prevHash`) and its own `hash`: SHA-256 (hex) of the RFC 8785 form of every field but
 * `hash`. Editing, removing, reordering or inserting a record breaks the chain; truncation
 * and a rewritten tail show against a head kept outside the ledger.
 *
 * The chain is computed and checked here, above the adapters, so every ledger hashes the
 * same way and a verifier in another language can follow docs/ledgers.md.
 *
 * @module
 */

import { canonicalBytes } from "../canonical/canonicalize.js";
import { sha256Hex } from "../checksum/checksum.js";
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
  const { hash: _ignored, ...rest } = record as AuditRecord;
  return sha256Hex(canonicalBytes(rest, HASH_LIMITS).bytes);
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
 * Checks a chain of records, in stored order: every hash, every link, every index; with
 * `head`, also that the log reaches it unchanged.
 */
export async function verifyAuditChain(
  records: AsyncIterable<AuditRecord> | Iterable<AuditRecord>,
  head?: AuditHead,
): Promise<AuditVerification> {
  const problems: AuditProblem[] = [];
  let expected = 1;
  let previousHash = GENESIS_HASH;
  let count = 0;
  let last: AuditHead | undefined;
  let atHead: string | undefined;
  for await (const record of records) {
    count++;
    const index = typeof record.index === "number" ? record.index : Number.NaN;
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
  return problems.length === 0
    ? Object.freeze({ ok: true as const, count, head: last })
    : Object.freeze({ ok: false as const, count, problems: Object.freeze(problems) });
}
