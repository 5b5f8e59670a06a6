import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { xxh32Text } from "../../src/checksum/xxhash.js";
import {
  CanonicalizationError,
  canonicalize,
  checksum,
  checksumOf,
  checksumsEqual,
  InvalidArgumentError,
  isChecksum,
} from "../../src/index.js";
import { catchError, readVector } from "../helpers.js";

interface XxhashVector {
  algo: "xxh32" | "xxh64";
  seed: number;
  input: string;
  inputType: "utf8" | "repeat";
  repeatChar?: string;
  length: number;
  expected: string;
}

const vectors = JSON.parse(readVector("xxhash.json")) as XxhashVector[];
const inputOf = (v: XxhashVector) =>
  v.inputType === "repeat" ? (v.repeatChar as string).repeat(v.length) : v.input;

describe("xxHash reference values (xxhash.json)", () => {
  it("holds xxh32 and xxh64 cases, all with seed 0", () => {
    expect(vectors.filter((v) => v.algo === "xxh64").length).toBeGreaterThan(5);
    expect(vectors.every((v) => v.seed === 0)).toBe(true);
  });

  for (const v of vectors.filter((x) => x.algo === "xxh64")) {
    it(`xxh64 of ${JSON.stringify(v.input.slice(0, 40))} = ${v.expected}, from a string and from bytes`, () => {
      const input = inputOf(v);
      expect(Buffer.byteLength(input)).toBe(v.length);
      expect(checksumOf(input)).toBe(`xxh64:${v.expected}`);
      expect(checksumOf(new Uint8Array(Buffer.from(input, "utf8")))).toBe(`xxh64:${v.expected}`);
    });
  }

  for (const v of vectors.filter((x) => x.algo === "xxh32")) {
    // sinkproof only uses XXH64; the XXH32 values check the WebAssembly module it ships with.
    it(`xxh32 of ${JSON.stringify(v.input.slice(0, 40))} = ${v.expected} (the wasm module)`, () => {
      expect(xxh32Text(inputOf(v))).toBe(v.expected);
    });
  }
});

describe("checksum", () => {
  it("is xxh64 of the UTF-8 canonical bytes by default", () => {
    const value = { b: "é", a: [1, 2.5] };
    expect(checksum(value)).toBe(checksumOf(canonicalize(value)));
    expect(checksum(value)).toMatch(/^xxh64:[0-9a-f]{16}$/);
  });

  it("is SHA-256 of the canonical bytes on request, checked against node:crypto", () => {
    const value = { b: "é", a: [1, 2.5] };
    const expected = createHash("sha256").update(canonicalize(value), "utf8").digest("hex");
    expect(checksum(value, { algorithm: "sha256" })).toBe(`sha256:${expected}`);
    expect(checksumOf("abc", { algorithm: "sha256" })).toBe(
      "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("does not depend on key order, and does on every value", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 2 }), (dict) => {
        const reversed = Object.fromEntries(Object.entries(dict).reverse());
        expect(checksum(reversed)).toBe(checksum(dict));
      }),
      { numRuns: 300 },
    );
    expect(checksum({ a: 1 })).not.toBe(checksum({ a: 1.5 }));
    expect(checksum({ a: "1" })).not.toBe(checksum({ a: 1 }));
  });

  it("hashes the payload of the worked example in docs/checksums.md to the value given there", () => {
    // Kept in step with the document by test/docs.test.ts.
    expect(checksum({ orderId: "o-1", total: 42.5, items: [{ sku: "é-1", qty: 2 }] })).toBe(
      checksumOf('{"items":[{"qty":2,"sku":"é-1"}],"orderId":"o-1","total":42.5}'),
    );
  });

  it("passes canonicalization errors through, with their path", () => {
    const error = catchError(() => checksum({ x: [Number.NaN] }));
    expect(error).toBeInstanceOf(CanonicalizationError);
    expect(error.path).toBe("$.x[0]");
  });

  it("rejects bad arguments with an InvalidArgumentError", () => {
    expect(catchError(() => checksum(1, { algorithm: "md5" as never })).path).toBe(
      "options.algorithm",
    );
    expect(catchError(() => checksumOf(42 as never)).path).toBe("data");
    expect(catchError(() => checksumOf(null as never)).path).toBe("data");
    const lone = catchError(() => checksumOf("a\uD800"));
    expect(lone).toBeInstanceOf(InvalidArgumentError);
    expect(lone.path).toBe("data");
  });
});

describe("isChecksum and checksumsEqual", () => {
  const a = checksum({ n: 1 });
  const b = checksum({ n: 2 });
  const sa = checksum({ n: 1 }, { algorithm: "sha256" });
  const sb = checksum({ n: 2 }, { algorithm: "sha256" });

  it("recognises only the two well-formed shapes", () => {
    expect(isChecksum(a)).toBe(true);
    expect(isChecksum(sa)).toBe(true);
    for (const bad of [
      a.toUpperCase(),
      `${a}0`,
      a.slice(0, -1),
      "md5:00",
      "",
      7,
      null,
      `sha256:${"g".repeat(64)}`,
    ]) {
      expect(isChecksum(bad)).toBe(false);
    }
  });

  it("compares equal and unequal checksums of each algorithm", () => {
    expect(checksumsEqual(a, checksum({ n: 1 }))).toBe(true);
    expect(checksumsEqual(a, b)).toBe(false);
    expect(checksumsEqual(sa, checksum({ n: 1 }, { algorithm: "sha256" }))).toBe(true);
    expect(checksumsEqual(sa, sb)).toBe(false);
    expect(checksumsEqual(a, sa)).toBe(false);
  });

  it("throws invalid_checksum for a malformed checksum instead of answering false", () => {
    const error = catchError(() => checksumsEqual(a, "xxh64:nothex"));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.code).toBe("invalid_checksum");
    expect(error.path).toBe("b");
    expect(catchError(() => checksumsEqual(undefined as never, a)).path).toBe("a");
  });
});
