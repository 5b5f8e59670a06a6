/**
 * Receipt compaction beyond the conformance cases: the core does not trust what an adapter
 * answers, an adapter without `_compactReceipts` refuses with `unsupported` (and keeps
 * everything), and FileLedger replays a compaction in log order, receipts put after it
 * included, across reopens, with the guard delivering as usual.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CorruptionError, guardSink, LedgerError, seal } from "../../src/index.js";
import { BaseLedger } from "../../src/ledger/base.js";
import type { ReceiptsCompacted } from "../../src/ledger/base-types.js";
import { FileLedger } from "../../src/ledger/file/file-ledger.js";
import { MemoryLedger } from "../../src/ledger/memory.js";
import type { AuditHead, AuditRecord, Ledger, Receipt } from "../../src/ledger/types.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-compact-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const envelope = (seq: number) =>
  seal({
    producer: "p",
    seq,
    type: "t",
    schema: { name: "s", version: 1 },
    payload: { n: seq },
  });

const WHO = { actor: "job", reason: "retention" };

type Make = (previous: AuditHead | undefined) => AuditRecord;

/** A memory ledger whose compaction answers what the test says. */
class Lying extends MemoryLedger {
  answer: unknown = undefined;
  protected override async _compactReceipts(
    sink: string,
    through: number,
    make: Make,
  ): Promise<ReceiptsCompacted> {
    const honest = await super._compactReceipts(sink, through, make);
    return (this.answer ?? honest) as ReceiptsCompacted;
  }
}

/** A memory ledger whose adapter does not compact: BaseLedger's default answers. */
class NoCompaction extends MemoryLedger {
  protected override _compactReceipts(
    sink: string,
    through: number,
    make: Make,
  ): Promise<ReceiptsCompacted> {
    const base = BaseLedger.prototype as unknown as {
      _compactReceipts(sink: string, through: number, make: Make): Promise<ReceiptsCompacted>;
    };
    return base._compactReceipts.call(this, sink, through, make);
  }
}

/** Delivers `count` entries to "s", each failing `failures` times first. */
async function deliverWithRetries(ledger: Ledger, count: number, failures: number, from = 0) {
  const list = Array.from({ length: count }, (_, i) => envelope(from + i));
  await ledger.append(list);
  const tries = new Map<string, number>();
  const guard = guardSink({
    name: "s",
    ledger,
    retry: { attempts: 1 },
    write: (e) => {
      const n = (tries.get(e.key) ?? 0) + 1;
      tries.set(e.key, n);
      if (n <= failures) throw new Error(`attempt ${n} fails`);
    },
  });
  for (const e of list) {
    for (let attempt = 0; attempt <= failures; attempt++) {
      const receipt = await guard.deliver(e);
      if (receipt.status === "written") break;
    }
  }
  return list;
}

describe("compactReceipts", () => {
  it("an adapter's answer that is not a count is corruption", async () => {
    for (const answer of [{ removed: -1 }, { removed: 1.5 }, { removed: "2" }, 7, null]) {
      const ledger = new Lying();
      await deliverWithRetries(ledger, 3, 1);
      ledger.answer = answer === null ? { removed: Number.NaN } : answer;
      await expect(ledger.compactReceipts("s", WHO)).rejects.toBeInstanceOf(CorruptionError);
    }
  });

  it("through: -0 means 0, in the answer and in the audit record", async () => {
    const ledger = new MemoryLedger();
    await deliverWithRetries(ledger, 2, 1);
    const done = await ledger.compactReceipts("s", { ...WHO, through: -0 });
    expect(Object.is(done.through, 0)).toBe(true);
    expect(done.removed).toBe(0);
    const records = [];
    for await (const record of ledger.scanAudit()) records.push(record);
    const details = records.at(-1)?.details as { through: number };
    expect(Object.is(details.through, 0)).toBe(true);
  });

  it("an adapter without _compactReceipts refuses with unsupported and keeps every receipt", async () => {
    const ledger = new NoCompaction();
    const [first] = await deliverWithRetries(ledger, 2, 2);
    const error = await ledger.compactReceipts("s", WHO).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe("unsupported");
    expect(await ledger.getReceipts("s", first?.key ?? "")).toHaveLength(3);
  });

  it("FileLedger replays compactions in log order, with receipts put after one, across reopens", async () => {
    const dir = join(root, "replay");
    let ledger = await FileLedger.open(dir, { segmentBytes: 4096 });
    const list = await deliverWithRetries(ledger, 40, 2);
    const all = async () => {
      const out: Receipt[] = [];
      for await (const r of ledger.scanReceipts("s")) out.push(r);
      return out;
    };
    expect(await all()).toHaveLength(120);
    expect(await ledger.getWatermark("s")).toBe(40);
    const first = await ledger.compactReceipts("s", { ...WHO, through: 20 });
    expect(first.removed).toBe(40);
    // Forty more, with retries, then a replay of entry 1 (under both compactions).
    await deliverWithRetries(ledger, 40, 2, 40);
    const replayGuard = guardSink({ name: "s", ledger, write: () => undefined });
    const replayed = await replayGuard.deliver(list[0] as never, { replay: true });
    expect(replayed.status).toBe("replayed");
    const before = await all();
    expect(before).toHaveLength(20 + 1 + 20 * 3 + 40 * 3);
    const second = await ledger.compactReceipts("s", WHO);
    expect(second.through).toBe(80);
    expect(second.removed).toBe(1 + 20 * 2 + 40 * 2);
    const after = await all();
    expect(after).toHaveLength(80);
    expect(after.filter((r) => r.status !== "written")).toEqual([replayed]);
    expect(after[0]).toEqual(replayed);
    await ledger.close();
    ledger = await FileLedger.open(dir, { segmentBytes: 4096 });
    expect(await all()).toEqual(after);
    // The guard still sees every key as done.
    const guard = guardSink({ name: "s", ledger, write: () => undefined });
    for (const e of list) expect((await guard.deliver(e)).status).toBe("duplicate");
    expect(await all()).toEqual(after);
    const audit: AuditRecord[] = [];
    for await (const r of ledger.scanAudit()) audit.push(r);
    expect(audit.map((r) => [r.action, (r.details as { through: number }).through])).toEqual([
      ["compact-receipts", 20],
      ["compact-receipts", 80],
    ]);
    await ledger.close();
  });
});
