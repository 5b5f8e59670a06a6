import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { formatDigest, rowHash } from "../../src/digest/index.js";
import {
  checksum,
  createSealer,
  DeliveryError,
  type FindingKind,
  InvalidArgumentError,
  type JsonValue,
  MemoryLedger,
  type ReconcileProgress,
  type ReconcileSink,
  reconcile,
} from "../../src/index.js";
import { createManualClock } from "../../src/testing/index.js";
import { nestArrays } from "../helpers.js";
import { build, kinds, LAG, order, T0 } from "./scenario.js";

/**
 * 200 entries, delivered through the guard except the last 5; then by hand: 3 and 50
 * deleted (lost, and their `written` receipts contradicted), 7 and 8 held twice, 20 and
 * 21 altered, 22 altered and held twice, two keys the ledger never emitted. 195..199 were
 * never delivered: 195 is 5 s old... all of 190..199 are within the 10 s tolerance.
 */
async function seeded(sinkOptions: Parameters<typeof build>[1] = {}) {
  const s = await build(200, sinkOptions);
  const { envelopes, sink } = s;
  await sink.guard?.deliverAll(envelopes.slice(0, 195));
  const key = (i: number) => (envelopes[i] as { key: string }).key;
  sink.delete(key(3));
  sink.delete(key(50));
  sink.put(key(7), order(7), 2);
  sink.put(key(8), order(8), 3);
  sink.put(key(20), { ...(order(20) as object), total: -1 });
  sink.put(key(21), { ...(order(21) as object), items: [{ sku: "s-0", qty: 99 }] });
  sink.put(key(22), { ...(order(22) as object), extra: true }, 2);
  sink.put("ghost-1", { id: "ghost" });
  sink.put("__proto__", { id: "ghost" }, 3);
  const expected = new Map<string, FindingKind>([
    [key(3), "missing-lost"],
    [key(7), "duplicate"],
    [key(8), "duplicate"],
    [key(20), "mismatched"],
    [key(21), "mismatched"],
    [key(22), "mismatched"],
    [key(50), "missing-lost"],
    ...[195, 196, 197, 198, 199].map((i) => [key(i), "missing-late"] as [string, FindingKind]),
    ["ghost-1", "unexpected"],
    ["__proto__", "unexpected"],
  ]);
  return { ...s, key, expected };
}

const MODES = [
  { name: "observe (checksums)", options: { observe: "checksum" as const }, paths: false },
  { name: "observe (payloads)", options: { observe: "payload" as const }, paths: true },
  { name: "digest (checksums)", options: { digest: true }, paths: false },
  {
    name: "digest (payloads)",
    options: { digest: true, observe: "payload" as const },
    paths: true,
  },
];

describe("reconcile: every finding kind, exactly", () => {
  for (const mode of MODES) {
    it(`finds exactly the injected anomalies: ${mode.name}`, async () => {
      const { ledger, sink, clock, key, expected } = await seeded(mode.options);
      const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
      const s = report.sinks[0];
      if (s === undefined) throw new Error("no sink report");
      expect(s.error).toBeUndefined();
      expect(s.basis).toBe(mode.options.digest === true ? "digest" : "observed");
      expect(kinds(report)).toEqual(expected);
      expect(s.counts).toEqual({
        matched: 200 - 12,
        "missing-late": 5,
        "missing-lost": 2,
        duplicate: 2,
        mismatched: 3,
        unexpected: 2,
      });
      expect(s.contradicted).toBe(2);
      expect(s.consistent).toBe(false);
      expect(report.consistent).toBe(false);
      expect(report.range).toEqual({ from: 1, to: 200, entries: 200 });
      const byKey = new Map(s.findings.map((f) => [f.key, f]));
      expect(byKey.get(key(3))).toMatchObject({ position: 4, receipt: "written", ageMs: 197_000 });
      expect(byKey.get(key(199))).toMatchObject({ position: 200, receipt: undefined, ageMs: 1000 });
      expect(byKey.get(key(8))).toMatchObject({ count: 3, observed: byKey.get(key(8))?.expected });
      expect(byKey.get(key(22))).toMatchObject({ count: 2 });
      expect(byKey.get("__proto__")).toMatchObject({
        count: 3,
        observed: checksum({ id: "ghost" }),
      });
      expect(byKey.get(key(20))?.observed).toBe(checksum({ ...(order(20) as object), total: -1 }));
      if (mode.paths) {
        expect(byKey.get(key(20))?.paths).toEqual(["$.total"]);
        expect(byKey.get(key(21))?.paths).toEqual(["$.items[0].qty"]);
        expect(byKey.get(key(22))?.paths).toEqual(["$.extra"]);
      } else {
        expect(byKey.get(key(20))?.paths).toBeUndefined();
      }
      // Findings in position order, unexpected keys last.
      const positions = s.findings.map((f) => f.position ?? Number.POSITIVE_INFINITY);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
      expect(s.window).toEqual({ position: 3, behindEntries: 197, behindMs: 197_000 });
    });
  }

  it("a clean sink is consistent in every mode, with missing-late entries allowed", async () => {
    for (const mode of MODES) {
      const { ledger, sink, envelopes, clock } = await build(120, mode.options);
      await sink.guard?.deliverAll(envelopes.slice(0, 115));
      const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
      expect(report.consistent, mode.name).toBe(true);
      expect(report.sinks[0]?.counts).toMatchObject({ matched: 115, "missing-late": 5 });
      expect(report.sinks[0]?.findings.every((f) => f.kind === "missing-late")).toBe(true);
      expect(report.sinks[0]?.window).toEqual({ position: 115, behindEntries: 5, behindMs: 5000 });
    }
  });

  it("late vs lost at the tolerance boundary: age = tolerance is late, one ms more is lost", async () => {
    const { ledger, sink, envelopes, clock } = await build(3);
    await sink.guard?.deliverAll(envelopes.slice(0, 2));
    // Entry 3 was appended at T0 + 2000; the clock now reads T0 + 3000.
    const at = (ms: number) => () => T0 + 2000 + ms;
    const late = await reconcile({ ledger, sinks: [sink], clock: at(LAG) });
    expect(late.sinks[0]?.findings).toMatchObject([{ kind: "missing-late", ageMs: LAG }]);
    expect(late.consistent).toBe(true);
    const lost = await reconcile({ ledger, sinks: [sink], clock: at(LAG + 1) });
    expect(lost.sinks[0]?.findings).toMatchObject([{ kind: "missing-lost", ageMs: LAG + 1 }]);
    expect(lost.consistent).toBe(false);
    const zero = await reconcile({ ledger, sinks: [{ ...sink, lagToleranceMs: 0 }], clock: at(0) });
    expect(zero.sinks[0]?.findings).toMatchObject([{ kind: "missing-late", ageMs: 0 }]);
    expect(clock.now()).toBe(T0 + 3000);
  });

  it("uses the default tolerance of 60 s when the sink gives none", async () => {
    const { ledger, sink, clock } = await build(2);
    const report = await reconcile({
      ledger,
      sinks: [{ name: "bare", observe: sink.observe }],
      clock: clock.now,
    });
    expect(report.sinks[0]?.lagToleranceMs).toBe(60_000);
    expect(report.sinks[0]?.counts["missing-late"]).toBe(2);
  });
});

describe("reconcile: receipt-based sinks", () => {
  it("judges from receipts alone and says so", async () => {
    const { ledger, sink, envelopes, clock, key } = await seeded();
    // Entries 3 and 50 were deleted after their receipts, 20 to 22 altered: receipts
    // cannot see that (the weakness the basis names). Only the undelivered ones show.
    const receiptOnly: ReconcileSink = { name: sink.name, lagToleranceMs: LAG };
    const report = await reconcile({ ledger, sinks: [receiptOnly], clock: clock.now });
    const s = report.sinks[0];
    expect(s?.basis).toBe("receipts");
    expect(kinds(report)).toEqual(
      new Map([195, 196, 197, 198, 199].map((i) => [key(i), "missing-late"])),
    );
    expect(s?.counts.matched).toBe(195);
    expect(sink.size).toBeLessThan(envelopes.length);
    clock.advance(60_000);
    const later = await reconcile({ ledger, sinks: [receiptOnly], clock: clock.now });
    expect(later.sinks[0]?.counts["missing-lost"]).toBe(5);
    expect(later.sinks[0]?.consistent).toBe(false);
  });

  it("a failed delivery is missing; a conflict receipt is mismatched", async () => {
    const { ledger, sink, envelopes, clock } = await build(4);
    sink.setOffline(true);
    const failed = await sink.guard?.deliver(envelopes[0] as never);
    expect(failed?.status).toBe("failed");
    sink.setOffline(false);
    await sink.guard?.deliverAll(envelopes.slice(2));
    const e = envelopes[1] as (typeof envelopes)[number];
    const at = new Date(clock.now()).toISOString();
    await ledger.putReceipt({
      sink: "store",
      key: e.key,
      id: e.id,
      position: 2,
      status: "conflict",
      checksum: e.checksum,
      attempt: 1,
      startedAt: at,
      finishedAt: at,
      error: { code: "conflict", message: "the sink holds another checksum" },
    });
    clock.advance(LAG + 1);
    const report = await reconcile({
      ledger,
      sinks: [{ name: "store", lagToleranceMs: LAG }],
      clock: clock.now,
    });
    expect(report.sinks[0]?.findings).toMatchObject([
      { kind: "missing-lost", position: 1, receipt: undefined },
      { kind: "mismatched", position: 2 },
    ]);
    expect(report.sinks[0]?.counts.matched).toBe(2);
  });
});

describe("reconcile: ranges and concurrency", () => {
  it("covers a range; keys the sink holds outside it are not unexpected", async () => {
    const { ledger, sink, envelopes, clock } = await build(50);
    await sink.guard?.deliverAll(envelopes);
    const seen: { from: number; to: number; since: string | undefined }[] = [];
    const report = await reconcile({
      ledger,
      sinks: [
        {
          ...sink,
          observe: (range) => {
            seen.push(range);
            return sink.observe();
          },
        },
      ],
      range: { from: 11, to: 20 },
      clock: clock.now,
    });
    expect(report.range).toEqual({ from: 11, to: 20, entries: 10 });
    expect(report.sinks[0]?.counts).toMatchObject({ matched: 10, unexpected: 0 });
    expect(report.consistent).toBe(true);
    expect(seen).toEqual([{ from: 11, to: 20, since: new Date(T0 + 10_000).toISOString() }]);
  });

  it("digest mode needs the whole ledger: a partial range is an error unless the sink can observe", async () => {
    const { ledger, sink, envelopes, clock } = await build(20, { digest: true });
    await sink.guard?.deliverAll(envelopes);
    const digestOnly: ReconcileSink = { name: "store", digest: sink.digest };
    const report = await reconcile({
      ledger,
      sinks: [digestOnly],
      range: { from: 5 },
      clock: clock.now,
    });
    expect(report.sinks[0]?.error).toMatchObject({
      code: "invalid_argument",
      path: "options.range.from",
    });
    expect(report.sinks[0]?.consistent).toBe(false);
    const both = await reconcile({ ledger, sinks: [sink], range: { from: 5 }, clock: clock.now });
    expect(both.sinks[0]?.basis).toBe("observed");
    expect(both.consistent).toBe(true);
  });

  it("keys appended after the scan began are not unexpected", async () => {
    const { ledger, sink, envelopes, clock } = await build(10);
    await sink.guard?.deliverAll(envelopes);
    const seal = createSealer({ clock: clock.now });
    const late = seal({
      producer: "orders-svc",
      seq: 10,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: order(10),
    });
    const racing: ReconcileSink = {
      name: "store",
      async *observe() {
        // The ledger and the sink move on while the reconciliation reads.
        await ledger.append([late]);
        await sink.guard?.deliver(late);
        yield* sink.observe();
      },
    };
    const report = await reconcile({ ledger, sinks: [racing], clock: clock.now });
    expect(report.range.to).toBe(10);
    expect(report.sinks[0]?.counts).toMatchObject({ matched: 10, unexpected: 0 });
  });

  it("an empty ledger against an empty sink is consistent; against a full one, everything is unexpected", async () => {
    const ledger = new MemoryLedger();
    const empty = await reconcile({ ledger, sinks: [{ name: "a", observe: () => [] }] });
    expect(empty).toMatchObject({ consistent: true, range: { from: 1, to: 0, entries: 0 } });
    const full = await reconcile({
      ledger,
      sinks: [{ name: "a", observe: () => [{ key: "k", checksum: checksum(1) }] }],
    });
    expect(full.sinks[0]?.counts.unexpected).toBe(1);
  });
});

describe("reconcile: reporting", () => {
  it("caps the findings list but keeps the counts complete", async () => {
    const { ledger, sink, clock } = await build(30);
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now, maxFindings: 4 });
    expect(report.sinks[0]?.findings).toHaveLength(4);
    expect(report.sinks[0]?.truncated).toBe(true);
    expect(
      (report.sinks[0]?.counts["missing-lost"] ?? 0) +
        (report.sinks[0]?.counts["missing-late"] ?? 0),
    ).toBe(30);
  });

  it("reports progress per phase: each sink read, then one ledger scan for all", async () => {
    const { ledger, sink, envelopes, clock } = await build(25);
    await sink.guard?.deliverAll(envelopes);
    const events: ReconcileProgress[] = [];
    await reconcile({
      ledger,
      sinks: [sink, { name: "r" }],
      clock: clock.now,
      onProgress: (p) => events.push(p),
    });
    expect(events).toEqual([
      { sink: "store", phase: "observe", done: 25, total: 25 },
      { sink: undefined, phase: "compare", done: 25, total: 25 },
    ]);
  });

  it("a sink that cannot be read gets an error; the other sinks are still reconciled", async () => {
    const { ledger, sink, envelopes, clock } = await build(5);
    await sink.guard?.deliverAll(envelopes);
    const broken: ReconcileSink = {
      name: "broken",
      observe: () => {
        throw Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" });
      },
    };
    const report = await reconcile({ ledger, sinks: [broken, sink], clock: clock.now });
    expect(report.sinks[0]).toMatchObject({
      consistent: false,
      error: { code: "ECONNREFUSED", message: "connection refused" },
    });
    expect(report.sinks[1]?.consistent).toBe(true);
    expect(report.consistent).toBe(false);
  });

  it("malformed observations are typed errors with the path, in the sink's report", async () => {
    const { ledger, clock } = await build(2);
    const cases: [unknown, string, string][] = [
      [[null], "invalid_argument", "options.sinks[0].observe()[0]"],
      [
        [{ key: 5, checksum: checksum(1) }],
        "invalid_argument",
        "options.sinks[0].observe()[0].key",
      ],
      [[{ key: "k" }], "invalid_argument", "options.sinks[0].observe()[0]"],
      [
        [{ key: "k", checksum: "md5:abc" }],
        "invalid_checksum",
        "options.sinks[0].observe()[0].checksum",
      ],
      [
        [{ key: "k", checksum: checksum(1), count: 0 }],
        "invalid_argument",
        "options.sinks[0].observe()[0].count",
      ],
      [
        [{ key: "k", checksum: checksum(1), count: Number.NaN }],
        "invalid_argument",
        "options.sinks[0].observe()[0].count",
      ],
      [42, "invalid_argument", "options.sinks[0].observe()"],
    ];
    for (const [answer, code, path] of cases) {
      const report = await reconcile({
        ledger,
        sinks: [{ name: "s", observe: () => answer as never }],
        clock: clock.now,
      });
      expect(report.sinks[0]?.error, JSON.stringify(answer)).toMatchObject({ code, path });
    }
  });

  it("hostile payloads at the sink are mismatches, never crashes", async () => {
    const { ledger, envelopes, clock } = await build(5);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const deep = nestArrays(100_000);
    const hostile: unknown[] = [{ total: Number.NaN }, { n: 10n }, cyclic, { s: "\ud800" }, deep];
    const observe = () =>
      envelopes.map((e, i) => ({ key: e.key, payload: hostile[i] as JsonValue }));
    const report = await reconcile({ ledger, sinks: [{ name: "s", observe }], clock: clock.now });
    expect(report.sinks[0]?.counts.mismatched).toBe(5);
    expect(report.sinks[0]?.findings.every((f) => f.observed === undefined)).toBe(true);
    expect(report.sinks[0]?.findings[4]?.paths).toEqual(["$"]);
  });

  it("a sink holding one right and one altered copy is mismatched, with the altered checksum", async () => {
    const { ledger, envelopes, clock } = await build(1);
    const e = envelopes[0] as { key: string; checksum: string };
    const wrong = checksum({ other: true });
    const report = await reconcile({
      ledger,
      sinks: [
        {
          name: "s",
          observe: () => [
            { key: e.key, checksum: e.checksum },
            { key: e.key, checksum: wrong },
          ],
        },
      ],
      clock: clock.now,
    });
    expect(report.sinks[0]?.findings).toMatchObject([
      { kind: "mismatched", count: 2, observed: wrong },
    ]);
  });
});

describe("reconcile: options", () => {
  it("rejects malformed options with typed errors naming the path", async () => {
    const ledger = new MemoryLedger();
    const bad: [unknown, string][] = [
      [null, "options"],
      [{ sinks: [] }, "options.ledger"],
      [{ ledger: {}, sinks: [] }, "options.ledger"],
      [{ ledger, sinks: "a" }, "options.sinks"],
      [{ ledger, sinks: [{}] }, "options.sinks[0].name"],
      [{ ledger, sinks: [{ name: "a" }, { name: "a" }] }, "options.sinks[1].name"],
      [{ ledger, sinks: [{ name: "a", lagToleranceMs: -1 }] }, "options.sinks[0].lagToleranceMs"],
      [
        { ledger, sinks: [{ name: "a", lagToleranceMs: Number.NaN }] },
        "options.sinks[0].lagToleranceMs",
      ],
      [{ ledger, sinks: [{ name: "a", observe: 1 }] }, "options.sinks[0].observe"],
      [{ ledger, sinks: [{ name: "a", digest: {} }] }, "options.sinks[0].digest"],
      [
        { ledger, sinks: [{ name: "a", freezeOn: { matched: 1 } }] },
        "options.sinks[0].freezeOn.matched",
      ],
      [
        { ledger, sinks: [{ name: "a", freezeOn: { mismatched: -1 } }] },
        "options.sinks[0].freezeOn.mismatched",
      ],
      [{ ledger, sinks: [], range: { from: 0 } }, "options.range.from"],
      [{ ledger, sinks: [], range: { to: 1.5 } }, "options.range.to"],
      [{ ledger, sinks: [], maxFindings: -1 }, "options.maxFindings"],
      [{ ledger, sinks: [], clock: () => Number.NaN }, "options.clock()"],
      [{ ledger, sinks: [], clock: 5 }, "options.clock"],
    ];
    for (const [options, path] of bad) {
      const error = await reconcile(options as never).catch((e: unknown) => e);
      expect(error, path).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).path, JSON.stringify(options)).toBe(path);
    }
  });
});

describe("reconcile: freeze policy", () => {
  it("freezes a guard whose findings cross a threshold, audits it, and still lets repair replays through", async () => {
    const { ledger, sink, envelopes, clock, key } = await seeded();
    const report = await reconcile({
      ledger,
      sinks: [sink],
      clock: clock.now,
      freezeOn: { mismatched: 0 },
      actor: "nightly",
    });
    expect(report.sinks[0]?.frozen).toBe("reconciliation found 3 mismatched (threshold 0)");
    expect(sink.guard?.status().frozen?.reason).toBe(report.sinks[0]?.frozen);
    const audit = [];
    for await (const record of ledger.scanAudit()) audit.push(record);
    expect(audit).toMatchObject([
      { actor: "nightly", action: "freeze", subject: { sink: "store" } },
    ]);
    await expect(sink.guard?.deliver(envelopes[199] as never)).rejects.toBeInstanceOf(
      DeliveryError,
    );
    const replayed = await sink.guard?.deliver(envelopes[3] as never, { replay: true });
    expect(replayed?.status).toBe("replayed");
    expect(sink.get(key(3))).toBeDefined();
    // Under the threshold: no freeze.
    await sink.guard?.unfreeze();
    const calm = await reconcile({
      ledger,
      sinks: [{ ...sink, freezeOn: { mismatched: 3 } }],
      clock: clock.now,
      freezeOn: { mismatched: 0 },
    });
    expect(calm.sinks[0]?.frozen).toBeUndefined();
    expect(sink.guard?.status().frozen).toBeUndefined();
  });
});

describe("digest mode", () => {
  it("row hashes follow the documented recipe", () => {
    const key = "orders-svc/default/7";
    const sum = checksum({ a: 1 });
    const hex = createHash("sha256").update(`${key}\n${sum}`, "utf8").digest("hex");
    expect(rowHash(key, sum)).toEqual({
      hash: Number.parseInt(hex.slice(0, 8), 16),
      hi: Number.parseInt(hex.slice(8, 16), 16),
      lo: Number.parseInt(hex.slice(16, 24), 16),
    });
    expect(formatDigest(0x1_0000_0001, 2)).toBe("0000000100000002");
    expect(formatDigest(2n ** 40n + 255n, 0)).toBe("000000ff00000000");
    expect(() => formatDigest(1.5, 0)).toThrow(InvalidArgumentError);
    expect(() => rowHash(1 as never, sum)).toThrow(InvalidArgumentError);
  });

  it("reads row by row only what differs: 20,000 entries, 3 differences, under 1% of rows read", async () => {
    const clock = createManualClock(T0);
    const ledger = new MemoryLedger({ clock: clock.now });
    const seal = createSealer({ clock: clock.now });
    const batch = [];
    for (let i = 0; i < 20_000; i++) {
      batch.push(
        seal({
          producer: "p",
          seq: i,
          type: "t",
          schema: { name: "t", version: 1 },
          payload: { i },
        }),
      );
    }
    await ledger.append(batch);
    const rows = batch.map((e) => ({ key: e.key, checksum: e.checksum as string, count: 1 }));
    rows[10] = { ...rows[10], checksum: checksum({ i: -1 }) } as (typeof rows)[number];
    rows.splice(500, 1);
    rows.push({ key: "ghost", checksum: checksum(0), count: 1 });
    const { digestIndex } = await import("../../src/digest/index.js");
    clock.advance(120_000);
    const report = await reconcile({
      ledger,
      sinks: [{ name: "big", digest: digestIndex(rows) }],
      clock: clock.now,
    });
    const s = report.sinks[0];
    expect(s?.counts).toEqual({
      matched: 19_998,
      "missing-late": 0,
      "missing-lost": 1,
      duplicate: 0,
      mismatched: 1,
      unexpected: 1,
    });
    expect(s?.digest?.rowsRead).toBeGreaterThan(0);
    expect(s?.digest?.rowsRead).toBeLessThan(200);
    expect(s?.observations).toBe(s?.digest?.rowsRead);
  });

  it("malformed digest answers are typed errors in the sink's report", async () => {
    const { ledger, envelopes, clock, sink } = await build(3, { digest: true });
    await sink.guard?.deliverAll(envelopes);
    const answers: unknown[] = [
      "nope",
      [{ bucket: 5, count: 1, digest: "0000000000000000" }],
      [{ bucket: 0, count: -1, digest: "0000000000000000" }],
      [{ bucket: 0, count: 1, digest: "XYZ" }],
      [
        { bucket: 0, count: 1, digest: "0000000000000000" },
        { bucket: 0, count: 1, digest: "0000000000000000" },
      ],
    ];
    for (const answer of answers) {
      const report = await reconcile({
        ledger,
        sinks: [{ name: "s", digest: { digest: () => answer as never, observeRange: () => [] } }],
        clock: clock.now,
      });
      expect(report.sinks[0]?.error?.path, JSON.stringify(answer)).toMatch(
        /^options\.sinks\[0\]\.digest\.digest\(\)/,
      );
    }
  });
});
