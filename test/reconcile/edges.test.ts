import { describe, expect, it } from "vitest";
import { digestIndex, rowHash } from "../../src/digest/index.js";
import {
  type AuditRecord,
  checksum,
  InvalidArgumentError,
  type LedgerEntry,
  LedgerError,
  MemoryLedger,
  type ReconcileSink,
  reconcile,
  repair,
} from "../../src/index.js";
import type { EntryScan } from "../../src/ledger/index.js";
import { createMemorySink } from "../../src/testing/index.js";
import { build, LAG, order } from "./scenario.js";

describe("reconcile and repair at the edges", () => {
  it("a payload wins over a stored checksum: an altered payload under a right checksum is mismatched", async () => {
    const { ledger, envelopes, clock } = await build(2);
    const [a, b] = envelopes as [(typeof envelopes)[number], (typeof envelopes)[number]];
    const observe = () => [
      { key: a.key, checksum: a.checksum, payload: { ...order(0), total: 999 } },
      { key: b.key, checksum: b.checksum, payload: order(1) },
    ];
    const report = await reconcile({ ledger, sinks: [{ name: "s", observe }], clock: clock.now });
    expect(report.sinks[0]?.counts).toMatchObject({ matched: 1, mismatched: 1 });
    expect(report.sinks[0]?.findings[0]).toMatchObject({ key: a.key, paths: ["$.total"] });
    expect(report.consistent).toBe(false);
  });

  it("digest mode refuses rows outside the range asked for", async () => {
    const { ledger, envelopes, clock } = await build(200);
    const rows = envelopes.slice(1).map((e) => ({ key: e.key, checksum: e.checksum }));
    const honest = digestIndex(rows);
    const sloppy: ReconcileSink = {
      name: "s",
      digest: { digest: (split) => honest.digest(split), observeRange: () => rows },
    };
    const report = await reconcile({ ledger, sinks: [sloppy], clock: clock.now });
    expect(report.sinks[0]?.error).toMatchObject({
      code: "invalid_argument",
      path: "options.sinks[0].digest.observeRange()",
    });
    expect(report.sinks[0]?.consistent).toBe(false);
  });

  it("row hashes refuse lone surrogates (UTF-8 would merge them with U+FFFD)", () => {
    expect(() => rowHash("k\ud800", checksum(1))).toThrow(InvalidArgumentError);
    expect(() => digestIndex([{ key: "k\udc00", checksum: checksum(1) }])).toThrow(
      InvalidArgumentError,
    );
    expect(rowHash("k\ufffd", checksum(1)).hash).toBeGreaterThanOrEqual(0);
  });

  it("typed errors for malformed digest inputs, sink names and times", async () => {
    expect(() => digestIndex(5 as never)).toThrow(InvalidArgumentError);
    expect(() => digestIndex(null as never)).toThrow(InvalidArgumentError);
    expect(() => [
      ...(digestIndex([]).observeRange(undefined as never) as Iterable<unknown>),
    ]).toThrow(InvalidArgumentError);
    const ledger = new MemoryLedger();
    for (const [options, path] of [
      [{ ledger, sinks: [{ name: "a\u0000b" }] }, "options.sinks[0].name"],
      [{ ledger, sinks: [{ name: "x".repeat(200) }] }, "options.sinks[0].name"],
      [{ ledger, sinks: [], clock: () => 1e300 }, "options.clock()"],
    ] as const) {
      const error = await reconcile(options as never).catch((e: unknown) => e);
      expect(error, path).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).path).toBe(path);
    }
    expect(() => createMemorySink({ name: "s" }).put(5 as never, 1)).toThrow(InvalidArgumentError);
  });

  it("repair does not converge when the recheck cannot read the sink", async () => {
    const { ledger, sink, clock, envelopes } = await build(10);
    await sink.guard?.deliverAll(envelopes.slice(0, 9));
    clock.advance(LAG + 1);
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(report.sinks[0]?.counts["missing-lost"]).toBe(1);
    const down: ReconcileSink = {
      ...sink,
      observe: () => {
        throw new Error("gone");
      },
    };
    for (const dryRun of [true, false]) {
      const result = await repair(report, { ledger, sinks: [down], clock: clock.now, dryRun });
      expect(result.converged, `dryRun ${dryRun}`).toBe(false);
      expect(result.actions).toEqual([]);
      expect(result.sinks[0]).toMatchObject({ converged: false, error: { message: "gone" } });
    }
    // A report whose sink could not be read is not "converged" by a repair either.
    const unreadable = await reconcile({ ledger, sinks: [down], clock: clock.now });
    expect((await repair(unreadable, { ledger, sinks: [down], clock: clock.now })).converged).toBe(
      false,
    );
  });

  it("a repair over a partial range does not lift a freeze put over the whole ledger", async () => {
    const { ledger, sink, clock, envelopes } = await build(20);
    await sink.guard?.deliverAll(envelopes);
    sink.delete((envelopes[3] as { key: string }).key);
    clock.advance(LAG + 1);
    await reconcile({ ledger, sinks: [sink], clock: clock.now, freezeOn: { "missing-lost": 0 } });
    expect(sink.guard?.status().frozen).toBeDefined();
    const partial = await reconcile({
      ledger,
      sinks: [sink],
      clock: clock.now,
      range: { from: 10 },
    });
    expect(partial.consistent).toBe(true);
    const result = await repair(partial, { ledger, sinks: [sink], clock: clock.now });
    expect(result.sinks[0]?.unfrozen).toBe(false);
    expect(sink.guard?.status().frozen).toBeDefined();
    // Repairing the whole ledger converges and lifts it.
    const full = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(
      (await repair(full, { ledger, sinks: [sink], clock: clock.now })).sinks[0]?.unfrozen,
    ).toBe(true);
  });

  it("the audit record of a remove-and-replay whose replay failed says the key is gone", async () => {
    const { ledger, sink, clock, envelopes } = await build(5, {
      guardOptions: { retry: { attempts: 1 } },
    });
    await sink.guard?.deliverAll(envelopes);
    const key = (envelopes[2] as { key: string }).key;
    sink.put(key, order(2), 2);
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    sink.setOffline(true);
    const result = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(result.actions).toMatchObject([
      { action: "remove-and-replay", status: "failed", after: null },
    ]);
    const records: AuditRecord[] = [];
    for await (const r of ledger.scanAudit()) records.push(r);
    expect(records[0]).toMatchObject({
      phase: "intent",
      before: envelopes[2]?.checksum,
      after: envelopes[2]?.checksum,
      details: { finding: "duplicate" },
    });
    expect(records[1]).toMatchObject({
      phase: "outcome",
      intent: 1,
      before: envelopes[2]?.checksum,
      after: null,
      details: { outcome: "failed" },
    });
    expect(result.unresolved[0]).toMatchObject({ key, finding: "missing-late" }); // gone now, and young
  });

  it("repairs a report over an empty ledger (removes what the sink should not hold)", async () => {
    const ledger = new MemoryLedger();
    const sink = createMemorySink({ name: "s" });
    sink.put("stray", { x: 1 });
    const report = await reconcile({ ledger, sinks: [sink] });
    expect(report.range).toEqual({ from: 1, to: 0, entries: 0 });
    const result = await repair(report, { ledger, sinks: [sink] });
    expect(result).toMatchObject({
      converged: true,
      actions: [{ action: "remove", key: "stray", status: "done" }],
    });
    expect(sink.size).toBe(0);
  });

  it("a ledger adapter whose scan returns nothing iterable fails with a LedgerError", async () => {
    class Broken extends MemoryLedger {
      protected override _scan(_scan: EntryScan): Iterable<LedgerEntry> {
        return undefined as never;
      }
    }
    const ledger = new Broken();
    await ledger.append([]);
    const { envelopes } = await build(1);
    await ledger.append(envelopes);
    const error = await (async () => {
      for await (const _ of ledger.scan()) void _;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe("storage_error");
  });
});
