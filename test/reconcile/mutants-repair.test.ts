/** Pins repair's option checks, per-sink summary, rechecks, interrupted intents and freezes. */
import { describe, expect, it } from "vitest";
import {
  type AuditRecord,
  createSealer,
  InvalidArgumentError,
  type Ledger,
  type ReconcileSink,
  reconcile,
  repair,
} from "../../src/index.js";
import { createMemorySink } from "../../src/testing/index.js";
import { build, LAG, order } from "./scenario.js";

async function drifted() {
  const s = await build(20);
  await s.sink.guard?.deliverAll(s.envelopes);
  const key = (i: number) => (s.envelopes[i] as { key: string }).key;
  s.sink.delete(key(10));
  s.sink.put(key(5), order(5), 2);
  s.sink.put("ghost", { id: "ghost" });
  s.clock.advance(LAG + 1);
  return { ...s, key };
}

async function auditOf(ledger: Ledger): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const record of ledger.scanAudit()) out.push(record);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<InvalidArgumentError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidArgumentError);
  return error as InvalidArgumentError;
}

const summary = {
  planned: 0,
  done: 0,
  failed: 0,
  flagged: 0,
  alreadyResolved: 0,
  deferred: 0,
  converged: true,
  unfrozen: false,
  interrupted: 0,
};

describe("repair options", () => {
  it("names the bad option with the exact message", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const other = createMemorySink({ name: "other" });
    const cases: [unknown, string, string][] = [
      [{ ledger, sinks: [other] }, "report.sinks[0].name", '"store" is not in options.sinks'],
      [
        { ledger, sinks: [sink], actor: "" },
        "options.actor",
        "must be a non-empty string of at most 256 characters",
      ],
      [
        { ledger, sinks: [sink], actor: "a".repeat(257) },
        "options.actor",
        "must be a non-empty string of at most 256 characters",
      ],
      [
        { ledger, sinks: [sink], actor: 5 },
        "options.actor",
        "must be a non-empty string of at most 256 characters",
      ],
      [
        { ledger, sinks: [sink], reason: "r".repeat(4097) },
        "options.reason",
        "must be a string of at most 4096 characters",
      ],
      [{ ledger, sinks: [sink], includeLate: "yes" }, "options.includeLate", ""],
      [
        { ledger, sinks: [sink], clock: 5 },
        "options.clock",
        "must be a function returning ms since the epoch, got ",
      ],
      [
        { ledger, sinks: [sink], clock: () => Number.NaN },
        "options.clock()",
        "must return ms since the epoch (a valid Date), got ",
      ],
      [
        { ledger, sinks: [sink], clock: () => 8.64e15 + 1 },
        "options.clock()",
        "must return ms since the epoch (a valid Date), got ",
      ],
      [
        { ledger, sinks: [sink], clock: () => "1" },
        "options.clock()",
        "must return ms since the epoch (a valid Date), got ",
      ],
      [{ ledger, sinks: [sink], now: clock.now }, "options.now", ""],
      [undefined, "options", ""],
    ];
    for (const [options, path, rule] of cases) {
      const error = await rejection(repair(report, options as never));
      expect(error.path, path).toBe(path);
      expect(error.code).toBe("invalid_argument");
      expect(error.message.startsWith(`${path} ${rule}`), error.message).toBe(true);
      if (rule.endsWith("got "))
        expect(error.message.length).toBeGreaterThan(path.length + rule.length + 1);
    }
    const now = await rejection(repair(report, { ledger, sinks: [sink], now: clock.now } as never));
    expect(now.message).toContain("clock");
  });

  it("accepts the limits themselves", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const max = await repair(report, {
      ledger,
      sinks: [sink],
      dryRun: true,
      actor: "a".repeat(256),
      reason: "r".repeat(4096),
      clock: () => 8.64e15,
    });
    expect(max.startedAt).toBe("+275760-09-13T00:00:00.000Z");
    const min = await repair(report, {
      ledger,
      sinks: [sink],
      dryRun: true,
      clock: () => -8.64e15,
    });
    expect(min.startedAt).toBe("-271821-04-20T00:00:00.000Z");
  });
});

describe("repair results", () => {
  it("a dry run of a clean report converges with nothing unresolved", async () => {
    const s = await build(3);
    await s.sink.guard?.deliverAll(s.envelopes);
    const report = await reconcile({ ledger: s.ledger, sinks: [s.sink], clock: s.clock.now });
    const plan = await repair(report, {
      ledger: s.ledger,
      sinks: [s.sink],
      clock: s.clock.now,
      dryRun: true,
    });
    expect(plan.converged).toBe(true);
    expect(plan.unresolved).toEqual([]);
    expect(plan.sinks).toEqual([{ name: "store", ...summary }]);
  });

  it("a dry run with actions: the sink has not converged, nothing unresolved yet", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const plan = await repair(report, { ledger, sinks: [sink], clock: clock.now, dryRun: true });
    expect(plan.converged).toBe(false);
    expect(plan.unresolved).toEqual([]);
    expect(plan.sinks).toEqual([{ name: "store", ...summary, planned: 3, converged: false }]);
  });

  it("a clean report: no sink is read, nothing verified", async () => {
    const s = await build(3);
    await s.sink.guard?.deliverAll(s.envelopes);
    const report = await reconcile({ ledger: s.ledger, sinks: [s.sink], clock: s.clock.now });
    let reads = 0;
    const counted: ReconcileSink = {
      ...s.sink,
      observe: () => {
        reads++;
        return s.sink.observe();
      },
    };
    const result = await repair(report, { ledger: s.ledger, sinks: [counted], clock: s.clock.now });
    expect(reads).toBe(0);
    expect(result.verification).toBeUndefined();
    expect(result.converged).toBe(true);
    expect(result.sinks).toEqual([{ name: "store", ...summary }]);
    // An operator's freeze is not the policy's: still nothing to recheck, and it stays.
    await s.sink.guard?.freeze("maintenance");
    const frozen = await repair(report, { ledger: s.ledger, sinks: [counted], clock: s.clock.now });
    expect(reads).toBe(0);
    expect(frozen.verification).toBeUndefined();
    expect(s.sink.guard?.status().frozen?.reason).toBe("maintenance");
  });

  it("summarizes failed and flagged actions per sink, with exact unresolved reasons", async () => {
    const { ledger, sink, clock, key } = await drifted();
    const limited: ReconcileSink = {
      name: sink.name,
      observe: sink.observe,
      guard: sink.guard,
      lagToleranceMs: LAG,
    };
    const report = await reconcile({ ledger, sinks: [limited], clock: clock.now });
    const result = await repair(report, { ledger, sinks: [limited], clock: clock.now });
    expect(result.unresolved).toEqual([
      {
        sink: "store",
        key: "ghost",
        finding: "unexpected",
        reason: "unexpected: the sink cannot remove keys (give it remove)",
      },
      {
        sink: "store",
        key: key(5),
        finding: "duplicate",
        reason:
          "duplicate: the sink cannot remove copies and write one back (give it remove and a guard)",
      },
    ]);
    expect(result.sinks).toEqual([
      { name: "store", ...summary, planned: 3, done: 1, flagged: 2, converged: false },
    ]);

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
    expect(downResult.sinks).toEqual([
      { name: "store", ...summary, planned: 2, failed: 2, converged: false },
    ]);
  });

  it("keeps each sink's tally apart; a truncated sink means remaining", async () => {
    const { ledger, sink, clock, envelopes, key } = await drifted();
    const clean = createMemorySink({
      name: "clean",
      ledger,
      lagToleranceMs: LAG,
      guardOptions: { clock: clock.now },
    });
    await clean.guard?.deliverAll(envelopes);
    // A third sink whose only finding is gone by the time repair rechecks it.
    const healed = createMemorySink({
      name: "healed",
      ledger,
      lagToleranceMs: LAG,
      guardOptions: { clock: clock.now },
    });
    await healed.guard?.deliverAll(envelopes);
    healed.put("stray", { id: "stray" });
    const sinks = [sink, clean, healed];
    const report = await reconcile({ ledger, sinks, clock: clock.now, maxFindings: 2 });
    expect(report.sinks.map((s) => s.truncated)).toEqual([true, false, false]);
    healed.delete("stray");
    const result = await repair(report, { ledger, sinks, clock: clock.now });
    expect(result.remaining).toBe(true);
    expect(result.actions.map((a) => [a.sink, a.key])).toEqual([
      ["store", key(5)],
      ["store", key(10)],
    ]);
    expect(result.sinks).toEqual([
      { name: "store", ...summary, planned: 2, done: 2 },
      { name: "clean", ...summary },
      { name: "healed", ...summary, alreadyResolved: 1 },
    ]);
    expect(result.verification?.sinks.map((s) => s.name)).toEqual(["store"]);
  });

  it("verifies over the report's range when it had entries", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(report.range.entries).toBe(20);
    const seal = createSealer({ clock: clock.now });
    await ledger.append([
      seal({
        producer: "orders-svc",
        seq: 99,
        type: "order.created",
        schema: { name: "order", version: 1 },
        payload: order(99),
      }),
    ]);
    clock.advance(LAG + 1);
    const result = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(result.verification?.range.from).toBe(report.range.from);
    expect(result.verification?.range.to).toBe(report.range.to);
    expect(result.converged).toBe(true);
  });
});

describe("repair of a sink the report could not read", () => {
  async function unreadableReport() {
    const s = await drifted();
    const broken: ReconcileSink = {
      ...s.sink,
      observe: () => {
        throw new Error("connection reset");
      },
    };
    const report = await reconcile({ ledger: s.ledger, sinks: [broken], clock: s.clock.now });
    expect(report.sinks[0]?.error?.message).toBe("connection reset");
    return { ...s, report };
  }

  it("refuses to repair it while it is still inconsistent, and says why", async () => {
    const { ledger, sink, clock, report } = await unreadableReport();
    const result = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(result.actions).toEqual([]);
    expect(result.converged).toBe(false);
    expect(result.sinks).toEqual([
      {
        name: "store",
        ...summary,
        converged: false,
        error: {
          code: "sink_read_failed",
          message:
            "the report could not read this sink (connection reset): reconcile again, then repair",
        },
      },
    ]);
  });

  it("takes it as repaired once it reads back consistent", async () => {
    const { ledger, sink, clock, report, key } = await unreadableReport();
    sink.put(key(5), order(5), 1);
    sink.delete("ghost");
    await sink.guard?.deliverAll([]);
    const fix = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const fixed = await repair(fix, { ledger, sinks: [sink], clock: clock.now });
    expect(fixed.converged).toBe(true);
    const result = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(result.converged).toBe(true);
    expect(result.sinks).toEqual([{ name: "store", ...summary }]);
  });

  it("does not plan for a sink unreadable at the recheck", async () => {
    const { ledger, sink, clock } = await drifted();
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const broken: ReconcileSink = {
      ...sink,
      observe: () => {
        throw new Error("gone");
      },
    };
    const result = await repair(report, { ledger, sinks: [broken], clock: clock.now });
    expect(result.actions).toEqual([]);
    expect(result.sinks).toEqual([
      {
        name: "store",
        ...summary,
        converged: false,
        error: { code: "sink_read_failed", message: "gone" },
      },
    ]);
  });
});

describe("repair and interrupted intents", () => {
  it("an intent naming no key stays unsettled: the sink does not converge", async () => {
    const s = await build(3);
    await s.sink.guard?.deliverAll(s.envelopes);
    const other = createMemorySink({
      name: "other",
      ledger: s.ledger,
      lagToleranceMs: LAG,
      guardOptions: { clock: s.clock.now },
    });
    await other.guard?.deliverAll(s.envelopes);
    await s.ledger.appendAudit({
      actor: "crashed",
      action: "rewrite",
      reason: "test",
      subject: { sink: "store" },
      phase: "intent",
    });
    const sinks = [s.sink, other];
    const report = await reconcile({ ledger: s.ledger, sinks, clock: s.clock.now });
    const plan = await repair(report, {
      ledger: s.ledger,
      sinks,
      clock: s.clock.now,
      dryRun: true,
    });
    expect(plan.actions).toEqual([]);
    expect(plan.interrupted.map((i) => [i.sink, i.status, i.found])).toEqual([
      ["store", "unsettled", "unknown"],
    ]);
    expect(plan.converged).toBe(false);
    const result = await repair(report, { ledger: s.ledger, sinks, clock: s.clock.now });
    expect(result.converged).toBe(false);
    expect(result.sinks).toEqual([
      { name: "store", ...summary, converged: false, interrupted: 1 },
      { name: "other", ...summary },
    ]);
  });
});

describe("repair lifts the policy's freeze", () => {
  it("audits the lift with the reason, with and without options.reason", async () => {
    for (const reason of [undefined, "INC-9"]) {
      const { ledger, sink, clock } = await drifted();
      const report = await reconcile({
        ledger,
        sinks: [sink],
        clock: clock.now,
        freezeOn: { unexpected: 0 },
      });
      const result = await repair(report, { ledger, sinks: [sink], clock: clock.now, reason });
      expect(result.sinks[0]?.unfrozen).toBe(true);
      const lift = (await auditOf(ledger)).at(-1);
      expect(lift?.action).toBe("unfreeze");
      expect(lift?.reason).toBe(
        reason === undefined ? "repair converged" : "repair converged (INC-9)",
      );
    }
  });

  it("lifts the freeze of a sink with no guard through the ledger", async () => {
    const s = await build(3);
    const bare = createMemorySink({ name: "bare" });
    for (const e of s.envelopes) bare.put(e.key, e.payload);
    bare.put("ghost", { id: "ghost" });
    const plain: ReconcileSink = {
      name: "bare",
      observe: bare.observe,
      remove: bare.remove,
      lagToleranceMs: LAG,
    };
    const report = await reconcile({
      ledger: s.ledger,
      sinks: [plain],
      clock: s.clock.now,
      freezeOn: { unexpected: 0 },
    });
    expect((await s.ledger.getFreezes("bare")).length).toBe(1);
    const result = await repair(report, { ledger: s.ledger, sinks: [plain], clock: s.clock.now });
    expect(result.converged).toBe(true);
    expect(result.sinks[0]?.unfrozen).toBe(true);
    expect(await s.ledger.getFreezes("bare")).toEqual([]);
  });

  it("keeps the freeze while the whole ledger does not read back consistent there", async () => {
    const { ledger, sink, clock, key } = await drifted();
    const full = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const from = full.range.from;
    const report = await reconcile({
      ledger,
      sinks: [sink],
      clock: clock.now,
      range: { from, to: from + 6 },
      freezeOn: { duplicate: 0 },
    });
    expect(report.sinks[0]?.findings.map((f) => f.key)).toContain(key(5));
    expect((await ledger.getFreezes("store")).length).toBe(1);
    const result = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(result.unresolved).toEqual([]);
    expect(result.sinks[0]?.unfrozen).toBe(false);
    expect((await ledger.getFreezes("store")).length).toBe(1);
  });
});
