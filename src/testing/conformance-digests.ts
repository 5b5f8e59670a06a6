/**
 * Conformance cases for digest mode's ledger side (`ledgerDigestCases`): `digestBuckets`
 * answers exactly what `digestIndex` answers for the same entries, for every kind of
 * split; `scope.through` bounds the entries counted; `digestPositions` lists exactly the
 * entries of a range; entries appended later are counted by the next request; a reopened
 * durable ledger answers the same; bad requests get typed errors. Part of the public suite
 * (`ledgerConformance`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { HASH_SPACE, rowHash } from "../checksum/row-hash.js";
import { InvalidArgumentError } from "../errors.js";
import type { DigestScope, DigestSplit, HashRange, Ledger, LedgerEntry } from "../ledger/types.js";
import { digestIndex } from "../reconcile/digest.js";
import { type ConformanceGroup, defineGroup, fill, rejectsWith } from "./conformance-support.js";

const isArgumentAt =
  (path: string) =>
  (error: unknown): boolean =>
    error instanceof InvalidArgumentError && error.path === path;

async function entriesOf(ledger: Ledger, through: number): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  if (through === 0) return out;
  for await (const entry of ledger.scan({ from: 1, to: through })) out.push(entry);
  return out;
}

/** The splits checked: whole, coarse, every block, narrow ones cut inside a block, width 1. */
function splitsFor(entries: readonly LedgerEntry[]): DigestSplit[] {
  const splits: DigestSplit[] = [
    { from: 0, to: HASH_SPACE, buckets: 1 },
    { from: 0, to: HASH_SPACE, buckets: 16 },
    { from: 0, to: HASH_SPACE, buckets: 65_536 },
    { from: 0, to: HASH_SPACE, buckets: 262_144 },
    { from: 2 ** 31, to: 2 ** 31 + 2 ** 28, buckets: 16 },
  ];
  for (const entry of entries.slice(0, 3)) {
    const { hash } = rowHash(entry.envelope.key, entry.envelope.checksum);
    const from = Math.max(0, hash - (hash % 4096));
    splits.push({ from, to: from + 4096, buckets: 16 });
    splits.push({ from: hash - (hash % 16), to: hash - (hash % 16) + 16, buckets: 16 });
  }
  return splits;
}

/** What the ledger must answer: `digestIndex` of the same entries. */
async function expectSame(ledger: Ledger, through: number, label: string): Promise<void> {
  const entries = await entriesOf(ledger, through);
  const index = digestIndex(
    entries.map((e) => ({ key: e.envelope.key, checksum: e.envelope.checksum })),
  );
  const scope: DigestScope = { through };
  for (const split of splitsFor(entries)) {
    assert.deepEqual(
      [...(await ledger.digestBuckets(split, scope))],
      [...(await index.digest(split))],
      `${label}: digestBuckets(${JSON.stringify(split)}, through ${through})`,
    );
  }
  const ranges: HashRange[] = [
    { from: 0, to: HASH_SPACE },
    { from: 0, to: 2 ** 31 },
    { from: 2 ** 30, to: 3 * 2 ** 30 },
  ];
  for (const range of ranges) {
    const expected = entries
      .filter((e) => {
        const { hash } = rowHash(e.envelope.key, e.envelope.checksum);
        return hash >= range.from && hash < range.to;
      })
      .map((e) => e.position);
    assert.deepEqual(
      [...(await ledger.digestPositions(range, scope))],
      expected,
      `${label}: digestPositions(${JSON.stringify(range)}, through ${through})`,
    );
  }
}

/**
 * Conformance cases for `digestBuckets` and `digestPositions`. One of the groups
 * {@link ledgerConformance} runs; a ledger that keeps no row hashes (code `unsupported`)
 * skips them by name, with the reason, in `options.skip`.
 */
export const ledgerDigestCases: ConformanceGroup = defineGroup((test, durable) => {
  test("digestBuckets answers what digestIndex answers for the same entries, for every split", async (ledger, t) => {
    assert.deepEqual(
      [...(await ledger.digestBuckets({ from: 0, to: HASH_SPACE, buckets: 16 }, { through: 0 }))],
      [],
      "an empty ledger has no rows",
    );
    await fill(ledger, t, 300);
    await expectSame(ledger, 300, "300 entries");
  });

  test("scope.through bounds the entries counted; entries appended later count in the next request", async (ledger, t) => {
    await fill(ledger, t, 120);
    await expectSame(ledger, 120, "before");
    await fill(ledger, t, 40, 120);
    await expectSame(ledger, 75, "through 75 of 160");
    await expectSame(ledger, 160, "after the append");
    await expectSame(ledger, 0, "through 0");
  });

  if (durable) {
    test("a reopened ledger answers the same", async (ledger, t) => {
      await fill(ledger, t, 50);
      const before = await ledger.digestBuckets(
        { from: 0, to: HASH_SPACE, buckets: 64 },
        { through: 50 },
      );
      const reopened = await t.reopen();
      assert.deepEqual(
        await reopened.digestBuckets({ from: 0, to: HASH_SPACE, buckets: 64 }, { through: 50 }),
        before,
      );
      await expectSame(reopened, 50, "reopened");
    });
  }

  test("bad requests are refused with typed errors naming the path", async (ledger, t) => {
    await fill(ledger, t, 3);
    const whole = { from: 0, to: HASH_SPACE, buckets: 16 };
    const badSplits: [unknown, string][] = [
      [{ from: 0, to: HASH_SPACE, buckets: 0 }, "split"],
      [{ from: 0, to: HASH_SPACE, buckets: 3 }, "split"],
      [{ from: 0, to: HASH_SPACE + 1, buckets: 1 }, "split"],
      [{ from: 5, to: 5, buckets: 1 }, "split"],
      [{ from: 0, to: HASH_SPACE, buckets: 2 ** 21 }, "split.buckets"],
      [null, "split"],
    ];
    for (const [split, path] of badSplits) {
      await rejectsWith(
        ledger.digestBuckets(split as DigestSplit, { through: 3 }),
        isArgumentAt(path),
        `${JSON.stringify(split)} refused at ${path}`,
      );
    }
    const badScopes: [unknown, string][] = [
      [{ through: 4 }, "scope.through"],
      [{ through: -1 }, "scope.through"],
      [{ through: 1.5 }, "scope.through"],
      [{ throug: 3 }, "scope.throug"],
      [undefined, "scope"],
    ];
    for (const [scope, path] of badScopes) {
      await rejectsWith(
        ledger.digestBuckets(whole, scope as DigestScope),
        isArgumentAt(path),
        `digestBuckets scope ${JSON.stringify(scope)} refused at ${path}`,
      );
      await rejectsWith(
        ledger.digestPositions({ from: 0, to: HASH_SPACE }, scope as DigestScope),
        isArgumentAt(path),
        `digestPositions scope ${JSON.stringify(scope)} refused at ${path}`,
      );
    }
    await rejectsWith(
      ledger.digestPositions({ from: 10, to: 5 } as HashRange, { through: 3 }),
      isArgumentAt("range"),
      "an empty range",
    );
  });
});
