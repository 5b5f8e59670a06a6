/**
 * The watermark fold of a guard (src/delivery/watermark.ts), against a ledger double that
 * counts its calls: a fold reads the ledger only when it must, writes the watermark only
 * when it moves, runs one at a time with later callers sharing the next run, and folds a
 * run of consecutive positions at once. Written to kill the mutants the guard group's run left.
 */
import { describe, expect, it } from "vitest";
import { WatermarkFold } from "../../src/delivery/watermark.js";
import type { Ledger, Receipt } from "../../src/ledger/types.js";

/** A ledger double: a stored watermark, final receipts at some positions, and call counts. */
function ledgerDouble(start = 0, finalAt: readonly number[] = []) {
  const calls = { getWatermark: 0, scanReceipts: [] as number[], advanceWatermark: [] as number[] };
  let stored = start;
  let gate: Promise<void> | undefined;
  const ledger = {
    async getWatermark(): Promise<number> {
      calls.getWatermark++;
      return stored;
    },
    async *scanReceipts(_sink: string, range: { from: number; to: number }) {
      calls.scanReceipts.push(range.from);
      if (finalAt.includes(range.from)) {
        yield { position: range.from, status: "written" } as unknown as Receipt;
      }
    },
    async advanceWatermark(_sink: string, position: number): Promise<number> {
      calls.advanceWatermark.push(position);
      if (gate !== undefined) await gate;
      stored = Math.max(stored, position);
      return stored;
    },
  };
  /** Holds every advanceWatermark until the returned function is called. */
  const hold = (): (() => void) => {
    let open!: () => void;
    gate = new Promise((resolve) => {
      open = resolve;
    });
    return () => {
      gate = undefined;
      open();
    };
  };
  return { ledger: ledger as unknown as Ledger, calls, hold, stored: () => stored };
}

describe("WatermarkFold.saw", () => {
  it("keeps the highest watermark seen, starting from the first one", () => {
    const fold = new WatermarkFold(ledgerDouble().ledger, "s");
    expect(fold.watermark).toBeUndefined();
    fold.saw(3);
    expect(fold.watermark).toBe(3);
    fold.saw(7);
    expect(fold.watermark).toBe(7);
    fold.saw(5);
    expect(fold.watermark).toBe(7);
  });
});

describe("WatermarkFold.advance", () => {
  it("folds consecutive positions into one write, and no more reads than it needs", async () => {
    const { ledger, calls } = ledgerDouble();
    const fold = new WatermarkFold(ledger, "s");
    await fold.advance(2);
    // Position 1 has no receipt: the fold looks once, and does not move or write.
    expect(fold.watermark).toBe(0);
    expect(calls).toEqual({ getWatermark: 1, scanReceipts: [1], advanceWatermark: [] });
    await fold.advance(1);
    expect(fold.watermark).toBe(2);
    expect(calls).toEqual({ getWatermark: 1, scanReceipts: [1], advanceWatermark: [2] });
  });

  it("reads nothing when called with no position and nothing waiting", async () => {
    const { ledger, calls } = ledgerDouble(4);
    const fold = new WatermarkFold(ledger, "s");
    await fold.advance(undefined);
    expect(fold.watermark).toBe(4);
    await fold.advance(undefined);
    expect(calls).toEqual({ getWatermark: 1, scanReceipts: [], advanceWatermark: [] });
  });

  it("does not write the watermark when it does not move", async () => {
    const { ledger, calls } = ledgerDouble(5);
    const fold = new WatermarkFold(ledger, "s");
    await fold.advance(3);
    expect(fold.watermark).toBe(5);
    expect(calls.advanceWatermark).toEqual([]);
  });

  it("drops a position at the watermark itself, so later folds do not read for it", async () => {
    const { ledger, calls } = ledgerDouble(5);
    const fold = new WatermarkFold(ledger, "s");
    await fold.advance(5);
    expect(calls.scanReceipts).toEqual([6]);
    await fold.advance(undefined);
    // Nothing is left waiting: the second fold reads no receipt.
    expect(calls.scanReceipts).toEqual([6]);
    expect(calls.advanceWatermark).toEqual([]);
  });

  it("catches up through other guards' final receipts once, then stops reading", async () => {
    const { ledger, calls } = ledgerDouble(0, [1, 2, 3]);
    const fold = new WatermarkFold(ledger, "s");
    await fold.advance(undefined, true);
    expect(fold.watermark).toBe(3);
    expect(calls.scanReceipts).toEqual([1, 2, 3, 4]);
    expect(calls.advanceWatermark).toEqual([3]);
    // The catch-up was for that run only.
    await fold.advance(undefined);
    expect(calls.scanReceipts).toEqual([1, 2, 3, 4]);
  });

  it("runs one fold at a time: callers during a run share the next one", async () => {
    const { ledger, calls } = ledgerDouble();
    const fold = new WatermarkFold(ledger, "s");
    const first = fold.advance(1);
    const second = fold.advance(2);
    const third = fold.advance(3);
    expect(second).toBe(third);
    await Promise.all([first, second, third]);
    expect(fold.watermark).toBe(3);
    // One read of the stored watermark: the second run starts from what the first saw.
    expect(calls.getWatermark).toBe(1);
    expect(calls.advanceWatermark).toEqual([3]);
  });

  it("folds a position that arrives while a run writes, in the run after it", async () => {
    const { ledger, calls, hold } = ledgerDouble();
    const fold = new WatermarkFold(ledger, "s");
    const release = hold();
    const first = fold.advance(1);
    await waitUntil(() => calls.advanceWatermark.length === 1);
    const second = fold.advance(2);
    expect(second).toBeInstanceOf(Promise);
    release();
    await first;
    await second;
    expect(calls.advanceWatermark).toEqual([1, 2]);
    expect(fold.watermark).toBe(2);
  });

  it("a failed run does not stop the next one", async () => {
    const { ledger, calls } = ledgerDouble();
    let failOnce = true;
    const advance = ledger.advanceWatermark.bind(ledger);
    ledger.advanceWatermark = async (sink, position) => {
      if (failOnce) {
        failOnce = false;
        await advance(sink, position);
        throw new Error("ledger down");
      }
      return advance(sink, position);
    };
    const fold = new WatermarkFold(ledger, "s");
    const first = fold.advance(1);
    const second = fold.advance(2);
    await expect(first).rejects.toThrow("ledger down");
    await second;
    // The first run folded both and its write failed after storing; the next run, sharing
    // the failure, reads the stored watermark again rather than trusting what it did not see.
    expect(calls.advanceWatermark).toEqual([2]);
    expect(calls.getWatermark).toBe(2);
    expect(fold.watermark).toBe(2);
  });

  it("folds a run of 100,001 consecutive positions in one step and one write", async () => {
    const { ledger, calls } = ledgerDouble();
    const fold = new WatermarkFold(ledger, "s");
    const runs: Promise<void>[] = [];
    for (let p = 1; p <= 100_001; p++) runs.push(fold.advance(p));
    await Promise.all(runs);
    expect(calls.advanceWatermark).toEqual([100_001]);
    expect(calls.scanReceipts).toEqual([]);
    expect(fold.watermark).toBe(100_001);
  });
});

/** Waits (in macrotask turns, never by the clock) until `done()` holds. */
async function waitUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(done()).toBe(true);
}
