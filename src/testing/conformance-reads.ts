/**
 * Conformance cases for reading the ledger: `get`, `getById`, `scan` and `head`
 * (`ledgerReadCases`), and producer sequences (`ledgerSequenceCases`). Part of the public
 * suite (`ledgerConformance`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.js";
import type { Ledger } from "../ledger/types.js";
import {
  type ConformanceGroup,
  collect,
  defineGroup,
  event,
  firstEntry,
  rejectsWith,
} from "./conformance-support.js";

/**
 * Conformance cases for reads: `get` and `getById` find entries (unknown ones are
 * `undefined`, a malformed id is refused), `scan` yields entries in position order within
 * `from`/`to`, by producer and stream, up to `limit`, and `head` is 0 when empty. One of the
 * groups {@link ledgerConformance} runs.
 */
export const ledgerReadCases: ConformanceGroup = defineGroup((test) => {
  test("get and getById find entries; unknown ones are undefined", async (ledger, t) => {
    const entry = await firstEntry(ledger, t, 3);
    assert.equal((await ledger.get(entry.envelope.key))?.position, 1);
    assert.equal((await ledger.getById(entry.envelope.id))?.position, 1);
    assert.equal(await ledger.get("no-such-key"), undefined);
    assert.equal(await ledger.getById("01ARYZ6S41TSV4RRFFQ69G5FAV"), undefined);
    await rejectsWith(
      ledger.getById("not-an-id"),
      (e) => e instanceof InvalidArgumentError,
      "bad id",
    );
  });

  test("scan yields entries in position order with from, to, producer, stream and limit", async (ledger, t) => {
    await ledger.append([
      event(t, 0),
      event(t, 0, { stream: "refunds" }),
      event(t, 0, { producer: "billing" }),
      event(t, 1),
      event(t, 2),
    ]);
    const positions = async (query?: Parameters<Ledger["scan"]>[0]) =>
      (await collect(ledger.scan(query))).map((e) => e.position);
    assert.deepEqual(await positions(), [1, 2, 3, 4, 5]);
    assert.deepEqual(await positions({ from: 2, to: 4 }), [2, 3, 4]);
    assert.deepEqual(await positions({ stream: "orders" }), [1, 3, 4, 5]);
    assert.deepEqual(await positions({ producer: "orders-svc", stream: "orders" }), [1, 4, 5]);
    assert.deepEqual(await positions({ producer: "billing" }), [3]);
    assert.deepEqual(await positions({ stream: "orders", limit: 2 }), [1, 3]);
    assert.deepEqual(await positions({ from: 6 }), []);
    assert.deepEqual(await positions({ from: 3, to: 2 }), []);
    assert.deepEqual(await positions({ limit: 0 }), []);
    await rejectsWith(
      () => ledger.scan({ from: 0 }),
      (e) => e instanceof InvalidArgumentError,
      "from 0",
    );
  });

  test("head is 0 when empty", async (ledger) => {
    assert.equal(await ledger.head(), 0);
  });
});

/**
 * Conformance cases for `reserveSequence`: consecutive, non-overlapping ranges per producer,
 * concurrent calls included, and its argument checks. One of the groups
 * {@link ledgerConformance} runs.
 */
export const ledgerSequenceCases: ConformanceGroup = defineGroup((test) => {
  test("reserveSequence hands out consecutive, non-overlapping ranges per producer", async (ledger) => {
    const a = await ledger.reserveSequence("orders-svc", 10);
    const b = await ledger.reserveSequence("orders-svc", 5);
    const c = await ledger.reserveSequence("billing", 1);
    assert.deepEqual([a.first, a.count, b.first, b.count, c.first], [0, 10, 10, 5, 0]);
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => ledger.reserveSequence("p", 3)),
    );
    const firsts = concurrent.map((r) => r.first).sort((x, y) => x - y);
    assert.deepEqual(
      firsts,
      Array.from({ length: 10 }, (_, i) => i * 3),
    );
    await rejectsWith(
      ledger.reserveSequence("p", 0),
      (e) => e instanceof InvalidArgumentError,
      "count 0",
    );
    await rejectsWith(
      ledger.reserveSequence("a/b", 1),
      (e) => e instanceof InvalidArgumentError,
      "bad producer",
    );
  });
});
