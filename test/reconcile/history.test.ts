/**
 * Consistency-window history: `reconcile({ history })` records each readable sink's window
 * in the ledger and hands each report the sink's recent samples; the HTML report draws
 * them as an SVG time series (and refuses a report whose history is not one); the monitor
 * keeps history by default, turns it off for a ledger without it, and fails its passes
 * when history was asked for explicitly; bad options are typed errors.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { JsonFileLedger } from "../../examples/custom-ledger.js";
import {
  createMonitor,
  createSealer,
  type Envelope,
  FileLedger,
  type Ledger,
  MemoryLedger,
  type Observation,
  type ReconcileSink,
  reconcile,
  renderReport,
  WINDOW_HISTORY_LIMIT,
} from "../../src/index.js";
import { createManualClock } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-history-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

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

async function world(ledger?: Ledger) {
  const clock = createManualClock(Date.parse("2026-06-01T12:00:00.000Z"));
  const l = ledger ?? new MemoryLedger({ clock: clock.now });
  const rows = new Map<string, string>();
  const state = { fail: false };
  const append = async (n: number, copy = true) => {
    const list = Array.from({ length: n }, envelope);
    await l.append(list);
    if (copy) for (const e of list) rows.set(e.key, e.checksum);
  };
  const sink: ReconcileSink = {
    name: "table",
    lagToleranceMs: 60_000,
    async *observe(): AsyncIterable<Observation> {
      if (state.fail) throw new Error("the table is offline");
      for (const [key, checksum] of rows) yield { key, checksum };
    },
  };
  const other: ReconcileSink = {
    name: "other",
    async *observe(): AsyncIterable<Observation> {},
  };
  return { clock, ledger: l, rows, state, append, sink, other };
}

describe("reconcile({ history })", () => {
  it("records each sink's window per pass and hands the report its recent history", async () => {
    const w = await world();
    await w.append(5);
    const first = await reconcile({
      ledger: w.ledger,
      sinks: [w.sink],
      clock: w.clock.now,
      history: true,
    });
    expect(first.sinks[0]?.history).toEqual([
      {
        sink: "table",
        at: first.generatedAt,
        position: 5,
        behindEntries: 0,
        behindMs: 0,
        consistent: true,
      },
    ]);
    await w.append(3, false); // not at the sink: late, then lost
    w.clock.advance(20_000);
    const late = await reconcile({
      ledger: w.ledger,
      sinks: [w.sink],
      clock: w.clock.now,
      history: true,
    });
    w.clock.advance(60_000);
    const lost = await reconcile({
      ledger: w.ledger,
      sinks: [w.sink],
      clock: w.clock.now,
      history: true,
    });
    const history = lost.sinks[0]?.history ?? [];
    expect(history.map((s) => [s.position, s.behindEntries, s.behindMs, s.consistent])).toEqual([
      [5, 0, 0, true],
      [5, 3, 20_000, true],
      [5, 3, 80_000, false],
    ]);
    expect(history.map((s) => s.at)).toEqual([
      first.generatedAt,
      late.generatedAt,
      lost.generatedAt,
    ]);
    expect(await w.ledger.windowHistory("table")).toEqual(history);
    // Without the option nothing is recorded, and the report has no history.
    const plain = await reconcile({ ledger: w.ledger, sinks: [w.sink], clock: w.clock.now });
    expect(plain.sinks[0]?.history).toBeUndefined();
    expect(await w.ledger.windowHistory("table")).toHaveLength(3);
    // `points` cuts what the report carries, not what the ledger keeps.
    const cut = await reconcile({
      ledger: w.ledger,
      sinks: [w.sink],
      clock: w.clock.now,
      history: { points: 2 },
    });
    expect(cut.sinks[0]?.history?.map((s) => s.behindMs)).toEqual([80_000, 80_000]);
    expect(await w.ledger.windowHistory("table")).toHaveLength(4);
  });

  it("a sink that could not be read records no sample; the others do", async () => {
    const w = await world();
    await w.append(2);
    w.state.fail = true;
    const report = await reconcile({
      ledger: w.ledger,
      sinks: [w.sink, w.other],
      clock: w.clock.now,
      history: true,
    });
    expect(report.sinks[0]?.error).toBeDefined();
    expect(report.sinks[0]?.history).toEqual([]);
    // Late only (within the default tolerance): behind, and consistent.
    expect(report.sinks[1]?.history).toMatchObject([
      { sink: "other", consistent: true, behindEntries: 2 },
    ]);
  });

  it("keeps the history in a FileLedger across a reopen", async () => {
    const dir = join(root, "file");
    const clock = createManualClock(Date.parse("2026-06-01T12:00:00.000Z"));
    const ledger = await FileLedger.open(dir, { clock: clock.now });
    const w = await world(ledger);
    await w.append(2);
    await reconcile({ ledger, sinks: [w.sink], clock: clock.now, history: true });
    clock.advance(1000);
    await reconcile({ ledger, sinks: [w.sink], clock: clock.now, history: true });
    await ledger.close();
    const reopened = await FileLedger.open(dir, { clock: clock.now });
    clock.advance(1000);
    const report = await reconcile({
      ledger: reopened,
      sinks: [w.sink],
      clock: clock.now,
      history: true,
    });
    expect(report.sinks[0]?.history?.map((s) => s.at)).toEqual([
      "2026-06-01T12:00:00.000Z",
      "2026-06-01T12:00:01.000Z",
      "2026-06-01T12:00:02.000Z",
    ]);
    await reopened.close();
  });

  it("bad history options are typed errors naming the path", async () => {
    const w = await world();
    const cases: [unknown, string][] = [
      ["yes", "options.history"],
      [{ points: 0 }, "options.history.points"],
      [{ points: WINDOW_HISTORY_LIMIT + 1 }, "options.history.points"],
      [{ points: 2.5 }, "options.history.points"],
      [{ point: 3 }, "options.history.point"],
      [null, "options.history"],
    ];
    for (const [history, path] of cases) {
      await expect(
        reconcile({ ledger: w.ledger, sinks: [w.sink], history: history as never }),
        JSON.stringify(history),
      ).rejects.toMatchObject({ code: "invalid_argument", path });
    }
    // A ledger object without the methods: refused before anything is read.
    const {
      recordWindows: _r,
      windowHistory: _w,
      ...rest
    } = Object.fromEntries(
      Object.getOwnPropertyNames(MemoryLedger.prototype)
        .filter((name) => name !== "constructor")
        .map((name) => [
          name,
          (w.ledger as never as Record<string, (...a: unknown[]) => unknown>)[name]?.bind(w.ledger),
        ]),
    ) as Record<string, unknown>;
    const bare = { ...rest, capabilities: w.ledger.capabilities } as never as Ledger;
    await expect(reconcile({ ledger: bare, sinks: [w.sink], history: true })).rejects.toMatchObject(
      {
        code: "invalid_argument",
        path: "options.ledger",
      },
    );
    // A ledger whose adapter keeps none: the findings stand, and the report says why it
    // has no history.
    const custom = new JsonFileLedger(join(root, "custom.json"));
    const report = await reconcile({ ledger: custom, sinks: [w.sink], history: true });
    expect(report.consistent).toBe(true);
    expect(report.historyError?.code).toBe("unsupported");
    expect(report.sinks[0]?.history).toBeUndefined();
    expect(renderReport(report, { format: "markdown" })).toContain("Window history not kept");
    expect(renderReport(report, { format: "html" })).toContain("Window history not kept");
    await custom.close();
  });
});

describe("a history that fails does not take the findings with it", () => {
  it("a damaged stored sample: the loss is still reported, and the report says why it has no history", async () => {
    const path = join(root, "damaged.db");
    const { SqliteLedger } = await import("../../src/ledger/sqlite/index.js");
    const { default: Database } = await import("better-sqlite3");
    const clock = createManualClock(Date.parse("2026-06-01T12:00:00.000Z"));
    const ledger = await SqliteLedger.open(path, { clock: clock.now });
    const w = await world(ledger);
    await w.append(3);
    await reconcile({ ledger, sinks: [w.sink], clock: clock.now, history: true });
    const raw = new Database(path);
    raw
      .prepare(
        `UPDATE sinkproof_windows SET sample = replace(sample, '"position":3', '"position":-3')`,
      )
      .run();
    raw.close();
    w.rows.delete([...w.rows.keys()][0] as string);
    clock.advance(120_000);
    const report = await reconcile({ ledger, sinks: [w.sink], clock: clock.now, history: true });
    expect(report.sinks[0]?.counts["missing-lost"]).toBe(1);
    expect(report.historyError?.code).toBe("corruption");
    expect(report.sinks[0]?.history).toBeUndefined();
    await ledger.close();
  });
});

describe("a monitor whose first sink's history is damaged", () => {
  it("still reports the loss: the pass stands, with historyError", async () => {
    const w = await world();
    await w.append(2);
    const real = w.ledger;
    const damaged = new Proxy(real, {
      get(target, property, receiver) {
        if (property === "windowHistory")
          return async () => {
            throw Object.assign(new Error("a sample is not one"), { code: "corruption" });
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    w.rows.delete([...w.rows.keys()][0] as string);
    w.clock.advance(120_000);
    const alerts: string[] = [];
    const monitor = createMonitor({
      ledger: damaged,
      sinks: [w.sink],
      clock: w.clock.now,
      onAlert: (a) => {
        alerts.push(a.kind);
      },
    });
    const pass = await monitor.runOnce();
    expect(pass.error).toBeUndefined();
    expect(pass.report?.sinks[0]?.counts["missing-lost"]).toBe(1);
    expect(pass.report?.historyError?.code).toBe("corruption");
    expect(alerts).toEqual(["loss"]);
  });
});

describe("the HTML report's time series", () => {
  it("draws one point per pass, red where the pass was inconsistent; markdown gives the summary", async () => {
    const w = await world();
    await w.append(4);
    await reconcile({ ledger: w.ledger, sinks: [w.sink], clock: w.clock.now, history: true });
    await w.append(1, false);
    w.clock.advance(90_000);
    const report = await reconcile({
      ledger: w.ledger,
      sinks: [w.sink],
      clock: w.clock.now,
      history: true,
    });
    const html = renderReport(report, { format: "html" });
    const figure = /<figure class="history">[\s\S]*?<\/figure>/.exec(html)?.[0] ?? "";
    expect(figure).toContain("<svg");
    expect(figure.match(/<circle /g)).toHaveLength(2);
    expect(figure.match(/fill="#c62828"/g)).toHaveLength(1);
    expect(figure.match(/fill="#2e7d32"/g)).toHaveLength(1);
    expect(figure).toContain("<polyline");
    expect(figure).toContain(
      "2 passes from 2026-06-01T12:00:00.000Z to 2026-06-01T12:01:30.000Z: 1 inconsistent, at most 1 min 30 s behind",
    );
    expect(html).not.toContain("<script");
    const markdown = renderReport(report, { format: "markdown" });
    expect(markdown).toContain("1 inconsistent, at most 1 min 30 s behind");
    // Without history: no figure.
    const plain = await reconcile({ ledger: w.ledger, sinks: [w.sink], clock: w.clock.now });
    expect(renderReport(plain, { format: "html" })).not.toContain('class="history"');
  });

  it("draws extreme values inside the chart: a tiny or a huge time behind, one sample, equal times", async () => {
    const base = { sink: "other", position: 1, behindEntries: 1, consistent: true };
    const t = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
    const cases = [
      [
        { ...base, at: t(0), behindMs: 5e-324 },
        { ...base, at: t(1), behindMs: 0 },
      ],
      [
        { ...base, at: t(0), behindMs: 1.7e308 },
        { ...base, at: t(1), behindMs: 1 },
      ],
      [{ ...base, at: t(0), behindMs: 3 }],
      [
        { ...base, at: t(0), behindMs: 3 },
        { ...base, at: t(0), behindMs: 4 },
      ],
    ];
    const w = await world();
    const report = await reconcile({ ledger: w.ledger, sinks: [w.other], clock: w.clock.now });
    for (const history of cases) {
      const html = renderReport(
        { ...report, sinks: [{ ...(report.sinks[0] as (typeof report.sinks)[number]), history }] },
        { format: "html" },
      );
      const figure = /<figure class="history">[\s\S]*?<\/figure>/.exec(html)?.[0] ?? "";
      const numbers = [...figure.matchAll(/(?:cx|cy|points)="([^"]*)"/g)].flatMap((m) =>
        (m[1] as string).split(/[ ,]/).map(Number),
      );
      expect(numbers.length, JSON.stringify(history)).toBeGreaterThan(0);
      for (const n of numbers) {
        expect(Number.isFinite(n) && n >= 0 && n <= 600, `${n} in ${JSON.stringify(history)}`).toBe(
          true,
        );
      }
    }
  });

  it("refuses a report whose history is not a list of samples, naming the path", async () => {
    const w = await world();
    await w.append(1);
    const report = await reconcile({
      ledger: w.ledger,
      sinks: [w.sink],
      clock: w.clock.now,
      history: true,
    });
    const sink = report.sinks[0] as (typeof report.sinks)[number];
    const sample = (sink.history ?? [])[0];
    const bad: [unknown, string][] = [
      ["nope", "report.sinks[0].history"],
      [[{ ...sample, at: "<script>alert(1)</script>" }], "report.sinks[0].history[0].at"],
      [[{ ...sample, behindMs: Number.NaN }], "report.sinks[0].history[0].behindMs"],
      [[{ ...sample, extra: 1 }], "report.sinks[0].history[0].extra"],
    ];
    bad.push([
      Array.from({ length: WINDOW_HISTORY_LIMIT + 1 }, () => sample),
      "report.sinks[0].history",
    ]);
    for (const [history, path] of bad) {
      const hostile = { ...report, sinks: [{ ...sink, history }] };
      expect(() => renderReport(hostile as never, { format: "html" }), path).toThrow(
        expect.objectContaining({ code: "invalid_argument", path }),
      );
    }
  });
});

describe("createMonitor keeps history", () => {
  it("by default, on a ledger that keeps it: each pass's report carries the series", async () => {
    const w = await world();
    await w.append(3);
    const monitor = createMonitor({ ledger: w.ledger, sinks: [w.sink], clock: w.clock.now });
    await monitor.runOnce();
    w.clock.advance(1000);
    const pass = await monitor.runOnce();
    expect(pass.report?.sinks[0]?.history).toHaveLength(2);
    expect(await w.ledger.windowHistory("table")).toHaveLength(2);
    const off = createMonitor({
      ledger: w.ledger,
      sinks: [w.sink],
      clock: w.clock.now,
      history: false,
    });
    expect((await off.runOnce()).report?.sinks[0]?.history).toBeUndefined();
    expect(await w.ledger.windowHistory("table")).toHaveLength(2);
  });

  it("turns it off, silently, for a ledger without it; asked for explicitly, each report says why it has none", async () => {
    const w = await world(new JsonFileLedger(join(root, "monitor.json")));
    await w.append(2);
    const auto = createMonitor({ ledger: w.ledger, sinks: [w.sink], clock: w.clock.now });
    const pass = await auto.runOnce();
    expect(pass.error).toBeUndefined();
    expect(pass.report?.consistent).toBe(true);
    expect(pass.report?.sinks[0]?.history).toBeUndefined();
    const alerts: string[] = [];
    const explicit = createMonitor({
      ledger: w.ledger,
      sinks: [w.sink],
      clock: w.clock.now,
      history: true,
      onAlert: (a) => {
        alerts.push(a.kind);
      },
    });
    const explained = await explicit.runOnce();
    expect(explained.error).toBeUndefined();
    expect(explained.kind, "the checkpoints are still used").toBe(pass.kind);
    expect(explained.report?.historyError?.code).toBe("unsupported");
    expect(alerts).toEqual([]);
    expect(() =>
      createMonitor({ ledger: w.ledger, sinks: [w.sink], history: "auto" as never }),
    ).toThrow(expect.objectContaining({ code: "invalid_argument", path: "options.history" }));
    expect(() =>
      createMonitor({ ledger: w.ledger, sinks: [w.sink], history: { points: -1 } }),
    ).toThrow(
      expect.objectContaining({ code: "invalid_argument", path: "options.history.points" }),
    );
    await w.ledger.close();
  });
});
