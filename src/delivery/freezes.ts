/**
 * What a guard knows of its sink's freezes. Freezes are ledger state, so a freeze put by
 * any process reaches every guard of the sink: each guard reads them again at most every
 * `freezeCheckMs` (by its own clock), and concurrent deliveries share one read.
 *
 * @module
 */

import type { Ledger, SinkFreeze } from "../ledger/types.js";

/** A guard's view of its sink's freezes. */
export interface FreezeWatch {
  /**
   * The freezes: as last read while that read is younger than `freezeCheckMs` (no await
   * on the delivery path), else a promise of a new read.
   */
  current(): readonly SinkFreeze[] | Promise<readonly SinkFreeze[]>;
  /** The freezes as last read, without reading. */
  cached(): readonly SinkFreeze[];
  /** Reads them now. */
  refresh(): Promise<readonly SinkFreeze[]>;
}

/** Watches the freezes of `sink` on `ledger`. */
export function watchFreezes(
  ledger: Ledger,
  sink: string,
  freezeCheckMs: number,
  clock: () => number,
): FreezeWatch {
  const none: readonly SinkFreeze[] = Object.freeze([]);
  let freezes = none;
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<readonly SinkFreeze[]> | undefined;

  function refresh(): Promise<readonly SinkFreeze[]> {
    reading ??= (async () => {
      // The time the read starts: a freeze put after it is seen by the next read.
      const at = clock();
      try {
        const found = await ledger.getFreezes(sink);
        freezes = found.length === 0 ? none : found;
        readAt = at;
        return freezes;
      } finally {
        reading = undefined;
      }
    })();
    return reading;
  }

  return {
    current() {
      return clock() - readAt < freezeCheckMs ? freezes : refresh();
    },
    cached: () => freezes,
    refresh,
  };
}
