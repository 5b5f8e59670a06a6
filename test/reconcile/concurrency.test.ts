/**
 * Sinks reconciled in parallel with bounded concurrency: at most `concurrency` sinks are
 * read at once, reports stay in the order of `options.sinks`, one sink's failure does not
 * stop the others, and a ledger failure is thrown only once nothing is left running.
 */
import { describe, expect, it } from "vitest";
import {
  createSealer,
  InvalidArgumentError,
  LedgerError,
  MemoryLedger,
  type Observation,
  type ReconcileSink,
  reconcile,
} from "../../src/index.js";

const seal = createSealer();
const NOW = Date.parse("2026-06-01T12:00:00.000Z");
const clock = () => NOW;

async function ledgerWith(n: number): Promise<MemoryLedger> {
  const ledger = new MemoryLedger({ clock: () => NOW - 3_600_000 });
  await ledger.append(
    Array.from({ length: n }, (_, s) =>
      seal({ producer: "p", seq: s, type: "t", schema: { name: "t", version: 1 }, payload: { s } }),
    ),
  );
  return ledger;
}

/** Sinks that hold every entry and count how many of them are being read at once. */
function gauge(ledger: MemoryLedger) {
  const state = { running: 0, most: 0, order: [] as string[] };
  const sink = (name: string, extra: Partial<ReconcileSink> = {}): ReconcileSink => ({
    name,
    async *observe(): AsyncIterable<Observation> {
      state.running++;
      state.most = Math.max(state.most, state.running);
      state.order.push(`start ${name}`);
      try {
        // Yield to the event loop a few times, so that others can start meanwhile.
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        for await (const entry of ledger.scan()) {
          yield { key: entry.envelope.key, checksum: entry.envelope.checksum };
        }
      } finally {
        state.running--;
        state.order.push(`end ${name}`);
      }
    },
    ...extra,
  });
  return { state, sink };
}

describe("reconcile({ concurrency })", () => {
  it("reads at most `concurrency` sinks at once, and reports them in the order given", async () => {
    const ledger = await ledgerWith(50);
    for (const [concurrency, most] of [
      [1, 1],
      [2, 2],
      [undefined, 4],
      [16, 6],
    ] as const) {
      const { state, sink } = gauge(ledger);
      const names = ["a", "b", "c", "d", "e", "f"];
      const report = await reconcile({
        ledger,
        sinks: names.map((n) => sink(n)),
        clock,
        ...(concurrency === undefined ? {} : { concurrency }),
      });
      expect(report.consistent).toBe(true);
      expect(report.sinks.map((s) => s.name)).toEqual(names);
      expect(
        report.sinks.map((s) => s.counts.matched),
        String(concurrency),
      ).toEqual(names.map(() => 50));
      expect(state.most, `concurrency ${concurrency}`).toBe(most);
      if (concurrency === 1) {
        expect(state.order.slice(0, 3)).toEqual(["start a", "end a", "start b"]);
      }
    }
  });

  it("a sink that fails is reported with its error; the others are reconciled", async () => {
    const ledger = await ledgerWith(20);
    const { sink } = gauge(ledger);
    const report = await reconcile({
      ledger,
      clock,
      concurrency: 3,
      sinks: [
        sink("a"),
        {
          name: "broken",
          // biome-ignore lint/correctness/useYield: it fails before it yields anything
          async *observe() {
            throw new Error("the search cluster is down");
          },
        },
        sink("c"),
      ],
    });
    expect(report.consistent).toBe(false);
    expect(report.sinks.map((s) => [s.name, s.consistent, s.error?.message])).toEqual([
      ["a", true, undefined],
      ["broken", false, "the search cluster is down"],
      ["c", true, undefined],
    ]);
  });

  it("a ledger failure is thrown after the sinks being read have finished", async () => {
    const ledger = await ledgerWith(20);
    const { state, sink } = gauge(ledger);
    const failing = new Proxy(ledger, {
      get(target, property, receiver) {
        if (property === "scanReceipts") {
          return () => ({
            // biome-ignore lint/correctness/useYield: the ledger fails before it yields
            async *[Symbol.asyncIterator]() {
              throw new LedgerError("storage_error", "the ledger's disk is gone");
            },
          });
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const caught = await reconcile({
      ledger: failing,
      clock,
      concurrency: 4,
      // A receipts-only sink reads the ledger's receipts: that read fails at once.
      sinks: [sink("slow-1"), { name: "receipts-only" }, sink("slow-2")],
    }).catch((error: unknown) => error);
    expect(caught).toBeInstanceOf(LedgerError);
    expect((caught as LedgerError).code).toBe("storage_error");
    expect(state.order).toEqual(["start slow-1", "start slow-2", "end slow-1", "end slow-2"]);
    expect(state.running).toBe(0);
  });

  it("the receipts of a sink's missing entries are read a batch at a time, not one after another", async () => {
    for (const batchCall of [true, false]) await missingReceipts(batchCall);
  });

  /**
   * 600 entries acknowledged, 500 lost: each missing entry's receipt read. With the batch
   * operation, one `getReceiptsMany` per 256 scanned entries; a ledger object without it
   * (`batchCall` false), one `getReceipts` per missing entry, many at once.
   */
  async function missingReceipts(batchCall: boolean): Promise<void> {
    const ledger = await ledgerWith(600);
    // The warehouse acknowledged every entry, then lost them all but 100.
    for await (const entry of ledger.scan()) {
      const at = new Date(NOW - 3_600_000).toISOString();
      await ledger.putReceipt({
        sink: "warehouse",
        key: entry.envelope.key,
        id: entry.envelope.id,
        position: entry.position,
        status: "written",
        checksum: entry.envelope.checksum,
        attempt: 1,
        startedAt: at,
        finishedAt: at,
      });
    }
    const kept = new Set<string>();
    for await (const entry of ledger.scan({ from: 1, to: 100 })) kept.add(entry.envelope.key);
    let running = 0;
    let most = 0;
    let calls = 0;
    const batches: number[] = [];
    const watched = new Proxy(ledger, {
      get(target, property, receiver) {
        if (property === "getReceiptsMany") {
          if (!batchCall) return undefined;
          return async (sink: string, keys: readonly string[]) => {
            batches.push(keys.length);
            return target.getReceiptsMany(sink, keys);
          };
        }
        if (property === "getReceipts") {
          return async (sink: string, key: string) => {
            calls++;
            running++;
            most = Math.max(most, running);
            await new Promise((resolve) => setImmediate(resolve));
            running--;
            return target.getReceipts(sink, key);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const report = await reconcile({
      ledger: watched,
      clock,
      sinks: [
        {
          name: "warehouse",
          lagToleranceMs: 0,
          async *observe() {
            for await (const entry of ledger.scan()) {
              if (kept.has(entry.envelope.key))
                yield { key: entry.envelope.key, checksum: entry.envelope.checksum };
            }
          },
        },
      ],
    });
    expect(report.sinks[0]?.counts["missing-lost"]).toBe(500);
    expect(report.sinks[0]?.contradicted, "each missing entry's receipt was read").toBe(500);
    if (batchCall) {
      // Scanned in batches of 256: 1-256 (156 of them missing), 257-512, 513-600.
      expect(batches).toEqual([156, 256, 88]);
      expect(calls, "no receipt read one key at a time").toBe(0);
    } else {
      expect(batches).toEqual([]);
      expect(calls).toBe(500);
      expect(most, "receipts read at once").toBeGreaterThan(50);
    }
  }

  it("refuses a concurrency that is not an integer from 1 to 256", async () => {
    const ledger = await ledgerWith(1);
    for (const concurrency of [0, -1, 1.5, 257, Number.NaN, "4", null]) {
      const caught = await reconcile({
        ledger,
        sinks: [{ name: "a", observe: () => [] }],
        // @ts-expect-error: bad input on purpose
        concurrency,
      }).catch((error: unknown) => error);
      expect(caught, String(concurrency)).toBeInstanceOf(InvalidArgumentError);
      expect((caught as InvalidArgumentError).path).toBe("options.concurrency");
    }
    // null is not "use the default" either (nor for maxFindings, beside it).
    const caught = await reconcile({
      ledger,
      sinks: [{ name: "a", observe: () => [] }],
      // @ts-expect-error: bad input on purpose
      maxFindings: null,
    }).catch((error: unknown) => error);
    expect((caught as InvalidArgumentError).path).toBe("options.maxFindings");
  });
});
