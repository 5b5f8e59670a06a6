/**
 * Conformance cases for what a ledger keeps per sink: delivery receipts
 * (`ledgerReceiptCases`) and watermarks (`ledgerWatermarkCases`). Part of the public suite
 * (`ledgerConformance`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.js";
import type { LedgerEntry } from "../ledger/types.js";
import {
  type ConformanceGroup,
  codeIs,
  collect,
  defineGroup,
  fill,
  firstEntry,
  receiptFor,
  rejectsWith,
} from "./conformance-support.js";

/**
 * Conformance cases for receipts: `putReceipt` stores them and `getReceipts` returns them in
 * put order, with their validation issues and signature; a receipt for an entry that does
 * not exist, or a malformed one, is refused and nothing is kept; `scanReceipts` yields a
 * sink's receipts in position order within a range. One of the groups
 * {@link ledgerConformance} runs.
 */
export const ledgerReceiptCases: ConformanceGroup = defineGroup((test) => {
  test("putReceipt stores receipts; getReceipts returns them in put order", async (ledger, t) => {
    const entry = await firstEntry(ledger, t);
    const failed = receiptFor(entry, {
      status: "failed",
      error: { code: "timeout", message: "sink timed out" },
    });
    const written = receiptFor(entry, { attempt: 2, sinkOffset: "row:17" });
    await ledger.putReceipt(failed);
    await ledger.putReceipt(written);
    assert.deepEqual(await ledger.getReceipts("warehouse", entry.envelope.key), [failed, written]);
    assert.deepEqual(await ledger.getReceipts("search", entry.envelope.key), []);
  });

  test("putReceipt refuses a receipt for an entry that does not exist, and a malformed one", async (ledger, t) => {
    const entry = await firstEntry(ledger, t);
    await rejectsWith(
      ledger.putReceipt(receiptFor(entry, { position: 2 })),
      codeIs("not_found"),
      "wrong position",
    );
    await rejectsWith(
      ledger.putReceipt(receiptFor(entry, { key: "other" })),
      codeIs("not_found"),
      "unknown key",
    );
    await rejectsWith(
      ledger.putReceipt(receiptFor(entry, { status: "maybe" as never })),
      (e) => e instanceof InvalidArgumentError && e.path === "receipt.status",
      "bad status",
    );
    await rejectsWith(
      ledger.putReceipt({ ...receiptFor(entry), extra: 1 } as never),
      (e) => e instanceof InvalidArgumentError,
      "unknown field",
    );
    assert.deepEqual(await ledger.getReceipts("warehouse", entry.envelope.key), []);
  });

  test("scanReceipts yields a sink's receipts in position order within a range", async (ledger, t) => {
    const entries = await fill(ledger, t, 4);
    for (const entry of [...entries].reverse()) await ledger.putReceipt(receiptFor(entry));
    await ledger.putReceipt(
      receiptFor(entries[1] as LedgerEntry, { attempt: 2, status: "duplicate" }),
    );
    await ledger.putReceipt(receiptFor(entries[0] as LedgerEntry, { sink: "search" }));
    const seen = (await collect(ledger.scanReceipts("warehouse"))).map((r) => [
      r.position,
      r.attempt,
    ]);
    assert.deepEqual(seen, [
      [1, 1],
      [2, 1],
      [2, 2],
      [3, 1],
      [4, 1],
    ]);
    const ranged = (await collect(ledger.scanReceipts("warehouse", { from: 2, to: 3 }))).map(
      (r) => r.position,
    );
    assert.deepEqual(ranged, [2, 2, 3]);
    assert.deepEqual((await collect(ledger.scanReceipts("search"))).length, 1);
    assert.deepEqual(await collect(ledger.scanReceipts("nowhere")), []);
  });

  test("receipts keep their validation issues and signature", async (ledger, t) => {
    const entry = await firstEntry(ledger, t);
    const receipt = receiptFor(entry, {
      status: "rejected",
      error: { code: "rejected", message: "the sink refused it" },
      issues: [{ path: "$.payload.total", code: "too_small", message: "must be positive" }],
      signature: { keyId: "k1", algorithm: "HMAC-SHA256", value: "a".repeat(64) },
    });
    await ledger.putReceipt(receipt);
    assert.deepEqual(await ledger.getReceipts("warehouse", entry.envelope.key), [receipt]);
  });
});

/**
 * Conformance cases for watermarks: they start at 0, advance, never move backwards and stop
 * at the head. One of the groups {@link ledgerConformance} runs.
 */
export const ledgerWatermarkCases: ConformanceGroup = defineGroup((test) => {
  test("watermarks start at 0, advance, never move backwards, and stop at the head", async (ledger, t) => {
    await fill(ledger, t, 5);
    assert.equal(await ledger.getWatermark("warehouse"), 0);
    assert.equal(await ledger.advanceWatermark("warehouse", 3), 3);
    assert.equal(await ledger.advanceWatermark("warehouse", 2), 3);
    assert.equal(await ledger.getWatermark("warehouse"), 3);
    assert.equal(await ledger.advanceWatermark("warehouse", 5), 5);
    assert.equal(await ledger.getWatermark("search"), 0);
    await rejectsWith(
      ledger.advanceWatermark("warehouse", 6),
      (e) => e instanceof InvalidArgumentError,
      "past head",
    );
    await rejectsWith(
      ledger.advanceWatermark("warehouse", -1),
      (e) => e instanceof InvalidArgumentError,
      "negative",
    );
    assert.equal(await ledger.getWatermark("warehouse"), 5);
  });
});
