/**
 * Conformance cases for reconciliation checkpoints (`ledgerCheckpointCases`): one per sink,
 * replaced by each put, kept across a reopen on a durable ledger; a checkpoint past the
 * head or of a bad shape is refused and the stored one stays. Part of the public suite
 * (`ledgerConformance`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.js";
import type { LedgerEntry, ReconcileCheckpoint } from "../ledger/types.js";
import {
  type ConformanceGroup,
  codeIs,
  defineGroup,
  fill,
  rejectsWith,
} from "./conformance-support.js";

const isArgumentAt =
  (path: string) =>
  (error: unknown): boolean =>
    error instanceof InvalidArgumentError && error.path === path;

const checkpointAt = (entry: LedgerEntry, sink = "warehouse"): ReconcileCheckpoint => ({
  sink,
  through: entry.position,
  at: "2026-01-01T00:00:00.000Z",
  key: entry.envelope.key,
  checksum: entry.envelope.checksum,
  digest: "xxh64sum:0123456789abcdef",
});

/**
 * Conformance cases for `getCheckpoint` and `putCheckpoint`. One of the groups
 * {@link ledgerConformance} runs; a ledger that keeps no checkpoints (code `unsupported`)
 * skips them by name, with the reason, in `options.skip`.
 */
export const ledgerCheckpointCases: ConformanceGroup = defineGroup((test, durable) => {
  test("a checkpoint is kept per sink, and each put replaces the sink's last", async (ledger, t) => {
    const [e1, e2] = (await fill(ledger, t, 2)) as [LedgerEntry, LedgerEntry];
    assert.equal(await ledger.getCheckpoint("warehouse"), undefined, "none before a put");
    await ledger.putCheckpoint(checkpointAt(e2));
    await ledger.putCheckpoint({
      ...checkpointAt(e1, "search"),
      sweptAt: "2026-01-01T00:00:01.000Z",
    });
    assert.deepEqual(await ledger.getCheckpoint("warehouse"), checkpointAt(e2));
    assert.deepEqual(await ledger.getCheckpoint("search"), {
      ...checkpointAt(e1, "search"),
      sweptAt: "2026-01-01T00:00:01.000Z",
    });
    // Moved back too: the ledger keeps what it is given; reconcile decides what to trust.
    await ledger.putCheckpoint(checkpointAt(e1));
    assert.deepEqual(await ledger.getCheckpoint("warehouse"), checkpointAt(e1));
    const none: ReconcileCheckpoint = {
      sink: "warehouse",
      through: 0,
      at: "2026-01-01T00:00:02.000Z",
      digest: "xxh64sum:0000000000000000",
    };
    await ledger.putCheckpoint(none);
    assert.deepEqual(await ledger.getCheckpoint("warehouse"), none);
    assert.ok(Object.isFrozen(await ledger.getCheckpoint("warehouse")), "answers are frozen");
  });

  test("with expected, a put is a compare-and-set: of racing puts from one checkpoint, one stores", async (ledger, t) => {
    const [e1, e2, e3] = (await fill(ledger, t, 3)) as [LedgerEntry, LedgerEntry, LedgerEntry];
    assert.equal(
      await ledger.putCheckpoint(checkpointAt(e1), { expected: null }),
      true,
      "none yet",
    );
    assert.equal(
      await ledger.putCheckpoint(checkpointAt(e2), { expected: null }),
      false,
      "there is one now",
    );
    assert.deepEqual(await ledger.getCheckpoint("warehouse"), checkpointAt(e1), "nothing stored");
    assert.equal(
      await ledger.putCheckpoint(checkpointAt(e2), { expected: checkpointAt(e1) }),
      true,
    );
    assert.equal(
      await ledger.putCheckpoint(checkpointAt(e3), { expected: checkpointAt(e1) }),
      false,
      "a stale expected",
    );
    assert.equal(
      await ledger.putCheckpoint(checkpointAt(e3), {
        expected: { ...checkpointAt(e2), at: "2026-01-01T00:00:00.001Z" },
      }),
      false,
      "one field differs",
    );
    assert.deepEqual(await ledger.getCheckpoint("warehouse"), checkpointAt(e2));
    assert.equal(await ledger.putCheckpoint(checkpointAt(e1)), true, "a plain put stores");
    // Racing: every put expects the same checkpoint; exactly one may replace it.
    const racers = Array.from({ length: 8 }, (_, i) => ({
      ...checkpointAt(e3),
      at: `2026-01-01T00:00:0${i}.000Z`,
    }));
    const answers = await Promise.all(
      racers.map((c) => ledger.putCheckpoint(c, { expected: checkpointAt(e1) })),
    );
    assert.equal(answers.filter(Boolean).length, 1, `one of the racing puts stores: ${answers}`);
    assert.deepEqual(await ledger.getCheckpoint("warehouse"), racers[answers.indexOf(true)]);
    // A checkpoint of another sink, or a bad one, is refused.
    await rejectsWith(
      ledger.putCheckpoint(checkpointAt(e1), { expected: checkpointAt(e1, "search") }),
      isArgumentAt("options.expected.sink"),
      "expected of another sink",
    );
    await rejectsWith(
      ledger.putCheckpoint(checkpointAt(e1), { expected: { ...checkpointAt(e1), through: -1 } }),
      isArgumentAt("options.expected.through"),
      "a malformed expected",
    );
    await rejectsWith(
      ledger.putCheckpoint(checkpointAt(e1), { expeted: null } as never),
      isArgumentAt("options.expeted"),
      "a misspelt option",
    );
  });

  if (durable) {
    test("a checkpoint survives a reopen", async (ledger, t) => {
      const [, e2] = (await fill(ledger, t, 2)) as [LedgerEntry, LedgerEntry];
      await ledger.putCheckpoint(checkpointAt(e2));
      const reopened = await t.reopen();
      assert.deepEqual(await reopened.getCheckpoint("warehouse"), checkpointAt(e2));
    });
  }

  test("a checkpoint past the head, or of a bad shape, is refused and the stored one stays", async (ledger, t) => {
    const [e1] = (await fill(ledger, t, 1)) as [LedgerEntry];
    await ledger.putCheckpoint(checkpointAt(e1));
    const bad: [unknown, string][] = [
      [{ ...checkpointAt(e1), through: 2 }, "checkpoint.through"],
      [{ ...checkpointAt(e1), through: -1 }, "checkpoint.through"],
      [{ ...checkpointAt(e1), through: 1.5 }, "checkpoint.through"],
      [{ ...checkpointAt(e1), sink: "" }, "checkpoint.sink"],
      [{ ...checkpointAt(e1), at: "yesterday" }, "checkpoint.at"],
      [{ ...checkpointAt(e1), digest: "xxh64sum:XYZ" }, "checkpoint.digest"],
      [{ ...checkpointAt(e1), checksum: "md5:00" }, "checkpoint.checksum"],
      [{ ...checkpointAt(e1), key: undefined }, "checkpoint.key"],
      [{ ...checkpointAt(e1), sweptAt: 5 }, "checkpoint.sweptAt"],
      [{ ...checkpointAt(e1), throug: 1 }, "checkpoint.throug"],
      [
        {
          sink: "warehouse",
          through: 0,
          at: "2026-01-01T00:00:00.000Z",
          digest: "xxh64sum:0000000000000001",
        },
        "checkpoint.digest",
      ],
      [
        {
          sink: "warehouse",
          through: 0,
          at: "2026-01-01T00:00:00.000Z",
          digest: "xxh64sum:0000000000000000",
          key: "k",
        },
        "checkpoint.key",
      ],
      [null, "checkpoint"],
    ];
    for (const [checkpoint, path] of bad) {
      await rejectsWith(
        ledger.putCheckpoint(checkpoint as ReconcileCheckpoint),
        isArgumentAt(path),
        `${JSON.stringify(checkpoint)} refused at ${path}`,
      );
    }
    await rejectsWith(ledger.getCheckpoint(""), codeIs("invalid_argument"), "an empty sink name");
    assert.deepEqual(await ledger.getCheckpoint("warehouse"), checkpointAt(e1));
  });
});
