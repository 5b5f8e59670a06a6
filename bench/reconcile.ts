/**
 * Reconciliation benchmarks, run by bench/index.ts in the same process.
 *
 * - Full mode: a MemoryLedger of 1M sealed orders (100k with --quick) against 3 in-memory
 *   sinks with 0.1% drift each (missing, altered, duplicated and unexpected keys).
 *   Throughput = observations read from the sinks ÷ wall time of `reconcile` (which also
 *   streams the ledger and judges every entry at every sink). Heap bytes per entry: live
 *   heap (after a forced GC) during the ledger scan, when all 3 sinks' observations are
 *   held, minus the heap before, ÷ ledger entries.
 * - Digest mode: 10M expected entries (1M with --quick) against a sink with 10
 *   differences; the figure is the share of sink rows read row by row. The expected side
 *   streams from a generated read-only ledger (entries made on the fly, real checksums):
 *   10M MemoryLedger entries would need ~8 GB of heap, and the count of rows read does not
 *   depend on where the ledger keeps its entries.
 */
import { Bench } from "tinybench";
import { digestIndex } from "../src/digest/index.js";
import {
  checksum,
  createSealer,
  type Envelope,
  type Ledger,
  type LedgerEntry,
  MemoryLedger,
  type Observation,
  type ReconcileSink,
  reconcile,
} from "../src/index.js";
import { createMemorySink, createSeededRandom, type MemorySink } from "../src/testing/index.js";
import type { LedgerRow, LedgerTarget } from "./ledger.js";
import { orderPayload } from "./payloads.js";

const gc = (globalThis as { gc?: () => void }).gc;
function heapAfterGc(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** Fills a sink with every envelope, then drifts `rate` of them (and adds as many unexpected keys ÷ 4). */
function driftedSink(
  name: string,
  envelopes: readonly Envelope[],
  rate: number,
  seed: number,
): MemorySink {
  const sink = createMemorySink({ name, lagToleranceMs: 0 });
  for (const e of envelopes) sink.put(e.key, e.payload);
  const random = createSeededRandom(seed);
  const n = Math.round(envelopes.length * rate);
  for (let d = 0; d < n; d++) {
    const e = envelopes[Math.floor(random() * envelopes.length)] as Envelope;
    const kind = d % 4;
    if (kind === 0) sink.delete(e.key);
    else if (kind === 1) sink.put(e.key, { altered: d });
    else if (kind === 2) sink.put(e.key, e.payload, 2);
    else sink.put(`unexpected-${name}-${d}`, { d });
  }
  return sink;
}

/** A read-only ledger whose entries are made on the fly: entry i holds payload `{ i }`. */
function generatedLedger(count: number): Ledger {
  const appendedAt = new Date(Date.UTC(2026, 0, 1)).toISOString();
  const keyOf = (i: number) => `orders-svc/orders/${i}`;
  const entryAt = (position: number): LedgerEntry => {
    const payload = { i: position };
    return {
      position,
      appendedAt,
      envelope: {
        key: keyOf(position),
        checksum: checksum(payload),
        payload,
      } as unknown as Envelope,
    };
  };
  const ledger = {
    head: async () => count,
    async *scan(query: { from?: number; to?: number } = {}) {
      const to = Math.min(query.to ?? count, count);
      for (let p = query.from ?? 1; p <= to; p++) yield entryAt(p);
    },
    get: async (key: string) => {
      const match = /^orders-svc\/orders\/(\d+)$/.exec(key);
      const p = match === null ? 0 : Number(match[1]);
      return p >= 1 && p <= count ? entryAt(p) : undefined;
    },
    getReceipts: async () => [],
    async *scanReceipts() {},
    appendAudit: async () => {
      throw new Error("read-only");
    },
    async *scanAudit() {},
    freezeSink: async () => {
      throw new Error("read-only");
    },
    getFreezes: async () => [],
  };
  return ledger as unknown as Ledger;
}

export async function runReconcileBench(
  quick: boolean,
): Promise<{ rows: LedgerRow[]; targets: LedgerTarget[] }> {
  const rows: LedgerRow[] = [];
  const targets: LedgerTarget[] = [];

  // --- Full mode: 1M entries, 3 sinks, 0.1% drift ---------------------------------------
  const entries = quick ? 100_000 : 1_000_000;
  const seal = createSealer();
  const ledger = new MemoryLedger();
  const envelopes: Envelope[] = [];
  for (let first = 0; first < entries; first += 10_000) {
    const batch: Envelope[] = [];
    for (let i = first; i < first + 10_000; i++) {
      batch.push(
        seal({
          producer: "orders-svc",
          stream: "orders",
          seq: i,
          type: "order.created",
          schema: { name: "order", version: 1 },
          payload: orderPayload(i),
        }),
      );
    }
    await ledger.append(batch);
    envelopes.push(...batch);
  }
  const sinks: ReconcileSink[] = ["search", "warehouse", "cache"].map((name, i) =>
    driftedSink(name, envelopes, 0.001, i + 1),
  );
  envelopes.length = 0;

  // Memory: live heap during the ledger scan, when every sink's observations are held
  // (untimed run: it forces a GC at the first progress event of the scan).
  const before = heapAfterGc();
  let held = 0;
  await reconcile({
    ledger,
    sinks,
    onProgress: (p) => {
      if (p.phase === "compare" && held === 0) held = heapAfterGc() - before;
    },
  });
  const bytesPerEntry = held / entries;

  let observations = 0;
  let report: Awaited<ReturnType<typeof reconcile>> | undefined;
  const bench = new Bench({
    time: 0,
    warmupTime: 0,
    iterations: quick ? 2 : 3,
    warmupIterations: 1,
  });
  bench.add("reconcile", async () => {
    report = await reconcile({ ledger, sinks });
    observations = report.sinks.reduce((sum, s) => sum + s.observations, 0);
  });
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (result === undefined || !("latency" in result) || report === undefined)
    throw new Error("reconcile did not complete");
  const ms = result.latency.p50;
  const perSecond = (observations / ms) * 1000;
  const findings = report.sinks.reduce((sum, s) => sum + s.findings.length, 0);
  rows.push({
    group: `reconcile ${entries.toLocaleString("en-US")} entries × 3 in-memory sinks, 0.1% drift`,
    name: "observations per second",
    perSecond,
    medianNs: ms * 1e6,
    note: `${observations.toLocaleString("en-US")} observations, ${findings} findings, median of ${bench.tasks[0]?.runs ?? 0} runs; live heap ${bytesPerEntry.toFixed(0)} B per ledger entry (3 sinks' observations held)`,
  });
  targets.push({
    target: "reconcile: ≥ 1M observations/s (1M entries × 3 sinks, 0.1% drift)",
    actual: `${Math.round(perSecond).toLocaleString("en-US")}/s${quick ? " (quick: 100k entries)" : ""}; ${bytesPerEntry.toFixed(0)} B/entry heap`,
    met: perSecond >= 1_000_000,
  });

  // --- Digest mode: 10M expected entries, 10 differences --------------------------------
  const big = quick ? 1_000_000 : 10_000_000;
  const generated = generatedLedger(big);
  const sinkRows: (Observation & { checksum: string })[] = [];
  for (let p = 1; p <= big; p++)
    sinkRows.push({ key: `orders-svc/orders/${p}`, checksum: checksum({ i: p }) });
  const random = createSeededRandom(99);
  const at = () => Math.floor(random() * (big - 10)) + 1;
  for (let d = 0; d < 3; d++) sinkRows.splice(at(), 1); // missing
  for (let d = 0; d < 3; d++) {
    const i = at();
    sinkRows[i] = { key: (sinkRows[i] as Observation).key, checksum: checksum({ altered: d }) }; // mismatched
  }
  for (let d = 0; d < 2; d++) {
    const i = at();
    sinkRows[i] = { ...(sinkRows[i] as Observation & { checksum: string }), count: 2 }; // duplicate
  }
  for (let d = 0; d < 2; d++) sinkRows.push({ key: `unexpected-${d}`, checksum: checksum({ d }) });
  const digest = digestIndex(sinkRows);
  const tableRows = sinkRows.reduce((sum, r) => sum + (r.count ?? 1), 0);
  sinkRows.length = 0;
  const started = performance.now();
  const digestReport = await reconcile({
    ledger: generated,
    sinks: [{ name: "warehouse", lagToleranceMs: 0, digest }],
  });
  const digestMs = performance.now() - started;
  const s = digestReport.sinks[0];
  if (s?.digest === undefined)
    throw new Error(`digest mode did not run: ${JSON.stringify(s?.error)}`);
  const differences = s.findings.length;
  const share = s.digest.rowsRead / tableRows;
  rows.push({
    group: `reconcile in digest mode, ${big.toLocaleString("en-US")} entries, 10 differences`,
    name: "rows read row by row",
    perSecond: 0,
    medianNs: digestMs * 1e6,
    note: `${s.digest.rowsRead} of ${tableRows.toLocaleString("en-US")} rows (${(share * 100).toFixed(4)}%); ${s.digest.buckets} buckets compared, ${s.digest.differing} differing; ${differences} findings; one run (time includes hashing every ledger entry)`,
  });
  targets.push({
    target: "digest mode: 10M entries, 10 differences → < 0.1% of rows read",
    actual: `${(share * 100).toFixed(4)}% (${s.digest.rowsRead} rows)${quick ? " (quick: 1M entries)" : ""}, ${differences} findings`,
    met: share < 0.001 && differences === 10,
  });
  return { rows, targets };
}
