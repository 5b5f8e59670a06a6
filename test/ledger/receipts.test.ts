import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  adoptReceipt,
  isCheckedReceipt,
  isValidReceipt,
  receiptSchema,
} from "../../src/ledger/validate.js";

describe("the hot-path receipt check agrees with the zod schema", () => {
  const text = fc.oneof(
    { arbitrary: fc.constantFrom("warehouse", "orders-svc/orders/1", "é"), weight: 8 },
    {
      arbitrary: fc.constantFrom("", "a\u0000", "\uD800", "s".repeat(129), "k".repeat(513)),
      weight: 1,
    },
  );
  const int = fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 5 }), weight: 8 },
    { arbitrary: fc.constantFrom(0, -1, 1.5, Number.NaN, 2 ** 53, 1_000_001), weight: 1 },
  );
  const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });
  const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
    fc.oneof({ arbitrary: good, weight: 8 }, { arbitrary: bad, weight: 1 });
  const anything = fc.constantFrom(null, 7, "x", [], {});
  const receipts = fc.record(
    {
      sink: text,
      key: text,
      id: fc.constantFrom("01ARYZ6S41TSV4RRFFQ69G5FAV", "01ARYZ6S41TSV4RRFFQ69G5FAV", "nope"),
      position: int,
      status: fc.constantFrom("written", "failed", "rejected", "maybe"),
      checksum: fc.constantFrom("xxh64:0123456789abcdef", "xxh64:0123456789abcdef", "md5:1"),
      attempt: int,
      startedAt: fc.constantFrom(
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T00:00:00.000Z",
        "yesterday",
      ),
      finishedAt: fc.constantFrom(
        "2026-01-01T00:00:01.000Z",
        "2026-01-01T00:00:01.000Z",
        "2026-02-30T00:00:00.000Z",
      ),
      sinkOffset: maybe(
        mostly(fc.constant("row:1"), fc.oneof(fc.constant("x".repeat(1025)), anything)),
      ),
      error: maybe(
        mostly(
          fc.record({ code: text, message: fc.constant("m") }),
          fc.oneof(
            fc.constant({ code: "c", message: "x".repeat(4097) }),
            fc.constant({ code: "c", message: "m", extra: 1 }),
            anything,
          ),
        ),
      ),
      issues: maybe(
        fc.oneof(
          fc.array(
            fc.record({
              path: fc.constantFrom("$.a", "x".repeat(1025)),
              code: fc.constantFrom("c", ""),
              message: fc.constant("m"),
            }),
            { maxLength: 2 },
          ),
          anything,
        ),
      ),
      signature: maybe(
        fc.oneof(
          fc.record({
            keyId: text,
            algorithm: fc.constantFrom("HMAC-SHA256", "MD5"),
            value: fc.constantFrom("a".repeat(64), "A".repeat(64), "a"),
          }),
          anything,
        ),
      ),
    },
    {
      requiredKeys: [
        "sink",
        "key",
        "id",
        "position",
        "status",
        "checksum",
        "attempt",
        "startedAt",
        "finishedAt",
      ],
    },
  );

  const withUnknown = fc
    .tuple(receipts, fc.integer({ min: 0, max: 20 }))
    .map(([r, n]) => (n === 0 ? { ...r, extra: 1 } : r));

  it("accepts exactly what receiptSchema accepts (5,000 near-valid receipts)", () => {
    let accepted = 0;
    fc.assert(
      fc.property(withUnknown, (r) => {
        const fast = isValidReceipt(r);
        expect(fast).toBe(receiptSchema.safeParse(r).success);
        if (fast) accepted++;
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(50);
  });

  it("adoptReceipt marks as checked exactly the receipts receiptSchema accepts, frozen, content unchanged", () => {
    let adopted = 0;
    fc.assert(
      fc.property(withUnknown, (r) => {
        const made = { ...r } as Parameters<typeof adoptReceipt>[0];
        const out = adoptReceipt(made);
        const valid = receiptSchema.safeParse(r).success;
        expect(isCheckedReceipt(out)).toBe(valid);
        expect(Object.isFrozen(out)).toBe(true);
        expect(out).toEqual(r);
        if (valid) adopted++;
      }),
      { numRuns: 2000 },
    );
    expect(adopted).toBeGreaterThan(20);
  });
});
