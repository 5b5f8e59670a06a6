/**
 * Delivery benchmarks, run by bench/index.ts in the same process.
 *
 * - `guard.deliver` on a MemoryLedger, new keys and duplicates, against the floor (the
 *   raw write the guard wraps: a Map upsert) and against Powertools' `makeIdempotent`
 *   with its cache persistence layer over an in-memory client, wrapping the same write.
 * - `publish` to 3 in-memory sinks through a FileLedger, 100 publishes in flight (group
 *   commit): events per second.
 *
 * Envelopes are sealed and appended in tinybench's `beforeEach`, outside the timed part.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { CachePersistenceLayer } from "@aws-lambda-powertools/idempotency/cache";
import { Bench } from "tinybench";
import {
  createPipeline,
  createProducer,
  createSealer,
  type Envelope,
  FileLedger,
  guardSink,
  MemoryLedger,
} from "../src/index.js";
import type { LedgerRow, LedgerTarget } from "./ledger.js";
import { orderPayload } from "./payloads.js";

const BATCH = 100;

/** An in-memory client of the shape Powertools' cache persistence layer expects (Redis-like). */
function memoryCacheClient() {
  const store = new Map<string, unknown>();
  return {
    async get(name: string) {
      return (store.get(name) as string | undefined) ?? null;
    },
    async set(name: string, value: unknown, options?: { NX?: boolean }) {
      if (options?.NX === true && store.has(name)) return null;
      store.set(name, value);
      return "OK";
    },
    async del(keys: string[]) {
      let n = 0;
      for (const key of keys) if (store.delete(key)) n++;
      return n;
    },
  };
}

async function perCall(
  name: string,
  options: { time: number; warmup: number },
  prepare: () => Promise<void> | void,
  run: () => Promise<unknown>,
): Promise<number> {
  const bench = new Bench({ time: options.time, warmupTime: options.warmup, iterations: 10 });
  bench.add(name, run, { beforeEach: prepare });
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (result === undefined || !("latency" in result)) throw new Error(`${name} did not complete`);
  return (result.latency.p50 * 1e6) / BATCH;
}

export async function runDeliveryBench(
  quick: boolean,
): Promise<{ rows: LedgerRow[]; targets: LedgerTarget[] }> {
  const time = quick ? 300 : 1500;
  const warmup = quick ? 100 : 300;
  const rows: LedgerRow[] = [];
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

  const group = `guard.deliver, ${BATCH} calls one after another, MemoryLedger`;
  const rowsOf = new Map<string, unknown>();
  const rawWrite = async (envelope: { key: string; payload: unknown }) => {
    rowsOf.set(envelope.key, envelope.payload);
    return { ok: true };
  };
  let batch: Envelope[] = [];

  // The floor: the write itself.
  const rawNs = await perCall(
    `${group} raw`,
    { time, warmup },
    () => {
      batch = batchOf(BATCH);
    },
    async () => {
      for (const e of batch) await rawWrite(e);
    },
  );
  rows.push({
    group,
    name: "raw write (Map upsert)",
    perSecond: 1e9 / rawNs,
    medianNs: rawNs,
    ratioToFloor: 1,
    floor: true,
  });

  // sinkproof: new keys, then the same keys again.
  const ledger = new MemoryLedger();
  const guard = guardSink({ name: "warehouse", ledger, write: (e) => void rawWrite(e) });
  const newNs = await perCall(
    `${group} new`,
    { time, warmup },
    async () => {
      batch = batchOf(BATCH);
      await ledger.append(batch);
    },
    async () => {
      for (const e of batch) await guard.deliver(e);
    },
  );
  let delivered: Envelope[] = batch;
  const dupNs = await perCall(
    `${group} duplicates`,
    { time, warmup },
    () => {
      delivered = batch;
    },
    async () => {
      for (const e of delivered) await guard.deliver(e);
    },
  );

  // Powertools: makeIdempotent over the same write, cache persistence over an in-memory client.
  const config = new IdempotencyConfig({ eventKeyJmesPath: "key" });
  // Outside Lambda there is no context; a long remaining time keeps its in-progress checks quiet.
  config.registerLambdaContext({ getRemainingTimeInMillis: () => 60_000 } as never);
  const idempotent = makeIdempotent(rawWrite, {
    persistenceStore: new CachePersistenceLayer({ client: memoryCacheClient() }),
    config,
  });
  let events: Array<{ key: string; payload: unknown }> = [];
  const ptNewNs = await perCall(
    `${group} powertools new`,
    { time, warmup },
    () => {
      events = batchOf(BATCH).map((e) => ({ key: e.key, payload: e.payload }));
    },
    async () => {
      for (const e of events) await idempotent(e);
    },
  );
  const ptDupNs = await perCall(
    `${group} powertools duplicates`,
    { time, warmup },
    () => undefined,
    async () => {
      for (const e of events) await idempotent(e);
    },
  );

  rows.push(
    {
      group,
      name: "sinkproof guard.deliver, new keys",
      perSecond: 1e9 / newNs,
      medianNs: newNs,
      ratioToFloor: rawNs / newNs,
    },
    {
      group,
      name: "sinkproof guard.deliver, duplicates",
      perSecond: 1e9 / dupNs,
      medianNs: dupNs,
      ratioToFloor: rawNs / dupNs,
    },
    {
      group,
      name: "Powertools makeIdempotent (cache layer, in-memory client), new keys",
      perSecond: 1e9 / ptNewNs,
      medianNs: ptNewNs,
      ratioToFloor: rawNs / ptNewNs,
    },
    {
      group,
      name: "Powertools makeIdempotent (cache layer, in-memory client), duplicates",
      perSecond: 1e9 / ptDupNs,
      medianNs: ptDupNs,
      ratioToFloor: rawNs / ptDupNs,
    },
  );

  // publish through a FileLedger to 3 sinks, 100 in flight.
  const root = mkdtempSync(join(tmpdir(), "sinkproof-bench-publish-"));
  try {
    const fileLedger = await FileLedger.open(join(root, "ledger"));
    const sinks = ["warehouse", "search", "cache"].map((name) => {
      const store = new Map<string, unknown>();
      return guardSink({
        name,
        ledger: fileLedger,
        write: (e) => void store.set(e.key, e.payload),
      });
    });
    const pipeline = createPipeline({
      producer: createProducer({ id: "orders-svc", ledger: fileLedger }),
      sinks,
    });
    let n = 0;
    const publishNs = await perCall(
      "publish",
      { time, warmup },
      () => undefined,
      () =>
        Promise.all(
          Array.from({ length: BATCH }, () =>
            pipeline.publish("order.created", orderPayload(n++), {
              schema: { name: "order", version: 1 },
              stream: "orders",
            }),
          ),
        ),
    );
    await fileLedger.close();
    rows.push({
      group: "publish to 3 sinks through a FileLedger (fsync'd, group commit)",
      name: `${BATCH} publishes in flight`,
      perSecond: 1e9 / publishNs,
      medianNs: publishNs,
      note: "events/s; each event: 1 durable append, 3 deliveries, 3 durable receipts, watermarks",
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  const targets: LedgerTarget[] = [
    {
      target: "guard.deliver (new keys) ≥ 10× faster than Powertools makeIdempotent",
      actual: `${(ptNewNs / newNs).toFixed(1)}× faster`,
      met: ptNewNs / newNs >= 10,
    },
    {
      target: "guard.deliver (duplicates) ≥ 10× faster than Powertools makeIdempotent",
      actual: `${(ptDupNs / dupNs).toFixed(1)}× faster`,
      met: ptDupNs / dupNs >= 10,
    },
  ];
  return { rows, targets };
}
