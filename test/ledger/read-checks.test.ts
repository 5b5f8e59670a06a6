/**
 * BaseLedger's read checks at their own depth, for any adapter: one that hands back an
 * altered copy of an entry, skips a position, answers a filtered scan with another
 * producer's entry, returns a receipt of another key, or answers a claim with a receipt
 * that is not final. And the entry hash's canonical form, held to `canonicalize`; and the
 * cheap path for stored text never refusing an intact entry.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type ClaimResult,
  CorruptionError,
  type Envelope,
  type LedgerEntry,
  MemoryLedger,
  type Receipt,
  seal,
} from "../../src/index.js";
import { envelopeJson } from "../../src/ledger/envelope-json.js";
import {
  type ClaimRequest,
  type EntryScan,
  entryHash,
  type StoredEntry,
} from "../../src/ledger/index.js";
import { entryFromStored } from "../../src/ledger/read-checks.js";

const envelope = (seq: number, producer = "p", payload: unknown = { seq }): Envelope =>
  seal({ producer, seq, type: "t", schema: { name: "t", version: 1 }, payload });

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, got an answer");
}

const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
};

/** A MemoryLedger whose storage misbehaves as told. */
class Misbehaving extends MemoryLedger {
  alter: ((entry: LedgerEntry) => LedgerEntry) | undefined;
  skip: number | undefined;
  receipts: ((receipts: readonly Receipt[]) => readonly Receipt[]) | undefined;
  claims: ((result: unknown) => unknown) | undefined;

  protected override async _getByKey(key: string) {
    const entry = await super._getByKey(key);
    return entry === undefined || this.alter === undefined ? entry : this.alter(entry);
  }

  protected override *_scan(scan: EntryScan): Iterable<LedgerEntry> {
    for (const entry of super._scan(scan) as Iterable<LedgerEntry>) {
      if (entry.position === this.skip) continue;
      yield this.alter === undefined ? entry : this.alter(entry);
    }
  }

  protected override async _getReceipts(sink: string, key: string) {
    const receipts = await super._getReceipts(sink, key);
    return this.receipts === undefined ? receipts : this.receipts(receipts);
  }

  protected override async _claim(request: ClaimRequest): Promise<ClaimResult> {
    const result = await super._claim(request);
    return (this.claims === undefined ? result : this.claims(result)) as ClaimResult;
  }
}

describe("BaseLedger read checks, for any adapter", () => {
  it("an entry object whose payload was altered is verified again and refused; an intact copy passes", async () => {
    const ledger = new Misbehaving();
    const e = envelope(1);
    await ledger.append([envelope(0), e]);
    ledger.alter = (entry) => ({ ...entry, envelope: { ...entry.envelope, payload: { seq: 9 } } });
    const error = await caught(ledger.get(e.key));
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).position).toBe(2);
    expect((error as CorruptionError).file).toBe("Misbehaving");
    expect(await caught(collect(ledger.scan()))).toBeInstanceOf(CorruptionError);
    // A copy (not the object appended) that is intact: verified, and returned frozen.
    ledger.alter = (entry) => ({ ...entry, envelope: { ...entry.envelope } });
    const copy = await ledger.get(e.key);
    expect(copy?.envelope).toEqual(e);
    expect(Object.isFrozen(copy)).toBe(true);
  });

  it("a lookup that answers with another key's entry is refused", async () => {
    const ledger = new Misbehaving();
    const [a, b] = [envelope(0), envelope(1)];
    await ledger.append([a, b]);
    const other = await ledger.get(b.key);
    ledger.alter = () => other as LedgerEntry;
    const error = await caught(ledger.get(a.key));
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as Error).message).toContain(`holds key ${JSON.stringify(b.key)}`);
  });

  it("a scan with a gap names the missing position; one that stops short too; a filtered one must match its filter", async () => {
    const ledger = new Misbehaving();
    await ledger.append([envelope(0), envelope(1), envelope(2), envelope(3, "q")]);
    ledger.skip = 2;
    const gap = await caught(collect(ledger.scan()));
    expect(gap).toBeInstanceOf(CorruptionError);
    expect((gap as CorruptionError).position).toBe(2);
    ledger.skip = 4;
    const short = await caught(collect(ledger.scan()));
    expect((short as CorruptionError).position).toBe(4);
    expect((short as Error).message).toContain("ended after 3");
    // With a limit, stopping at the limit is no gap.
    expect((await collect(ledger.scan({ limit: 3 }))).length).toBe(3);
    ledger.skip = undefined;
    const q = await ledger.get(envelope(3, "q").key);
    ledger.alter = (entry) => (entry.position === 2 ? (q as LedgerEntry) : entry);
    const filtered = await caught(collect(ledger.scan({ producer: "p" })));
    expect(filtered).toBeInstanceOf(CorruptionError);
  });

  it("a receipt of another key, or one that is not a receipt, is refused", async () => {
    const ledger = new Misbehaving();
    const [a, b] = [envelope(0), envelope(1)];
    await ledger.append([a, b]);
    const receipt = (e: Envelope, position: number): Receipt => ({
      sink: "s",
      key: e.key,
      id: e.id,
      position,
      status: "written",
      checksum: e.checksum,
      attempt: 1,
      startedAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:00:00.001Z",
    });
    await ledger.putReceipt(receipt(a, 1));
    await ledger.putReceipt(receipt(b, 2));
    expect(Object.isFrozen((await ledger.getReceipts("s", a.key))[0])).toBe(true);
    ledger.receipts = () => [receipt(b, 2)];
    expect(await caught(ledger.getReceipts("s", a.key))).toBeInstanceOf(CorruptionError);
    ledger.receipts = (rs) => rs.map((r) => ({ ...r, attempt: 0 }));
    const invalid = await caught(ledger.getReceipts("s", a.key));
    expect(invalid).toBeInstanceOf(CorruptionError);
    expect((invalid as CorruptionError).position).toBe(1);
    // A claim answered "done" with a receipt that is not final, or of another key.
    ledger.claims = () => ({ status: "done", receipt: { ...receipt(a, 1), status: "failed" } });
    expect(await caught(ledger.claim("s", a.key, { owner: "o", ttlMs: 1000 }))).toBeInstanceOf(
      CorruptionError,
    );
    ledger.claims = () => ({ status: "done", receipt: receipt(b, 2) });
    expect(await caught(ledger.claim("s", a.key, { owner: "o", ttlMs: 1000 }))).toBeInstanceOf(
      CorruptionError,
    );
    ledger.claims = () => ({ status: "held", owner: "", expiresAt: Number.NaN });
    expect(await caught(ledger.claim("s", a.key, { owner: "o", ttlMs: 1000 }))).toBeInstanceOf(
      CorruptionError,
    );
    ledger.claims = undefined;
    expect((await ledger.claim("s", a.key, { owner: "o", ttlMs: 1000 })).status).toBe("done");
  });
});

describe("the entry hash", () => {
  it("hashes `<position>\\n<appendedAt>\\n<the stored envelope JSON without its payload>`, and changes with each", () => {
    const at = "2026-11-26T12:00:00.000Z";
    const e = seal(
      {
        producer: "p",
        seq: 3,
        type: "t",
        key: 'k"\\',
        schema: { name: "t", version: 2 },
        trace: { correlationId: "c" },
        payload: { a: 1 },
      },
      { algorithm: "sha256" },
    );
    const text = envelopeJson(e, undefined);
    const rest = text.replace('"payload":{"a":1}', '"payload":');
    expect(entryHash(7, at, e)).toBe(
      `sha256:${createHash("sha256").update(`7\n${at}\n${rest}`).digest("hex")}`,
    );
    const x = envelope(1);
    const hashes = new Set([
      entryHash(1, at, x),
      entryHash(2, at, x),
      entryHash(1, "2026-11-26T12:00:00.001Z", x),
      entryHash(1, at, { ...x, seq: 2 }),
      entryHash(1, at, { ...x, type: "u" }),
      entryHash(1, at, { ...x, checksum: e.checksum }),
    ]);
    expect(hashes.size).toBe(6);
    expect(entryHash(1, at, x)).toMatch(/^xxh64:[0-9a-f]{16}$/);
  });

  it("stored text not in the ledger's own form: an intact payload is canonicalized again and accepted; with an entry hash, it is not the ledger's row", () => {
    const e = envelope(1, "p", { b: 1, a: [1, 2, { z: "é" }] });
    const site = { file: "test", table: "t" };
    const at = "2026-11-26T12:00:00.000Z";
    const stored = (text: string, entryHash?: string): StoredEntry => ({
      position: 1,
      appendedAt: at,
      envelope: text,
      ...(entryHash === undefined ? {} : { entryHash }),
    });
    // Key order as the caller wrote it (not canonical), and whitespace: still intact.
    expect(entryFromStored(stored(JSON.stringify(e, null, 2)), site).envelope).toEqual(e);
    expect(entryFromStored(stored(envelopeJson(e, undefined)), site).envelope).toEqual(e);
    expect(
      entryFromStored(stored(envelopeJson(e, undefined), entryHash(1, at, e)), site).envelope,
    ).toEqual(e);
    expect(() =>
      entryFromStored(stored(JSON.stringify(e, null, 2), entryHash(1, at, e)), site),
    ).toThrow(CorruptionError);
    const altered = JSON.stringify({ ...e, payload: { b: 2, a: [1, 2, { z: "é" }] } });
    expect(() => entryFromStored(stored(altered), site)).toThrow(CorruptionError);
    // Payload keys that look like envelope keys do not confuse where the payload lies.
    const tricky = envelope(2, "p", { payload: 1, trace: { x: ',"trace":' }, '"payload":': 2 });
    const text = envelopeJson(tricky, undefined);
    expect(entryFromStored(stored(text, entryHash(1, at, tricky)), site).envelope).toEqual(tricky);
  });
});
