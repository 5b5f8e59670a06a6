/**
 * The FileLedger's in-memory limits: its per-entry columns are chunked typed arrays (no
 * engine limit before 2^32 − 1 entries), and past `maxEntries` an append is refused with
 * `ledger_full`, nothing half-written, on reopen too.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSealer, FileLedger, InvalidArgumentError, LedgerError } from "../../src/index.js";
import {
  MAX_ENTRIES,
  NumberColumn,
  StringColumn,
  TimeColumn,
} from "../../src/ledger/file/columns.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-limits-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const seal = createSealer();
let seq = 0;
const batch = (n: number) =>
  Array.from({ length: n }, () =>
    seal({
      producer: "p",
      seq: seq++,
      type: "t",
      schema: { name: "s", version: 1 },
      payload: { n: seq },
    }),
  );

describe("FileLedger columns", () => {
  it("hold what was pushed across many chunks, in 8 or 4 bytes an entry", () => {
    const offsets = new NumberColumn("float64", 3);
    const lengths = new NumberColumn("uint32", 3);
    for (let i = 0; i < 1000; i++) {
      offsets.push(2 ** 40 + i * 1_000_003);
      lengths.push(2 ** 32 - 1 - i);
    }
    expect(offsets.length).toBe(1000);
    for (let i = 0; i < 1000; i += 7) {
      expect(offsets.get(i)).toBe(2 ** 40 + i * 1_000_003);
      expect(lengths.get(i)).toBe(2 ** 32 - 1 - i);
    }
    const streams = new StringColumn(3);
    for (let i = 0; i < 100; i++) streams.push(`s${i % 3}`);
    expect([streams.get(0), streams.get(1), streams.get(99)]).toEqual(["s0", "s1", "s0"]);
    const times = new TimeColumn(3);
    const at = ["2026-11-26T12:00:00.000Z", "2026-11-26T12:00:00.000Z", "1970-01-01T00:00:00.001Z"];
    for (const t of [...at, "not a time", "2026-11-26T12:00:00Z"]) times.push(t);
    expect([0, 1, 2, 3, 4].map((i) => times.get(i))).toEqual([
      ...at,
      "not a time",
      "2026-11-26T12:00:00Z",
    ]);
    expect(MAX_ENTRIES).toBe(2 ** 32 - 1);
  });
});

describe("FileLedger maxEntries", () => {
  it("refuses an append past the limit with ledger_full, appending nothing, on reopen too", async () => {
    const dir = join(root, "full");
    const ledger = await FileLedger.open(dir, { maxEntries: 150 });
    await ledger.append(batch(100));
    const error = await ledger.append(batch(51)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe("ledger_full");
    expect(await ledger.head()).toBe(100);
    await ledger.append(batch(50));
    expect(await ledger.head()).toBe(150);
    // Existing keys still answer: idempotent appends add nothing.
    const again = await ledger.append([(await ledger.get("p/default/0"))?.envelope as never]);
    expect(again.existing).toBe(1);
    await ledger.close();
    const reopened = await FileLedger.open(dir, { maxEntries: 150 });
    expect(await reopened.head()).toBe(150);
    expect(((await reopened.append(batch(1)).catch((e: unknown) => e)) as LedgerError).code).toBe(
      "ledger_full",
    );
    await reopened.close();
    await expect(
      FileLedger.open(join(root, "bad"), { maxEntries: 2 ** 32 } as never),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
