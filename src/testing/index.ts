/**
 * `sinkproof/testing`: tools for testing pipelines and ledger adapters. The ledger
 * conformance suite that every adapter runs, a manual clock, and in-memory sinks with
 * seeded fault injection.
 *
 * @packageDocumentation
 */

export { createManualClock, type ManualClock } from "./clock.js";
export {
  type ConformanceContext,
  type ConformanceRunner,
  type LedgerConformanceOptions,
  ledgerConformance,
} from "./conformance.js";
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
