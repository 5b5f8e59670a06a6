/**
 * `sinkproof/testing`: tools for testing pipelines and ledger adapters. The ledger
 * conformance suite that every adapter runs, and a manual clock.
 *
 * @packageDocumentation
 */

export {
  type ConformanceContext,
  type ConformanceRunner,
  createManualClock,
  type LedgerConformanceOptions,
  ledgerConformance,
  type ManualClock,
} from "./conformance.js";
