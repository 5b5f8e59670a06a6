/**
 * What a sink holds for a key (copies.ts), how its observations are read and checked
 * (holdings.ts), and the freeze policy (freeze.ts): pinned where a mutation run found
 * them unguarded. Copies of one key are given by hand, in an order that tells which copy
 * a finding was judged on.
 */
import { describe, expect, it } from "vitest";
import {
  checksum,
  InvalidArgumentError,
  MemoryLedger,
  type Observation,
  type ReconcileProgress,
  type ReconcileSink,
  reconcile,
  type SinkFreeze,
  verifySinkPayloads,
} from "../../src/index.js";
import { isSelfConsistent, merge } from "../../src/reconcile/copies.js";
import { Holdings } from "../../src/reconcile/holdings.js";
import { createMemorySink } from "../../src/testing/index.js";
import { build, LAG, order } from "./scenario.js";

/** Reconciles one hand-made sink over a 3-entry ledger; returns its report and the envelopes. */
async function judge(copies: (keys: string[], sums: string[]) => Observation[]) {
  const { ledger, envelopes, clock } = await build(3);
  const keys = envelopes.map((e) => e.key);
  const sums = envelopes.map((e) => e.checksum);
  const observations = copies(keys, sums);
  const sink: ReconcileSink = { name: "s", observe: () => observations };
  const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
  const s = report.sinks[0];
  if (s === undefined) throw new Error("no sink report");
  return { s, keys, sums };
}

describe("copies of one key: the first that differs is judged", () => {
  it("checksum-only: two alike then one other is mismatched on the other (count 3)", async () => {
    const { s, keys, sums } = await judge((k, c) => [
      { key: k[0] as string, checksum: c[0] as string },
      { key: k[0] as string, checksum: c[0] as string },
      { key: k[0] as string, checksum: c[1] as string },
      { key: k[1] as string, checksum: c[1] as string },
      { key: k[2] as string, checksum: c[2] as string },
    ]);
    expect(s.error).toBeUndefined();
    expect(s.counts).toMatchObject({ matched: 2, duplicate: 0, mismatched: 1 });
    expect(s.findings).toMatchObject([
      {
        kind: "mismatched",
        key: keys[0],
        expected: sums[0],
        observed: sums[1],
        mismatch: "checksum",
        count: 3,
      },
    ]);
  });

  it("checksum-only copies all alike are a duplicate", async () => {
    const { s, keys, sums } = await judge((k, c) => [
      { key: k[0] as string, checksum: c[0] as string },
      { key: k[0] as string, checksum: c[0] as string },
      { key: k[1] as string, checksum: c[1] as string },
      { key: k[2] as string, checksum: c[2] as string },
    ]);
    expect(s.counts).toMatchObject({ matched: 2, duplicate: 1, mismatched: 0 });
    expect(s.findings).toMatchObject([
      { kind: "duplicate", key: keys[0], expected: sums[0], observed: sums[0], count: 2 },
    ]);
  });

  it("payload-only: two alike then one altered is mismatched on the altered one", async () => {
    const altered = { ...order(0), total: 999 };
    const { s, keys, sums } = await judge((k, c) => [
      { key: k[0] as string, payload: order(0) },
      { key: k[0] as string, payload: order(0) },
      { key: k[0] as string, payload: altered },
      { key: k[1] as string, checksum: c[1] as string },
      { key: k[2] as string, checksum: c[2] as string },
    ]);
    expect(s.error).toBeUndefined();
    expect(s.counts).toMatchObject({ matched: 2, duplicate: 0, mismatched: 1 });
    expect(s.findings).toMatchObject([
      {
        kind: "mismatched",
        key: keys[0],
        expected: sums[0],
        observed: checksum(altered),
        mismatch: "payload",
        count: 3,
        paths: ["$.total"],
      },
    ]);
  });

  it("payload-only copies all alike are a duplicate (no stored checksum to name an algorithm)", async () => {
    const { s, keys, sums } = await judge((k, c) => [
      { key: k[0] as string, payload: order(0) },
      { key: k[0] as string, payload: order(0) },
      { key: k[1] as string, checksum: c[1] as string },
      { key: k[2] as string, checksum: c[2] as string },
    ]);
    expect(s.error).toBeUndefined();
    expect(s.counts).toMatchObject({ matched: 2, duplicate: 1, mismatched: 0 });
    expect(s.findings).toMatchObject([
      { kind: "duplicate", key: keys[0], expected: sums[0], observed: sums[0], count: 2 },
    ]);
  });

  it("a copy with a payload differs from one without, even under the same checksum", async () => {
    const altered = { ...order(0), total: 999 };
    const { s, keys, sums } = await judge((k, c) => [
      { key: k[0] as string, checksum: c[0] as string },
      { key: k[0] as string, checksum: c[0] as string, payload: altered },
      { key: k[1] as string, checksum: c[1] as string },
      { key: k[2] as string, checksum: c[2] as string },
    ]);
    expect(s.findings).toMatchObject([
      {
        kind: "mismatched",
        key: keys[0],
        expected: sums[0],
        observed: checksum(altered),
        storedChecksum: sums[0],
        mismatch: "payload-edited",
        count: 2,
        paths: ["$.total"],
      },
    ]);
  });

  it("of three different copies, the second (the first that differs) is the one reported", async () => {
    const { s, keys, sums } = await judge((k, c) => [
      { key: k[0] as string, checksum: c[0] as string },
      { key: k[0] as string, checksum: c[1] as string },
      { key: k[0] as string, checksum: c[2] as string },
      { key: k[1] as string, checksum: c[1] as string },
      { key: k[2] as string, checksum: c[2] as string },
    ]);
    expect(s.findings).toMatchObject([
      { kind: "mismatched", key: keys[0], observed: sums[1], mismatch: "checksum", count: 3 },
    ]);
  });

  it("a wrong checksum given with a count is mismatched on the checksum", async () => {
    const { s, keys, sums } = await judge((k, c) => [
      { key: k[0] as string, checksum: c[1] as string, count: 2 },
      { key: k[1] as string, checksum: c[1] as string },
      { key: k[2] as string, checksum: c[2] as string },
    ]);
    expect(s.findings).toMatchObject([
      {
        kind: "mismatched",
        key: keys[0],
        expected: sums[0],
        observed: sums[1],
        mismatch: "checksum",
        count: 2,
      },
    ]);
  });
});

describe("copies.ts internals, as documented", () => {
  const c = checksum(order(1));

  it("isSelfConsistent is true for a copy that lacks its payload or its checksum", () => {
    expect(isSelfConsistent({ checksum: c, payload: undefined, hasPayload: false })).toBe(true);
    expect(isSelfConsistent({ checksum: undefined, payload: order(1), hasPayload: true })).toBe(
      true,
    );
    expect(isSelfConsistent({ checksum: c, payload: order(1), hasPayload: true })).toBe(true);
    expect(isSelfConsistent({ checksum: c, payload: order(2), hasPayload: true })).toBe(false);
  });

  it("one copy with a checksum and no payload is held as the bare checksum string", () => {
    expect(merge(undefined, { key: "k", checksum: c })).toBe(c);
    expect(typeof merge(undefined, { key: "k", checksum: c, count: 2 })).toBe("object");
    expect(merge(undefined, { key: "k", payload: order(1) })).toMatchObject({
      first: { checksum: undefined, payload: order(1), hasPayload: true },
      other: undefined,
      count: 1,
    });
  });

  it("a payload that cannot be canonicalized matches nothing, not even its twin", () => {
    const first = merge(undefined, { key: "k", payload: { n: Number.NaN } });
    const held = merge(first, { key: "k", payload: { n: Number.NaN } });
    expect(held).toMatchObject({ count: 2, other: { hasPayload: true } });
    // Alike canonical payloads are the same copy.
    const twin = merge(merge(undefined, { key: "k", payload: order(1) }), {
      key: "k",
      payload: order(1),
    });
    expect(twin).toMatchObject({ count: 2, other: undefined });
  });
});

describe("payload checksums in the stored checksum's algorithm", () => {
  it("a sha256 row whose payload is its own is consistent", async () => {
    const stored = checksum(order(1), { algorithm: "sha256" });
    const result = await verifySinkPayloads({
      sink: { name: "s", observe: () => [{ key: "k", checksum: stored, payload: order(1) }] },
    });
    expect(result).toMatchObject({ checked: 1, inconsistent: 0, ok: true, problems: [] });
    const bad = await verifySinkPayloads({
      sink: { name: "s", observe: () => [{ key: "k", checksum: stored, payload: order(2) }] },
    });
    expect(bad.problems).toEqual([
      {
        key: "k",
        storedChecksum: stored,
        payloadChecksum: checksum(order(2), { algorithm: "sha256" }),
        count: 1,
      },
    ]);
  });
});

describe("observations are checked, each with its path", () => {
  const c = checksum(1);
  const where = "options.sink.observe()";

  async function refusal(answer: unknown) {
    const error = await verifySinkPayloads({
      sink: { name: "s", observe: () => answer as Iterable<Observation> },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const e = error as InvalidArgumentError;
    return { code: e.code, path: e.path, message: e.message, key: e.key };
  }

  it("an item that is not an object", async () => {
    for (const [item, shown] of [
      [5, "number"],
      [null, "null"],
      ["k", "string"],
    ] as const) {
      expect(await refusal([{ key: "a", checksum: c }, item])).toEqual({
        code: "invalid_argument",
        path: `${where}[1]`,
        message: `${where}[1] must be an observation { key, checksum | payload, count? }, got ${shown}`,
        key: undefined,
      });
    }
  });

  it("an empty or missing key", async () => {
    expect(await refusal([{ key: "", checksum: c }])).toEqual({
      code: "invalid_argument",
      path: `${where}[0].key`,
      message: `${where}[0].key must be a non-empty string, got string`,
      key: undefined,
    });
    expect(await refusal([{ checksum: c }])).toEqual({
      code: "invalid_argument",
      path: `${where}[0].key`,
      message: `${where}[0].key must be a non-empty string, got undefined`,
      key: undefined,
    });
  });

  it("a malformed checksum", async () => {
    expect(await refusal([{ key: "k", checksum: "xxh64:nope" }])).toEqual({
      code: "invalid_checksum",
      path: `${where}[0].checksum`,
      message: `${where}[0].checksum must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits`,
      key: "k",
    });
  });

  it("neither checksum nor payload", async () => {
    expect(await refusal([{ key: "k" }])).toEqual({
      code: "invalid_argument",
      path: `${where}[0]`,
      message: `${where}[0] must have a checksum or a payload`,
      key: "k",
    });
  });

  it("a count that is not a positive integer", async () => {
    for (const [count, shown] of [
      [0, "0"],
      [1.5, "1.5"],
      ["2", '"2"'],
    ] as const) {
      expect(await refusal([{ key: "k", checksum: c, count }])).toEqual({
        code: "invalid_argument",
        path: `${where}[0].count`,
        message: `${where}[0].count must be a positive integer, got ${shown}`,
        key: "k",
      });
    }
  });

  it("an answer that is not an iterable object (a string is not one)", async () => {
    for (const [answer, shown] of [
      [5, "number"],
      [null, "null"],
      ["ab", "string"],
      [{}, "object"],
      [{ length: 1, 0: { key: "k", checksum: c } }, "object"],
    ] as const) {
      expect(await refusal(answer)).toEqual({
        code: "invalid_argument",
        path: where,
        message: `${where} must return an iterable or async iterable of observations, got ${shown}`,
        key: undefined,
      });
    }
  });

  it("items of an async iterable are numbered too", async () => {
    async function* rows() {
      yield { key: "a", checksum: c };
      yield { key: "b", checksum: c };
      yield { key: "" };
    }
    expect(await refusal(rows())).toMatchObject({ path: `${where}[2].key` });
  });

  it("an object both iterable and async iterable is read asynchronously", async () => {
    const both = {
      *[Symbol.iterator]() {
        yield 5;
      },
      async *[Symbol.asyncIterator]() {
        yield { key: "k", checksum: c };
        yield { key: "j", checksum: c, count: 2 };
      },
    };
    const result = await verifySinkPayloads({ sink: { name: "s", observe: () => both } });
    expect(result).toMatchObject({ rowsRead: 3, unverifiable: 3, ok: false });
  });
});

describe("progress while a sink is read", () => {
  const c = checksum(1);
  const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k-${i}`, checksum: c }));

  async function observeEvents(observe: ReconcileSink["observe"]) {
    const events: ReconcileProgress[] = [];
    const report = await reconcile({
      ledger: new MemoryLedger(),
      sinks: [{ name: "s", observe }],
      maxFindings: 1,
      onProgress: (p) => events.push(p),
    });
    expect(report.sinks[0]?.error).toBeUndefined();
    return { events: events.filter((e) => e.phase === "observe"), report };
  }

  it("every 10 000 observations of an iterable, then the total", async () => {
    const { events, report } = await observeEvents(() => rows(10_001));
    expect(events).toEqual([
      { sink: "s", phase: "observe", done: 10_000, total: undefined },
      { sink: "s", phase: "observe", done: 10_001, total: 10_001 },
    ]);
    expect(report.sinks[0]?.counts.unexpected).toBe(10_001);
  });

  it("every 10 000 observations of an async iterable, then the total", async () => {
    const all = rows(20_000);
    async function* read() {
      yield* all;
    }
    const { events, report } = await observeEvents(() => read());
    expect(events).toEqual([
      { sink: "s", phase: "observe", done: 10_000, total: undefined },
      { sink: "s", phase: "observe", done: 20_000, total: undefined },
      { sink: "s", phase: "observe", done: 20_000, total: 20_000 },
    ]);
    expect(report.sinks[0]?.observations).toBe(20_000);
  });
});

describe("the shared key index", () => {
  it("numbers keys from 0, in the order first met, and gives new sinks slots as long as the index", () => {
    const h = new Holdings();
    const a = h.slots();
    const b = h.slots();
    const c1 = checksum(1);
    const c2 = checksum(2);
    h.add(a, { key: "k1", checksum: c1 });
    h.add(a, { key: "k2", checksum: c2 });
    expect(h.keys).toEqual(["k1", "k2"]);
    expect([...h.index]).toEqual([
      ["k1", 0],
      ["k2", 1],
    ]);
    expect(a).toStrictEqual([c1, c2]);
    expect(h.slots()).toStrictEqual([undefined, undefined]);
    // A sink's slots made before the index grew: written by number, with no holes.
    h.add(b, { key: "k2", checksum: c2 });
    expect(b).toStrictEqual([undefined, c2]);
  });
});

describe("the freeze policy", () => {
  it("counts contradicted receipts, and lists every threshold crossed", async () => {
    const { ledger, sink, envelopes, clock } = await build(3);
    await sink.guard?.deliverAll(envelopes);
    sink.delete((envelopes[1] as { key: string }).key);
    clock.advance(LAG + 1);
    const report = await reconcile({
      ledger,
      sinks: [sink],
      clock: clock.now,
      freezeOn: { "missing-lost": 0, contradicted: 0, duplicate: 0 },
    });
    expect(report.sinks[0]?.contradicted).toBe(1);
    expect(report.sinks[0]?.frozen).toBe(
      "reconciliation found 1 missing-lost (threshold 0), 1 contradicted (threshold 0)",
    );
  });

  it("a contradicted count at its threshold does not freeze", async () => {
    const { ledger, sink, envelopes, clock } = await build(3);
    await sink.guard?.deliverAll(envelopes);
    sink.delete((envelopes[1] as { key: string }).key);
    clock.advance(LAG + 1);
    const report = await reconcile({
      ledger,
      sinks: [sink],
      clock: clock.now,
      freezeOn: { contradicted: 1 },
    });
    expect(report.sinks[0]?.frozen).toBeUndefined();
    expect(await ledger.getFreezes("store")).toEqual([]);
  });

  it("freezes a sink without a guard in the ledger", async () => {
    const { ledger, clock } = await build(2);
    clock.advance(LAG + 1);
    const report = await reconcile({
      ledger,
      sinks: [{ name: "bare", lagToleranceMs: LAG, observe: () => [] }],
      clock: clock.now,
      freezeOn: { "missing-lost": 1 },
      actor: "nightly",
    });
    expect(report.sinks[0]?.frozen).toBe("reconciliation found 2 missing-lost (threshold 1)");
    expect(await ledger.getFreezes("bare")).toMatchObject([
      {
        reason: "reconciliation found 2 missing-lost (threshold 1)",
        actor: "nightly",
        origin: "reconcile",
      },
    ]);
  });

  it("freezes in the reconciled ledger, not through a guard on another ledger", async () => {
    const { ledger, clock } = await build(2);
    const elsewhere = new MemoryLedger();
    const sink = createMemorySink({ name: "store", ledger: elsewhere, lagToleranceMs: LAG });
    clock.advance(LAG + 1);
    const report = await reconcile({
      ledger,
      sinks: [sink],
      clock: clock.now,
      freezeOn: { "missing-lost": 0 },
    });
    expect(report.sinks[0]?.frozen).toBe("reconciliation found 2 missing-lost (threshold 0)");
    expect(await ledger.getFreezes("store")).toMatchObject([
      { reason: "reconciliation found 2 missing-lost (threshold 0)", origin: "reconcile" },
    ]);
    expect(await elsewhere.getFreezes("store")).toEqual([]);
  });

  it("reports the policy's reason when the ledger lists no freeze", async () => {
    class Forgetful extends MemoryLedger {
      override async getFreezes(_sink: string): Promise<readonly SinkFreeze[]> {
        return [];
      }
    }
    const ledger = new Forgetful();
    const report = await reconcile({
      ledger,
      sinks: [{ name: "s", observe: () => [{ key: "stray", checksum: checksum(1) }] }],
      freezeOn: { unexpected: 0 },
    });
    expect(report.sinks[0]?.frozen).toBe("reconciliation found 1 unexpected (threshold 0)");
  });
});
