/**
 * The guard's side of fencing, freezes and claim waits, in one process: the writer's
 * fencing token and signal, superseded receipts, freezes shared through the ledger by
 * guards on separate connections, and what a delivery says while it waits for a claim.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  createMemoryMetrics,
  createPipeline,
  createProducer,
  createSealer,
  DeliveryError,
  type Envelope,
  guardSink,
  InvalidArgumentError,
  MemoryLedger,
  type SinkWriter,
} from "../../src/index.js";
import { SqliteLedger } from "../../src/ledger/sqlite/index.js";
import { createManualClock } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-guard-fencing-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function setup() {
  const clock = createManualClock();
  const ledger = new MemoryLedger({ clock: clock.now });
  const seal = createSealer({ clock: clock.now });
  let seq = 0;
  const append = async () => {
    const envelope = seal({
      producer: "orders-svc",
      seq: seq++,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: { n: seq },
    });
    await ledger.append([envelope]);
    return envelope;
  };
  return { clock, ledger, append };
}

/** A sink that keeps the highest fencing token applied per key, and counts applies. */
function fencedSink() {
  const rows = new Map<string, { token: number; applies: number }>();
  const write: SinkWriter = (envelope, ctx) => {
    const row = rows.get(envelope.key);
    if (row !== undefined && row.token >= ctx.fencingToken) return; // a late write: ignored
    rows.set(envelope.key, { token: ctx.fencingToken, applies: (row?.applies ?? 0) + 1 });
  };
  return { rows, write };
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("guard: fencing", () => {
  it("a write that outlives its claim gets a superseded receipt; its signal aborts; the fenced sink applies it zero times", async () => {
    const { clock, ledger, append } = setup();
    const envelope = await append();
    const sink = fencedSink();
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    let signal: AbortSignal | undefined;
    let seenToken = 0;
    const metrics = createMemoryMetrics();
    const slow = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      claimTtlMs: 300,
      owner: "slow-worker",
      metrics,
      write: async (e, ctx) => {
        signal = ctx.signal;
        seenToken = ctx.fencingToken;
        await blocked;
        return sink.write(e, ctx);
      },
    });
    const fast = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      claimTtlMs: 300,
      owner: "fast-worker",
      write: sink.write,
    });
    const late = slow.deliver(envelope);
    await tick(5);
    expect(seenToken).toBeGreaterThan(0);
    clock.advance(301); // the slow writer's claim expires; nobody renewed it in (virtual) time
    const winner = await fast.deliver(envelope);
    expect(winner.status).toBe("written");
    expect(winner.fencingToken).toBeGreaterThan(seenToken);
    // The slow guard's renewal timer finds the claim gone and aborts the writer's signal.
    for (let i = 0; i < 100 && signal?.aborted !== true; i++) await tick(10);
    expect(signal?.aborted).toBe(true);
    release();
    const lost = await late;
    expect(lost.status).toBe("superseded");
    expect(lost.error?.code).toBe("superseded");
    expect(sink.rows.get(envelope.key)).toEqual({ token: winner.fencingToken, applies: 1 });
    const receipts = await ledger.getReceipts("warehouse", envelope.key);
    expect(receipts.map((r) => r.status)).toEqual(["written", "superseded"]);
    expect(metrics.count("sinkproof.superseded", { sink: "warehouse" })).toBe(1);
    expect(slow.status().lastError?.code).toBe("superseded");
    expect(await ledger.getWatermark("warehouse")).toBe(1);
  });

  it("claim renewal runs on the injected timers: renewed while they tick, lost when they stop", async () => {
    const { clock, ledger, append } = setup();
    const envelope = await append();
    const intervals: { tick: () => void; ms: number; cleared: boolean }[] = [];
    const timers = {
      setInterval(tick: () => void, ms: number) {
        const handle = { tick, ms, cleared: false };
        intervals.push(handle);
        return handle;
      },
      clearInterval(handle: unknown) {
        (handle as { cleared: boolean }).cleared = true;
      },
    };
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    let signal: AbortSignal | undefined;
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      claimTtlMs: 600,
      owner: "timed-worker",
      timers,
      write: async (_e, ctx) => {
        signal = ctx.signal;
        await blocked;
      },
    });
    const delivery = guard.deliver(envelope);
    await tick(5);
    expect(intervals.map((i) => i.ms)).toEqual([100]);
    const timer = intervals[0] as (typeof intervals)[number];
    // Ticks every 250 ms of (virtual) time keep the claim alive well past its TTL.
    for (let i = 0; i < 8; i++) {
      clock.advance(250);
      timer.tick();
      await tick(1);
    }
    const other = await ledger.claim("warehouse", envelope.key, { owner: "other", ttlMs: 600 });
    expect(other.status).toBe("held");
    // No tick for longer than the TTL: the claim expires and is taken over; the next tick
    // learns it and aborts the writer's signal.
    clock.advance(700);
    const taken = await ledger.claim("warehouse", envelope.key, { owner: "other", ttlMs: 600 });
    expect(taken.status).toBe("acquired");
    timer.tick();
    for (let i = 0; i < 50 && signal?.aborted !== true; i++) await tick(1);
    expect(signal?.aborted).toBe(true);
    release();
    expect((await delivery).status).toBe("superseded");
    // With nothing held, the next tick clears the timer through the injected clearInterval.
    timer.tick();
    expect(timer.cleared).toBe(true);
  });

  it("refuses timers that are not an interval timer, by path", async () => {
    const { ledger } = setup();
    const make = (timers: unknown) => () =>
      guardSink({ name: "s", ledger, write: () => undefined, timers: timers as never });
    expect(make({ setInterval: () => 1 })).toThrow(InvalidArgumentError);
    expect(make({ setInterval: () => 1 })).toThrow(/options\.timers\.clearInterval/);
    expect(make({ setInterval: () => 1, clearInterval: () => undefined, setTimeout: 1 })).toThrow(
      /options\.timers\.setTimeout/,
    );
    expect(make(42)).toThrow(InvalidArgumentError);
  });

  it("the writer gets the claim's fencing token, higher on every new claim of the key", async () => {
    const { ledger, append } = setup();
    const envelope = await append();
    const tokens: number[] = [];
    const guard = guardSink({
      name: "s",
      ledger,
      write: (_e, ctx) => {
        tokens.push(ctx.fencingToken);
      },
    });
    const first = await guard.deliver(envelope);
    const replay = await guard.deliver(envelope, { replay: true });
    expect(first.fencingToken).toBe(tokens[0]);
    expect(replay.fencingToken).toBe(tokens[1]);
    expect((tokens[1] as number) > (tokens[0] as number)).toBe(true);
  });
});

describe("guard: freezes are ledger state", () => {
  it("a freeze through one connection stops a guard on another within freezeCheckMs; unfreeze lets it write", async () => {
    const path = join(root, "freeze.db");
    const clock = createManualClock();
    const a = await SqliteLedger.open(path, { clock: clock.now });
    const b = await SqliteLedger.open(path, { clock: clock.now });
    const seal = createSealer({ clock: clock.now });
    const envelopes = Array.from({ length: 3 }, (_, i) =>
      seal({ producer: "p", seq: i, type: "t", schema: { name: "t", version: 1 }, payload: { i } }),
    );
    await a.append(envelopes);
    const written: string[] = [];
    const guardB = guardSink({
      name: "warehouse",
      ledger: b,
      clock: clock.now,
      freezeCheckMs: 1000,
      write: (e) => {
        written.push(e.key);
      },
    });
    expect((await guardB.deliver(envelopes[0] as Envelope)).status).toBe("written");
    const guardA = guardSink({ name: "warehouse", ledger: a, write: () => undefined });
    const freeze = await guardA.freeze("drift found", { actor: "ops" });
    expect(freeze).toMatchObject({ sink: "warehouse", origin: "manual", actor: "ops" });
    expect(guardA.status().frozen?.reason).toBe("drift found");
    clock.advance(1000);
    const refused = await guardB.deliver(envelopes[1] as Envelope).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DeliveryError);
    expect(refused).toMatchObject({ code: "sink_frozen" });
    expect(guardB.status().freezes).toEqual([freeze]);
    // Replays pass: a frozen sink can be repaired.
    expect((await guardB.deliver(envelopes[0] as Envelope, { replay: true })).status).toBe(
      "replayed",
    );
    expect(await guardA.unfreeze({ reason: "repaired", actor: "ops" })).toEqual([freeze]);
    clock.advance(1000);
    expect((await guardB.deliver(envelopes[1] as Envelope)).status).toBe("written");
    expect(written).toEqual([envelopes[0]?.key, envelopes[0]?.key, envelopes[1]?.key]);
    await a.close();
    await b.close();
  });

  it("checks freezeCheckMs and the freeze options", async () => {
    const { ledger } = setup();
    expect(() =>
      guardSink({ name: "s", ledger, write: () => undefined, freezeCheckMs: -1 }),
    ).toThrow(InvalidArgumentError);
    const guard = guardSink({ name: "s", ledger, write: () => undefined });
    await expect(guard.freeze("x", null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(guard.freeze("x", { origin: "" })).rejects.toMatchObject({
      path: "input.origin",
    });
    await expect(guard.unfreeze(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await ledger.listFreezes()).toEqual([]);
  });
});

describe("guard: waiting for a claim", () => {
  it("says which key it waits for, whose claim and until when: to onWait, in status, and in drain's progress", async () => {
    const { clock, ledger, append } = setup();
    const envelope = await append();
    const held = await ledger.claim("warehouse", envelope.key, {
      owner: "other-host:4242:abcd1234:000000000000",
      ttlMs: 10_000,
    });
    expect(held.status).toBe("acquired");
    const guard = guardSink({
      name: "warehouse",
      ledger,
      clock: clock.now,
      write: () => undefined,
      pollMs: 5,
    });
    const progress: unknown[] = [];
    const pipeline = createPipeline({
      producer: createProducer({ id: "orders-svc", ledger, clock: clock.now }),
      sinks: [guard],
    });
    const draining = pipeline.drain({ onProgress: (p) => progress.push(p) });
    for (let i = 0; i < 100 && guard.status().waiting.length === 0; i++) await tick(5);
    const until = new Date(clock.now() + 10_000).toISOString();
    expect(guard.status().waiting).toEqual([
      {
        sink: "warehouse",
        key: envelope.key,
        owner: "other-host:4242:abcd1234:000000000000",
        until,
      },
    ]);
    clock.advance(10_001); // the other claim expires: the drain goes on
    const drained = await draining;
    expect(drained.warehouse).toMatchObject({ delivered: 1, final: 1, watermark: 1 });
    expect(progress).toContainEqual({
      sink: "warehouse",
      dispatched: 1,
      waiting: { sink: "warehouse", key: envelope.key, owner: expect.any(String), until },
      done: false,
    });
    expect(progress.at(-1)).toEqual({
      sink: "warehouse",
      dispatched: 1,
      waiting: undefined,
      done: true,
    });
    expect(guard.status().waiting).toEqual([]);
  });
});
