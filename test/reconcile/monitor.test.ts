/**
 * createMonitor: passes on a schedule, never two at once; alerts that tell latency from
 * loss, once per condition and a `recovered` when it ends; learned baselines; sweeps on
 * the ledger-kept schedule; metrics; a failing pass, a throwing callback and a ledger
 * without checkpoints do not stop it; bad options get typed errors at once.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  createMemoryMetrics,
  createMonitor,
  createSealer,
  type Envelope,
  InvalidArgumentError,
  LedgerError,
  MemoryLedger,
  type MonitorAlert,
  type MonitorOptions,
  type Observation,
  type ReconcileSink,
} from "../../src/index.js";
import { createManualClock } from "../../src/testing/index.js";

const seal = createSealer();
let seq = 0;
const envelope = (): Envelope => {
  const s = seq++;
  return seal({
    producer: "p",
    seq: s,
    type: "t",
    schema: { name: "t", version: 1 },
    payload: { s },
  });
};

/** A ledger and a table beside it, on one manual clock; the table copies what it is told. */
async function world(entries = 10) {
  const clock = createManualClock(Date.parse("2026-06-01T12:00:00.000Z"));
  const ledger = new MemoryLedger({ clock: clock.now });
  const rows = new Map<string, string>();
  const state = { fail: false, running: 0, most: 0, slow: 0 };
  const append = async (n: number, copy = true) => {
    const list = Array.from({ length: n }, envelope);
    await ledger.append(list);
    if (copy) for (const e of list) rows.set(e.key, e.checksum);
    return list;
  };
  await append(entries);
  const sink: ReconcileSink = {
    name: "table",
    lagToleranceMs: 60_000,
    async *observe(): AsyncIterable<Observation> {
      state.running++;
      state.most = Math.max(state.most, state.running);
      try {
        for (let i = 0; i < state.slow; i++) await new Promise((r) => setImmediate(r));
        if (state.fail) throw new Error("the table is offline");
        for (const [key, checksum] of rows) yield { key, checksum };
      } finally {
        state.running--;
      }
    },
  };
  const alerts: MonitorAlert[] = [];
  const metrics = createMemoryMetrics();
  const monitor = (extra: Partial<MonitorOptions> = {}) =>
    createMonitor({
      ledger,
      sinks: [sink],
      clock: clock.now,
      metrics,
      onAlert: (alert) => {
        alerts.push(alert);
      },
      ...extra,
    });
  return { clock, ledger, rows, state, append, sink, alerts, metrics, monitor };
}

const kinds = (alerts: readonly MonitorAlert[]) => alerts.map((a) => `${a.kind}:${a.sink ?? "-"}`);

afterEach(() => {
  vi.useRealTimers();
});

describe("createMonitor: alerts", () => {
  it("a consistent sink raises nothing; its metrics say consistent, not behind", async () => {
    const w = await world();
    const pass = await w.monitor().runOnce();
    expect(pass.kind).toBe("incremental");
    expect(pass.report?.consistent).toBe(true);
    expect(pass.alerts).toEqual([]);
    expect(w.metrics.snapshot().gauges).toMatchObject({
      "sinkproof.monitor.consistent{sink=table}": 1,
      "sinkproof.monitor.lag_ms{sink=table}": 0,
      "sinkproof.monitor.behind_entries{sink=table}": 0,
      "sinkproof.monitor.data_age_ms{sink=table}": 0,
      "sinkproof.monitor.findings{kind=missing-lost,sink=table}": 0,
    });
    expect(
      w.metrics.count("sinkproof.monitor.passes", { kind: "incremental", outcome: "consistent" }),
    ).toBe(1);
    expect((await w.ledger.getCheckpoint("table"))?.through).toBe(10);
  });

  it("tells latency from loss: nothing below half the tolerance, lag past it, loss past the tolerance", async () => {
    const w = await world();
    const monitor = w.monitor();
    await monitor.runOnce();
    await w.append(3, false); // not at the sink
    w.clock.advance(10_000);
    expect((await monitor.runOnce()).alerts, "10 s: acceptable latency").toEqual([]);
    w.clock.advance(30_000);
    const lag = await monitor.runOnce();
    expect(kinds(lag.alerts)).toEqual(["lag:table"]);
    expect(lag.alerts[0]).toMatchObject({
      severity: "warning",
      window: { behindMs: 40_000, behindEntries: 3 },
    });
    w.clock.advance(5_000);
    expect((await monitor.runOnce()).alerts, "still lagging: said once").toEqual([]);
    w.clock.advance(30_000);
    const loss = await monitor.runOnce();
    // The lag turned into a loss: the lag incident ends, the loss one begins.
    expect(kinds(loss.alerts)).toEqual(["loss:table", "recovered:table"]);
    expect(loss.alerts[0]).toMatchObject({ severity: "critical", counts: { "missing-lost": 3 } });
    expect(loss.alerts[1]?.cleared).toEqual(["lag"]);
    expect(monitor.status().sinks.table?.active).toEqual(["loss"]);
    // Last found consistent (late entries only) 30 s ago.
    expect(w.metrics.snapshot().gauges["sinkproof.monitor.data_age_ms{sink=table}"]).toBe(30_000);
    // Repaired by hand: recovered, once.
    for await (const entry of w.ledger.scan({ from: 11 }))
      w.rows.set(entry.envelope.key, entry.envelope.checksum);
    const healed = await monitor.runOnce();
    expect(kinds(healed.alerts)).toEqual(["recovered:table"]);
    expect(healed.alerts[0]).toMatchObject({ severity: "info", cleared: ["loss"] });
    expect((await monitor.runOnce()).alerts).toEqual([]);
    expect(w.metrics.count("sinkproof.monitor.alerts", { sink: "table", kind: "loss" })).toBe(1);
  });

  it("drift and an unreadable sink are critical; each recovers", async () => {
    const w = await world();
    const monitor = w.monitor();
    await monitor.runOnce();
    const [key] = [...w.rows.keys()] as [string];
    const kept = w.rows.get(key) as string;
    // An altered row: only a sweep sees old data, so ask for one.
    w.rows.set(key, "xxh64:0000000000000000");
    const drift = await monitor.runOnce({ sweep: true });
    expect(drift.kind).toBe("sweep");
    expect(kinds(drift.alerts)).toEqual(["drift:table"]);
    expect(drift.alerts[0]?.message).toContain("1 mismatched");
    w.rows.set(key, kept);
    w.state.fail = true;
    const down = await monitor.runOnce({ sweep: true });
    expect(kinds(down.alerts)).toEqual(["unreadable:table"]);
    expect(monitor.status().sinks.table?.active).toEqual(["drift", "unreadable"]);
    expect(down.alerts[0]?.error?.message).toBe("the table is offline");
    w.state.fail = false;
    const up = await monitor.runOnce({ sweep: true });
    expect(kinds(up.alerts)).toEqual(["recovered:table"]);
    // Unreadable said nothing of the drift: it stayed in force until a pass could see it gone.
    expect(up.alerts[0]?.cleared).toEqual(["unreadable", "drift"]);
  });

  it("a pass that fails raises `failed` once and `recovered` when passes run again", async () => {
    const w = await world();
    let broken = true;
    const ledger = new Proxy(w.ledger, {
      get(target, property, receiver) {
        if (property === "head" && broken) {
          return async () => {
            throw new LedgerError("storage_error", "the ledger's disk is gone");
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const monitor = w.monitor({ ledger });
    const first = await monitor.runOnce();
    expect(first.error).toMatchObject({ code: "storage_error" });
    expect(first.report).toBeUndefined();
    expect(kinds(first.alerts)).toEqual(["failed:-"]);
    expect(kinds((await monitor.runOnce()).alerts)).toEqual([]);
    broken = false;
    expect(kinds((await monitor.runOnce()).alerts)).toEqual(["recovered:-"]);
    expect(monitor.status()).toMatchObject({ passes: 3, failures: 2 });
    expect(
      w.metrics.count("sinkproof.monitor.passes", { kind: "incremental", outcome: "failed" }),
    ).toBe(2);
  });

  it("a clock that throws or answers garbage fails the pass, never the monitor", async () => {
    const w = await world();
    let answer: () => unknown = () => Number.NaN;
    expect(() => w.monitor({ clock: () => answer() as number }), "checked at once").toThrow(
      InvalidArgumentError,
    );
    answer = w.clock.now;
    const monitor = w.monitor({ clock: () => answer() as number });
    answer = () => Number.NaN;
    const nan = await monitor.runOnce();
    expect(nan.error).toMatchObject({ code: "invalid_argument" });
    expect(nan.error?.message).toContain("options.clock()");
    expect(kinds(nan.alerts)).toEqual(["failed:-"]);
    answer = () => {
      throw new Error("the clock broke");
    };
    const thrown = await monitor.runOnce();
    expect(thrown.error?.message).toBe("the clock broke");
    expect(monitor.status()).toMatchObject({ running: false, passes: 2, failures: 2 });
    answer = w.clock.now;
    expect(kinds((await monitor.runOnce()).alerts)).toEqual(["recovered:-"]);
  });

  it("lag is the age of the oldest late entry, not of an old difference", async () => {
    const w = await world();
    const monitor = w.monitor();
    await monitor.runOnce();
    const [key] = [...w.rows.keys()] as [string];
    w.rows.set(key, "xxh64:0000000000000000");
    w.clock.advance(3_600_000);
    await monitor.runOnce({ sweep: true }); // drift, an hour old
    await w.append(1, false);
    w.clock.advance(1000);
    const pass = await monitor.runOnce({ sweep: true });
    expect(pass.alerts, "a 1 s old late entry is no lag").toEqual([]);
    expect(w.metrics.snapshot().gauges["sinkproof.monitor.lag_ms{sink=table}"]).toBe(1000);
  });

  it("an alert onAlert failed to deliver is sent again by the next pass", async () => {
    const w = await world();
    let fail = true;
    const delivered: string[] = [];
    const monitor = w.monitor({
      onAlert: (alert) => {
        if (fail) throw new Error("ECONNRESET");
        delivered.push(alert.kind);
      },
    });
    await monitor.runOnce();
    await w.append(1, false);
    w.clock.advance(120_000);
    expect(kinds((await monitor.runOnce()).alerts)).toEqual(["loss:table"]);
    expect(monitor.status().sinks.table?.active).toEqual([]);
    fail = false;
    expect(kinds((await monitor.runOnce()).alerts)).toEqual(["loss:table"]);
    expect(delivered).toEqual(["loss"]);
    expect(kinds((await monitor.runOnce()).alerts), "once delivered, said once").toEqual([]);
    // A recovered alert that fails is sent again too.
    for await (const entry of w.ledger.scan({ from: 11 }))
      w.rows.set(entry.envelope.key, entry.envelope.checksum);
    fail = true;
    expect(kinds((await monitor.runOnce()).alerts)).toEqual(["recovered:table"]);
    fail = false;
    expect(kinds((await monitor.runOnce()).alerts)).toEqual(["recovered:table"]);
    expect(delivered).toEqual(["loss", "recovered"]);
  });

  it("stop() from onAlert does not hang; runOnce() from it is refused", async () => {
    const w = await world();
    let refused: unknown;
    const monitor = createMonitor({
      ledger: w.ledger,
      sinks: [w.sink],
      clock: w.clock.now,
      onAlert: async (alert) => {
        if (alert.severity !== "critical") return;
        refused = await monitor.runOnce().catch((error: unknown) => error);
        await monitor.stop();
      },
    });
    monitor.start();
    await monitor.runOnce();
    await w.append(1, false);
    w.clock.advance(120_000);
    const pass = await monitor.runOnce();
    expect(kinds(pass.alerts)).toEqual(["loss:table"]);
    expect(refused).toBeInstanceOf(InvalidArgumentError);
    expect(monitor.status()).toMatchObject({ started: false, running: false });
    await monitor.stop();
    expect((await monitor.runOnce()).report?.consistent).toBe(false);
  });

  it("a sink that cannot be read does not make every pass a sweep", async () => {
    const w = await world();
    const monitor = w.monitor({ fullSweepEveryMs: 10_000 });
    expect((await monitor.runOnce()).kind).toBe("incremental");
    w.state.fail = true;
    w.clock.advance(11_000);
    expect((await monitor.runOnce()).kind).toBe("sweep");
    for (let i = 0; i < 3; i++) {
      w.clock.advance(1000);
      expect((await monitor.runOnce()).kind, `pass ${i}`).toBe("incremental");
    }
    w.clock.advance(10_000);
    expect((await monitor.runOnce()).kind).toBe("sweep");
  });

  it("an onAlert that throws is counted, and the monitor goes on", async () => {
    const w = await world();
    const monitor = w.monitor({
      onAlert: () => {
        throw new Error("the webhook is down");
      },
    });
    await monitor.runOnce();
    await w.append(1, false);
    w.clock.advance(120_000);
    const pass = await monitor.runOnce();
    expect(kinds(pass.alerts)).toEqual(["loss:table"]);
    expect(w.metrics.count("sinkproof.monitor.alert_failures", { kind: "loss" })).toBe(1);
    expect((await monitor.runOnce()).report?.consistent).toBe(false);
  });
});

describe("createMonitor: learned baselines", () => {
  it("an unusual lag raises `anomaly` after the warm-up, before any threshold does; it ends with `recovered`", async () => {
    const w = await world();
    const monitor = w.monitor({ baseline: { warmup: 5, sigmas: 3, alpha: 0.2 } });
    // A sink usually 2 s behind, a little more or less.
    for (const lag of [2000, 2100, 1900, 2000, 2050, 1950]) {
      const [late] = await w.append(1, false);
      w.clock.advance(lag);
      const pass = await monitor.runOnce();
      expect(pass.alerts, `lag ${lag}`).toEqual([]);
      w.rows.set((late as Envelope).key, (late as Envelope).checksum);
    }
    const baseline = monitor.status().sinks.table?.baselines.lagMs;
    expect(baseline?.samples).toBe(6);
    // Then 20 s behind: below the lag alert (30 s), far above what it learned.
    await w.append(1, false);
    w.clock.advance(20_000);
    const unusual = await monitor.runOnce();
    expect(kinds(unusual.alerts)).toEqual(["anomaly:table"]);
    expect(unusual.alerts[0]).toMatchObject({
      severity: "warning",
      metric: "lagMs",
      value: 20_000,
    });
    expect(unusual.alerts[0]?.baseline?.samples).toBe(6);
    for await (const entry of w.ledger.scan({ from: 1 }))
      w.rows.set(entry.envelope.key, entry.envelope.checksum);
    const back = await monitor.runOnce();
    expect(kinds(back.alerts)).toEqual(["recovered:table"]);
    expect(back.alerts[0]?.cleared).toEqual(["anomaly"]);
  });

  it("no anomaly during the warm-up, none from a deviation under the floor, and none with baseline: false", async () => {
    for (const baseline of [{ warmup: 50 }, false] as const) {
      const w = await world();
      const monitor = w.monitor({ baseline });
      for (let i = 0; i < 12; i++) await monitor.runOnce();
      await w.append(1, false);
      w.clock.advance(20_000);
      expect((await monitor.runOnce()).alerts, JSON.stringify(baseline)).toEqual([]);
    }
    const w = await world();
    const monitor = w.monitor({ baseline: { warmup: 3 } });
    for (let i = 0; i < 5; i++) await monitor.runOnce();
    await w.append(1, false);
    w.clock.advance(900); // always 0 ms before: 900 ms is under the 1 s floor
    expect((await monitor.runOnce()).alerts).toEqual([]);
  });
});

describe("createMonitor: sweeps and schedule", () => {
  it("sweeps when the least recently swept sink is due, by the time kept in its checkpoint (a new monitor knows it)", async () => {
    const w = await world();
    const first = w.monitor({ fullSweepEveryMs: 10_000 });
    expect((await first.runOnce()).kind).toBe("incremental"); // no checkpoint: a whole pass anyway
    const sweptAt = (await w.ledger.getCheckpoint("table"))?.sweptAt;
    expect(sweptAt).toBe(new Date(w.clock.now()).toISOString());
    w.clock.advance(6_000);
    expect((await first.runOnce()).kind).toBe("incremental");
    // A restart: the new monitor reads the last sweep from the ledger.
    w.clock.advance(6_000);
    const second = w.monitor({ fullSweepEveryMs: 10_000 });
    const [key] = [...w.rows.keys()] as [string];
    w.rows.set(key, "xxh64:0000000000000000"); // drift in old data
    const sweep = await second.runOnce();
    expect(sweep.kind).toBe("sweep");
    expect(kinds(sweep.alerts)).toEqual(["drift:table"]);
    expect((await second.runOnce()).kind, "swept just now").toBe("incremental");
    const never = w.monitor({ fullSweepEveryMs: false });
    w.clock.advance(10 * 86_400_000);
    expect((await never.runOnce()).kind).toBe("incremental");
  });

  it("on a ledger that keeps no checkpoints every pass is a full one", async () => {
    const w = await world();
    const ledger = new Proxy(w.ledger, {
      get(target, property, receiver) {
        if (property === "getCheckpoint" || property === "putCheckpoint") {
          return async () => {
            throw new LedgerError("unsupported", "no checkpoints here");
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const monitor = w.monitor({ ledger });
    for (let i = 0; i < 2; i++) {
      const pass = await monitor.runOnce();
      expect(pass.kind).toBe("full");
      expect(pass.report?.consistent).toBe(true);
      expect(pass.report?.range.entries).toBe(10);
    }
  });

  it("start() runs a pass at once and then every everyMs after the last ended; never two at once; stop() waits", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const w = await world();
    w.state.slow = 20;
    const passes: string[] = [];
    const monitor = w.monitor({ everyMs: 1000, onPass: (p) => void passes.push(p.kind) });
    monitor.start();
    monitor.start(); // a no-op
    expect(monitor.status().started).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    await vi.waitFor(() => expect(passes).toHaveLength(1));
    // A pass asked for while the schedule runs waits its turn.
    const asked = Promise.all([monitor.runOnce(), monitor.runOnce()]);
    await vi.advanceTimersByTimeAsync(999);
    await asked;
    expect(passes.length).toBe(3);
    await vi.advanceTimersByTimeAsync(5_000);
    await vi.waitFor(() => expect(passes.length).toBeGreaterThanOrEqual(4));
    expect(w.state.most, "two passes at once").toBe(1);
    const before = passes.length;
    await monitor.stop();
    expect(monitor.status()).toMatchObject({ started: false, running: false });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(passes.length).toBe(before);
  });

  it("stop() during a pass, then start(): one schedule, not two", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const w = await world();
    w.state.slow = 50;
    const starts: number[] = [];
    const monitor = w.monitor({ everyMs: 1000, onPass: () => void starts.push(Date.now()) });
    monitor.start();
    await vi.advanceTimersByTimeAsync(0); // the first pass is running
    const stopped = monitor.stop();
    monitor.start(); // a second pass at once, after the first
    await stopped;
    await vi.waitFor(() => expect(starts.length).toBe(2));
    // From here one pass a second: 10 s make 10 more, not 20.
    w.state.slow = 0;
    for (let i = 0; i < 10; i++) {
      const before = starts.length;
      await vi.advanceTimersByTimeAsync(1000);
      await vi.waitFor(() => expect(starts.length).toBeGreaterThan(before));
    }
    expect(starts.length).toBeGreaterThanOrEqual(12);
    expect(starts.length).toBeLessThanOrEqual(13);
    await monitor.stop();
  });
});

describe("createMonitor: bad options", () => {
  it("refuses them at once with a typed error naming the path", async () => {
    const w = await world(1);
    const cases: [Record<string, unknown>, string][] = [
      [{ everyMS: 1000 }, "options.everyMS"],
      [{ everyMs: 0 }, "options.everyMs"],
      [{ everyMs: Number.NaN }, "options.everyMs"],
      [{ fullSweepEveryMs: true }, "options.fullSweepEveryMs"],
      [{ lagAlertMs: -1 }, "options.lagAlertMs"],
      [{ baseline: { alpha: 2 } }, "options.baseline.alpha"],
      [{ baseline: { sigma: 3 } }, "options.baseline.sigma"],
      [{ baseline: { warmup: 0 } }, "options.baseline.warmup"],
      [{ concurrency: 0 }, "options.concurrency"],
      [{ maxFindings: -1 }, "options.maxFindings"],
      [{ onAlert: "https://hooks.example/x" }, "options.onAlert"],
      [{ metrics: {} }, "options.metrics"],
      [{ actor: "" }, "options.actor"],
      [{ sinks: [{ name: "t", lagToleranceMS: 5 }] }, "options.sinks[0].lagToleranceMS"],
    ];
    for (const [extra, path] of cases) {
      let caught: unknown;
      try {
        w.monitor(extra as Partial<MonitorOptions>);
      } catch (error) {
        caught = error;
      }
      expect(caught, path).toBeInstanceOf(InvalidArgumentError);
      expect((caught as InvalidArgumentError).path, JSON.stringify(extra)).toBe(path);
    }
    // @ts-expect-error: no options at all
    expect(() => createMonitor()).toThrow(InvalidArgumentError);
    const monitor = w.monitor();
    // @ts-expect-error: bad input on purpose
    await expect(monitor.runOnce({ sweep: "yes" })).rejects.toMatchObject({
      path: "options.sweep",
    });
    // @ts-expect-error: bad input on purpose
    await expect(monitor.runOnce({ swep: true })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
