import { describe, expect, it } from "vitest";
import {
  type AuditRecord,
  guardSink,
  InvalidArgumentError,
  type Ledger,
  type ReconcileSink,
  reconcile,
  repair,
} from "../../src/index.js";
import { verifyAuditChain } from "../../src/ledger/index.js";
import { createMemorySink } from "../../src/testing/index.js";
import { build, LAG, order } from "./scenario.js";

/** 100 entries through the guard, then: 2 lost, 1 duplicated, 1 altered, 1 unexpected. */
async function drifted(sinkOptions: Parameters<typeof build>[1] = {}) {
  const s = await build(100, sinkOptions);
  await s.sink.guard?.deliverAll(s.envelopes);
  const key = (i: number) => (s.envelopes[i] as { key: string }).key;
  s.sink.delete(key(40));
  s.sink.delete(key(10));
  s.sink.put(key(5), order(5), 2);
  s.sink.put(key(30), { ...(order(30) as object), total: 0 });
  s.sink.put("ghost", { id: "ghost" });
  s.clock.advance(LAG + 1);
  return { ...s, key };
}

async function auditOf(ledger: Ledger): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const record of ledger.scanAudit()) out.push(record);
  return out;
}

describe("repair", () => {
  it("converges: replays, rewrites, removes, re-reads and verifies", async () => {
    const { ledger, sink, clock, key, envelopes } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(report.sinks[0]?.counts).toMatchObject({
      "missing-lost": 2,
      duplicate: 1,
      mismatched: 1,
      unexpected: 1,
    });
    const result = await repair(report, {
      ledger,
      sinks: [sink],
      clock: clock.now,
      actor: "alice",
      reason: "INC-1",
    });
    expect(result.converged).toBe(true);
    expect(result.unresolved).toEqual([]);
    expect(result.actions.map((a) => [a.action, a.key, a.status])).toEqual([
      ["remove", "ghost", "done"],
      ["remove-and-replay", key(5), "done"],
      ["replay", key(10), "done"],
      ["rewrite", key(30), "done"],
      ["replay", key(40), "done"],
    ]);
    expect(result.actions.find((a) => a.key === key(10))?.receipt).toBe("replayed");
    expect(result.sinks).toEqual([
      {
        name: "store",
        planned: 5,
        done: 5,
        failed: 0,
        flagged: 0,
        alreadyResolved: 0,
        deferred: 0,
        converged: true,
        unfrozen: false,
        interrupted: 0,
      },
    ]);
    expect(result.verification?.consistent).toBe(true);
    expect(sink.get(key(5))?.count).toBe(1);
    expect(sink.get(key(30))?.checksum).toBe(envelopes[30]?.checksum);
    expect(sink.get("ghost")).toBeUndefined();
    const after = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(after.consistent).toBe(true);
  });

  it("is idempotent: a second repair with the same report does nothing", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    await repair(report, { ledger, sinks: [sink], clock: clock.now });
    const writes = sink.stats().writes;
    const auditBefore = (await auditOf(ledger)).length;
    const again = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(again.actions).toEqual([]);
    expect(again.converged).toBe(true);
    expect(again.sinks[0]).toMatchObject({ planned: 0, alreadyResolved: 5 });
    expect(sink.stats().writes).toBe(writes);
    expect((await auditOf(ledger)).length).toBe(auditBefore);
    // And repairing a clean report does nothing either.
    const clean = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect((await repair(clean, { ledger, sinks: [sink], clock: clock.now })).actions).toEqual([]);
  });

  it("audits every action before reporting it done; the chain verifies, and fails after tampering", async () => {
    const { ledger, sink, clock, key } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const result = await repair(report, {
      ledger,
      sinks: [sink],
      clock: clock.now,
      actor: "alice",
      reason: "INC-1",
    });
    const records = await auditOf(ledger);
    // Each action: an intent before the sink was touched, then its outcome.
    expect(records).toHaveLength(10);
    for (const action of result.actions) {
      const intent = records.find((r) => r.index === action.intent);
      const record = records.find((r) => r.index === action.audit);
      expect(intent).toMatchObject({
        actor: "alice",
        action: action.action,
        phase: "intent",
        subject: { sink: "store", key: action.key },
        before: action.before,
        details: { finding: action.finding },
      });
      expect(record).toMatchObject({
        actor: "alice",
        action: action.action,
        phase: "outcome",
        intent: action.intent,
        subject: { sink: "store", key: action.key },
        before: action.before,
        after: action.after,
        details: { finding: action.finding, outcome: "done" },
      });
      expect(record?.index).toBe((action.intent as number) + 1);
      expect(record?.reason).toContain("(INC-1)");
    }
    expect(result.interrupted).toEqual([]);
    const rewrite = records.find((r) => r.subject?.key === key(30));
    expect(rewrite?.before).not.toBe(rewrite?.after);
    expect(records.find((r) => r.subject?.key === "ghost")?.after).toBeNull();
    expect((await ledger.verifyAudit()).ok).toBe(true);
    // Tampering: an edited record, a removed record.
    const edited = records.map((r, i) => (i === 2 ? { ...r, after: null } : r));
    const check = await verifyAuditChain(edited);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.problems[0]).toMatchObject({ index: 3, code: "edited" });
    const removed = await verifyAuditChain(records.filter((_, i) => i !== 1));
    expect(removed.ok).toBe(false);
  });

  it("dryRun plans and changes nothing", async () => {
    const { ledger, sink, clock, key } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const writes = sink.stats().writes;
    const plan = await repair(report, { ledger, sinks: [sink], clock: clock.now, dryRun: true });
    expect(plan.dryRun).toBe(true);
    expect(plan.converged).toBe(false);
    expect(plan.actions.map((a) => [a.action, a.status])).toEqual([
      ["remove", "planned"],
      ["remove-and-replay", "planned"],
      ["replay", "planned"],
      ["rewrite", "planned"],
      ["replay", "planned"],
    ]);
    expect(plan.verification).toBeUndefined();
    expect(sink.stats().writes).toBe(writes);
    expect(sink.get(key(10))).toBeUndefined();
    expect(await auditOf(ledger)).toEqual([]);
  });

  it("replays missing entries in position order, through the guard", async () => {
    const { ledger, sink, clock, envelopes } = await build(30);
    await sink.guard?.deliverAll(envelopes.filter((_, i) => i % 3 !== 0));
    clock.advance(LAG + 1);
    const written: number[] = [];
    const recording = guardSink({
      name: "store",
      ledger,
      clock: clock.now,
      write: (envelope, context) => {
        written.push(context.position);
        expect(context.replay).toBe(true);
        return sink.write(envelope, context);
      },
    });
    const watched: ReconcileSink = { ...sink, guard: recording };
    const report = await reconcile({ ledger, sinks: [watched], clock: clock.now });
    const result = await repair(report, { ledger, sinks: [watched], clock: clock.now });
    expect(written).toEqual([1, 4, 7, 10, 13, 16, 19, 22, 25, 28]);
    expect(result.actions.map((a) => a.position)).toEqual(written);
    expect(result.converged).toBe(true);
    const receipts = await ledger.getReceipts("store", (envelopes[0] as { key: string }).key);
    expect(receipts.at(-1)?.status).toBe("replayed");
  });

  it("flags what the sink cannot do, with the reason, and does not converge", async () => {
    const { ledger, sink, clock, key } = await drifted();
    const limited: ReconcileSink = {
      name: sink.name,
      observe: sink.observe,
      guard: sink.guard,
      lagToleranceMs: LAG,
    };
    const report = await reconcile({ ledger, sinks: [limited], clock: clock.now });
    const result = await repair(report, { ledger, sinks: [limited], clock: clock.now });
    expect(result.converged).toBe(false);
    const flagged = result.actions
      .filter((a) => a.status === "flagged")
      .map((a) => [a.key, a.reason]);
    expect(flagged).toEqual([
      ["ghost", "unexpected: the sink cannot remove keys (give it remove)"],
      [
        key(5),
        "duplicate: the sink cannot remove copies and write one back (give it remove and a guard)",
      ],
      [
        key(30),
        "mismatched: the sink can neither rewrite nor remove-and-replay (give it rewrite, or remove and a guard)",
      ],
    ]);
    expect(result.unresolved.map((u) => u.key).sort()).toEqual(["ghost", key(5), key(30)].sort());
    // The replays it could do, it did; the flags are audited too.
    expect(
      result.actions.filter((a) => a.action === "replay").every((a) => a.status === "done"),
    ).toBe(true);
    expect((await auditOf(ledger)).filter((r) => r.action === "flag")).toHaveLength(3);
  });

  it("says which keys did not converge and why: a sink that still drops, a sink that is down", async () => {
    const dropping = await build(20, { faults: { drop: 1 } });
    await dropping.sink.guard?.deliverAll(dropping.envelopes);
    dropping.clock.advance(LAG + 1);
    const report = await reconcile({
      ledger: dropping.ledger,
      sinks: [dropping.sink],
      clock: dropping.clock.now,
    });
    expect(report.sinks[0]?.contradicted).toBe(20);
    const result = await repair(report, {
      ledger: dropping.ledger,
      sinks: [dropping.sink],
      clock: dropping.clock.now,
    });
    expect(result.converged).toBe(false);
    expect(result.unresolved).toHaveLength(20);
    expect(result.unresolved[0]).toMatchObject({
      finding: "missing-lost",
      reason: "still missing-lost after replay",
    });

    const down = await build(5, { guardOptions: { retry: { attempts: 1 } } });
    await down.sink.guard?.deliverAll(down.envelopes.slice(0, 3));
    down.clock.advance(LAG + 1);
    const downReport = await reconcile({
      ledger: down.ledger,
      sinks: [down.sink],
      clock: down.clock.now,
    });
    down.sink.setOffline(true);
    const downResult = await repair(downReport, {
      ledger: down.ledger,
      sinks: [down.sink],
      clock: down.clock.now,
    });
    expect(downResult.actions.map((a) => [a.status, a.receipt, a.error?.code])).toEqual([
      ["failed", "failed", "sink_offline"],
      ["failed", "failed", "sink_offline"],
    ]);
    expect(downResult.unresolved[0]?.reason).toBe(
      "replay failed: down is offline".replace("down", "store"),
    );
    const records = await auditOf(down.ledger);
    expect(
      records
        .filter((r) => r.phase === "outcome")
        .map((r) => (r.details as { outcome: string }).outcome),
    ).toEqual(["failed", "failed"]);
  });

  it("leaves late entries alone unless told to replay them", async () => {
    const { ledger, sink, clock, envelopes } = await build(10);
    await sink.guard?.deliverAll(envelopes.slice(0, 8));
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(report.sinks[0]?.counts["missing-late"]).toBe(2);
    const waiting = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(waiting.actions).toEqual([]);
    expect(waiting.sinks[0]?.deferred).toBe(2);
    const eager = await repair(report, {
      ledger,
      sinks: [sink],
      clock: clock.now,
      includeLate: true,
    });
    expect(eager.actions.map((a) => [a.action, a.finding, a.status])).toEqual([
      ["replay", "missing-late", "done"],
      ["replay", "missing-late", "done"],
    ]);
    expect(sink.size).toBe(10);
  });

  it("unfreezes a guard frozen by the policy once the sink converges, and audits it", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({
      ledger,
      sinks: [sink],
      clock: clock.now,
      freezeOn: { "missing-lost": 1 },
    });
    expect(sink.guard?.status().frozen).toBeDefined();
    const result = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(result.converged).toBe(true);
    expect(result.sinks[0]?.unfrozen).toBe(true);
    expect(sink.guard?.status().frozen).toBeUndefined();
    const actions = (await auditOf(ledger)).map((r) => r.action);
    expect(actions[0]).toBe("freeze");
    expect(actions.at(-1)).toBe("unfreeze");
    expect((await ledger.verifyAudit()).ok).toBe(true);
  });

  it("keeps the freeze while the sink has not converged, and never lifts an operator's freeze", async () => {
    const { ledger, sink, clock } = await drifted();
    const limited: ReconcileSink = {
      name: sink.name,
      observe: sink.observe,
      guard: sink.guard,
      lagToleranceMs: LAG,
    };
    const report = await reconcile({
      ledger,
      sinks: [limited],
      clock: clock.now,
      freezeOn: { unexpected: 0 },
    });
    const result = await repair(report, { ledger, sinks: [limited], clock: clock.now });
    expect(result.converged).toBe(false);
    expect(sink.guard?.status().frozen).toBeDefined();

    const other = await drifted();
    await other.sink.guard?.freeze("maintenance");
    const r2 = await reconcile({
      ledger: other.ledger,
      sinks: [other.sink],
      clock: other.clock.now,
      freezeOn: { unexpected: 0 },
    });
    expect(r2.sinks[0]?.frozen).toBe("maintenance");
    await repair(r2, { ledger: other.ledger, sinks: [other.sink], clock: other.clock.now });
    expect(other.sink.guard?.status().frozen?.reason).toBe("maintenance");
  });

  it("does not converge while a repaired sink cannot be read back", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    let reads = 0;
    const flaky: ReconcileSink = {
      ...sink,
      observe: () => {
        reads++;
        if (reads > 1) throw new Error("connection reset");
        return sink.observe();
      },
    };
    const result = await repair(report, { ledger, sinks: [flaky], clock: clock.now });
    expect(result.actions.every((a) => a.status === "done")).toBe(true);
    expect(result.converged).toBe(false);
    expect(result.sinks[0]).toMatchObject({
      converged: false,
      error: { code: "sink_read_failed", message: "connection reset" },
    });
  });

  it("says when the report was truncated", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now, maxFindings: 2 });
    const result = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(result.remaining).toBe(true);
    expect(result.actions).toHaveLength(2);
  });

  it("rejects malformed arguments with typed errors naming the path", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const other = createMemorySink({ name: "other" });
    const bad: [unknown, unknown, string][] = [
      [null, { ledger, sinks: [sink] }, "report"],
      [{ sinks: "x" }, { ledger, sinks: [sink] }, "report.range"],
      [{ ...report, sinks: "x" }, { ledger, sinks: [sink] }, "report.sinks"],
      [{ ...report, range: null }, { ledger, sinks: [sink] }, "report.range"],
      [{ ...report, sinks: [null] }, { ledger, sinks: [sink] }, "report.sinks[0]"],
      [
        { ...report, sinks: [{ ...report.sinks[0], findings: [null] }] },
        { ledger, sinks: [sink] },
        "report.sinks[0].findings[0]",
      ],
      [report, { ledger, sinks: [sink], clock: 5 }, "options.clock"],
      [report, { ledger, sinks: [sink], clock: () => Number.NaN }, "options.clock()"],
      [report, null, "options"],
      [report, { ledger, sinks: [other] }, "report.sinks[0].name"],
      [report, { ledger, sinks: [sink], dryRun: "yes" }, "options.dryRun"],
      [report, { ledger, sinks: [sink], actor: "" }, "options.actor"],
      [report, { ledger, sinks: [sink], reason: 5 }, "options.reason"],
      [
        report,
        { ledger, sinks: [{ ...sink, guard: other.guard ?? {} }] },
        "options.sinks[0].guard",
      ],
    ];
    for (const [r, options, path] of bad) {
      const error = await repair(r as never, options as never).catch((e: unknown) => e);
      expect(error, path).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).path).toBe(path);
    }
  });
});
