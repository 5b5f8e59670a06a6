/**
 * The steps of repair, one at a time: what `plan` answers for each finding, the audit
 * records `execute` writes (exact subject and details) and what it returns, and the
 * digest-mode read-back of repaired rows (`digestRowsUnresolved`).
 */
import { describe, expect, it } from "vitest";
import type {
  AuditRecord,
  Finding,
  Ledger,
  ReconcileReport,
  ReconcileSink,
} from "../../src/index.js";
import type { RepairAction, RepairOutcome } from "../../src/reconcile/repair.js";
import { digestRowsUnresolved, execute, plan } from "../../src/reconcile/repair-steps.js";
import { build, LAG } from "./scenario.js";

const C1 = `sha256:${"a".repeat(64)}`;
const C2 = `sha256:${"b".repeat(64)}`;

function finding(f: Record<string, unknown>): Finding {
  return f as unknown as Finding;
}

function sinkWith(s: Record<string, unknown>): ReconcileSink {
  return { name: "store", ...s } as unknown as ReconcileSink;
}

const guard = { deliver: async () => ({ status: "replayed" }) };
const remove = () => {};

async function auditOf(ledger: Ledger): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const record of ledger.scanAudit()) out.push(record);
  return out;
}

describe("plan", () => {
  it("replays a missing entry through the guard, or flags it without one", () => {
    const f = finding({ kind: "missing-lost", key: "k", position: 3, expected: C1 });
    expect(plan(f, sinkWith({}))).toEqual({
      sink: "store",
      key: "k",
      position: 3,
      before: null,
      finding: "missing-lost",
      action: "flag",
      reason: "missing-lost: the sink has no guard to replay through",
      after: null,
    });
    expect(plan(f, sinkWith({ guard }))).toEqual({
      sink: "store",
      key: "k",
      position: 3,
      before: null,
      finding: "missing-lost",
      action: "replay",
      reason: "missing-lost: replay through the guard",
      after: C1,
    });
    const late = plan(
      finding({ kind: "missing-late", key: "k", position: 3 }),
      sinkWith({ guard }),
    );
    expect(late.after).toBeNull();
    expect("mismatch" in late).toBe(false);
  });

  it("removes and replays a mismatched row when the sink cannot rewrite, keeping why it mismatched", () => {
    const f = finding({
      kind: "mismatched",
      key: "k",
      position: 1,
      observed: C2,
      expected: C1,
      mismatch: "payload",
    });
    expect(plan(f, sinkWith({ guard, remove }))).toEqual({
      sink: "store",
      key: "k",
      position: 1,
      before: C2,
      mismatch: "payload",
      finding: "mismatched",
      action: "remove-and-replay",
      reason: "mismatched: remove, then replay through the guard",
      after: C1,
    });
    const noExpected = finding({ kind: "mismatched", key: "k", position: 1, observed: C2 });
    const planned = plan(noExpected, sinkWith({ guard, remove }));
    expect(planned.after).toBeNull();
    expect("mismatch" in planned).toBe(false);
    expect(plan(f, sinkWith({ remove })).action).toBe("flag");
    expect(plan(f, sinkWith({ guard })).action).toBe("flag");
  });

  it("says how many copies of a duplicate it removes", () => {
    const f = (count?: number) =>
      finding({ kind: "duplicate", key: "k", position: 1, observed: C1, expected: C1, count });
    expect(plan(f(3), sinkWith({ guard, remove })).reason).toBe(
      "duplicate (3 copies): remove every copy, then replay one",
    );
    expect(plan(f(), sinkWith({ guard, remove })).reason).toBe(
      "duplicate (2 copies): remove every copy, then replay one",
    );
  });
});

async function setup(n = 3, digest = false) {
  const s = await build(n, digest ? { digest, observe: "both" } : {});
  await s.sink.guard?.deliverAll(s.envelopes);
  s.clock.advance(LAG + 1);
  const e = s.envelopes[1] as (typeof s.envelopes)[number];
  return { ...s, e };
}

function action(a: Partial<RepairAction> & Pick<RepairAction, "action" | "key">): RepairAction {
  return { sink: "store", finding: "missing-lost", reason: "R", before: null, after: C1, ...a };
}

describe("execute", () => {
  it("flags with one record: subject with position, finding and mismatch, reason with why", async () => {
    const { ledger } = await setup();
    const a = action({
      action: "flag",
      key: "k",
      position: 7,
      finding: "mismatched",
      mismatch: "payload",
      before: C2,
      after: C2,
    });
    const out = await execute(ledger, sinkWith({}), a, "alice", "INC-1");
    expect(out).toEqual({ ...a, status: "flagged", audit: out.audit });
    const [record] = await auditOf(ledger);
    expect(record).toMatchObject({
      actor: "alice",
      action: "flag",
      reason: "R (INC-1)",
      before: C2,
      after: C2,
      index: out.audit,
    });
    expect(record?.subject).toStrictEqual({ sink: "store", key: "k", position: 7 });
    expect(record?.details).toStrictEqual({
      finding: "mismatched",
      mismatch: "payload",
      outcome: "flagged",
    });
  });

  it("without position, mismatch or why, records none of them", async () => {
    const { ledger } = await setup();
    const a = action({ action: "flag", key: "ghost", finding: "unexpected", before: C2 });
    await execute(ledger, sinkWith({}), a, "bob", undefined);
    const [record] = await auditOf(ledger);
    expect(record?.reason).toBe("R");
    expect(record?.subject).toStrictEqual({ sink: "store", key: "ghost" });
    expect(record?.details).toStrictEqual({ finding: "unexpected", outcome: "flagged" });
  });

  it("a removal: intent then outcome, no receipt in the details", async () => {
    const { ledger } = await setup();
    const removed: string[] = [];
    const sink = sinkWith({ remove: (k: string) => void removed.push(k) });
    const a = action({
      action: "remove",
      key: "ghost",
      finding: "unexpected",
      before: C2,
      after: null,
    });
    const out = await execute(ledger, sink, a, "bob", undefined);
    expect(removed).toEqual(["ghost"]);
    expect(out).toMatchObject({
      status: "done",
      after: null,
      receipt: undefined,
      error: undefined,
    });
    const [intent, outcome] = await auditOf(ledger);
    expect(intent).toMatchObject({ phase: "intent", before: C2, after: null });
    expect(intent?.details).toStrictEqual({ finding: "unexpected" });
    expect(outcome).toMatchObject({ phase: "outcome", intent: intent?.index, after: null });
    expect(outcome?.details).toStrictEqual({ finding: "unexpected", outcome: "done" });
  });

  for (const status of ["written", "duplicate", "replayed"] as const) {
    it(`a replay the guard answers ${status} is done, with the receipt recorded`, async () => {
      const { ledger, e } = await setup();
      const sink = sinkWith({ guard: { deliver: async () => ({ status }) } });
      const a = action({ action: "replay", key: e.key, position: 1, after: e.checksum });
      const out = await execute(ledger, sink, a, "bob", undefined);
      expect(out).toMatchObject({ status: "done", receipt: status, after: e.checksum });
      expect(out.error).toBeUndefined();
      const records = await auditOf(ledger);
      expect(records[1]?.details).toStrictEqual({
        finding: "missing-lost",
        outcome: "done",
        receipt: status,
      });
      expect(records[1]?.after).toBe(e.checksum);
    });
  }

  it("a replay the guard refuses fails with the receipt status as the error", async () => {
    const { ledger, e } = await setup();
    const sink = sinkWith({ guard: { deliver: async () => ({ status: "rejected" }) } });
    const a = action({ action: "replay", key: e.key, position: 1, after: e.checksum });
    const out = await execute(ledger, sink, a, "bob", undefined);
    const error = { code: "rejected", message: "the guard answered rejected" };
    expect(out).toMatchObject({ status: "failed", receipt: "rejected", after: null, error });
    const records = await auditOf(ledger);
    expect(records[1]?.after).toBeNull();
    expect(records[1]?.details).toStrictEqual({
      finding: "missing-lost",
      outcome: "failed",
      receipt: "rejected",
      error,
    });
  });

  it("records at most 1024 characters of an error message, and returns it whole", async () => {
    const { ledger, e } = await setup();
    const long = "x".repeat(2000);
    const sink = sinkWith({
      guard: { deliver: async () => ({ status: "conflict", error: { code: "c", message: long } }) },
    });
    const a = action({ action: "replay", key: e.key, position: 1, after: e.checksum });
    const out = await execute(ledger, sink, a, "bob", undefined);
    expect(out.error).toEqual({ code: "c", message: long });
    const records = await auditOf(ledger);
    expect(records[1]?.details).toStrictEqual({
      finding: "missing-lost",
      outcome: "failed",
      receipt: "conflict",
      error: { code: "c", message: long.slice(0, 1024) },
    });
  });

  it("a sink that throws fails the action with repair_failed (or the error's code)", async () => {
    const { ledger } = await setup();
    const sink = sinkWith({
      remove: () => {
        throw new Error("disk gone");
      },
    });
    const a = action({
      action: "remove",
      key: "ghost",
      finding: "unexpected",
      before: C2,
      after: null,
    });
    const out = await execute(ledger, sink, a, "bob", undefined);
    const error = { code: "repair_failed", message: "disk gone" };
    expect(out).toMatchObject({ status: "failed", after: C2, error });
    const records = await auditOf(ledger);
    expect(records[1]?.after).toBe(C2);
    expect(records[1]?.details).toStrictEqual({ finding: "unexpected", outcome: "failed", error });
    const coded = sinkWith({
      remove: () => {
        throw Object.assign(new Error("busy"), { code: "EBUSY" });
      },
    });
    const again = await execute(ledger, coded, a, "bob", undefined);
    expect(again.error).toEqual({ code: "EBUSY", message: "busy" });
  });

  it("a key the ledger does not hold fails: it is not in the ledger", async () => {
    const { ledger } = await setup();
    const a = action({ action: "replay", key: "nope", after: C1 });
    const out = await execute(ledger, sinkWith({ guard }), a, "bob", undefined);
    expect(out).toMatchObject({
      status: "failed",
      error: { code: "repair_failed", message: "nope is not in the ledger" },
    });
  });
});

describe("digestRowsUnresolved", () => {
  async function edited() {
    const s = await setup(5, true);
    s.sink.tamper(s.e.key, { payload: { broken: true } });
    const outcome = {
      ...action({ action: "rewrite", key: s.e.key, position: 1, finding: "mismatched" }),
      before: s.e.checksum,
      after: s.e.checksum,
      status: "done",
    } as RepairOutcome;
    const byName = new Map<string, ReconcileSink>([["store", s.sink]]);
    return { ...s, outcome, byName };
  }
  const report = (...sinks: Record<string, unknown>[]) => ({ sinks }) as unknown as ReconcileReport;
  const digestBasis = { name: "store", basis: "digest" };
  const none = new Map<string, Finding>();

  it("reports a repaired row whose payload does not hash to its stored checksum", async () => {
    const { outcome, byName, e } = await edited();
    const out = await digestRowsUnresolved(
      [outcome],
      report({ name: "other", basis: "observe" }, digestBasis),
      byName,
      none,
    );
    expect(out).toEqual([
      {
        sink: "store",
        key: e.key,
        finding: "mismatched",
        reason: expect.stringMatching(
          /^still mismatched \(payload-edited\) after rewrite: the row's payload hashes to [a-z0-9]+:[0-9a-f]+, not to its stored checksum$/,
        ),
      },
    ]);
  });

  it("checks nothing without a digest-mode verification, a digest, a done repair or when still found", async () => {
    const { outcome, byName, e, sink } = await edited();
    expect(await digestRowsUnresolved([outcome], undefined, byName, none)).toEqual([]);
    expect(await digestRowsUnresolved([outcome], report(), byName, none)).toEqual([]);
    const observe = report({ name: "store", basis: "observe" });
    expect(await digestRowsUnresolved([outcome], observe, byName, none)).toEqual([]);
    const failed = report({ ...digestBasis, error: { code: "x", message: "y" } });
    expect(await digestRowsUnresolved([outcome], failed, byName, none)).toEqual([]);
    const noDigest = new Map([["store", sinkWith({ observe: sink.observe })]]);
    expect(await digestRowsUnresolved([outcome], report(digestBasis), noDigest, none)).toEqual([]);
    expect(await digestRowsUnresolved([outcome], report(digestBasis), new Map(), none)).toEqual([]);
    const notDone = { ...outcome, status: "failed" } as RepairOutcome;
    expect(await digestRowsUnresolved([notDone], report(digestBasis), byName, none)).toEqual([]);
    const still = new Map([[`store\u0000${e.key}`, finding({ kind: "mismatched", key: e.key })]]);
    expect(await digestRowsUnresolved([outcome], report(digestBasis), byName, still)).toEqual([]);
  });

  it("a self-consistent repaired row is not reported", async () => {
    const s = await setup(5, true);
    const outcome = {
      ...action({ action: "replay", key: s.e.key, position: 1, after: s.e.checksum }),
      status: "done",
    } as RepairOutcome;
    const byName = new Map<string, ReconcileSink>([["store", s.sink]]);
    expect(await digestRowsUnresolved([outcome], report(digestBasis), byName, none)).toEqual([]);
  });

  it("names the sink's observeRange when it returns a row outside the range asked for", async () => {
    const { outcome, e } = await edited();
    const stray = {
      digest: () => {
        throw new Error("unused");
      },
      observeRange: async function* () {
        yield { key: `${e.key}-other`, checksum: C1 };
      },
    };
    const byName = new Map([["store", sinkWith({ digest: stray })]]);
    await expect(
      digestRowsUnresolved([outcome], report(digestBasis), byName, none),
    ).rejects.toMatchObject({ path: 'sinks["store"].digest.observeRange()' });
  });
});
