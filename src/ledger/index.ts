/**
 * `sinkproof/ledger`: what a ledger-adapter author needs beyond the `Ledger` interface.
 *
 * `BaseLedger` to extend (the core checks arguments, verifies what the adapter returns and
 * keeps the rules; the adapter only stores and fetches) with the types of its protected
 * `_` methods; `planAppend`, which decides an append from two lookups; the stored forms a
 * read returns (`StoredEntry`, `StoredColumns`) and `entryHash`, which binds a stored row
 * to its position; where storage lives, for `CorruptionError` (`StorageSite`); the audit
 * chain's primitives (`auditHash`, `GENESIS_HASH`, `verifyAuditChain`); and
 * `isFinalStatus` for the receipt rules.
 *
 * The `Ledger` interface, its entries, receipts, claims and audit records, and the
 * ready-made ledgers (`MemoryLedger`, `FileLedger`) stay in `sinkproof`; the SQL ledgers
 * are `sinkproof/sqlite` and `sinkproof/postgres`; the conformance suite an adapter runs
 * is `sinkproof/testing`.
 *
 * @module
 */

export { auditHash, GENESIS_HASH, verifyAuditChain } from "./audit.js";
export {
  type AppendClash,
  type AppendOutcome,
  type AppendPlan,
  BaseLedger,
  type ClaimRequest,
  type EntryScan,
  type FreezeChange,
  type FreezeChanged,
  planAppend,
  type ReceiptsCompacted,
} from "./base.js";
export {
  entryHash,
  type StoragePart,
  type StorageSite,
  type StoredColumns,
  type StoredEntry,
} from "./read-checks.js";
export { isFinalStatus } from "./validate.js";
