/**
 * Conformance cases for the audit log: part of the public ledger suite
 * (`ledgerConformance`). The hash chain (`ledgerAuditCases`): records chained and verified
 * with their head, every kind of damage to the chain as stored detected, input checked.
 * The two-phase records, intent before an action on a sink and outcome after it
 * (`ledgerAuditPhaseCases`): they prove that an adapter stores `phase` and `intent` as
 * given (JSON round trip, reopen included), that `verifyAudit` reports an intent with no
 * outcome as `interrupted` without calling the chain bad, and that the ledger refuses,
 * atomically, an outcome that settles no earlier open intent.
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.js";
import { verifyAuditChain } from "../ledger/audit.js";
import type { AuditRecord } from "../ledger/types.js";
import { type ConformanceGroup, collect, defineGroup, rejectsWith } from "./conformance-support.js";

async function refusesIntent(promise: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(
    promise,
    (e: unknown) => e instanceof InvalidArgumentError && e.path === "input.intent",
    message,
  );
}

const SUBJECT = { sink: "warehouse", key: "orders-svc/orders/1", position: 1 };

function intentInput(n = 1) {
  return {
    actor: "repair-job",
    action: "rewrite",
    reason: `mismatched: rewrite ${n}`,
    subject: SUBJECT,
    before: "xxh64:0123456789abcdef",
    after: "xxh64:fedcba9876543210",
    details: { finding: "mismatched" },
    phase: "intent" as const,
  };
}

function outcomeInput(intent: number) {
  return {
    actor: "repair-job",
    action: "rewrite",
    reason: "mismatched: rewrite",
    subject: SUBJECT,
    before: "xxh64:0123456789abcdef",
    after: "xxh64:fedcba9876543210",
    details: { finding: "mismatched", outcome: "done" },
    phase: "outcome" as const,
    intent,
  };
}

/**
 * Conformance cases for the audit log's hash chain: `appendAudit` chains records and
 * `verifyAudit` accepts the chain and returns its head; the chain as stored detects edited,
 * removed, reordered and inserted records and truncation, and a head the ledger never
 * reached; `appendAudit` checks its input. One of the groups {@link ledgerConformance}
 * runs.
 */
export const ledgerAuditCases: ConformanceGroup = defineGroup((test) => {
  test("appendAudit chains records; verifyAudit accepts the chain and returns its head", async (ledger) => {
    const empty = await ledger.verifyAudit();
    assert.ok(empty.ok && empty.count === 0 && empty.head === undefined);
    const a = await ledger.appendAudit({
      actor: "ops",
      action: "freeze",
      reason: "mismatch found",
      subject: { sink: "warehouse" },
    });
    const b = await ledger.appendAudit({
      actor: "repair-job",
      action: "replay",
      reason: "missing at sink",
      subject: { sink: "warehouse", key: "k", position: 1 },
      before: null,
      after: "xxh64:0123456789abcdef",
      details: { attempt: 1, note: "é" },
    });
    assert.equal(a.index, 1);
    assert.equal(b.index, 2);
    assert.equal(a.prevHash, "0".repeat(64));
    assert.equal(b.prevHash, a.hash);
    const records = await collect(ledger.scanAudit());
    assert.deepEqual(records, [a, b]);
    const result = await ledger.verifyAudit();
    assert.ok(result.ok);
    if (result.ok) assert.deepEqual(result.head, { index: 2, hash: b.hash });
    assert.ok((await ledger.verifyAudit({ head: { index: 2, hash: b.hash } })).ok);
  });

  test("the audit chain as stored detects edited, removed, reordered, inserted records and truncation", async (ledger) => {
    for (let i = 0; i < 4; i++)
      await ledger.appendAudit({ actor: "ops", action: "note", reason: `step ${i}` });
    const records = await collect(ledger.scanAudit());
    const head = { index: 4, hash: (records[3] as AuditRecord).hash };
    const codes = async (chain: AuditRecord[], known?: typeof head) => {
      const result = await verifyAuditChain(chain, known);
      return result.ok ? [] : result.problems.map((p) => p.code);
    };
    assert.deepEqual(await codes(records, head), []);
    const edited = records.map((r, i) => (i === 1 ? { ...r, reason: "rewritten" } : r));
    assert.ok((await codes(edited)).includes("edited"));
    assert.ok(
      (await codes([records[0], records[2], records[3]] as AuditRecord[])).includes("removed"),
    );
    assert.ok(
      (await codes([records[0], records[2], records[1], records[3]] as AuditRecord[])).includes(
        "reordered",
      ),
    );
    assert.ok(
      (
        await codes([records[0], records[1], records[1], records[2], records[3]] as AuditRecord[])
      ).includes("inserted"),
    );
    assert.deepEqual(await codes(records.slice(0, 3), head), ["truncated"]);
    // Against the ledger itself: a head it never reached reads as truncation.
    const check = await ledger.verifyAudit({ head: { index: 9, hash: head.hash } });
    assert.ok(!check.ok && check.problems.some((p) => p.code === "truncated"));
    const wrong = await ledger.verifyAudit({ head: { index: 4, hash: "f".repeat(64) } });
    assert.ok(!wrong.ok && wrong.problems.some((p) => p.code === "head_mismatch"));
  });

  test("appendAudit checks its input", async (ledger) => {
    await rejectsWith(
      ledger.appendAudit({ actor: "", action: "x", reason: "y" }),
      (e) => e instanceof InvalidArgumentError && e.path === "input.actor",
      "empty actor",
    );
    await rejectsWith(
      ledger.appendAudit({ actor: "a", action: "x", reason: "y", details: { n: Number.NaN } }),
      (e) => e instanceof InvalidArgumentError,
      "NaN in details",
    );
    assert.equal((await ledger.verifyAudit()).count, 0);
  });
});

/**
 * Conformance cases for the audit log's two-phase records: intent and outcome records keep
 * `phase` and `intent`, an intent with no outcome is `interrupted` (not damage), an outcome
 * that settles no earlier open intent is refused and nothing of it kept, two racing
 * outcomes for one intent store exactly one; with `durable`, an interrupted intent
 * survives a reopen and is settled after it. One of the groups {@link ledgerConformance}
 * runs.
 */
export const ledgerAuditPhaseCases: ConformanceGroup = defineGroup((test, durable) => {
  test("intent and outcome records keep phase and intent; an intent with no outcome is interrupted, not damage", async (ledger) => {
    const plain = await ledger.appendAudit({ actor: "ops", action: "note", reason: "no phase" });
    assert.ok(!("phase" in plain) && !("intent" in plain), "a record without phase gains no field");
    const intent = await ledger.appendAudit(intentInput());
    assert.equal(intent.phase, "intent");
    assert.equal(intent.intent, undefined);
    const open = await ledger.verifyAudit();
    assert.ok(open.ok, "an open intent does not make the chain bad");
    assert.deepEqual(open.interrupted, [intent]);
    const outcome = await ledger.appendAudit(outcomeInput(intent.index));
    assert.equal(outcome.phase, "outcome");
    assert.equal(outcome.intent, intent.index);
    assert.deepEqual(await collect(ledger.scanAudit()), [plain, intent, outcome]);
    const settled = await ledger.verifyAudit({
      head: { index: outcome.index, hash: outcome.hash },
    });
    assert.ok(settled.ok);
    assert.deepEqual(settled.interrupted, []);
  });

  test("appendAudit refuses an outcome that settles no earlier open intent, and keeps nothing of it", async (ledger) => {
    const note = await ledger.appendAudit({
      actor: "ops",
      action: "note",
      reason: "not an intent",
    });
    const intent = await ledger.appendAudit(intentInput());
    const { intent: _drop, ...noIntent } = outcomeInput(intent.index);
    await refusesIntent(ledger.appendAudit(noIntent), "an outcome without intent");
    await refusesIntent(
      ledger.appendAudit({ ...intentInput(), intent: intent.index }),
      "intent on an intent record",
    );
    await refusesIntent(
      ledger.appendAudit({ actor: "a", action: "b", reason: "c", intent: 1 }),
      "intent without phase",
    );
    await refusesIntent(ledger.appendAudit(outcomeInput(note.index)), "an outcome for a note");
    await refusesIntent(ledger.appendAudit(outcomeInput(intent.index + 5)), "a later record");
    await assert.rejects(
      ledger.appendAudit({ ...outcomeInput(intent.index), intent: 0 }),
      (e: unknown) => e instanceof InvalidArgumentError,
      "index 0",
    );
    await assert.rejects(
      ledger.appendAudit({ ...intentInput(), phase: "started" as never }),
      (e: unknown) => e instanceof InvalidArgumentError && e.path === "input.phase",
      "an unknown phase",
    );
    const outcome = await ledger.appendAudit(outcomeInput(intent.index));
    await refusesIntent(ledger.appendAudit(outcomeInput(intent.index)), "settled twice");
    const records = await collect(ledger.scanAudit());
    assert.deepEqual(
      records.map((r) => r.index),
      [1, 2, 3],
    );
    assert.deepEqual(records.at(-1), outcome);
    const check = await ledger.verifyAudit();
    assert.ok(check.ok && check.interrupted.length === 0);
  });

  test("two racing outcomes for one intent: exactly one is stored", async (ledger) => {
    const intents: AuditRecord[] = [];
    for (let i = 0; i < 3; i++) intents.push(await ledger.appendAudit(intentInput(i)));
    const target = intents[1] as AuditRecord;
    const results = await Promise.allSettled([
      ledger.appendAudit(outcomeInput(target.index)),
      ledger.appendAudit(outcomeInput(target.index)),
      ledger.appendAudit(intentInput(9)),
    ]);
    const outcomes = results.slice(0, 2);
    assert.equal(outcomes.filter((r) => r.status === "fulfilled").length, 1, "one outcome stored");
    const refused = outcomes.find((r) => r.status === "rejected");
    assert.ok(
      refused?.status === "rejected" &&
        refused.reason instanceof InvalidArgumentError &&
        refused.reason.path === "input.intent",
      "the other refused at input.intent",
    );
    assert.equal(results[2]?.status, "fulfilled");
    const check = await ledger.verifyAudit();
    assert.ok(check.ok);
    assert.deepEqual(
      check.interrupted.map((r) => r.reason),
      ["mismatched: rewrite 0", "mismatched: rewrite 2", "mismatched: rewrite 9"],
    );
  });

  if (!durable) return;

  test("an interrupted intent survives a reopen and is settled after it", async (_ledger, t) => {
    let ledger = _ledger;
    const intent = await ledger.appendAudit(intentInput());
    ledger = await t.reopen();
    const open = await ledger.verifyAudit();
    assert.ok(open.ok);
    assert.deepEqual(open.interrupted, [intent]);
    const outcome = await ledger.appendAudit(outcomeInput(intent.index));
    await refusesIntent(ledger.appendAudit(outcomeInput(intent.index)), "settled twice");
    ledger = await t.reopen();
    assert.deepEqual(await collect(ledger.scanAudit()), [intent, outcome]);
    const check = await ledger.verifyAudit({ head: { index: 2, hash: outcome.hash } });
    assert.ok(check.ok && check.interrupted.length === 0);
    await refusesIntent(
      ledger.appendAudit(outcomeInput(intent.index)),
      "settled before the reopen",
    );
  });
});
