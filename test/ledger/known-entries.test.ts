/**
 * The memo of entries a ledger appended or read lately, which spares receipts' entry
 * checks a read: bounded (oldest forgotten first), used for keys it holds, and never a
 * reason to store a receipt whose position or id is wrong, known key or not.
 */
import { describe, expect, it } from "vitest";
import { type Envelope, MemoryLedger, type Receipt, seal } from "../../src/index.js";
import { KNOWN_ENTRIES, KnownEntries } from "../../src/ledger/known-entries.js";

const envelope = (seq: number): Envelope =>
  seal({ producer: "p", seq, type: "t", schema: { name: "t", version: 1 }, payload: { seq } });

const receipt = (e: Envelope, position: number, id = e.id): Receipt => ({
  sink: "s",
  key: e.key,
  id,
  position,
  status: "written",
  checksum: e.checksum,
  attempt: 1,
  startedAt: "2026-01-01T00:00:00.000Z",
  finishedAt: "2026-01-01T00:00:00.001Z",
});

/** A MemoryLedger that counts the entry reads by key its base makes. */
class Counting extends MemoryLedger {
  reads = 0;
  protected override async _getByKey(key: string) {
    this.reads++;
    return super._getByKey(key);
  }
  protected override async _getManyByKey(keys: readonly string[]) {
    this.reads += keys.length;
    return super._getManyByKey(keys);
  }
}

describe("KnownEntries", () => {
  it("keeps at most its limit, forgetting the oldest noted first", () => {
    const known = new KnownEntries(3);
    const envelopes = [0, 1, 2, 3, 4].map(envelope);
    envelopes.forEach((e, i) => {
      known.note({ position: i + 1, envelope: e, appendedAt: "2026-01-01T00:00:00.000Z" });
    });
    expect(known.size).toBe(3);
    expect(known.get((envelopes[0] as Envelope).key)).toBeUndefined();
    expect(known.get((envelopes[1] as Envelope).key)).toBeUndefined();
    expect(known.get((envelopes[4] as Envelope).key)).toEqual({
      position: 5,
      id: (envelopes[4] as Envelope).id,
    });
  });

  it("a key noted twice keeps its first note and its place", () => {
    const known = new KnownEntries(2);
    const [a, b, c] = [0, 1, 2].map(envelope) as [Envelope, Envelope, Envelope];
    const at = "2026-01-01T00:00:00.000Z";
    known.note({ position: 1, envelope: a, appendedAt: at });
    known.note({ position: 2, envelope: b, appendedAt: at });
    known.note({ position: 1, envelope: a, appendedAt: at });
    known.note({ position: 3, envelope: c, appendedAt: at });
    expect(known.get(a.key)).toBeUndefined();
    expect(known.get(b.key)?.position).toBe(2);
  });
});

describe("receipts' entry check with the memo", () => {
  it("receipts of entries just appended are stored without reading the entries back", async () => {
    const ledger = new Counting();
    const envelopes = [0, 1, 2].map(envelope);
    await ledger.append(envelopes);
    await ledger.putReceipt(receipt(envelopes[0] as Envelope, 1));
    await ledger.putReceipts([
      receipt(envelopes[1] as Envelope, 2),
      receipt(envelopes[2] as Envelope, 3),
    ]);
    expect(ledger.reads).toBe(0);
    expect(await ledger.getReceipts("s", (envelopes[2] as Envelope).key)).toHaveLength(1);
  });

  it("a known key with the wrong position or id is still refused, and nothing is stored", async () => {
    const ledger = new Counting();
    const [a, b] = [envelope(0), envelope(1)] as [Envelope, Envelope];
    await ledger.append([a, b]);
    for (const bad of [receipt(a, 2), receipt(a, 1, b.id)]) {
      await expect(ledger.putReceipt(bad)).rejects.toMatchObject({ code: "not_found" });
      await expect(ledger.putReceipts([receipt(b, 2), bad])).rejects.toMatchObject({
        code: "not_found",
      });
    }
    expect(ledger.reads).toBe(0);
    expect(await ledger.getReceipts("s", a.key)).toHaveLength(0);
    expect(await ledger.getReceipts("s", b.key)).toHaveLength(0);
  });

  it("a key the memo forgot, or never saw, is read and checked", async () => {
    const ledger = new Counting();
    const count = KNOWN_ENTRIES + 5;
    const envelopes = Array.from({ length: count }, (_, i) => envelope(i));
    for (let i = 0; i < count; i += 1000) await ledger.append(envelopes.slice(i, i + 1000));
    const first = envelopes[0] as Envelope;
    await expect(ledger.putReceipt(receipt(first, 2))).rejects.toMatchObject({
      code: "not_found",
    });
    expect(ledger.reads).toBe(1);
    await ledger.putReceipt(receipt(first, 1));
    // Read once, checked, and noted: the second receipt of the key needs no read.
    expect(ledger.reads).toBe(1);
    const stranger = envelope(count + 1);
    await expect(ledger.putReceipts([receipt(stranger, count + 1)])).rejects.toMatchObject({
      code: "not_found",
    });
    expect(ledger.reads).toBe(2);
  });

  it("a fresh instance over the same storage knows nothing and reads", async () => {
    const ledger = new Counting();
    const a = envelope(0);
    await ledger.append([a]);
    const other = new Counting();
    await expect(other.putReceipt(receipt(a, 1))).rejects.toMatchObject({ code: "not_found" });
    expect(other.reads).toBe(1);
  });
});
