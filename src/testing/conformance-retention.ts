/**
 * Conformance cases for retention (`ledgerRetentionCases`): `compactReceipts` keeps each
 * key's last final receipt under the watermark and removes the rest, with an audit record;
 * receipts above the watermark, of keys with no final receipt and of other sinks stay; bad
 * input removes nothing. Part of the public suite (`ledgerConformance`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.js";
import type { Ledger, LedgerEntry, Receipt } from "../ledger/types.js";
import {
  type ConformanceGroup,
  collect,
  defineGroup,
  fill,
  receiptFor,
  rejectsWith,
} from "./conformance-support.js";

const WHO = { actor: "retention-job", reason: "nightly retention" };

const failed = (entry: LedgerEntry, attempt: number, sink = "warehouse"): Receipt =>
  receiptFor(entry, {
    sink,
    status: "failed",
    attempt,
    error: { code: "timeout", message: `attempt ${attempt} timed out` },
  });

const written = (entry: LedgerEntry, attempt: number, sink = "warehouse"): Receipt =>
  receiptFor(entry, { sink, attempt, sinkOffset: `row:${entry.position}.${attempt}` });

/**
 * Four entries with the receipts of a delivery's life: e1 failed, then written, then a
 * replay that failed; e2 only failed; e3 written, then rewritten; e4 failed, then written.
 * The `search` sink has e1 failed then written. The warehouse's watermark is at 3.
 */
async function history(ledger: Ledger, t: Parameters<typeof fill>[1]) {
  const entries = await fill(ledger, t, 4);
  const [e1, e2, e3, e4] = entries as [LedgerEntry, LedgerEntry, LedgerEntry, LedgerEntry];
  const receipts = {
    e1: [failed(e1, 1), written(e1, 2), failed(e1, 3)],
    e2: [failed(e2, 1)],
    e3: [written(e3, 1), written(e3, 2)],
    e4: [failed(e4, 1), written(e4, 2)],
    search: [failed(e1, 1, "search"), written(e1, 2, "search")],
  };
  for (const list of Object.values(receipts)) for (const r of list) await ledger.putReceipt(r);
  await ledger.advanceWatermark("warehouse", 3);
  await ledger.advanceWatermark("search", 1);
  return { e1, e2, e3, e4, receipts };
}

/** What {@link history} leaves after the warehouse's receipts were compacted to its watermark. */
async function compacted(
  ledger: Ledger,
  { e1, e2, e3, e4, receipts }: Awaited<ReturnType<typeof history>>,
  what: string,
): Promise<void> {
  assert.deepEqual(
    await ledger.getReceipts("warehouse", e1.envelope.key),
    [receipts.e1[1]],
    `${what}: e1 keeps its last final receipt, not the failed replay after it`,
  );
  assert.deepEqual(
    await ledger.getReceipts("warehouse", e2.envelope.key),
    receipts.e2,
    `${what}: e2 has no final receipt and keeps what it has`,
  );
  assert.deepEqual(
    await ledger.getReceipts("warehouse", e3.envelope.key),
    [receipts.e3[1]],
    `${what}: e3 keeps its rewrite`,
  );
  assert.deepEqual(
    await ledger.getReceipts("warehouse", e4.envelope.key),
    receipts.e4,
    `${what}: e4 is above the watermark and keeps every receipt`,
  );
  assert.deepEqual(
    await ledger.getReceipts("search", e1.envelope.key),
    receipts.search,
    `${what}: another sink keeps its receipts`,
  );
  assert.deepEqual(
    await collect(ledger.scanReceipts("warehouse")),
    [receipts.e1[1], ...receipts.e2, receipts.e3[1], ...receipts.e4],
    `${what}: scanReceipts agrees`,
  );
  const claimed = await ledger.claim("warehouse", e1.envelope.key, { owner: "w", ttlMs: 1000 });
  assert.equal(claimed.status, "done", `${what}: a compacted key is still done`);
  if (claimed.status === "done") assert.deepEqual(claimed.receipt, receipts.e1[1]);
}

/**
 * Conformance cases for `compactReceipts`. One of the groups {@link ledgerConformance}
 * runs; a ledger that cannot compact (code `unsupported`) skips them by name, with the
 * reason, in `options.skip`.
 */
export const ledgerRetentionCases: ConformanceGroup = defineGroup((test, durable) => {
  test("compactReceipts keeps each key's last final receipt under the watermark, with an audit record", async (ledger, t) => {
    const h = await history(ledger, t);
    const done = await ledger.compactReceipts("warehouse", WHO);
    assert.equal(done.sink, "warehouse");
    assert.equal(done.through, 3, "through defaults to the watermark");
    assert.equal(done.removed, 3, "e1 loses two receipts, e3 one");
    await compacted(ledger, h, "after the compaction");
    const audit = await collect(ledger.scanAudit());
    const record = audit.at(-1);
    assert.equal(record?.index, done.audit, "the result names its audit record");
    assert.equal(record?.action, "compact-receipts");
    assert.equal(record?.actor, WHO.actor);
    assert.equal(record?.reason, WHO.reason);
    assert.deepEqual(record?.subject, { sink: "warehouse" });
    assert.equal((record?.details as { through?: unknown } | undefined)?.through, 3);
    assert.equal((await ledger.verifyAudit()).ok, true, "the audit chain stays whole");
    const again = await ledger.compactReceipts("warehouse", WHO);
    assert.equal(again.removed, 0, "a second compaction finds nothing to remove");
  });

  if (durable) {
    test("a compaction survives a reopen, audit record included", async (ledger, t) => {
      const h = await history(ledger, t);
      await ledger.compactReceipts("warehouse", WHO);
      const audit = await collect(ledger.scanAudit());
      const reopened = await t.reopen();
      await compacted(reopened, h, "after a reopen");
      assert.deepEqual(await collect(reopened.scanAudit()), audit);
      assert.equal((await reopened.compactReceipts("warehouse", WHO)).removed, 0);
    });
  }

  test("compactReceipts through a lower position stops there; receipts put after a compaction are kept until the next", async (ledger, t) => {
    const { e1, e3, receipts } = await history(ledger, t);
    const done = await ledger.compactReceipts("warehouse", { ...WHO, through: 1 });
    assert.deepEqual([done.through, done.removed], [1, 2]);
    assert.deepEqual(await ledger.getReceipts("warehouse", e1.envelope.key), [receipts.e1[1]]);
    assert.deepEqual(await ledger.getReceipts("warehouse", e3.envelope.key), receipts.e3);
    // A replay of e1 under the watermark: its new receipts stay until the next compaction.
    const replayed = written(e1, 4);
    await ledger.putReceipt(replayed);
    assert.deepEqual(await ledger.getReceipts("warehouse", e1.envelope.key), [
      receipts.e1[1],
      replayed,
    ]);
    const next = await ledger.compactReceipts("warehouse", WHO);
    assert.deepEqual([next.through, next.removed], [3, 2]);
    assert.deepEqual(await ledger.getReceipts("warehouse", e1.envelope.key), [replayed]);
    const none = await ledger.compactReceipts("nowhere", WHO);
    assert.deepEqual([none.through, none.removed], [0, 0], "a sink with no watermark: nothing");
  });

  test("compactReceipts refuses bad input with a typed error at its path and removes nothing", async (ledger, t) => {
    const { e1, receipts } = await history(ledger, t);
    const before = await collect(ledger.scanAudit());
    const cases: [unknown, string][] = [
      [{ ...WHO, through: 4 }, "input.through"],
      [{ ...WHO, through: -1 }, "input.through"],
      [{ ...WHO, through: 1.5 }, "input.through"],
      [{ ...WHO, through: "3" }, "input.through"],
      [{ ...WHO, thorugh: 2 }, "input.thorugh"],
      [{ actor: "job" }, "input.reason"],
      [{ reason: "why" }, "input.actor"],
      [{ ...WHO, reason: "" }, "input.reason"],
      [undefined, "input"],
      [null, "input"],
    ];
    for (const [input, path] of cases) {
      const error = await rejectsWith(
        ledger.compactReceipts("warehouse", input as never),
        (e) => e instanceof InvalidArgumentError,
        `input ${JSON.stringify(input) ?? "undefined"}`,
      );
      assert.equal((error as InvalidArgumentError).path, path, `path of ${JSON.stringify(input)}`);
    }
    await rejectsWith(
      ledger.compactReceipts("" as never, WHO),
      (e) => e instanceof InvalidArgumentError && e.path === "sink",
      "an empty sink name",
    );
    assert.deepEqual(await ledger.getReceipts("warehouse", e1.envelope.key), receipts.e1);
    assert.deepEqual(await collect(ledger.scanAudit()), before, "no audit record either");
  });
});
