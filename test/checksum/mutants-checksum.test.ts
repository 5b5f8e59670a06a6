/**
 * Tests aimed at mutants that `npm run mutate` left alive in src/checksum/: the exact
 * shape `isChecksum` accepts (prefix, length and every hex digit, each on its own), the
 * messages and paths of the argument errors, and a comparison of checksums of two lengths
 * (which must answer false, never reach the constant-time compare of unequal buffers).
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { algorithmOf } from "../../src/checksum/checksum.js";
import {
  type Checksum,
  checksum,
  checksumOf,
  checksumsEqual,
  InvalidArgumentError,
  isChecksum,
} from "../../src/index.js";
import { catchError } from "../helpers.js";

const HEX16 = "0123456789abcdef";
const HEX64 = HEX16.repeat(4);

describe("isChecksum: each part of the shape on its own", () => {
  it("accepts every lowercase hex digit after either prefix", () => {
    expect(isChecksum(`xxh64:${HEX16}`)).toBe(true);
    expect(isChecksum(`sha256:${HEX64}`)).toBe(true);
  });

  it("refuses a right length with another prefix", () => {
    expect(`xxh65:${HEX16}`).toHaveLength(22);
    expect(isChecksum(`xxh65:${HEX16}`)).toBe(false);
    expect(isChecksum(`abcdef${HEX16}`)).toBe(false);
    expect(`sha257:${HEX64}`).toHaveLength(71);
    expect(isChecksum(`sha257:${HEX64}`)).toBe(false);
    expect(isChecksum(`xxh64:a${HEX64}`)).toBe(false);
  });

  it("refuses the right prefix with one digit too few or too many", () => {
    expect(isChecksum(`sha256:${HEX64.slice(1)}`)).toBe(false);
    expect(isChecksum(`sha256:${HEX64}0`)).toBe(false);
    expect(isChecksum(`xxh64:${HEX16.slice(1)}`)).toBe(false);
  });

  it("refuses the right prefix and length with one character that is not a lowercase hex digit", () => {
    // Each neighbour of the two ranges 0-9 and a-f: below '0', between '9' and 'a' (':',
    // '@', 'A', 'F'), past 'f'.
    for (const c of ["/", "-", " ", ":", "@", "A", "F", "`", "g", "z"]) {
      expect(isChecksum(`xxh64:${c}${HEX16.slice(1)}`), c).toBe(false);
      expect(isChecksum(`xxh64:${HEX16.slice(1)}${c}`), c).toBe(false);
      expect(isChecksum(`sha256:${HEX64.slice(1)}${c}`), c).toBe(false);
    }
    expect(isChecksum(`xxh64:${"g".repeat(16)}`)).toBe(false);
  });
});

describe("algorithmOf", () => {
  it("names the algorithm of each well-formed checksum", () => {
    expect(algorithmOf(`xxh64:${HEX16}` as Checksum)).toBe("xxh64");
    expect(algorithmOf(`sha256:${HEX64}` as Checksum)).toBe("sha256");
  });
});

describe("checksumsEqual across algorithms", () => {
  it("answers false for a SHA-256 checksum against an xxh64 one, either way round", () => {
    const sha = checksum({ n: 1 }, { algorithm: "sha256" });
    const xxh = checksum({ n: 1 });
    expect(checksumsEqual(sha, xxh)).toBe(false);
    expect(checksumsEqual(xxh, sha)).toBe(false);
  });
});

describe("argument errors: their messages and paths", () => {
  it("names the algorithms accepted and the type given", () => {
    const error = catchError(() => checksum(1, { algorithm: "md5" as never }));
    expect(error.message).toBe('options.algorithm must be "xxh64" or "sha256", got string');
    const of = catchError(() => checksumOf("a", { algorithm: "md5" as never }));
    expect(of).toBeInstanceOf(InvalidArgumentError);
    expect(of.path).toBe("options.algorithm");
    expect(of.message).toBe('options.algorithm must be "xxh64" or "sha256", got string');
  });

  it("says why a string with a lone surrogate has no checksum", () => {
    expect(catchError(() => checksumOf("a\uD800")).message).toBe(
      "data holds a lone surrogate and has no UTF-8 encoding",
    );
  });

  it("names the type of data that is neither bytes nor a string", () => {
    expect(catchError(() => checksumOf(42 as never)).message).toBe(
      "data must be a Uint8Array or a string, got number",
    );
    expect(catchError(() => checksumOf([1] as never)).message).toBe(
      "data must be a Uint8Array or a string, got array",
    );
  });

  it("turns data whose prototype cannot be read into an error at data", () => {
    const trap = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw new Error("trap");
        },
      },
    );
    const error = catchError(() => checksumOf(trap as never));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.path).toBe("data");
    expect(error.message).toBe("data could not be read: trap");
  });

  it("shows a malformed checksum string, cut to 80 characters, and names another value by its type", () => {
    const good = checksum({ n: 1 });
    expect(catchError(() => checksumsEqual(good, "xxh64:nothex")).message).toBe(
      'b must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits, got "xxh64:nothex"',
    );
    const long = `sha256:${"z".repeat(200)}`;
    expect(catchError(() => checksumsEqual(long, good)).message).toBe(
      `a must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits, got ${JSON.stringify(long.slice(0, 80))}`,
    );
    expect(catchError(() => checksumsEqual(good, 7 as never)).message).toBe(
      'b must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits, got number',
    );
  });
});

describe("checksum with options", () => {
  it("gives the same answer with empty options as with none, and SHA-256 when asked", () => {
    const value = { b: [1, "é"], a: null };
    expect(checksum(value, {})).toBe(checksum(value));
    const expected = createHash("sha256").update('{"a":null,"b":[1,"é"]}', "utf8").digest("hex");
    expect(checksum(value, { algorithm: "sha256" })).toBe(`sha256:${expected}`);
  });
});
