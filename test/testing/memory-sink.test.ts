import { describe, expect, it } from "vitest";
import {
  checksum,
  createSealer,
  type Envelope,
  InvalidArgumentError,
  MemoryLedger,
  reconcile,
} from "../../src/index.js";
import { createMemorySink } from "../../src/testing/index.js";

const seal = createSealer();
function envelopes(n: number): Envelope[] {
  return Array.from({ length: n }, (_, i) =>
    seal({
      producer: "p",
      seq: i,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { i, name: `n${i}`, ok: true },
    }),
  );
}

async function run(faults: Parameters<typeof createMemorySink>[0]["faults"], n = 1000) {
  const ledger = new MemoryLedger();
  const all = envelopes(n);
  await ledger.append(all);
  const sink = createMemorySink({
    name: "s",
    ledger,
    faults,
    guardOptions: { retry: { attempts: 1 } },
  });
  await sink.guard?.deliverAll(all);
  return { ledger, sink, all };
}

describe("createMemorySink", () => {
  it("injects each fault at about its rate, and the same faults for the same seed", async () => {
    const a = await run({ seed: 42, drop: 0.05, duplicate: 0.03, corrupt: 0.02 });
    const b = await run({ seed: 42, drop: 0.05, duplicate: 0.03, corrupt: 0.02 });
    const c = await run({ seed: 43, drop: 0.05, duplicate: 0.03, corrupt: 0.02 });
    const stats = a.sink.stats();
    expect(stats.writes).toBe(1000);
    expect(stats.dropped).toBeGreaterThan(25);
    expect(stats.dropped).toBeLessThan(80);
    expect(stats.duplicated).toBeGreaterThan(10);
    expect(stats.corrupted).toBeGreaterThan(5);
    expect(b.sink.stats()).toEqual(stats);
    expect([...b.sink.rows()]).toEqual([...a.sink.rows()]);
    expect(c.sink.stats()).not.toEqual(stats);
    // What reconciliation finds is exactly what was injected.
    const report = await reconcile({
      ledger: a.ledger,
      sinks: [{ ...a.sink, lagToleranceMs: 0 }],
      clock: () => Date.now() + 1,
    });
    const counts = report.sinks[0]?.counts;
    expect(counts?.["missing-lost"]).toBe(stats.dropped);
    // A write both duplicated and corrupted counts once, as mismatched.
    expect((counts?.duplicate ?? 0) + (counts?.mismatched ?? 0)).toBe(
      [...a.sink.rows().values()].filter(
        (r) => r.count > 1 || !a.all.some((e) => e.checksum === r.checksum),
      ).length,
    );
    expect(report.sinks[0]?.contradicted).toBe(stats.dropped);
  });

  it("is offline for a window of write calls, then back; heal() stops every fault", async () => {
    const { sink, all } = await run({ offline: { from: 11, to: 20 } }, 40);
    expect(sink.stats()).toMatchObject({ writes: 40, refused: 10, stored: 30 });
    expect(sink.size).toBe(30);
    sink.setOffline(true);
    expect(() => sink.write(all[0] as Envelope, {} as never)).toThrow(
      expect.objectContaining({ code: "sink_offline" }),
    );
    sink.heal();
    sink.write(all[10] as Envelope, {} as never);
    expect(sink.size).toBe(31);
  });

  it("observes checksums or payloads, digests, rewrites and removes", async () => {
    const ledger = new MemoryLedger();
    const all = envelopes(3);
    await ledger.append(all);
    const sink = createMemorySink({ name: "s", observe: "payload", digest: true });
    for (const e of all) sink.write(e, {} as never);
    expect([...sink.observe()]).toEqual(
      all.map((e) => ({ key: e.key, payload: e.payload, count: 1 })),
    );
    sink.put((all[0] as Envelope).key, { altered: true }, 2);
    expect(sink.get((all[0] as Envelope).key)?.count).toBe(2);
    sink.rewrite(all[0] as Envelope);
    expect(sink.get((all[0] as Envelope).key)).toMatchObject({
      count: 1,
      checksum: (all[0] as Envelope).checksum,
    });
    sink.remove((all[1] as Envelope).key);
    expect(sink.delete((all[1] as Envelope).key)).toBe(false);
    const report = await reconcile({ ledger, sinks: [sink], clock: () => Date.now() + 120_000 });
    expect(report.sinks[0]).toMatchObject({
      basis: "digest",
      counts: { matched: 2, "missing-lost": 1 },
    });
  });

  it("rejects malformed options with typed errors naming the path", () => {
    const bad: [unknown, string][] = [
      [null, "options"],
      [{}, "options.name"],
      [{ name: "s", faults: 1 }, "options.faults"],
      [{ name: "s", faults: { drop: 2 } }, "options.faults.drop"],
      [{ name: "s", faults: { duplicate: Number.NaN } }, "options.faults.duplicate"],
      [{ name: "s", faults: { corrupt: -0.1 } }, "options.faults.corrupt"],
      [{ name: "s", faults: { seed: 1.5 } }, "options.faults.seed"],
      [{ name: "s", faults: { offline: { from: 5, to: 1 } } }, "options.faults.offline"],
      [{ name: "s", observe: "rows" }, "options.observe"],
    ];
    for (const [options, path] of bad) {
      let error: unknown;
      try {
        createMemorySink(options as never);
      } catch (e) {
        error = e;
      }
      expect(error, path).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).path).toBe(path);
    }
    expect(() => createMemorySink({ name: "s" }).put("k", 1, 0)).toThrow(InvalidArgumentError);
  });

  it("tamper edits a row's payload or its stored checksum, each without the other", () => {
    const modes = ["checksum", "payload", "both"] as const;
    for (const observe of modes) {
      const sink = createMemorySink({ name: "s", observe, digest: true });
      sink.put("k", { a: 1 });
      const original = sink.get("k")?.checksum;
      expect(sink.tamper("k", { payload: { a: 2 } })).toBe(true);
      expect(sink.get("k")).toEqual({ payload: { a: 2 }, checksum: original, count: 1 });
      const [row] = [...sink.observe()];
      expect(row).toEqual(
        observe === "checksum"
          ? { key: "k", checksum: original, count: 1 }
          : observe === "payload"
            ? { key: "k", payload: { a: 2 }, count: 1 }
            : { key: "k", checksum: original, payload: { a: 2 }, count: 1 },
      );
      // Digest mode finds the row by its stored checksum, as a row-hash index would.
      const digest = sink.digest;
      if (digest === undefined) throw new Error("no digest");
      const rows = [...(digest.observeRange({ from: 0, to: 2 ** 32 }) as Iterable<unknown>)];
      expect(rows).toEqual([
        observe === "checksum"
          ? { key: "k", checksum: original, count: 1 }
          : { key: "k", checksum: original, payload: { a: 2 }, count: 1 },
      ]);
      const other = checksum({ b: 1 });
      expect(sink.tamper("k", { checksum: other })).toBe(true);
      expect(sink.get("k")).toEqual({ payload: { a: 2 }, checksum: other, count: 1 });
    }
    const sink = createMemorySink({ name: "s" });
    expect(sink.tamper("absent", { payload: 1 })).toBe(false);
    expect(() => sink.tamper("absent", { checksum: "nope" })).toThrow(InvalidArgumentError);
    expect(() => sink.tamper("absent", null as never)).toThrow(InvalidArgumentError);
  });
});
