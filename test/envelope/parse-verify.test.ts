import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  assertIntact,
  checksum,
  type Envelope,
  EnvelopeValidationError,
  envelopeSchema,
  IntegrityError,
  InvalidArgumentError,
  parseEnvelope,
  seal,
  verify,
} from "../../src/index.js";
import { catchError, nestArrays } from "../helpers.js";

function sample(
  payload: unknown = { orderId: "o-1", total: 42.5 },
  algorithm?: "sha256",
): Envelope {
  return seal(
    {
      producer: "orders-svc",
      stream: "orders",
      seq: 1,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload,
    },
    algorithm === undefined ? undefined : { algorithm },
  );
}

/** A mutable deep copy, as a consumer would get it off the wire. */
const copy = (envelope: unknown) => JSON.parse(JSON.stringify(envelope));

describe("verify and assertIntact", () => {
  it("accept an intact envelope, of either algorithm", () => {
    for (const envelope of [sample(), sample(undefined, "sha256")]) {
      expect(verify(envelope)).toEqual({ ok: true });
      expect(() => assertIntact(envelope)).not.toThrow();
    }
  });

  it("detect any change to the payload", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (original, altered) => {
        fc.pre(checksum(original) !== checksum(altered));
        const tampered = { ...copy(sample(original)), payload: altered };
        const result = verify(tampered);
        expect(result.ok).toBe(false);
        const error = catchError(() => assertIntact(tampered));
        expect(error).toBeInstanceOf(IntegrityError);
        expect(error.code).toBe("checksum_mismatch");
        expect((error as IntegrityError).expected).toBe(tampered.checksum);
        expect((error as IntegrityError).actual).toBe(checksum(altered));
        expect(error.key).toBe("orders-svc/orders/1");
      }),
      { numRuns: 300 },
    );
  });

  it("detect a one-character edit deep in the payload and a changed checksum", () => {
    const envelope = copy(sample({ items: [{ sku: "a", qty: 1 }] }));
    envelope.payload.items[0].qty = 2;
    expect(verify(envelope)).toMatchObject({
      ok: false,
      issues: [{ path: "$.checksum", code: "checksum_mismatch" }],
    });
    const other = copy(sample());
    other.checksum = other.checksum.replace(/.$/, (c: string) => (c === "0" ? "1" : "0"));
    expect(verify(other).ok).toBe(false);
  });

  it("report a malformed checksum or a non-JSON payload as unverifiable", () => {
    const malformed = { ...copy(sample()), checksum: "md5:abc" };
    expect(verify(malformed)).toMatchObject({
      ok: false,
      issues: [{ path: "$.checksum", code: "invalid_checksum" }],
    });
    expect(catchError(() => assertIntact(malformed)).code).toBe("unverifiable");
    const nan = { ...copy(sample()), payload: { n: Number.NaN } };
    expect(verify(nan)).toMatchObject({
      ok: false,
      issues: [{ path: "$.payload.n", code: "non_finite_number" }],
    });
    const error = catchError(() => assertIntact(nan));
    expect(error.code).toBe("unverifiable");
    expect(error.path).toBe("$.payload.n");
  });

  it("never throw for hostile envelopes, only return issues", () => {
    for (const hostile of [
      null,
      undefined,
      42,
      "x",
      [],
      { checksum: 1 },
      { payload: 1n, checksum: "xxh64:0" },
    ]) {
      const result = verify(hostile);
      expect(result.ok).toBe(false);
      expect(catchError(() => assertIntact(hostile))).toBeInstanceOf(IntegrityError);
    }
  });

  it("take the payload limits as options", () => {
    const envelope = sample({ blob: "x".repeat(100) });
    expect(verify(envelope, { maxPayloadBytes: 50 })).toMatchObject({
      ok: false,
      issues: [{ code: "too_large" }],
    });
    expect(catchError(() => verify(envelope, { maxPayloadBytes: 0 }))).toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});

describe("parseEnvelope", () => {
  it("round-trips an envelope through JSON text, UTF-8 bytes and a parsed object", () => {
    const envelope = sample({ name: "Crème brûlée 😀", at: "2026-11-26T12:00:00.000Z" });
    const text = JSON.stringify(envelope);
    for (const input of [
      text,
      Buffer.from(text),
      new TextEncoder().encode(text),
      JSON.parse(text),
    ]) {
      const parsed = parseEnvelope(input);
      expect(parsed).toEqual(envelope);
      expect(
        Object.isFrozen(parsed) &&
          Object.isFrozen(parsed.payload) &&
          Object.isFrozen(parsed.schema),
      ).toBe(true);
    }
  });

  it("lists every issue with its path, code and message", () => {
    const bad = {
      ...copy(sample()),
      id: "nope",
      seq: -1,
      time: "2026-02-30T00:00:00.000Z",
      checksum: "XXH64:1",
      extra: 1,
      schema: { name: "order" },
    };
    const error = catchError(() => parseEnvelope(bad));
    expect(error).toBeInstanceOf(EnvelopeValidationError);
    const issues = (error as EnvelopeValidationError).issues;
    expect(issues.map((i) => i.path).sort()).toEqual(
      ["$", "$.checksum", "$.id", "$.schema.version", "$.seq", "$.time"].sort(),
    );
    for (const issue of issues) {
      expect(typeof issue.code).toBe("string");
      expect(issue.message.length).toBeGreaterThan(0);
    }
    expect(error.message).toContain("more");
  });

  it("reports missing fields, including the payload", () => {
    const { payload: _payload, trace: _trace, ...rest } = copy(sample());
    const issues = (catchError(() => parseEnvelope(rest)) as EnvelopeValidationError).issues;
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining(["$.trace", "$.payload"]));
  });

  it("throws IntegrityError when a well-formed envelope was altered, unless verify is off", () => {
    const altered = { ...copy(sample()), payload: { orderId: "o-1", total: 4250 } };
    const error = catchError(() => parseEnvelope(altered));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.code).toBe("checksum_mismatch");
    expect(parseEnvelope(altered, { verify: false }).payload).toEqual({
      orderId: "o-1",
      total: 4250,
    });
  });

  it("turns bad JSON, bad UTF-8 and wrong types into typed errors", () => {
    const cases: Array<[unknown, string]> = [
      ["{not json", "invalid_json"],
      ["", "invalid_json"],
      [new Uint8Array([0x7b, 0xff, 0x7d]), "invalid_utf8"],
      [null, "invalid_type"],
      [42, "invalid_type"],
      [[sample()], "invalid_type"],
      [new Map(), "invalid_type"],
      ['"a string"', "invalid_type"],
    ];
    for (const [input, code] of cases) {
      const error = catchError(() => parseEnvelope(input));
      expect(error).toBeInstanceOf(EnvelopeValidationError);
      expect((error as EnvelopeValidationError).issues[0]?.code).toBe(code);
    }
  });

  it("handles hostile payloads: __proto__ keys, lone surrogates, deep nesting, huge text", () => {
    const envelope = copy(sample());
    const text = JSON.stringify(envelope).replace(
      '"payload":{',
      '"payload":{"__proto__":{"polluted":true},"constructor":{"prototype":1},',
    );
    const polluted = parseEnvelope(text, { verify: false });
    expect(Object.keys(polluted.payload as object)).toContain("__proto__");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const lone = JSON.stringify(envelope).replace('"o-1"', '"o-\\ud800"');
    const loneIssues = (catchError(() => parseEnvelope(lone)) as EnvelopeValidationError).issues;
    expect(loneIssues).toEqual([
      expect.objectContaining({ path: "$.payload.orderId", code: "lone_surrogate" }),
    ]);

    const deep = JSON.stringify({ ...envelope, payload: "PAYLOAD" }).replace(
      '"PAYLOAD"',
      `${"[".repeat(100_000)}${"]".repeat(100_000)}`,
    );
    expect((catchError(() => parseEnvelope(deep)) as EnvelopeValidationError).issues[0]?.code).toBe(
      "too_deep",
    );
    const deepObject = { ...envelope, payload: nestArrays(100_000) };
    expect(
      (catchError(() => parseEnvelope(deepObject)) as EnvelopeValidationError).issues[0]?.code,
    ).toBe("too_deep");

    const huge = "x".repeat(7 * 1024 * 1024);
    expect((catchError(() => parseEnvelope(huge)) as EnvelopeValidationError).issues[0]?.code).toBe(
      "too_large",
    );
    const bigPayload = { ...envelope, payload: { blob: "x".repeat(2 * 1024 * 1024) } };
    expect(
      (catchError(() => parseEnvelope(bigPayload)) as EnvelopeValidationError).issues[0]?.code,
    ).toBe("too_large");
  });

  it("freezes nothing of a rejected input", () => {
    const input = { ...copy(sample()), seq: -1 };
    catchError(() => parseEnvelope(input));
    expect(Object.isFrozen(input.payload)).toBe(false);
  });

  it("rejects bad options with an InvalidArgumentError", () => {
    expect(catchError(() => parseEnvelope(sample(), { verify: "yes" as never })).path).toBe(
      "options.verify",
    );
    expect(catchError(() => parseEnvelope(sample(), { maxDepth: 0 })).path).toBe(
      "options.maxDepth",
    );
  });
});

describe("envelopeSchema (zod)", () => {
  it("accepts a sealed envelope and rejects one whose payload is not JSON", () => {
    expect(envelopeSchema.safeParse(copy(sample())).success).toBe(true);
    expect(
      envelopeSchema.safeParse({ ...copy(sample()), payload: { n: Number.NaN } }).success,
    ).toBe(false);
    const { payload: _payload, ...noPayload } = copy(sample());
    expect(envelopeSchema.safeParse(noPayload).success).toBe(false);
  });
});
