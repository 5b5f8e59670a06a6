import { describe, expect, it } from "vitest";
import { CorruptionError, seal } from "../../src/index.js";
import type { ClaimRequest } from "../../src/ledger/base-types.js";
import { MemoryLedger } from "../../src/ledger/memory.js";
import type { Claim, ClaimResult, Receipt } from "../../src/ledger/types.js";

const envelope = (seq: number) =>
  seal({
    producer: "p",
    seq,
    type: "t",
    schema: { name: "s", version: 1 },
    payload: { n: seq },
  });

/** A memory ledger whose batch hooks answer what the test says: the core must not trust them. */
class Lying extends MemoryLedger {
  answer: "short" | "not-array" | "honest" = "honest";
  calls: string[] = [];
  protected override async _putReceipts(receipts: readonly Receipt[]): Promise<readonly boolean[]> {
    this.calls.push(`putReceipts ${receipts.length}`);
    const honest = await super._putReceipts(receipts);
    if (this.answer === "short") return honest.slice(1);
    if (this.answer === "not-array") return { length: honest.length } as never;
    return honest;
  }
  protected override async _claimMany(
    requests: readonly ClaimRequest[],
  ): Promise<readonly ClaimResult[]> {
    this.calls.push(`claimMany ${requests.length}`);
    const honest = await super._claimMany(requests);
    return this.answer === "short" ? honest.slice(1) : honest;
  }
  protected override async _releaseClaims(claims: readonly Claim[]): Promise<readonly boolean[]> {
    this.calls.push(`releaseClaims ${claims.length}`);
    const honest = await super._releaseClaims(claims);
    return this.answer === "short" ? honest.slice(1) : honest;
  }
}

function receiptOf(entry: {
  position: number;
  envelope: { key: string; id: string; checksum: string };
}): Receipt {
  return {
    sink: "s",
    key: entry.envelope.key,
    id: entry.envelope.id,
    position: entry.position,
    status: "written",
    checksum: entry.envelope.checksum,
    attempt: 1,
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:01.000Z",
  } as Receipt;
}

describe("BaseLedger batch operations", () => {
  it("go through the batch hooks once per call, and an answer of the wrong length is damage", async () => {
    const ledger = new Lying();
    const { results } = await ledger.append([envelope(1), envelope(2)]);
    const receipts = results.map((r) => receiptOf(r.entry));
    expect(await ledger.putReceipts(receipts)).toEqual(["stored", "stored"]);
    const keys = results.map((r) => r.entry.envelope.key);
    const claimed = await ledger.claimMany("t", keys, { owner: "o", ttlMs: 1000 });
    expect(claimed.map((c) => c.status)).toEqual(["acquired", "acquired"]);
    expect(ledger.calls).toEqual(["putReceipts 2", "claimMany 2"]);
    ledger.answer = "short";
    await expect(ledger.putReceipts(receipts)).rejects.toBeInstanceOf(CorruptionError);
    await expect(ledger.claimMany("u", keys, { owner: "o", ttlMs: 1000 })).rejects.toBeInstanceOf(
      CorruptionError,
    );
    const claims = claimed.map((c) => (c.status === "acquired" ? c.claim : undefined)) as Claim[];
    await expect(ledger.releaseClaims(claims)).rejects.toBeInstanceOf(CorruptionError);
    ledger.answer = "not-array";
    await expect(ledger.putReceipts(receipts)).rejects.toThrow(/not an array/);
  });

  it("putReceipts checks every receipt before the adapter sees any", async () => {
    const ledger = new Lying();
    const { results } = await ledger.append([envelope(1)]);
    const good = receiptOf((results[0] as (typeof results)[number]).entry);
    const error = (await ledger
      .putReceipts([good, { ...good, attempt: 0 }])
      .catch((e: unknown) => e)) as {
      code: string;
      path: string;
    };
    expect([error.code, error.path]).toEqual(["invalid_argument", "receipts[1].attempt"]);
    expect(ledger.calls).toEqual([]);
    expect(await ledger.getReceipts("s", good.key)).toEqual([]);
  });

  it("claimMany gives each key its own token and the same expiry", async () => {
    const ledger = new MemoryLedger();
    const { results } = await ledger.append([envelope(1), envelope(2), envelope(3)]);
    const keys = results.map((r) => r.entry.envelope.key);
    const claimed = await ledger.claimMany("s", keys, { owner: "o", ttlMs: 500 });
    const claims = claimed.map((c) => (c.status === "acquired" ? c.claim : undefined));
    expect(new Set(claims.map((c) => c?.token)).size).toBe(3);
    expect(new Set(claims.map((c) => c?.expiresAt)).size).toBe(1);
    expect(Object.isFrozen(claimed)).toBe(true);
  });
});

describe("BaseLedger claimMany after a failure", () => {
  it("gives up the claims it took before the adapter failed", async () => {
    class Failing extends MemoryLedger {
      calls = 0;
      protected override async _claim(request: ClaimRequest): Promise<ClaimResult> {
        if (++this.calls === 3) throw new Error("connection reset");
        return super._claim(request);
      }
    }
    const ledger = new Failing();
    const { results } = await ledger.append([envelope(1), envelope(2), envelope(3)]);
    const keys = results.map((r) => r.entry.envelope.key);
    await expect(ledger.claimMany("s", keys, { owner: "a", ttlMs: 60_000 })).rejects.toThrow(
      /connection reset/,
    );
    for (const key of keys) {
      expect((await ledger.claim("s", key, { owner: "b", ttlMs: 1000 })).status).toBe("acquired");
    }
  });
});
