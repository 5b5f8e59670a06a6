/**
 * The reports the render tests draw: `scenario()`, five sinks built the real way with
 * every kind of finding, a freeze, a read error and a repair; and `interruptedScenario()`,
 * one sink with a payload edited under its checksum and an interrupted rewrite. Shared by
 * render.test.ts (what each format must say) and render-golden.test.ts (the whole output,
 * byte for byte).
 */
import {
  checksum,
  createPipeline,
  createProducer,
  MemoryLedger,
  type ReconcileReport,
  type ReconcileSink,
  reconcile,
  repair,
  type SinkGuard,
  type SinkReport,
} from "../../src/index.js";
import { createManualClock, createMemorySink, type MemorySink } from "../../src/testing/index.js";
import { build, LAG, order } from "./scenario.js";

export const WEIRD = "we|ird`key";
export const XSS = "<img onerror=x>";

function guardOf(sink: MemorySink): SinkGuard {
  if (sink.guard === undefined) throw new Error(`${sink.name} has no guard`);
  return sink.guard;
}

export function sinkOf(report: ReconcileReport, name: string): SinkReport {
  const found = report.sinks.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no sink ${name} in the report`);
  return found;
}

/**
 * Five sinks, all built the real way: `obs` (read back with payloads; drops, duplicates,
 * corrupts; two unexpected keys put by hand; one late entry), `dig` (digest mode; drops
 * and corrupts), `rec` (no read-back: receipts only), `keep` (an unexpected key it cannot
 * remove: flagged) and `broken` (its read-back throws).
 */
export async function scenario() {
  const clock = createManualClock();
  const ledger = new MemoryLedger({ clock: clock.now });
  const producer = createProducer({ ledger, id: "orders" });
  const guardOptions = { clock: clock.now };
  const obs = createMemorySink({
    name: "obs",
    ledger,
    observe: "payload",
    faults: { drop: 0.03, duplicate: 0.03, corrupt: 0.03, seed: 4 },
    guardOptions,
  });
  const dig = createMemorySink({
    name: "dig",
    ledger,
    digest: true,
    faults: { drop: 0.02, corrupt: 0.02, seed: 5 },
    guardOptions,
  });
  const rec = createMemorySink({ name: "rec", ledger, guardOptions });
  const keep = createMemorySink({ name: "keep", ledger, guardOptions });
  const pipeline = createPipeline({
    producer,
    sinks: [guardOf(obs), guardOf(dig), guardOf(rec), guardOf(keep)],
  });
  const publish = (i: number) =>
    pipeline.publish(
      "order.created",
      { id: i, total: i * 3, note: "x" },
      { schema: { name: "order", version: 1 } },
    );
  for (let i = 0; i < 200; i++) await publish(i);
  clock.advance(120_000);
  const recent = await publish(200);
  obs.delete(recent.envelope.key); // missing, but young: late
  obs.put(WEIRD, { stray: 1 });
  obs.put(XSS, { stray: 2 });
  keep.put("orphan", { stray: 3 });
  const sinks: ReconcileSink[] = [
    obs,
    dig,
    { name: "rec" },
    { name: "keep", observe: keep.observe, guard: keep.guard }, // cannot remove
    {
      name: "broken",
      observe: () => {
        throw new Error("disk | on\nfire");
      },
    },
  ];
  const report = await reconcile({
    ledger,
    sinks,
    clock: clock.now,
    freezeOn: { mismatched: 0 },
  });
  for (const s of [obs, dig, rec, keep]) s.heal();
  const repaired = await repair(report, {
    ledger,
    sinks,
    clock: clock.now,
    actor: "alice",
    reason: "INC-1",
  });
  return { report, repaired };
}

/** A sink whose row 3 has a payload edited under its checksum, and an interrupted rewrite of row 5. */
export async function interruptedScenario() {
  const s = await build(10, { observe: "both" });
  await s.sink.guard?.deliverAll(s.envelopes);
  s.clock.advance(LAG + 1);
  const key = (i: number) => (s.envelopes[i] as { key: string }).key;
  s.sink.tamper(key(3), { payload: { ...order(3), total: -3 } });
  const intent = await s.ledger.appendAudit({
    actor: "killed-job",
    action: "rewrite",
    reason: "mismatched: rewrite with the ledger's payload",
    subject: { sink: "store", key: key(5), position: 6 },
    before: checksum({ old: 5 }),
    after: s.envelopes[5]?.checksum ?? null,
    phase: "intent",
  });
  const report = await reconcile({ ledger: s.ledger, sinks: [s.sink], clock: s.clock.now });
  return { ...s, key, intent, report };
}
