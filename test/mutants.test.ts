/**
 * Tests aimed at bugs a hand-made mutation run left alive: each would pass a broken core
 * without them. Known answers computed here by an independent recipe (node:crypto over the
 * canonical form), a splice of the audit chain, checksums one hex digit apart, a claim left
 * held after a failure (seen at once on a frozen clock), digests that must sum copies, and
 * an fsync that must come before an append is acknowledged.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { digestIndex, formatDigest, rowHash } from "../src/digest/index.js";
import {
  type AuditRecord,
  canonicalize,
  checksum,
  checksumsEqual,
  createSealer,
  type Envelope,
  FileLedger,
  guardSink,
  MemoryLedger,
  permanent,
  verify,
} from "../src/index.js";
import { auditHash, GENESIS_HASH, verifyAuditChain } from "../src/ledger/index.js";
import { createManualClock } from "../src/testing/index.js";
import { auditChain } from "./helpers.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 0, 1);
const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

describe("the audit hash", () => {
  it("is SHA-256 of the canonical form of every field but hash, prevHash included", () => {
    const [first, second] = auditChain([
      { actor: "ops", action: "freeze", reason: "INC-1", subject: { sink: "wh" } },
      { actor: "ops", action: "unfreeze", reason: "INC-1 fixed", subject: { sink: "wh" } },
    ]) as [AuditRecord, AuditRecord];
    for (const record of [first, second]) {
      const { hash, ...rest } = record;
      expect(hash).toBe(sha256(canonicalize(rest)));
      expect(auditHash(rest)).toBe(hash);
    }
    expect(first.prevHash).toBe(GENESIS_HASH);
    expect(second.prevHash).toBe(first.hash);
    // The same record with another previous hash is another record.
    const { hash: _h, ...rest } = second;
    expect(auditHash({ ...rest, prevHash: "f".repeat(64) })).not.toBe(second.hash);
  });

  it("a record forged in the middle is found, even with its successor's link patched", async () => {
    const records = auditChain([
      { actor: "ops", action: "note", reason: "one" },
      { actor: "ops", action: "note", reason: "two" },
      { actor: "ops", action: "note", reason: "three" },
    ]);
    const [a, b, c] = records as [AuditRecord, AuditRecord, AuditRecord];
    // The forger rewrites record 2 with a hash of its own, and patches record 3's link to it.
    const { hash: _b, ...bRest } = { ...b, reason: "forged" };
    const forged = { ...bRest, hash: auditHash(bRest) } as AuditRecord;
    const patched = { ...c, prevHash: forged.hash } as AuditRecord;
    const result = await verifyAuditChain([a, forged, patched]);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.some((p) => p.index === 3)).toBe(true);
  });
});

describe("checksums", () => {
  it("one hex digit apart, at the very end, are different (sha256 and xxh64)", () => {
    for (const algorithm of ["sha256", "xxh64"] as const) {
      const a = checksum({ order: 1 }, { algorithm });
      const last = a.at(-1) as string;
      const b = `${a.slice(0, -1)}${last === "0" ? "1" : "0"}`;
      expect(checksumsEqual(a, a)).toBe(true);
      expect(checksumsEqual(a, b)).toBe(false);
      const envelope = createSealer({ algorithm })({
        producer: "shop",
        seq: 1,
        type: "t",
        schema: { name: "s", version: 1 },
        payload: { order: 1 },
      });
      const last2 = envelope.checksum.at(-1) as string;
      const altered = {
        ...envelope,
        checksum: `${envelope.checksum.slice(0, -1)}${last2 === "0" ? "1" : "0"}`,
      };
      expect(verify(envelope).ok).toBe(true);
      expect(verify(altered).ok).toBe(false);
    }
  });
});

describe("claims after a failure", () => {
  it("a validator that throws or a write that fails for good lets the claim go: another owner claims at once, the clock frozen", async () => {
    const clock = createManualClock(T0); // never advanced: an unreleased claim stays held
    const ledger = new MemoryLedger({ clock: clock.now });
    const seal = createSealer({ clock: clock.now });
    const envelopes = [1, 2].map((seq) =>
      seal({
        producer: "shop",
        seq,
        type: "t",
        schema: { name: "s", version: 1 },
        payload: { seq },
      }),
    ) as Envelope[];
    await ledger.append(envelopes);
    const [first, second] = envelopes as [Envelope, Envelope];
    const throwing = guardSink({
      name: "wh",
      ledger,
      clock: clock.now,
      write: () => undefined,
      validate: () => {
        throw new Error("validator broke");
      },
    });
    await expect(throwing.deliver(first)).rejects.toThrow("validator broke");
    const failing = guardSink({
      name: "wh",
      ledger,
      clock: clock.now,
      write: () => {
        throw permanent(new Error("refused"));
      },
    });
    expect((await failing.deliver(second)).status).toBe("failed");
    for (const envelope of envelopes) {
      const claimed = await ledger.claim("wh", envelope.key, { owner: "other", ttlMs: 30_000 });
      expect(claimed.status).toBe("acquired");
    }
  });
});

describe("digests", () => {
  const rows = [
    { key: "k-1", checksum: checksum({ n: 1 }) },
    { key: "k-2", checksum: checksum({ n: 2 }), count: 2 },
    { key: "k-3", checksum: checksum({ n: 3 }) },
  ];

  /** The recipe of docs/reconciliation.md, computed here: sums of each copy's two words. */
  function expected(from: number, to: number): string {
    let hi = 0n;
    let lo = 0n;
    for (const row of rows) {
      const h = rowHash(row.key, row.checksum);
      if (h.hash < from || h.hash >= to) continue;
      const copies = BigInt(row.count ?? 1);
      hi += BigInt(h.hi) * copies;
      lo += BigInt(h.lo) * copies;
    }
    return formatDigest(hi, lo);
  }

  it("sum every copy's words, without a database, and match known answers", async () => {
    const index = digestIndex(rows);
    const [whole] = await index.digest({ from: 0, to: 2 ** 32, buckets: 1 });
    expect(whole?.count).toBe(4); // k-2 counts twice
    expect(whole?.digest).toBe(expected(0, 2 ** 32));
    // Known answers: the recipe's values for these rows, pinned.
    expect(rowHash("k-1", "xxh64:0000000000000000")).toEqual({
      hash: Number.parseInt(sha256("k-1\nxxh64:0000000000000000").slice(0, 8), 16),
      hi: Number.parseInt(sha256("k-1\nxxh64:0000000000000000").slice(8, 16), 16),
      lo: Number.parseInt(sha256("k-1\nxxh64:0000000000000000").slice(16, 24), 16),
    });
    expect(formatDigest(0x1_0000_0001, 2)).toBe("0000000100000002");
    expect(formatDigest(3n * 0xffff_ffffn, 1n)).toBe("fffffffd00000001");
    // Split in four, each bucket its own sum.
    const four = await index.digest({ from: 0, to: 2 ** 32, buckets: 4 });
    for (const bucket of four) {
      const width = 2 ** 30;
      expect(bucket.digest).toBe(expected(bucket.bucket * width, (bucket.bucket + 1) * width));
    }
  });
});

describe("FileLedger durability", () => {
  it("fdatasyncs before an append is acknowledged", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sinkproof-mutants-"));
    dirs.push(dir);
    const probe = await open(join(dir, "probe"), "w");
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const events: string[] = [];
    const original = proto.datasync;
    proto.datasync = async function (this: unknown) {
      await original.call(this);
      events.push("datasync");
    };
    try {
      const ledger = await FileLedger.open(join(dir, "ledger"));
      const envelope = createSealer()({
        producer: "shop",
        seq: 1,
        type: "t",
        schema: { name: "s", version: 1 },
        payload: { n: 1 },
      });
      events.length = 0;
      await ledger.append([envelope]);
      events.push("acknowledged");
      await ledger.close();
      expect(events.indexOf("datasync")).toBeGreaterThanOrEqual(0);
      expect(events.indexOf("datasync")).toBeLessThan(events.indexOf("acknowledged"));
    } finally {
      proto.datasync = original;
    }
  });
});
