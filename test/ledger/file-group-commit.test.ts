/**
 * FileLedger's group commit across callers: what several sinks write for one batch in the
 * same turn of the event loop shares one fsync. A `publishMany` of a batch to 3 sinks costs
 * 3 fdatasyncs (the append, the 3 sinks' receipts, their 3 watermark moves), not one per
 * sink; counted on the file handle, not timed. The wait for the turn of the event loop uses
 * the real `setImmediate`: a test with fake timers installed still gets its writes to disk.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createPipeline, createProducer, FileLedger, guardSink } from "../../src/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-group-commit-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Sync = () => Promise<void>;
let proto: { datasync: Sync };
let original: Sync;
let syncs = 0;

beforeAll(async () => {
  const handle = await open(join(root, "probe"), "w");
  proto = Object.getPrototypeOf(handle) as { datasync: Sync };
  await handle.close();
  original = proto.datasync;
  proto.datasync = function (this: unknown) {
    syncs++;
    return original.call(this);
  };
});
afterEach(() => {
  syncs = 0;
});
afterAll(() => {
  proto.datasync = original;
});

describe("FileLedger group commit", () => {
  it("publishMany to 3 sinks: one fsync for the append, one for the receipts, one for the watermarks", async () => {
    const ledger = await FileLedger.open(join(root, "three-sinks"));
    const sinks = ["warehouse", "search", "cache"];
    const pipeline = createPipeline({
      producer: createProducer({ id: "svc", ledger, sequenceBlock: 10_000 }),
      sinks: sinks.map((name) => guardSink({ name, ledger, writeBatch: () => undefined })),
    });
    let n = 0;
    const batch = () =>
      Array.from({ length: 100 }, () => ({
        type: "order.created",
        payload: { n: n++ },
        schema: { name: "order", version: 1 },
      }));
    // The first batch also reserves a sequence block and fencing tokens.
    await pipeline.publishMany(batch());
    syncs = 0;
    for (let i = 0; i < 10; i++) await pipeline.publishMany(batch());
    expect(syncs).toBe(30);
    for (const sink of sinks) expect(await ledger.getWatermark(sink)).toBe(1100);
    await pipeline.close();
    await ledger.close();
  });

  it("writes reach the disk under fake timers installed after sinkproof loaded (vitest, Jest, sinon)", async () => {
    const ledger = await FileLedger.open(join(root, "fake-timers"));
    const pipeline = createPipeline({
      producer: createProducer({ id: "svc", ledger }),
      sinks: [guardSink({ name: "warehouse", ledger, write: () => undefined })],
    });
    vi.useFakeTimers();
    try {
      const draft = { type: "order.created", schema: { name: "order", version: 1 } };
      await pipeline.publish(draft.type, { n: 1 }, { schema: draft.schema });
      await pipeline.publishMany([
        { ...draft, payload: { n: 2 } },
        { ...draft, payload: { n: 3 } },
      ]);
      expect(await ledger.getWatermark("warehouse")).toBe(3);
      expect(syncs).toBeGreaterThan(0);
    } finally {
      vi.useRealTimers();
    }
    await pipeline.close();
    await ledger.close();
  });
});
