/**
 * The FileLedger's receipts live in their segments, indexed by position in typed columns
 * (src/ledger/file/receipts.ts): every receipt asked for is read back from disk and its
 * frame checked. These tests break that index where it could break: two keys whose hashes
 * collide, many receipts at one position, a byte changed in a receipt frame while the
 * ledger is open, a sink whose receipts start past 2^32 / 2 positions, and reopening.
 */
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  CorruptionError,
  createSealer,
  type Envelope,
  FileLedger,
  type Receipt,
} from "../../src/index.js";
import { LocationColumn } from "../../src/ledger/file/columns.js";
import { hashString } from "../../src/ledger/file/hash-index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-file-receipts-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const seal = createSealer();
let seq = 0;
const envelope = (key?: string): Envelope =>
  seal({
    producer: "p",
    seq: seq++,
    type: "t",
    schema: { name: "s", version: 1 },
    payload: { n: seq },
    ...(key === undefined ? {} : { key }),
  });
let dirs = 0;
const fresh = () => join(root, `l${dirs++}`);

function receipt(
  e: Envelope,
  position: number,
  sink: string,
  status: Receipt["status"],
  attempt = 1,
): Receipt {
  const at = new Date(1_800_000_000_000 + attempt).toISOString();
  return {
    sink,
    key: e.key,
    id: e.id,
    position,
    status,
    checksum: e.checksum,
    attempt,
    startedAt: at,
    finishedAt: at,
    ...(status === "failed" ? { error: { code: "boom", message: `attempt ${attempt}` } } : {}),
  };
}

/** Two distinct keys with the same 32-bit key hash (found by the birthday bound). */
function collidingKeys(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const key = `collide-${i}`;
    const hash = hashString(key);
    const other = seen.get(hash);
    if (other !== undefined) return [other, key];
    seen.set(hash, key);
  }
}

describe("FileLedger receipts on disk", () => {
  it("keeps apart the receipts of two keys whose hashes collide, before and after a reopen", async () => {
    const [a, b] = collidingKeys();
    expect(hashString(a)).toBe(hashString(b));
    const dir = fresh();
    let ledger = await FileLedger.open(dir);
    const [ea, eb] = [envelope(a), envelope(b)];
    await ledger.append([ea, eb]);
    // Only a has receipts: b must answer none, whichever of them the index meets first.
    await ledger.putReceipt(receipt(ea, 1, "s", "written"));
    for (let round = 0; round < 2; round++) {
      expect((await ledger.getReceipts("s", a)).map((r) => r.key)).toEqual([a]);
      expect(await ledger.getReceipts("s", b)).toEqual([]);
      const claimB = await ledger.claim("s", b, { owner: "o", ttlMs: 60_000 });
      expect(claimB.status).toBe("acquired");
      if (claimB.status === "acquired") await ledger.releaseClaim(claimB.claim);
      const claimA = await ledger.claim("s", a, { owner: "o", ttlMs: 60_000 });
      expect(claimA.status).toBe("done");
      await ledger.close();
      ledger = await FileLedger.open(dir);
    }
    // Now b gets its own: each key answers its own.
    await ledger.putReceipt(receipt(eb, 2, "s", "failed"));
    await ledger.putReceipt(receipt(eb, 2, "s", "written", 2));
    expect((await ledger.getReceipts("s", b)).map((r) => [r.key, r.status])).toEqual([
      [b, "failed"],
      [b, "written"],
    ]);
    expect((await ledger.getReceipts("s", a)).map((r) => r.key)).toEqual([a]);
    await ledger.close();
  });

  it("answers every receipt of a position in order, the last final one for a claim, and scans them by position", async () => {
    const dir = fresh();
    let ledger = await FileLedger.open(dir);
    const list = Array.from({ length: 50 }, () => envelope());
    await ledger.append(list);
    // Position 10: failed, written, superseded (final, then not final last).
    const e = list[9] as Envelope;
    await ledger.putReceipt(receipt(e, 10, "s", "failed", 1));
    await ledger.putReceipt(receipt(e, 10, "s", "written", 2));
    await ledger.putReceipt(receipt(e, 10, "s", "superseded", 3));
    for (let i = 0; i < 50; i += 3) {
      if (i !== 9) await ledger.putReceipt(receipt(list[i] as Envelope, i + 1, "s", "written"));
    }
    for (let round = 0; round < 2; round++) {
      expect((await ledger.getReceipts("s", e.key)).map((r) => [r.status, r.attempt])).toEqual([
        ["failed", 1],
        ["written", 2],
        ["superseded", 3],
      ]);
      const claim = await ledger.claim("s", e.key, { owner: "o", ttlMs: 60_000 });
      expect(claim.status).toBe("done");
      if (claim.status === "done") expect(claim.receipt.attempt).toBe(2);
      const scanned: [number, string][] = [];
      for await (const r of ledger.scanReceipts("s", { from: 5, to: 20 })) {
        scanned.push([r.position, r.status]);
      }
      expect(scanned).toEqual([
        [7, "written"],
        [10, "failed"],
        [10, "written"],
        [10, "superseded"],
        [13, "written"],
        [16, "written"],
        [19, "written"],
      ]);
      await ledger.close();
      ledger = await FileLedger.open(dir);
    }
    expect(await ledger.getReceipts("other", e.key)).toEqual([]);
    await ledger.close();
  });

  it("a byte changed in a receipt frame while the ledger is open is a CorruptionError naming the file, not a receipt", async () => {
    const dir = fresh();
    const ledger = await FileLedger.open(dir);
    const e = envelope();
    await ledger.append([e]);
    await ledger.putReceipt(receipt(e, 1, "s", "written"));
    // The receipt's JSON holds its key: change one byte of it, on disk.
    const [file] = readdirSync(dir).filter((f) => f.endsWith(".seg") || f.startsWith("segment"));
    const path = join(dir, file as string);
    const fd = openSync(path, "r+");
    try {
      const bytes = Buffer.alloc(1 << 20);
      const length = readSync(fd, bytes, 0, bytes.length, 0);
      const at = bytes.subarray(0, length).lastIndexOf(`"sink":"s"`);
      expect(at).toBeGreaterThan(0);
      writeSync(fd, Buffer.from("t"), 0, 1, at + 8);
    } finally {
      closeSync(fd);
    }
    const error = await ledger.getReceipts("s", e.key).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).message).toContain(path);
    await expect(ledger.claim("s", e.key, { owner: "o", ttlMs: 1000 })).rejects.toBeInstanceOf(
      CorruptionError,
    );
    await ledger.close().catch(() => undefined);
  });

  it("a location column holds positions up to 2^32 − 1, making only the chunks it is given", () => {
    const column = new LocationColumn(10);
    expect(column.get(12345)).toBe(0);
    column.set(2 ** 32 - 1, -(2 ** 52));
    column.set(7, 1);
    expect(column.get(2 ** 32 - 1)).toBe(-(2 ** 52));
    expect(column.get(7)).toBe(1);
    expect(column.get(2 ** 31)).toBe(0);
    expect(column.end).toBe(2 ** 32 - 1);
    // Past the chunk of 7 (chunks of 1,024), the next chunk made is the last one's.
    expect(column.nextFrom(1024)).toBe(Math.floor((2 ** 32 - 1) / 1024) * 1024);
    expect(column.nextFrom(8)).toBe(8);
  });
});
