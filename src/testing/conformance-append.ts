/**
 * Conformance cases for `append`: positions, storage, idempotency by key and the refusals
 * of a conflicting key or id (`ledgerAppendCases`); atomic, verified batches and concurrent
 * appends (`ledgerAppendBatchCases`). Part of the public suite (`ledgerConformance`).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Envelope } from "../envelope/schema.js";
import {
  EnvelopeValidationError,
  IdempotencyConflictError,
  IntegrityError,
  InvalidArgumentError,
} from "../errors.js";
import {
  type ConformanceGroup,
  codeIs,
  defineGroup,
  event,
  rejectsWith,
} from "./conformance-support.js";

/**
 * Conformance cases for `append`, one batch at a time: positions consecutive from 1, the
 * envelope stored unchanged and frozen with an `appendedAt` time, the same key and checksum
 * answered with the existing entry, a key with another checksum refused
 * (`idempotency_conflict`, carrying the existing entry), an id reused under another key
 * refused (`id_conflict`). One of the groups {@link ledgerConformance} runs.
 */
export const ledgerAppendCases: ConformanceGroup = defineGroup((test) => {
  test("append assigns consecutive positions from 1, in order", async (ledger, t) => {
    const first = await ledger.append([event(t, 0), event(t, 1)]);
    const second = await ledger.append([event(t, 2)]);
    assert.deepEqual(
      [...first.results, ...second.results].map((r) => [r.entry.position, r.status]),
      [
        [1, "appended"],
        [2, "appended"],
        [3, "appended"],
      ],
    );
    assert.equal(first.appended, 2);
    assert.equal(second.existing, 0);
    assert.equal(await ledger.head(), 3);
  });

  test("append stores the envelope unchanged and frozen, with an appendedAt time", async (ledger, t) => {
    const envelope = event(t, 0, {
      trace: { correlationId: "c-1" },
      parents: ["01ARYZ6S41TSV4RRFFQ69G5FAV"],
    });
    await ledger.append([envelope]);
    const entry = await ledger.get(envelope.key);
    assert.ok(entry !== undefined);
    assert.deepEqual(entry.envelope, envelope);
    assert.ok(Object.isFrozen(entry.envelope) && Object.isFrozen(entry.envelope.payload));
    assert.match(entry.appendedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test("append is idempotent by key: the same key and checksum return the existing entry", async (ledger, t) => {
    const envelope = event(t, 0);
    await ledger.append([envelope]);
    // The same effect sealed again: a new id, the same key and payload.
    const again = event(t, 0);
    assert.notEqual(again.id, envelope.id);
    const result = await ledger.append([again]);
    assert.equal(result.results[0]?.status, "existing");
    assert.equal(result.results[0]?.entry.position, 1);
    assert.equal(result.results[0]?.entry.envelope.id, envelope.id);
    assert.equal(await ledger.head(), 1);
  });

  test("append refuses a key with another checksum, carrying the existing entry", async (ledger, t) => {
    await ledger.append([event(t, 0)]);
    const other = event(t, 0, { payload: { orderId: "o-0", total: 999 } });
    const error = await rejectsWith(
      ledger.append([other]),
      (e) => e instanceof IdempotencyConflictError && e.code === "idempotency_conflict",
      "conflicting key",
    );
    const conflict = error as IdempotencyConflictError;
    assert.equal(conflict.existing?.position, 1);
    assert.equal(conflict.incoming, other.checksum);
    assert.equal(await ledger.head(), 1);
  });

  test("append refuses an id reused under another key", async (ledger, t) => {
    const envelope = event(t, 0);
    await ledger.append([envelope]);
    const reused = Object.freeze({ ...event(t, 1), id: envelope.id });
    await rejectsWith(ledger.append([reused]), codeIs("id_conflict"), "reused id");
  });
});

/**
 * Conformance cases for `append` batches and concurrent appends: a batch with one
 * conflicting or bad envelope writes nothing of it, repeats of a key in one batch fold into
 * one entry, an empty batch does nothing, concurrent appends get distinct, gap-free
 * positions, and concurrent appends of one key get one position. One of the groups
 * {@link ledgerConformance} runs.
 */
export const ledgerAppendBatchCases: ConformanceGroup = defineGroup((test) => {
  test("append is atomic: a batch with one conflicting envelope writes none of it", async (ledger, t) => {
    await ledger.append([event(t, 0)]);
    const batch = [event(t, 1), event(t, 2), event(t, 0, { payload: { changed: true } })];
    await rejectsWith(
      ledger.append(batch),
      codeIs("idempotency_conflict"),
      "batch with a conflict",
    );
    assert.equal(await ledger.head(), 1);
    assert.equal(await ledger.get(batch[0]?.key as string), undefined);
  });

  test("append folds repeats inside one batch and refuses a key repeated with another checksum", async (ledger, t) => {
    const a = event(t, 0);
    const result = await ledger.append([a, event(t, 1), a]);
    assert.deepEqual(
      result.results.map((r) => [r.entry.position, r.status]),
      [
        [1, "appended"],
        [2, "appended"],
        [1, "existing"],
      ],
    );
    assert.equal(result.appended, 2);
    assert.equal(result.existing, 1);
    const clash = [event(t, 5), event(t, 5, { payload: { other: 1 } })];
    await rejectsWith(ledger.append(clash), codeIs("idempotency_conflict"), "clash within a batch");
    assert.equal(await ledger.head(), 2);
  });

  test("append verifies every envelope and writes nothing when one is bad", async (ledger, t) => {
    const good = event(t, 0);
    const altered = { ...event(t, 1), payload: { orderId: "o-1", total: 0 } };
    await rejectsWith(
      ledger.append([good, altered as Envelope]),
      (e) => e instanceof IntegrityError && e.code === "checksum_mismatch",
      "altered payload",
    );
    const malformed = { ...event(t, 2), seq: -1 };
    await rejectsWith(
      ledger.append([good, malformed as Envelope]),
      (e) => e instanceof EnvelopeValidationError,
      "bad field",
    );
    const hostile = { ...event(t, 3), payload: { n: Number.NaN } };
    await rejectsWith(
      ledger.append([hostile as Envelope]),
      (e) => e instanceof IntegrityError,
      "NaN payload",
    );
    await rejectsWith(
      ledger.append("nope" as never),
      (e) => e instanceof InvalidArgumentError,
      "not an array",
    );
    assert.equal(await ledger.head(), 0);
  });

  test("append of an empty batch does nothing", async (ledger) => {
    const result = await ledger.append([]);
    assert.deepEqual([result.appended, result.existing, result.results.length], [0, 0, 0]);
    assert.equal(await ledger.head(), 0);
  });

  test("concurrent appends get distinct, gap-free positions", async (ledger, t) => {
    const calls = Array.from({ length: 20 }, (_, i) =>
      ledger.append([event(t, i * 2), event(t, i * 2 + 1)]),
    );
    const results = await Promise.all(calls);
    const positions = results
      .flatMap((r) => r.results.map((x) => x.entry.position))
      .sort((a, b) => a - b);
    assert.deepEqual(
      positions,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    // Within one call, positions follow the order of the envelopes.
    for (const r of results)
      assert.equal((r.results[1]?.entry.position ?? 0) - (r.results[0]?.entry.position ?? 0), 1);
  });

  test("concurrent appends of one key: one position, every caller gets it", async (ledger, t) => {
    const envelope = event(t, 0);
    const results = await Promise.all(Array.from({ length: 10 }, () => ledger.append([envelope])));
    assert.deepEqual(new Set(results.map((r) => r.results[0]?.entry.position)), new Set([1]));
    assert.equal(results.filter((r) => r.appended === 1).length, 1);
    assert.equal(await ledger.head(), 1);
  });
});
