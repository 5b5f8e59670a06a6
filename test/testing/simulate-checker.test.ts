/**
 * The simulator's checker on its own: each invariant fires on the history that breaks it,
 * and stays quiet on the one that does not. Reports here are real reconciliations; the
 * snapshots the checker compares them with are changed by hand, as a broken reconcile
 * would have read them.
 */
import { describe, expect, it } from "vitest";
import { createProducer, MemoryLedger, reconcile } from "../../src/index.js";
import { createManualClock, createMemorySink } from "../../src/testing/index.js";
import { foldRows, Model } from "../../src/testing/simulate/checker.js";

async function world() {
  const clock = createManualClock();
  const ledger = new MemoryLedger({ clock: clock.now });
  const producer = createProducer({ id: "p", ledger, clock: clock.now });
  const a = await producer.emit("t", { n: 1 }, { schema: { name: "s", version: 1 }, key: "k1" });
  const b = await producer.emit("t", { n: 2 }, { schema: { name: "s", version: 1 }, key: "k2" });
  const sink = createMemorySink({ name: "s" });
  sink.rewrite(a);
  sink.rewrite(b);
  const entries = new Map();
  for await (const entry of ledger.scan()) entries.set(entry.envelope.key, entry);
  return { clock, ledger, sink, a, b, entries };
}

describe("the checker's model", () => {
  it("a consistent report over what the sink really held passes", async () => {
    const { ledger, sink, entries } = await world();
    const report = await reconcile({ ledger, sinks: [sink] });
    const model = new Model();
    model.checkReport(report, new Map([["s", foldRows([...sink.observe()])]]), entries, 60_000, 1);
    expect(model.violations).toEqual([]);
  });

  it("false-consistent: the report says consistent, the sink held a key twice", async () => {
    const { ledger, sink, a, b, entries } = await world();
    const report = await reconcile({ ledger, sinks: [sink] });
    const held = foldRows([
      { key: a.key, checksum: a.checksum },
      { key: a.key, checksum: a.checksum },
      { key: b.key, checksum: b.checksum },
    ]);
    const model = new Model();
    model.checkReport(report, new Map([["s", held]]), entries, 60_000, 3);
    expect(model.violations.map((v) => v.kind)).toEqual(["false-consistent", "missed-finding"]);
    expect(model.counts().falseConsistent).toBe(1);
  });

  it("false-alarm: the report lists a finding the sink's rows do not explain", async () => {
    const { ledger, sink, a, b, entries } = await world();
    sink.remove(b.key);
    const report = await reconcile({ ledger, sinks: [sink], clock: () => Date.now() });
    expect(report.sinks[0]?.counts["missing-lost"]).toBe(1);
    // The model saw the sink holding both keys when it was read.
    const held = foldRows([
      { key: a.key, checksum: a.checksum },
      { key: b.key, checksum: b.checksum },
    ]);
    const model = new Model();
    model.checkReport(report, new Map([["s", held]]), entries, 60_000, 2);
    expect(model.violations.map((v) => v.kind)).toEqual(["false-alarm"]);
    expect(model.counts().falseAlarm).toBe(1);
  });

  it("late-lost: a missing entry called late though older than the tolerance", async () => {
    const { clock, ledger, sink, b, entries } = await world();
    sink.remove(b.key);
    const report = await reconcile({
      ledger,
      sinks: [{ ...sink, lagToleranceMs: 60_000 }],
      clock: clock.now,
    });
    expect(report.sinks[0]?.counts["missing-late"]).toBe(1);
    const model = new Model();
    // With a tolerance of 0 and the report a moment later, the entry is lost, not late.
    const held = foldRows([...sink.observe()]);
    const later = {
      ...report,
      generatedAt: new Date(Date.parse(report.generatedAt) + 5).toISOString(),
    };
    model.checkReport(later, new Map([["s", held]]), entries, 0, 2);
    // Late counts as consistent, lost does not: the report is a false green as well.
    expect(model.violations.map((v) => v.kind)).toEqual(["false-consistent", "late-lost"]);
  });

  it("fencing, watermarks, duplicates and unexplained content", () => {
    const model = new Model();
    model.emitted.set("k", "xxh64:0000000000000001");
    model.granted("s", "k", 3, "d#1");
    model.checkToken("s", "k", 3, "d#1", 1);
    expect(model.violations).toEqual([]);
    model.checkToken("s", "k", 3, "d#2", 1); // granted to another process
    model.checkToken("s", "k", 9, "d#1", 1); // never granted
    expect(model.violations.map((v) => v.kind)).toEqual(["fencing"]); // once per (sink, key)
    model.watermark("s", 5, 1);
    model.watermark("s", 5, 2);
    model.watermark("s", 4, 3);
    const held = foldRows([
      { key: "k", checksum: "xxh64:0000000000000001" },
      { key: "k", checksum: "xxh64:0000000000000002" },
      { key: "ghost", checksum: "xxh64:0000000000000003" },
    ]);
    model.corrupted("s", "k", "xxh64:0000000000000009");
    model.checkHeld("s", held, 4);
    expect(model.violations.map((v) => v.kind)).toEqual([
      "fencing",
      "watermark",
      "duplicated",
      "unexpected",
      "unexpected",
    ]);
    // Content a corrupt fault made is explained.
    const explained = new Model();
    explained.emitted.set("k", "xxh64:0000000000000001");
    explained.corrupted("s", "k", "xxh64:0000000000000002");
    explained.checkHeld("s", foldRows([{ key: "k", checksum: "xxh64:0000000000000002" }]), 1);
    expect(explained.violations).toEqual([]);
    expect(model.counts()).toMatchObject({ duplicated: 1, unexpected: 2 });
  });
});
