/**
 * Simulation benchmarks, run by bench/index.ts in the same process: simulated scheduler
 * steps per second of `simulate`, in one process on virtual time, end phases (drain,
 * reconcile, repair, final checks) included in the time and not in the step count.
 *
 * - MemoryLedger with two memory sinks and the default faults, 200 steps a seed: the
 *   configuration `npm test` runs 1,000 seeds of. The target follows from the issue's
 *   budget: 1,000 seeds × 200 steps within 2 minutes is 1,667 steps/s.
 * - FileLedger (real files in each run's directory, restarts reopen them), 200 steps a seed.
 */
import { join } from "node:path";
import { FileLedger } from "../src/index.js";
import { createMemorySink, type SimulateOptions, simulate } from "../src/testing/index.js";
import type { LedgerRow, LedgerTarget } from "./ledger.js";

const sinks: SimulateOptions["sinks"] = {
  warehouse: () => createMemorySink({ name: "warehouse", observe: "both" }),
  search: () => createMemorySink({ name: "search" }),
};

/** Runs `seeds` seeds; returns steps per second over all of them and the median run time. */
async function measure(
  seeds: number,
  options: (seed: number) => SimulateOptions,
): Promise<{ stepsPerSecond: number; medianMs: number; failed: number }> {
  const times: number[] = [];
  let steps = 0;
  let failed = 0;
  const started = performance.now();
  for (let seed = 0; seed < seeds; seed++) {
    const t0 = performance.now();
    const result = await simulate(options(seed));
    times.push(performance.now() - t0);
    steps += result.stats.steps;
    if (!result.ok) failed++;
  }
  const elapsed = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return {
    stepsPerSecond: steps / elapsed,
    medianMs: times[Math.floor(times.length / 2)] as number,
    failed,
  };
}

export async function runSimulateBench(
  quick: boolean,
): Promise<{ rows: LedgerRow[]; targets: LedgerTarget[] }> {
  // Warm-up: the JIT sees every path once before anything is timed.
  await measure(20, (seed) => ({ seed: 10_000 + seed, steps: 200, sinks, shrink: false }));
  const memorySeeds = quick ? 100 : 1000;
  const memory = await measure(memorySeeds, (seed) => ({ seed, steps: 200, sinks, shrink: false }));
  const fileSeeds = quick ? 10 : 50;
  const file = await measure(fileSeeds, (seed) => ({
    seed,
    steps: 200,
    sinks,
    ledger: (ctx) => FileLedger.open(join(ctx.directory, "ledger"), { clock: ctx.clock }),
    faults: { ledgerRestart: 0.02 },
    shrink: false,
  }));
  const rows: LedgerRow[] = [
    {
      group: "simulate",
      name: `MemoryLedger, 2 sinks, 200 steps a seed (${memorySeeds} seeds)`,
      perSecond: memory.stepsPerSecond,
      medianNs: memory.medianMs * 1e6,
      note: `simulated steps/s, end phases included; median is one seed's run; ${memory.failed} failed`,
    },
    {
      group: "simulate",
      name: `FileLedger with restarts, 2 sinks, 200 steps a seed (${fileSeeds} seeds)`,
      perSecond: file.stepsPerSecond,
      medianNs: file.medianMs * 1e6,
      note: `simulated steps/s, end phases included; ${file.failed} failed`,
    },
  ];
  const budget = (1000 * 200) / 120;
  const targets: LedgerTarget[] = [
    {
      target: "simulate: 1,000 seeds × 200 steps on MemoryLedger within 2 min (≥ 1,667 steps/s)",
      actual: `${Math.round(memory.stepsPerSecond).toLocaleString("en-US")} steps/s (1,000 seeds in ${((1000 * 200) / memory.stepsPerSecond).toFixed(0)} s)`,
      met: memory.stepsPerSecond >= budget,
    },
  ];
  return { rows, targets };
}
