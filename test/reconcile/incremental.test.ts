/**
 * Incremental, checkpointed reconciliation: a pass checks only what follows each sink's
 * checkpoint and moves it to the end of what matched; late, lost and altered entries hold
 * it, so no later pass is green while the sink is not; a checkpoint the ledger no longer
 * agrees with is reported and the pass is a full one; a sweep re-verifies old data and
 * the prefix digest.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { digestIndex } from "../../src/digest/index.js";
import {
  createSealer,
  type Envelope,
  type Ledger,
  LedgerError,
  MemoryLedger,
  type Observation,
  type ObserveRange,
  type ReconcileCheckpoint,
  type ReconcileSink,
  reconcile,
} from "../../src/index.js";
import { BaseLedger } from "../../src/ledger/index.js";
import { SqliteLedger } from "../../src/ledger/sqlite/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-incremental-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const seal = createSealer();
const NOW = Date.parse("2026-06-01T12:00:00.000Z");
const clock = () => NOW;
/** The ledgers' clock: two hours before NOW, past any lag tolerance here. */
const ledgerClock = () => NOW - 2 * 3_600_000;

let seq = 0;
const envelopes = (n: number): Envelope[] =>
  Array.from({ length: n }, () => {
    const s = seq++;
    return seal({
      producer: "p",
      seq: s,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { s },
    });
  });

/** A table that keeps each row's ledger position and reads back by range when `ranged`. */
class Table {
  readonly rows = new Map<string, { checksum: string; position: number }>();
  readonly asked: ObserveRange[] = [];
  fail = false;
  constructor(readonly ranged: boolean) {}

  async fill(ledger: Ledger, from = 1): Promise<void> {
    for await (const entry of ledger.scan({ from })) {
      this.rows.set(entry.envelope.key, {
        checksum: entry.envelope.checksum,
        position: entry.position,
      });
    }
  }

  sink(name: string, extra: Partial<ReconcileSink> = {}): ReconcileSink {
    return {
      name,
      lagToleranceMs: 60_000,
      observe: (range: ObserveRange) => this.#observe(range),
      ...extra,
    };
  }

  *#observe(range: ObserveRange): Iterable<Observation> {
    this.asked.push(range);
    if (this.fail) throw new Error("the table is offline");
    for (const [key, row] of this.rows) {
      if (this.ranged && (row.position < range.from || row.position > range.to)) continue;
      yield { key, checksum: row.checksum };
    }
  }
}

async function ledgerWith(n: number): Promise<MemoryLedger> {
  const ledger = new MemoryLedger({ clock: ledgerClock });
  await ledger.append(envelopes(n));
  return ledger;
}

describe("reconcile({ incremental: true })", () => {
  it("checks only the entries after the checkpoint and moves it to the head", async () => {
    const ledger = await ledgerWith(1000);
    const table = new Table(true);
    await table.fill(ledger);
    const first = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    expect(first.consistent).toBe(true);
    expect(first.sinks[0]?.checkpoint).toMatchObject({ status: "none", from: 1 });
    expect(first.sinks[0]?.checkpoint?.stored).toMatchObject({ through: 1000 });
    expect((await ledger.getCheckpoint("t"))?.through).toBe(1000);

    await ledger.append(envelopes(10));
    await table.fill(ledger, 1001);
    const second = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    expect(second.consistent).toBe(true);
    expect(second.range).toEqual({ from: 1001, to: 1010, entries: 10 });
    expect(second.sinks[0]?.checkpoint).toMatchObject({ status: "trusted", from: 1001 });
    expect(second.sinks[0]?.counts.matched).toBe(10);
    expect(second.sinks[0]?.observations).toBe(10);
    expect(table.asked.at(-1)).toMatchObject({ from: 1001, to: 1010 });
    expect(second.sinks[0]?.outOfRange).toBeUndefined();
    expect((await ledger.getCheckpoint("t"))?.through).toBe(1010);

    // Nothing new: nothing checked, the checkpoint stays.
    const third = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    expect(third.consistent).toBe(true);
    expect(third.range.entries).toBe(0);
    expect(third.sinks[0]?.checkpoint?.stored).toBeUndefined();
  });

  it("a lost entry holds the checkpoint: every later pass still reports it until repaired", async () => {
    const ledger = await ledgerWith(100);
    const table = new Table(true);
    await table.fill(ledger);
    await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    await ledger.append(envelopes(20));
    await table.fill(ledger, 101);
    const lost = [...table.rows].find(([, row]) => row.position === 105)?.[0] as string;
    table.rows.delete(lost);
    for (let round = 0; round < 3; round++) {
      const report = await reconcile({
        ledger,
        sinks: [table.sink("t")],
        clock,
        incremental: true,
      });
      expect(report.consistent, `round ${round}`).toBe(false);
      expect(report.sinks[0]?.counts["missing-lost"]).toBe(1);
      expect(report.sinks[0]?.checkpoint?.from).toBe(101 + (round === 0 ? 0 : 4));
      expect((await ledger.getCheckpoint("t"))?.through).toBe(104);
    }
    // Repaired: the next pass starts at the entry that held it and goes to the head.
    await table.fill(ledger, 105);
    const healed = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    expect(healed.consistent).toBe(true);
    expect(healed.sinks[0]?.checkpoint?.from).toBe(105);
    expect((await ledger.getCheckpoint("t"))?.through).toBe(120);
  });

  it("a late entry holds the checkpoint and is checked again when the next pass runs", async () => {
    let now = NOW;
    const ledger = new MemoryLedger({ clock: () => now });
    await ledger.append(envelopes(10));
    const table = new Table(true);
    await table.fill(ledger);
    await reconcile({ ledger, sinks: [table.sink("t")], clock: () => now, incremental: true });
    const young = seal({
      producer: "p",
      seq: seq++,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: {},
    });
    await ledger.append([young]);
    const late = await reconcile({
      ledger,
      sinks: [table.sink("t")],
      clock: () => now,
      incremental: true,
    });
    expect(late.consistent).toBe(true);
    expect(late.sinks[0]?.counts["missing-late"]).toBe(1);
    expect((await ledger.getCheckpoint("t"))?.through).toBe(10);
    // Still missing once past the lag tolerance: lost, not green.
    now += 120_000;
    const lost = await reconcile({
      ledger,
      sinks: [table.sink("t")],
      clock: () => now,
      incremental: true,
    });
    expect(lost.consistent).toBe(false);
    expect(lost.sinks[0]?.counts["missing-lost"]).toBe(1);
  });

  it("drift in old data is not seen by incremental passes and is by a sweep, which moves the checkpoint back", async () => {
    const ledger = await ledgerWith(50);
    const table = new Table(true);
    await table.fill(ledger);
    await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    const [key, row] = [...table.rows].find(([, r]) => r.position === 20) as [
      string,
      { checksum: string; position: number },
    ];
    table.rows.set(key, { ...row, checksum: "xxh64:0000000000000000" });
    const incremental = await reconcile({
      ledger,
      sinks: [table.sink("t")],
      clock,
      incremental: true,
    });
    expect(incremental.consistent).toBe(true); // documented: old data is the sweep's
    expect(incremental.range.entries).toBe(0);
    const sweep = await reconcile({
      ledger,
      sinks: [table.sink("t")],
      clock,
      incremental: "sweep",
    });
    expect(sweep.consistent).toBe(false);
    expect(sweep.sinks[0]?.counts.mismatched).toBe(1);
    expect(sweep.sinks[0]?.checkpoint).toMatchObject({ status: "sweep", from: 1 });
    expect((await ledger.getCheckpoint("t"))?.through).toBe(19);
    const after = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    expect(after.consistent).toBe(false);
    expect(after.sinks[0]?.checkpoint?.from).toBe(20);
  });

  it("the digest kept across incremental passes is the digest a sweep computes", async () => {
    const ledger = await ledgerWith(30);
    const table = new Table(true);
    for (let round = 0; round < 4; round++) {
      await table.fill(ledger);
      const r = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
      expect(r.consistent).toBe(true);
      await ledger.append(envelopes(7 + round));
    }
    await table.fill(ledger);
    const before = (await ledger.getCheckpoint("t")) as ReconcileCheckpoint;
    const sweep = await reconcile({
      ledger,
      sinks: [table.sink("t")],
      clock,
      incremental: "sweep",
    });
    expect(sweep.sinks[0]?.checkpoint?.status).toBe("sweep");
    expect(sweep.sinks[0]?.checkpoint?.reason).toBeUndefined();
    const after = (await ledger.getCheckpoint("t")) as ReconcileCheckpoint;
    expect(after.through).toBe(await ledger.head());
    expect(after.sweptAt).toBe(new Date(NOW).toISOString());
    // A fresh full pass over a new ledger of the same entries gives the same digest.
    const copy = new MemoryLedger({ clock: ledgerClock });
    for await (const entry of ledger.scan()) await copy.append([entry.envelope]);
    await reconcile({ ledger: copy, sinks: [table.sink("t")], clock, incremental: true });
    expect((await copy.getCheckpoint("t"))?.digest).toBe(after.digest);
    expect(before.digest).not.toBe(after.digest);
  });

  it("a checkpoint the ledger no longer agrees with is reported, and the pass is a full one", async () => {
    const ledger = await ledgerWith(20);
    const table = new Table(true);
    await table.fill(ledger);
    const other = await ledgerWith(20); // other entries at the same positions
    const otherTable = new Table(true);
    await otherTable.fill(other);
    await reconcile({ ledger: other, sinks: [otherTable.sink("t")], clock, incremental: true });
    expect((await other.getCheckpoint("t"))?.through).toBe(20);
    await ledger.putCheckpoint((await other.getCheckpoint("t")) as ReconcileCheckpoint);
    const report = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    expect(report.sinks[0]?.checkpoint).toMatchObject({ status: "untrusted", from: 1 });
    expect(report.sinks[0]?.checkpoint?.reason).toMatch(/no longer the one it verified/);
    expect(report.consistent).toBe(true);
    expect(report.sinks[0]?.counts.matched).toBe(20);
    const keys = await collectKeys(ledger);
    expect((await ledger.getCheckpoint("t"))?.key).toBe(keys[19]);
    expect((await ledger.getCheckpoint("t"))?.through).toBe(20);
  });

  it("a sweep reports a checkpoint whose prefix digest no longer matches", async () => {
    const ledger = await ledgerWith(20);
    const table = new Table(true);
    await table.fill(ledger);
    await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    const kept = (await ledger.getCheckpoint("t")) as ReconcileCheckpoint;
    await ledger.putCheckpoint({ ...kept, digest: "xxh64sum:0123456789abcdef" });
    // Its boundary still matches: an incremental pass trusts it.
    const incremental = await reconcile({
      ledger,
      sinks: [table.sink("t")],
      clock,
      incremental: true,
    });
    expect(incremental.sinks[0]?.checkpoint?.status).toBe("trusted");
    const sweep = await reconcile({
      ledger,
      sinks: [table.sink("t")],
      clock,
      incremental: "sweep",
    });
    expect(sweep.sinks[0]?.checkpoint?.status).toBe("untrusted");
    expect(sweep.sinks[0]?.checkpoint?.reason).toMatch(/digest of entries 1 to 20/);
    expect((await ledger.getCheckpoint("t"))?.digest).toBe(kept.digest);
  });

  it("a sink that cannot read by range is read whole and the report says so; its unexpected keys are still found", async () => {
    const ledger = await ledgerWith(40);
    const table = new Table(false);
    await table.fill(ledger);
    await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    await ledger.append(envelopes(4));
    await table.fill(ledger, 41);
    table.rows.set("never-emitted", { checksum: "xxh64:0000000000000001", position: 0 });
    const report = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    expect(report.sinks[0]?.outOfRange).toBe(40);
    expect(report.sinks[0]?.counts.matched).toBe(4);
    expect(report.sinks[0]?.counts.unexpected).toBe(1);
    expect(report.consistent).toBe(false);
  });

  it("a sink that cannot be read keeps its checkpoint; the other sinks move theirs", async () => {
    const ledger = await ledgerWith(10);
    const a = new Table(true);
    const b = new Table(true);
    await a.fill(ledger);
    await b.fill(ledger);
    await reconcile({ ledger, sinks: [a.sink("a"), b.sink("b")], clock, incremental: true });
    await ledger.append(envelopes(5));
    await a.fill(ledger);
    await b.fill(ledger);
    b.fail = true;
    const report = await reconcile({
      ledger,
      sinks: [a.sink("a"), b.sink("b")],
      clock,
      incremental: true,
    });
    expect(report.sinks[1]?.error).toBeDefined();
    expect(report.sinks[1]?.checkpoint?.stored).toBeUndefined();
    expect((await ledger.getCheckpoint("a"))?.through).toBe(15);
    expect((await ledger.getCheckpoint("b"))?.through).toBe(10);
  });

  it("sinks at different checkpoints get their own ranges; receipts-only and digest-only sinks too", async () => {
    const ledger = await ledgerWith(10);
    const a = new Table(true);
    await a.fill(ledger);
    await reconcile({ ledger, sinks: [a.sink("a")], clock, incremental: true });
    await ledger.append(envelopes(5));
    await a.fill(ledger);
    const digestOnly: ReconcileSink = {
      name: "d",
      digest: digestIndex([...a.rows].map(([key, row]) => ({ key, checksum: row.checksum }))),
    };
    const report = await reconcile({
      ledger,
      sinks: [a.sink("a"), a.sink("fresh"), { name: "r" }, digestOnly],
      clock,
      incremental: true,
    });
    expect(report.sinks.map((s) => [s.checkpoint?.status, s.checkpoint?.from])).toEqual([
      ["trusted", 11],
      ["none", 1],
      ["none", 1],
      ["whole", 1],
    ]);
    expect(report.range).toEqual({ from: 1, to: 15, entries: 15 });
    expect(report.sinks[0]?.counts.matched).toBe(5);
    expect(report.sinks[1]?.counts.matched).toBe(15);
    expect(report.sinks[2]?.basis).toBe("receipts");
  });

  it("bad options get typed errors, and a ledger that keeps no checkpoints says so", async () => {
    const ledger = await ledgerWith(1);
    const sinks = [new Table(true).sink("t")];
    await expect(reconcile({ ledger, sinks, incremental: "yes" as never })).rejects.toMatchObject({
      code: "invalid_argument",
      path: "options.incremental",
    });
    await expect(
      reconcile({ ledger, sinks, incremental: true, range: { from: 1 } }),
    ).rejects.toMatchObject({ code: "invalid_argument", path: "options.range" });
    await expect(reconcile({ ledger, sinks, incremantal: true } as never)).rejects.toMatchObject({
      code: "invalid_argument",
      path: "options.incremantal",
    });
    // A ledger whose adapter keeps no checkpoints: BaseLedger's own hooks.
    const hooks = BaseLedger.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    class Bare extends MemoryLedger {
      protected override async _getCheckpoint(sink: string) {
        return (await hooks._getCheckpoint?.call(this, sink)) as undefined;
      }
    }
    const bare = new Bare();
    await bare.append(envelopes(1));
    const error = await reconcile({ ledger: bare, sinks, incremental: true }).catch((e) => e);
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe("unsupported");
    // null is not "false"; a Ledger-shaped object without checkpoints is refused up front.
    await expect(reconcile({ ledger, sinks, incremental: null as never })).rejects.toMatchObject({
      path: "options.incremental",
    });
    const {
      getCheckpoint: _g,
      putCheckpoint: _p,
      ...duck
    } = Object.fromEntries(
      [
        "head",
        "scan",
        "get",
        "getMany",
        "getReceipts",
        "scanReceipts",
        "appendAudit",
        "scanAudit",
        "freezeSink",
        "getFreezes",
        "getCheckpoint",
        "putCheckpoint",
      ].map((m) => [m, (ledger as unknown as Record<string, () => unknown>)[m]?.bind(ledger)]),
    );
    await expect(
      reconcile({ ledger: duck as never, sinks, incremental: true }),
    ).rejects.toMatchObject({ code: "invalid_argument", path: "options.ledger" });
    // No sinks: a finite range.
    const none = await reconcile({ ledger, sinks: [], incremental: true });
    expect(Number.isFinite(none.range.from)).toBe(true);
  });

  it("a key the ledger never emitted holds the checkpoint: the next passes read that slice again until it is removed", async () => {
    const ledger = await ledgerWith(10);
    const table = new Table(true);
    await table.fill(ledger);
    await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    await ledger.append(envelopes(2));
    await table.fill(ledger, 11);
    // A stray row, stored at position 11 by whoever wrote it.
    table.rows.set("stray/key", { checksum: "xxh64:0123456789abcdef", position: 11 });
    for (let round = 0; round < 3; round++) {
      const report = await reconcile({
        ledger,
        sinks: [table.sink("t")],
        clock,
        incremental: true,
      });
      expect(report.consistent, `round ${round}`).toBe(false);
      expect(report.sinks[0]?.counts.unexpected).toBe(1);
      expect((await ledger.getCheckpoint("t"))?.through).toBe(10);
      await ledger.append(envelopes(1));
      await table.fill(ledger, 13 + round);
    }
    table.rows.delete("stray/key");
    const clean = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    expect(clean.consistent).toBe(true);
    expect((await ledger.getCheckpoint("t"))?.through).toBe(15);
  });

  it("a pass does not overwrite a checkpoint another pass moved meanwhile (a sweep that found old drift)", async () => {
    const ledger = await ledgerWith(10);
    const table = new Table(true);
    await table.fill(ledger);
    let gate: (() => void) | undefined;
    let slow = false;
    const sink: ReconcileSink = {
      name: "t",
      lagToleranceMs: 60_000,
      async *observe(range: ObserveRange) {
        const rows = [...table.rows].filter(
          ([, r]) => r.position >= range.from && r.position <= range.to,
        );
        if (slow) {
          slow = false;
          await new Promise<void>((resolve) => {
            gate = resolve;
          });
        }
        for (const [key, row] of rows) yield { key, checksum: row.checksum };
      },
    };
    await reconcile({ ledger, sinks: [sink], clock, incremental: true });
    await ledger.append(envelopes(2));
    await table.fill(ledger, 11);
    slow = true;
    const early = reconcile({ ledger, sinks: [sink], clock, incremental: true });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const [key, row] = [...table.rows].find(([, r]) => r.position === 3) as [
      string,
      { checksum: string; position: number },
    ];
    table.rows.set(key, { ...row, checksum: "xxh64:0000000000000000" });
    const sweep = await reconcile({ ledger, sinks: [sink], clock, incremental: "sweep" });
    expect(sweep.sinks[0]?.counts.mismatched).toBe(1);
    expect((await ledger.getCheckpoint("t"))?.through).toBe(2);
    (gate as () => void)();
    const late = await early;
    expect(late.sinks[0]?.checkpoint?.stored, "not stored over the sweep's").toBeUndefined();
    expect((await ledger.getCheckpoint("t"))?.through).toBe(2);
    const next = await reconcile({ ledger, sinks: [sink], clock, incremental: true });
    expect(next.consistent).toBe(false);
  });
});

describe("checkpoints changed in the database", () => {
  it("a row edited by hand: past the head is untrusted, garbage is a CorruptionError, never a green report", async () => {
    const path = join(root, "edited.db");
    let ledger = await SqliteLedger.open(path, { clock: ledgerClock });
    await ledger.append(envelopes(10));
    const table = new Table(true);
    await table.fill(ledger);
    await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    const kept = (await ledger.getCheckpoint("t")) as ReconcileCheckpoint;
    await ledger.close();
    const edit = (text: string) => {
      const raw = new Database(path);
      raw.prepare("UPDATE sinkproof_checkpoints SET checkpoint = ? WHERE sink = 't'").run(text);
      raw.close();
    };
    edit(JSON.stringify({ ...kept, through: 99 }));
    ledger = await SqliteLedger.open(path, { clock: ledgerClock });
    const past = await reconcile({ ledger, sinks: [table.sink("t")], clock, incremental: true });
    expect(past.sinks[0]?.checkpoint?.status).toBe("untrusted");
    expect(past.sinks[0]?.checkpoint?.reason).toMatch(/past the ledger's head/);
    expect(past.sinks[0]?.counts.matched).toBe(10);
    expect((await ledger.getCheckpoint("t"))?.through).toBe(10);
    await ledger.close();
    for (const garbage of ["{not json", JSON.stringify({ ...kept, sink: "other" }), "[]"]) {
      edit(garbage);
      ledger = await SqliteLedger.open(path, { clock: ledgerClock });
      const error = await reconcile({
        ledger,
        sinks: [table.sink("t")],
        clock,
        incremental: true,
      }).catch((e: unknown) => e);
      expect((error as { code?: string }).code, garbage).toBe("corruption");
      expect((error as { table?: string }).table ?? (error as Error).message).toMatch(
        /sinkproof_checkpoints/,
      );
      await ledger.close();
    }
  });
});

async function collectKeys(ledger: Ledger): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of ledger.scan()) keys.push(entry.envelope.key);
  return keys;
}
