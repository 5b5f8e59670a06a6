import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, idempotencyKey, KEY_PREFIX, sequenceKey } from "../../src/index.js";
import { catchError } from "../helpers.js";

/** The documented recipe, written out by hand: "ik1_" + 32 hex of SHA-256(JCS(parts)). */
function recipe(jcs: string): string {
  return `ik1_${createHash("sha256").update(jcs, "utf8").digest("hex").slice(0, 32)}`;
}

describe("idempotencyKey", () => {
  it("follows the documented derivation", () => {
    expect(idempotencyKey({ producer: "orders-svc", stream: "orders", seq: 42 })).toBe(
      recipe('{"producer":"orders-svc","seq":42,"stream":"orders"}'),
    );
    expect(idempotencyKey({ orderId: "ord_1", event: "paid", ü: true })).toBe(
      recipe('{"event":"paid","orderId":"ord_1","ü":true}'),
    );
    expect(KEY_PREFIX).toBe("ik1_");
  });

  it("gives the worked example of docs/idempotency-keys.md", () => {
    expect(idempotencyKey({ orderId: "o-1", event: "paid" })).toBe(
      recipe('{"event":"paid","orderId":"o-1"}'),
    );
  });

  it("does not depend on part order, and does on names, values and types", () => {
    expect(idempotencyKey({ a: 1, b: "x" })).toBe(idempotencyKey({ b: "x", a: 1 }));
    const keys = new Set([
      idempotencyKey({ a: 1 }),
      idempotencyKey({ a: "1" }),
      idempotencyKey({ a: true }),
      idempotencyKey({ b: 1 }),
      idempotencyKey({ a: 1, b: 1 }),
    ]);
    expect(keys.size).toBe(5);
  });

  it("gives distinct keys to distinct parts (no collisions in 20,000 random part sets)", () => {
    const parts = fc.dictionary(
      fc.string({ minLength: 1, maxLength: 8 }),
      fc.oneof(fc.string(), fc.integer(), fc.boolean()),
      { minKeys: 1, maxKeys: 4 },
    );
    const seen = new Map<string, string>();
    fc.assert(
      fc.property(parts, (p) => {
        const key = idempotencyKey(p);
        expect(key).toMatch(/^ik1_[0-9a-f]{32}$/);
        const canonical = JSON.stringify(Object.entries(p).sort(([x], [y]) => (x < y ? -1 : 1)));
        const earlier = seen.get(key);
        if (earlier !== undefined) expect(earlier).toBe(canonical);
        seen.set(key, canonical);
      }),
      { numRuns: 20_000 },
    );
  });

  it("rejects bad parts with an InvalidArgumentError naming the part", () => {
    const cases: Array<[unknown, string]> = [
      [null, "parts"],
      [[1, 2], "parts"],
      ["orders", "parts"],
      [{}, "parts"],
      [new Map([["a", 1]]), "parts"],
      [Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])), "parts"],
      [{ n: Number.NaN }, 'parts["n"]'],
      [{ n: Number.POSITIVE_INFINITY }, 'parts["n"]'],
      [{ nested: { a: 1 } }, 'parts["nested"]'],
      [{ missing: null }, 'parts["missing"]'],
      [{ missing: undefined }, 'parts["missing"]'],
      [{ big: 1n }, 'parts["big"]'],
      [{ "": "x" }, 'parts[""]'],
      [{ s: "a\uD800" }, 'parts["s"]'],
      [{ s: "x".repeat(70_000) }, "parts"],
    ];
    for (const [parts, path] of cases) {
      const error = catchError(() => idempotencyKey(parts as never));
      expect(error, path).toBeInstanceOf(InvalidArgumentError);
      expect(error.path).toBe(path);
    }
  });
});

describe("sequenceKey", () => {
  it("is <producer>/<stream>/<seq>", () => {
    expect(sequenceKey("orders-svc", "orders", 42)).toBe("orders-svc/orders/42");
    expect(sequenceKey("orders-svc", "orders/eu", 0)).toBe("orders-svc/orders/eu/0");
  });

  it("rejects parts that would make an ambiguous or invalid key", () => {
    const cases: Array<[unknown[], string]> = [
      [["a/b", "s", 1], "producer"],
      [["", "s", 1], "producer"],
      [[7, "s", 1], "producer"],
      [["p", "line\nbreak", 1], "stream"],
      [["p", "\uD800", 1], "stream"],
      [["p", "s", -1], "seq"],
      [["p", "s", 1.5], "seq"],
      [["p", "s", Number.NaN], "seq"],
      [["p", "s", "1"], "seq"],
    ];
    for (const [args, path] of cases) {
      const error = catchError(() => (sequenceKey as (...a: unknown[]) => string)(...args));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.path).toBe(path);
    }
  });
});
