/**
 * Tests aimed at mutants that `npm run mutate` left alive in src/canonical/path.ts: each
 * character `formatPath` escapes in a quoted key (a quote, a backslash, the C0 controls,
 * DEL, each end of the surrogate range) next to its neighbours that stay as they are, and a
 * symbol segment. Each expected path is written out by hand.
 */
import { describe, expect, it } from "vitest";
import { formatPath } from "../../src/canonical/path.js";
import { CanonicalizationError, canonicalize } from "../../src/index.js";
import { catchError } from "../helpers.js";

describe("formatPath", () => {
  it("writes identifier keys with a dot, indexes in brackets and other keys quoted", () => {
    expect(formatPath([])).toBe("$");
    expect(formatPath(["items", 3, "unit price", "_$a1"])).toBe("$.items[3]['unit price']._$a1");
    expect(formatPath(["1a", ""])).toBe("$['1a']['']");
  });

  it("escapes a quote and a backslash in a quoted key with a backslash", () => {
    expect(formatPath(["it's"])).toBe("$['it\\'s']");
    expect(formatPath(["a\\b"])).toBe("$['a\\\\b']");
    expect(formatPath(["'\\'"])).toBe("$['\\'\\\\\\'']");
    expect(formatPath(['say "hi"'])).toBe(`$['say "hi"']`);
  });

  it("writes C0 controls and DEL as \\u escapes of four hex digits, and leaves a space and '~' as they are", () => {
    expect(formatPath(["a\nb"])).toBe("$['a\\u000ab']");
    expect(formatPath(["\u0000"])).toBe("$['\\u0000']");
    expect(formatPath(["\u001f"])).toBe("$['\\u001f']");
    expect(formatPath(["\u007f"])).toBe("$['\\u007f']");
    expect(formatPath(["a b~"])).toBe("$['a b~']");
  });

  it("escapes a lone surrogate at either end of the range, and leaves the characters around it and a pair alone", () => {
    expect(formatPath(["\ud800"])).toBe("$['\\ud800']");
    expect(formatPath(["\udfff"])).toBe("$['\\udfff']");
    expect(formatPath(["\ud7ff"])).toBe("$['\ud7ff']");
    expect(formatPath(["\ue000"])).toBe("$['\ue000']");
    expect(formatPath(["é 😀"])).toBe("$['é 😀']");
  });

  it("writes a symbol segment by its description, in brackets", () => {
    expect(formatPath([Symbol("s"), "a"])).toBe("$[Symbol(s)].a");
  });

  it("is the path a CanonicalizationError gives for a key that needs quoting", () => {
    const error = catchError(() => canonicalize({ "it's\n": { v: Number.NaN } }));
    expect(error).toBeInstanceOf(CanonicalizationError);
    expect(error.path).toBe("$['it\\'s\\u000a'].v");
  });
});
