/**
 * FileLedger's row-index cache: a reopened ledger answers digest requests from the row
 * hashes it kept at close, reading (hashing) only the entries appended since; a cache that
 * is damaged, cut short, of another ledger or longer than the ledger is ignored (the index
 * is built from a verified scan, and the answers are the same).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { createSealer, type Envelope, FileLedger } from "../../src/index.js";
import { ROW_CACHE_FILE } from "../../src/ledger/file/row-cache.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-row-cache-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const seal = createSealer();
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

const SPLIT = { from: 0, to: 2 ** 32, buckets: 64 };
let dirs = 0;

/** A ledger of `n` entries whose row index was built, closed: its cache written. */
async function closedWithCache(n: number): Promise<string> {
  const dir = join(root, `l${dirs++}`);
  const ledger = await FileLedger.open(dir);
  await ledger.append(envelopes(n));
  await ledger.digestBuckets(SPLIT, { through: n });
  await ledger.close();
  return dir;
}

/** Opens `dir` and answers a digest request, counting the entries scanned for it. */
async function digestOf(dir: string) {
  const ledger = await FileLedger.open(dir);
  const scan = vi.spyOn(ledger, "scan");
  const head = await ledger.head();
  const buckets = await ledger.digestBuckets(SPLIT, { through: head });
  const scanned = scan.mock.calls.map((c) => c[0]);
  scan.mockRestore();
  return { ledger, buckets, scanned };
}

/** The same buckets from a fresh index (no cache): the truth to compare with. */
async function truth(dir: string) {
  const copy = join(root, `t${dirs++}`);
  const ledger = await FileLedger.open(dir);
  const head = await ledger.head();
  const fresh = await FileLedger.open(copy);
  for await (const entry of ledger.scan()) await fresh.append([entry.envelope]);
  const buckets = await fresh.digestBuckets(SPLIT, { through: head });
  await ledger.close();
  await fresh.close();
  return buckets;
}

describe("FileLedger's row-index cache", () => {
  it("a reopened ledger answers from the cache, scanning only what was appended since", async () => {
    const dir = await closedWithCache(300);
    const first = await digestOf(dir);
    expect(first.scanned, "nothing to hash: the cache holds every position").toEqual([]);
    const before = first.buckets;
    await first.ledger.append(envelopes(20));
    const after = await first.ledger.digestBuckets(SPLIT, { through: 320 });
    await first.ledger.close();
    const again = await digestOf(dir);
    expect(again.scanned, "the 20 new entries were in the cache written at close").toEqual([]);
    expect(again.buckets).toEqual(after);
    await again.ledger.close();
    expect(after).toEqual(await truth(dir));
    expect(before).not.toEqual(after);
  });

  it("entries appended in a process that never asked for digests are read from the cache's end", async () => {
    const dir = await closedWithCache(100);
    const ledger = await FileLedger.open(dir);
    await ledger.append(envelopes(7));
    await ledger.close(); // no digest request: the cache still holds 100
    const { ledger: reopened, buckets, scanned } = await digestOf(dir);
    expect(scanned).toEqual([{ from: 101, to: 107 }]);
    await reopened.close();
    expect(buckets).toEqual(await truth(dir));
  });

  it("a cache that is damaged, cut short, longer than the ledger or of another ledger is not used", async () => {
    const dir = await closedWithCache(50);
    const path = join(dir, ROW_CACHE_FILE);
    const good = readFileSync(path);
    const expected = await truth(dir);
    const other = await closedWithCache(60);
    const bad: [string, Buffer][] = [
      ["a body byte changed", Buffer.from(good.map((b, i) => (i === good.length - 5 ? b ^ 1 : b)))],
      ["cut short", good.subarray(0, good.length - 12)],
      ["no header", Buffer.from("garbage")],
      ["a header that is not JSON", Buffer.concat([Buffer.from("{nope\n"), good])],
      [
        "the entry it names is another one",
        Buffer.from(good.toString("latin1").replace(/"key":"[^"]*"/, '"key":"p/x"'), "latin1"),
      ],
      ["of a longer ledger", readFileSync(join(other, ROW_CACHE_FILE))],
      ["empty", Buffer.alloc(0)],
    ];
    for (const [what, bytes] of bad) {
      writeFileSync(path, bytes);
      const { ledger, buckets, scanned } = await digestOf(dir);
      expect(scanned, what).toEqual([{ from: 1, to: 50 }]);
      expect(buckets, what).toEqual(expected);
      await ledger.close(); // writes a good cache again
      expect(readFileSync(path).equals(good), `${what}: replaced at close`).toBe(true);
    }
  });
});
