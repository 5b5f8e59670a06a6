/**
 * Conformance cases for a ledger's life: closing it (`ledgerClosedCases`) and, for a
 * durable ledger, what survives a reopen (`ledgerRestartCases`). Part of the public suite
 * (`ledgerConformance`). The restart cases of claims, freezes and the audit log's phases
 * sit with their groups.
 *
 * @module
 */

import assert from "node:assert/strict";
import { LedgerError } from "../errors.js";
import type { LedgerEntry } from "../ledger/types.js";
import {
  type ConformanceGroup,
  codeIs,
  collect,
  defineGroup,
  event,
  fill,
  firstEntry,
  receiptFor,
  rejectsWith,
} from "./conformance-support.js";

/**
 * Conformance cases for `close`: a closed ledger refuses every call with `ledger_closed`,
 * and closing twice is fine. One of the groups {@link ledgerConformance} runs.
 */
export const ledgerClosedCases: ConformanceGroup = defineGroup((test) => {
  test("a closed ledger refuses every call with ledger_closed; closing twice is fine", async (ledger, t) => {
    const entry = await firstEntry(ledger, t);
    await ledger.close();
    await ledger.close();
    const closed = (e: unknown) => e instanceof LedgerError && e.code === "ledger_closed";
    await rejectsWith(ledger.append([event(t, 9)]), closed, "append");
    await rejectsWith(ledger.get(entry.envelope.key), closed, "get");
    await rejectsWith(ledger.getById(entry.envelope.id), closed, "getById");
    await rejectsWith(() => ledger.scan(), closed, "scan");
    await rejectsWith(ledger.head(), closed, "head");
    await rejectsWith(ledger.reserveSequence("p", 1), closed, "reserveSequence");
    await rejectsWith(ledger.putReceipt(receiptFor(entry)), closed, "putReceipt");
    await rejectsWith(ledger.getReceipts("s", "k"), closed, "getReceipts");
    await rejectsWith(() => ledger.scanReceipts("s"), closed, "scanReceipts");
    await rejectsWith(ledger.getWatermark("s"), closed, "getWatermark");
    await rejectsWith(ledger.advanceWatermark("s", 1), closed, "advanceWatermark");
    await rejectsWith(ledger.claim("s", "k", { owner: "a", ttlMs: 10 }), closed, "claim");
    await rejectsWith(
      ledger.appendAudit({ actor: "a", action: "b", reason: "c" }),
      closed,
      "appendAudit",
    );
    await rejectsWith(() => ledger.scanAudit(), closed, "scanAudit");
    await rejectsWith(ledger.verifyAudit(), closed, "verifyAudit");
    await rejectsWith(ledger.freezeSink("s", { reason: "r", actor: "a" }), closed, "freezeSink");
    await rejectsWith(
      ledger.unfreezeSink("s", { reason: "r", actor: "a" }),
      closed,
      "unfreezeSink",
    );
    await rejectsWith(ledger.getFreezes("s"), closed, "getFreezes");
    await rejectsWith(ledger.listFreezes(), closed, "listFreezes");
  });
});

/**
 * Conformance cases for a restart, defined only when `durable` (the suite is given a
 * `reopen`): entries, receipts, watermarks, sequences and the audit log survive a reopen,
 * positions and idempotency continue across it, and claims survive it exactly when
 * `capabilities.claims` is `durable`. One of the groups {@link ledgerConformance} runs.
 */
export const ledgerRestartCases: ConformanceGroup = defineGroup((test, durable) => {
  if (!durable) return;

  test("entries, receipts, watermarks, sequences and the audit log survive a reopen", async (_ledger, t) => {
    let ledger = _ledger;
    const entries = await fill(ledger, t, 3);
    await ledger.putReceipt(receiptFor(entries[0] as LedgerEntry));
    await ledger.advanceWatermark("warehouse", 1);
    await ledger.reserveSequence("orders-svc", 7);
    const record = await ledger.appendAudit({
      actor: "ops",
      action: "note",
      reason: "before restart",
    });
    ledger = await t.reopen();
    assert.equal(await ledger.head(), 3);
    for (const entry of entries) {
      const found = await ledger.get(entry.envelope.key);
      assert.deepEqual(found, entry);
      assert.ok(
        found !== undefined &&
          Object.isFrozen(found.envelope) &&
          Object.isFrozen(found.envelope.payload),
      );
    }
    assert.deepEqual(
      (await collect(ledger.scan())).map((e) => e.position),
      [1, 2, 3],
    );
    assert.equal(
      (await ledger.getReceipts("warehouse", (entries[0] as LedgerEntry).envelope.key)).length,
      1,
    );
    assert.equal(await ledger.getWatermark("warehouse"), 1);
    assert.equal((await ledger.reserveSequence("orders-svc", 1)).first, 7);
    assert.deepEqual(await collect(ledger.scanAudit()), [record]);
    assert.ok((await ledger.verifyAudit({ head: { index: 1, hash: record.hash } })).ok);
    // Appending continues the positions, and idempotency holds across the restart.
    const more = await ledger.append([event(t, 0), event(t, 3)]);
    assert.deepEqual(
      more.results.map((r) => [r.entry.position, r.status]),
      [
        [1, "existing"],
        [4, "appended"],
      ],
    );
    await rejectsWith(
      ledger.append([event(t, 1, { payload: { x: 1 } })]),
      codeIs("idempotency_conflict"),
      "conflict after restart",
    );
  });

  test("claims survive a reopen exactly when capabilities.claims is durable", async (_ledger, t) => {
    let ledger = _ledger;
    const claimed = await ledger.claim("warehouse", "k1", { owner: "a", ttlMs: 60_000 });
    assert.equal(claimed.status, "acquired");
    ledger = await t.reopen();
    const after = await ledger.claim("warehouse", "k1", { owner: "b", ttlMs: 60_000 });
    assert.equal(after.status, ledger.capabilities.claims === "durable" ? "held" : "acquired");
  });
});
