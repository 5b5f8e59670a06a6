/**
 * A manual clock: time that moves only when a test says so, for anything with a TTL.
 *
 * @module
 */

import { invalidArgument, show } from "../internal/arguments.js";

/** A manually driven clock, for deterministic tests of anything with a TTL. */
export interface ManualClock {
  /** Milliseconds since the epoch; pass it as a `clock` option. */
  readonly now: () => number;
  /** Moves the clock forward. */
  advance(ms: number): void;
  /** Sets the clock. */
  set(ms: number): void;
}

/**
 * Creates a {@link ManualClock}, starting at 2026-01-01T00:00:00Z unless told otherwise.
 *
 * @example
 * ```ts
 * import { createManualClock } from "sinkproof/testing";
 * const clock = createManualClock();
 * const ledger = new MemoryLedger({ clock: clock.now });
 * clock.advance(30_000); // claims with a 10 s TTL have now expired
 * ```
 */
export function createManualClock(start: number = Date.UTC(2026, 0, 1)): ManualClock {
  let current = checkMs(start, "start");
  return {
    now: () => current,
    advance(ms: number) {
      current = checkMs(current + checkMs(ms, "ms"), "the time");
    },
    set(ms: number) {
      current = checkMs(ms, "ms");
    },
  };
}

/** A time or a step in ms: a finite number (`Date` range). */
function checkMs(ms: unknown, where: string): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || Math.abs(ms) > 8.64e15)
    invalidArgument(where, `must be a finite number of ms, got ${show(ms)}`);
  return ms;
}
