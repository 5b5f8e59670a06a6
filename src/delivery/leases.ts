/**
 * The claims a guard holds while its writes run: renewed by one timer for the whole guard,
 * and each with an abort signal for its writer that fires the moment the guard learns the
 * claim is lost (a renewal answered `claim_lost`), or when the caller gives up.
 *
 * A lease alone cannot stop a writer the operating system paused past its TTL; the
 * claim's fencing token can (the writer passes it to the sink, and the ledger refuses the
 * late receipt). The signal is the early warning for writers that can still stop.
 *
 * @module
 */

import { isSinkproofError } from "../errors.js";
import type { Claim, Ledger } from "../ledger/types.js";
import type { Logger } from "../observe/debug.js";
import type { GuardTimers } from "./guard-types.js";

/** One held claim, with its writer's signal. */
export class Lease {
  claim: Claim;
  renewAt: number;
  readonly #caller: AbortSignal | undefined;
  #controller: AbortController | undefined;
  #lost: unknown;
  #unlink: (() => void) | undefined;

  constructor(claim: Claim, renewAt: number, caller: AbortSignal | undefined) {
    this.claim = claim;
    this.renewAt = renewAt;
    this.#caller = caller;
  }

  /**
   * Aborted when the claim is lost or the caller's signal aborts. Made on first use: most
   * writers never look, and a signal per fast write costs more than the write.
   */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const caller = this.#caller;
      if (this.#lost !== undefined) controller.abort(this.#lost);
      else if (caller?.aborted) controller.abort(caller.reason);
      else if (caller !== undefined) {
        const forward = () => controller.abort(caller.reason);
        caller.addEventListener("abort", forward, { once: true });
        this.#unlink = () => caller.removeEventListener("abort", forward);
      }
    }
    return this.#controller.signal;
  }

  /** True once a renewal found the claim taken over or released. */
  get lost(): boolean {
    return this.#lost !== undefined;
  }

  lose(reason: unknown): void {
    if (this.#lost !== undefined) return;
    this.#lost = reason;
    this.#controller?.abort(reason);
  }

  /** The write is over: stop forwarding the caller's signal. */
  end(): void {
    this.#unlink?.();
    this.#unlink = undefined;
  }
}

/** The leases of one guard, by key. */
export interface Leases {
  hold(claim: Claim, caller: AbortSignal | undefined): Lease;
  /** Stops renewing the key's claim; returns the lease (its claim as last renewed). */
  letGo(key: string): Lease | undefined;
}

/** Makes the lease table of a guard. */
export function createLeases(
  ledger: Ledger,
  claimTtlMs: number,
  clock: () => number,
  log: Logger,
  timers: GuardTimers,
): Leases {
  const held = new Map<string, Lease>();
  let renewer: unknown;

  function renewHeld(): void {
    if (held.size === 0) {
      timers.clearInterval(renewer);
      renewer = undefined;
      return;
    }
    const now = clock();
    for (const [key, lease] of held) {
      if (lease.renewAt > now || lease.lost) continue;
      lease.renewAt = now + claimTtlMs / 3;
      ledger.renewClaim(lease.claim, claimTtlMs).then(
        (renewed) => {
          if (held.get(key) === lease) lease.claim = renewed;
        },
        (error: unknown) => {
          if (isSinkproofError(error) && error.code === "claim_lost") {
            log(
              "claim on %s lost (fencing token %d): aborting its write",
              key,
              lease.claim.fencingToken,
            );
            lease.lose(error);
          } else log("claim renewal failed for %s: %O", key, error);
        },
      );
    }
  }

  return {
    hold(claim, caller) {
      const lease = new Lease(claim, clock() + claimTtlMs / 3, caller);
      held.set(claim.key, lease);
      if (renewer === undefined) {
        renewer = timers.setInterval(renewHeld, Math.max(1, Math.floor(claimTtlMs / 6)));
      }
      return lease;
    },
    letGo(key) {
      const lease = held.get(key);
      held.delete(key);
      lease?.end();
      // The timer stops itself once a tick finds nothing held: stopping and starting it
      // around every fast write would cost more than the write.
      return lease;
    },
  };
}
