/**
 * `publishMany`, background delivery, backpressure, throttling, `idle` and `close`
 * (src/delivery/pipeline.ts, pipeline-worker.ts). Behaviour only: no wall-clock asserts.
 */
import { describe, expect, it } from "vitest";
import {
  CorruptionError,
  createMemoryMetrics,
  createPipeline,
  createProducer,
  DeliveryError,
  type Envelope,
  guardSink,
  InvalidArgumentError,
  type Ledger,
  MemoryLedger,
  permanent,
  type SinkWriter,
} from "../../src/index.js";
import { wrapLedger } from "../../src/testing/ledger-wrap.js";

const schema = { name: "order", version: 1 };
const fast = { pollMs: 5, throttle: { minMs: 2, maxMs: 20 } } as const;

/** A sink that counts writes per key, and can be held shut. */
function countingSink() {
  const writes = new Map<string, number>();
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const write: SinkWriter = async (envelope) => {
    if (gate !== undefined) await gate;
    writes.set(envelope.key, (writes.get(envelope.key) ?? 0) + 1);
  };
  return {
    writes,
    write,
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate = undefined;
      open?.();
    },
  };
}

function world(ledger: Ledger = new MemoryLedger()) {
  const producer = createProducer({ id: "orders-svc", ledger });
  const a = countingSink();
  const b = countingSink();
  const sinks = [
    guardSink({ name: "a", ledger, write: a.write }),
    guardSink({ name: "b", ledger, write: b.write }),
  ];
  return { ledger, producer, a, b, sinks };
}

const events = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    type: "order.created",
    payload: { n: from + i },
    schema,
    key: `k${from + i}`,
  }));

describe("pipeline.publishMany (inline)", () => {
  it("appends the batch once and delivers it to every sink with deliverMany", async () => {
    const w = world();
    const pipeline = createPipeline({ producer: w.producer, sinks: w.sinks });
    const { envelopes, sinks } = await pipeline.publishMany(events(30));
    expect(envelopes).toHaveLength(30);
    for (const name of ["a", "b"]) {
      const outcome = sinks[name];
      expect(outcome?.ok).toBe(true);
      if (outcome?.ok)
        expect(outcome.receipts.map((r) => r.status)).toEqual(Array(30).fill("written"));
      expect(await w.ledger.getWatermark(name)).toBe(30);
    }
    expect([...w.a.writes.values()].every((n) => n === 1)).toBe(true);
  });

  it("refuses bad batches with typed errors at their path, appending nothing", async () => {
    const w = world();
    const pipeline = createPipeline({ producer: w.producer, sinks: w.sinks });
    const path = async (p: Promise<unknown>) => {
      const error = await p.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      return (error as InvalidArgumentError).path;
    };
    expect(await path(pipeline.publishMany([]))).toBe("events");
    expect(await path(pipeline.publishMany(events(10_001)))).toBe("events");
    expect(
      await path(
        pipeline.publishMany([...events(1), { ...events(1, 1)[0], schmea: schema } as never]),
      ),
    ).toBe("events[1].schmea");
    expect(await w.ledger.head()).toBe(0);
  });
});

describe("background delivery", () => {
  it("publish returns once durable; the workers deliver every key once; idle waits for them", async () => {
    const w = world();
    const pipeline = createPipeline({
      producer: w.producer,
      sinks: w.sinks,
      delivery: "background",
      ...fast,
    });
    w.a.hold();
    const published = await pipeline.publish("order.created", { n: 1 }, { schema, key: "one" });
    expect(published.sinks).toEqual({});
    await pipeline.publishMany(events(250));
    // The sink is held shut: publish did not wait for it.
    expect(w.a.writes.size).toBe(0);
    w.a.release();
    await pipeline.idle();
    expect(await w.ledger.getWatermark("a")).toBe(251);
    expect(await w.ledger.getWatermark("b")).toBe(251);
    expect(w.a.writes.size).toBe(251);
    expect([...w.a.writes.values(), ...w.b.writes.values()].every((n) => n === 1)).toBe(true);
    expect(pipeline.backlog().a).toMatchObject({ entries: 0, stuck: 0, stopped: false });
    await pipeline.close();
  });

  it("fails fast past maxBacklog with backlog_full, appending nothing", async () => {
    const w = world();
    const pipeline = createPipeline({
      producer: w.producer,
      sinks: w.sinks,
      delivery: "background",
      maxBacklog: { entries: 5 },
      onBacklog: "fail",
      ...fast,
    });
    w.b.hold();
    await pipeline.publishMany(events(5));
    // Sink a catches up; b is held shut with 5 entries past its watermark.
    for (let i = 0; i < 500 && pipeline.backlog().a?.entries !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(pipeline.backlog().b?.entries).toBe(5);
    const error = await pipeline
      .publish("order.created", { n: 99 }, { schema, key: "late" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect([(error as DeliveryError).code, (error as DeliveryError).sink]).toEqual([
      "backlog_full",
      "b",
    ]);
    expect(await w.ledger.head()).toBe(5);
    w.b.release();
    await pipeline.idle();
    // Under the limit again: publishing resumes.
    await pipeline.publish("order.created", { n: 99 }, { schema, key: "late" });
    await pipeline.idle();
    expect(w.b.writes.get("late")).toBe(1);
    await pipeline.close();
  });

  it("waits past maxBacklog until the sink catches up (onBacklog: wait)", async () => {
    const w = world();
    const pipeline = createPipeline({
      producer: w.producer,
      sinks: w.sinks,
      delivery: "background",
      maxBacklog: { entries: 3 },
      ...fast,
    });
    w.a.hold();
    await pipeline.publishMany(events(3));
    let done = false;
    const waiting = pipeline.publish("order.created", {}, { schema, key: "waits" }).then(() => {
      done = true;
    });
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(done).toBe(false);
    expect(await w.ledger.get("waits")).toBeUndefined();
    w.a.release();
    await waiting;
    expect(done).toBe(true);
    await pipeline.idle();
    expect(w.a.writes.get("waits")).toBe(1);
    await pipeline.close();
  });

  it("throttles a failing sink and resumes when it is healthy; each key written once", async () => {
    const ledger = new MemoryLedger();
    const producer = createProducer({ id: "p", ledger });
    const metrics = createMemoryMetrics();
    let down = true;
    const writes = new Map<string, number>();
    const sink = guardSink({
      name: "flaky",
      ledger,
      retry: { attempts: 1 },
      write: (e) => {
        if (down) throw new Error("connection refused");
        writes.set(e.key, (writes.get(e.key) ?? 0) + 1);
      },
    });
    const pipeline = createPipeline({
      producer,
      sinks: [sink],
      delivery: "background",
      metrics,
      ...fast,
    });
    await pipeline.publishMany(events(20));
    for (let i = 0; i < 200 && pipeline.backlog().flaky?.throttledUntil === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const throttled = pipeline.backlog().flaky;
    expect(throttled?.throttledUntil).toBeDefined();
    expect(throttled?.lastError?.code).toBe("sink_failing");
    expect(throttled?.stuck).toBe(0); // a failing sink does not set the whole backlog aside
    down = false;
    await pipeline.idle();
    expect(writes.size).toBe(20);
    expect([...writes.values()].every((n) => n === 1)).toBe(true);
    expect(pipeline.backlog().flaky?.throttledUntil).toBeUndefined();
    const snapshot = metrics.snapshot();
    expect(snapshot.counters["sinkproof.sink.throttled{sink=flaky}"]).toBeGreaterThan(0);
    expect(snapshot.gauges["sinkproof.sink.backlog{sink=flaky}"]).toBe(0);
    await pipeline.close();
  });

  it("sets a poison entry aside: the others are delivered, it holds the watermark, idle waits", async () => {
    const ledger = new MemoryLedger();
    const producer = createProducer({ id: "p", ledger });
    const written: string[] = [];
    const sink = guardSink({
      name: "s",
      ledger,
      write: (e) => {
        if (e.key === "k3") throw permanent(new Error("payload refused"));
        written.push(e.key);
      },
    });
    const pipeline = createPipeline({
      producer,
      sinks: [sink],
      delivery: "background",
      batchSize: 4,
      ...fast,
    });
    await pipeline.publishMany(events(12));
    for (let i = 0; i < 500 && written.length < 11; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(written).toHaveLength(11);
    expect(await ledger.getWatermark("s")).toBe(3);
    const measured = await sink.measure();
    expect(measured.heldBy).toEqual({ position: 4, key: "k3" });
    expect(pipeline.backlog().s?.stuck).toBe(1);
    const controller = new AbortController();
    const idle = pipeline.idle({ signal: controller.signal });
    controller.abort(new Error("gave up"));
    await expect(idle).rejects.toThrow("gave up");
    await pipeline.close();
  });

  it("close stops the workers; every later call is refused with pipeline_closed", async () => {
    const w = world();
    const pipeline = createPipeline({
      producer: w.producer,
      sinks: w.sinks,
      delivery: "background",
      ...fast,
    });
    await pipeline.publishMany(events(10));
    await pipeline.idle();
    await pipeline.close();
    await pipeline.close();
    for (const call of [
      (): Promise<unknown> => pipeline.publish("t", {}, { schema }),
      () => pipeline.publishMany(events(1)),
      () => pipeline.drain(),
      () => pipeline.idle(),
    ]) {
      const error = await Promise.resolve()
        .then(call)
        .catch((e: unknown) => e);
      expect((error as DeliveryError).code).toBe("pipeline_closed");
    }
    // A worker stopped mid-backlog leaves the rest to the next start (or a drain).
    const next = world(w.ledger);
    const later = createPipeline({ producer: next.producer, sinks: next.sinks });
    expect(await later.drain()).toMatchObject({ a: { delivered: 0 }, b: { delivered: 0 } });
  });

  it("two pipelines delivering in the background over one ledger write each key once", async () => {
    const ledger = new MemoryLedger();
    const writes = new Map<string, number>();
    const write: SinkWriter = async (e) => {
      await new Promise((resolve) => setImmediate(resolve));
      writes.set(e.key, (writes.get(e.key) ?? 0) + 1);
    };
    const make = (id: string) =>
      createPipeline({
        producer: createProducer({ id, ledger }),
        sinks: [guardSink({ name: "s", ledger, write, owner: id, pollMs: 1 })],
        delivery: "background",
        batchSize: 7,
        ...fast,
      });
    const one = make("one");
    const two = make("two");
    await Promise.all([one.publishMany(events(60, 0)), two.publishMany(events(60, 100))]);
    await Promise.all([one.idle(), two.idle()]);
    expect(writes.size).toBe(120);
    expect([...writes.values()].every((n) => n === 1)).toBe(true);
    await Promise.all([one.close(), two.close()]);
  });

  it("a damaged ledger stops the worker; idle rejects with the damage", async () => {
    const inner = new MemoryLedger();
    let damaged = false;
    const ledger = wrapLedger(
      () => inner,
      (method, _args, invoke) => {
        if (damaged && method === "scan") {
          return Promise.reject(
            new CorruptionError("Damaged ledger data in test", { file: "test", offset: 0 }),
          );
        }
        return invoke();
      },
    );
    const producer = createProducer({ id: "p", ledger });
    const sink = guardSink({ name: "s", ledger, write: () => undefined });
    const pipeline = createPipeline({ producer, sinks: [sink], delivery: "background", ...fast });
    damaged = true;
    await pipeline.publishMany(events(3));
    await expect(pipeline.idle()).rejects.toBeInstanceOf(CorruptionError);
    expect(pipeline.backlog().s?.stopped).toBe(true);
    await pipeline.close();
  });

  it("refuses bad options with typed errors", () => {
    const w = world();
    const base = { producer: w.producer, sinks: w.sinks };
    const at = (options: object) => {
      try {
        createPipeline({ ...base, ...options } as never);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidArgumentError);
        return (error as InvalidArgumentError).path;
      }
      return "accepted";
    };
    expect(at({ delivery: "bg" })).toBe("options.delivery");
    expect(at({ maxBacklog: { entries: 5 } })).toBe("options.maxBacklog");
    expect(at({ delivery: "background", maxBacklog: { entries: 0 } })).toBe(
      "options.maxBacklog.entries",
    );
    expect(at({ delivery: "background", maxBacklog: { ageMs: -1 } })).toBe(
      "options.maxBacklog.ageMs",
    );
    expect(at({ delivery: "background", maxBacklog: {} })).toBe("options.maxBacklog");
    expect(at({ delivery: "background", maxBacklog: { entires: 5 } })).toBe(
      "options.maxBacklog.entires",
    );
    expect(at({ onBacklog: "drop" })).toBe("options.onBacklog");
    expect(at({ batchSize: 0 })).toBe("options.batchSize");
    expect(at({ throttle: { minMs: 10, maxMs: 5 } })).toBe("options.throttle.maxMs");
    expect(at({ pollms: 5 })).toBe("options.pollms");
  });
});

describe("drain in batches", () => {
  it("delivers what a crash left, batchSize at a time", async () => {
    const ledger = new MemoryLedger();
    const producer = createProducer({ id: "p", ledger });
    await producer.emitMany(events(25));
    const batches: number[] = [];
    const sink = guardSink({
      name: "s",
      ledger,
      writeBatch: (batch) => {
        batches.push(batch.length);
      },
    });
    const pipeline = createPipeline({ producer, sinks: [sink], batchSize: 10 });
    const drained = await pipeline.drain();
    expect(drained.s).toMatchObject({ delivered: 25, final: 25, watermark: 25 });
    expect(batches).toEqual([10, 10, 5]);
    await pipeline.idle();
    expect(((await ledger.get("k0")) as { envelope: Envelope }).envelope.key).toBe("k0");
  });
});
