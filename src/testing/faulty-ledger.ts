/**
 * `createFaultyLedger`: any ledger, with seeded faults on its calls. A call may fail
 * without effect, take effect and then fail (its caller never learns it did: the lost
 * acknowledgement), or hang until `release()`. For testing what a pipeline does when its
 * ledger misbehaves; the simulator injects the same three faults.
 *
 * @module
 */

import { invalidArgument, show } from "../internal/arguments.js";
import { checkHasMethod, checkInteger } from "../internal/checks.js";
import { optionKeys, readArray, readOptions } from "../internal/options.js";
import { createSeededRandom } from "../internal/random.js";
import type { Ledger } from "../ledger/types.js";
import {
  injectedLedgerError,
  LEDGER_CALLS,
  LEDGER_SCANS,
  type LedgerMethod,
  wrapLedger,
} from "./ledger-wrap.js";

/** Options of {@link createFaultyLedger}. */
export interface FaultyLedgerOptions {
  /**
   * Seed of the faults drawn (an integer from 0 to 2^32 - 1): the same seed, the same
   * faults on the same sequence of calls.
   * @default 0
   */
  readonly seed?: number | undefined;
  /** Probability that a call fails (`LedgerError` `unavailable`) without effect. @default 0 */
  readonly fail?: number | undefined;
  /** Probability that a call takes effect and then fails the same way. @default 0 */
  readonly ambiguous?: number | undefined;
  /** Probability that a call waits until `release()` before it runs. @default 0 */
  readonly hang?: number | undefined;
  /**
   * The methods faults are injected into (each step of a scan counts as a call of its method).
   * @default every method but `close`
   */
  readonly methods?: readonly LedgerMethod[] | undefined;
}

/** What a {@link FaultyLedger} has injected. */
export interface FaultyLedgerStats {
  /** Calls failed without effect. */
  readonly failed: number;
  /** Calls that took effect and then failed. */
  readonly ambiguous: number;
  /** Calls held until `release()`. */
  readonly hung: number;
}

/** A ledger with injected faults: see {@link createFaultyLedger}. */
export interface FaultyLedger extends Ledger {
  /** What was injected so far. */
  stats(): FaultyLedgerStats;
  /** Stops injecting faults (calls held now stay held until `release`). */
  heal(): void;
  /** Lets every held call run, in the order they were made. */
  release(): void;
}

const FAULTY_KEYS = optionKeys<FaultyLedgerOptions>()(
  "seed",
  "fail",
  "ambiguous",
  "hang",
  "methods",
);
const ALL_METHODS: ReadonlySet<string> = new Set([...LEDGER_CALLS, ...LEDGER_SCANS]);

/**
 * Wraps `ledger` so that its calls fail, fail after taking effect, or hang, with the given
 * probabilities, drawn from a seeded generator.
 *
 * @example
 * ```ts
 * import { MemoryLedger } from "sinkproof";
 * import { createFaultyLedger } from "sinkproof/testing";
 * const ledger = createFaultyLedger(new MemoryLedger(), { seed: 7, fail: 0.1, ambiguous: 0.05 });
 * // hand it to createProducer and guardSink; retries must cope with every injected fault
 * ledger.heal(); // from here on, calls pass
 * ```
 */
export function createFaultyLedger(ledger: Ledger, options?: FaultyLedgerOptions): FaultyLedger {
  const inner = checkHasMethod(ledger, "append", "ledger", "a ledger");
  const read = readOptions<FaultyLedgerOptions>(options, "options", FAULTY_KEYS);
  const random = createSeededRandom(
    read.seed === undefined ? 0 : checkInteger(read.seed, "options.seed", 0, 0xffff_ffff),
  );
  const rate = (value: unknown, where: string): number => {
    if (value === undefined) return 0;
    if (typeof value !== "number" || !(value >= 0 && value <= 1))
      invalidArgument(where, `must be a probability from 0 to 1, got ${show(value)}`);
    return value;
  };
  const fail = rate(read.fail, "options.fail");
  const ambiguous = rate(read.ambiguous, "options.ambiguous");
  const hang = rate(read.hang, "options.hang");
  if (fail + ambiguous + hang > 1)
    invalidArgument("options", "fail + ambiguous + hang must be at most 1");
  let methods: ReadonlySet<string>;
  if (read.methods === undefined) methods = new Set([...ALL_METHODS].filter((m) => m !== "close"));
  else {
    methods = new Set(
      readArray(read.methods, "options.methods").map((m, i) => {
        if (typeof m !== "string" || !ALL_METHODS.has(m))
          invalidArgument(`options.methods[${i}]`, `must be a ledger method, got ${show(m)}`);
        return m;
      }),
    );
  }
  let healed = false;
  const counts = { failed: 0, ambiguous: 0, hung: 0 };
  const held: (() => void)[] = [];
  const wrapped = wrapLedger(
    () => inner,
    async (method, _args, invoke) => {
      if (healed || !methods.has(method)) return invoke();
      const draw = random();
      if (draw < fail) {
        counts.failed++;
        throw injectedLedgerError(method, false);
      }
      if (draw < fail + ambiguous) {
        counts.ambiguous++;
        await invoke();
        throw injectedLedgerError(method, true);
      }
      if (draw < fail + ambiguous + hang) {
        counts.hung++;
        await new Promise<void>((resolve) => held.push(resolve));
      }
      return invoke();
    },
  );
  const faulty: Record<string, unknown> = {
    stats: () => Object.freeze({ ...counts }),
    heal() {
      healed = true;
    },
    release() {
      for (const resolve of held.splice(0)) resolve();
    },
  };
  for (const method of [...LEDGER_CALLS, ...LEDGER_SCANS])
    faulty[method] = (wrapped as unknown as Record<string, unknown>)[method];
  Object.defineProperty(faulty, "capabilities", {
    get: () => inner.capabilities,
    enumerable: true,
  });
  return Object.freeze(faulty) as unknown as FaultyLedger;
}
