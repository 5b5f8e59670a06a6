/**
 * Seeded reconciliation scenarios: a ledger, a sink that got everything through its
 * guard, then anomalies injected by hand, and the exact findings they must produce.
 */
import {
  createSealer,
  type Envelope,
  type FindingKind,
  MemoryLedger,
  type ReconcileReport,
} from "../../src/index.js";
import {
  createManualClock,
  createMemorySink,
  type MemorySinkOptions,
} from "../../src/testing/index.js";

export const T0 = Date.UTC(2026, 0, 1);
/** Entries are appended one second apart; the sink tolerates 10 s of lag. */
export const LAG = 10_000;

// A type alias, not an interface: aliases are assignable to JsonValue's index signature.
export type Order = {
  id: string;
  total: number;
  items: { sku: string; qty: number }[];
};

export function order(i: number): Order {
  return { id: `o-${i}`, total: i * 10, items: [{ sku: `s-${i % 7}`, qty: (i % 3) + 1 }] };
}

export async function build<L extends MemoryLedger = MemoryLedger>(
  n: number,
  sinkOptions: Partial<MemorySinkOptions> = {},
  ledgerOf: (clock: () => number) => L = (clock) => new MemoryLedger({ clock }) as L,
) {
  const clock = createManualClock(T0);
  const ledger = ledgerOf(clock.now);
  const seal = createSealer({ clock: clock.now });
  const envelopes: Envelope[] = [];
  for (let i = 0; i < n; i++) {
    const envelope = seal({
      producer: "orders-svc",
      seq: i,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: order(i),
    });
    await ledger.append([envelope]);
    envelopes.push(envelope);
    clock.advance(1000);
  }
  const sink = createMemorySink({
    name: "store",
    ledger,
    lagToleranceMs: LAG,
    guardOptions: { clock: clock.now },
    ...sinkOptions,
  });
  return { clock, ledger, envelopes, sink };
}

/** Kind per key of every finding in a report's sink. */
export function kinds(report: ReconcileReport, sink = 0): Map<string, FindingKind> {
  return new Map(report.sinks[sink]?.findings.map((f) => [f.key, f.kind]));
}
