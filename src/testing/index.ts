/**
 * `sinkproof/testing`: tools for testing pipelines and ledger adapters. The ledger
 * conformance suite that every adapter runs (`ledgerConformance`, composed of groups of
 * cases, each a function of its own), a manual clock, and in-memory sinks with seeded
 * fault injection.
 *
 * @packageDocumentation
 */

export { createManualClock, type ManualClock } from "./clock.js";
export {
  type ConformanceContext,
  type ConformanceGroup,
  type ConformanceRunner,
  type LedgerConformanceOptions,
  ledgerConformance,
} from "./conformance.js";
export { ledgerAppendBatchCases, ledgerAppendCases } from "./conformance-append.js";
export { ledgerAuditCases, ledgerAuditPhaseCases } from "./conformance-audit.js";
export { ledgerBatchCases } from "./conformance-batch.js";
export { ledgerCheckpointCases } from "./conformance-checkpoints.js";
export {
  ledgerClaimCases,
  ledgerFencingCases,
  ledgerTakeoverCases,
} from "./conformance-claims.js";
export { ledgerDigestCases } from "./conformance-digests.js";
export { ledgerFreezeCases } from "./conformance-freezes.js";
export { ledgerClosedCases, ledgerRestartCases } from "./conformance-lifecycle.js";
export { ledgerReadCases, ledgerSequenceCases } from "./conformance-reads.js";
export { ledgerReceiptCases, ledgerWatermarkCases } from "./conformance-receipts.js";
export { ledgerRetentionCases } from "./conformance-retention.js";
export type { ConformanceTest, ConformanceTools } from "./conformance-support.js";
export { ledgerWindowCases } from "./conformance-windows.js";
export {
  createFaultyLedger,
  type FaultyLedger,
  type FaultyLedgerOptions,
  type FaultyLedgerStats,
} from "./faulty-ledger.js";
export type { LedgerCall, LedgerMethod, LedgerScan } from "./ledger-wrap.js";
export {
  createMemorySink,
  createSeededRandom,
  type MemorySink,
  type MemorySinkFaults,
  type MemorySinkOptions,
  type MemorySinkRow,
  type MemorySinkStats,
  type MemorySinkTamper,
  type WriteWindow,
} from "./memory-sink.js";
export type {
  SimCounts,
  SimViolation,
  SimViolationKind,
} from "./simulate/checker.js";
export type {
  SimClockJumpFault,
  SimCrashFault,
  SimFault,
  SimFaultAt,
  SimFaultKind,
  SimFaults,
  SimLedgerContext,
  SimLedgerRestartFault,
  SimOperationFault,
  SimOutageFault,
  SimPauseFault,
  SimSink,
  SimSinkContext,
  SimSinkFactory,
  SimulateOptions,
} from "./simulate/options.js";
export {
  type ShrunkRun,
  type SimStats,
  type SimulationResult,
  simulate,
} from "./simulate/simulate.js";
export { type SinkConformanceOptions, sinkConformance } from "./sink-conformance.js";
