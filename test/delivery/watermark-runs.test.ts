/**
 * The positions a guard finished above its watermark, kept as runs (src/delivery/watermark.ts):
 * the same answers as a set of positions, and memory that grows with the gaps, not with the
 * positions behind a stuck entry (no `Set` of every position, no RangeError at 2^24).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PositionRuns, WatermarkFold } from "../../src/delivery/watermark.js";
import type { Ledger, Receipt } from "../../src/ledger/types.js";

describe("PositionRuns", () => {
  it("answers as a set of positions would, whatever the order of additions", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 80 }),
        fc.integer({ min: 0, max: 61 }),
        (added, drop) => {
          const runs = new PositionRuns();
          const model = new Set<number>();
          for (const p of added) {
            runs.add(p);
            model.add(p);
          }
          for (let p = 0; p <= 62; p++) expect(runs.has(p)).toBe(model.has(p));
          // Runs are maximal: one per block of consecutive positions.
          const sorted = [...model].sort((a, b) => a - b);
          const blocks = sorted.filter((p, i) => i === 0 || sorted[i - 1] !== p - 1).length;
          expect(runs.runs).toBe(blocks);
          runs.dropThrough(drop);
          for (let p = 0; p <= 62; p++) expect(runs.has(p)).toBe(model.has(p) && p > drop);
          const end = runs.takeRunFrom(drop + 1);
          if (model.has(drop + 1)) {
            let e = drop + 1;
            while (model.has(e + 1)) e++;
            expect(end).toBe(e);
            for (let p = 0; p <= e; p++) expect(runs.has(p)).toBe(false);
          } else expect(end).toBeUndefined();
        },
      ),
      { numRuns: 500 },
    );
  });

  it("holds 2^24 + 1,000 positions behind a gap in one run", () => {
    const runs = new PositionRuns();
    const last = 2 ** 24 + 1000;
    for (let p = 2; p <= last; p++) runs.add(p);
    expect(runs.runs).toBe(1);
    expect(runs.has(1)).toBe(false);
    expect(runs.has(last)).toBe(true);
    // The gap filled: every position from 1 is one run, taken at once.
    runs.add(1);
    expect(runs.takeRunFrom(1)).toBe(last);
    expect(runs.empty).toBe(true);
    // Positions near 2^53 are held as exactly as small ones.
    runs.add(Number.MAX_SAFE_INTEGER - 1);
    runs.add(Number.MAX_SAFE_INTEGER);
    expect(runs.runs).toBe(1);
    expect(runs.takeRunFrom(Number.MAX_SAFE_INTEGER - 1)).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe("WatermarkFold behind a stuck entry", () => {
  it("keeps one run for every position finished past the stuck one, then jumps past them all", async () => {
    let stored = 0;
    const ledger = {
      async getWatermark() {
        return stored;
      },
      // The stuck entry (position 1) has no final receipt.
      async *scanReceipts(): AsyncIterable<Receipt> {},
      async advanceWatermark(_sink: string, position: number) {
        stored = Math.max(stored, position);
        return stored;
      },
    } as unknown as Ledger;
    const fold = new WatermarkFold(ledger, "s");
    for (let p = 2; p <= 50_001; p++) await fold.advance(p);
    expect(fold.watermark).toBe(0);
    expect(fold.pendingRuns).toBe(1);
    await fold.advance([50_003, 50_004]);
    expect(fold.pendingRuns).toBe(2);
    await fold.advance(1);
    expect(fold.watermark).toBe(50_001);
    expect(stored).toBe(50_001);
    expect(fold.pendingRuns).toBe(1);
    await fold.advance(50_002);
    expect(fold.watermark).toBe(50_004);
    expect(fold.pendingRuns).toBe(0);
  });
});
