/**
 * Conformance cases for consistency-window history (`ledgerWindowCases`): samples kept per
 * sink in the order recorded, the most recent answered oldest first, each sink trimmed to
 * its last `WINDOW_HISTORY_LIMIT`, kept across a reopen on a durable ledger; a bad sample
 * stores none of its call. Part of the public suite (`ledgerConformance`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.js";
import { WINDOW_HISTORY_LIMIT, type WindowSample } from "../ledger/types.js";
import { type ConformanceGroup, codeIs, defineGroup, rejectsWith } from "./conformance-support.js";

const isArgumentAt =
  (path: string) =>
  (error: unknown): boolean =>
    error instanceof InvalidArgumentError && error.path === path;

const sampleAt = (i: number, sink = "warehouse"): WindowSample => ({
  sink,
  at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
  position: i * 10,
  behindEntries: i % 3,
  behindMs: (i % 3) * 1500.5,
  consistent: i % 4 !== 3,
});

/**
 * Conformance cases for `recordWindows` and `windowHistory`. One of the groups
 * {@link ledgerConformance} runs; a ledger that keeps no history (code `unsupported`)
 * skips them by name, with the reason, in `options.skip`.
 */
export const ledgerWindowCases: ConformanceGroup = defineGroup((test, durable) => {
  test("window samples are kept per sink, in the order recorded", async (ledger) => {
    assert.deepEqual(await ledger.windowHistory("warehouse"), [], "none before a record");
    await ledger.recordWindows([sampleAt(0), sampleAt(0, "search"), sampleAt(1)]);
    await ledger.recordWindows([]);
    await ledger.recordWindows([sampleAt(2)]);
    assert.deepEqual(await ledger.windowHistory("warehouse"), [
      sampleAt(0),
      sampleAt(1),
      sampleAt(2),
    ]);
    assert.deepEqual(await ledger.windowHistory("search"), [sampleAt(0, "search")]);
    assert.deepEqual(
      await ledger.windowHistory("warehouse", { limit: 2 }),
      [sampleAt(1), sampleAt(2)],
      "the most recent, oldest first",
    );
    const answer = await ledger.windowHistory("warehouse");
    assert.ok(Object.isFrozen(answer) && Object.isFrozen(answer[0]), "answers are frozen");
  });

  test("each sink keeps its most recent WINDOW_HISTORY_LIMIT samples", async (ledger) => {
    const total = WINDOW_HISTORY_LIMIT + 250;
    for (let from = 0; from < total; from += 400) {
      const chunk: WindowSample[] = [];
      for (let i = from; i < Math.min(total, from + 400); i++) chunk.push(sampleAt(i));
      await ledger.recordWindows(chunk);
    }
    await ledger.recordWindows([sampleAt(7, "search")]);
    const kept = await ledger.windowHistory("warehouse");
    assert.equal(kept.length, WINDOW_HISTORY_LIMIT);
    assert.deepEqual(kept[0], sampleAt(total - WINDOW_HISTORY_LIMIT), "the oldest ones dropped");
    assert.deepEqual(kept.at(-1), sampleAt(total - 1));
    assert.deepEqual(await ledger.windowHistory("search"), [sampleAt(7, "search")]);
  });

  if (durable) {
    test("window samples survive a reopen", async (ledger, t) => {
      await ledger.recordWindows([sampleAt(0), sampleAt(1)]);
      const reopened = await t.reopen();
      assert.deepEqual(await reopened.windowHistory("warehouse"), [sampleAt(0), sampleAt(1)]);
      await reopened.recordWindows([sampleAt(2)]);
      assert.deepEqual(await reopened.windowHistory("warehouse", { limit: 1 }), [sampleAt(2)]);
    });
  }

  test("a bad sample stores none of its call, and a bad query is refused", async (ledger) => {
    await ledger.recordWindows([sampleAt(0)]);
    const bad: [unknown, string][] = [
      [{ ...sampleAt(1), sink: "" }, "samples[1].sink"],
      [{ ...sampleAt(1), at: "yesterday" }, "samples[1].at"],
      [{ ...sampleAt(1), position: -1 }, "samples[1].position"],
      [{ ...sampleAt(1), position: 1.5 }, "samples[1].position"],
      [{ ...sampleAt(1), behindEntries: Number.NaN }, "samples[1].behindEntries"],
      [{ ...sampleAt(1), behindMs: -1 }, "samples[1].behindMs"],
      [{ ...sampleAt(1), behindMs: Number.POSITIVE_INFINITY }, "samples[1].behindMs"],
      [{ ...sampleAt(1), consistent: "yes" }, "samples[1].consistent"],
      [{ ...sampleAt(1), behindMS: 5 }, "samples[1].behindMS"],
      [null, "samples[1]"],
    ];
    for (const [sample, path] of bad) {
      await rejectsWith(
        ledger.recordWindows([sampleAt(1), sample as WindowSample]),
        isArgumentAt(path),
        `${JSON.stringify(sample)} refused at ${path}`,
      );
    }
    await rejectsWith(
      ledger.recordWindows("nope" as never),
      isArgumentAt("samples"),
      "not an array",
    );
    await rejectsWith(
      ledger.recordWindows(Array.from({ length: 1001 }, (_, i) => sampleAt(i))),
      isArgumentAt("samples"),
      "more than 1,000 samples in one call",
    );
    for (const [query, path] of [
      [{ limit: 0 }, "query.limit"],
      [{ limit: WINDOW_HISTORY_LIMIT + 1 }, "query.limit"],
      [{ limit: "5" }, "query.limit"],
      [{ limt: 5 }, "query.limt"],
    ] as const) {
      await rejectsWith(
        ledger.windowHistory("warehouse", query as never),
        isArgumentAt(path),
        `${JSON.stringify(query)} refused at ${path}`,
      );
    }
    await rejectsWith(ledger.windowHistory(""), codeIs("invalid_argument"), "an empty sink name");
    assert.deepEqual(await ledger.windowHistory("warehouse"), [sampleAt(0)], "nothing else kept");
  });
});
