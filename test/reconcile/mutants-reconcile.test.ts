/**
 * Pins what reconcile checks in its options and sink descriptions (the exact error path
 * and message), how it treats sinks that could not be read, ledger damage, progress,
 * empty ranges, upcast expectations and timing.
 */
import { format } from "node:util";
import createDebug from "debug";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  CorruptionError,
  createSealer,
  type Envelope,
  isSinkproofError,
  type LedgerEntry,
  LedgerError,
  MemoryLedger,
  type Receipt,
  type ReconcileOptions,
  type ReconcileProgress,
  type ReconcileSink,
  reconcile,
  repair,
  type ScanQuery,
} from "../../src/index.js";
import { createManualClock, createMemorySink } from "../../src/testing/index.js";
import { build, order, T0 } from "./scenario.js";

/** Awaits `run` and returns the SinkproofError it rejected with. */
async function rejection(run: () => Promise<unknown>) {
  let thrown: unknown;
  try {
    await run();
  } catch (error) {
    thrown = error;
  }
  if (!isSinkproofError(thrown)) {
    throw new Error(`expected a SinkproofError, got ${String(thrown)}`, { cause: thrown });
  }
  return thrown;
}

/** Expects reconcile to refuse `options` with exactly this path and message. */
async function refuses(options: unknown, path: string, message: string) {
  const error = await rejection(() => reconcile(options as ReconcileOptions));
  expect(error.code).toBe("invalid_argument");
  expect(error.path).toBe(path);
  expect(error.message).toBe(message);
}

/** A memory ledger that records every scan asked of it. */
class RecordingLedger extends MemoryLedger {
  readonly scans: { from: number | undefined; to: number | undefined }[] = [];
  override scan(query?: ScanQuery): AsyncIterable<LedgerEntry> {
    this.scans.push({ from: query?.from, to: query?.to });
    return super.scan(query);
  }
}

async function recordingLedger(n: number) {
  const { clock, ledger, envelopes } = await build(
    n,
    {},
    (now) => new RecordingLedger({ clock: now }),
  );
  return { clock, ledger, envelopes };
}

const ZERO_COUNTS = {
  matched: 0,
  "missing-late": 0,
  "missing-lost": 0,
  duplicate: 0,
  mismatched: 0,
  unexpected: 0,
};

describe("reconcile options: exact refusals", () => {
  it("refuses a missing options object as such", async () => {
    await refuses(undefined, "options", "options must be an object, got undefined");
  });

  it("refuses a ledger that is not an object, or lacks a method", async () => {
    const sinks: ReconcileSink[] = [];
    await refuses(
      { ledger: 5, sinks },
      "options.ledger",
      "options.ledger must be a Ledger, got number",
    );
    await refuses(
      { ledger: null, sinks },
      "options.ledger",
      "options.ledger must be a Ledger, got null",
    );
    const { ledger } = await build(0);
    const partial = { head: () => ledger.head() };
    await refuses(
      { ledger: partial, sinks },
      "options.ledger",
      "options.ledger must be a Ledger (it has no scan() method)",
    );
    const unreadable = {
      get head(): never {
        throw new Error("boom");
      },
    };
    const error = await rejection(() => reconcile({ ledger: unreadable as never, sinks }));
    expect(error.path).toBe("options.ledger.head");
    expect(error.message).toBe("options.ledger.head could not be read: boom");
  });

  it("refuses a clock, onProgress, maxFindings or actor of the wrong kind", async () => {
    const { ledger } = await build(1);
    const sinks: ReconcileSink[] = [{ name: "s", observe: () => [] }];
    await refuses(
      { ledger, sinks, clock: 5 },
      "options.clock",
      "options.clock must be a function returning ms since the epoch",
    );
    await refuses(
      { ledger, sinks, onProgress: 5 },
      "options.onProgress",
      "options.onProgress must be a function",
    );
    await refuses(
      { ledger, sinks, maxFindings: -1 },
      "options.maxFindings",
      "options.maxFindings must be a non-negative integer, got -1",
    );
    await refuses(
      { ledger, sinks, actor: "" },
      "options.actor",
      "options.actor must be a non-empty string",
    );
    await refuses(
      { ledger, sinks, actor: 5 },
      "options.actor",
      "options.actor must be a non-empty string",
    );
  });

  it("refuses a range position that is not a positive integer", async () => {
    const { ledger } = await build(1);
    await refuses(
      { ledger, sinks: [], range: { from: 0 } },
      "options.range.from",
      "options.range.from must be a positive integer, got 0",
    );
  });

  it("refuses a clock answering no valid Date, and takes the last valid one", async () => {
    const { ledger } = await build(1);
    const sinks: ReconcileSink[] = [{ name: "s", observe: () => [] }];
    for (const [value, shown] of [
      [Number.NaN, "NaN"],
      [8.64e15 + 1, "8640000000000001"],
      [-8.64e15 - 1, "-8640000000000001"],
    ] as const) {
      await refuses(
        { ledger, sinks, clock: () => value },
        "options.clock()",
        `options.clock() must return ms since the epoch (a valid Date), got ${shown}`,
      );
    }
    const report = await reconcile({ ledger, sinks, clock: () => 8.64e15 });
    expect(report.generatedAt).toBe("+275760-09-13T00:00:00.000Z");
  });

  it("refuses an unknown freezeOn kind and a negative threshold", async () => {
    const { ledger } = await build(1);
    const sinks: ReconcileSink[] = [{ name: "s", observe: () => [] }];
    await refuses(
      { ledger, sinks, freezeOn: { bogus: 1 } },
      "options.freezeOn.bogus",
      "options.freezeOn.bogus is not a kind a sink can be frozen on (known: missing-lost, duplicate, mismatched, unexpected, contradicted)",
    );
    await refuses(
      { ledger, sinks, freezeOn: { mismatched: -1 } },
      "options.freezeOn.mismatched",
      "options.freezeOn.mismatched must be a non-negative integer, got number",
    );
  });
});

describe("sink descriptions: exact refusals", () => {
  async function refusesSink(sink: unknown, path: string, message: string) {
    const { ledger } = await build(1);
    await refuses({ ledger, sinks: [sink] }, path, message);
  }

  it("refuses a sink that is not an object", async () => {
    await refusesSink(
      5,
      "options.sinks[0]",
      "options.sinks[0] must be a sink description, got number",
    );
    await refusesSink(
      null,
      "options.sinks[0]",
      "options.sinks[0] must be a sink description, got null",
    );
  });

  it("refuses a negative lag tolerance and an observe that is not a function", async () => {
    await refusesSink(
      { name: "s", lagToleranceMs: -1 },
      "options.sinks[0].lagToleranceMs",
      "options.sinks[0].lagToleranceMs must be a finite number ≥ 0, got -1",
    );
    await refusesSink(
      { name: "s", observe: 5 },
      "options.sinks[0].observe",
      "options.sinks[0].observe must be a function, got number",
    );
  });

  it("refuses a digest that is not { digest, observeRange }", async () => {
    const message = "options.sinks[0].digest must be { digest(split), observeRange(range) }";
    for (const digest of [5, null, { digest: () => [] }, { observeRange: () => [] }]) {
      await refusesSink({ name: "s", digest }, "options.sinks[0].digest", message);
    }
    const throwing = (key: string) => ({
      digest: () => [],
      observeRange: () => [],
      get [key](): never {
        throw new Error("boom");
      },
    });
    await refusesSink(
      { name: "s", digest: throwing("digest") },
      "options.sinks[0].digest.digest",
      "options.sinks[0].digest.digest could not be read: boom",
    );
    await refusesSink(
      { name: "s", digest: throwing("observeRange") },
      "options.sinks[0].digest.observeRange",
      "options.sinks[0].digest.observeRange could not be read: boom",
    );
  });

  it("refuses a guard that is not a guard, or is another sink's", async () => {
    const message = "options.sinks[0].guard must be a guard made by guardSink()";
    const fn = () => {};
    // A function named like the sink, carrying deliver and freeze: not a guard object.
    const callable = Object.assign(function s() {}, { deliver: fn, freeze: fn });
    for (const guard of [
      5,
      null,
      callable,
      { deliver: fn, name: "s" },
      { freeze: fn, name: "s" },
    ]) {
      await refusesSink({ name: "s", guard }, "options.sinks[0].guard", message);
    }
    const { ledger } = await build(1);
    const other = createMemorySink({ name: "other", ledger });
    await refuses(
      { ledger, sinks: [{ name: "s", guard: other.guard }] },
      "options.sinks[0].guard",
      'options.sinks[0].guard is the guard of sink "other", not "s"',
    );
  });

  it("refuses bad accepts and registry at their paths, and accepts with digest", async () => {
    const bad = await rejection(async () => {
      const { ledger } = await build(1);
      return reconcile({ ledger, sinks: [{ name: "s", accepts: 5 as never }] });
    });
    expect(bad.path).toBe("options.sinks[0].accepts");
    const registry = await rejection(async () => {
      const { ledger } = await build(1);
      return reconcile({ ledger, sinks: [{ name: "s", registry: 5 as never }] });
    });
    expect(registry.path).toBe("options.sinks[0].registry");
    expect(registry.message).toBe(
      "options.sinks[0].registry must be a schema registry, got number",
    );
    await refusesSink(
      {
        name: "s",
        accepts: { order: [1, 1] },
        digest: { digest: () => [], observeRange: () => [] },
      },
      "options.sinks[0].accepts",
      "options.sinks[0].accepts cannot be used with digest: digest mode compares row hashes of the ledger's checksums; reconcile a sink that holds upcast versions with observe",
    );
  });

  it("refuses a sink name given twice", async () => {
    const { ledger } = await build(1);
    await refuses(
      {
        ledger,
        sinks: [
          { name: "s", observe: () => [] },
          { name: "s", observe: () => [] },
        ],
      },
      "options.sinks[1].name",
      'options.sinks[1].name "s" is given twice',
    );
  });

  it("reads a sink's accepts once: the checked ranges are used, not the caller's object", async () => {
    const { ledger, envelopes, clock } = await build(2);
    let reads = 0;
    const accepts = {
      get order() {
        reads++;
        return reads === 1 ? [1, 1] : "garbage";
      },
    };
    const observe = () => envelopes.map((e) => ({ key: e.key, checksum: e.checksum }));
    const report = await reconcile({
      ledger,
      sinks: [{ name: "s", observe, accepts: accepts as never }],
      clock: clock.now,
    });
    expect(reads).toBe(1);
    expect(report.sinks[0]?.counts.matched).toBe(2);
    expect(report.consistent).toBe(true);
  });
});

describe("sinks that could not be read", () => {
  it("an unreadable sink is not judged during the scan; the others are", async () => {
    const { ledger, envelopes, clock } = await recordingLedger(3);
    const rows = envelopes.map((e) => ({ key: e.key, checksum: e.checksum }));
    const report = await reconcile({
      ledger,
      sinks: [
        {
          name: "broken",
          observe: () => {
            throw new Error("boom");
          },
        },
        { name: "ok", observe: () => rows },
      ],
      clock: clock.now,
    });
    const [broken, ok] = report.sinks;
    expect(broken?.error).toEqual({ code: "sink_read_failed", message: "boom" });
    expect(broken?.counts).toEqual(ZERO_COUNTS);
    expect(broken?.findings).toEqual([]);
    expect(broken?.consistent).toBe(false);
    expect(ok?.error).toBeUndefined();
    expect(ok?.counts).toEqual({ ...ZERO_COUNTS, matched: 3 });
    expect(ok?.consistent).toBe(true);
    expect(report.consistent).toBe(false);
  });

  it("when no sink could be read, the ledger range is not scanned", async () => {
    const { ledger, clock } = await recordingLedger(3);
    const seen: ReconcileProgress[] = [];
    const report = await reconcile({
      ledger,
      sinks: [
        {
          name: "broken",
          observe: () => {
            throw new Error("boom");
          },
        },
      ],
      clock: clock.now,
      onProgress: (p) => seen.push(p),
    });
    expect(report.sinks[0]?.error?.code).toBe("sink_read_failed");
    // Only the first entry's read (for the observe range's `since`).
    expect(ledger.scans).toEqual([{ from: 1, to: 1 }]);
    expect(seen.filter((p) => p.phase === "compare")).toEqual([
      { sink: undefined, phase: "compare", done: 0, total: 3 },
    ]);
  });

  it("a digest sink refused at prepare is not hashed for", async () => {
    const { ledger, clock } = await recordingLedger(3);
    const seen: ReconcileProgress[] = [];
    const report = await reconcile({
      ledger,
      sinks: [{ name: "d", digest: { digest: () => [], observeRange: () => [] } }],
      range: { from: 2 },
      clock: clock.now,
      onProgress: (p) => seen.push(p),
    });
    expect(report.sinks[0]?.basis).toBe("digest");
    expect(report.sinks[0]?.error).toMatchObject({
      code: "invalid_argument",
      path: "options.range.from",
    });
    expect(report.sinks[0]?.counts).toEqual(ZERO_COUNTS);
    expect(ledger.scans).toEqual([{ from: 2, to: 2 }]);
    expect(seen.filter((p) => p.phase === "compare")).toEqual([
      { sink: undefined, phase: "compare", done: 0, total: 2 },
    ]);
  });

  it("a digest sink and an observed sink reconcile together in one scan", async () => {
    const { ledger, sink, envelopes, clock } = await build(5, { digest: true });
    await sink.guard?.deliverAll(envelopes);
    const rows = envelopes.map((e) => ({ key: e.key, checksum: e.checksum }));
    const report = await reconcile({
      ledger,
      sinks: [{ name: "plain", observe: () => rows }, sink],
      clock: clock.now,
    });
    expect(report.sinks.map((s) => [s.name, s.basis, s.error, s.consistent])).toEqual([
      ["plain", "observed", undefined, true],
      ["store", "digest", undefined, true],
    ]);
    expect(report.sinks[1]?.counts.matched).toBe(5);
    expect(report.consistent).toBe(true);
  });
});

describe("ledger failures abort the whole call", () => {
  it("ledger damage while a sink's receipts are read is thrown, not kept on the sink", async () => {
    const damage = new CorruptionError("damaged", { file: "RecordingLedger", offset: 0 });
    class Damaged extends MemoryLedger {
      override scanReceipts(): AsyncIterable<Receipt> {
        return {
          [Symbol.asyncIterator]: () => ({
            next: () => Promise.reject(damage),
          }),
        };
      }
    }
    const clock = createManualClock(T0);
    const ledger = new Damaged({ clock: clock.now });
    const seal = createSealer({ clock: clock.now });
    await ledger.append([
      seal({
        producer: "p",
        seq: 0,
        type: "order.created",
        schema: { name: "order", version: 1 },
        payload: order(0),
      }),
    ]);
    const thrown = await rejection(() =>
      reconcile({ ledger, sinks: [{ name: "receipts-only" }], clock: clock.now }),
    );
    expect(thrown).toBe(damage);
  });

  it("a ledger failure while a missing entry's receipts are looked up is thrown", async () => {
    const failure = new LedgerError("unavailable", "ledger is down");
    class Failing extends RecordingLedger {
      override getReceipts(): Promise<readonly Receipt[]> {
        return Promise.reject(failure);
      }
    }
    const clock = createManualClock(T0);
    const ledger = new Failing({ clock: clock.now });
    const seal = createSealer({ clock: clock.now });
    await ledger.append([
      seal({
        producer: "p",
        seq: 0,
        type: "order.created",
        schema: { name: "order", version: 1 },
        payload: order(0),
      }),
    ]);
    const thrown = await rejection(() =>
      reconcile({ ledger, sinks: [{ name: "s", observe: () => [] }], clock: clock.now }),
    );
    expect(thrown).toBe(failure);
  });
});

describe("empty ranges", () => {
  it("a range past the head reads no entries", async () => {
    const { ledger, clock } = await recordingLedger(3);
    const seen: ReconcileProgress[] = [];
    const report = await reconcile({
      ledger,
      sinks: [{ name: "s", observe: () => [] }],
      range: { from: 5 },
      clock: clock.now,
      onProgress: (p) => seen.push(p),
    });
    expect(report.range).toEqual({ from: 5, to: 4, entries: 0 });
    expect(report.sinks[0]?.counts).toEqual(ZERO_COUNTS);
    expect(report.consistent).toBe(true);
    expect(ledger.scans).toEqual([]);
    expect(seen.filter((p) => p.phase === "compare")).toEqual([
      { sink: undefined, phase: "compare", done: 0, total: 0 },
    ]);
  });

  it("an empty ledger is not scanned", async () => {
    const { ledger, clock } = await recordingLedger(0);
    const report = await reconcile({
      ledger,
      sinks: [{ name: "s", observe: () => [] }],
      clock: clock.now,
    });
    expect(report.range).toEqual({ from: 1, to: 0, entries: 0 });
    expect(report.consistent).toBe(true);
    expect(ledger.scans).toEqual([]);
  });
});

describe("what a sink report says", () => {
  it("a clean sink is not truncated; one past maxFindings is", async () => {
    const { ledger, sink, envelopes, clock } = await build(3);
    await sink.guard?.deliverAll(envelopes);
    const clean = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(clean.sinks[0]?.truncated).toBe(false);
    sink.put("ghost", { id: "ghost" });
    const capped = await reconcile({ ledger, sinks: [sink], clock: clock.now, maxFindings: 0 });
    expect(capped.sinks[0]?.truncated).toBe(true);
    expect(capped.sinks[0]?.findings).toEqual([]);
    expect(capped.sinks[0]?.counts.unexpected).toBe(1);
  });

  it("a duplicate alone makes a sink inconsistent, and so does an unexpected key alone", async () => {
    const { ledger, sink, envelopes, clock } = await build(3);
    await sink.guard?.deliverAll(envelopes);
    const first = envelopes[0] as Envelope;
    sink.put(first.key, order(0), 2);
    const duplicated = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(duplicated.sinks[0]?.counts).toEqual({ ...ZERO_COUNTS, matched: 2, duplicate: 1 });
    expect(duplicated.sinks[0]?.consistent).toBe(false);
    expect(duplicated.consistent).toBe(false);

    sink.put(first.key, order(0), 1);
    sink.put("ghost", { id: "ghost" });
    const haunted = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(haunted.sinks[0]?.counts).toEqual({ ...ZERO_COUNTS, matched: 3, unexpected: 1 });
    expect(haunted.sinks[0]?.consistent).toBe(false);
    expect(haunted.consistent).toBe(false);
  });

  it("reports compare progress every 10,000 entries, then once at the end", async () => {
    const clock = createManualClock(T0);
    const ledger = new MemoryLedger({ clock: clock.now });
    const seal = createSealer({ clock: clock.now });
    const n = 10_001;
    const batch: Envelope[] = [];
    for (let i = 0; i < n; i++) {
      batch.push(
        seal({
          producer: "p",
          seq: i,
          type: "tick",
          schema: { name: "tick", version: 1 },
          payload: i,
        }),
      );
    }
    await ledger.append(batch);
    const seen: ReconcileProgress[] = [];
    const rows = batch.map((e) => ({ key: e.key, checksum: e.checksum }));
    const report = await reconcile({
      ledger,
      sinks: [{ name: "s", observe: () => rows }],
      clock: clock.now,
      onProgress: (p) => seen.push(p),
    });
    expect(report.sinks[0]?.counts.matched).toBe(n);
    expect(seen.filter((p) => p.sink === undefined)).toEqual([
      { sink: undefined, phase: "compare", done: 10_000, total: n },
      { sink: undefined, phase: "compare", done: n, total: n },
    ]);
  });
});

describe("sinks that hold upcast versions", () => {
  it("an entry that cannot be upcast into the sink's range is expected as it is", async () => {
    const { ledger, envelopes, clock } = await build(2);
    const [a, b] = envelopes as [Envelope, Envelope];
    const report = await reconcile({
      ledger,
      sinks: [
        {
          name: "v2",
          accepts: { order: [2, 2] },
          lagToleranceMs: 0,
          observe: () => [{ key: a.key, checksum: a.checksum }],
        },
      ],
      clock: clock.now,
    });
    const s = report.sinks[0];
    expect(s?.error).toBeUndefined();
    expect(s?.counts).toEqual({ ...ZERO_COUNTS, matched: 1, "missing-lost": 1 });
    expect(s?.findings).toMatchObject([{ kind: "missing-lost", key: b.key, expected: b.checksum }]);
  });

  it("repair rewrites an entry that cannot be upcast as the ledger holds it", async () => {
    const { ledger, envelopes, clock } = await build(1);
    const a = envelopes[0] as Envelope;
    const held = new Map<string, string>([[a.key, "xxh64:0000000000000000"]]);
    const rewritten: Envelope[] = [];
    const sink: ReconcileSink = {
      name: "v2",
      accepts: { order: [2, 2] },
      observe: () => [...held].map(([key, checksum]) => ({ key, checksum })),
      rewrite: (envelope) => {
        rewritten.push(envelope);
        held.set(envelope.key, envelope.checksum);
      },
    };
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(report.sinks[0]?.counts.mismatched).toBe(1);
    const result = await repair(report, {
      ledger,
      sinks: [sink],
      clock: clock.now,
      actor: "alice",
      reason: "INC-2",
    });
    expect(rewritten.map((e) => [e.key, e.checksum, e.schema.version])).toEqual([
      [a.key, a.checksum, 1],
    ]);
    expect(result.converged).toBe(true);
  });
});

describe("timing", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("times each sink and the whole call from performance.now()", async () => {
    const { ledger, sink, envelopes, clock } = await build(3);
    await sink.guard?.deliverAll(envelopes);
    let now = 1_000_000;
    vi.spyOn(performance, "now").mockImplementation(() => {
      now += 1;
      return now;
    });
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const sinkMs = report.sinks[0]?.durationMs ?? Number.NaN;
    // Two timed steps (read the sink, settle leftovers), each at least one tick.
    expect(sinkMs).toBeGreaterThanOrEqual(2);
    expect(sinkMs).toBeLessThan(10_000);
    expect(report.durationMs).toBeGreaterThanOrEqual(sinkMs);
    expect(report.durationMs).toBeLessThan(10_000);
  });
});

describe("debug logging (DEBUG=sinkproof:reconcile)", () => {
  it("logs the range reconciled and each sink that could not be reconciled", async () => {
    const { ledger, clock } = await build(3);
    const lines: string[] = [];
    const log = createDebug.log;
    const previous = createDebug.disable();
    createDebug.log = (...args: unknown[]) => {
      lines.push(format(...args));
    };
    createDebug.enable("sinkproof:reconcile");
    try {
      await reconcile({
        ledger,
        sinks: [
          {
            name: "broken",
            observe: () => {
              throw new Error("boom");
            },
          },
        ],
        clock: clock.now,
      });
    } finally {
      createDebug.log = log;
      createDebug.disable();
      if (previous !== "") createDebug.enable(previous);
    }
    expect(lines.some((l) => l.includes("reconciling 1 sinks over positions 1..3"))).toBe(true);
    expect(lines.some((l) => l.includes("sink broken could not be reconciled: boom"))).toBe(true);
  });
});
