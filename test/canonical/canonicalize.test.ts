import { readdirSync, readFileSync } from "node:fs";
import vm from "node:vm";
import fc from "fast-check";
import stableStringify from "fast-json-stable-stringify";
import { describe, expect, it } from "vitest";
import {
  CanonicalizationError,
  canonicalize,
  InvalidArgumentError,
  MAX_DEPTH_LIMIT,
} from "../../src/index.js";
import { catchError, nestArrays, nestObjects, readVector, vectorPath } from "../helpers.js";

function doubleFromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

function numberLines(file: string): Array<[bits: string, expected: string]> {
  return readVector(file)
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [bits, expected] = line.split(",");
      return [bits as string, expected as string];
    });
}

describe("RFC 8785 conformance vectors (cyberphone/json-canonicalization)", () => {
  const names = readdirSync(vectorPath("jcs/input"));

  it("has the four reference cases", () => {
    expect(names.sort()).toEqual(["arrays.json", "french.json", "structures.json", "values.json"]);
  });

  for (const name of names) {
    it(`${name}: canonical bytes equal the expected output byte for byte`, () => {
      const input = JSON.parse(readFileSync(vectorPath(`jcs/input/${name}`), "utf8"));
      const expected = readFileSync(vectorPath(`jcs/output/${name}`));
      expect(Buffer.from(canonicalize(input), "utf8").equals(expected)).toBe(true);
    });
  }

  it("es6numbers-sample.txt: every number formats as expected", () => {
    const lines = numberLines("jcs/es6numbers-sample.txt");
    expect(lines.length).toBeGreaterThan(100);
    for (const [bits, expected] of lines) {
      expect(canonicalize(doubleFromBits(bits)), bits).toBe(expected);
    }
  });

  it("es6numbers-discrete.txt: numbers format as expected; NaN and ±Infinity fail (RFC 8785 §3.2.2.3)", () => {
    const lines = numberLines("jcs/es6numbers-discrete.txt");
    let failures = 0;
    for (const [bits, expected] of lines) {
      const value = doubleFromBits(bits);
      if (expected === "null") {
        const error = catchError(() => canonicalize(value));
        expect(error).toBeInstanceOf(CanonicalizationError);
        expect(error.code).toBe("non_finite_number");
        failures++;
      } else {
        expect(canonicalize(value), bits).toBe(expected);
      }
    }
    expect(failures).toBe(3);
  });
});

describe("canonical form", () => {
  it("sorts members by UTF-16 code units, not by code points or locale", () => {
    // U+FB01 (one unit) sorts after U+1F600 (surrogates D83D..): code units, as RFC 8785 says.
    const value = { "\uFB01": 1, "\u{1F600}": 2, a: 3, B: 4, "": 5 };
    expect(canonicalize(value)).toBe('{"":5,"B":4,"a":3,"😀":2,"ﬁ":1}');
  });

  it("escapes like RFC 8785: short escapes, \\u00xx lowercase, nothing else", () => {
    const value = '\b\t\n\f\r\u0000\u001f"\\/\u007f\u2028é😀';
    expect(canonicalize(value)).toBe('"\\b\\t\\n\\f\\r\\u0000\\u001f\\"\\\\/\u007f\u2028é😀"');
  });

  it("writes -0 as 0 and uses ECMAScript number formatting", () => {
    expect(canonicalize([-0, 1e21, 1e-7, 0.1 + 0.2, 5e-324, 2 ** 53])).toBe(
      "[0,1e+21,1e-7,0.30000000000000004,5e-324,9007199254740992]",
    );
  });

  it("sorts every shape right, also when shapes alike in size and first key alternate", () => {
    // The sorted-key cache must only answer for an identical key list.
    const shapes = [
      { k: 1, z: 2, a: 3 },
      { k: 1, y: 2, b: 3 },
      { k: 1, z: 2, a: 3, m: 4 },
      { k: 1, a: 3, z: 2 },
    ];
    for (let round = 0; round < 3; round++) {
      for (const shape of shapes) expect(canonicalize(shape)).toBe(stableStringify(shape));
    }
  });

  it("omits undefined members, as JSON does", () => {
    expect(canonicalize({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it("writes a Date as its ISO-8601 UTC string", () => {
    expect(canonicalize({ at: new Date(Date.UTC(2026, 10, 26, 15, 2, 59, 123)) })).toBe(
      '{"at":"2026-11-26T15:02:59.123Z"}',
    );
  });

  it("accepts null-prototype objects and objects and Dates from another realm", () => {
    const bare = Object.assign(Object.create(null), { b: 1, a: 2 });
    expect(canonicalize(bare)).toBe('{"a":2,"b":1}');
    const foreign = vm.runInNewContext('({ z: [1, { y: new Date(0) }], a: "x" })');
    expect(canonicalize(foreign)).toBe('{"a":"x","z":[1,{"y":"1970-01-01T00:00:00.000Z"}]}');
  });

  it("serializes shared (acyclic) references each time they occur", () => {
    const shared = { x: 1 };
    expect(canonicalize({ a: shared, b: [shared, shared] })).toBe(
      '{"a":{"x":1},"b":[{"x":1},{"x":1}]}',
    );
  });

  it("keeps __proto__, constructor and prototype as ordinary keys and never touches a prototype", () => {
    const value = JSON.parse(
      '{"z":1,"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"prototype":2}',
    );
    expect(canonicalize(value)).toBe(
      '{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"prototype":2,"z":1}',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it("ignores symbol-keyed and non-enumerable properties, as JSON does", () => {
    const value = { a: 1, [Symbol("s")]: 2 };
    Object.defineProperty(value, "hidden", { value: 3, enumerable: false });
    expect(canonicalize(value)).toBe('{"a":1}');
  });

  it("handles long strings, escapes and astral characters across internal chunks", () => {
    const long = `${"é".repeat(9000)}😀${"\n".repeat(10)}${"x".repeat(70_000)}`;
    expect(canonicalize(long)).toBe(JSON.stringify(long));
    const pairAcrossChunk = `${"a".repeat(8191)}😀`;
    expect(canonicalize(pairAcrossChunk)).toBe(JSON.stringify(pairAcrossChunk));
  });

  it("is re-entrant: a getter that canonicalizes does not disturb the outer call", () => {
    const value = {
      get inner() {
        return canonicalize({ b: 2, a: 1 });
      },
      z: [1, 2],
    };
    expect(canonicalize(value)).toBe('{"inner":"{\\"a\\":1,\\"b\\":2}","z":[1,2]}');
  });
});

describe("hostile input gets a CanonicalizationError with a code and a path", () => {
  const cases: Array<[string, () => unknown, string, string]> = [
    ["NaN", () => ({ price: Number.NaN }), "non_finite_number", "$.price"],
    ["Infinity", () => [1, Number.POSITIVE_INFINITY], "non_finite_number", "$[1]"],
    ["-Infinity", () => Number.NEGATIVE_INFINITY, "non_finite_number", "$"],
    ["lone high surrogate", () => ({ s: "a\uD800b" }), "lone_surrogate", "$.s"],
    ["lone low surrogate", () => ["\uDC00"], "lone_surrogate", "$[0]"],
    ["high surrogate at the end", () => "abc\uD83D", "lone_surrogate", "$"],
    ["reversed pair", () => "\uDE00\uD83D", "lone_surrogate", "$"],
    ["lone surrogate in a key", () => ({ "k\uD800": 1 }), "lone_surrogate", "$['k\\ud800']"],
    [
      "lone surrogate in a long key",
      () => ({ [`${"k".repeat(100)}\uD800`]: 1 }),
      "lone_surrogate",
      `$['${"k".repeat(100)}\\ud800']`,
    ],
    ["BigInt", () => ({ n: 10n }), "bigint", "$.n"],
    ["function", () => ({ f: () => 1 }), "function", "$.f"],
    ["toJSON method", () => ({ toJSON: () => 1 }), "function", "$.toJSON"],
    ["symbol", () => ({ s: Symbol("x") }), "symbol", "$.s"],
    ["undefined in an array", () => ({ list: [1, undefined] }), "undefined", "$.list[1]"],
    // biome-ignore lint/suspicious/noSparseArray: a hole is the point
    ["hole in an array", () => [1, , 3], "undefined", "$[1]"],
    ["undefined at the root", () => undefined, "undefined", "$"],
    ["Map", () => ({ m: new Map() }), "unsupported_object", "$.m"],
    ["Set", () => ({ s: new Set([1]) }), "unsupported_object", "$.s"],
    ["class instance", () => ({ c: new (class Order {})() }), "unsupported_object", "$.c"],
    ["typed array", () => ({ t: new Uint8Array(2) }), "unsupported_object", "$.t"],
    ["Buffer", () => [Buffer.from("x")], "unsupported_object", "$[0]"],
    ["RegExp", () => ({ r: /x/ }), "unsupported_object", "$.r"],
    ["boxed number", () => ({ n: Object(1) }), "unsupported_object", "$.n"],
    ["Promise", () => ({ p: Promise.resolve(1) }), "unsupported_object", "$.p"],
    ["Error", () => ({ e: new Error("x") }), "unsupported_object", "$.e"],
    [
      "object with a custom prototype",
      () => ({ o: Object.create({ inherited: 1 }) }),
      "unsupported_object",
      "$.o",
    ],
    ["invalid Date", () => ({ d: new Date(Number.NaN) }), "invalid_date", "$.d"],
    [
      "key with spaces in the path",
      () => ({ "unit price": Number.NaN }),
      "non_finite_number",
      "$['unit price']",
    ],
  ];

  for (const [name, make, code, path] of cases) {
    it(`${name} → ${code} at ${path}`, () => {
      const error = catchError(() => canonicalize(make()));
      expect(error).toBeInstanceOf(CanonicalizationError);
      expect(error.code).toBe(code);
      expect(error.path).toBe(path);
      expect(error.message).toContain(path);
    });
  }

  it("an object cycle → cycle, at the repeated reference", () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = { back: a };
    const error = catchError(() => canonicalize(a));
    expect(error.code).toBe("cycle");
    expect(error.path).toBe("$.self.back");
  });

  it("an array cycle → cycle", () => {
    const list: unknown[] = [1];
    list.push([list]);
    expect(catchError(() => canonicalize(list)).code).toBe("cycle");
  });

  it("accepts 64 levels of nesting by default and refuses 65", () => {
    expect(canonicalize(nestArrays(64))).toBe(`${"[".repeat(64)}0${"]".repeat(64)}`);
    const error = catchError(() => canonicalize(nestArrays(65)));
    expect(error.code).toBe("too_deep");
    expect(error.path).toBe(`$${"[0]".repeat(64)}`);
  });

  it("100,000-deep input gives too_deep, never a stack overflow", () => {
    expect(catchError(() => canonicalize(nestArrays(100_000))).code).toBe("too_deep");
    expect(catchError(() => canonicalize(nestObjects(100_000))).code).toBe("too_deep");
    const deepest = catchError(() =>
      canonicalize(nestObjects(100_000), { maxDepth: MAX_DEPTH_LIMIT }),
    );
    expect(deepest.code).toBe("too_deep");
  });

  it("nesting past the limit gets the same error at the same path however little stack is left", () => {
    // The walk recurses; how deep the engine's stack reaches depends on the caller's frames
    // and on whether the walk was optimized yet. Call it from ever deeper in the stack, down
    // to where the engine refuses to call it at all: wherever the walk's own recursion runs
    // out, the error must be the one a roomy stack gives.
    for (const value of [nestObjects(10_001), nestArrays(10_001)]) {
      const roomy = catchError(() => canonicalize(value, { maxDepth: MAX_DEPTH_LIMIT }));
      expect(roomy.code).toBe("too_deep");
      expect(roomy.message).toContain("deeper than the limit of 10000");
      const seen: CanonicalizationError[] = [];
      const probe = (level: number): number => {
        if (level % 64 === 0) {
          try {
            canonicalize(value, { maxDepth: MAX_DEPTH_LIMIT });
          } catch (error) {
            if (error instanceof CanonicalizationError) seen.push(error);
          }
        }
        return probe(level + 1) + 1;
      };
      expect(() => probe(0)).toThrow(RangeError);
      expect(seen.length).toBeGreaterThan(10);
      for (const error of seen) {
        expect([error.code, error.path, error.message]).toEqual([
          roomy.code,
          roomy.path,
          roomy.message,
        ]);
      }
    }
  });

  it("takes a configurable depth limit", () => {
    expect(canonicalize(nestObjects(3), { maxDepth: 3 })).toBe('{"a":{"a":{"a":0}}}');
    expect(catchError(() => canonicalize(nestObjects(4), { maxDepth: 3 })).code).toBe("too_deep");
  });

  it("enforces the output limit in UTF-8 bytes, exactly", () => {
    expect(canonicalize("éé", { maxBytes: 6 })).toBe('"éé"');
    const error = catchError(() => canonicalize("éé", { maxBytes: 5 }));
    expect(error.code).toBe("too_large");
    expect(canonicalize([1, 2], { maxBytes: 5 })).toBe("[1,2]");
    expect(catchError(() => canonicalize([1, 2], { maxBytes: 4 })).code).toBe("too_large");
  });

  it("fails fast on huge input: a 64 MiB string and a 100M-element array", () => {
    const error = catchError(() => canonicalize({ blob: "x".repeat(64 * 1024 * 1024) }));
    expect(error.code).toBe("too_large");
    expect(error.path).toBe("$.blob");
    expect(catchError(() => canonicalize(new Array(100_000_000))).code).toBe("too_large");
  });

  it("wraps a throwing getter as unreadable_value, with the cause and the path", () => {
    const cause = new TypeError("boom");
    const value = {
      ok: 1,
      get bad() {
        throw cause;
      },
    };
    const error = catchError(() => canonicalize({ outer: value }));
    expect(error.code).toBe("unreadable_value");
    expect(error.path).toBe("$.outer.bad");
    expect(error.cause).toBe(cause);
  });

  it("wraps a revoked proxy as unreadable_value", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(catchError(() => canonicalize({ p: proxy })).code).toBe("unreadable_value");
  });

  it("rejects bad options with an InvalidArgumentError naming the option", () => {
    for (const [options, path] of [
      [{ maxDepth: 0 }, "options.maxDepth"],
      [{ maxDepth: 1.5 }, "options.maxDepth"],
      [{ maxDepth: MAX_DEPTH_LIMIT + 1 }, "options.maxDepth"],
      [{ maxBytes: -1 }, "options.maxBytes"],
      [{ maxBytes: "10" }, "options.maxBytes"],
      ["fast", "options"],
    ] as const) {
      const error = catchError(() => canonicalize(1, options as never));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.code).toBe("invalid_argument");
      expect(error.path).toBe(path);
    }
  });
});

describe("fast-json-stable-stringify is the oracle", () => {
  const edgeNumbers = fc.constantFrom(
    0,
    -0,
    1,
    -1,
    0.1,
    1e21,
    1e-7,
    9.999999999999999e20,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.EPSILON,
    2 ** 53 + 2,
  );
  const numbers = fc.oneof(
    edgeNumbers,
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
  );
  const strings = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.string({ unit: "grapheme" }),
    fc.constantFrom("__proto__", "constructor", "prototype", "\u2028", "\u007f", "\u0000"),
  );
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      numbers,
      strings,
      fc.array(tie("value"), { maxLength: 6 }),
      fc.dictionary(strings, tie("value"), { maxKeys: 6, noNullPrototype: false }),
    ),
  })).value;

  it("produces byte-identical output on 2,000 generated JSON values (unicode keys, edge numbers)", () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(canonicalize(value)).toBe(stableStringify(value));
      }),
      { numRuns: 2000 },
    );
  });

  it("matches on long strings (Node's encoder path) of every kind of character", () => {
    const long = fc.oneof(
      fc.string({ minLength: 60, maxLength: 400 }),
      fc.string({ minLength: 60, maxLength: 400, unit: "binary" }),
      fc.string({ minLength: 60, maxLength: 400, unit: "grapheme" }),
    );
    fc.assert(
      fc.property(
        fc.array(long, { maxLength: 4 }),
        fc.dictionary(long, long, { maxKeys: 3 }),
        (list, dict) => {
          expect(canonicalize([list, dict])).toBe(stableStringify([list, dict]));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("matches on Dates too (both use the ISO string)", () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true }), (date) => {
        expect(canonicalize({ d: date })).toBe(stableStringify({ d: date }));
      }),
      { numRuns: 300 },
    );
  });

  it("is idempotent: canonical text parses to a value with the same canonical text", () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalize(value);
        expect(canonicalize(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it("accepts exactly the well-formed strings made of arbitrary UTF-16 code units", () => {
    const units = fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    });
    fc.assert(
      fc.property(units, (s) => {
        if (s.isWellFormed()) expect(canonicalize({ [s]: s })).toBe(stableStringify({ [s]: s }));
        else expect(catchError(() => canonicalize([s])).code).toBe("lone_surrogate");
      }),
      { numRuns: 2000 },
    );
  });
});
