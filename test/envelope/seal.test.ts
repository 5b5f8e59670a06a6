import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isValidDraft } from "../../src/envelope/fields.js";
import { draftFieldsSchema, isCleanText } from "../../src/envelope/schema.js";
import {
  CanonicalizationError,
  checksum,
  createIdFactory,
  createSealer,
  EnvelopeValidationError,
  InvalidArgumentError,
  isId,
  seal,
  verify,
} from "../../src/index.js";
import { catchError } from "../helpers.js";

const T0 = Date.parse("2026-11-26T12:00:00.000Z");

function draft(overrides: Record<string, unknown> = {}) {
  return {
    producer: "orders-svc",
    stream: "orders",
    seq: 7,
    type: "order.created",
    schema: { name: "order", version: 2 },
    payload: { orderId: "o-1", total: 42.5, items: [{ sku: "a", qty: 1 }] },
    ...overrides,
  };
}

function isDeepFrozen(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

describe("seal", () => {
  it("fills id, time, key and checksum, and keeps every given field", () => {
    let now = T0;
    const sealer = createSealer({ clock: () => now++ });
    const envelope = sealer(
      draft({ trace: { correlationId: "c-1" }, parents: ["01ARYZ6S41TSV4RRFFQ69G5FAV"] }),
    );
    expect(envelope).toEqual({
      id: expect.any(String),
      producer: "orders-svc",
      stream: "orders",
      seq: 7,
      type: "order.created",
      schema: { name: "order", version: 2 },
      time: "2026-11-26T12:00:00.000Z",
      key: "orders-svc/orders/7",
      checksum: checksum({ orderId: "o-1", total: 42.5, items: [{ sku: "a", qty: 1 }] }),
      payload: { orderId: "o-1", total: 42.5, items: [{ sku: "a", qty: 1 }] },
      trace: { correlationId: "c-1" },
      parents: ["01ARYZ6S41TSV4RRFFQ69G5FAV"],
    });
    expect(isId(envelope.id)).toBe(true);
    expect(verify(envelope)).toEqual({ ok: true });
  });

  it("is deterministic with an injected clock and id factory", () => {
    const make = () =>
      createSealer({
        clock: () => T0,
        ids: createIdFactory({ clock: () => T0, random: () => 0.5 }),
      });
    expect(make()(draft())).toEqual(make()(draft()));
  });

  it("takes the id's time from the sealer's clock, read once per envelope", () => {
    let calls = 0;
    const envelope = seal(draft(), {
      clock: () => {
        calls++;
        return T0 + 5;
      },
    });
    expect(calls).toBe(1);
    expect(envelope.id.slice(0, 10)).toBe(createIdFactory({ clock: () => T0 + 5 })().slice(0, 10));
  });

  it("gives ids that sort in creation order across seal() calls with the same clock", () => {
    const clock = () => T0;
    const ids = Array.from({ length: 50 }, () => seal(draft(), { clock }).id);
    expect([...ids].sort()).toEqual(ids);
  });

  it("defaults the stream to 'default' and the key to <producer>/<stream>/<seq>", () => {
    const envelope = seal(draft({ stream: undefined, seq: 0 }));
    expect(envelope.stream).toBe("default");
    expect(envelope.key).toBe("orders-svc/default/0");
    expect(seal(draft({ key: "order:o-1:created" })).key).toBe("order:o-1:created");
  });

  it("returns a deep-frozen envelope and takes ownership of the payload", () => {
    const payload = { a: { b: [1, { c: 2 }] } };
    const envelope = seal(
      draft({
        payload,
        trace: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
      }),
    );
    expect(isDeepFrozen(envelope)).toBe(true);
    expect(envelope.payload).toBe(payload);
    expect(() => {
      (payload.a.b as unknown[]).push(3);
    }).toThrow(TypeError);
  });

  it("freezes the mutable parts of a partly frozen payload", () => {
    const inner = { b: [1, { c: 2 }] };
    const payload = Object.freeze({ a: inner });
    seal(draft({ payload }));
    expect(Object.isFrozen(inner) && Object.isFrozen(inner.b) && Object.isFrozen(inner.b[1])).toBe(
      true,
    );
  });

  it("stores a payload holding Dates as its JSON form", () => {
    const envelope = seal(draft({ payload: { at: new Date(0) } }));
    expect(envelope.payload).toEqual({ at: "1970-01-01T00:00:00.000Z" });
    expect(isDeepFrozen(envelope.payload)).toBe(true);
    expect(verify(envelope).ok).toBe(true);
  });

  it("uses SHA-256 on request", () => {
    const envelope = seal(draft(), { algorithm: "sha256" });
    expect(envelope.checksum).toBe(checksum(draft().payload, { algorithm: "sha256" }));
  });

  it("lists every issue of a bad draft, with paths, and freezes nothing", () => {
    const payload = { x: 1 };
    const error = catchError(() =>
      seal(
        draft({
          producer: "",
          seq: -1,
          schema: { name: "order", version: 0 },
          extra: true,
          payload,
        }) as never,
      ),
    );
    expect(error).toBeInstanceOf(EnvelopeValidationError);
    const issues = (error as EnvelopeValidationError).issues;
    expect(issues.map((i) => i.path).sort()).toEqual([
      "$",
      "$.producer",
      "$.schema.version",
      "$.seq",
    ]);
    expect(issues.every((i) => i.code.length > 0 && i.message.length > 0)).toBe(true);
    expect(Object.isFrozen(payload)).toBe(false);
  });

  it("rejects a payload that is not JSON with a CanonicalizationError under $.payload, freezing nothing", () => {
    const inner = { ok: true };
    const payload = { inner, bad: [1, Number.NaN] };
    const error = catchError(() => seal(draft({ payload })));
    expect(error).toBeInstanceOf(CanonicalizationError);
    expect(error.code).toBe("non_finite_number");
    expect(error.path).toBe("$.payload.bad[1]");
    expect(Object.isFrozen(inner)).toBe(false);
    expect(catchError(() => seal(draft({ payload: undefined }))).path).toBe("$.payload");
  });

  it("enforces the payload limits, configurable per sealer", () => {
    const big = { blob: "x".repeat(2 * 1024 * 1024) };
    expect(catchError(() => seal(draft({ payload: big }))).code).toBe("too_large");
    expect(seal(draft({ payload: big }), { maxPayloadBytes: 3 * 1024 * 1024 }).payload).toBe(big);
    expect(catchError(() => seal(draft({ payload: [[[1]]] }), { maxDepth: 2 })).code).toBe(
      "too_deep",
    );
  });

  it("rejects hostile fields: lone surrogates, control characters, '/' in producer, wrong types", () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ producer: "a\uD800" }, "$.producer"],
      [{ producer: "orders/eu" }, "$.producer"],
      [{ stream: "line\nbreak" }, "$.stream"],
      [{ type: 42 }, "$.type"],
      [{ seq: 1.5 }, "$.seq"],
      [{ seq: 2 ** 53 }, "$.seq"],
      [{ seq: Number.NaN }, "$.seq"],
      [{ seq: 1n }, "$.seq"],
      [{ schema: { name: "x", version: 1, extra: 1 } }, "$.schema"],
      [{ schema: null }, "$.schema"],
      [{ key: "" }, "$.key"],
      [{ key: "k".repeat(513) }, "$.key"],
      [
        { trace: { traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01" } },
        "$.trace.traceparent",
      ],
      [{ trace: { spanId: "x" } }, "$.trace"],
      [{ parents: ["not-an-id"] }, "$.parents[0]"],
      [{ parents: "01ARYZ6S41TSV4RRFFQ69G5FAV" }, "$.parents"],
      [{ __proto__: { injected: 1 } }, "$"],
    ];
    for (const [overrides, path] of bad) {
      const input = Object.assign(draft(), overrides);
      if ("__proto__" in overrides)
        Object.defineProperty(input, "__proto__", { value: 1, enumerable: true });
      const label = Object.keys(overrides).join();
      const error = catchError(() => seal(input as never));
      expect(error, label).toBeInstanceOf(EnvelopeValidationError);
      expect(
        (error as EnvelopeValidationError).issues.map((i) => i.path),
        label,
      ).toContain(path);
    }
    expect(catchError(() => seal(null as never))).toBeInstanceOf(EnvelopeValidationError);
    expect(catchError(() => seal("draft" as never))).toBeInstanceOf(EnvelopeValidationError);
  });

  it("rejects bad options with an InvalidArgumentError", () => {
    const cases: Array<[unknown, string]> = [
      [{ clock: "now" }, "options.clock"],
      [{ ids: 1 }, "options.ids"],
      [{ algorithm: "md5" }, "options.algorithm"],
      [{ maxPayloadBytes: 0 }, "options.maxPayloadBytes"],
      [{ maxPayloadBytes: "1" }, "options.maxPayloadBytes"],
      [{ maxDepth: -1 }, "options.maxDepth"],
      [null, "options"],
    ];
    for (const [options, path] of cases) {
      const error = catchError(() => createSealer(options as never));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.path).toBe(path);
    }
    expect(catchError(() => seal(draft(), { clock: () => Number.NaN })).path).toBe(
      "options.clock()",
    );
    expect(catchError(() => seal(draft(), { clock: () => 1e20 })).path).toBe("options.clock()");
    expect(catchError(() => seal(draft(), { ids: () => "nope" })).path).toBe("options.ids()");
  });
});

describe("the hot-path draft check agrees with the zod schema", () => {
  // Mostly valid values with a sprinkling of every kind of invalid one, so that both
  // verdicts occur often.
  const text = fc.oneof(
    {
      arbitrary: fc
        .string({ minLength: 1, maxLength: 4 })
        .filter((t) => !/[\u0000-\u001f\u007f/]/.test(t)),
      weight: 8,
    },
    {
      arbitrary: fc.constantFrom(
        "",
        "a/b",
        "x\u0000",
        "\uD800",
        "k".repeat(129),
        "k".repeat(257),
        "k".repeat(513),
      ),
      weight: 1,
    },
  );
  const int = fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 3 }), weight: 8 },
    { arbitrary: fc.constantFrom(-1, 2 ** 53, 1.5, Number.NaN, -0), weight: 1 },
  );
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
  const anything = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.constant([]),
    fc.constant({}),
    fc.constant(7),
  );
  const mostly = <T>(arb: fc.Arbitrary<T>) =>
    fc.oneof({ arbitrary: arb, weight: 12 }, { arbitrary: anything, weight: 1 });
  const trace = fc.oneof(
    {
      weight: 10,
      arbitrary: fc.record(
        {
          traceparent: fc.constantFrom(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "garbage",
          ),
          correlationId: text,
          causationId: mostly(text),
        },
        { requiredKeys: [] },
      ),
    },
    { arbitrary: anything, weight: 1 },
  );
  const parents = mostly(
    fc.array(
      fc.oneof(
        { arbitrary: fc.constant("01ARYZ6S41TSV4RRFFQ69G5FAV"), weight: 10 },
        { arbitrary: fc.constantFrom("01arYZ6s41tsv4rrffq69g5fav", "x"), weight: 1 },
      ),
      { maxLength: 3 },
    ),
  );
  const drafts = fc.record(
    {
      producer: mostly(text),
      stream: maybe(mostly(text)),
      seq: mostly(int),
      type: text,
      schema: mostly(
        fc.oneof(
          { arbitrary: fc.record({ name: text, version: int }), weight: 10 },
          { arbitrary: fc.record({ name: text, version: int, extra: fc.constant(1) }), weight: 1 },
        ),
      ),
      key: maybe(text),
      trace: maybe(trace),
      parents: maybe(parents),
      payload: fc.constant(1),
    },
    { requiredKeys: ["producer", "seq", "type", "schema", "payload"] },
  );
  const withUnknown = fc
    .tuple(drafts, fc.integer({ min: 0, max: 20 }))
    .map(([d, n]) => (n === 0 ? { ...d, unknown: 1 } : d));

  it("accepts exactly what draftFieldsSchema accepts (5,000 near-valid drafts)", () => {
    let accepted = 0;
    fc.assert(
      fc.property(withUnknown, (d) => {
        const fast = isValidDraft(d);
        expect(fast).toBe(draftFieldsSchema.safeParse(d).success);
        if (fast) accepted++;
      }),
      { numRuns: 5000 },
    );
    // Both verdicts must be common, or the agreement says little.
    expect(accepted).toBeGreaterThan(250);
    expect(accepted).toBeLessThan(4750);
  });
});

describe("isCleanText", () => {
  it("refuses exactly the strings with a control character, a noncharacter or a lone surrogate", () => {
    // An independent oracle: Unicode's own properties (Cc is C0, DEL and C1).
    const oracle = (s: string) =>
      !/[\p{Cc}\p{Noncharacter_Code_Point}]/u.test(s) && s.isWellFormed();
    const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    const tricky = fc.constantFrom(
      "😀",
      "\u0001",
      "\u007f",
      "\uD800",
      "\uDC00",
      "a",
      "é",
      "\u001f",
      "\u0085",
      "\u009f",
      "\u00a0",
      "\ufdd0",
      "\ufdef",
      "\ufffe",
      "\uffff",
      "\u{1fffe}",
      "\u{10ffff}",
      "\u{10fffd}",
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit, maxLength: 80 }),
          fc.array(tricky, { maxLength: 10 }).map((a) => a.join("")),
          fc.string({ unit: "binary", maxLength: 100 }),
        ),
        (s) => {
          expect(isCleanText(s)).toBe(oracle(s));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
