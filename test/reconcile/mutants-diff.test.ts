/**
 * Mutant-killing tests for src/reconcile/diff.ts (payload differences, their cut) and
 * src/reconcile/judge.ts (which discrepancies a reconciliation reports).
 */
import { describe, expect, it } from "vitest";
import { diffPaths, diffValues } from "../../src/reconcile/diff.js";

/** `value` wrapped in `depth` arrays (or objects under key `k`). */
function nest(value: unknown, depth: number, kind: "array" | "object"): unknown {
  let v = value;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { k: v };
  return v;
}

describe("diffPaths", () => {
  it("lists the differing paths only, in document order", () => {
    expect(diffPaths({ a: 1, b: [1, 2], c: { "x y": 1 } }, { a: 2, b: [1], c: {} })).toEqual([
      "$.a",
      "$.b[1]",
      "$.c['x y']",
    ]);
  });

  it("stops at max", () => {
    expect(diffPaths({ a: 1, b: 1, c: 1 }, { a: 2, b: 2, c: 2 }, 2)).toEqual(["$.a", "$.b"]);
  });
});

describe("diffValues, what each side shows", () => {
  it("a value with no JSON form shows as (not JSON)", () => {
    expect(diffValues({ a: 1n }, { a: 2 })).toEqual([
      { path: "$.a", expected: "(not JSON)", observed: "2" },
    ]);
  });

  it("null against an object is one difference at the root", () => {
    expect(diffValues(null, { a: 1 })).toEqual([
      { path: "$", expected: "null", observed: '{"a":1}' },
    ]);
    expect(diffValues({ a: 1 }, null)).toEqual([
      { path: "$", expected: '{"a":1}', observed: "null" },
    ]);
  });

  it("object keys are compared in sorted order, whatever their insertion order", () => {
    expect(diffPaths({ b: 1, a: 1, c: 1 }, { c: 2, b: 2, a: 2 })).toEqual(["$.a", "$.b", "$.c"]);
  });

  it("extra items on either side are (absent) on the other", () => {
    expect(diffValues([1], [1, 2, 3])).toEqual([
      { path: "$[1]", expected: "(absent)", observed: "2" },
      { path: "$[2]", expected: "(absent)", observed: "3" },
    ]);
    expect(diffValues([1, 2, 3], [1])).toEqual([
      { path: "$[1]", expected: "2", observed: "(absent)" },
      { path: "$[2]", expected: "3", observed: "(absent)" },
    ]);
    expect(diffValues([null], [])).toEqual([
      { path: "$[0]", expected: "null", observed: "(absent)" },
    ]);
  });
});

describe("diffValues, max", () => {
  it("max 0 reports nothing", () => {
    expect(diffValues(1, 2, 0)).toEqual([]);
    expect(diffValues({ a: 1 }, { a: 2 }, 0)).toEqual([]);
  });

  it("extra array items stop at max", () => {
    expect(diffPaths([], [1, 2, 3], 2)).toEqual(["$[0]", "$[1]"]);
    expect(diffPaths([[], []], [[1, 2], [3]], 1)).toEqual(["$[0][0]"]);
  });

  it("keys on one side only stop at max", () => {
    expect(diffPaths({}, { a: 1, b: 2, c: 3 }, 2)).toEqual(["$.a", "$.b"]);
    expect(diffPaths({ x: {}, y: {} }, { x: { a: 1, b: 2 }, y: { c: 3 } }, 1)).toEqual(["$.x.a"]);
  });

  it("the default max is 20", () => {
    const a = Array.from({ length: 30 }, (_, i) => i);
    const b = Array.from({ length: 30 }, (_, i) => -i - 1);
    expect(diffPaths(a, b)).toHaveLength(20);
  });
});

describe("diffValues, depth", () => {
  for (const kind of ["array", "object"] as const) {
    it(`values nested deeper than 64 levels (${kind}s) are compared as a whole at the 64th level`, () => {
      const a = nest(nest(1, 6, kind), 64, kind);
      const b = nest(nest(2, 6, kind), 64, kind);
      const [d, ...rest] = diffValues(a, b);
      expect(rest).toEqual([]);
      const seg = kind === "array" ? "[0]" : ".k";
      expect(d?.path).toBe(`$${seg.repeat(64)}`);
      const inner = (v: number) =>
        kind === "array"
          ? `${"[".repeat(6)}${v}${"]".repeat(6)}`
          : `${'{"k":'.repeat(6)}${v}${"}".repeat(6)}`;
      expect(d?.expected).toBe(inner(1));
      expect(d?.observed).toBe(inner(2));
    });

    it(`equal values past the 64th level (${kind}s) are not a difference, though not ===`, () => {
      // Two separate, equal subtrees at the 64th level beside the one that differs.
      const deep = (v: number) => nest(nest(v, 6, kind), 63, kind);
      const a = { same: deep(1), other: 1 };
      const b = { same: deep(1), other: 2 };
      expect(diffValues(a, b)).toEqual([{ path: "$.other", expected: "1", observed: "2" }]);
    });

    it(`values 63 levels deep (${kind}s) are still compared inside`, () => {
      const a = nest({ p: 1, q: 1 }, 63, kind);
      const b = nest({ p: 2, q: 1 }, 63, kind);
      const seg = kind === "array" ? "[0]" : ".k";
      expect(diffValues(a, b)).toEqual([
        { path: `$${seg.repeat(63)}.p`, expected: "1", observed: "2" },
      ]);
    });
  }
});
