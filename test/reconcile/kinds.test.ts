/**
 * One source of truth for the kinds of finding and the receipt statuses: the lists the
 * package exports are the ones reports, checks and renderers use.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  FINAL_RECEIPT_STATUSES,
  FINDING_KINDS,
  type Finding,
  type FindingFor,
  LISTED_FINDING_KINDS,
  type ListedFindingKind,
  MemoryLedger,
  MISMATCH_REASONS,
  RECEIPT_STATUSES,
  reconcile,
  renderReport,
} from "../../src/index.js";
import { isFinalStatus } from "../../src/ledger/validate.js";

describe("finding kinds and receipt statuses", () => {
  it("a report counts exactly the exported kinds, and the renderers accept each", async () => {
    const report = await reconcile({
      ledger: new MemoryLedger(),
      sinks: [{ name: "wh", observe: () => [] }],
    });
    expect(Object.keys(report.sinks[0]?.counts ?? {}).sort()).toEqual([...FINDING_KINDS].sort());
    expect(new Set(FINDING_KINDS).size).toBe(FINDING_KINDS.length);
    expect(new Set(MISMATCH_REASONS).size).toBe(MISMATCH_REASONS.length);
    // A report naming a kind outside the list is not one reconcile made.
    const forged = JSON.parse(JSON.stringify(report));
    forged.sinks[0].findings = [{ kind: "missing-forever", sink: "wh", key: "k" }];
    expect(() => renderReport(forged, { format: "json" })).toThrow(
      /report\.sinks\[0\]\.findings\[0\]/,
    );
  });

  it("a report lists every kind but matched, and Finding is a union by kind", async () => {
    expect([...LISTED_FINDING_KINDS]).toEqual(FINDING_KINDS.filter((k) => k !== "matched"));
    expectTypeOf<Finding["kind"]>().toEqualTypeOf<ListedFindingKind>();
    // Narrowing on kind gives that kind's fields, required where reconcile always sets them.
    expectTypeOf<FindingFor<"duplicate">["count"]>().toEqualTypeOf<number>();
    expectTypeOf<FindingFor<"missing-lost">["ageMs"]>().toEqualTypeOf<number>();
    expectTypeOf<FindingFor<"unexpected">["position"]>().toEqualTypeOf<undefined>();
    expectTypeOf<FindingFor<"unexpected">["count"]>().toEqualTypeOf<number>();
    const report = await reconcile({
      ledger: new MemoryLedger(),
      sinks: [{ name: "wh", observe: () => [] }],
    });
    // `matched` is counted, never listed: a report listing one is not one reconcile made.
    const forged = JSON.parse(JSON.stringify(report));
    forged.sinks[0].findings = [{ kind: "matched", sink: "wh", key: "k", position: 1 }];
    expect(() => renderReport(forged, { format: "json" })).toThrow(
      /report\.sinks\[0\]\.findings\[0\]/,
    );
  });

  it("final statuses are the listed ones, and every other status is not final", () => {
    for (const status of RECEIPT_STATUSES) {
      expect(isFinalStatus(status)).toBe(FINAL_RECEIPT_STATUSES.includes(status));
    }
    expect(RECEIPT_STATUSES.filter((s) => !FINAL_RECEIPT_STATUSES.includes(s)).sort()).toEqual([
      "failed",
      "superseded",
    ]);
  });
});

describe("payload differences", () => {
  it("say, at each differing path, the ledger's value and the sink's, absent included, cut at 120 characters", async () => {
    const { diffValues } = await import("../../src/reconcile/diff.js");
    expect(
      diffValues({ a: 1, b: [1, 2], c: "x".repeat(200) }, { a: 2, b: [1], c: "y", d: null }),
    ).toEqual([
      { path: "$.a", expected: "1", observed: "2" },
      { path: "$.b[1]", expected: "2", observed: "(absent)" },
      { path: "$.c", expected: `"${"x".repeat(118)}…`, observed: '"y"' },
      { path: "$.d", expected: "(absent)", observed: "null" },
    ]);
  });
});

describe("payload differences, cut", () => {
  it("never cut a surrogate pair in half", async () => {
    const { diffValues } = await import("../../src/reconcile/diff.js");
    // 117 x's after the opening quote put an emoji's two halves across the cut.
    const [d] = diffValues({ a: `${"x".repeat(117)}😀😀` }, { a: "y" });
    expect(d?.expected.isWellFormed()).toBe(true);
    expect(d?.expected.endsWith("…")).toBe(true);
  });
});

describe("payload differences, long values", () => {
  it("two long values that differ late are cut around where they differ, so they never read the same", async () => {
    const { diffValues } = await import("../../src/reconcile/diff.js");
    const base = "a".repeat(300);
    const [d] = diffValues({ v: `${base}X${"z".repeat(50)}` }, { v: `${base}Y${"z".repeat(50)}` });
    expect(d?.expected).not.toBe(d?.observed);
    expect(d?.expected.startsWith("…")).toBe(true);
    expect(d?.expected).toContain("X");
    expect(d?.observed).toContain("Y");
    expect(d?.expected.length).toBeLessThanOrEqual(120);
    expect(d?.observed.length).toBeLessThanOrEqual(120);
  });
});
