/**
 * Ledger benchmarks, run by bench/index.ts in the same process.
 *
 * - MemoryLedger: batched append of freshly sealed 400-byte orders, integrity check
 *   included (every envelope is canonicalized and hashed again on append).
 * - FileLedger: batched append (fsync'd) against the floor, a raw `write` + `fdatasync` of
 *   the same bytes; single appends from 100 concurrent callers (group commit) against one
 *   caller at a time; reopening a ledger of 1M entries.
 * - Heap bytes per entry of both ledgers (after a forced GC; needs --expose-gc).
 *
 * Sealing happens in tinybench's `beforeEach`, outside the timed part.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Bench } from "tinybench";
import { createSealer, type Envelope, FileLedger, MemoryLedger } from "../src/index.js";
import { orderPayload } from "./payloads.js";

export interface LedgerRow {
  group: string;
  name: string;
  /** Envelopes per second at the median. */
  perSecond: number;
  /** Median time of one timed call, ns. */
  medianNs: number;
  /** perSecond divided by the floor's, when the group has a floor. */
  ratioToFloor?: number;
  floor?: boolean;
  note?: string;
}

export interface LedgerTarget {
  target: string;
  actual: string;
  met: boolean;
}

const seal = createSealer();
let seq = 0;
const batchOf = (n: number): Envelope[] =>
  Array.from({ length: n }, () =>
    seal({
      producer: "orders-svc",
      stream: "orders",
      seq: seq++,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: orderPayload(seq),
    }),
  );

const gc = (globalThis as { gc?: () => void }).gc;
function heapAfterGc(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

async function medianOf(
  name: string,
  options: { time: number; warmup: number },
  prepare: () => void,
  run: () => Promise<unknown> | unknown,
): Promise<number> {
  const bench = new Bench({ time: options.time, warmupTime: options.warmup, iterations: 10 });
  bench.add(name, run, { beforeEach: prepare });
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (result === undefined || !("latency" in result)) throw new Error(`${name} did not complete`);
  return result.latency.p50 * 1e6;
}

export async function runLedgerBench(
  quick: boolean,
): Promise<{ rows: LedgerRow[]; targets: LedgerTarget[] }> {
  const time = quick ? 300 : 2000;
  const warmup = quick ? 100 : 300;
  const rows: LedgerRow[] = [];
  const root = mkdtempSync(join(tmpdir(), "sinkproof-bench-"));
  try {
    // ---- MemoryLedger ----------------------------------------------------------------
    {
      const group = "MemoryLedger append, batches of 1000 400-byte orders";
      const ledger = new MemoryLedger();
      let batch: Envelope[] = [];
      const ns = await medianOf(
        group,
        { time, warmup },
        () => {
          batch = batchOf(1000);
        },
        () => ledger.append(batch),
      );
      rows.push({
        group,
        name: "append (integrity check included)",
        perSecond: 1000 / (ns / 1e9),
        medianNs: ns,
      });
    }

    // ---- FileLedger batched vs raw -----------------------------------------------------
    for (const size of [10, 100, 1000]) {
      const group = `FileLedger append, batches of ${size} 400-byte orders, fsync'd`;
      const rawFile = join(root, `raw-${size}.bin`);
      const fd = openSync(rawFile, "w");
      let bytes = Buffer.alloc(0);
      const rawNs = await medianOf(
        `${group} raw`,
        { time, warmup },
        () => {
          bytes = Buffer.from(JSON.stringify(batchOf(size)));
        },
        () => {
          writeSync(fd, bytes);
          fdatasyncSync(fd);
        },
      );
      closeSync(fd);
      const floorRate = size / (rawNs / 1e9);
      rows.push({
        group,
        name: "raw write + fdatasync of the same bytes",
        perSecond: floorRate,
        medianNs: rawNs,
        ratioToFloor: 1,
        floor: true,
      });
      const ledger = await FileLedger.open(join(root, `batched-${size}`));
      let batch: Envelope[] = [];
      const ns = await medianOf(
        group,
        { time, warmup },
        () => {
          batch = batchOf(size);
        },
        () => ledger.append(batch),
      );
      const rate = size / (ns / 1e9);
      rows.push({
        group,
        name: "FileLedger.append, one call at a time",
        perSecond: rate,
        medianNs: ns,
        ratioToFloor: rate / floorRate,
      });
      if (size === 100) {
        // A pipeline with four appends in flight: checks of one batch overlap the fsync of another.
        let four: Envelope[][] = [];
        const pipelinedNs = await medianOf(
          `${group} pipelined`,
          { time, warmup },
          () => {
            four = [batchOf(size), batchOf(size), batchOf(size), batchOf(size)];
          },
          () => Promise.all(four.map((b) => ledger.append(b))),
        );
        const pipelinedRate = (4 * size) / (pipelinedNs / 1e9);
        rows.push({
          group,
          name: "FileLedger.append, four calls in flight",
          perSecond: pipelinedRate,
          medianNs: pipelinedNs,
          ratioToFloor: pipelinedRate / floorRate,
        });
      }
      await ledger.close();
    }

    // ---- group commit -------------------------------------------------------------------
    {
      const group = "FileLedger single-envelope appends, fsync'd";
      const sequential = await FileLedger.open(join(root, "sequential"));
      let one: Envelope[] = [];
      const seqNs = await medianOf(
        `${group} sequential`,
        { time, warmup },
        () => {
          one = batchOf(1);
        },
        () => sequential.append(one),
      );
      await sequential.close();
      const seqRate = 1 / (seqNs / 1e9);
      rows.push({
        group,
        name: "one caller at a time",
        perSecond: seqRate,
        medianNs: seqNs,
        ratioToFloor: 1,
        floor: true,
      });
      const grouped = await FileLedger.open(join(root, "grouped"));
      let hundred: Envelope[] = [];
      const groupNs = await medianOf(
        `${group} concurrent`,
        { time, warmup },
        () => {
          hundred = batchOf(100);
        },
        () => Promise.all(hundred.map((e) => grouped.append([e]))),
      );
      await grouped.close();
      const groupRate = 100 / (groupNs / 1e9);
      rows.push({
        group,
        name: "100 concurrent callers (group commit)",
        perSecond: groupRate,
        medianNs: groupNs,
        ratioToFloor: groupRate / seqRate,
      });
    }

    // ---- recovery and heap -------------------------------------------------------------
    const entries = quick ? 50_000 : 1_000_000;
    {
      const dir = join(root, "recovery");
      const builder = await FileLedger.open(dir);
      for (let done = 0; done < entries; done += 1000) await builder.append(batchOf(1000));
      await builder.close();
      const before = heapAfterGc();
      const reopened = await FileLedger.open(dir);
      const heap = heapAfterGc() - before;
      const { durationMs } = reopened.recovery;
      if (reopened.recovery.entries !== entries) throw new Error("recovery lost entries");
      await reopened.close();
      const group = `FileLedger reopen, ${entries.toLocaleString("en-US")} entries`;
      rows.push({
        group,
        name: "replay segments, rebuild indexes",
        perSecond: entries / (durationMs / 1000),
        medianNs: durationMs * 1e6,
        note: `one measured open; heap ${Math.round(heap / entries)} bytes/entry (index only: envelopes stay on disk)`,
      });
      rows.push({
        group: "heap per entry",
        name: "FileLedger (after reopen)",
        perSecond: 0,
        medianNs: 0,
        note: `${Math.round(heap / entries)} bytes/entry`,
      });
    }
    {
      const count = quick ? 20_000 : 200_000;
      const before = heapAfterGc();
      const ledger = new MemoryLedger();
      for (let done = 0; done < count; done += 1000) await ledger.append(batchOf(1000));
      const after = heapAfterGc();
      rows.push({
        group: "heap per entry",
        name: "MemoryLedger (envelopes included)",
        perSecond: 0,
        medianNs: 0,
        note: `${Math.round((after - before) / count)} bytes/entry`,
      });
      await ledger.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  const find = (group: string, name: string) =>
    rows.find((r) => r.group.startsWith(group) && r.name.startsWith(name));
  const memory = find("MemoryLedger append", "append");
  const batched = find("FileLedger append, batches of 100 ", "FileLedger.append, one call");
  const recovery = find("FileLedger reopen", "replay");
  const targets: LedgerTarget[] = [];
  if (memory !== undefined) {
    targets.push({
      target: "MemoryLedger batched append ≥ 250k envelopes/s, integrity check included",
      actual: `${Math.round(memory.perSecond).toLocaleString("en-US")}/s`,
      met: memory.perSecond >= 250_000,
    });
  }
  if (batched?.ratioToFloor !== undefined) {
    targets.push({
      target: "FileLedger batched append (100 per batch) ≥ 50% of raw write + fsync",
      actual: `${(batched.ratioToFloor * 100).toFixed(0)}%`,
      met: batched.ratioToFloor >= 0.5,
    });
  }
  if (recovery !== undefined && !quick) {
    targets.push({
      target: "FileLedger reopen of 1M entries ≥ 500k entries/s",
      actual: `${Math.round(recovery.perSecond).toLocaleString("en-US")}/s`,
      met: recovery.perSecond >= 500_000,
    });
  }
  return { rows, targets };
}
