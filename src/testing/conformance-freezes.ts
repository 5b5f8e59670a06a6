/**
 * Conformance cases for durable, audited freezes per sink and origin: what lets a freeze
 * reach every guard of a sink. Part of the public suite (`ledgerConformance`); every adapter
 * runs them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.js";
import { type ConformanceGroup, collect, defineGroup, rejectsWith } from "./conformance-support.js";

/**
 * Conformance cases for freezes: `freezeSink` stores a freeze with its audit record and
 * keeps the first when frozen again, freezes of different origins are independent,
 * `unfreezeSink` lifts one origin or all, arguments are checked and a refused call records
 * nothing; with `durable`, freezes survive a reopen. One of the groups
 * {@link ledgerConformance} runs.
 */
export const ledgerFreezeCases: ConformanceGroup = defineGroup((test, durable) => {
  test("freezeSink stores the freeze with its audit record; freezing again keeps the first", async (ledger) => {
    assert.deepEqual(await ledger.getFreezes("warehouse"), []);
    const freeze = await ledger.freezeSink("warehouse", { reason: "checksum drift", actor: "ops" });
    assert.equal(freeze.sink, "warehouse");
    assert.equal(freeze.origin, "manual");
    assert.equal(freeze.reason, "checksum drift");
    assert.equal(freeze.actor, "ops");
    assert.ok(!Number.isNaN(Date.parse(freeze.since)));
    const records = await collect(ledger.scanAudit());
    assert.equal(records.length, 1);
    const record = records[0];
    assert.equal(record?.index, freeze.audit);
    assert.equal(record?.action, "freeze");
    assert.deepEqual(record?.subject, { sink: "warehouse" });
    assert.deepEqual(record?.details, { origin: "manual" });
    const again = await ledger.freezeSink("warehouse", { reason: "again", actor: "other" });
    assert.deepEqual(again, freeze, "the freeze in place is kept");
    assert.equal((await collect(ledger.scanAudit())).length, 1, "nothing recorded twice");
    assert.deepEqual(await ledger.getFreezes("warehouse"), [freeze]);
    assert.deepEqual(await ledger.getFreezes("search"), []);
    assert.deepEqual(await ledger.listFreezes(), [freeze]);
  });

  test("freezes of different origins are independent; unfreezeSink lifts one origin, or all", async (ledger) => {
    const manual = await ledger.freezeSink("warehouse", { reason: "by hand", actor: "ops" });
    const policy = await ledger.freezeSink("warehouse", {
      reason: "3 mismatched",
      actor: "reconcile-job",
      origin: "reconcile",
    });
    const other = await ledger.freezeSink("search", { reason: "x", actor: "ops" });
    assert.deepEqual(await ledger.getFreezes("warehouse"), [manual, policy]);
    assert.deepEqual(await ledger.listFreezes(), [other, manual, policy]);
    const lifted = await ledger.unfreezeSink("warehouse", {
      reason: "converged",
      actor: "repair-job",
      origin: "reconcile",
    });
    assert.deepEqual(lifted, [policy]);
    assert.deepEqual(await ledger.getFreezes("warehouse"), [manual]);
    assert.deepEqual(
      await ledger.unfreezeSink("warehouse", {
        reason: "nothing",
        actor: "x",
        origin: "reconcile",
      }),
      [],
      "lifting a freeze that is not there does nothing",
    );
    const all = await ledger.unfreezeSink("search", { reason: "fixed", actor: "ops" });
    assert.deepEqual(all, [other]);
    assert.deepEqual(await ledger.listFreezes(), [manual]);
    const records = await collect(ledger.scanAudit());
    assert.deepEqual(
      records.map((r) => [r.action, r.subject?.sink, (r.details as { origin?: string }).origin]),
      [
        ["freeze", "warehouse", "manual"],
        ["freeze", "warehouse", "reconcile"],
        ["freeze", "search", "manual"],
        ["unfreeze", "warehouse", "reconcile"],
        ["unfreeze", "search", "manual"],
      ],
    );
    assert.ok((await ledger.verifyAudit()).ok);
  });

  test("freeze arguments are checked, and a refused call records nothing", async (ledger) => {
    const bad = (path: string) => (e: unknown) =>
      e instanceof InvalidArgumentError && e.path === path;
    await rejectsWith(
      ledger.freezeSink("", { reason: "r", actor: "a" }),
      bad("sink"),
      "empty sink",
    );
    await rejectsWith(
      ledger.freezeSink("s", { reason: "", actor: "a" }),
      bad("input.reason"),
      "empty reason",
    );
    await rejectsWith(
      ledger.freezeSink("s", { reason: "r", actor: "a", origin: "" }),
      bad("input.origin"),
      "empty origin",
    );
    await rejectsWith(
      ledger.freezeSink("s", { reason: "r", actor: "a", orign: "x" } as never),
      (e) => e instanceof InvalidArgumentError,
      "unknown key",
    );
    await rejectsWith(
      ledger.unfreezeSink("s", null as never),
      (e) => e instanceof InvalidArgumentError,
      "no input",
    );
    assert.equal((await ledger.verifyAudit()).count, 0);
    assert.deepEqual(await ledger.listFreezes(), []);
  });

  if (!durable) return;

  test("freezes survive a reopen", async (_ledger, t) => {
    let ledger = _ledger;
    const kept = await ledger.freezeSink("warehouse", { reason: "drift", actor: "ops" });
    await ledger.freezeSink("search", { reason: "gone", actor: "ops" });
    await ledger.unfreezeSink("search", { reason: "back", actor: "ops" });
    ledger = await t.reopen();
    assert.deepEqual(await ledger.listFreezes(), [kept]);
    assert.equal((await ledger.verifyAudit()).count, 3);
  });
});
