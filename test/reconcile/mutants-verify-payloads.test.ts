/**
 * verifySinkPayloads in detail: the counts and problems it reports, the exact errors for
 * bad options and bad sink answers, the ranges it asks a digest for, and the seeded
 * samples (order-independent, nested, the N keys of smallest seeded hash).
 */
import { describe, expect, it } from "vitest";
import {
  checksum,
  InvalidArgumentError,
  type Observation,
  type ReconcileSink,
  verifySinkPayloads,
} from "../../src/index.js";
import { HASH_SPACE, rowHash } from "../../src/reconcile/digest.js";
import type { HashRange, SinkDigest } from "../../src/reconcile/types.js";
import { inconsistentRowsOf } from "../../src/reconcile/verify-payloads.js";
import { createSeededRandom } from "../../src/testing/index.js";
import { build } from "./scenario.js";

const W = HASH_SPACE / 4096;
const GOOD = (i: number): Observation => ({
  key: `k-${i}`,
  checksum: checksum({ i }),
  payload: { i },
});
/** A row whose payload was edited under its checksum. */
const BAD = (i: number): Observation => ({
  key: `k-${i}`,
  checksum: checksum({ i }),
  payload: { i, edited: true },
});

function observeSink(rows: readonly Observation[], calls: unknown[] = []): ReconcileSink {
  return {
    name: "store",
    observe: (range) => {
      calls.push(range);
      return rows;
    },
  };
}

/** A digest sink that answers observeRange with `answer(range)`, recording each range. */
function digestSink(answer: (range: HashRange) => Observation[], calls: HashRange[] = []) {
  const digest: SinkDigest = {
    digest: () => [],
    observeRange: (range) => {
      calls.push({ from: range.from, to: range.to });
      return answer(range);
    },
  };
  return { name: "store", digest } satisfies ReconcileSink;
}

/** A proper digest sink over rows: each range gets the rows whose row hash is in it. */
function indexSink(rows: readonly Observation[], calls: HashRange[] = []) {
  return digestSink(
    (range) =>
      rows.filter((o) => {
        const { hash } = rowHash(o.key, o.checksum as string);
        return hash >= range.from && hash < range.to;
      }),
    calls,
  );
}

async function refusal(options: unknown) {
  const error = await verifySinkPayloads(options as never).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidArgumentError);
  const e = error as InvalidArgumentError;
  return { code: e.code, path: e.path, message: e.message, key: e.key };
}

describe("verifySinkPayloads counts and problems", () => {
  it("counts copies, lists problems in the order read, and is ok only when all is checked and consistent", async () => {
    const rows: Observation[] = [
      GOOD(1),
      { ...BAD(2), count: 3 },
      { key: "k-3", checksum: checksum({ i: 3 }) },
      { key: "k-4", payload: { i: 4 }, count: 2 },
      BAD(5),
    ];
    const before = performance.now();
    const r = await verifySinkPayloads({ sink: observeSink(rows) });
    const elapsed = performance.now() - before;
    expect(r).toEqual({
      sink: "store",
      via: "observe",
      sample: undefined,
      seed: 1,
      rowsRead: 8,
      checked: 5,
      unverifiable: 3,
      inconsistent: 4,
      problems: [
        {
          key: "k-2",
          storedChecksum: checksum({ i: 2 }),
          payloadChecksum: checksum({ i: 2, edited: true }),
          count: 3,
        },
        {
          key: "k-5",
          storedChecksum: checksum({ i: 5 }),
          payloadChecksum: checksum({ i: 5, edited: true }),
          count: 1,
        },
      ],
      truncated: false,
      ok: false,
      durationMs: expect.any(Number),
    });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
    expect(r.durationMs).toBeLessThanOrEqual(elapsed);
  });

  it("is ok for a sink whose every row is checked and consistent", async () => {
    const r = await verifySinkPayloads({ sink: observeSink([GOOD(1), GOOD(2)]) });
    expect(r).toMatchObject({
      rowsRead: 2,
      checked: 2,
      unverifiable: 0,
      inconsistent: 0,
      problems: [],
      truncated: false,
      ok: true,
    });
  });

  it("a row without a payload alone is unverifiable, not checked, and the result is not ok", async () => {
    const r = await verifySinkPayloads({
      sink: observeSink([GOOD(1), { key: "k-2", checksum: checksum({ i: 2 }) }]),
    });
    expect(r).toMatchObject({ rowsRead: 2, checked: 1, unverifiable: 1, ok: false });
  });

  it("lists at most maxProblems and says so; the counts stay complete", async () => {
    const rows = [BAD(1), GOOD(2), BAD(3), BAD(4)];
    const one = await verifySinkPayloads({ sink: observeSink(rows), maxProblems: 1 });
    expect(one).toMatchObject({ inconsistent: 3, truncated: true });
    expect(one.problems.map((p) => p.key)).toEqual(["k-1"]);
    const none = await verifySinkPayloads({ sink: observeSink(rows), maxProblems: 0 });
    expect(none).toMatchObject({ inconsistent: 3, truncated: true, problems: [], ok: false });
    const exact = await verifySinkPayloads({ sink: observeSink(rows), maxProblems: 3 });
    expect(exact).toMatchObject({ inconsistent: 3, truncated: false });
    expect(exact.problems.map((p) => p.key)).toEqual(["k-1", "k-3", "k-4"]);
  });
});

describe("verifySinkPayloads options", () => {
  const sink = observeSink([GOOD(1)]);

  it("refuses a missing options object at options", async () => {
    const e = await refusal(undefined);
    expect(e.path).toBe("options");
    expect(e.code).toBe("invalid_argument");
  });

  it("refuses a sink that is not a sink description", async () => {
    expect(await refusal({ sink: null })).toMatchObject({
      path: "options.sink",
      message: "options.sink must be a sink description, got null",
    });
  });

  it("refuses a sample that is not an object", async () => {
    expect(await refusal({ sink, sample: 5 })).toEqual({
      code: "invalid_argument",
      path: "options.sample",
      message: "options.sample must be { rows } or { fraction }, got number",
      key: undefined,
    });
    expect(await refusal({ sink, sample: null })).toMatchObject({
      path: "options.sample",
      message: "options.sample must be { rows } or { fraction }, got null",
    });
  });

  it("refuses a sample with neither or both of rows and fraction", async () => {
    for (const sample of [{}, { rows: 1, fraction: 0.5 }]) {
      expect(await refusal({ sink, sample })).toMatchObject({
        path: "options.sample",
        message: "options.sample must be { rows } or { fraction }, one of the two",
      });
    }
  });

  it("takes rows ≥ 1 and refuses less", async () => {
    const r = await verifySinkPayloads({ sink, sample: { rows: 1 } });
    expect(r).toMatchObject({ checked: 1, sample: { rows: 1 } });
    expect(await refusal({ sink, sample: { rows: 0 } })).toMatchObject({
      path: "options.sample.rows",
      message: "options.sample.rows must be a positive integer, got 0",
    });
  });

  it("takes a fraction in (0, 1] and refuses the rest, a numeric string included", async () => {
    const r = await verifySinkPayloads({ sink, sample: { fraction: 1 } });
    expect(r).toMatchObject({ checked: 1, sample: { fraction: 1 } });
    const cases: [unknown, string][] = [
      [0, "0"],
      ["0.5", '"0.5"'],
      [1.5, "1.5"],
    ];
    for (const [fraction, shown] of cases) {
      expect(await refusal({ sink, sample: { fraction } })).toMatchObject({
        path: "options.sample.fraction",
        message: `options.sample.fraction must be a number greater than 0 and at most 1, got ${shown}`,
      });
    }
  });

  it("refuses a seed that is not an integer", async () => {
    expect(await refusal({ sink, seed: 1.5 })).toMatchObject({
      path: "options.seed",
      message: "options.seed must be an integer, got 1.5",
    });
  });

  it("refuses a maxProblems that is not a non-negative integer", async () => {
    for (const [max, shown] of [
      [-1, "-1"],
      [1.5, "1.5"],
    ] as const) {
      expect(await refusal({ sink, maxProblems: max })).toMatchObject({
        path: "options.maxProblems",
        message: `options.maxProblems must be a non-negative integer, got ${shown}`,
      });
    }
  });

  it("refuses a via that is neither digest nor observe", async () => {
    expect(await refusal({ sink, via: "both" })).toMatchObject({
      path: "options.via",
      message: 'options.via must be "digest" or "observe", got string',
    });
  });

  it("names what the sink lacks to be read, and where", async () => {
    expect(await refusal({ sink, via: "digest" })).toMatchObject({
      path: "options.via",
      message: "options.via has no digest: its rows cannot be read",
    });
    expect(await refusal({ sink: { name: "x" } })).toMatchObject({
      path: "options.sink",
      message: "options.sink has no observe or digest: its rows cannot be read",
    });
    const onlyDigest = digestSink(() => []);
    expect(await refusal({ sink: onlyDigest, via: "observe" })).toMatchObject({
      path: "options.sink",
      message: "options.sink has no observe or digest: its rows cannot be read",
    });
  });

  it("refuses a ledger that is not a Ledger", async () => {
    expect(await refusal({ sink, ledger: {} })).toMatchObject({
      path: "options.ledger",
      message: "options.ledger must be a Ledger, got object",
    });
  });
});

describe("verifySinkPayloads through observe", () => {
  it("calls observe with the whole range, of the ledger when given", async () => {
    const calls: unknown[] = [];
    await verifySinkPayloads({ sink: observeSink([GOOD(1)], calls) });
    expect(calls).toStrictEqual([{ from: 1, to: Number.MAX_SAFE_INTEGER, since: undefined }]);
    const s = await build(3);
    let firstAt: string | undefined;
    for await (const entry of s.ledger.scan({ from: 1, to: 1 })) firstAt = entry.appendedAt;
    expect(firstAt).toBeDefined();
    await verifySinkPayloads({ sink: observeSink([GOOD(1)], calls), ledger: s.ledger });
    expect(calls[1]).toStrictEqual({ from: 1, to: 3, since: firstAt });
    const empty = await build(0);
    await verifySinkPayloads({ sink: observeSink([GOOD(1)], calls), ledger: empty.ledger });
    expect(calls[2]).toStrictEqual({ from: 1, to: 0, since: undefined });
  });

  it("reads through observe when told to, even when the sink has a digest", async () => {
    const rows = [GOOD(1), BAD(2)];
    const observeCalls: unknown[] = [];
    const digestCalls: HashRange[] = [];
    const both: ReconcileSink = {
      ...observeSink(rows, observeCalls),
      digest: indexSink(rows, digestCalls).digest,
    };
    const viaObserve = await verifySinkPayloads({ sink: both, via: "observe" });
    expect(viaObserve).toMatchObject({ via: "observe", checked: 2, inconsistent: 1 });
    expect(observeCalls).toHaveLength(1);
    expect(digestCalls).toHaveLength(0);
    const viaDigest = await verifySinkPayloads({ sink: both });
    expect(viaDigest).toMatchObject({ via: "digest", checked: 2, inconsistent: 1 });
    expect(observeCalls).toHaveLength(1);
    expect(digestCalls).toEqual([{ from: 0, to: HASH_SPACE }]);
  });

  it("names the bad observation of observe by its path", async () => {
    expect(await refusal({ sink: observeSink([GOOD(1), { key: "" } as never]) })).toMatchObject({
      path: "options.sink.observe()[1].key",
    });
  });

  const many = Array.from({ length: 240 }, (_, i) => BAD(i));
  const keysOf = (r: { problems: readonly { key: string }[] }) => r.problems.map((p) => p.key);
  function shuffled<T>(items: readonly T[], seed: number): T[] {
    const random = createSeededRandom(seed);
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }

  it("a fraction checks the keys below a seeded threshold, in the order read", async () => {
    for (const seed of [1, 9]) {
      const a = await verifySinkPayloads({
        sink: observeSink(many),
        sample: { fraction: 0.3 },
        seed,
      });
      const reversed = [...many].reverse();
      const b = await verifySinkPayloads({
        sink: observeSink(reversed),
        sample: { fraction: 0.3 },
        seed,
      });
      expect(keysOf(b)).toEqual([...keysOf(a)].reverse());
      const bigger = await verifySinkPayloads({
        sink: observeSink(many),
        sample: { fraction: 0.6 },
        seed,
      });
      expect(keysOf(bigger)).toEqual(expect.arrayContaining(keysOf(a)));
      expect(a.checked).toBeGreaterThan(30);
      expect(a.checked).toBeLessThan(120);
    }
  });

  it("{ rows: N } is exactly the N keys of smallest seeded hash, whatever the read order", async () => {
    for (const seed of [1, 5]) {
      const orders = [many, [...many].reverse(), shuffled(many, 3), shuffled(many, 4)];
      for (const fraction of [0.02, 0.1, 0.35, 0.7]) {
        // The keys of seeded hash below the threshold are the smallest ones.
        const below = await verifySinkPayloads({
          sink: observeSink(many),
          sample: { fraction },
          seed,
        });
        const n = below.checked;
        expect(n).toBeGreaterThan(0);
        let previous: string[] | undefined;
        for (const rows of orders) {
          const r = await verifySinkPayloads({
            sink: observeSink(rows),
            sample: { rows: n },
            seed,
          });
          expect(r.checked).toBe(n);
          expect([...keysOf(r)].sort()).toEqual([...keysOf(below)].sort());
          if (previous !== undefined) expect(keysOf(r)).toEqual(previous);
          previous = keysOf(r);
        }
        // Checked in the seeded order: a smaller sample is a prefix of a bigger one.
        const less = await verifySinkPayloads({
          sink: observeSink(shuffled(many, 8)),
          sample: { rows: Math.max(1, n - 3) },
          seed,
        });
        expect(keysOf(less)).toEqual(previous?.slice(0, Math.max(1, n - 3)));
      }
    }
  });

  it("{ rows: N } breaks a tie of seeded hashes the same way whatever the read order", async () => {
    // Two keys whose seeded hashes (seed 1) are equal, found offline.
    const tied = ["c-23698", "c-317865"].map((key) => ({ ...BAD(0), key }));
    const others = many.slice(0, 40);
    const forward = [...tied, ...others];
    const backward = [...[...tied].reverse(), ...[...others].reverse()];
    let cut = 0;
    for (let n = 1; n <= forward.length; n++) {
      const a = keysOf(
        await verifySinkPayloads({ sink: observeSink(forward), sample: { rows: n } }),
      );
      const b = keysOf(
        await verifySinkPayloads({ sink: observeSink(backward), sample: { rows: n } }),
      );
      expect(b).toEqual(a);
      const inSample = tied.filter((t) => a.includes(t.key)).length;
      if (inSample === 1) cut = n;
    }
    // Somewhere the sample holds one of the two and not the other: the tie is decided.
    expect(cut).toBeGreaterThan(0);
  });
});

describe("verifySinkPayloads through a digest", () => {
  it("reads the whole hash space in one range without a sample, and with a fraction of 1", async () => {
    for (const sample of [undefined, { fraction: 1 }]) {
      const calls: HashRange[] = [];
      const r = await verifySinkPayloads({ sink: indexSink([GOOD(1), BAD(2)], calls), sample });
      expect(calls).toEqual([{ from: 0, to: HASH_SPACE }]);
      expect(r).toMatchObject({ via: "digest", rowsRead: 2, checked: 2, inconsistent: 1 });
    }
  });

  it("a fraction reads ceil(f × 4096) slices, as sorted runs of adjacent slices merged", async () => {
    for (const [fraction, seed] of [
      [0.25, 1],
      [0.5, 7],
      [0.9, 3],
      [0.001, 2],
    ] as const) {
      const calls: HashRange[] = [];
      await verifySinkPayloads({ sink: digestSink(() => [], calls), sample: { fraction }, seed });
      let width = 0;
      for (const [i, range] of calls.entries()) {
        expect(range.from % W).toBe(0);
        expect(range.to % W).toBe(0);
        expect(range.to).toBeGreaterThan(range.from);
        width += range.to - range.from;
        const next = calls[i + 1];
        if (next !== undefined) expect(next.from).toBeGreaterThan(range.to);
      }
      expect(width / W).toBe(Math.ceil(fraction * 4096));
      const again: HashRange[] = [];
      await verifySinkPayloads({ sink: digestSink(() => [], again), sample: { fraction }, seed });
      expect(again).toEqual(calls);
    }
  });

  it("{ rows: N } reads one slice at a time until at least N rows (copies counted) were read", async () => {
    // Rows without a checksum have no row hash: each slice answers one, unverifiable.
    const answer =
      (count?: number) =>
      (range: HashRange): Observation[] => [
        {
          key: `slice-${range.from / W}`,
          payload: { at: range.from },
          ...(count ? { count } : {}),
        },
      ];
    const calls: HashRange[] = [];
    const r = await verifySinkPayloads({
      sink: digestSink(answer(), calls),
      sample: { rows: 5 },
      seed: 4,
    });
    expect(calls).toHaveLength(5);
    for (const range of calls) expect(range.to - range.from).toBe(W);
    expect(new Set(calls.map((c) => c.from)).size).toBe(5);
    expect(r).toMatchObject({ rowsRead: 5, checked: 0, unverifiable: 5, ok: false });
    const copies: HashRange[] = [];
    const c = await verifySinkPayloads({
      sink: digestSink(answer(3), copies),
      sample: { rows: 5 },
      seed: 4,
    });
    expect(copies).toEqual(calls.slice(0, 2));
    expect(c).toMatchObject({ rowsRead: 6, unverifiable: 6 });
  });

  it("refuses a row outside the range asked for, naming the key", async () => {
    const calls: HashRange[] = [];
    await verifySinkPayloads({ sink: digestSink(() => [], calls), sample: { fraction: 0.5 } });
    const inner = calls.filter((c) => c.from > 0 && c.to < HASH_SPACE);
    const range = inner[Math.floor(inner.length / 2)] as HashRange;
    const cs = checksum({ n: 1 });
    const candidates = Array.from({ length: 4000 }, (_, i) => `${"x".repeat(90)}-${i}`);
    const hashOf = (key: string) => rowHash(key, cs).hash;
    const lowKey = candidates.find((k) => hashOf(k) < range.from) as string;
    const highKey = candidates.find((k) => hashOf(k) >= range.to) as string;
    for (const key of [lowKey, highKey]) {
      const hostile = digestSink((r) =>
        r.from === range.from ? [{ key, checksum: cs, payload: { n: 1 } }] : [],
      );
      expect(await refusal({ sink: hostile, sample: { fraction: 0.5 } })).toEqual({
        code: "invalid_argument",
        path: "options.sink.digest.observeRange()",
        message: `options.sink.digest.observeRange() returned ${JSON.stringify(key.slice(0, 80))}, whose row hash ${hashOf(key)} is outside the range asked for [${range.from}, ${range.to})`,
        key,
      });
    }
  });

  it("refuses a row whose row hash is the end of the range asked for", async () => {
    const cs = checksum({ n: 1 });
    const key = "edge-387621";
    const { hash } = rowHash(key, cs);
    expect(hash % W).toBe(0);
    // A seed whose fraction sample has a run ending at that row hash.
    let seed = 1;
    for (; seed < 200; seed++) {
      const calls: HashRange[] = [];
      await verifySinkPayloads({
        sink: digestSink(() => [], calls),
        sample: { fraction: 0.5 },
        seed,
      });
      if (calls.some((c) => c.to === hash)) break;
    }
    const hostile = digestSink((r) =>
      r.to === hash ? [{ key, checksum: cs, payload: { n: 1 } }] : [],
    );
    expect(await refusal({ sink: hostile, sample: { fraction: 0.5 }, seed })).toMatchObject({
      path: "options.sink.digest.observeRange()",
      key,
    });
  });

  it("a row without a checksum is not placed in the hash space: it is read as unverifiable", async () => {
    const r = await verifySinkPayloads({
      sink: digestSink(() => [{ key: "no-checksum", payload: { a: 1 } }]),
      sample: { fraction: 0.5 },
    });
    expect(r.unverifiable).toBe(r.rowsRead);
    expect(r.rowsRead).toBeGreaterThan(0);
  });

  it("names the bad observation of observeRange by its path", async () => {
    expect(await refusal({ sink: digestSink(() => [{ key: "" } as never]) })).toMatchObject({
      path: "options.sink.digest.observeRange()[0].key",
    });
  });
});

describe("inconsistentRowsOf", () => {
  it("reads the row's one-wide range and returns that key's self-inconsistent copies", async () => {
    const calls: HashRange[] = [];
    const bad = BAD(3);
    const cs = bad.checksum as string;
    const sink = digestSink(() => [bad, GOOD(3)], calls);
    const problems = await inconsistentRowsOf(sink.digest, "k-3", cs, "here");
    const { hash } = rowHash("k-3", cs);
    expect(calls).toEqual([{ from: hash, to: hash + 1 }]);
    expect(problems).toEqual([
      {
        key: "k-3",
        storedChecksum: cs,
        payloadChecksum: checksum({ i: 3, edited: true }),
        count: 1,
      },
    ]);
  });

  it("leaves out the rows of another key that share the row hash", async () => {
    // Two keys whose row hashes with this checksum are equal, found offline.
    const cs = checksum({ i: 3, edited: true });
    expect(rowHash("r-29568", cs).hash).toBe(rowHash("r-87580", cs).hash);
    const other: Observation = { key: "r-87580", checksum: cs, payload: { other: true } };
    const mine: Observation = { key: "r-29568", checksum: cs, payload: { mine: true } };
    const sink = digestSink(() => [other, mine]);
    expect(await inconsistentRowsOf(sink.digest, "r-29568", cs, "here")).toEqual([
      { key: "r-29568", storedChecksum: cs, payloadChecksum: checksum({ mine: true }), count: 1 },
    ]);
  });

  it("returns nothing, and reads nothing, for a checksum that is not one", async () => {
    const calls: HashRange[] = [];
    const sink = digestSink(() => [BAD(3)], calls);
    expect(await inconsistentRowsOf(sink.digest, "k-3", "nope", "here")).toEqual([]);
    expect(calls).toEqual([]);
  });
});
