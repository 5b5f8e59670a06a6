import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  createMemoryMetrics,
  createSealer,
  DeliveryError,
  type Envelope,
  guardSink,
  InvalidArgumentError,
  type Ledger,
  MemoryLedger,
  permanent,
  type Receipt,
  type SinkWriter,
  signReceipt,
  verifyReceipt,
} from "../../src/index.js";
import { createManualClock } from "../../src/testing/index.js";

const T0 = Date.UTC(2026, 0, 1);

function setup() {
  const clock = createManualClock(T0);
  const ledger = new MemoryLedger({ clock: clock.now });
  const seal = createSealer({ clock: clock.now });
  let seq = 0;
  const event = (payload: unknown = { n: seq }, stream = "orders", key?: string) =>
    seal({
      producer: "orders-svc",
      stream,
      seq: seq++,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload,
      ...(key === undefined ? {} : { key }),
    });
  const appended = async (...envelopes: Envelope[]) => {
    await ledger.append(envelopes);
    return envelopes;
  };
  /** A sleep that moves the manual clock instead of waiting. */
  const sleeps: number[] = [];
  const sleep = async (ms: number, signal: AbortSignal | undefined) => {
    if (signal?.aborted) throw signal.reason;
    sleeps.push(ms);
    clock.advance(ms);
  };
  return { clock, ledger, event, appended, sleep, sleeps };
}

/** An idempotent sink: an upsert by key, counting the writer's calls. */
function memorySink() {
  const rows = new Map<string, { checksum: string; payload: unknown }>();
  let calls = 0;
  const write: SinkWriter = async (envelope) => {
    calls++;
    rows.set(envelope.key, { checksum: envelope.checksum, payload: envelope.payload });
    return { offset: `row:${rows.size}` };
  };
  return { rows, write, calls: () => calls };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe("guardSink: delivery", () => {
  it("writes an envelope once, returns a written receipt with timings and offset, and stores it", async () => {
    const { ledger, event, appended, clock } = setup();
    const sink = memorySink();
    const [envelope] = await appended(event({ orderId: "o-1" }));
    const guard = guardSink({ name: "warehouse", ledger, write: sink.write, clock: clock.now });
    const receipt = await guard.deliver(envelope as Envelope);
    expect(receipt).toMatchObject({
      sink: "warehouse",
      key: envelope?.key,
      id: envelope?.id,
      position: 1,
      status: "written",
      checksum: envelope?.checksum,
      attempt: 1,
      sinkOffset: "row:1",
    });
    expect(await ledger.getReceipts("warehouse", envelope?.key as string)).toEqual([receipt]);
    expect(sink.calls()).toBe(1);
    expect(await ledger.getWatermark("warehouse")).toBe(1);
  });

  it("refuses an envelope that is not in the ledger, or that differs from its entry", async () => {
    const { ledger, event, appended } = setup();
    const sink = memorySink();
    const guard = guardSink({ name: "warehouse", ledger, write: sink.write });
    const outside = event();
    await expect(guard.deliver(outside)).rejects.toMatchObject({
      code: "not_in_ledger",
      sink: "warehouse",
    });
    const [inside] = await appended(event({ a: 1 }, "orders", "k-1"));
    const altered = event({ a: 2 }, "orders", "k-1");
    await expect(guard.deliver(altered)).rejects.toMatchObject({
      code: "ledger_mismatch",
      key: "k-1",
    });
    expect(sink.calls()).toBe(0);
    await expect(guard.deliver(inside as Envelope)).resolves.toMatchObject({ status: "written" });
  });

  it("calls the writer exactly once for 100 concurrent deliveries of one envelope", async () => {
    const { ledger, event, appended } = setup();
    let calls = 0;
    const write: SinkWriter = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    };
    const [envelope] = await appended(event());
    const guard = guardSink({ name: "warehouse", ledger, write });
    const receipts = await Promise.all(
      Array.from({ length: 100 }, () => guard.deliver(envelope as Envelope)),
    );
    expect(calls).toBe(1);
    expect(receipts.filter((r) => r.status === "written").length).toBe(1);
    expect(receipts.filter((r) => r.status === "duplicate").length).toBe(99);
  });

  it("calls the writer exactly once when several guards share a ledger and a sink name", async () => {
    const { ledger, event, appended } = setup();
    let calls = 0;
    const write: SinkWriter = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    };
    const [envelope] = await appended(event());
    const guards = Array.from({ length: 4 }, (_, i) =>
      guardSink({ name: "warehouse", ledger, write, owner: `worker-${i}`, pollMs: 1 }),
    );
    const receipts = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        (guards[i % 4] as (typeof guards)[number]).deliver(envelope as Envelope),
      ),
    );
    expect(calls).toBe(1);
    expect(receipts.filter((r) => r.status === "written").length).toBe(1);
    expect(receipts.every((r) => r.status === "written" || r.status === "duplicate")).toBe(true);
  });

  it("when the receipt cannot be stored, the claim is let go: the next delivery writes at once", async () => {
    const { ledger, event, appended, sleep, clock } = setup();
    const sink = memorySink();
    let failNextReceipt = true;
    const flaky = new Proxy(ledger, {
      get(target, property) {
        if (property === "putReceipt") {
          return async (receipt: Receipt) => {
            if (failNextReceipt) {
              failNextReceipt = false;
              throw new Error("ledger went away");
            }
            return target.putReceipt(receipt);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as Ledger;
    const [envelope] = await appended(event());
    const guard = guardSink({
      name: "warehouse",
      ledger: flaky,
      write: sink.write,
      claimTtlMs: 5_000,
      retry: { sleep },
    });
    await expect(guard.deliver(envelope as Envelope)).rejects.toThrow("ledger went away");
    expect(guard.status().inFlight).toBe(0);
    const before = clock.now();
    const receipt = await guard.deliver(envelope as Envelope);
    expect(receipt.status).toBe("written");
    expect(clock.now() - before).toBe(0); // no wait for the TTL: the claim was released
    expect(sink.calls()).toBe(2);
  });

  it("after a crash between write and receipt, waits for the claim to expire and writes again (idempotent writer)", async () => {
    const { ledger, event, appended, sleep, clock } = setup();
    const sink = memorySink();
    let failNextReceipt = true;
    let dead = false;
    // A ledger whose first putReceipt dies, as if the process had crashed right after the write.
    const crashing = new Proxy(ledger, {
      get(target, property) {
        if (property === "putReceipt") {
          return async (receipt: Receipt) => {
            if (failNextReceipt) {
              failNextReceipt = false;
              dead = true;
              throw new Error("process died");
            }
            return target.putReceipt(receipt);
          };
        }
        // A dead process reaches the ledger no more: it cannot let its claim go either.
        if (property === "releaseClaim" && dead) {
          return async () => {
            throw new Error("process died");
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as Ledger;
    const [envelope] = await appended(event());
    const first = guardSink({
      name: "warehouse",
      ledger: crashing,
      write: sink.write,
      claimTtlMs: 5_000,
      retry: { sleep },
    });
    await expect(first.deliver(envelope as Envelope)).rejects.toThrow("process died");
    expect(sink.calls()).toBe(1);
    expect(await ledger.getReceipts("warehouse", envelope?.key as string)).toEqual([]);
    // A fresh guard (the restarted process) finds the claim held, waits out its TTL, writes again.
    const before = clock.now();
    const second = guardSink({
      name: "warehouse",
      ledger,
      write: sink.write,
      claimTtlMs: 5_000,
      retry: { sleep },
    });
    const receipt = await second.deliver(envelope as Envelope);
    expect(receipt.status).toBe("written");
    expect(clock.now() - before).toBeGreaterThanOrEqual(5_000);
    expect(sink.calls()).toBe(2);
    expect(sink.rows.size).toBe(1);
  });

  it("retries with full-jitter backoff, then succeeds", async () => {
    const { ledger, event, appended, sleep, sleeps } = setup();
    let calls = 0;
    const write: SinkWriter = async () => {
      calls++;
      if (calls < 3) throw Object.assign(new Error("timeout"), { code: "ETIMEDOUT" });
    };
    const metrics = createMemoryMetrics();
    const [envelope] = await appended(event());
    const guard = guardSink({
      name: "warehouse",
      ledger,
      write,
      metrics,
      retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.5, sleep },
    });
    const receipt = await guard.deliver(envelope as Envelope);
    expect(receipt).toMatchObject({ status: "written", attempt: 3 });
    expect(sleeps).toEqual([50, 100]); // 0.5 × min(1000, 100 × 2^(n-1))
    expect(metrics.count("sinkproof.retries", { sink: "warehouse" })).toBe(2);
    expect(metrics.count("sinkproof.delivered", { sink: "warehouse" })).toBe(1);
  });

  it("gives up after the last attempt with a failed receipt; failed is not final, so a later delivery retries", async () => {
    const { ledger, event, appended, sleep } = setup();
    let broken = true;
    let calls = 0;
    const write: SinkWriter = async () => {
      calls++;
      if (broken) throw Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" });
    };
    const [envelope] = await appended(event());
    const guard = guardSink({ name: "warehouse", ledger, write, retry: { attempts: 3, sleep } });
    const failed = await guard.deliver(envelope as Envelope);
    expect(failed).toMatchObject({
      status: "failed",
      attempt: 3,
      error: { code: "ECONNREFUSED", message: "connection refused" },
    });
    expect(calls).toBe(3);
    expect(guard.status().lastError).toMatchObject({ code: "ECONNREFUSED" });
    expect(await ledger.getWatermark("warehouse")).toBe(0);
    broken = false;
    expect((await guard.deliver(envelope as Envelope)).status).toBe("written");
    expect(await ledger.getWatermark("warehouse")).toBe(1);
  });

  it("does not retry a permanent error", async () => {
    const { ledger, event, appended, sleep } = setup();
    let calls = 0;
    const write: SinkWriter = async () => {
      calls++;
      throw permanent(new Error("400 bad request"));
    };
    const [envelope] = await appended(event());
    const guard = guardSink({ name: "warehouse", ledger, write, retry: { attempts: 5, sleep } });
    expect(await guard.deliver(envelope as Envelope)).toMatchObject({
      status: "failed",
      attempt: 1,
    });
    expect(calls).toBe(1);
  });

  it("stops retrying when the signal aborts", async () => {
    const { ledger, event, appended } = setup();
    const controller = new AbortController();
    const write: SinkWriter = async () => {
      controller.abort(new Error("shutting down"));
      throw new Error("flaky");
    };
    const [envelope] = await appended(event());
    const guard = guardSink({
      name: "warehouse",
      ledger,
      write,
      retry: { attempts: 5, baseDelayMs: 10_000 },
    });
    const receipt = await guard.deliver(envelope as Envelope, { signal: controller.signal });
    expect(receipt).toMatchObject({ status: "failed", error: { code: "aborted" } });
  });

  it("rejects what the sink's validator refuses: structured issues, no write, no retry", async () => {
    const { ledger, event, appended } = setup();
    const sink = memorySink();
    const [bad, good] = await appended(event({ total: -5 }), event({ total: 5 }));
    const guard = guardSink({
      name: "warehouse",
      ledger,
      write: sink.write,
      validate: z.object({ total: z.number().positive() }),
    });
    const rejected = await guard.deliver(bad as Envelope);
    expect(rejected.status).toBe("rejected");
    expect(rejected.issues).toEqual([
      expect.objectContaining({ path: "$.payload.total", code: "too_small" }),
    ]);
    expect(sink.calls()).toBe(0);
    expect((await guard.deliver(good as Envelope)).status).toBe("written");
    // A rejection is final: delivering again answers the same, still without a write.
    expect((await guard.deliver(bad as Envelope)).status).toBe("rejected");
    expect(sink.calls()).toBe(1);
    const fnGuard = guardSink({
      name: "search",
      ledger,
      write: sink.write,
      validate: (e) =>
        (e.payload as { total: number }).total < 0
          ? [{ path: "$.payload.total", code: "negative", message: "no" }]
          : [],
    });
    expect((await fnGuard.deliver(bad as Envelope)).issues?.[0]?.code).toBe("negative");
  });

  it("reports a conflict when the sink already holds the key with another checksum", async () => {
    const { ledger, event, appended } = setup();
    const sink = memorySink();
    const [envelope] = await appended(event());
    const e = envelope as Envelope;
    await ledger.putReceipt({
      sink: "warehouse",
      key: e.key,
      id: e.id,
      position: 1,
      status: "written",
      checksum: "xxh64:0000000000000000",
      attempt: 1,
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:00:00.000Z",
    });
    const guard = guardSink({ name: "warehouse", ledger, write: sink.write });
    const receipt = await guard.deliver(e);
    expect(receipt).toMatchObject({ status: "conflict", error: { code: "conflict" } });
    expect(sink.calls()).toBe(0);
  });

  it("answers duplicate without calling the writer when the key is already done", async () => {
    const { ledger, event, appended } = setup();
    const sink = memorySink();
    const metrics = createMemoryMetrics();
    const [envelope] = await appended(event());
    const guard = guardSink({ name: "warehouse", ledger, write: sink.write, metrics });
    await guard.deliver(envelope as Envelope);
    const again = await guard.deliver(envelope as Envelope);
    expect(again).toMatchObject({ status: "duplicate", sinkOffset: "row:1" });
    expect(sink.calls()).toBe(1);
    expect(metrics.count("sinkproof.duplicates", { sink: "warehouse" })).toBe(1);
  });

  it("replays a done key: the writer runs again and the receipt says replayed", async () => {
    const { ledger, event, appended } = setup();
    const sink = memorySink();
    const [envelope] = await appended(event());
    const guard = guardSink({ name: "warehouse", ledger, write: sink.write });
    await guard.deliver(envelope as Envelope);
    sink.rows.clear(); // the sink lost it
    const receipt = await guard.deliver(envelope as Envelope, { replay: true });
    expect(receipt.status).toBe("replayed");
    expect(sink.calls()).toBe(2);
    expect(sink.rows.has((envelope as Envelope).key)).toBe(true);
  });

  it("a frozen guard refuses deliveries with a typed error, counts and shows it, until unfrozen", async () => {
    const { ledger, event, appended } = setup();
    const sink = memorySink();
    const metrics = createMemoryMetrics();
    const [envelope] = await appended(event());
    const guard = guardSink({ name: "warehouse", ledger, write: sink.write, metrics });
    await guard.freeze("mismatch found by reconciliation");
    const error = await guard.deliver(envelope as Envelope).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ code: "sink_frozen", sink: "warehouse" });
    expect(guard.status()).toMatchObject({
      frozen: { reason: "mismatch found by reconciliation" },
      refused: 1,
    });
    expect(metrics.count("sinkproof.refused", { sink: "warehouse" })).toBe(1);
    expect(sink.calls()).toBe(0);
    await guard.unfreeze();
    expect((await guard.deliver(envelope as Envelope)).status).toBe("written");
    expect(guard.status().frozen).toBeUndefined();
  });

  it("advances the watermark to the highest position below which every entry has a final receipt", async () => {
    const { ledger, event, appended, sleep } = setup();
    const failing = new Set<number>();
    const write: SinkWriter = async (_e, context) => {
      if (failing.has(context.position)) throw permanent(new Error("no"));
    };
    const envelopes = await appended(...Array.from({ length: 6 }, () => event()));
    const guard = guardSink({ name: "warehouse", ledger, write, retry: { sleep } });
    failing.add(3);
    // Positions 6, 1, 2, 3 (fails), 4; position 5 not yet.
    for (const i of [5, 0, 1, 2, 3]) await guard.deliver(envelopes[i] as Envelope);
    expect(await ledger.getWatermark("warehouse")).toBe(2);
    failing.clear();
    await guard.deliver(envelopes[2] as Envelope);
    expect(await ledger.getWatermark("warehouse")).toBe(4);
    await guard.deliver(envelopes[4] as Envelope);
    expect(await ledger.getWatermark("warehouse")).toBe(6);
    expect(guard.status().watermark).toBe(6);
  });

  it("picks up positions delivered by another guard when advancing the watermark", async () => {
    const { ledger, event, appended } = setup();
    const envelopes = await appended(event(), event(), event());
    const a = guardSink({ name: "warehouse", ledger, write: async () => undefined });
    const b = guardSink({ name: "warehouse", ledger, write: async () => undefined });
    await a.deliver(envelopes[1] as Envelope);
    await a.deliver(envelopes[2] as Envelope);
    await b.deliver(envelopes[0] as Envelope);
    // b saw only position 1; measuring catches up with what a did.
    expect(await ledger.getWatermark("warehouse")).toBe(1);
    await b.measure();
    expect(await ledger.getWatermark("warehouse")).toBe(3);
    // a, stuck at 0 with 2 and 3 done, catches up on its next delivery.
    const [extra] = await appended(event());
    await a.deliver(extra as Envelope);
    expect(await ledger.getWatermark("warehouse")).toBe(4);
  });

  it("measures lag and the age of the oldest undelivered entry", async () => {
    const { ledger, event, appended, clock } = setup();
    const metrics = createMemoryMetrics();
    const envelopes = await appended(event(), event(), event());
    const guard = guardSink({
      name: "warehouse",
      ledger,
      write: async () => undefined,
      metrics,
      clock: clock.now,
    });
    await guard.deliver(envelopes[0] as Envelope);
    clock.advance(2_000);
    expect(await guard.measure()).toEqual({
      lag: 2,
      oldestUndeliveredAgeMs: 2_000,
      heldBy: { position: 2, key: (envelopes[1] as Envelope).key },
    });
    expect(metrics.snapshot().gauges).toMatchObject({
      "sinkproof.sink.lag{sink=warehouse}": 2,
      "sinkproof.sink.oldest_undelivered_age{sink=warehouse}": 2_000,
    });
  });
});

describe("guardSink: deliverAll", () => {
  it("keeps order within a stream and never runs more than `concurrency` writes at once", async () => {
    const { ledger, event, appended } = setup();
    const streams = ["a", "b", "c", "d"];
    const envelopes = await appended(
      ...Array.from({ length: 60 }, (_, i) => event({ i }, streams[i % 4])),
    );
    const order: Record<string, number[]> = {};
    let running = 0;
    let peak = 0;
    const write: SinkWriter = async (envelope) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 4)));
      const seen = order[envelope.stream] ?? [];
      seen.push((envelope.payload as { i: number }).i);
      order[envelope.stream] = seen;
      running--;
    };
    const guard = guardSink({ name: "warehouse", ledger, write, concurrency: 3 });
    const receipts = await guard.deliverAll(envelopes);
    expect(receipts.map((r) => r.position)).toEqual(envelopes.map((_, i) => i + 1));
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
    for (const [s, seen] of Object.entries(order)) {
      expect(seen, s).toEqual([...seen].sort((x, y) => x - y));
    }
    expect(await ledger.getWatermark("warehouse")).toBe(60);
  });

  it("finishes the others and then throws the first error", async () => {
    const { ledger, event, appended } = setup();
    const sink = memorySink();
    const envelopes = await appended(event(), event());
    const guard = guardSink({ name: "warehouse", ledger, write: sink.write });
    const outside = event();
    await expect(
      guard.deliverAll([envelopes[0] as Envelope, outside, envelopes[1] as Envelope]),
    ).rejects.toMatchObject({
      code: "not_in_ledger",
    });
    expect(sink.calls()).toBe(2);
    await tick();
  });
});

describe("signed receipts", () => {
  const key = { keyId: "2026-11", secret: "a very secret key of 32 bytes!!!" };

  it("signs every receipt; a tampered receipt, an unknown key or a missing signature fails", async () => {
    const { ledger, event, appended } = setup();
    const [envelope] = await appended(event());
    const guard = guardSink({
      name: "warehouse",
      ledger,
      write: async () => undefined,
      signReceipts: key,
    });
    const receipt = await guard.deliver(envelope as Envelope);
    expect(receipt.signature).toMatchObject({ keyId: "2026-11", algorithm: "HMAC-SHA256" });
    expect(verifyReceipt(receipt, { "2026-11": key.secret })).toBe(true);
    expect(verifyReceipt(receipt, (id) => (id === "2026-11" ? key.secret : undefined))).toBe(true);
    expect((await ledger.getReceipts("warehouse", receipt.key))[0]).toEqual(receipt);
    for (const tampered of [
      { ...receipt, status: "failed" as const },
      { ...receipt, checksum: "xxh64:0000000000000000" as const },
      { ...receipt, sinkOffset: "elsewhere" },
      { ...receipt, attempt: 2 },
    ]) {
      expect(verifyReceipt(tampered, { "2026-11": key.secret })).toBe(false);
    }
    expect(verifyReceipt(receipt, { "2026-11": "another secret, also 32 bytes!!" })).toBe(false);
    expect(verifyReceipt(receipt, { other: key.secret })).toBe(false);
    const { signature: _s, ...unsigned } = receipt;
    expect(verifyReceipt(unsigned, { "2026-11": key.secret })).toBe(false);
    expect(verifyReceipt(signReceipt(unsigned, key), { "2026-11": key.secret })).toBe(true);
  });

  it("refuses a short secret and bad key maps", () => {
    const { ledger } = setup();
    expect(() =>
      guardSink({
        name: "s",
        ledger,
        write: async () => undefined,
        signReceipts: { keyId: "k", secret: "short" },
      }),
    ).toThrow(InvalidArgumentError);
    expect(() => verifyReceipt({} as Receipt, null as never)).toThrow(InvalidArgumentError);
  });
});

describe("guardSink: arguments", () => {
  it("rejects bad options with an InvalidArgumentError naming the option", () => {
    const { ledger } = setup();
    const write = async () => undefined;
    const cases: Array<[unknown, string]> = [
      [{ name: "", ledger, write }, "options.name"],
      [{ name: "s", ledger: {}, write }, "options.ledger"],
      [{ name: "s", ledger, write: 1 }, "options.write"],
      [{ name: "s", ledger, write, concurrency: 0 }, "options.concurrency"],
      [{ name: "s", ledger, write, claimTtlMs: 1 }, "options.claimTtlMs"],
      [{ name: "s", ledger, write, retry: { attempts: 0 } }, "options.retry.attempts"],
      [{ name: "s", ledger, write, validate: 5 }, "options.validate"],
    ];
    for (const [options, path] of cases) {
      const error = (() => {
        try {
          guardSink(options as never);
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(error, path).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).path).toBe(path);
    }
  });

  it("rejects a bad envelope argument", async () => {
    const { ledger } = setup();
    const guard = guardSink({ name: "s", ledger, write: async () => undefined });
    await expect(guard.deliver(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(guard.freeze("")).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
