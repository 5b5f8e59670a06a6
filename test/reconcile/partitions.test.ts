/**
 * Bounded memory: a pass whose read-back holds more keys than `maxKeysInMemory` starts
 * again in hash partitions, each holding its share of the keys, and reports exactly what
 * the pass in one piece reports (counts, findings, windows, observations, checkpoints),
 * for read-back, receipts-only and digest sinks together.
 */
import { describe, expect, it } from "vitest";
import { digestIndex } from "../../src/digest/index.js";
import {
  createSealer,
  type Envelope,
  InvalidArgumentError,
  MemoryLedger,
  type Observation,
  type ReconcileReport,
  type ReconcileSink,
  reconcile,
} from "../../src/index.js";
import { createSeededRandom } from "../../src/testing/index.js";

const seal = createSealer();
const NOW = Date.parse("2026-06-01T12:00:00.000Z");
const clock = () => NOW;

async function world(n: number, seed: number) {
  const ledger = new MemoryLedger({ clock: () => NOW - 3_600_000 });
  const envelopes: Envelope[] = Array.from({ length: n }, (_, i) =>
    seal({ producer: "p", seq: i, type: "t", schema: { name: "t", version: 1 }, payload: { i } }),
  );
  await ledger.append(envelopes);
  const random = createSeededRandom(seed);
  const drifted = (name: string) => {
    const rows = new Map<string, { checksum: string; count: number }>();
    for (const e of envelopes) rows.set(e.key, { checksum: e.checksum, count: 1 });
    for (let d = 0; d < Math.max(4, n / 100); d++) {
      const e = envelopes[Math.floor(random() * n)] as Envelope;
      const kind = d % 4;
      if (kind === 0) rows.delete(e.key);
      else if (kind === 1) rows.set(e.key, { checksum: "xxh64:0000000000000000", count: 1 });
      else if (kind === 2) rows.set(e.key, { checksum: e.checksum, count: 2 });
      else rows.set(`stray/${name}/${d}`, { checksum: "xxh64:0123456789abcdef", count: 1 });
    }
    return rows;
  };
  const calls = { observe: 0 };
  const observed = (name: string): ReconcileSink => {
    const rows = drifted(name);
    return {
      name,
      lagToleranceMs: 60_000,
      *observe(): Iterable<Observation> {
        calls.observe++;
        for (const [key, row] of rows) yield { key, checksum: row.checksum, count: row.count };
      },
    };
  };
  const digestRows = [...drifted("dig")].map(([key, row]) => ({
    key,
    checksum: row.checksum,
    count: row.count,
  }));
  const sinks: ReconcileSink[] = [
    observed("search"),
    observed("warehouse"),
    { name: "receipts-only" },
    { name: "dig", digest: digestIndex(digestRows) },
  ];
  return { ledger, sinks, calls };
}

/** What a report says, its machine-dependent times aside. */
const said = (report: ReconcileReport) =>
  report.sinks.map((s) => ({
    name: s.name,
    basis: s.basis,
    consistent: s.consistent,
    counts: s.counts,
    // Keys the ledger never emitted have no position: listed last, in the order the
    // partitions met them (in one piece, in the sink's order).
    findings: [
      ...s.findings.filter((f) => f.position !== undefined).map((f) => [f.kind, f.key, f.position]),
      ...s.findings
        .filter((f) => f.position === undefined)
        .map((f) => [f.kind, f.key])
        .sort((x, y) => String(x[1]).localeCompare(String(y[1]))),
    ],
    window: s.window,
    observations: s.observations,
    checkpoint: s.checkpoint?.stored?.through,
  }));

describe("reconcile({ maxKeysInMemory })", () => {
  it("a read-back past the budget is reconciled in partitions, with the same report", async () => {
    const { ledger, sinks, calls } = await world(3000, 1);
    const whole = await reconcile({ ledger, sinks, clock });
    expect(calls.observe).toBe(2);
    calls.observe = 0;
    const split = await reconcile({ ledger, sinks, clock, maxKeysInMemory: 500 });
    // Each sink is read once per partition, after the attempts that overflowed.
    expect(calls.observe).toBeGreaterThan(2 * 16);
    expect(said(split)).toEqual(said(whole));
    expect(split.consistent).toBe(false);
    expect(split.sinks[0]?.counts.unexpected).toBeGreaterThan(0);
  });

  it("the same report as in one piece, for any drift (20 seeds), incremental too", async () => {
    for (let seed = 0; seed < 20; seed++) {
      const a = await world(600, seed);
      const b = await world(600, seed);
      const whole = await reconcile({ ledger: a.ledger, sinks: a.sinks, clock, incremental: true });
      const split = await reconcile({
        ledger: b.ledger,
        sinks: b.sinks,
        clock,
        incremental: true,
        maxKeysInMemory: 100 + seed * 10,
      });
      expect(said(split), `seed ${seed}`).toEqual(said(whole));
      for (const sink of ["search", "warehouse", "receipts-only", "dig"]) {
        expect(await b.ledger.getCheckpoint(sink), `${sink}, seed ${seed}`).toEqual(
          await a.ledger.getCheckpoint(sink),
        );
      }
    }
  });

  it("refuses a budget that is not a positive integer", async () => {
    const { ledger, sinks } = await world(10, 0);
    for (const maxKeysInMemory of [0, -1, 1.5, Number.NaN, "10", null]) {
      const caught = await reconcile({
        ledger,
        sinks,
        // @ts-expect-error: bad input on purpose
        maxKeysInMemory,
      }).catch((error: unknown) => error);
      expect(caught, String(maxKeysInMemory)).toBeInstanceOf(InvalidArgumentError);
      expect((caught as InvalidArgumentError).path).toBe("options.maxKeysInMemory");
    }
  });
});
