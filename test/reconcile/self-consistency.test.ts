/**
 * A sink row whose stored checksum and payload disagree is never matched where the
 * sink's answer shows both, in every way of reading a sink; what each way cannot see is
 * exactly what docs/reconciliation.md says; `verifySinkPayloads` finds what digest mode
 * misses; and repair never says converged over a self-inconsistent row.
 */
import { describe, expect, it } from "vitest";
import {
  checksum,
  type Finding,
  type ReconcileSink,
  reconcile,
  repair,
  verifySinkPayloads,
} from "../../src/index.js";
import type { MemorySink } from "../../src/testing/index.js";
import { build, LAG, order } from "./scenario.js";

type Mode = "observe-checksum" | "observe-payload" | "observe-both" | "digest" | "digest-both";
type Edit = "payload" | "checksum" | "both";

const MODES: readonly Mode[] = [
  "observe-checksum",
  "observe-payload",
  "observe-both",
  "digest",
  "digest-both",
];

/** A sink of 40 entries, all delivered, then entry 7's row edited one way. */
async function edited(mode: Mode, edit: Edit) {
  const observe = mode.endsWith("both")
    ? "both"
    : mode === "observe-payload"
      ? "payload"
      : "checksum";
  const s = await build(40, { observe, digest: mode.startsWith("digest") });
  await s.sink.guard?.deliverAll(s.envelopes);
  s.clock.advance(LAG + 1);
  const target = s.envelopes[7] as (typeof s.envelopes)[number];
  const altered = { ...order(7), total: 0 };
  if (edit === "payload") s.sink.tamper(target.key, { payload: altered });
  else if (edit === "checksum") s.sink.tamper(target.key, { checksum: checksum({ other: 1 }) });
  else s.sink.put(target.key, altered); // payload and checksum changed together
  const view: ReconcileSink = mode.startsWith("digest")
    ? { name: s.sink.name, digest: s.sink.digest, lagToleranceMs: LAG }
    : { name: s.sink.name, observe: s.sink.observe, lagToleranceMs: LAG };
  return { ...s, target, view };
}

async function findingOf(mode: Mode, edit: Edit): Promise<Finding | "matched"> {
  const { ledger, clock, view } = await edited(mode, edit);
  const report = await reconcile({ ledger, sinks: [view], clock: clock.now });
  const sink = report.sinks[0];
  expect(sink?.error).toBeUndefined();
  if (sink?.findings.length === 0) {
    expect(sink.consistent).toBe(true);
    return "matched";
  }
  expect(sink?.findings).toHaveLength(1);
  expect(sink?.consistent).toBe(false);
  return sink?.findings[0] as Finding;
}

describe("a row whose stored checksum and payload disagree", () => {
  // What each way of reading a sink sees, per edit: the table in docs/reconciliation.md.
  const expected: Record<Edit, Record<Mode, string>> = {
    payload: {
      "observe-checksum": "matched", // blind: the stored checksum is the ledger's
      "observe-payload": "payload",
      "observe-both": "payload-edited",
      digest: "matched", // blind: the bucket digests use stored checksums
      "digest-both": "matched", // blind too: the row's bucket agrees, so it is never read
    },
    checksum: {
      "observe-checksum": "checksum",
      "observe-payload": "matched", // blind: the payload is the ledger's
      "observe-both": "checksum-edited",
      digest: "checksum",
      "digest-both": "checksum-edited",
    },
    both: {
      "observe-checksum": "checksum",
      "observe-payload": "payload",
      "observe-both": "value",
      digest: "checksum",
      "digest-both": "value",
    },
  };
  for (const edit of ["payload", "checksum", "both"] as const) {
    for (const mode of MODES) {
      const want = expected[edit][mode];
      it(`${edit} edited, read by ${mode}: ${want}`, async () => {
        const { envelopes } = await edited(mode, edit);
        const found = await findingOf(mode, edit);
        if (want === "matched") {
          expect(found).toBe("matched");
          return;
        }
        expect(found).toMatchObject({
          kind: "mismatched",
          key: envelopes[7]?.key,
          expected: envelopes[7]?.checksum,
          mismatch: want,
        });
        const f = found as Finding;
        if (want === "payload-edited") expect(f.storedChecksum).toBe(envelopes[7]?.checksum);
        if (want === "checksum-edited") {
          expect(f.observed).toBe(envelopes[7]?.checksum);
          expect(f.storedChecksum).toBe(checksum({ other: 1 }));
        }
        if (want === "value") expect(f.storedChecksum).toBeUndefined();
      });
    }
  }

  it("a payload and a checksum edited to two different wrong values are self-inconsistent", async () => {
    const s = await build(5, { observe: "both" });
    await s.sink.guard?.deliverAll(s.envelopes);
    const key = (s.envelopes[2] as { key: string }).key;
    s.sink.tamper(key, { payload: { x: 1 }, checksum: checksum({ y: 2 }) });
    const report = await reconcile({ ledger: s.ledger, sinks: [s.sink], clock: s.clock.now });
    expect(report.sinks[0]?.findings).toMatchObject([
      {
        kind: "mismatched",
        key,
        mismatch: "self-inconsistent",
        observed: checksum({ x: 1 }),
        storedChecksum: checksum({ y: 2 }),
      },
    ]);
  });

  it("a copy that disagrees with itself beside a good copy is mismatched, not duplicate", async () => {
    const s = await build(5, { observe: "both" });
    await s.sink.guard?.deliverAll(s.envelopes);
    const e = s.envelopes[1] as (typeof s.envelopes)[number];
    const sink: ReconcileSink = {
      name: "store",
      observe: () => [
        { key: e.key, checksum: e.checksum, payload: e.payload },
        { key: e.key, checksum: e.checksum, payload: { tampered: true } },
      ],
    };
    const report = await reconcile({ ledger: s.ledger, sinks: [sink], clock: s.clock.now });
    const found = report.sinks[0]?.findings.find((f) => f.key === e.key);
    expect(found).toMatchObject({ kind: "mismatched", mismatch: "payload-edited", count: 2 });
  });
});

describe("verifySinkPayloads", () => {
  async function digestSink(n: number) {
    const s = await build(n, { observe: "both", digest: true });
    await s.sink.guard?.deliverAll(s.envelopes);
    return s;
  }

  it("finds the payload edited under its checksum that digest mode reads as matched", async () => {
    const s = await digestSink(300);
    const key = (s.envelopes[123] as { key: string }).key;
    s.sink.tamper(key, { payload: { ...order(123), total: -1 } });
    const digestOnly: ReconcileSink = { name: "store", digest: s.sink.digest, lagToleranceMs: LAG };
    const report = await reconcile({ ledger: s.ledger, sinks: [digestOnly], clock: s.clock.now });
    expect(report.sinks[0]?.consistent).toBe(true); // the blind spot
    const whole = await verifySinkPayloads({ sink: s.sink });
    expect(whole).toMatchObject({
      via: "digest",
      rowsRead: 300,
      checked: 300,
      unverifiable: 0,
      inconsistent: 1,
      ok: false,
      problems: [
        {
          key,
          storedChecksum: s.envelopes[123]?.checksum,
          payloadChecksum: checksum({ ...order(123), total: -1 }),
          count: 1,
        },
      ],
    });
    const observed = await verifySinkPayloads({ sink: s.sink, via: "observe", ledger: s.ledger });
    expect(observed).toMatchObject({ via: "observe", checked: 300, inconsistent: 1 });
  });

  it("samples deterministically by seed, and a sample sized to the sink covers every row", async () => {
    const s = await digestSink(400);
    for (const i of [10, 200, 333]) {
      const key = (s.envelopes[i] as { key: string }).key;
      s.sink.tamper(key, { payload: { tampered: i } });
    }
    for (const via of ["digest", "observe"] as const) {
      const a = await verifySinkPayloads({
        sink: s.sink,
        via,
        sample: { fraction: 0.25 },
        seed: 7,
      });
      const b = await verifySinkPayloads({
        sink: s.sink,
        via,
        sample: { fraction: 0.25 },
        seed: 7,
      });
      expect(b.problems).toEqual(a.problems);
      expect(b.checked).toBe(a.checked);
      expect(a.checked).toBeGreaterThan(40);
      expect(a.checked).toBeLessThan(180);
      const c = await verifySinkPayloads({ sink: s.sink, via, sample: { rows: 50 }, seed: 3 });
      expect(c.checked).toBeGreaterThanOrEqual(50);
      if (via === "observe") expect(c.checked).toBe(50);
      expect(
        await verifySinkPayloads({ sink: s.sink, via, sample: { rows: 50 }, seed: 3 }),
      ).toEqual({ ...c, durationMs: expect.any(Number) });
      // Over seeds, the samples move: every tampered row is found by some seed.
      const found = new Set<string>();
      for (let seed = 1; seed <= 12; seed++) {
        const r = await verifySinkPayloads({ sink: s.sink, via, sample: { fraction: 0.25 }, seed });
        for (const p of r.problems) found.add(p.key);
      }
      expect(found.size).toBe(3);
      const all = await verifySinkPayloads({ sink: s.sink, via, sample: { rows: 400 } });
      expect(all).toMatchObject({ checked: 400, inconsistent: 3 });
    }
  });

  it("rows without a payload or a checksum are unverifiable, and the result is not ok", async () => {
    const s = await build(10, { observe: "checksum" });
    await s.sink.guard?.deliverAll(s.envelopes);
    const result = await verifySinkPayloads({ sink: s.sink });
    expect(result).toMatchObject({
      via: "observe",
      rowsRead: 10,
      checked: 0,
      unverifiable: 10,
      ok: false,
    });
  });

  it("refuses bad options with the path", async () => {
    const s = await build(1);
    const sink = s.sink as MemorySink;
    const path = async (options: unknown) =>
      ((await verifySinkPayloads(options as never).catch((e: unknown) => e)) as { path?: string })
        .path;
    expect(await path({ sink, sample: { rows: 0 } })).toBe("options.sample.rows");
    expect(await path({ sink, sample: { fraction: 1.5 } })).toBe("options.sample.fraction");
    expect(await path({ sink, sample: { rows: 1, fraction: 0.5 } })).toBe("options.sample");
    expect(await path({ sink, seed: 1.5 })).toBe("options.seed");
    expect(await path({ sink, via: "digest" })).toBe("options.via");
    expect(await path({ sink: { name: "x" } })).toBe("options.sink");
  });
});

describe("repair and self-inconsistent rows", () => {
  it("observe mode sees an edited checksum column, repair rewrites it, and digest mode then agrees", async () => {
    const s = await build(60, { observe: "both", digest: true });
    await s.sink.guard?.deliverAll(s.envelopes);
    s.clock.advance(LAG + 1);
    const key = (s.envelopes[20] as { key: string }).key;
    s.sink.tamper(key, { checksum: checksum({ other: 1 }) });
    // Observe mode (a partial range, so digest mode is not used) drives the repair.
    const observed: ReconcileSink = { ...s.sink, digest: undefined };
    const report = await reconcile({ ledger: s.ledger, sinks: [observed], clock: s.clock.now });
    expect(report.sinks[0]?.findings).toMatchObject([{ key, mismatch: "checksum-edited" }]);
    const result = await repair(report, {
      ledger: s.ledger,
      sinks: [observed],
      clock: s.clock.now,
    });
    expect(result.converged).toBe(true);
    expect(result.actions).toMatchObject([{ action: "rewrite", key, status: "done" }]);
    const digestOnly: ReconcileSink = { name: "store", digest: s.sink.digest, lagToleranceMs: LAG };
    const after = await reconcile({ ledger: s.ledger, sinks: [digestOnly], clock: s.clock.now });
    expect(after.consistent).toBe(true);
  });

  it("never says converged while a repaired row disagrees with itself (digest mode included)", async () => {
    for (const mode of ["observe", "digest"] as const) {
      const s = await build(30, { observe: "both", digest: mode === "digest" });
      await s.sink.guard?.deliverAll(s.envelopes);
      s.clock.advance(LAG + 1);
      const e = s.envelopes[4] as (typeof s.envelopes)[number];
      s.sink.put(e.key, { ...order(4), total: 1 });
      // A broken rewrite: stores the right checksum over the wrong payload.
      const sink: ReconcileSink = {
        ...(s.sink as MemorySink),
        observe: mode === "observe" ? s.sink.observe : undefined,
        digest: mode === "digest" ? s.sink.digest : undefined,
        rewrite: (envelope) => {
          s.sink.rewrite(envelope);
          s.sink.tamper(envelope.key, { payload: { broken: true } });
        },
      };
      const report = await reconcile({ ledger: s.ledger, sinks: [sink], clock: s.clock.now });
      expect(report.sinks[0]?.findings).toMatchObject([{ key: e.key, kind: "mismatched" }]);
      const result = await repair(report, { ledger: s.ledger, sinks: [sink], clock: s.clock.now });
      expect(result.actions).toMatchObject([{ action: "rewrite", status: "done" }]);
      expect(result.converged, mode).toBe(false);
      expect(result.unresolved).toMatchObject([
        { key: e.key, finding: "mismatched", reason: expect.stringContaining("payload-edited") },
      ]);
    }
  });
});
