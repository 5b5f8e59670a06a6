/**
 * Tests aimed at the mutants `npm run mutate` left alive in the guard's delivery path
 * (guard-deliver, guard-receipts, guard-write, guard-batch): claim waits and takeover,
 * aborts, retries and backoff, frozen sinks, queued deliveries, answered receipts.
 */
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { hostId } from "../../src/delivery/owner.js";
import {
  createMemoryMetrics,
  type Envelope,
  guardSink,
  InvalidArgumentError,
  type Receipt,
} from "../../src/index.js";
import { guardWorld } from "./support.js";

function setup() {
  const { clock, ledger, event } = guardWorld();
  const one = async () => {
    const envelope = event();
    await ledger.append([envelope]);
    return envelope;
  };
  const sleeps: number[] = [];
  const sleep = async (ms: number, signal: AbortSignal | undefined) => {
    if (signal?.aborted) throw signal.reason;
    sleeps.push(ms);
    clock.advance(ms);
  };
  return { clock, ledger, one, sleep, sleeps };
}

describe("guard delivery: waiting for and taking over claims", () => {
  it("waits until the holder's claim expires (expiresAt - now + 1), saying so once", async () => {
    const { clock, ledger, one, sleep, sleeps } = setup();
    const envelope = await one();
    await ledger.claim("warehouse", envelope.key, { owner: "other", ttlMs: 3000 });
    let calls = 0;
    const waits: unknown[] = [];
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      pollMs: 10_000,
      retry: { sleep },
      write: () => {
        calls++;
      },
    });
    const receipt = await guard.deliver(envelope, { onWait: (w) => waits.push(w) });
    expect(receipt.status).toBe("written");
    expect(sleeps).toEqual([3001]);
    expect(calls).toBe(1);
    expect(waits).toHaveLength(1);
  });

  it("polls every pollMs while a live owner holds the claim, telling onWait once", async () => {
    const { clock, ledger, one, sleep, sleeps } = setup();
    const envelope = await one();
    await ledger.claim("warehouse", envelope.key, { owner: "other", ttlMs: 300 });
    const waits: unknown[] = [];
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      pollMs: 100,
      retry: { sleep },
      write: () => undefined,
    });
    expect((await guard.deliver(envelope, { onWait: (w) => waits.push(w) })).status).toBe(
      "written",
    );
    expect(sleeps).toEqual([100, 100, 100]);
    expect(waits).toHaveLength(1);
  });

  it("takes a claim over at once from a dead process of this host", async () => {
    const { clock, ledger, one, sleep, sleeps } = setup();
    const deadPid = 4_194_000;
    expect(() => process.kill(deadPid, 0)).toThrow();
    const dead = `${hostname()}:${deadPid}:abcd1234:${hostId()}`;
    const envelope = await one();
    await ledger.claim("warehouse", envelope.key, { owner: dead, ttlMs: 60_000 });
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      retry: { sleep },
      write: () => {
        calls++;
      },
    });
    const receipt = await guard.deliver(envelope);
    expect(receipt.status).toBe("written");
    expect(sleeps).toEqual([]);
    expect(calls).toBe(1);
  });

  it("a delivery aborted while waiting gets a failed receipt (aborted, the reason), and the claim stays the holder's", async () => {
    const { clock, ledger, one } = setup();
    const envelope = await one();
    await ledger.claim("warehouse", envelope.key, { owner: "other", ttlMs: 3000 });
    const controller = new AbortController();
    const waits: unknown[] = [];
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      retry: {
        sleep: async () => {
          controller.abort(new Error("shutting down"));
          throw new Error("stop");
        },
      },
      write: () => {
        calls++;
      },
    });
    const receipt = await guard.deliver(envelope, {
      signal: controller.signal,
      onWait: (w) => waits.push(w),
    });
    expect(receipt).toMatchObject({
      status: "failed",
      attempt: 1,
      error: { code: "aborted", message: "shutting down" },
    });
    expect(calls).toBe(0);
    expect((await ledger.getReceipts("warehouse", envelope.key)).map((r) => r.status)).toEqual([
      "failed",
    ]);
    // The wait is forgotten: a new delivery waiting for the same holder says so again.
    await guard.deliver(envelope, { signal: AbortSignal.abort(), onWait: (w) => waits.push(w) });
    expect(waits).toHaveLength(2);
  });

  it("an abort without a reason value reads 'aborted'", async () => {
    const { clock, ledger, one } = setup();
    const envelope = await one();
    await ledger.claim("warehouse", envelope.key, { owner: "other", ttlMs: 3000 });
    const controller = new AbortController();
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      retry: {
        sleep: async () => {
          controller.abort("");
          throw new Error("stop");
        },
      },
      write: () => undefined,
    });
    const receipt = await guard.deliver(envelope, { signal: controller.signal });
    expect(receipt.error).toEqual({ code: "aborted", message: "aborted" });
  });
});

describe("guard delivery: frozen sinks and queued deliveries", () => {
  it("refuses a frozen sink with sink_frozen and the exact message, releasing nothing", async () => {
    const { clock, ledger, one } = setup();
    const envelope = await one();
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      write: () => {
        calls++;
      },
    });
    await guard.freeze("drift found", { actor: "ops" });
    const error = await guard.deliver(envelope).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "sink_frozen",
      message: "Sink warehouse is frozen: drift found",
    });
    expect(calls).toBe(0);
    expect(await ledger.getReceipts("warehouse", envelope.key)).toEqual([]);
  });

  it("a delivery queued behind one that threw still runs and writes", async () => {
    const { clock, ledger, one, sleep, sleeps } = setup();
    const envelope = await one();
    let validations = 0;
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      retry: { sleep },
      validate: () => {
        validations++;
        if (validations === 1) throw new Error("validator host down");
        return [];
      },
      write: () => {
        calls++;
      },
    });
    const [first, second] = await Promise.allSettled([
      guard.deliver(envelope),
      guard.deliver(envelope),
    ]);
    expect(first.status).toBe("rejected");
    expect(second.status === "fulfilled" ? second.value.status : second.reason).toBe("written");
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
    // The first delivery let its claim go: another owner can claim at once.
  });

  it("two deliveries of one key queue: one write, then a duplicate, no polling", async () => {
    const { clock, ledger, one, sleep, sleeps } = setup();
    const envelope = await one();
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      retry: { sleep },
      write: () => {
        calls++;
        return { offset: "row:1" };
      },
    });
    const [a, b] = await Promise.all([guard.deliver(envelope), guard.deliver(envelope)]);
    expect([a.status, b.status]).toEqual(["written", "duplicate"]);
    expect(b.sinkOffset).toBe("row:1");
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
    // The duplicate is not stored: the ledger keeps the written receipt only.
    expect((await ledger.getReceipts("warehouse", envelope.key)).map((r) => r.status)).toEqual([
      "written",
    ]);
  });

  it("a duplicate of a write without offset has no sinkOffset key", async () => {
    const { clock, ledger, one } = setup();
    const envelope = await one();
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      write: () => undefined,
    });
    await guard.deliver(envelope);
    const dup = await guard.deliver(envelope);
    expect(dup.status).toBe("duplicate");
    expect(Object.keys(dup)).not.toContain("sinkOffset");
  });
});

describe("guard delivery: writes, retries and receipts", () => {
  it("clips a long sink offset and measures the delivery on the clock", async () => {
    const { clock, ledger, one } = setup();
    const envelope = await one();
    const metrics = createMemoryMetrics();
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      metrics,
      write: () => {
        clock.advance(7);
        return { offset: "x".repeat(5000) };
      },
    });
    const receipt = await guard.deliver(envelope);
    expect((receipt.sinkOffset ?? "").length).toBeLessThan(5000);
    expect("x".repeat(5000).startsWith(receipt.sinkOffset ?? "?")).toBe(true);
    const histograms = Object.values(metrics.snapshot().histograms);
    expect(histograms).toEqual([[7]]);
  });

  it("stops after the last attempt without another backoff", async () => {
    const { clock, ledger, one, sleep, sleeps } = setup();
    const envelope = await one();
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 10, random: () => 0.5, sleep },
      write: () => {
        calls++;
        throw Object.assign(new Error("busy"), { code: "busy" });
      },
    });
    const receipt = await guard.deliver(envelope);
    expect(receipt).toMatchObject({
      status: "failed",
      attempt: 3,
      error: { code: "busy", message: "busy" },
    });
    expect(calls).toBe(3);
    expect(sleeps).toHaveLength(2);
    expect(guard.status().lastError).toMatchObject({ code: "busy", message: "busy" });
  });

  it("an abort during backoff ends with a failed receipt of that attempt", async () => {
    const { clock, ledger, one } = setup();
    const envelope = await one();
    const controller = new AbortController();
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      retry: {
        attempts: 3,
        sleep: async () => {
          throw new Error("interrupted");
        },
      },
      write: () => {
        calls++;
        throw Object.assign(new Error("busy"), { code: "busy" });
      },
    });
    const receipt = await guard.deliver(envelope, { signal: controller.signal });
    expect(receipt).toMatchObject({ status: "failed", attempt: 1, error: { code: "aborted" } });
    expect(calls).toBe(1);
  });

  it("checks the signal before each attempt: aborted after a failure, attempt 2 is not written", async () => {
    const { clock, ledger, one } = setup();
    const envelope = await one();
    const controller = new AbortController();
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      retry: { attempts: 3, sleep: async () => undefined },
      write: () => {
        calls++;
        controller.abort(new Error("caller gave up"));
        throw Object.assign(new Error("busy"), { code: "busy" });
      },
    });
    const receipt = await guard.deliver(envelope, { signal: controller.signal });
    expect(receipt).toMatchObject({
      status: "failed",
      attempt: 2,
      error: { code: "aborted", message: "caller gave up" },
    });
    expect(calls).toBe(1);
    const again = await ledger.claim("warehouse", envelope.key, { owner: "b", ttlMs: 1000 });
    expect(again.status).not.toBe("held");
  });

  it("a validator that returns nothing lets the write through; a non-array is an InvalidArgumentError", async () => {
    const { clock, ledger, one } = setup();
    const a = await one();
    const b = await one();
    let answer: unknown;
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      validate: () => answer as never,
      write: () => {
        calls++;
      },
    });
    expect((await guard.deliver(a)).status).toBe("written");
    answer = 42;
    const error = await guard.deliver(b).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain("options.validate()");
    expect((error as Error).message).toContain("must return an array of issues or nothing");
    expect(calls).toBe(1);
    const claim = await ledger.claim("warehouse", b.key, { owner: "b", ttlMs: 1000 });
    expect(claim.status).toBe("acquired");
  });

  it("a rejected key is answered again as rejected with its error and issues, not stored again", async () => {
    const { clock, ledger, one } = setup();
    const envelope = await one();
    const issues = Array.from({ length: 150 }, (_, i) => ({
      path: `a.${i}`,
      code: "bad",
      message: `bad ${i}`,
    }));
    let validations = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      validate: () => {
        validations++;
        return issues;
      },
      write: () => undefined,
    });
    const first = await guard.deliver(envelope);
    expect(first.status).toBe("rejected");
    expect(first.error).toEqual({ code: "rejected", message: "150 issue(s): a.0: bad 0" });
    expect(first.issues).toHaveLength(100);
    expect(guard.status().lastError).toBeUndefined();
    const again = await guard.deliver(envelope);
    expect(again.status).toBe("rejected");
    expect(again.error).toEqual(first.error);
    expect(again.issues).toEqual(first.issues);
    expect(validations).toBe(1);
    const stored: readonly Receipt[] = await ledger.getReceipts("warehouse", envelope.key);
    expect(stored).toHaveLength(1);
  });
});

describe("guard deliverAll: arguments", () => {
  it("refuses a non-iterable", async () => {
    const { clock, ledger } = setup();
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      write: () => undefined,
    });
    const error = await guard.deliverAll(42 as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain("must be an iterable of envelopes, got");
  });

  it("reports an iterator that throws as could not be iterated", async () => {
    const { clock, ledger, one } = setup();
    const envelope = await one();
    let calls = 0;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      write: () => {
        calls++;
      },
    });
    function* broken() {
      yield envelope;
      throw new Error("disk gone");
    }
    const error = await guard.deliverAll(broken()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain("could not be iterated: disk gone");
    expect(calls).toBe(1);
  });

  it("passes a sinkproof error thrown by the iterator as it is", async () => {
    const { clock, ledger } = setup();
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      write: () => undefined,
    });
    const thrown = new InvalidArgumentError("invalid_argument", "went away");
    function* broken(): Generator<Envelope> {
      if (thrown !== undefined) throw thrown;
      yield* [];
    }
    expect(await guard.deliverAll(broken()).catch((e: unknown) => e)).toBe(thrown);
  });
});
