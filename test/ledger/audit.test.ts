/**
 * The audit chain's two-phase records, below the ledgers: hashes of records without a
 * phase are what they were before phases existed, and the verifier reports interrupted
 * intents (not damage) and outcomes that settle nothing (damage) in a chain rebuilt by hand.
 */
import { describe, expect, it } from "vitest";
import type { AuditInput } from "../../src/index.js";
import { verifyAuditChain } from "../../src/ledger/index.js";
import { auditChain } from "../helpers.js";

const note: AuditInput = { actor: "ops", action: "note", reason: "n" };
const intent: AuditInput = { actor: "r", action: "replay", reason: "i", phase: "intent" };
const outcome = (of: number): AuditInput => ({
  actor: "r",
  action: "replay",
  reason: "o",
  phase: "outcome",
  intent: of,
});

describe("audit records with phases", () => {
  it("a record without phase hashes exactly as before phases existed", () => {
    const [a, b] = auditChain([
      {
        actor: "ops",
        action: "replay",
        reason: "r",
        subject: { sink: "s", key: "k", position: 1 },
        before: null,
        after: "xxh64:0123456789abcdef",
        details: { a: 1 },
      },
      { actor: "ops", action: "note", reason: "n" },
    ]);
    // Computed with the code before `phase` and `intent` were added.
    expect(a?.hash).toBe("2ea3fab50e5693975d5d2f04a26dc14fa05610f93659c5e2f1f1675d8760645a");
    expect(b?.hash).toBe("7e502b553ae97e7d52dcc69ad75ea63046d24a48837f0ceae3bab3c59eb63e1b");
    expect(a !== undefined && ("phase" in a || "intent" in a)).toBe(false);
  });

  it("phase and intent are hashed: editing either is seen", async () => {
    const records = auditChain([intent, outcome(1)]);
    const check = await verifyAuditChain(records);
    expect(check).toMatchObject({ ok: true, interrupted: [] });
    const edited = records.map((r, i) => (i === 1 ? { ...r, intent: 2 } : r));
    const bad = await verifyAuditChain(edited);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems.map((p) => p.code)).toContain("edited");
  });

  it("lists intents without an outcome as interrupted, in order, and keeps ok", async () => {
    const records = auditChain([intent, intent, note, outcome(2), intent]);
    const check = await verifyAuditChain(records);
    expect(check.ok).toBe(true);
    expect(check.interrupted.map((r) => r.index)).toEqual([1, 5]);
  });

  it("an outcome that settles nothing, or settles twice, breaks the chain (and interrupted is still listed)", async () => {
    const codes = async (inputs: AuditInput[]) => {
      const result = await verifyAuditChain(auditChain(inputs));
      return {
        codes: result.ok ? [] : result.problems.map((p) => [p.index, p.code]),
        interrupted: result.interrupted.map((r) => r.index),
      };
    };
    expect(await codes([note, outcome(1)])).toEqual({
      codes: [[2, "unmatched_outcome"]],
      interrupted: [],
    });
    expect(await codes([intent, outcome(3), intent])).toEqual({
      codes: [[2, "unmatched_outcome"]],
      interrupted: [1, 3],
    });
    expect(await codes([intent, outcome(1), outcome(1), intent])).toEqual({
      codes: [[3, "settled_twice"]],
      interrupted: [4],
    });
  });
});
