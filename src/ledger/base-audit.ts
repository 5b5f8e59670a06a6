/**
 * The audit side of `BaseLedger`: the record a freeze or its lifting appends, the record of
 * a receipt compaction, and the append of a caller's record, whose outcome is checked
 * against the open intents (`AuditIntents`, audit.ts) inside the adapter's atomic append,
 * and tried again, a few times, when another writer moved the log meanwhile.
 *
 * @module
 */

import { AuditIntents, nextAuditRecord, StaleAuditState } from "./audit.js";
import type { AuditHead, AuditInput, AuditRecord } from "./types.js";

/** Tries of an outcome's append while other writers keep moving the audit log. */
const AUDIT_RETRIES = 8;

/** The audit record of setting (`freeze`) or lifting (`unfreeze`) the freeze of (sink, origin). */
export function freezeRecord(
  action: "freeze" | "unfreeze",
  sink: string,
  origin: string,
  reason: string,
  actor: string,
  time: string,
): (head: AuditHead | undefined) => AuditRecord {
  return (head) =>
    nextAuditRecord({ actor, action, reason, subject: { sink }, details: { origin } }, head, time);
}

/** The audit record of `compactReceipts`: the receipts of `sink` at positions 1 to `through`. */
export function compactRecord(
  sink: string,
  through: number,
  reason: string,
  actor: string,
  time: string,
): (head: AuditHead | undefined) => AuditRecord {
  return (head) =>
    nextAuditRecord(
      {
        actor,
        action: "compact-receipts",
        reason,
        subject: { sink },
        details: { through, keep: "the last final receipt of each key" },
      },
      head,
      time,
    );
}

/** What an audit append needs of its ledger. */
export interface AuditAccess {
  /** The adapter's `_appendAudit`, run as the ledger runs a call (open, failures worded). */
  readonly append: (make: (previous: AuditHead | undefined) => AuditRecord) => Promise<AuditRecord>;
  /** The adapter's records in stored order, as `scanAudit` hands them out. */
  readonly scan: () => AsyncIterable<AuditRecord>;
}

/** One ledger's audit appends: its open intents, and the appends still in flight. */
export class AuditWriter {
  readonly #intents = new AuditIntents();
  readonly #appends = new Set<Promise<AuditRecord>>();

  /** Appends the record of `checked` (an audit input, checked) at `time`. */
  async append(checked: AuditInput, time: string, ledger: AuditAccess): Promise<AuditRecord> {
    // An outcome is checked against the open intents inside the adapter's atomic append
    // (`admit`); when another writer moved the log meanwhile, reload and check again.
    for (let attempt = 1; ; attempt++) {
      if (checked.phase === "outcome" && !this.#intents.known) {
        // An adapter may chain on records it has not stored yet (FileLedger's group
        // commit): let this ledger's own appends land first, so the scan reaches them.
        await Promise.allSettled(this.#appends);
        await this.#intents.load(ledger.scan());
      }
      const append = ledger.append((previous) =>
        this.#intents.admit(nextAuditRecord(checked, previous, time), previous),
      );
      this.#appends.add(append);
      try {
        return await append;
      } catch (error) {
        this.#intents.forget();
        if (!(error instanceof StaleAuditState) || attempt >= AUDIT_RETRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, attempt * 5));
      } finally {
        this.#appends.delete(append);
      }
    }
  }
}
