/**
 * One reconcile of a sink of `total` keys against a generated ledger of as many entries,
 * within `budget` keys in memory (hash partitions), run by bench/reconcile.ts as a child
 * process with its heap capped (`--max-old-space-size`). Prints one JSON line: the time,
 * the peak `heapUsed` seen at progress events (minus the heap before), and whether the
 * counts are right. Usage: node --expose-gc --import tsx bench/big-sink.ts TOTAL BUDGET
 */
import { type ReconcileSink, reconcile } from "../src/index.js";
import { readOnlyLedger } from "./read-only-ledger.js";

const total = Number(process.argv[2]);
const budget = Number(process.argv[3]);
const keyOf = (i: number) => `k/${i}`;
const sumOf = (i: number) => `xxh64:${i.toString(16).padStart(16, "0")}`;
const ledger = readOnlyLedger({ head: () => total, keyOf, sumOf });
const lost = 7;
const sink: ReconcileSink = {
  name: "big",
  lagToleranceMs: 0,
  *observe() {
    for (let p = 1; p <= total; p++)
      if (p % 4_000_037 !== lost) yield { key: keyOf(p), checksum: sumOf(p) };
  },
};
(globalThis as { gc?: () => void }).gc?.();
const before = process.memoryUsage().heapUsed;
let peak = 0;
const t0 = performance.now();
const report = await reconcile({
  ledger,
  sinks: [sink],
  maxKeysInMemory: budget,
  onProgress: () => {
    peak = Math.max(peak, process.memoryUsage().heapUsed - before);
  },
});
const ms = performance.now() - t0;
const s = report.sinks[0];
const expectedLost = total >= lost ? Math.floor((total - lost) / 4_000_037) + 1 : 0;
const done =
  s !== undefined &&
  s.error === undefined &&
  s.counts["missing-lost"] === expectedLost &&
  s.counts.matched === total - expectedLost;
console.log(
  JSON.stringify({
    ms,
    peak,
    done,
    lost: s?.counts["missing-lost"],
    error: done ? undefined : JSON.stringify(s?.error ?? s?.counts),
  }),
);
