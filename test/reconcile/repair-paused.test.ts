/**
 * A repair paused between a sink action and its outcome record (a long GC, SIGSTOP), while
 * a second repair finds the action's intent open and settles it as interrupted. Found by
 * the simulator: the first repair, resumed, used to throw the ledger's refusal of a second
 * outcome. Now it reports the action, and the audit log holds one outcome per intent.
 */
import { describe, expect, it } from "vitest";
import {
  createProducer,
  MemoryLedger,
  type ReconcileSink,
  reconcile,
  repair,
} from "../../src/index.js";
import { createManualClock, createMemorySink } from "../../src/testing/index.js";

describe("a repair paused between its sink action and its outcome", () => {
  it("resumes after another repair settled its intent: no throw, one outcome, the audit intact", async () => {
    const clock = createManualClock();
    const ledger = new MemoryLedger({ clock: clock.now });
    const producer = createProducer({ id: "p", ledger, clock: clock.now });
    const envelope = await producer.emit("t", { n: 1 }, { schema: { name: "s", version: 1 } });
    const store = createMemorySink({ name: "kv" });
    store.put(envelope.key, { n: 999 }); // mismatched: repair rewrites it
    // The first repairer's rewrite reaches the sink, then the process stops before it
    // can append the outcome.
    let resume: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => {
      resume = resolve;
    });
    let rewritten = false;
    const slow: ReconcileSink = {
      name: "kv",
      observe: () => store.observe(),
      rewrite: async (e) => {
        store.rewrite(e);
        rewritten = true;
        await paused;
      },
    };
    const fast: ReconcileSink = {
      name: "kv",
      observe: () => store.observe(),
      rewrite: store.rewrite,
    };
    const report = await reconcile({ ledger, sinks: [slow], clock: clock.now });
    expect(report.sinks[0]?.counts.mismatched).toBe(1);
    const first = repair(report, { ledger, sinks: [slow], actor: "repair-a", clock: clock.now });
    for (let i = 0; i < 100 && !rewritten; i++) await new Promise((r) => setTimeout(r, 1));
    expect(rewritten).toBe(true);
    // The second repairer sees the open intent and settles it (the row is right now).
    const seen = await reconcile({ ledger, sinks: [fast], clock: clock.now });
    expect(seen.sinks[0]?.interrupted).toHaveLength(1);
    const second = await repair(seen, {
      ledger,
      sinks: [fast],
      actor: "repair-b",
      clock: clock.now,
    });
    expect(second.interrupted.map((s) => s.status)).toEqual(["settled"]);
    resume();
    const result = await first;
    expect(result.actions).toHaveLength(1);
    const action = result.actions[0];
    expect(action?.status).toBe("done");
    expect(action?.audit).toBeUndefined();
    expect(action?.reason).toContain("another repair settled its intent meanwhile");
    expect(result.converged).toBe(true);
    const audit = await ledger.verifyAudit();
    expect(audit.ok).toBe(true);
    if (!audit.ok) return;
    expect(audit.interrupted).toEqual([]);
    const records = [];
    for await (const record of ledger.scanAudit()) records.push(record);
    expect(records.map((r) => [r.actor, r.phase])).toEqual([
      ["repair-a", "intent"],
      ["repair-b", "outcome"],
    ]);
  });
});
