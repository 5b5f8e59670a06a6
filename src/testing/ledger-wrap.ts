/**
 * A ledger seen through a wrapper: every call of the {@link Ledger} interface passes one
 * hook, which may delay it, fail it or run it. The simulator gates its processes' ledger
 * calls with it; `createFaultyLedger` injects failures with it. A scan is wrapped call by
 * call: each `next()` of its iterator passes the hook on its own.
 *
 * @module
 */

import { LedgerError } from "../errors.js";
import type { Ledger } from "../ledger/types.js";

/** A method of {@link Ledger} that returns a promise. */
export type LedgerCall =
  | "append"
  | "get"
  | "getById"
  | "head"
  | "reserveSequence"
  | "putReceipt"
  | "getReceipts"
  | "getWatermark"
  | "advanceWatermark"
  | "claim"
  | "renewClaim"
  | "releaseClaim"
  | "freezeSink"
  | "unfreezeSink"
  | "getFreezes"
  | "listFreezes"
  | "appendAudit"
  | "verifyAudit"
  | "getMany"
  | "getReceiptsMany"
  | "claimMany"
  | "releaseClaims"
  | "putReceipts"
  | "compactReceipts"
  | "getCheckpoint"
  | "putCheckpoint"
  | "digestBuckets"
  | "digestPositions"
  | "recordWindows"
  | "windowHistory"
  | "close";

/** A method of {@link Ledger} that returns an async iterable. */
export type LedgerScan = "scan" | "scanReceipts" | "scanAudit";

/** The methods of {@link Ledger} that return a promise. */
export const LEDGER_CALLS: readonly LedgerCall[] = [
  "append",
  "get",
  "getById",
  "head",
  "reserveSequence",
  "putReceipt",
  "getReceipts",
  "getWatermark",
  "advanceWatermark",
  "claim",
  "renewClaim",
  "releaseClaim",
  "freezeSink",
  "unfreezeSink",
  "getFreezes",
  "listFreezes",
  "appendAudit",
  "verifyAudit",
  "getMany",
  "getReceiptsMany",
  "claimMany",
  "releaseClaims",
  "putReceipts",
  "compactReceipts",
  "getCheckpoint",
  "putCheckpoint",
  "digestBuckets",
  "digestPositions",
  "recordWindows",
  "windowHistory",
  "close",
];

/** The methods of {@link Ledger} that return an async iterable. */
export const LEDGER_SCANS: readonly LedgerScan[] = ["scan", "scanReceipts", "scanAudit"];

/** A method of the {@link Ledger} interface. */
export type LedgerMethod = LedgerCall | LedgerScan;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time: the two lists name every method of the interface, no more. */
const _everyMethod: Same<LedgerMethod, Exclude<keyof Ledger, "capabilities">> = true;

/**
 * Passes one call: `method` and its arguments (for a scan, the scan's arguments; `next`
 * is true for each step of its iterator), and `invoke`, which makes the call on the
 * ledger and resolves with its answer.
 */
export type LedgerCallHook = (
  method: LedgerMethod,
  args: readonly unknown[],
  invoke: () => Promise<unknown>,
) => Promise<unknown>;

/** A {@link Ledger} whose every call passes `hook`, made on `target()` (read at each call). */
export function wrapLedger(target: () => Ledger, hook: LedgerCallHook): Ledger {
  const wrapped: Record<string, unknown> = {};
  Object.defineProperty(wrapped, "capabilities", {
    get: () => target().capabilities,
    enumerable: true,
  });
  for (const method of LEDGER_CALLS) {
    wrapped[method] = (...args: unknown[]) => {
      try {
        return hook(method, args, () =>
          (target()[method] as (...a: unknown[]) => Promise<unknown>)(...args),
        );
      } catch (error) {
        return Promise.reject(error);
      }
    };
  }
  for (const method of LEDGER_SCANS) {
    wrapped[method] = (...args: unknown[]): AsyncIterable<unknown> => {
      // Called at once, so that bad arguments and a closed ledger throw where the ledger
      // itself would; each step of the iteration then passes the hook.
      const iterable = (target()[method] as (...a: unknown[]) => AsyncIterable<unknown>)(...args);
      return {
        [Symbol.asyncIterator]() {
          let inner: AsyncIterator<unknown> | undefined;
          return {
            next: () =>
              hook(method, args, () => {
                inner ??= iterable[Symbol.asyncIterator]();
                return inner.next();
              }) as Promise<IteratorResult<unknown>>,
            return: async (value?: unknown) => {
              await inner?.return?.(value);
              return { done: true, value: undefined };
            },
          };
        },
      };
    };
  }
  return Object.freeze(wrapped) as unknown as Ledger;
}

/** The error an injected ledger fault throws: `unavailable`, so it is worth a retry. */
export function injectedLedgerError(method: string, applied: boolean): LedgerError {
  return new LedgerError(
    "unavailable",
    applied
      ? `injected fault: ${method} took effect, then the connection was lost`
      : `injected fault: ${method} failed (the ledger was unavailable)`,
  );
}
