/**
 * Mutant tests for src/reconcile/digest-compare.ts: exact errors of malformed digest
 * answers and of a partial range, and the bucket statistics of a matching sink.
 */
import { describe, expect, it } from "vitest";
import { type ReconcileSink, reconcile } from "../../src/index.js";
import { build } from "./scenario.js";

const Z = "0000000000000000";
const WHERE = "options.sinks[0].digest.digest()";

async function errorFor(answer: unknown) {
  const { ledger, envelopes, clock, sink } = await build(3, { digest: true });
  await sink.guard?.deliverAll(envelopes);
  const report = await reconcile({
    ledger,
    sinks: [{ name: "s", digest: { digest: () => answer as never, observeRange: () => [] } }],
    clock: clock.now,
  });
  return report.sinks[0]?.error;
}

describe("digest answers are checked bucket by bucket", () => {
  it("a non-array answer names the expected shape", async () => {
    const error = await errorFor("nope");
    expect(error).toMatchObject({ code: "invalid_argument", path: WHERE });
    expect(error?.message).toBe(
      `${WHERE} must return an array of { bucket, count, digest }, got string`,
    );
  });

  const bad: [string, unknown][] = [
    ["null", null],
    ["a number", 7],
    ["a fractional bucket", { bucket: 0.5, count: 1, digest: Z }],
    ["a negative bucket", { bucket: -1, count: 1, digest: Z }],
    ["bucket == buckets", { bucket: 1, count: 1, digest: Z }],
    ["a negative count", { bucket: 0, count: -1, digest: Z }],
    ["a digest that is not a string", { bucket: 0, count: 1, digest: 12 }],
    ["a digest with a prefix", { bucket: 0, count: 1, digest: `x${Z}` }],
    ["a digest with a suffix", { bucket: 0, count: 1, digest: `${Z}x` }],
  ];
  for (const [name, value] of bad) {
    it(`rejects ${name} at its index`, async () => {
      const error = await errorFor([value]);
      expect(error).toMatchObject({ code: "invalid_argument", path: `${WHERE}[0]` });
      expect(error?.message).toBe(
        `${WHERE}[0] must be { bucket: 0 to 0 (once each), count: integer ≥ 0, digest: 16 lowercase hex }`,
      );
    });
  }

  it("a count of 0 is accepted (an empty bucket)", async () => {
    const { ledger, envelopes, clock, sink } = await build(3, { digest: true });
    await sink.guard?.deliverAll(envelopes);
    const report = await reconcile({
      ledger,
      sinks: [
        {
          name: "s",
          digest: { digest: () => [{ bucket: 0, count: 0, digest: Z }], observeRange: () => [] },
        },
      ],
      clock: clock.now,
    });
    expect(report.sinks[0]?.error).toBeUndefined();
    expect(report.sinks[0]?.findings.map((f) => [f.kind, f.key])).toEqual([
      ["missing-late", "orders-svc/default/0"],
      ["missing-late", "orders-svc/default/1"],
      ["missing-late", "orders-svc/default/2"],
    ]);
  });
});

describe("digest statistics", () => {
  it("a matching sink compares one bucket, none differing", async () => {
    const { ledger, envelopes, clock, sink } = await build(20, { digest: true });
    await sink.guard?.deliverAll(envelopes);
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(report.sinks[0]?.basis).toBe("digest");
    expect(report.sinks[0]?.digest).toEqual({ buckets: 1, differing: 0, rowsRead: 0 });
    expect(report.consistent).toBe(true);
  });

  it("a partial range names position 1 and the range given", async () => {
    const { ledger, sink, envelopes, clock } = await build(20, { digest: true });
    await sink.guard?.deliverAll(envelopes);
    const digestOnly: ReconcileSink = { name: "store", digest: sink.digest };
    const report = await reconcile({
      ledger,
      sinks: [digestOnly],
      range: { from: 5 },
      clock: clock.now,
    });
    expect(report.sinks[0]?.error?.message).toBe(
      "Digest mode compares the sink's whole table, so the range must start at position 1 (got 5); give the sink an observe() for partial ranges",
    );
  });
});

describe("rows read in a leaf must lie in it", () => {
  it("a row whose hash is outside the leaf asked for is an error naming key, hash and range", async () => {
    const { ledger, envelopes, clock } = await build(70);
    const { rowHash } = await import("../../src/digest/index.js");
    const sum = envelopes[0]?.checksum as string;
    const { hash } = rowHash("ghost", sum);
    const width = 2 ** 32 / 16;
    const ghostLeaf = Math.floor(hash / width);
    const calls: { from: number; to: number; buckets: number }[] = [];
    const asked: { from: number; to: number }[] = [];
    const report = await reconcile({
      ledger,
      sinks: [
        {
          name: "s",
          digest: {
            digest: (range) => {
              calls.push(range);
              return calls.length === 1 ? [{ bucket: 0, count: 70, digest: Z }] : [];
            },
            observeRange: (leaf) => {
              asked.push(leaf);
              const inGhost = Math.floor(leaf.from / width) === ghostLeaf;
              return inGhost ? [] : [{ key: "ghost", checksum: sum }];
            },
          },
        },
      ],
      clock: clock.now,
    });
    expect(calls[0]).toEqual({ from: 0, to: 2 ** 32, buckets: 1 });
    expect(calls[1]).toEqual({ from: 0, to: 2 ** 32, buckets: 16 });
    const first = asked.find((leaf) => Math.floor(leaf.from / width) !== ghostLeaf);
    const where = "options.sinks[0].digest.observeRange()";
    expect(report.sinks[0]?.error).toMatchObject({ code: "invalid_argument", path: where });
    expect(report.sinks[0]?.error?.message).toBe(
      `${where} returned "ghost", whose row hash ${hash} is outside the range asked for [${first?.from}, ${first?.to})`,
    );
  });
});

describe("a differing bucket", () => {
  it("counts the differing buckets and reads the leaf's rows once", async () => {
    const { ledger, envelopes, clock, sink } = await build(20, { digest: true });
    await sink.guard?.deliverAll(envelopes.slice(0, 19));
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    // The whole space (19 rows against 20, more than a leaf's 16) differs, is split in 16,
    // and the one bucket that differs is a leaf: its one sink row is read.
    expect(report.sinks[0]?.digest).toEqual({ buckets: 17, differing: 2, rowsRead: 1 });
    expect(report.sinks[0]?.observations).toBe(1);
    expect(report.sinks[0]?.findings.map((f) => f.key)).toEqual(["orders-svc/default/19"]);
  });
});
