/**
 * Tests aimed at mutants that `npm run mutate` left alive in src/reconcile/digest.ts: the
 * exact code, path and message of every argument error of `rowHash`, `formatDigest`,
 * `digestIndex`, `digest(split)` and `observeRange(range)`; each bound of a hash range and
 * a split on its own; rows that are not plain objects; the observations `observeRange`
 * answers (no `count` or `payload` invented or dropped); empty buckets left out; the
 * internal `SortedRows` (empty ranges, insertion order); and the `createHash` fallback of
 * Node versions without `crypto.hash`.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { digestIndex, formatDigest, HASH_SPACE, rowHash } from "../../src/digest/index.js";
import { checksum, type Observation } from "../../src/index.js";
import { checkHashRange, RowBuffer, SortedRows, splitWidth } from "../../src/reconcile/digest.js";
import type { DigestSplit, HashRange } from "../../src/reconcile/types.js";
import { catchError } from "../helpers.js";

/** The row hash of the module notes, computed here with createHash. */
function expectedRowHash(key: string, sum: string): { hash: number; hi: number; lo: number } {
  const d = createHash("sha256").update(`${key}\n${sum}`, "utf8").digest();
  return { hash: d.readUInt32BE(0), hi: d.readUInt32BE(4), lo: d.readUInt32BE(8) };
}

function expectInvalid(fn: () => unknown, path: string, message: string): void {
  const error = catchError(fn);
  expect(error.code).toBe("invalid_argument");
  expect(error.path).toBe(path);
  expect(error.message).toBe(message);
}

/** Reads an observeRange answer to the end (it is a generator: errors come on reading). */
function observe(index: ReturnType<typeof digestIndex>, range: HashRange): Observation[] {
  return [...(index.observeRange(range) as Iterable<Observation>)];
}

const SUM = checksum({ n: 1 });

describe("rowHash: argument errors", () => {
  it("names the key when the key is not a string", () => {
    expectInvalid(
      () => rowHash(1 as never, SUM),
      "key",
      "rowHash needs a key and a checksum (strings), got number and string",
    );
    expectInvalid(
      () => rowHash(null as never, 2 as never),
      "key",
      "rowHash needs a key and a checksum (strings), got null and number",
    );
  });

  it("names the checksum when only the checksum is not a string", () => {
    expectInvalid(
      () => rowHash("k", 1 as never),
      "checksum",
      "rowHash needs a key and a checksum (strings), got string and number",
    );
    expectInvalid(
      () => rowHash("k", undefined as never),
      "checksum",
      "rowHash needs a key and a checksum (strings), got string and undefined",
    );
  });

  it("names the string that holds a lone surrogate", () => {
    const message = "rowHash needs well-formed strings (a lone surrogate has no UTF-8 form)";
    expectInvalid(() => rowHash("k\ud800", SUM), "key", message);
    expectInvalid(() => rowHash("k", "x\udc00"), "checksum", message);
    expectInvalid(() => rowHash("\ud800", "\udc00x"), "key", message);
  });
});

describe("formatDigest: argument errors", () => {
  it("names the word sum that is not a safe integer", () => {
    expectInvalid(
      () => formatDigest(1.5, 0),
      "hiSum",
      "hiSum must be a safe integer or a bigint, got 1.5",
    );
    expectInvalid(
      () => formatDigest(0, Number.NaN),
      "loSum",
      "loSum must be a safe integer or a bigint, got NaN",
    );
    expectInvalid(
      () => formatDigest(0n, 2 ** 53),
      "loSum",
      "loSum must be a safe integer or a bigint, got 9007199254740992",
    );
  });

  it("refuses a word sum that is neither a number nor a bigint, even one BigInt() reads", () => {
    expectInvalid(
      () => formatDigest("1" as never, 0),
      "hiSum",
      "hiSum must be a safe integer or a bigint, got string",
    );
    expectInvalid(
      () => formatDigest(0, true as never),
      "loSum",
      "loSum must be a safe integer or a bigint, got boolean",
    );
    expectInvalid(
      () => formatDigest(null as never, 0),
      "hiSum",
      "hiSum must be a safe integer or a bigint, got null",
    );
  });

  it("reduces each sum mod 2^32, numbers and bigints alike", () => {
    expect(formatDigest(0, 0)).toBe("0000000000000000");
    expect(formatDigest(-1, 2n ** 32n)).toBe("ffffffff00000000");
    expect(formatDigest(0xabcdef, 0x12345678n)).toBe("00abcdef12345678");
  });
});

describe("hash ranges: each bound on its own", () => {
  const message = "must be { from, to } with 0 ≤ from < to ≤ 2^32";

  it("accepts integer ranges inside [0, 2^32], up to the whole space", () => {
    for (const range of [
      { from: 0, to: HASH_SPACE },
      { from: 0, to: 1 },
      { from: HASH_SPACE - 1, to: HASH_SPACE },
    ]) {
      expect(() => checkHashRange(range, "r")).not.toThrow();
    }
  });

  it("refuses each broken bound, with the path it was given", () => {
    for (const range of [
      { from: 0.5, to: 1 },
      { from: 0, to: 1.5 },
      { from: -1, to: 1 },
      { from: 1, to: 1 },
      { from: 2, to: 1 },
      { from: 0, to: HASH_SPACE + 1 },
      { from: "0", to: 1 },
      {},
    ]) {
      expectInvalid(() => checkHashRange(range as never, "r"), "r", `r ${message}`);
    }
  });

  it("refuses null and a non-object holding from and to", () => {
    expectInvalid(() => checkHashRange(null as never, "r"), "r", `r ${message}`);
    expectInvalid(() => checkHashRange(undefined as never, "r"), "r", `r ${message}`);
    const fn = Object.assign(() => 0, { from: 0, to: 1 });
    expectInvalid(() => checkHashRange(fn as never, "r"), "r", `r ${message}`);
  });

  it("observeRange checks its range at path `range`", () => {
    const index = digestIndex([{ key: "k", checksum: SUM }]);
    expectInvalid(() => observe(index, { from: 1, to: 1 }), "range", `range ${message}`);
    expectInvalid(() => observe(index, null as never), "range", `range ${message}`);
  });
});

describe("splits: each rule on its own", () => {
  const message =
    "must be { from, to, buckets } with 0 ≤ from < to ≤ 2^32 and (to - from) divisible by buckets";

  it("returns the bucket width (to - from) / buckets", () => {
    expect(splitWidth({ from: 0, to: HASH_SPACE, buckets: 1 }, "s")).toBe(HASH_SPACE);
    expect(splitWidth({ from: 0, to: HASH_SPACE, buckets: 256 }, "s")).toBe(2 ** 24);
    expect(splitWidth({ from: 1, to: 4, buckets: 3 }, "s")).toBe(1);
    expect(splitWidth({ from: 10, to: 16, buckets: 2 }, "s")).toBe(3);
  });

  it("refuses each broken rule, with the path it was given", () => {
    for (const split of [
      { from: 1, to: 1, buckets: 1 }, // empty range, (to - from) divisible
      { from: -2, to: 2, buckets: 2 }, // negative from
      { from: 0, to: 3, buckets: 1.5 }, // not an integer, (to - from) divisible
      { from: 0, to: 4, buckets: -1 }, // below 1, (to - from) divisible
      { from: 0, to: 4, buckets: 0 },
      { from: 0, to: 5, buckets: 2 }, // not divisible
      { from: 1, to: 4, buckets: 5 }, // not divisible, (to + from) is
      { from: 0, to: 4, buckets: "2" },
      { from: 0, to: 4 },
      null,
      7,
    ]) {
      expectInvalid(() => splitWidth(split as never, "s"), "s", `s ${message}`);
    }
  });

  it("digest(split) checks its split at path `split`", () => {
    const index = digestIndex([{ key: "k", checksum: SUM }]);
    expectInvalid(() => index.digest({ from: 0, to: 5, buckets: 2 }), "split", `split ${message}`);
    expectInvalid(() => index.digest(null as never), "split", `split ${message}`);
  });
});

describe("digestIndex: argument errors", () => {
  it("refuses what is not iterable, by its type", () => {
    const message = "must be an iterable of { key, checksum }, got";
    expectInvalid(() => digestIndex(5 as never), "rows", `rows ${message} number`);
    expectInvalid(() => digestIndex(null as never), "rows", `rows ${message} null`);
    expectInvalid(() => digestIndex(undefined as never), "rows", `rows ${message} undefined`);
    expectInvalid(() => digestIndex({} as never), "rows", `rows ${message} object`);
  });

  it("reports a trap or getter that throws while the rows are read, at path `rows`", () => {
    const trap = new Proxy([], {
      get() {
        throw new Error("boom");
      },
    });
    expectInvalid(() => digestIndex(trap as never), "rows", "rows could not be read: boom");
    const getter = [
      {
        get key(): string {
          throw new Error("bad key");
        },
        checksum: SUM,
      },
    ];
    expectInvalid(() => digestIndex(getter as never), "rows", "rows could not be read: bad key");
    function* rows() {
      yield { key: "a", checksum: SUM };
      throw new Error("cut");
    }
    expectInvalid(() => digestIndex(rows()), "rows", "rows could not be read: cut");
  });

  it("names the row that is not { key, checksum } (strings), by its index", () => {
    const message = "must be { key, checksum } (strings)";
    const good = { key: "a", checksum: SUM };
    for (const bad of [
      5,
      null,
      "text",
      { checksum: SUM },
      { key: 1, checksum: SUM },
      { key: "b" },
      { key: "b", checksum: 1 },
      {},
      Object.assign(() => 0, { key: "b", checksum: SUM }),
    ]) {
      expectInvalid(() => digestIndex([bad] as never), "rows[0]", `rows[0] ${message}`);
      expectInvalid(() => digestIndex([good, bad] as never), "rows[1]", `rows[1] ${message}`);
      expectInvalid(() => digestIndex([good, good, bad] as never), "rows[2]", `rows[2] ${message}`);
    }
  });

  it("names the row and the field that holds a lone surrogate", () => {
    const message = "must be a well-formed string (a lone surrogate has no UTF-8 form)";
    const good = { key: "a", checksum: SUM };
    expectInvalid(
      () => digestIndex([good, { key: "b\uD800", checksum: SUM }]),
      "rows[1].key",
      `rows[1].key ${message}`,
    );
    expectInvalid(
      () => digestIndex([{ key: "b", checksum: `${SUM}\uDC00` }]),
      "rows[0].checksum",
      `rows[0].checksum ${message}`,
    );
  });

  it("refuses a count that is not a positive integer", () => {
    const bad = (count: unknown) => [
      { key: "a", checksum: SUM },
      { key: "b", checksum: SUM, count },
    ];
    for (const [count, shown] of [
      [0, "0"],
      [-1, "-1"],
      [1.5, "1.5"],
      [0.5, "0.5"],
      ["2", '"2"'],
      [Number.NaN, "NaN"],
      [2n, "2n"],
    ] as const) {
      expectInvalid(
        () => digestIndex(bad(count) as never),
        "rows[1].count",
        `rows[1].count must be a positive integer, got ${shown}`,
      );
    }
  });
});

describe("digestIndex: what it answers", () => {
  const payload = { n: 7 };
  const rows = [
    { key: "plain", checksum: checksum({ r: 1 }) },
    { key: "counted", checksum: checksum({ r: 2 }), count: 3 },
    { key: "with-payload", checksum: checksum({ r: 3 }), payload },
    { key: "one", checksum: checksum({ r: 4 }), count: 1 },
  ];

  it("observeRange answers each row as given: no count or payload invented or dropped", () => {
    const index = digestIndex(rows);
    const seen = observe(index, { from: 0, to: HASH_SPACE });
    expect(seen).toHaveLength(4);
    const byKey = new Map(seen.map((o) => [o.key, o]));
    expect(Object.keys(byKey.get("plain") ?? {}).sort()).toEqual(["checksum", "key"]);
    expect(byKey.get("plain")).toEqual({ key: "plain", checksum: rows[0]?.checksum });
    expect(Object.keys(byKey.get("counted") ?? {}).sort()).toEqual(["checksum", "count", "key"]);
    expect(byKey.get("counted")).toEqual({ key: "counted", checksum: rows[1]?.checksum, count: 3 });
    expect(Object.keys(byKey.get("with-payload") ?? {}).sort()).toEqual([
      "checksum",
      "key",
      "payload",
    ]);
    expect(byKey.get("with-payload")?.payload).toBe(payload);
    expect(Object.keys(byKey.get("one") ?? {}).sort()).toEqual(["checksum", "count", "key"]);
    expect(byKey.get("one")?.count).toBe(1);
  });

  it("observeRange answers the rows of the range, in row-hash order", () => {
    const index = digestIndex(rows);
    const hashes = rows.map((r) => expectedRowHash(r.key, r.checksum).hash);
    const sorted = [...rows.keys()].sort((a, b) => (hashes[a] as number) - (hashes[b] as number));
    expect(observe(index, { from: 0, to: HASH_SPACE }).map((o) => o.key)).toEqual(
      sorted.map((i) => rows[i]?.key),
    );
    for (const [i, row] of rows.entries()) {
      const h = hashes[i] as number;
      expect(observe(index, { from: h, to: h + 1 }).map((o) => o.key)).toEqual([row.key]);
      if (h > 0)
        expect(observe(index, { from: 0, to: h }).map((o) => o.key)).not.toContain(row.key);
    }
  });

  it("digest leaves empty buckets out and numbers the others", () => {
    const row = { key: "only", checksum: SUM };
    const h = expectedRowHash(row.key, row.checksum);
    const index = digestIndex([row]);
    const buckets = 16;
    const width = HASH_SPACE / buckets;
    const result = index.digest({ from: 0, to: HASH_SPACE, buckets });
    expect(result).toEqual([
      { bucket: Math.floor(h.hash / width), count: 1, digest: formatDigest(h.hi, h.lo) },
    ]);
    // A split of one bucket that holds nothing: no bucket at all.
    const empty = h.hash >= 2 ** 31 ? { from: 0, to: 2 ** 31 } : { from: 2 ** 31, to: HASH_SPACE };
    expect(index.digest({ ...empty, buckets: 1 })).toEqual([]);
    expect(index.digest({ ...empty, buckets: 8 })).toEqual([]);
    expect(digestIndex([]).digest({ from: 0, to: HASH_SPACE, buckets: 4 })).toEqual([]);
  });

  it("digest of a split starting above 0 counts only its own rows", () => {
    const many = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, checksum: SUM }));
    const hashes = many.map((r) => expectedRowHash(r.key, r.checksum));
    const index = digestIndex(many);
    const split: DigestSplit = { from: 2 ** 30, to: 3 * 2 ** 30, buckets: 2 };
    const expected = [0, 1]
      .map((b) => {
        const lo = split.from + b * 2 ** 30;
        const inside = hashes.filter((x) => x.hash >= lo && x.hash < lo + 2 ** 30);
        const hi = inside.reduce((s, x) => s + BigInt(x.hi), 0n);
        const low = inside.reduce((s, x) => s + BigInt(x.lo), 0n);
        return { bucket: b, count: inside.length, digest: formatDigest(hi, low) };
      })
      .filter((b) => b.count > 0);
    expect(index.digest(split)).toEqual(expected);
  });
});

describe("SortedRows (internal)", () => {
  const keys = ["a", "b", "c", "d", "e"];
  function build(): { sorted: SortedRows; hashes: ReturnType<typeof expectedRowHash>[] } {
    const buffer = new RowBuffer();
    const hashes = keys.map((k) => expectedRowHash(k, SUM));
    for (const [i, k] of keys.entries()) buffer.push(rowHash(k, SUM), 1, 100 + i);
    return { sorted: new SortedRows(buffer), hashes };
  }

  it("row(i) is the insertion index and ref(i) the caller's reference, at sorted index i", () => {
    const { sorted, hashes } = build();
    const order = [...keys.keys()].sort(
      (a, b) => (hashes[a]?.hash as number) - (hashes[b]?.hash as number),
    );
    expect(Array.from({ length: keys.length }, (_, i) => sorted.row(i))).toEqual(order);
    expect(Array.from({ length: keys.length }, (_, i) => sorted.ref(i))).toEqual(
      order.map((i) => 100 + i),
    );
  });

  it("an empty range has its bounds, count 0 and the zero digest", () => {
    const { sorted, hashes } = build();
    const h = hashes[0]?.hash as number;
    const start = sorted.lowerBound(h);
    expect(sorted.summary(h, h)).toEqual({
      start,
      end: start,
      count: 0,
      digest: "0000000000000000",
    });
    expect(sorted.between(2, 2)).toEqual({
      start: 2,
      end: 2,
      count: 0,
      digest: "0000000000000000",
    });
    const whole = sorted.summary(0, HASH_SPACE);
    expect(whole.start).toBe(0);
    expect(whole.end).toBe(keys.length);
    expect(whole.count).toBe(keys.length);
  });
});

describe("the createHash fallback (Node without crypto.hash)", () => {
  afterEach(() => {
    vi.doUnmock("node:crypto");
    vi.resetModules();
  });

  it("gives the same row hashes", async () => {
    vi.resetModules();
    vi.doMock("node:crypto", async (importOriginal) => {
      const actual = await importOriginal<typeof import("node:crypto")>();
      const crypto = { ...actual, hash: undefined };
      return { ...crypto, default: crypto };
    });
    const fresh = await import("../../src/reconcile/digest.js");
    for (const [key, sum] of [
      ["k-1", "xxh64:0000000000000000"],
      ["ключ", SUM],
      ["", ""],
    ] as const) {
      expect(fresh.rowHash(key, sum)).toEqual(expectedRowHash(key, sum));
    }
  });
});
