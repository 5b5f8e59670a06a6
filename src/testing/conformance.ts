/**
 * The ledger conformance suite: one shared set of cases that every `Ledger` adapter runs,
 * sinkproof's own included. Public API (`sinkproof/testing`), so that third-party
 * adapters prove themselves the same way.
 *
 * It takes the test runner's `describe` and `it` (vitest, jest, node:test, mocha) and
 * asserts with `node:assert`, so it adds no dependency. Capabilities choose the cases:
 * restart cases run when a `reopen` is given, claim persistence follows
 * `capabilities.claims`, expiry uses the injected clock or, for server clocks, real time.
 *
 * The cases live in one file per group (append, reads, receipts and watermarks, claims,
 * audit, lifecycle, freezes, batches, retention), each group a public function (`ledgerAppendCases`, ...);
 * this file reads the options and composes the groups, in a fixed order.
 *
 * @module
 */

import { createSealer } from "../envelope/seal.js";
import { describe as describeValue, invalidArgument } from "../internal/arguments.js";
import { optionKeys, readArray, readOptions } from "../internal/options.js";
import type { Ledger } from "../ledger/types.js";
import { createManualClock } from "./clock.js";
import { ledgerAppendBatchCases, ledgerAppendCases } from "./conformance-append.js";
import { ledgerAuditCases, ledgerAuditPhaseCases } from "./conformance-audit.js";
import { ledgerBatchCases } from "./conformance-batch.js";
import { ledgerCheckpointCases } from "./conformance-checkpoints.js";
import { ledgerClaimCases, ledgerFencingCases, ledgerTakeoverCases } from "./conformance-claims.js";
import { ledgerDigestCases } from "./conformance-digests.js";
import { ledgerFreezeCases } from "./conformance-freezes.js";
import { ledgerClosedCases, ledgerRestartCases } from "./conformance-lifecycle.js";
import { ledgerReadCases, ledgerSequenceCases } from "./conformance-reads.js";
import { ledgerReceiptCases, ledgerWatermarkCases } from "./conformance-receipts.js";
import { ledgerRetentionCases } from "./conformance-retention.js";
import { type ConformanceGroup, type ConformanceTools, sleep } from "./conformance-support.js";
import { ledgerWindowCases } from "./conformance-windows.js";

export { createManualClock, type ManualClock } from "./clock.js";
export type { ConformanceGroup } from "./conformance-support.js";

/** The runner functions the suite needs: `describe` and `it` of vitest, jest, mocha or node:test. */
export interface ConformanceRunner {
  /** The runner's `describe`: groups the cases under the suite's name. */
  describe(name: string, body: () => void): void;
  /** The runner's `it` (or `test`): defines one case. */
  it(name: string, body: () => Promise<void>): void;
}

/** Context the suite gives to `create` and `reopen`. */
export interface ConformanceContext {
  /** The clock to give the ledger (ms since the epoch); the suite moves it to expire claims. */
  readonly clock: () => number;
}

/** Options of {@link ledgerConformance}. */
export interface LedgerConformanceOptions<L extends Ledger = Ledger> extends ConformanceRunner {
  /** Shown in the suite's name. */
  readonly name: string;
  /** A fresh, empty ledger that uses `context.clock` (unless its capabilities say `clock: "server"`). */
  create(context: ConformanceContext): Promise<L>;
  /**
   * Closes `ledger` and opens the same storage again. Give it for durable ledgers: the
   * restart cases run only then.
   */
  reopen?: ((ledger: L, context: ConformanceContext) => Promise<L>) | undefined;
  /**
   * Cases to skip, by name, each with the reason; the reason is printed when the suite is
   * defined, so a skip is never silent.
   */
  readonly skip?: Readonly<Record<string, string>> | undefined;
  /**
   * The groups of cases to run (for example `[ledgerAppendCases, ledgerClaimCases]` while
   * an adapter is being written), in the suite's order whatever the order given.
   * @default every group
   */
  readonly groups?: readonly ConformanceGroup[] | undefined;
}

/**
 * The groups of cases, in the order they run. Each defines its restart cases only when
 * told the ledger is durable.
 */
const GROUPS: readonly ConformanceGroup[] = [
  ledgerAppendCases,
  ledgerAppendBatchCases,
  ledgerReadCases,
  ledgerSequenceCases,
  ledgerReceiptCases,
  ledgerWatermarkCases,
  ledgerClaimCases,
  ledgerAuditCases,
  ledgerAuditPhaseCases,
  ledgerClosedCases,
  ledgerRestartCases,
  ledgerFencingCases,
  ledgerTakeoverCases,
  ledgerFreezeCases,
  ledgerBatchCases,
  ledgerRetentionCases,
  ledgerCheckpointCases,
  ledgerDigestCases,
  ledgerWindowCases,
];

const CONFORMANCE_KEYS = optionKeys<LedgerConformanceOptions>()(
  "name",
  "describe",
  "it",
  "create",
  "reopen",
  "skip",
  "groups",
);

/** The groups asked for, each one of the suite's, in the suite's order. */
function readGroups(given: unknown): readonly ConformanceGroup[] {
  if (given === undefined) return GROUPS;
  const list = readArray(given, "options.groups");
  if (list.length === 0) invalidArgument("options.groups", "must name at least one group");
  list.forEach((group, i) => {
    if (!GROUPS.includes(group as ConformanceGroup)) {
      invalidArgument(
        `options.groups[${i}]`,
        `must be one of the suite's groups (ledgerAppendCases, ledgerClaimCases, ...), got ${describeValue(group)}`,
      );
    }
  });
  return GROUPS.filter((group) => list.includes(group));
}

function readSkips(given: unknown, titles: readonly string[]): Readonly<Record<string, string>> {
  if (typeof given !== "object" || given === null)
    invalidArgument(
      "options.skip",
      `must be an object of case names to reasons, got ${describeValue(given)}`,
    );
  const skip = readOptions<Record<string, string>>(given, "options.skip", titles, {
    what: "a case of the suite",
  });
  for (const [title, reason] of Object.entries(skip)) {
    if (typeof reason !== "string" || reason.length === 0)
      invalidArgument(`options.skip.${title}`, "must be the reason, a non-empty string");
  }
  return skip as Readonly<Record<string, string>>;
}

/**
 * Defines the conformance suite for a ledger adapter with the runner's `describe`/`it`.
 *
 * @example
 * ```ts
 * // test/my-ledger.test.ts (vitest)
 * import { describe, it } from "vitest";
 * import { ledgerConformance } from "sinkproof/testing";
 * import { MyLedger } from "../src/my-ledger.js";
 *
 * ledgerConformance({
 *   name: "MyLedger",
 *   describe,
 *   it,
 *   create: async ({ clock }) => MyLedger.open({ path: tmp(), clock }),
 *   reopen: async (ledger, { clock }) => { await ledger.close(); return MyLedger.open({ path: ledger.path, clock }); },
 * });
 * ```
 */
export function ledgerConformance<L extends Ledger>(options: LedgerConformanceOptions<L>): void {
  const read = readOptions<LedgerConformanceOptions<L>>(options, "options", CONFORMANCE_KEYS, {
    required: true,
  });
  const { name, describe, it, create, reopen } = read as LedgerConformanceOptions<L>;
  if (typeof name !== "string" || name.length === 0)
    invalidArgument("options.name", "must be a non-empty string");
  for (const fn of ["describe", "it", "create"] as const) {
    if (typeof read[fn] !== "function")
      invalidArgument(`options.${fn}`, `must be a function, got ${describeValue(read[fn])}`);
  }
  if (reopen !== undefined && typeof reopen !== "function")
    invalidArgument("options.reopen", `must be a function, got ${describeValue(reopen)}`);
  const groups = readGroups(read.groups);

  const collect = (durable: boolean, from: readonly ConformanceGroup[] = groups) => {
    const out: Array<[string, (ledger: L, t: ConformanceTools<L>) => Promise<void>]> = [];
    const test = (title: string, body: (ledger: L, t: ConformanceTools<L>) => Promise<void>) =>
      out.push([title, body]);
    for (const group of from) group(test, durable);
    return out;
  };
  const all = collect(true);
  const withoutRestarts = new Set(collect(false).map(([title]) => title));
  const cases = reopen === undefined ? all.filter(([title]) => withoutRestarts.has(title)) : all;
  // Restart cases need `reopen`: without it they are not run, and the suite says which.
  if (reopen === undefined) {
    const restarts = all.map(([title]) => title).filter((title) => !withoutRestarts.has(title));
    console.log(
      `[sinkproof conformance] ${name}: not run, no options.reopen given (a ledger that keeps nothing across a restart needs none): ${restarts.length} restart cases: ${restarts.join("; ")}`,
    );
  }

  // A skip that names no case would skip nothing in silence: refuse it, naming the case
  // meant (any case of the suite: a skip list stays valid when fewer groups are run).
  const titles = collect(true, GROUPS).map(([title]) => title);
  const skip = read.skip === undefined ? {} : readSkips(read.skip, titles);

  describe(`ledger conformance: ${name}`, () => {
    for (const [title, body] of cases) {
      const reason = skip[title];
      if (reason !== undefined) {
        console.log(`[sinkproof conformance] ${name}: skipped "${title}": ${reason}`);
        continue;
      }
      it(title, async () => {
        const clock = createManualClock();
        const context: ConformanceContext = { clock: clock.now };
        let ledger = await create(context);
        const tools: ConformanceTools<L> = {
          clock,
          seal: createSealer({ clock: clock.now }),
          reopen: async () => {
            if (reopen === undefined) throw new Error("no reopen");
            ledger = await reopen(ledger, context);
            return ledger;
          },
          expire: async (ms: number) => {
            if (ledger.capabilities.clock === "server") await sleep(ms + 50);
            else clock.advance(ms + 1);
          },
        };
        try {
          await body(ledger, tools);
        } finally {
          await ledger.close().catch(() => undefined);
        }
      });
    }
  });
}
