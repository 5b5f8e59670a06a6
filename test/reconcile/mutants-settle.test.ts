/**
 * Settling interrupted repair actions (settle.ts) pinned exactly, where its mutation run
 * found it loose (the crash tests that reach it run real processes and are left out of
 * mutation): each verdict (`unknown` for an unreadable sink, an intent with no key, a
 * position outside the recheck's range; `completed`; `incomplete` with its finding), the
 * status of each (`unsettled`, `planned` in a dry run, `settled` with its outcome record),
 * the outcome record appended to close the intent (reason, subject, before and after,
 * details), and an intent that another repair settled meanwhile. Also how the open
 * intents are read from the audit log (interrupted.ts): by sink, in log order, only
 * intents, and only until an outcome names them.
 */
import { describe, expect, it } from "vitest";
import {
  type AuditInput,
  type Finding,
  InvalidArgumentError,
  LedgerError,
  MemoryLedger,
  type ReconcileReport,
} from "../../src/index.js";
import { interruptedAction, interruptedBySink } from "../../src/reconcile/interrupted.js";
import { type SettleContext, settleInterrupted } from "../../src/reconcile/settle.js";
import type { InterruptedAction } from "../../src/reconcile/types.js";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const BEFORE = `sha256:${"a".repeat(64)}`;
const AFTER = `sha256:${"b".repeat(64)}`;
const SEEN = `sha256:${"c".repeat(64)}`;

const findingKey = (sink: string, key: string) => `${sink}\u0000${key}`;

/** A ledger holding one open intent per input; returns the actions the recheck would list. */
async function withIntents(
  ...intents: readonly Omit<AuditInput, "phase" | "reason" | "actor">[]
): Promise<{ ledger: MemoryLedger; actions: InterruptedAction[] }> {
  const ledger = new MemoryLedger({ clock: () => T0 });
  const actions: InterruptedAction[] = [];
  for (const input of intents) {
    const record = await ledger.appendAudit({
      actor: "repair-1",
      reason: "replaying",
      phase: "intent",
      ...input,
    });
    actions.push({
      intent: record.index,
      time: record.time,
      actor: record.actor,
      action: record.action,
      ...(record.subject?.key === undefined ? {} : { key: record.subject.key }),
      ...(record.subject?.position === undefined ? {} : { position: record.subject.position }),
      ...(record.before === undefined ? {} : { before: record.before }),
      ...(record.after === undefined ? {} : { after: record.after }),
    });
  }
  return { ledger, actions };
}

function recheck(
  sinks: readonly { name: string; interrupted?: readonly InterruptedAction[] }[],
  range: { from: number; to: number } = { from: 1, to: 10 },
): ReconcileReport {
  return { range, sinks } as unknown as ReconcileReport;
}

function context(
  ledger: MemoryLedger,
  report: ReconcileReport | undefined,
  over: Partial<SettleContext> = {},
): SettleContext {
  return {
    ledger,
    recheck: report,
    current: new Map(),
    findingKey,
    unreadable: new Map(),
    dryRun: false,
    actor: "repair-2",
    why: undefined,
    ...over,
  };
}

async function auditOf(ledger: MemoryLedger) {
  const out = [];
  for await (const record of ledger.scanAudit()) out.push(record);
  return out;
}

const replayOf = (key: string | undefined, position?: number) => ({
  action: "replay",
  subject: {
    sink: "warehouse",
    ...(key === undefined ? {} : { key }),
    ...(position === undefined ? {} : { position }),
  },
  before: BEFORE,
  after: AFTER,
});

describe("settleInterrupted: the verdicts", () => {
  it("no recheck, or a sink with no interrupted list, settles nothing", async () => {
    const { ledger } = await withIntents(replayOf("k1", 3));
    expect(await settleInterrupted(context(ledger, undefined))).toEqual([]);
    expect(await settleInterrupted(context(ledger, recheck([{ name: "warehouse" }])))).toEqual([]);
    expect(await auditOf(ledger)).toHaveLength(1);
  });

  it("an unreadable sink leaves its intent unsettled, with the reason, and appends nothing", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 3));
    const out = await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }]), {
        unreadable: new Map([["warehouse", { code: "sink_read_failed", message: "down" }]]),
      }),
    );
    expect(out).toEqual([
      {
        sink: "warehouse",
        intent: 1,
        action: "replay",
        key: "k1",
        position: 3,
        found: "unknown",
        reason: "the sink could not be read back to recheck it",
        status: "unsettled",
      },
    ]);
    expect(await auditOf(ledger)).toHaveLength(1);
  });

  it("an unreadable sink is only that sink: another sink's intent is settled", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 3), replayOf("k2", 4));
    const out = await settleInterrupted(
      context(
        ledger,
        recheck([
          { name: "warehouse", interrupted: [actions[0] as InterruptedAction] },
          { name: "search", interrupted: [actions[1] as InterruptedAction] },
        ]),
        { unreadable: new Map([["warehouse", { code: "x", message: "down" }]]) },
      ),
    );
    expect(out.map((s) => [s.sink, s.found, s.status])).toEqual([
      ["warehouse", "unknown", "unsettled"],
      ["search", "completed", "settled"],
    ]);
  });

  it("an intent with no key stays unsettled, and the settlement has no key field", async () => {
    const { ledger, actions } = await withIntents(replayOf(undefined, 3));
    const out = await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }])),
    );
    expect(out).toEqual([
      {
        sink: "warehouse",
        intent: 1,
        action: "replay",
        position: 3,
        found: "unknown",
        reason: "the intent names no key to recheck",
        status: "unsettled",
      },
    ]);
    expect(Object.hasOwn(out[0] as object, "key")).toBe(false);
  });

  it.each([
    [3, "completed"],
    [10, "completed"],
    [2, "unknown"],
    [11, "unknown"],
  ] as const)("position %i against the recheck's range 3..10: %s", async (position, found) => {
    const { ledger, actions } = await withIntents(replayOf("k1", position));
    const [out] = await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }], { from: 3, to: 10 }), {
        dryRun: true,
      }),
    );
    expect(out?.found).toBe(found);
    if (found === "unknown") {
      expect(out?.reason).toBe(
        `position ${position} is outside the range rechecked (3 to 10): repair a report that covers it`,
      );
      expect(out?.status).toBe("unsettled");
    } else {
      expect(out?.status).toBe("planned");
    }
  });

  it("an intent with no position is rechecked whatever the range, and has no position field", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1"));
    const [out] = await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }], { from: 5, to: 6 }), {
        dryRun: true,
      }),
    );
    expect(out).toEqual({
      sink: "warehouse",
      intent: 1,
      action: "replay",
      key: "k1",
      found: "completed",
      reason: "the recheck found the key as the ledger has it",
      status: "planned",
    });
    expect(Object.hasOwn(out as object, "position")).toBe(false);
  });

  it("a removal whose key is gone is completed, and says so", async () => {
    const { ledger, actions } = await withIntents({
      ...replayOf("k1", 2),
      action: "remove",
      after: null,
    });
    const [out] = await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }]), { dryRun: true }),
    );
    expect(out?.found).toBe("completed");
    expect(out?.reason).toBe("the recheck found the key gone, as the action aimed");
  });

  it("a key the recheck still finds wrong is incomplete, with its finding", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 2));
    const finding = {
      kind: "mismatched",
      key: "k1",
      position: 2,
      observed: SEEN,
    } as unknown as Finding;
    const [out] = await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }]), {
        dryRun: true,
        current: new Map([[findingKey("warehouse", "k1"), finding]]),
      }),
    );
    expect(out).toEqual({
      sink: "warehouse",
      intent: 1,
      action: "replay",
      key: "k1",
      position: 2,
      found: "incomplete",
      finding: "mismatched",
      reason: "the recheck found the key mismatched",
      status: "planned",
    });
  });

  it("a finding of the same key on another sink does not count", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 2));
    const finding = { kind: "missing-lost", key: "k1", position: 2 } as unknown as Finding;
    const [out] = await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }]), {
        dryRun: true,
        current: new Map([[findingKey("search", "k1"), finding]]),
      }),
    );
    expect(out?.found).toBe("completed");
  });
});

describe("settleInterrupted: the outcome record", () => {
  it("a dry run appends nothing", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 2));
    await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }]), { dryRun: true }),
    );
    expect(await auditOf(ledger)).toHaveLength(1);
    expect((await ledger.verifyAudit()).interrupted).toHaveLength(1);
  });

  it("a completed action gets an outcome that closes its intent, after = what it aimed at", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 2));
    const out = await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }])),
    );
    expect(out).toEqual([
      {
        sink: "warehouse",
        intent: 1,
        action: "replay",
        key: "k1",
        position: 2,
        found: "completed",
        reason: "the recheck found the key as the ledger has it",
        status: "settled",
        audit: 2,
      },
    ]);
    const [, record] = await auditOf(ledger);
    expect(record).toMatchObject({
      index: 2,
      actor: "repair-2",
      action: "replay",
      reason: "settled after an interruption: the recheck found the key as the ledger has it",
      subject: { sink: "warehouse", key: "k1", position: 2 },
      before: BEFORE,
      after: AFTER,
      phase: "outcome",
      intent: 1,
      details: {
        outcome: "interrupted",
        found: "completed",
        finding: "matched",
        interruptedAt: "2026-01-01T00:00:00.000Z",
        interruptedActor: "repair-1",
      },
    });
    expect((await ledger.verifyAudit()).interrupted).toEqual([]);
  });

  it("the repair's reason is added in brackets when given", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 2));
    await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }]), {
        why: "INC-42",
      }),
    );
    const [, record] = await auditOf(ledger);
    expect(record?.reason).toBe(
      "settled after an interruption: the recheck found the key as the ledger has it (INC-42)",
    );
  });

  it("an incomplete action's outcome records what the sink holds as after, and the finding", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 2));
    const finding = {
      kind: "mismatched",
      key: "k1",
      position: 2,
      observed: SEEN,
    } as unknown as Finding;
    await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }]), {
        current: new Map([[findingKey("warehouse", "k1"), finding]]),
      }),
    );
    const [, record] = await auditOf(ledger);
    expect(record).toMatchObject({
      before: BEFORE,
      after: SEEN,
      details: { found: "incomplete", finding: "mismatched" },
    });
  });

  it("a missing key (nothing observed) records after = null", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 2));
    const finding = { kind: "missing-lost", key: "k1", position: 2 } as unknown as Finding;
    await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }]), {
        current: new Map([[findingKey("warehouse", "k1"), finding]]),
      }),
    );
    const [, record] = await auditOf(ledger);
    expect(record?.after).toBeNull();
    expect(record?.details).toMatchObject({ found: "incomplete", finding: "missing-lost" });
  });

  it("an intent without before or after records null for both, and no position when none", async () => {
    const { ledger, actions } = await withIntents({
      action: "replay",
      subject: { sink: "warehouse", key: "k1" },
    });
    await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }])),
    );
    const [, record] = await auditOf(ledger);
    expect(record?.before).toBeNull();
    expect(record?.after).toBeNull();
    expect(record?.subject).toEqual({ sink: "warehouse", key: "k1" });
  });

  it("an intent another repair settled meanwhile is reported settled, not an error", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 2));
    await ledger.appendAudit({
      actor: "repair-3",
      action: "replay",
      reason: "done",
      phase: "outcome",
      intent: 1,
    });
    const out = await settleInterrupted(
      context(ledger, recheck([{ name: "warehouse", interrupted: actions }])),
    );
    expect(out).toEqual([
      {
        sink: "warehouse",
        intent: 1,
        action: "replay",
        key: "k1",
        position: 2,
        found: "completed",
        status: "settled",
        reason:
          "the recheck found the key as the ledger has it; another repair appended its outcome meanwhile",
      },
    ]);
    expect(await auditOf(ledger)).toHaveLength(2);
  });

  it("any other append failure is thrown as it is", async () => {
    const { ledger, actions } = await withIntents(replayOf("k1", 2));
    const boom = new LedgerError("unavailable", "down");
    const failing = Object.assign(Object.create(ledger), {
      appendAudit: async () => {
        throw boom;
      },
    }) as MemoryLedger;
    await expect(
      settleInterrupted(context(failing, recheck([{ name: "warehouse", interrupted: actions }]))),
    ).rejects.toBe(boom);
    const other = new InvalidArgumentError("invalid_argument", "input.actor must be a string", {
      path: "input.actor",
    });
    const refusing = Object.assign(Object.create(ledger), {
      appendAudit: async () => {
        throw other;
      },
    }) as MemoryLedger;
    await expect(
      settleInterrupted(context(refusing, recheck([{ name: "warehouse", interrupted: actions }]))),
    ).rejects.toBe(other);
  });
});

describe("interruptedBySink: the open intents of the audit log", () => {
  const intentOn = (sink: string | undefined, key?: string): AuditInput => ({
    actor: "repair-1",
    action: "replay",
    reason: "r",
    phase: "intent",
    ...(sink === undefined ? {} : { subject: { sink, ...(key === undefined ? {} : { key }) } }),
  });

  it("lists the open intents of the sinks asked for, by sink, in log order", async () => {
    const ledger = new MemoryLedger({ clock: () => T0 });
    await ledger.appendAudit(intentOn("warehouse", "a")); // 1
    await ledger.appendAudit(intentOn("search", "b")); // 2
    await ledger.appendAudit(intentOn("warehouse", "c")); // 3
    await ledger.appendAudit(intentOn("cache", "d")); // 4: a sink not asked for
    await ledger.appendAudit(intentOn(undefined)); // 5: no subject
    await ledger.appendAudit({
      actor: "ops",
      action: "note",
      reason: "n",
      subject: { sink: "warehouse" },
    }); // 6: no phase
    const out = await interruptedBySink(ledger, new Set(["warehouse", "search"]));
    expect([...out.keys()]).toEqual(["warehouse", "search"]);
    expect(out.get("warehouse")?.map((a) => [a.intent, a.key])).toEqual([
      [1, "a"],
      [3, "c"],
    ]);
    expect(out.get("search")?.map((a) => [a.intent, a.key])).toEqual([[2, "b"]]);
  });

  it("an outcome closes only the intent it names", async () => {
    const ledger = new MemoryLedger({ clock: () => T0 });
    await ledger.appendAudit(intentOn("warehouse", "a")); // 1
    await ledger.appendAudit(intentOn("warehouse", "b")); // 2
    await ledger.appendAudit({
      actor: "repair-1",
      action: "replay",
      reason: "done",
      phase: "outcome",
      intent: 1,
    });
    const out = await interruptedBySink(ledger, new Set(["warehouse"]));
    expect(out.get("warehouse")?.map((a) => a.intent)).toEqual([2]);
  });

  it("a record without a phase that carries an index closes nothing", async () => {
    const ledger = new MemoryLedger({ clock: () => T0 });
    await ledger.appendAudit(intentOn("warehouse", "a")); // 1
    await ledger.appendAudit({
      actor: "ops",
      action: "note",
      reason: "about 1",
      details: { intent: 1 },
    });
    const out = await interruptedBySink(ledger, new Set(["warehouse"]));
    expect(out.get("warehouse")?.map((a) => a.intent)).toEqual([1]);
  });

  it("no open intent, no entry; none asked for, none listed", async () => {
    const ledger = new MemoryLedger({ clock: () => T0 });
    expect((await interruptedBySink(ledger, new Set(["warehouse"]))).size).toBe(0);
    await ledger.appendAudit(intentOn("warehouse", "a"));
    expect((await interruptedBySink(ledger, new Set())).size).toBe(0);
  });

  it("interruptedAction copies what the intent says and leaves out what it does not", async () => {
    const ledger = new MemoryLedger({ clock: () => T0 });
    const full = await ledger.appendAudit({
      ...intentOn("warehouse", "a"),
      subject: { sink: "warehouse", key: "a", position: 7 },
      before: BEFORE,
      after: null,
    });
    expect(interruptedAction(full)).toEqual({
      intent: 1,
      time: "2026-01-01T00:00:00.000Z",
      actor: "repair-1",
      action: "replay",
      key: "a",
      position: 7,
      before: BEFORE,
      after: null,
    });
    const bare = await ledger.appendAudit(intentOn(undefined));
    const action = interruptedAction(bare);
    expect(action).toEqual({
      intent: 2,
      time: "2026-01-01T00:00:00.000Z",
      actor: "repair-1",
      action: "replay",
    });
    expect(Object.keys(action)).toEqual(["intent", "time", "actor", "action"]);
    const keyOnly = await ledger.appendAudit({ ...intentOn("warehouse", "b"), after: AFTER });
    expect(Object.keys(interruptedAction(keyOnly))).toEqual([
      "intent",
      "time",
      "actor",
      "action",
      "key",
      "after",
    ]);
  });
});
