/**
 * Tests aimed at mutants that `npm run mutate` left alive in src/canonical/canonicalize.ts:
 * the exact message, code and path of every CanonicalizationError, the limit boundaries
 * (at the limit accepted, one past refused, and at which path the walk stops), strings and
 * members written right at the edge of the reused 16 KiB buffer (so a short room check
 * would drop bytes), key sorting past the insertion-sort size, `freeze`, and option checks.
 */
import { describe, expect, it } from "vitest";
import {
  canonicalBytes,
  DEFAULT_LIMITS,
  decodeUtf8,
  MAX_BYTES_LIMIT,
  resolveLimits,
} from "../../src/canonical/canonicalize.js";
import { CanonicalizationError, canonicalize, InvalidArgumentError } from "../../src/index.js";
import { catchError } from "../helpers.js";

function expectError(fn: () => unknown, code: string, message: string, path: string): Error {
  const error = catchError(fn);
  expect(error).toBeInstanceOf(CanonicalizationError);
  expect({ code: error.code, message: error.message, path: error.path }).toEqual({
    code,
    message: `${message} at ${path}`,
    path,
  });
  return error;
}

/** Output over 1 MiB: the grown buffer is dropped, so the next call starts from 16 KiB. */
function freshBuffer(): void {
  expect(canonicalize("a".repeat(1_100_000)).length).toBe(1_100_002);
}

describe("error messages, codes and paths", () => {
  it("names each rule exactly", () => {
    expectError(
      () => canonicalize({ s: "a\udfffb" }),
      "lone_surrogate",
      "String holds a lone surrogate (not valid Unicode)",
      "$.s",
    );
    const a: Record<string, unknown> = {};
    a.b = { c: a };
    expectError(() => canonicalize({ a }), "cycle", "Value contains a cycle", "$.a.b.c");
    expectError(
      () => canonicalize({ x: [1, undefined] }),
      "undefined",
      "Array holds undefined or a hole (not JSON)",
      "$.x[1]",
    );
    // biome-ignore lint/suspicious/noSparseArray: a hole is the point
    const holey = [1, , 2];
    expectError(
      () => canonicalize(holey),
      "undefined",
      "Array holds undefined or a hole (not JSON)",
      "$[1]",
    );
    expectError(() => canonicalize({ f: () => 1 }), "function", "Function is not JSON", "$.f");
    expectError(() => canonicalize([Symbol("s")]), "symbol", "Symbol is not JSON", "$[0]");
    expectError(() => canonicalize(undefined), "undefined", "undefined is not JSON", "$");
    expectError(
      () => canonicalize({ n: Number.NaN }),
      "non_finite_number",
      "NaN is not a JSON number",
      "$.n",
    );
    expectError(
      () => canonicalize([Number.NEGATIVE_INFINITY]),
      "non_finite_number",
      "-Infinity is not a JSON number",
      "$[0]",
    );
    expectError(
      () => canonicalize({ d: new Date(Number.NaN) }),
      "invalid_date",
      "Date is invalid",
      "$.d",
    );
  });

  it("errors without a cause carry no cause property", () => {
    const a: unknown[] = [];
    a.push(a);
    const error = expectError(() => canonicalize(a), "cycle", "Value contains a cycle", "$[0]");
    expect(Object.hasOwn(error, "cause")).toBe(false);
    expect("cause" in error).toBe(false);
  });

  it("names the constructor of an unsupported object, or falls back", () => {
    expectError(
      () => canonicalize({ m: new Map() }),
      "unsupported_object",
      "Map is not a plain object, array or Date",
      "$.m",
    );
    const noConstructor = Object.create(Object.create(Object.create(null)));
    expectError(
      () => canonicalize({ v: noConstructor }),
      "unsupported_object",
      "An object with a custom prototype is not a plain object, array or Date",
      "$.v",
    );
    class Named {}
    Object.defineProperty(Named, "name", { value: "" });
    expectError(
      () => canonicalize([new Named()]),
      "unsupported_object",
      "An object with a custom prototype is not a plain object, array or Date",
      "$[0]",
    );
    const numberName = Object.create({ constructor: { name: 42 } });
    expectError(
      () => canonicalize(numberName),
      "unsupported_object",
      "An object with a custom prototype is not a plain object, array or Date",
      "$",
    );
  });

  it("accepts a null-prototype object, refuses one whose prototype only looks like Object.prototype", () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.b = 1;
    bare.a = [true];
    expect(canonicalize({ x: bare })).toBe('{"x":{"a":[true],"b":1}}');
    const tagged = Object.create(
      Object.create(null, { [Symbol.toStringTag]: { value: "Thing" } }),
    ) as object;
    expectError(
      () => canonicalize({ t: tagged }),
      "unsupported_object",
      "An object with a custom prototype is not a plain object, array or Date",
      "$.t",
    );
  });

  it("wraps what a getter throws at the getter's path, with the cause", () => {
    const cause = new TypeError("boom");
    const items: unknown[] = [1];
    Object.defineProperty(items, 1, {
      enumerable: true,
      get() {
        throw cause;
      },
    });
    const error = expectError(
      () => canonicalize({ a: { items } }),
      "unreadable_value",
      "Reading the value threw",
      "$.a.items[1]",
    );
    expect(error.cause).toBe(cause);
  });

  it("a RangeError from user code that is neither stack nor memory is unreadable_value", () => {
    const cause = new RangeError("out of range");
    const value = {
      get r() {
        throw cause;
      },
    };
    const error = expectError(
      () => canonicalize({ o: value }),
      "unreadable_value",
      "Reading the value threw",
      "$.o.r",
    );
    expect(error.cause).toBe(cause);
  });

  it("the engine's own stack overflow and string-length errors map to too_deep and too_large", () => {
    const deep = {
      get g(): number {
        const recurse = (n: number): number => recurse(n + 1) + 1;
        return recurse(0);
      },
    };
    const overflow = expectError(
      () => canonicalize({ d: deep }),
      "too_deep",
      "Nesting is too deep for the call stack",
      "$.d.g",
    );
    expect(overflow.cause).toBeInstanceOf(RangeError);
    const huge = {
      get big(): string {
        return "x".repeat(2 ** 30);
      },
    };
    const memory = expectError(
      () => canonicalize([huge]),
      "too_large",
      "Canonical form does not fit in memory",
      "$[0].big",
    );
    expect(memory.cause).toBeInstanceOf(RangeError);
  });
});

describe("string encoding", () => {
  it("encodes U+0080 as two bytes and U+DFFF alone as a lone surrogate", () => {
    expect(Buffer.from(canonicalBytes("\u0080", DEFAULT_LIMITS).bytes)).toEqual(
      Buffer.from([0x22, 0xc2, 0x80, 0x22]),
    );
    expect(canonicalize("\u007f\u0080\u07ff\u0800\ud7ff\ue000")).toBe(
      '"\u007f\u0080\u07ff\u0800\ud7ff\ue000"',
    );
    expectError(
      () => canonicalize("\udfff"),
      "lone_surrogate",
      "String holds a lone surrogate (not valid Unicode)",
      "$",
    );
  });

  it("long strings with escapes or non-ASCII are encoded, not copied as latin1", () => {
    const escaped = `${"a".repeat(70)}\n"é😀`;
    expect(canonicalize(escaped)).toBe(JSON.stringify(escaped));
    const accents = "é".repeat(100);
    expect(canonicalize({ k: accents })).toBe(`{"k":"${accents}"}`);
  });

  it("a key with a lone surrogate is refused, short or long", () => {
    expectError(
      () => canonicalize({ "\ud800": 1 }),
      "lone_surrogate",
      "String holds a lone surrogate (not valid Unicode)",
      "$['\\ud800']",
    );
  });

  it("a long key (over 64 units) is written with its colon", () => {
    const key = "k".repeat(80);
    expect(canonicalize({ [key]: 1, a: 2 })).toBe(`{"a":2,"${key}":1}`);
  });
});

describe("writes right at the edge of the 16 KiB buffer", () => {
  it("a run of single digits fills the buffer byte by byte", () => {
    freshBuffer();
    const ones = new Array<number>(8192).fill(1);
    expect(canonicalize(ones)).toBe(`[${ones.join(",")}]`);
  });

  it("a short string needing escapes right past the end", () => {
    freshBuffer();
    const value = ["a".repeat(16000), "\u0001".repeat(64)];
    expect(canonicalize(value)).toBe(JSON.stringify(value));
  });

  it("a long plain ASCII string as long as the buffer", () => {
    freshBuffer();
    const s = "a".repeat(16384);
    expect(canonicalize(s)).toBe(`"${s}"`);
  });

  it("a long non-ASCII string that needs no escapes", () => {
    freshBuffer();
    const s = "é".repeat(10000);
    expect(canonicalize(s)).toBe(`"${s}"`);
  });

  it("a chunk of control characters, six bytes each", () => {
    freshBuffer();
    const s = "\u0001".repeat(8192);
    expect(canonicalize(s)).toBe(JSON.stringify(s));
  });

  it("a member name written right at the end", () => {
    freshBuffer();
    const value = { a: "x".repeat(16373), b: 1 };
    expect(canonicalize(value)).toBe(JSON.stringify(value));
  });
});

describe("maxBytes: where the walk stops", () => {
  const LIMIT = (maxBytes: number) =>
    `Canonical form is larger than the limit of ${maxBytes} bytes`;

  it("a root number, boolean or null over the limit", () => {
    expect(canonicalize(12345, { maxBytes: 5 })).toBe("12345");
    expectError(() => canonicalize(12345, { maxBytes: 4 }), "too_large", LIMIT(4), "$");
    expectError(() => canonicalize(true, { maxBytes: 3 }), "too_large", LIMIT(3), "$");
    expectError(() => canonicalize(null, { maxBytes: 3 }), "too_large", LIMIT(3), "$");
  });

  it("a short string element stops at its own path", () => {
    expect(canonicalize(["abcd"], { maxBytes: 8 })).toBe('["abcd"]');
    expectError(() => canonicalize(["abcd"], { maxBytes: 6 }), "too_large", LIMIT(6), "$[0]");
    expectError(() => canonicalize(["a"], { maxBytes: 2 }), "too_large", LIMIT(2), "$[0]");
  });

  it("a long string: at the limit accepted, past it stopped at the string", () => {
    const s = "x".repeat(100);
    expect(canonicalize(s, { maxBytes: 102 })).toBe(`"${s}"`);
    expectError(() => canonicalize(s, { maxBytes: 101 }), "too_large", LIMIT(101), "$");
    expectError(() => canonicalize([s], { maxBytes: 102 }), "too_large", LIMIT(102), "$[0]");
  });

  it("an array with more elements than half the room left is refused at the array", () => {
    expectError(
      () => canonicalize({ k: ["a", "b", "c"] }, { maxBytes: 10 }),
      "too_large",
      LIMIT(10),
      "$.k",
    );
  });

  it("nested containers stop at the inner one", () => {
    expect(canonicalize([[1]], { maxBytes: 5 })).toBe("[[1]]");
    expectError(() => canonicalize([[1]], { maxBytes: 3 }), "too_large", LIMIT(3), "$[0]");
    expect(canonicalize({ a: { b: 1 } }, { maxBytes: 13 })).toBe('{"a":{"b":1}}');
    expectError(() => canonicalize({ a: { b: 1 } }, { maxBytes: 12 }), "too_large", LIMIT(12), "$");
    expectError(
      () => canonicalize({ a: { b: 1 } }, { maxBytes: 11 }),
      "too_large",
      LIMIT(11),
      "$.a",
    );
  });
});

describe("key order", () => {
  it("sorts more than 24 keys given in reverse", () => {
    const keys = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, "0")}`);
    const value: Record<string, number> = {};
    for (const key of [...keys].reverse()) value[key] = 1;
    expect(canonicalize(value)).toBe(`{${keys.map((k) => `"${k}":1`).join(",")}}`);
  });

  it("a cached plan of a longer key list is not reused for a shorter one", () => {
    // 65 keys and 1 key with the same first key land in the same cache slot.
    const big: Record<string, number> = { k0: 0, constructor: 1 };
    for (let i = 1; i < 64; i++) big[`z${i}`] = i;
    expect(Object.keys(big)).toHaveLength(65);
    expect(JSON.parse(canonicalize(big))).toEqual(big);
    expect(canonicalize({ k0: 0 })).toBe('{"k0":0}');
  });
});

describe("freeze", () => {
  it("canonicalize and canonicalBytes without freeze leave the value unfrozen", () => {
    const value = { a: [1], b: { c: 2 } };
    expect(canonicalize(value)).toBe('{"a":[1],"b":{"c":2}}');
    expect(decodeUtf8(canonicalBytes(value, DEFAULT_LIMITS).bytes)).toBe('{"a":[1],"b":{"c":2}}');
    expect([Object.isFrozen(value), Object.isFrozen(value.a), Object.isFrozen(value.b)]).toEqual([
      false,
      false,
      false,
    ]);
  });

  it("freeze freezes only the value of that call", () => {
    const earlier = { a: [1], b: { c: 2 } };
    canonicalBytes(earlier, DEFAULT_LIMITS, false);
    const later = { x: [{}] };
    canonicalBytes(later, DEFAULT_LIMITS, true);
    expect([Object.isFrozen(later), Object.isFrozen(later.x), Object.isFrozen(later.x[0])]).toEqual(
      [true, true, true],
    );
    expect([
      Object.isFrozen(earlier),
      Object.isFrozen(earlier.a),
      Object.isFrozen(earlier.b),
    ]).toEqual([false, false, false]);
  });
});

describe("limits and options", () => {
  it("resolveLimits of undefined is the defaults", () => {
    expect(resolveLimits(undefined)).toBe(DEFAULT_LIMITS);
  });

  it("resolveLimits refuses a non-object, null included", () => {
    for (const options of ["fast", null, 5]) {
      const error = catchError(() => resolveLimits(options as never, "opts"));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect([error.code, error.path, error.message]).toEqual([
        "invalid_argument",
        "opts",
        "opts must be an object",
      ]);
    }
  });

  it("maxDepth 1 accepts a flat container and refuses a nested one", () => {
    expect(canonicalize([1, {}], { maxDepth: 2 })).toBe("[1,{}]");
    expect(canonicalize([], { maxDepth: 1 })).toBe("[]");
    expectError(
      () => canonicalize([[]], { maxDepth: 1 }),
      "too_deep",
      "Nesting is deeper than the limit of 1",
      "$[0]",
    );
  });

  it("option errors say the allowed range", () => {
    const depth = catchError(() => canonicalize(1, { maxDepth: 0 }));
    expect([depth.path, depth.message]).toEqual([
      "options.maxDepth",
      "options.maxDepth must be an integer from 1 to 10000",
    ]);
    const bytes = catchError(() => canonicalize(1, { maxBytes: 0 }));
    expect(bytes).toBeInstanceOf(InvalidArgumentError);
    expect([bytes.path, bytes.message]).toEqual([
      "options.maxBytes",
      `options.maxBytes must be an integer from 1 to ${MAX_BYTES_LIMIT}`,
    ]);
    expect(canonicalize(1, { maxBytes: 1 })).toBe("1");
  });
});
