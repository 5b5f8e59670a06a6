import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  createMemoryMetrics,
  createPipeline,
  createProducer,
  EnvelopeValidationError,
  FileLedger,
  guardSink,
  IdempotencyConflictError,
  InvalidArgumentError,
  MemoryLedger,
  PayloadValidationError,
  type SinkWriter,
  verify,
} from "../../src/index.js";
import { createFaultyLedger } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-delivery-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const order = { schema: { name: "order", version: 1 }, stream: "orders" } as const;

function sink() {
  const rows = new Map<string, string>();
  let calls = 0;
  const write: SinkWriter = (envelope) => {
    calls++;
    rows.set(envelope.key, envelope.checksum);
  };
  return { rows, write, calls: () => calls };
}

describe("createProducer", () => {
  it("appends every event to the ledger before returning it, with consecutive sequence numbers", async () => {
    const ledger = new MemoryLedger();
    const metrics = createMemoryMetrics();
    const producer = createProducer({ id: "orders-svc", ledger, metrics });
    const a = await producer.emit("order.created", { orderId: "o-1" }, order);
    const b = await producer.emit("order.paid", { orderId: "o-1" }, order);
    expect([a.seq, b.seq]).toEqual([0, 1]);
    expect((await ledger.get(a.key))?.envelope).toEqual(a);
    expect(verify(b).ok).toBe(true);
    expect(metrics.count("sinkproof.emitted", { producer: "orders-svc" })).toBe(2);
  });

  it("keeps sequence numbers unique across a restart (reserved in the ledger)", async () => {
    const dir = join(root, `p${n++}`);
    let ledger = await FileLedger.open(dir);
    const first = await createProducer({ id: "orders-svc", ledger, sequenceBlock: 10 }).emit(
      "t",
      { i: 1 },
      order,
    );
    await ledger.close();
    ledger = await FileLedger.open(dir);
    const second = await createProducer({ id: "orders-svc", ledger, sequenceBlock: 10 }).emit(
      "t",
      { i: 2 },
      order,
    );
    expect(first.seq).toBe(0);
    expect(second.seq).toBe(10); // the rest of the first block is skipped, never reused
    await ledger.close();
  });

  it("hands out distinct sequence numbers to concurrent emits", async () => {
    const producer = createProducer({ id: "p", ledger: new MemoryLedger(), sequenceBlock: 3 });
    const envelopes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => producer.emit("t", { i }, order)),
    );
    expect(new Set(envelopes.map((e) => e.seq)).size).toBe(20);
  });

  it("is idempotent by key: the same key and payload return the first envelope; another payload conflicts", async () => {
    const ledger = new MemoryLedger();
    const producer = createProducer({ id: "orders-svc", ledger });
    const first = await producer.emit(
      "order.created",
      { orderId: "o-1" },
      { ...order, key: "order:o-1:created" },
    );
    const again = await producer.emit(
      "order.created",
      { orderId: "o-1" },
      { ...order, key: "order:o-1:created" },
    );
    expect(again).toEqual(first);
    await expect(
      producer.emit("order.created", { orderId: "o-2" }, { ...order, key: "order:o-1:created" }),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    expect(await ledger.head()).toBe(1);
  });

  it("rejects a payload its schema refuses, with every issue, and writes nothing", async () => {
    const ledger = new MemoryLedger();
    const producer = createProducer({
      id: "orders-svc",
      ledger,
      validate: {
        "order.created": z.object({ orderId: z.string(), total: z.number().positive() }),
      },
    });
    const error = await producer
      .emit("order.created", { orderId: 7, total: -1 }, order)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadValidationError);
    expect((error as PayloadValidationError).issues.map((i) => i.path).sort()).toEqual([
      "$.payload.orderId",
      "$.payload.total",
    ]);
    expect(await ledger.head()).toBe(0);
    // Types without a schema pass.
    await producer.emit("order.noted", { anything: true }, order);
    expect(await ledger.head()).toBe(1);
    const fn = createProducer({
      id: "p2",
      ledger,
      validate: (_type, schema) =>
        schema.version < 2 ? [{ path: "$", code: "old", message: "too old" }] : undefined,
    });
    await expect(fn.emit("t", {}, order)).rejects.toMatchObject({ code: "invalid_payload" });
  });

  it("emitMany appends atomically: one bad event writes none", async () => {
    const ledger = new MemoryLedger();
    const producer = createProducer({
      id: "p",
      ledger,
      validate: { t: z.object({ ok: z.literal(true) }) },
    });
    const envelopes = await producer.emitMany([
      { type: "t", payload: { ok: true }, ...order },
      { type: "u", payload: { x: 1 }, ...order },
    ]);
    expect(envelopes.map((e) => e.seq)).toEqual([0, 1]);
    await expect(
      producer.emitMany([
        { type: "t", payload: { ok: true }, ...order },
        { type: "t", payload: { ok: false }, ...order },
      ]),
    ).rejects.toMatchObject({ code: "invalid_payload", path: "$[1].payload.ok" });
    expect(await ledger.head()).toBe(2);
    expect(await producer.emitMany([])).toEqual([]);
  });

  it("turns bad arguments and bad drafts into typed errors", async () => {
    expect(() => createProducer({ id: "a/b", ledger: new MemoryLedger() })).toThrow(
      InvalidArgumentError,
    );
    expect(() => createProducer({ id: "p", ledger: {} as never })).toThrow(InvalidArgumentError);
    const producer = createProducer({ id: "p", ledger: new MemoryLedger() });
    await expect(producer.emit("t", {}, undefined as never)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(producer.emit("", {}, order)).rejects.toBeInstanceOf(EnvelopeValidationError);
    await expect(producer.emit("t", { n: Number.NaN }, order)).rejects.toMatchObject({
      code: "non_finite_number",
    });
  });
});

describe("createPipeline", () => {
  it("publish emits and delivers to every sink independently: one failing or frozen sink blocks no other", async () => {
    const ledger = new MemoryLedger();
    const warehouse = sink();
    const search = sink();
    const broken: SinkWriter = () => {
      throw new Error("down");
    };
    const guards = [
      guardSink({ name: "warehouse", ledger, write: warehouse.write }),
      guardSink({ name: "search", ledger, write: search.write }),
      guardSink({ name: "cache", ledger, write: broken, retry: { attempts: 1 } }),
      guardSink({ name: "archive", ledger, write: sink().write }),
    ];
    await (guards[3] as (typeof guards)[number]).freeze("maintenance");
    const pipeline = createPipeline({
      producer: createProducer({ id: "orders-svc", ledger }),
      sinks: guards,
    });
    const published = await pipeline.publish("order.created", { orderId: "o-1" }, order);
    expect(published.sinks.warehouse).toMatchObject({ ok: true, receipt: { status: "written" } });
    expect(published.sinks.search).toMatchObject({ ok: true, receipt: { status: "written" } });
    expect(published.sinks.cache).toMatchObject({ ok: true, receipt: { status: "failed" } });
    expect(published.sinks.archive).toMatchObject({ ok: false, error: { code: "sink_frozen" } });
    expect(warehouse.rows.get(published.envelope.key)).toBe(published.envelope.checksum);
  });

  it("drain delivers what a crash between emit and delivery left behind", async () => {
    const dir = join(root, `d${n++}`);
    // The first process emits, then dies before delivering anything.
    let ledger = await FileLedger.open(dir);
    const producer = createProducer({ id: "orders-svc", ledger });
    for (let i = 0; i < 25; i++) await producer.emit("order.created", { i }, order);
    await ledger.close();
    // The restarted process drains.
    ledger = await FileLedger.open(dir);
    const warehouse = sink();
    const search = sink();
    const pipeline = createPipeline({
      producer: createProducer({ id: "orders-svc", ledger }),
      sinks: [
        guardSink({ name: "warehouse", ledger, write: warehouse.write }),
        guardSink({ name: "search", ledger, write: search.write }),
      ],
    });
    const drained = await pipeline.drain();
    expect(drained.warehouse).toMatchObject({ delivered: 25, final: 25, watermark: 25 });
    expect(drained.search).toMatchObject({ delivered: 25, watermark: 25 });
    expect(warehouse.rows.size).toBe(25);
    // Draining again finds nothing to do.
    expect((await pipeline.drain()).warehouse).toMatchObject({ delivered: 0, watermark: 25 });
    expect(warehouse.calls()).toBe(25);
    await ledger.close();
  });

  it("drain skips entries done past the watermark and retries failed ones", async () => {
    const ledger = new MemoryLedger();
    let fail = true;
    const writes: number[] = [];
    const write: SinkWriter = (_e, context) => {
      if (fail && context.position === 2) throw new Error("flaky");
      writes.push(context.position);
    };
    const guard = guardSink({ name: "warehouse", ledger, write, retry: { attempts: 1 } });
    const producer = createProducer({ id: "p", ledger });
    const pipeline = createPipeline({ producer, sinks: [guard] });
    for (let i = 0; i < 3; i++) await pipeline.publish("t", { i }, order);
    expect(await ledger.getWatermark("warehouse")).toBe(1);
    fail = false;
    const drained = await pipeline.drain();
    expect(drained.warehouse).toMatchObject({ delivered: 1, watermark: 3 });
    expect(writes).toEqual([1, 3, 2]);
  });

  it("a sink whose drain fails on the ledger, watermark reads included, never rejects the drain of the others", async () => {
    // Found by the simulator: drain's error path read the watermark again, and a ledger
    // failing that read rejected the whole drain while other sinks were still delivering.
    const ledger = new MemoryLedger();
    const producer = createProducer({ id: "p", ledger });
    const healthy = sink();
    const warehouse = guardSink({ name: "warehouse", ledger, write: healthy.write });
    const search = guardSink({ name: "search", ledger, write: () => undefined });
    await createPipeline({ producer, sinks: [warehouse, search] }).publish("t", { i: 1 }, order);
    await producer.emit("t", { i: 2 }, order);
    // Every watermark read of the search sink fails; the warehouse's pass.
    const flaky = createFaultyLedger(ledger, { fail: 1, methods: ["getWatermark"] });
    const failing = new Proxy(ledger, {
      get(target, property) {
        if (property === "getWatermark")
          return (name: string) =>
            name === "search" ? flaky.getWatermark(name) : target.getWatermark(name);
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const pipeline = createPipeline({
      producer: { ...producer, ledger: failing, emit: producer.emit, emitMany: producer.emitMany },
      sinks: [
        guardSink({ name: "warehouse", ledger: failing, write: healthy.write }),
        guardSink({ name: "search", ledger: failing, write: () => undefined }),
      ],
    });
    const drained = await pipeline.drain();
    expect(drained.warehouse).toMatchObject({ delivered: 1, final: 1, watermark: 2 });
    expect(drained.search?.error).toMatchObject({ code: "unavailable" });
    expect(drained.search?.watermark).toBe(0);
    expect(healthy.rows.size).toBe(2);
    expect(flaky.stats().failed).toBeGreaterThan(0);
  });

  it("rejects bad wiring with an InvalidArgumentError", () => {
    const ledger = new MemoryLedger();
    const producer = createProducer({ id: "p", ledger });
    const guard = guardSink({ name: "s", ledger, write: () => undefined });
    expect(() => createPipeline({ producer, sinks: [] })).toThrow(InvalidArgumentError);
    expect(() => createPipeline({ producer, sinks: [guard, guard] })).toThrow(InvalidArgumentError);
    const other = guardSink({ name: "t", ledger: new MemoryLedger(), write: () => undefined });
    expect(() => createPipeline({ producer, sinks: [other] })).toThrow(InvalidArgumentError);
  });
});
