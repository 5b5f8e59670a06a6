/**
 * Tests aimed at mutants that `npm run mutate` left alive in src/envelope/: the exact
 * issues (path, code, message, order) of each refusal of `checkEnvelope`,
 * `assertEnvelopeFields`, `parseEnvelope`, `verify`, `assertIntact` and `seal`; the
 * envelope or draft that changes between reads (a getter, a Proxy), which must never slip
 * another value past the check; each bound of the hot-path field checks (one past, exactly
 * at), which must agree with the zod schemas; the W3C traceparent rules one by one; and
 * the messages of the argument errors of the id factory, the sealer and the key helpers.
 */
import { describe, expect, it } from "vitest";
import {
  assertEnvelopeFields,
  checkEnvelope,
  checkEnvelopeKeepingPayload,
} from "../../src/envelope/check.js";
import { isValidDraft, isValidEnvelopeFields } from "../../src/envelope/fields.js";
import { hashPayload } from "../../src/envelope/payload.js";
import { isCleanText, isEnvelopeTime, isTraceparent } from "../../src/envelope/schema.js";
import { payloadLimits } from "../../src/envelope/verify.js";
import {
  assertIntact,
  CanonicalizationError,
  checksum as checksumOf,
  createIdFactory,
  createSealer,
  ENVELOPE_LIMITS,
  type Envelope,
  EnvelopeValidationError,
  envelopeSchema,
  IdError,
  IntegrityError,
  InvalidArgumentError,
  idempotencyKey,
  idTime,
  isId,
  parseEnvelope,
  seal,
  sequenceKey,
  verify,
} from "../../src/index.js";
import { catchError } from "../helpers.js";

const LIMITS = payloadLimits(undefined);
const ID = "01ARYZ6S41TSV4RRFFQ69G5FAV";
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const DRAFT = {
  producer: "orders-svc",
  stream: "orders",
  seq: 1,
  type: "order.created",
  schema: { name: "order", version: 1 },
  payload: { orderId: "o-1", total: 42 },
};

function sealed(extra: Record<string, unknown> = {}): Envelope {
  return seal({ ...DRAFT, payload: { ...DRAFT.payload }, ...extra } as typeof DRAFT);
}

/** A plain (not frozen) copy of a sealed envelope. */
function plain(
  envelope: Envelope = sealed(),
): Record<string, unknown> & { key: string; checksum: string } {
  return {
    ...envelope,
    schema: { ...envelope.schema },
    trace: { ...envelope.trace },
    parents: [...envelope.parents],
    payload: JSON.parse(JSON.stringify(envelope.payload)) as unknown,
  };
}

function validationIssues(fn: () => unknown) {
  const error = catchError(fn);
  expect(error).toBeInstanceOf(EnvelopeValidationError);
  return (error as EnvelopeValidationError).issues;
}

/** An object whose `name` getter answers `values[i]` on its i-th read (then the last). */
function withGetter(
  base: Record<string, unknown>,
  name: string,
  values: readonly unknown[],
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  let reads = 0;
  Object.defineProperty(out, name, {
    enumerable: true,
    get: () => values[Math.min(reads++, values.length - 1)],
  });
  return out;
}

function throwingProxy(): object {
  return new Proxy(
    {},
    {
      get: () => {
        throw new Error("boom");
      },
      ownKeys: () => {
        throw new Error("boom");
      },
      getOwnPropertyDescriptor: () => {
        throw new Error("boom");
      },
    },
  );
}

describe("check.ts: assertEnvelopeFields", () => {
  it("returns a valid envelope as it is", () => {
    const envelope = plain();
    expect(assertEnvelopeFields(envelope)).toBe(envelope);
  });

  it("turns a read that throws into one unreadable_value issue at the base path", () => {
    const error = catchError(() => assertEnvelopeFields(throwingProxy()));
    expect(error).toBeInstanceOf(EnvelopeValidationError);
    expect((error as EnvelopeValidationError).issues).toEqual([
      { path: "$", code: "unreadable_value", message: "reading the envelope threw: boom" },
    ]);
    expect((error.cause as Error).message).toBe("boom");
    expect(validationIssues(() => assertEnvelopeFields(throwingProxy(), [3]))[0]?.path).toBe(
      "$[3]",
    );
  });

  it("lists the zod issues of bad fields, under the base path", () => {
    expect(validationIssues(() => assertEnvelopeFields({ ...plain(), seq: -1 }))).toEqual([
      expect.objectContaining({ path: "$.seq", code: "too_small" }),
    ]);
    expect(validationIssues(() => assertEnvelopeFields({ ...plain(), seq: -1 }, [2]))).toEqual([
      expect.objectContaining({ path: "$[2].seq", code: "too_small" }),
    ]);
  });

  it("answers 'not an envelope' when the fields are bad on one read and good on the next", () => {
    const envelope = withGetter(plain(), "seq", [-1, 1]);
    expect(validationIssues(() => assertEnvelopeFields(envelope, [4]))).toEqual([
      { path: "$[4]", code: "invalid_envelope", message: "not an envelope" },
    ]);
  });
  it("turns a field that is bad on one read and throws on the next into an unreadable_value issue", () => {
    let reads = 0;
    const envelope = plain();
    Object.defineProperty(envelope, "seq", {
      enumerable: true,
      get: () => {
        if (reads++ > 0) throw new Error("boom");
        return -1;
      },
    });
    expect(validationIssues(() => assertEnvelopeFields(envelope, [6]))).toEqual([
      { path: "$[6]", code: "unreadable_value", message: "reading the envelope threw: boom" },
    ]);
  });
});

describe("check.ts: checkEnvelope", () => {
  it("returns a sealed (frozen) envelope itself", () => {
    const envelope = sealed({ trace: { correlationId: "c-1" }, parents: [ID] });
    expect(checkEnvelope(envelope, LIMITS)).toBe(envelope);
  });

  it("returns a frozen copy of an envelope that is not frozen, payload frozen in place", () => {
    const envelope = plain();
    const checked = checkEnvelope(envelope, LIMITS);
    expect(checked).not.toBe(envelope);
    expect(checked).toEqual(envelope);
    expect(Object.isFrozen(checked)).toBe(true);
    expect(checked.payload).toBe(envelope.payload);
    expect(Object.isFrozen(envelope.payload)).toBe(true);
  });

  it("copies a frozen envelope whose schema, trace or parents are not frozen", () => {
    const base = sealed({ trace: { correlationId: "c-1" }, parents: [ID] });
    for (const part of [
      { schema: { ...base.schema } },
      { trace: { ...base.trace } },
      { parents: [...base.parents] },
    ]) {
      const envelope = Object.freeze({ ...base, ...part });
      const checked = checkEnvelope(envelope, LIMITS);
      expect(checked, Object.keys(part)[0]).not.toBe(envelope);
      expect(checked).toEqual(envelope);
      expect(Object.isFrozen(checked.schema)).toBe(true);
      expect(Object.isFrozen(checked.trace)).toBe(true);
      expect(Object.isFrozen(checked.parents)).toBe(true);
    }
  });

  it("copies a frozen envelope whose payload holds a Date, with the payload's JSON form", () => {
    const base = sealed({ payload: { at: new Date(0) } });
    expect(base.payload).toEqual({ at: "1970-01-01T00:00:00.000Z" });
    const envelope = Object.freeze({ ...base, payload: { at: new Date(0) } });
    const checked = checkEnvelope(envelope, LIMITS);
    expect(checked).not.toBe(envelope);
    expect(checked.payload).toEqual({ at: "1970-01-01T00:00:00.000Z" });
    expect(Object.isFrozen(checked.payload)).toBe(true);
  });

  it("reports a checksum mismatch at $.checksum, or under the base path", () => {
    const envelope = { ...plain(), payload: { orderId: "o-2", total: 42 } };
    const error = catchError(() => checkEnvelope(envelope, LIMITS));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.code).toBe("checksum_mismatch");
    expect(error.path).toBe("$.checksum");
    expect((error as IntegrityError).issues[0]?.path).toBe("$.checksum");
    expect(catchError(() => checkEnvelope(envelope, LIMITS, [7])).path).toBe("$[7].checksum");
  });

  it("reports a payload that is not JSON as an unverifiable IntegrityError with its path", () => {
    const envelope = { ...plain(), payload: { x: 1n } };
    const error = catchError(() => checkEnvelope(envelope, LIMITS, [2]));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.code).toBe("unverifiable");
    expect(error.message).toBe(
      "Envelope integrity cannot be checked: BigInt is not a JSON number at $[2].payload.x",
    );
    expect((error as IntegrityError).issues).toEqual([
      {
        path: "$[2].payload.x",
        code: "bigint",
        message: "BigInt is not a JSON number at $[2].payload.x",
      },
    ]);
    expect(error.path).toBe("$[2].payload.x");
    expect(error.key).toBe(envelope.key);
    expect(error.cause).toBeInstanceOf(CanonicalizationError);
    expect(catchError(() => checkEnvelope(envelope, LIMITS)).path).toBe("$.payload.x");
  });

  it("turns a field that throws when read again into an unreadable_value issue", () => {
    const envelope = withGetter(plain(), "type", ["order.created"]);
    let reads = 0;
    Object.defineProperty(envelope, "type", {
      enumerable: true,
      get: () => {
        if (reads++ > 0) throw new Error("boom");
        return "order.created";
      },
    });
    expect(validationIssues(() => checkEnvelope(envelope, LIMITS, [1]))).toEqual([
      { path: "$[1]", code: "unreadable_value", message: "reading the envelope threw: boom" },
    ]);
  });

  it("refuses an envelope whose fields change between the check and the copy", () => {
    const good = plain();
    const changed = withGetter(good, "type", ["order.created", "bad\u0000type"]);
    expect(validationIssues(() => checkEnvelope(changed, LIMITS))).toEqual([
      expect.objectContaining({ path: "$.type", code: "custom" }),
    ]);
    // A checksum read a fourth time (by the copy) as another well-formed checksum.
    const other = checksumOf({ other: true });
    const checksum = good.checksum;
    const moving = withGetter(good, "checksum", [checksum, checksum, checksum, other, checksum]);
    expect(validationIssues(() => checkEnvelope(moving, LIMITS, [5]))).toEqual([
      { path: "$[5]", code: "unreadable_value", message: "the envelope changed while it was read" },
    ]);
  });

  it("keeps the canonical bytes only when asked", () => {
    const envelope = sealed();
    expect(checkEnvelopeKeepingPayload(envelope, LIMITS, [], false).canonical).toBeUndefined();
    const kept = checkEnvelopeKeepingPayload(envelope, LIMITS, [], true).canonical;
    expect(Buffer.from(kept as Uint8Array).toString("utf8")).toBe('{"orderId":"o-1","total":42}');
  });
});

describe("payload.ts: hashPayload", () => {
  it("keeps no canonical bytes by default", () => {
    expect(hashPayload({ a: 1 }, LIMITS, "xxh64", false).canonical).toBeUndefined();
  });
});

describe("fields.ts: the hot-path checks agree with the schemas at each bound", () => {
  it("accepts a sealed envelope's fields and refuses what is not an object with only envelope keys", () => {
    expect(isValidEnvelopeFields(plain())).toBe(true);
    expect(isValidEnvelopeFields(null)).toBe(false);
    expect(isValidEnvelopeFields([plain()])).toBe(false);
    expect(isValidEnvelopeFields({ ...plain(), extra: 1 })).toBe(false);
  });

  it("refuses a time that is not a string, even one that reads as a valid time", () => {
    const envelope = plain();
    expect(isValidEnvelopeFields({ ...envelope, time: 5 })).toBe(false);
    expect(isValidEnvelopeFields({ ...envelope, time: [envelope.time] })).toBe(false);
  });

  it("refuses a traceparent that is not one", () => {
    expect(isValidEnvelopeFields({ ...plain(), trace: { traceparent: TRACEPARENT } })).toBe(true);
    expect(isValidEnvelopeFields({ ...plain(), trace: { traceparent: "nope" } })).toBe(false);
    expect(isValidEnvelopeFields({ ...plain(), trace: { traceparent: 5 } })).toBe(false);
  });

  it("accepts names and keys of exactly the longest length, refuses one more", () => {
    const envelope = plain();
    const producer = "p".repeat(ENVELOPE_LIMITS.producer);
    expect(isValidEnvelopeFields({ ...envelope, producer })).toBe(true);
    expect(isValidEnvelopeFields({ ...envelope, producer: `${producer}p` })).toBe(false);
    const key = "k".repeat(ENVELOPE_LIMITS.key);
    expect(isValidEnvelopeFields({ ...envelope, key })).toBe(true);
    expect(isValidEnvelopeFields({ ...envelope, key: `${key}k` })).toBe(false);
  });

  it("refuses a key that is not a string, even one with a length", () => {
    expect(isValidEnvelopeFields({ ...plain(), key: ["k"] })).toBe(false);
    expect(isValidEnvelopeFields({ ...plain(), key: 5 })).toBe(false);
  });

  it("accepts exactly the most parents, refuses one more", () => {
    const most = Array.from({ length: ENVELOPE_LIMITS.parents }, () => ID);
    expect(isValidEnvelopeFields({ ...plain(), parents: most })).toBe(true);
    expect(isValidEnvelopeFields({ ...plain(), parents: [...most, ID] })).toBe(false);
    expect(isValidDraft({ ...DRAFT, parents: [...most, ID] })).toBe(false);
  });
});

describe("parse.ts: parseEnvelope", () => {
  it("refuses text longer than 6 times the payload limit plus 64 KiB, accepts that length", () => {
    const limit = 1 * 6 + 64 * 1024;
    const atLimit = `${" ".repeat(limit - 4)}null`;
    expect(validationIssues(() => parseEnvelope(atLimit, { maxPayloadBytes: 1 }))).toEqual([
      expect.objectContaining({ path: "$", code: "invalid_type" }),
    ]);
    expect(validationIssues(() => parseEnvelope(`${atLimit} `, { maxPayloadBytes: 1 }))).toEqual([
      {
        path: "$",
        code: "too_large",
        message: `input of ${limit + 1} characters exceeds the limit`,
      },
    ]);
    const bytes = new TextEncoder().encode(`${atLimit} `);
    expect(validationIssues(() => parseEnvelope(bytes, { maxPayloadBytes: 1 }))).toEqual([
      { path: "$", code: "too_large", message: `input of ${limit + 1} bytes exceeds the limit` },
    ]);
    const large = `${" ".repeat(200_000)}null`;
    expect(validationIssues(() => parseEnvelope(large, { maxPayloadBytes: 100_000 }))).toEqual([
      expect.objectContaining({ path: "$", code: "invalid_type" }),
    ]);
  });

  it("parses a sealed envelope's JSON under a small payload limit", () => {
    const envelope = seal({ ...DRAFT, payload: 1 });
    expect(parseEnvelope(JSON.stringify(envelope), { maxPayloadBytes: 1 })).toEqual(envelope);
  });

  it("reports bytes that are not UTF-8 and text that is not JSON", () => {
    expect(validationIssues(() => parseEnvelope(new Uint8Array([0xff])))).toEqual([
      { path: "$", code: "invalid_utf8", message: "input is not valid UTF-8" },
    ]);
    let jsonMessage = "";
    try {
      JSON.parse("{nope");
    } catch (error) {
      jsonMessage = (error as Error).message;
    }
    expect(validationIssues(() => parseEnvelope("{nope"))).toEqual([
      { path: "$", code: "invalid_json", message: `input is not JSON: ${jsonMessage}` },
    ]);
  });

  it("reports a value that is not an object with one issue", () => {
    expect(validationIssues(() => parseEnvelope('"x"'))).toHaveLength(1);
    expect(validationIssues(() => parseEnvelope(5))).toEqual([
      expect.objectContaining({ path: "$", code: "invalid_type" }),
    ]);
  });

  it("reports a missing payload as the one issue of otherwise good fields", () => {
    const { payload: _, ...rest } = plain();
    expect(validationIssues(() => parseEnvelope(JSON.stringify(rest)))).toEqual([
      {
        path: "$.payload",
        code: "invalid_type",
        message: "Invalid input: expected nonoptional, received undefined",
      },
      { path: "$.payload", code: "invalid_type", message: "payload is required" },
    ]);
  });

  it("reports a malformed checksum once, and still checks the payload", () => {
    const envelope = { ...plain(), checksum: "bad" };
    expect(validationIssues(() => parseEnvelope(JSON.stringify(envelope)))).toEqual([
      expect.objectContaining({ path: "$.checksum", code: "custom" }),
    ]);
    expect(validationIssues(() => parseEnvelope({ ...envelope, payload: { x: 1n } }))).toEqual([
      expect.objectContaining({ path: "$.checksum", code: "custom" }),
      {
        path: "$.payload.x",
        code: "bigint",
        message: "BigInt is not a JSON number at $.payload.x",
      },
    ]);
  });

  it("turns an input object that throws when read into one unreadable_value issue at $", () => {
    expect(validationIssues(() => parseEnvelope(throwingProxy()))).toEqual([
      { path: "$", code: "unreadable_value", message: "reading the envelope threw: boom" },
    ]);
  });

  it("reports a checksum mismatch with its path and message", () => {
    const envelope = { ...plain(), payload: { orderId: "o-2", total: 42 } };
    const actual = checksumOf({ orderId: "o-2", total: 42 });
    const error = catchError(() => parseEnvelope(JSON.stringify(envelope))) as IntegrityError;
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.path).toBe("$.checksum");
    expect(error.key).toBe(envelope.key);
    expect(error.message).toBe(
      `Envelope altered after sealing: payload has checksum ${actual}, envelope says ${envelope.checksum}`,
    );
    expect(error.issues).toEqual([
      {
        path: "$.checksum",
        code: "checksum_mismatch",
        message: `payload has checksum ${actual}, envelope says ${envelope.checksum}`,
      },
    ]);
  });
});

describe("verify.ts: verify and assertIntact", () => {
  it("refuses what is not an envelope object", () => {
    for (const [value, shown] of [
      [null, "null"],
      [[], "array"],
      [5, "number"],
      [undefined, "undefined"],
    ] as const) {
      expect(verify(value)).toEqual({
        ok: false,
        issues: [
          { path: "$", code: "invalid_type", message: `expected an envelope object, got ${shown}` },
        ],
      });
    }
  });

  it("reports an envelope that throws when read", () => {
    expect(verify(throwingProxy())).toEqual({
      ok: false,
      issues: [
        { path: "$", code: "unreadable_value", message: "reading the envelope threw: Error: boom" },
      ],
    });
  });

  it("reports a malformed checksum with its one issue, and does not freeze the payload", () => {
    const payload = { a: 1 };
    expect(verify({ checksum: "bad", payload })).toEqual({
      ok: false,
      issues: [
        {
          path: "$.checksum",
          code: "invalid_checksum",
          message: 'must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits',
        },
      ],
    });
    expect(Object.isFrozen(payload)).toBe(false);
    const envelope = plain();
    expect(verify(envelope)).toEqual({ ok: true });
    expect(Object.isFrozen(envelope.payload)).toBe(false);
  });

  it("assertIntact: an unverifiable envelope names its first issue, and a key only when it is a string", () => {
    const error = catchError(() => assertIntact({ key: 5, checksum: "bad", payload: {} }));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.code).toBe("unverifiable");
    expect(error.message).toBe(
      'Envelope integrity cannot be checked: $.checksum: must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits',
    );
    expect(error.key).toBeUndefined();
    expect(error.path).toBe("$.checksum");
    const named = catchError(() => assertIntact({ key: "k-1", checksum: "bad", payload: {} }));
    expect(named.key).toBe("k-1");
    expect(catchError(() => assertIntact(null)).code).toBe("unverifiable");
  });

  it("assertIntact: a mismatch is a checksum_mismatch with both checksums", () => {
    const envelope = { ...plain(), payload: { orderId: "o-2", total: 42 } };
    const error = catchError(() => assertIntact(envelope)) as IntegrityError;
    expect(error.code).toBe("checksum_mismatch");
    expect(error.expected).toBe(envelope.checksum);
    expect(error.actual).toBe(checksumOf({ orderId: "o-2", total: 42 }));
    expect(error.key).toBe(envelope.key);
  });
});

describe("seal.ts", () => {
  it("refuses a draft whose schema or trace has a field it cannot have", () => {
    expect(
      validationIssues(() =>
        seal({ ...DRAFT, schema: { name: "order", version: 1, x: 1 } as never }),
      ),
    ).toEqual([expect.objectContaining({ path: "$.schema", code: "unrecognized_keys" })]);
    expect(validationIssues(() => seal({ ...DRAFT, trace: { x: 1 } as never }))).toEqual([
      expect.objectContaining({ path: "$.trace", code: "unrecognized_keys" }),
    ]);
  });

  it("refuses a null schema with the schema's issue", () => {
    expect(validationIssues(() => seal({ ...DRAFT, schema: null as never }))).toEqual([
      expect.objectContaining({ path: "$.schema", code: "invalid_type" }),
    ]);
  });

  it("refuses a bad draft", () => {
    expect(validationIssues(() => seal({ ...DRAFT, seq: -1 }))).toEqual([
      expect.objectContaining({ path: "$.seq", code: "too_small" }),
    ]);
  });

  it("answers 'draft is not valid' when the draft is bad on one read and good on the next", () => {
    const draft = withGetter(DRAFT, "seq", [-1, 1]);
    expect(validationIssues(() => seal(draft as never))).toEqual([
      { path: "$", code: "invalid_draft", message: "draft is not valid" },
    ]);
  });

  it("seals the schema and trace as read once", () => {
    const schema = withGetter({ version: 1 }, "name", ["order", "bad\u0000name"]);
    const trace = withGetter({}, "correlationId", ["c-1", "bad\u0000id"]);
    const envelope = seal({ ...DRAFT, schema, trace } as never);
    expect(envelope.schema).toEqual({ name: "order", version: 1 });
    expect(envelope.trace).toEqual({ correlationId: "c-1" });
  });

  it("turns a draft that throws when read into one unreadable_value issue at $", () => {
    expect(validationIssues(() => seal(throwingProxy() as never))).toEqual([
      { path: "$", code: "unreadable_value", message: "reading the draft threw: boom" },
    ]);
  });

  it("accepts clock times from 0 to the end of year 9999, and nothing else", () => {
    expect(seal(DRAFT, { clock: () => 0 }).time).toBe("1970-01-01T00:00:00.000Z");
    expect(seal(DRAFT, { clock: () => 253_402_300_799_999 }).time).toBe("9999-12-31T23:59:59.999Z");
    for (const [ms, shown] of [
      [-1, "-1"],
      [253_402_300_800_000, "253402300800000"],
      [1.5, "1.5"],
      ["1", '"1"'],
    ] as const) {
      const error = catchError(() => seal(DRAFT, { clock: () => ms as number }));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toBe(
        `options.clock() must return an integer number of ms from 0 to 253402300799999 (year 9999), got ${shown}`,
      );
    }
  });

  it("names bad sealer options in its messages", () => {
    expect(catchError(() => createSealer({ ids: 5 as never })).message).toBe(
      "options.ids must be an id factory function, got number",
    );
    expect(catchError(() => createSealer({ algorithm: "md5" as never })).message).toBe(
      'options.algorithm must be "xxh64" or "sha256", got string',
    );
    expect(catchError(() => seal(DRAFT, { ids: () => "nope" })).message).toBe(
      "options.ids() must return a ULID, got string",
    );
  });
});

describe("schema.ts", () => {
  it("isCleanText refuses a control character or a lone surrogate in a long string", () => {
    const long = "a".repeat(70);
    expect(isCleanText(long)).toBe(true);
    expect(isCleanText(`${long}\u0000`)).toBe(false);
    expect(isCleanText(`${long}\ud800`)).toBe(false);
    expect(isCleanText(`${long}\ufdd0`)).toBe(false);
  });

  it("isEnvelopeTime refuses a real time outside the four-digit-year format", () => {
    const extended = "+010000-01-01T00:00:00.000Z";
    expect(new Date(extended).toISOString()).toBe(extended);
    expect(isEnvelopeTime(extended)).toBe(false);
    expect(isEnvelopeTime("2026-11-26T12:00:00.000Z")).toBe(true);
  });

  it("isTraceparent: each W3C rule on its own", () => {
    expect(isTraceparent(TRACEPARENT)).toBe(true);
    expect(isTraceparent("nope")).toBe(false);
    expect(isTraceparent(`ff${TRACEPARENT.slice(2)}`)).toBe(false);
    expect(isTraceparent(`00-${"0".repeat(32)}-00f067aa0ba902b7-01`)).toBe(false);
    expect(isTraceparent(`00-4bf92f3577b34da6a3ce929d0e0e4736-${"0".repeat(16)}-01`)).toBe(false);
    // Zeros at one end only are fine.
    expect(isTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4700-00f067aa0ba90200-01")).toBe(true);
    expect(isTraceparent("00-0bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toBe(true);
    // Version 00 has exactly four parts; a later version may have more.
    expect(isTraceparent(`${TRACEPARENT}-x`)).toBe(false);
    expect(isTraceparent(`01${TRACEPARENT.slice(2)}-x`)).toBe(true);
    expect(isTraceparent(`01${TRACEPARENT.slice(2)}`)).toBe(true);
  });

  it("envelopeSchema: a missing payload and a payload that is not JSON", () => {
    const { payload: _, ...rest } = plain();
    const missing = envelopeSchema.safeParse(rest);
    expect(missing.success).toBe(false);
    expect(missing.error?.issues).toEqual([
      expect.objectContaining({
        path: ["payload"],
        code: "custom",
        message: "payload is required",
      }),
    ]);
    const bad = envelopeSchema.safeParse({ ...rest, payload: { x: 1n } });
    expect(bad.error?.issues).toEqual([
      expect.objectContaining({
        path: ["payload"],
        code: "custom",
        message: "BigInt is not a JSON number at $.x",
        params: { code: "bigint" },
      }),
    ]);
  });
});

describe("ids.ts", () => {
  it("throws id_overflow once the random part is all 31s, and again after", () => {
    const next = createIdFactory({ clock: () => 1, random: () => 0.999 });
    expect(next()).toBe("0000000001ZZZZZZZZZZZZZZZZ");
    for (let i = 0; i < 2; i++) {
      const error = catchError(() => next());
      expect(error).toBeInstanceOf(IdError);
      expect(error.code).toBe("id_overflow");
      expect(error.message).toBe("Id factory overflow: 2^80 ids were made in one millisecond");
    }
  });

  it("increments the first random digit when only it is below 31", () => {
    let calls = 0;
    // The first random number makes the last digit, the 16th the first.
    const next = createIdFactory({
      clock: () => 1,
      random: () => (++calls === 16 ? 30 / 32 : 0.999),
    });
    expect(next()).toBe("0000000001YZZZZZZZZZZZZZZZ");
    expect(next()).toBe(`0000000001Z${"0".repeat(15)}`);
  });

  it("refuses a random source that answers outside [0, 1) or not a number", () => {
    for (const [r, shown] of [
      [-0.1, "-0.1"],
      [1, "1"],
      ["0.5", '"0.5"'],
    ] as const) {
      const error = catchError(createIdFactory({ random: () => r as number }));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toBe(`options.random() must return a number in [0, 1), got ${shown}`);
    }
  });

  it("refuses a clock that answers a bad time", () => {
    const error = catchError(createIdFactory({ clock: () => -1 }));
    expect(error.message).toBe(
      "options.clock() must return an integer from 0 to 281474976710655 (ms since epoch), got -1",
    );
  });

  it("isId refuses what is not a string", () => {
    expect(isId(ID)).toBe(true);
    expect(isId([ID])).toBe(false);
  });

  it("idTime shows a bad id in its message: a string quoted (40 characters at most), else its type", () => {
    expect(catchError(() => idTime("nope")).message).toBe(
      'id must be a ULID (26 Crockford base-32 characters), got "nope"',
    );
    expect(catchError(() => idTime("x".repeat(50))).message).toBe(
      `id must be a ULID (26 Crockford base-32 characters), got "${"x".repeat(40)}"`,
    );
    expect(catchError(() => idTime(5 as never)).message).toBe(
      "id must be a ULID (26 Crockford base-32 characters), got number",
    );
  });
});

describe("keys.ts", () => {
  it("idempotencyKey refuses what is not an object of named parts", () => {
    for (const [parts, shown] of [
      [null, "null"],
      [[1], "array"],
      ["x", "string"],
    ] as const) {
      const error = catchError(() => idempotencyKey(parts as never));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.path).toBe("parts");
      expect(error.message).toBe(`parts must be an object of named parts, got ${shown}`);
    }
  });

  it("idempotencyKey refuses an object that is not plain, accepts a null prototype", () => {
    class Parts {
      a = 1;
    }
    expect(catchError(() => idempotencyKey(new Parts() as never)).message).toBe(
      "parts must be a plain object, got Parts",
    );
    const bare = Object.assign(Object.create(null) as Record<string, number>, { a: 1 });
    expect(idempotencyKey(bare)).toBe(idempotencyKey({ a: 1 }));
  });

  it("idempotencyKey takes 1 to 64 parts", () => {
    const parts = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i]));
    expect(idempotencyKey(parts(64))).toMatch(/^ik1_[0-9a-f]{32}$/);
    expect(catchError(() => idempotencyKey(parts(65))).message).toBe(
      "parts must have 1 to 64 parts, got 65",
    );
    expect(catchError(() => idempotencyKey({})).message).toBe(
      "parts must have 1 to 64 parts, got 0",
    );
  });

  it("idempotencyKey takes part names of 1 to 128 characters", () => {
    const name = "n".repeat(128);
    expect(idempotencyKey({ [name]: 1 })).toMatch(/^ik1_/);
    const error = catchError(() => idempotencyKey({ [`${name}n`]: 1 }));
    expect(error.message).toBe(
      `parts[${JSON.stringify(`${name}n`)}] name must be 1 to 128 characters`,
    );
    expect(catchError(() => idempotencyKey({ "": 1 })).message).toBe(
      'parts[""] name must be 1 to 128 characters',
    );
  });

  it("idempotencyKey names a bad part value", () => {
    expect(catchError(() => idempotencyKey({ a: null as never })).message).toBe(
      'parts["a"] must be a string, a finite number or a boolean, got null',
    );
    expect(catchError(() => idempotencyKey({ a: "\ud800" })).message).toBe(
      'parts["a"] holds a lone surrogate (not valid Unicode)',
    );
    const error = catchError(() => idempotencyKey({ a: "x".repeat(70_000) }));
    expect(error.message).toBe("parts must be at most 65536 bytes in canonical form");
    expect(error.cause).toBeInstanceOf(CanonicalizationError);
  });

  it("idempotencyKey turns parts that throw when read into an argument error at parts", () => {
    const error = catchError(() => idempotencyKey(throwingProxy() as never));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.path).toBe("parts");
  });

  it("sequenceKey refuses a bad producer, stream or seq with its message", () => {
    expect(sequenceKey("p", "s", 0)).toBe("p/s/0");
    for (const producer of ["", "a/b", 5]) {
      expect(catchError(() => sequenceKey(producer as never, "s", 1)).message).toBe(
        "producer must be a non-empty name without control characters, lone surrogates or '/'",
      );
    }
    for (const stream of ["", "a\u0000", 5]) {
      expect(catchError(() => sequenceKey("p", stream as never, 1)).message).toBe(
        "stream must be a non-empty name without control characters, noncharacters or lone surrogates",
      );
    }
    for (const [seq, shown] of [
      [-1, "number"],
      [1.5, "number"],
      ["1", "string"],
    ] as const) {
      expect(catchError(() => sequenceKey("p", "s", seq as never)).message).toBe(
        `seq must be a non-negative safe integer, got ${shown}`,
      );
    }
  });
});
