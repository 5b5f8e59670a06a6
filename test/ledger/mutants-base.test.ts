import { describe, expect, it } from "vitest";
import { seal } from "../../src/index.js";
import {
  checkedRaise,
  checkedReceiptScan,
  checkedReceipts,
  checkedScan,
  checkedWatermark,
  type ScanAccess,
} from "../../src/ledger/base-reads.js";
import { MemoryLedger } from "../../src/ledger/memory.js";
import type { StoragePart, StorageSite } from "../../src/ledger/read-checks.js";
import type { Claim, LedgerEntry, Receipt } from "../../src/ledger/types.js";
import type { ResolvedScan } from "../../src/ledger/validate.js";

const site = { file: "db.sqlite", table: "t" };

function entry(position: number): LedgerEntry {
  return { position, envelope: { producer: "p", stream: "s" } } as unknown as LedgerEntry;
}

function receipt(position: number, sink = "sink"): Receipt {
  return {
    sink,
    key: `k${position}`,
    id: "01ARYZ6S41TSV4RRFFQ69G5FAV",
    position,
    status: "written",
    checksum: "xxh64:0123456789abcdef",
    attempt: 1,
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:01.000Z",
  } as Receipt;
}

function query(over: Partial<ResolvedScan> = {}): ResolvedScan {
  return { from: 1, to: undefined, producer: undefined, stream: undefined, limit: 1000, ...over };
}

interface Probe {
  calls: number;
  returned: number;
}

function syncSource(count: number, probe: Probe, failAt?: number): Iterable<LedgerEntry> {
  return {
    [Symbol.iterator]() {
      let i = 0;
      return {
        next(): IteratorResult<LedgerEntry> {
          i += 1;
          if (i === failAt) throw new Error("disk gone");
          if (i > count) return { done: true, value: undefined };
          return { done: false, value: entry(i) };
        },
        return(): IteratorResult<LedgerEntry> {
          probe.returned += 1;
          return { done: true, value: undefined };
        },
      };
    },
  };
}

function asyncSource(count: number, probe: Probe, failAt?: number): AsyncIterable<LedgerEntry> {
  return {
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        async next(): Promise<IteratorResult<LedgerEntry>> {
          i += 1;
          if (i === failAt) throw new Error("disk gone");
          if (i > count) return { done: true, value: undefined };
          return { done: false, value: entry(i) };
        },
        async return(): Promise<IteratorResult<LedgerEntry>> {
          probe.returned += 1;
          return { done: true, value: undefined };
        },
      };
    },
  };
}

function access(
  head: number,
  scan: ScanAccess["scan"],
  probe: Probe,
  headFails = false,
): ScanAccess {
  return {
    assertOpen: () => {},
    head: async () => {
      if (headFails) throw new Error("head gone");
      return head;
    },
    scan: (s) => {
      probe.calls += 1;
      return scan(s);
    },
    site: () => site,
    checked: (e) => e as LedgerEntry,
  };
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

describe("checkedScan", () => {
  it("does not call the adapter for limit 0 or an empty range", async () => {
    const probe = { calls: 0, returned: 0 };
    const make = () => syncSource(3, probe);
    expect(await collect(checkedScan(access(3, make, probe), query({ limit: 0 })))).toEqual([]);
    expect(await collect(checkedScan(access(3, make, probe), query({ from: 4 })))).toEqual([]);
    expect(await collect(checkedScan(access(0, make, probe), query()))).toEqual([]);
    expect(probe.calls).toBe(0);
  });

  it("words a failing head as storage_error", async () => {
    const probe = { calls: 0, returned: 0 };
    const a = access(3, () => syncSource(3, probe), probe, true);
    await expect(collect(checkedScan(a, query()))).rejects.toMatchObject({
      code: "storage_error",
      message: "Ledger storage failed: Error: head gone",
    });
  });

  for (const kind of ["sync", "async"] as const) {
    const make = (count: number, probe: Probe, failAt?: number) =>
      kind === "sync" ? syncSource(count, probe, failAt) : asyncSource(count, probe, failAt);

    it(`${kind}: a full scan yields every entry and does not call return`, async () => {
      const probe = { calls: 0, returned: 0 };
      const got = await collect(
        checkedScan(
          access(3, () => make(3, probe), probe),
          query(),
        ),
      );
      expect(got.map((e) => e.position)).toEqual([1, 2, 3]);
      expect(probe.returned).toBe(0);
    });

    it(`${kind}: stopping early calls the adapter's return once`, async () => {
      const probe = { calls: 0, returned: 0 };
      const seen: number[] = [];
      for await (const e of checkedScan(
        access(3, () => make(3, probe), probe),
        query(),
      )) {
        seen.push(e.position);
        break;
      }
      expect(seen).toEqual([1]);
      expect(probe.returned).toBe(1);
    });

    it(`${kind}: a failing next is storage_error and return is not called`, async () => {
      const probe = { calls: 0, returned: 0 };
      const a = access(3, () => make(3, probe, 2), probe);
      await expect(collect(checkedScan(a, query()))).rejects.toMatchObject({
        code: "storage_error",
        message: "Ledger storage failed: Error: disk gone",
      });
      expect(probe.returned).toBe(0);
    });
  }

  it("an iterator without return is fine when stopped early", async () => {
    const probe = { calls: 0, returned: 0 };
    const bare = (): Iterable<LedgerEntry> => ({
      [Symbol.iterator]: () => {
        let i = 0;
        return { next: () => ({ done: false, value: entry(++i) }) };
      },
    });
    const bareAsync = (): AsyncIterable<LedgerEntry> => ({
      [Symbol.asyncIterator]: () => {
        let i = 0;
        return { next: async () => ({ done: false, value: entry(++i) }) };
      },
    });
    for (const src of [bare, bareAsync]) {
      const seen: number[] = [];
      for await (const e of checkedScan(access(3, src, probe), query())) {
        seen.push(e.position);
        if (seen.length === 2) break;
      }
      expect(seen).toEqual([1, 2]);
    }
  });
});

describe("checkedReceiptScan", () => {
  const scanOf =
    (list: Receipt[], head = 10) =>
    (calls: { n: number }) => ({
      head: async () => head,
      scanReceipts: (_s: string, _f: number, _t: number) => {
        calls.n += 1;
        return (async function* () {
          yield* list;
        })();
      },
      site: () => site,
    });

  it("yields receipts in order and skips the adapter past the head", async () => {
    const calls = { n: 0 };
    const got = await collect(
      checkedReceiptScan(scanOf([receipt(2), receipt(5)])(calls), "sink", 1, undefined),
    );
    expect(got.map((r) => r.position)).toEqual([2, 5]);
    expect(calls.n).toBe(1);
    expect(
      await collect(checkedReceiptScan(scanOf([receipt(2)], 3)(calls), "sink", 4, undefined)),
    ).toEqual([]);
    expect(calls.n).toBe(1);
  });

  it("rejects a receipt out of order", async () => {
    const calls = { n: 0 };
    await expect(
      collect(checkedReceiptScan(scanOf([receipt(5), receipt(3)])(calls), "sink", 1, 10)),
    ).rejects.toMatchObject({
      name: "CorruptionError",
      message:
        'Damaged ledger data in t of db.sqlite at position 3: a scan of the receipts of sink "sink" over 1..10 met one at position 3 after 5. It is not returned; see docs/runbook.md',
    });
  });

  it("rejects a receipt before the range or past the last position", async () => {
    const calls = { n: 0 };
    await expect(
      collect(checkedReceiptScan(scanOf([receipt(1)])(calls), "sink", 2, 10)),
    ).rejects.toMatchObject({ name: "CorruptionError" });
    await expect(
      collect(checkedReceiptScan(scanOf([receipt(7)], 6)(calls), "sink", 1, undefined)),
    ).rejects.toMatchObject({
      name: "CorruptionError",
      message:
        'Damaged ledger data in t of db.sqlite at position 7: a scan of the receipts of sink "sink" over 1..6 met one at position 7 after 1. It is not returned; see docs/runbook.md',
    });
  });
});

describe("checkedReceipts", () => {
  it("accepts a list and rejects anything else", () => {
    expect(checkedReceipts([receipt(1)], site, "sink", "k1").map((r) => r.position)).toEqual([1]);
    expect(() => checkedReceipts({ length: 0 }, site, "sink", "k1")).toThrow(
      'Damaged ledger data in t of db.sqlite: the receipts of "k1" are not a list. It is not returned; see docs/runbook.md',
    );
  });
});

describe("checkedWatermark", () => {
  it("reads the head only for a positive watermark", async () => {
    let reads = 0;
    const head = async () => {
      reads += 1;
      return 3;
    };
    expect(await checkedWatermark(0, site, "sink", head)).toBe(0);
    expect(reads).toBe(0);
    expect(await checkedWatermark(3, site, "sink", head)).toBe(3);
    expect(reads).toBe(1);
  });

  it("rejects a watermark past the head, with the exact message", async () => {
    await expect(checkedWatermark(4, site, "sink", async () => 3)).rejects.toMatchObject({
      name: "CorruptionError",
      message:
        'Damaged ledger data in t of db.sqlite at position 4: the watermark of "sink" is 4, past the head 3: the watermark was altered or the last entries were deleted. It is not returned; see docs/runbook.md',
    });
  });

  it("names the watermark when it is not a count", async () => {
    await expect(checkedWatermark(-1, site, "sink", async () => 3)).rejects.toThrow(
      'the watermark of "sink"',
    );
  });
});

describe("checkedRaise", () => {
  it("accepts a raise within the head without reading it again", async () => {
    let reads = 0;
    const now = async () => {
      reads += 1;
      return 5;
    };
    expect(await checkedRaise(3, site, "sink", 2, 3, now)).toBe(3);
    expect(await checkedRaise(2, site, "sink", 2, 3, now)).toBe(2);
    expect(reads).toBe(0);
  });

  it("accepts a raise past the old head when the head grew meanwhile", async () => {
    let reads = 0;
    const now = async () => {
      reads += 1;
      return 5;
    };
    expect(await checkedRaise(5, site, "sink", 2, 3, now)).toBe(5);
    expect(reads).toBe(1);
  });

  it("rejects a watermark below the position asked", async () => {
    await expect(checkedRaise(1, site, "sink", 2, 3, async () => 3)).rejects.toMatchObject({
      name: "CorruptionError",
      message:
        'Damaged ledger data in t of db.sqlite at position 1: the watermark of "sink" was raised to 2 and reads 1 (head 3). It is not returned; see docs/runbook.md',
    });
  });

  it("rejects a watermark past the head read again", async () => {
    await expect(checkedRaise(6, site, "sink", 2, 3, async () => 5)).rejects.toMatchObject({
      name: "CorruptionError",
      message:
        'Damaged ledger data in t of db.sqlite at position 6: the watermark of "sink" was raised to 2 and reads 6 (head 3). It is not returned; see docs/runbook.md',
    });
  });

  it("names the watermark when it is not a count", async () => {
    await expect(checkedRaise("x", site, "sink", 2, 3, async () => 3)).rejects.toThrow(
      'the watermark of "sink"',
    );
  });
});

type Broken =
  | "_head"
  | "_reserveSequence"
  | "_getReceipts"
  | "_renewClaim"
  | "_releaseClaim"
  | "_close";

class ProbeLedger extends MemoryLedger {
  readonly broken = new Set<Broken>();
  readonly answers: { head?: unknown; sequence?: unknown; watermark?: unknown; raised?: unknown } =
    {};
  protected override storageSite(part: StoragePart): StorageSite {
    return { file: "probe.db", table: part };
  }
  protected override async _getWatermark(sink: string): Promise<number> {
    if ("watermark" in this.answers) return this.answers.watermark as number;
    return super._getWatermark(sink);
  }
  protected override async _advanceWatermark(sink: string, position: number): Promise<number> {
    if ("raised" in this.answers) return this.answers.raised as number;
    return super._advanceWatermark(sink, position);
  }
  closes = 0;
  breakWith(cause: unknown): void {
    this.fail(cause);
  }
  #check(name: Broken): void {
    if (this.broken.has(name)) throw new Error(`${name} broke`);
  }
  protected override async _head(): Promise<number> {
    this.#check("_head");
    if ("head" in this.answers) return this.answers.head as number;
    return super._head();
  }
  protected override async _reserveSequence(producer: string, count: number): Promise<number> {
    this.#check("_reserveSequence");
    if ("sequence" in this.answers) return this.answers.sequence as number;
    return super._reserveSequence(producer, count);
  }
  protected override async _getReceipts(sink: string, key: string): Promise<readonly Receipt[]> {
    this.#check("_getReceipts");
    return super._getReceipts(sink, key);
  }
  protected override async _renewClaim(claim: Claim, expiresAt: number): Promise<boolean> {
    this.#check("_renewClaim");
    return super._renewClaim(claim, expiresAt);
  }
  protected override async _releaseClaim(claim: Claim): Promise<boolean> {
    this.#check("_releaseClaim");
    return super._releaseClaim(claim);
  }
  protected override async _close(): Promise<void> {
    this.closes += 1;
    this.#check("_close");
  }
}

const NAME =
  "must be 1 to 128 characters without control characters, noncharacters or lone surrogates, got string";

describe("BaseLedger", () => {
  it("a failed ledger refuses every call with ledger_failed and the first cause", async () => {
    const l = new ProbeLedger();
    const first = new Error("fsync failed");
    l.breakWith(first);
    l.breakWith(new Error("second"));
    const error = await l.head().catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "ledger_failed",
      message: "The ledger failed earlier and must be reopened",
    });
    expect((error as Error).cause).toBe(first);
  });

  it("a failure without a cause gets one", async () => {
    const l = new ProbeLedger();
    l.breakWith(undefined);
    const error = await l.getWatermark("s").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ledger_failed" });
    expect((error as Error).cause).toMatchObject({ message: "ledger failed" });
  });

  it("a closed ledger says so, and closes its storage once", async () => {
    const l = new ProbeLedger();
    await l.close();
    await l.close();
    expect(l.closes).toBe(1);
    await expect(l.head()).rejects.toMatchObject({
      code: "ledger_closed",
      message: "The ledger is closed",
    });
  });

  it("scans check the ledger open at each step", async () => {
    const l = new ProbeLedger();
    await l.advanceWatermark("s", 0);
    const receipts = l.scanReceipts("s");
    const audit = l.scanAudit();
    l.breakWith(new Error("gone"));
    await expect(collect(receipts)).rejects.toMatchObject({ code: "ledger_failed" });
    await expect(collect(audit)).rejects.toMatchObject({ code: "ledger_failed" });
  });

  it("an entry scan checks the ledger open between entries", async () => {
    const l = new ProbeLedger();
    const env = (seq: number) =>
      seal({ producer: "p", seq, type: "t", schema: { name: "t", version: 1 }, payload: { seq } });
    await l.append([env(0), env(1)]);
    const seen: number[] = [];
    const run = async () => {
      for await (const e of l.scan()) {
        seen.push(e.position);
        l.breakWith(new Error("gone"));
      }
    };
    await expect(run()).rejects.toMatchObject({ code: "ledger_failed" });
    expect(seen).toEqual([1]);
  });

  it("words adapter failures as storage_error", async () => {
    const l = new ProbeLedger();
    const claimed = await l.claim("s", "k", { owner: "o", ttlMs: 1000 });
    const claim = (claimed as { claim: Claim }).claim;
    const cases: Array<[Broken, () => Promise<unknown>]> = [
      ["_head", () => l.head()],
      ["_reserveSequence", () => l.reserveSequence("p", 1)],
      ["_getReceipts", () => l.getReceipts("s", "k")],
      ["_renewClaim", () => l.renewClaim(claim, 1000)],
      ["_releaseClaim", () => l.releaseClaim(claim)],
    ];
    for (const [name, call] of cases) {
      l.broken.add(name);
      await expect(call()).rejects.toMatchObject({
        code: "storage_error",
        message: `Ledger storage failed: Error: ${name} broke`,
      });
      l.broken.delete(name);
    }
    l.broken.add("_close");
    await expect(l.close()).rejects.toMatchObject({
      code: "storage_error",
      message: "Closing the ledger failed: Error: _close broke",
    });
  });

  it("names each argument it rejects", async () => {
    const l = new ProbeLedger();
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => l.getReceipts("", "k"), `sink ${NAME}`],
      [async () => l.scanReceipts(""), `sink ${NAME}`],
      [() => l.getWatermark(""), `sink ${NAME}`],
      [() => l.advanceWatermark("", 0), `sink ${NAME}`],
      [
        () => l.advanceWatermark("s", -1),
        "position must be an integer from 0 to 9007199254740991, got number",
      ],
      [() => l.claim("", "k", { owner: "o", ttlMs: 5 }), `sink ${NAME}`],
      [() => l.freezeSink("", { reason: "r", actor: "a" }), `sink ${NAME}`],
      [() => l.freezeSink("s", 5 as never), "input must be an object, got number"],
      [() => l.unfreezeSink("", { reason: "r", actor: "a" }), `sink ${NAME}`],
      [() => l.getFreezes(""), `sink ${NAME}`],
      [() => l.reserveSequence("", 1), `producer ${NAME}`],
      [() => l.reserveSequence("p", 0), "count must be an integer from 1 to 1000000, got number"],
      [() => l.verifyAudit({ head: 5 as never }), "options.head must be an object, got number"],
    ];
    for (const [call, message] of cases) {
      await expect(call()).rejects.toMatchObject({ code: "invalid_argument", message });
    }
    const claimed = await l.claim("s", "k", { owner: "o", ttlMs: 1000 });
    const claim = (claimed as { claim: Claim }).claim;
    await expect(l.renewClaim(claim, 0)).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringMatching(/^ttlMs must be an integer from 1 to /),
    });
  });

  it("names the storage part and the value of a damaged answer", async () => {
    const l = new ProbeLedger();
    l.answers.head = -1;
    await expect(l.head()).rejects.toMatchObject({
      name: "CorruptionError",
      message: expect.stringMatching(/^Damaged ledger data in entries of probe\.db: the head /),
    });
    delete l.answers.head;
    l.answers.sequence = -1;
    await expect(l.reserveSequence("p", 1)).rejects.toMatchObject({
      name: "CorruptionError",
      message: expect.stringMatching(
        /^Damaged ledger data in sequences of probe\.db: the sequence of producer "p" /,
      ),
    });
    l.answers.watermark = -1;
    await expect(l.getWatermark("s")).rejects.toMatchObject({
      name: "CorruptionError",
      message: expect.stringMatching(
        /^Damaged ledger data in watermarks of probe\.db: the watermark of "s" /,
      ),
    });
  });

  it("rejects a raised watermark past the head read again", async () => {
    const l = new ProbeLedger();
    l.answers.raised = 5;
    await expect(l.advanceWatermark("s", 0)).rejects.toMatchObject({
      name: "CorruptionError",
      message:
        'Damaged ledger data in watermarks of probe.db at position 5: the watermark of "s" was raised to 0 and reads 5 (head 0). It is not returned; see docs/runbook.md',
    });
  });

  it("refuses a receipt whose id is not the entry's", async () => {
    const l = new ProbeLedger();
    const env = seal({
      producer: "p",
      seq: 0,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: {},
    });
    await l.append([env]);
    const other = seal({
      producer: "p",
      seq: 1,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: {},
    });
    const r = { ...receipt(1, "s"), key: env.key, id: other.id, checksum: env.checksum };
    await expect(l.putReceipt(r)).rejects.toMatchObject({
      code: "not_found",
      message: `No entry with key ${JSON.stringify(env.key)}, id ${other.id} at position 1: a receipt must refer to an entry`,
    });
    await expect(l.putReceipt({ ...r, id: env.id })).resolves.toBeUndefined();
  });

  it("unfreezing an origin that is not frozen lifts nothing", async () => {
    const l = new ProbeLedger();
    await expect(
      l.unfreezeSink("s", { reason: "r", actor: "a", origin: "manual" }),
    ).resolves.toEqual([]);
    await l.freezeSink("s", { reason: "r", actor: "a" });
    const lifted = await l.unfreezeSink("s", { reason: "r", actor: "a", origin: "manual" });
    expect(lifted.map((f) => f.origin)).toEqual(["manual"]);
  });

  it("applies the maxDepth option to appends", async () => {
    const env = seal({
      producer: "p",
      seq: 0,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { a: { b: { c: 1 } } },
    });
    await expect(new MemoryLedger({ maxDepth: 1 }).append([env])).rejects.toMatchObject({
      code: "unverifiable",
    });
    await expect(new MemoryLedger().append([env])).resolves.toBeDefined();
  });
});
