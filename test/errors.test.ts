import vm from "node:vm";
import { describe, expect, it } from "vitest";
import {
  CanonicalizationError,
  canonicalize,
  EnvelopeValidationError,
  IdError,
  IntegrityError,
  InvalidArgumentError,
  isSinkproofError,
  SinkproofError,
} from "../src/index.js";
import { catchError } from "./helpers.js";

describe("the error hierarchy", () => {
  it("every error class is a SinkproofError and an Error, named after its class", () => {
    const errors = [
      new CanonicalizationError("cycle", "m", { path: "$.a" }),
      new InvalidArgumentError("invalid_argument", "m", { path: "options" }),
      new EnvelopeValidationError([{ path: "$.id", code: "custom", message: "bad" }]),
      new IntegrityError("checksum_mismatch", "m", { expected: "a", actual: "b", issues: [] }),
      new IdError("id_overflow", "m"),
    ];
    for (const error of errors) {
      expect(error).toBeInstanceOf(SinkproofError);
      expect(error).toBeInstanceOf(Error);
      expect(isSinkproofError(error)).toBe(true);
      expect(error.name).toBe(error.constructor.name);
      expect(typeof error.code).toBe("string");
    }
  });

  it("carries the cause through ErrorOptions and the context fields", () => {
    const cause = new Error("root");
    const error = new SinkproofError("invalid_argument", "m", {
      cause,
      key: "k",
      sink: "s",
      position: 3,
      path: "$",
    });
    expect(error.cause).toBe(cause);
    expect([error.key, error.sink, error.position, error.path]).toEqual(["k", "s", 3, "$"]);
    expect("cause" in new SinkproofError("invalid_argument", "m")).toBe(false);
  });

  it("EnvelopeValidationError summarises the first issue and counts the rest", () => {
    const error = new EnvelopeValidationError([
      { path: "$.id", code: "custom", message: "bad id" },
      { path: "$.seq", code: "too_small", message: "negative" },
    ]);
    expect(error.message).toBe("Invalid envelope: $.id: bad id (and 1 more)");
    expect(error.path).toBe("$.id");
    expect(Object.isFrozen(error.issues)).toBe(true);
  });

  it("isSinkproofError recognises errors from another realm or another copy of the library", () => {
    const foreign = vm.runInNewContext(
      'const e = new Error("x"); Object.defineProperty(e, Symbol.for("sinkproof.error"), { value: true }); e',
    );
    expect(foreign instanceof SinkproofError).toBe(false);
    expect(isSinkproofError(foreign)).toBe(true);
  });

  it("isSinkproofError says no to everything else", () => {
    for (const value of [
      new Error("x"),
      new TypeError("x"),
      null,
      undefined,
      "error",
      { code: "cycle" },
    ]) {
      expect(isSinkproofError(value)).toBe(false);
    }
  });

  it("no raw TypeError, RangeError or SyntaxError escapes for hostile values", () => {
    const hostile: unknown[] = [
      Number.NaN,
      10n,
      Symbol("s"),
      () => 1,
      "\uD800",
      new Proxy(
        {},
        {
          ownKeys: () => {
            throw new RangeError("trap");
          },
        },
      ),
      Object.create(null, {
        x: {
          get: () => {
            throw new SyntaxError("getter");
          },
          enumerable: true,
        },
      }),
    ];
    for (const value of hostile) {
      const error = catchError(() => canonicalize(value));
      expect(error).toBeInstanceOf(CanonicalizationError);
    }
  });
});
