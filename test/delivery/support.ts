/**
 * What the guard tests share: a manual clock at 2026-01-01, a MemoryLedger on it, and
 * `event()`, sealing the next envelope of one stream (seq from 0, payload `{ n: seq }`
 * unless given).
 */
import { createSealer, MemoryLedger } from "../../src/index.js";
import { createManualClock } from "../../src/testing/index.js";

/** 2026-01-01T00:00:00Z, where the clock starts. */
export const T0 = Date.UTC(2026, 0, 1);

/** A manual clock, a ledger on it, and a sealer of consecutive envelopes. */
export function guardWorld() {
  const clock = createManualClock(T0);
  const ledger = new MemoryLedger({ clock: clock.now });
  const seal = createSealer({ clock: clock.now });
  let seq = 0;
  const event = (payload: unknown = { n: seq }) =>
    seal({
      producer: "orders-svc",
      stream: "orders",
      seq: seq++,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload,
    });
  return { clock, ledger, event };
}
