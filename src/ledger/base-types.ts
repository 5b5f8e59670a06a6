/**
 * The adapter contract's own types: what `BaseLedger` hands its `protected _` methods and
 * what they answer (an append's outcome or clash, a claim request with the token and
 * expiry the core chose, a freeze to change, a scan with every bound resolved).
 *
 * Types only; the contracts themselves are in the TSDoc of the `_` methods (base.ts),
 * which re-exports these for adapters.
 *
 * @module
 */

import type { AppendedEntry, AuditRecord, LedgerEntry, SinkFreeze } from "./types.js";

/** What `_append` decided, atomically: everything appended, or nothing and why. */
export type AppendOutcome =
  | {
      /** Everything was appended (or already there). */
      readonly ok: true;
      /** One result per envelope given to `_append`, in order. */
      readonly results: readonly AppendedEntry[];
    }
  | AppendClash;

/** Why an append was refused, with nothing written. */
export interface AppendClash {
  /** Nothing was appended. */
  readonly ok: false;
  /** Index (in the envelopes given to `_append`) of the envelope that clashes. */
  readonly index: number;
  /** `key`: its key exists with another checksum; `id`: its id exists under another key. */
  readonly clash: "key" | "id";
  /** The entry already in the ledger. */
  readonly existing: LedgerEntry;
}

/** A claim request, with the token and expiry the core chose. */
export interface ClaimRequest {
  /** Sink name. */
  readonly sink: string;
  /** Idempotency key. */
  readonly key: string;
  /** Who asks. */
  readonly owner: string;
  /** Unique token of this acquisition. */
  readonly token: string;
  /** The ledger's clock now. */
  readonly now: number;
  /** When the claim expires if acquired (ms since the epoch). */
  readonly expiresAt: number;
  /** Acquire even when the key is done (a replay): never answer `done`. */
  readonly ignoreDone: boolean;
  /** Take a live claim over when its owner is exactly this one (see `ClaimOptions.takeOverFrom`). */
  readonly takeOverFrom: string | undefined;
}

/** A freeze to set or lift, for `_changeFreeze`. */
export interface FreezeChange {
  /** The sink. */
  readonly sink: string;
  /** The freeze's origin. */
  readonly origin: string;
  /**
   * The freeze to set (the adapter adds `audit`: the index of the record it appended), or
   * undefined to lift the freeze of (sink, origin).
   */
  readonly freeze: Omit<SinkFreeze, "audit"> | undefined;
}

/** What `_changeFreeze` did. */
export interface FreezeChanged {
  /** The freeze of (sink, origin) before the call. */
  readonly before: SinkFreeze | undefined;
  /** The audit record appended, or undefined when nothing changed. */
  readonly record: AuditRecord | undefined;
}

/** What `_compactReceipts` did. */
export interface ReceiptsCompacted {
  /** How many receipts it removed. */
  readonly removed: number;
  /** The audit record it appended. */
  readonly record: AuditRecord;
}

/** A scan with every bound resolved: `to` is a position, `limit` a count. */
export interface EntryScan {
  /** First position, inclusive. */
  readonly from: number;
  /** Last position, inclusive; never past the head. */
  readonly to: number;
  /** Only this producer, when set. */
  readonly producer: string | undefined;
  /** Only this stream, when set. */
  readonly stream: string | undefined;
  /** At most this many entries. */
  readonly limit: number;
}
