/**
 * A pipeline hands its guards the entries its own ledger answered a moment before (the
 * producer's append, the drain's scan, a worker's scan) instead of having each guard read
 * every key back. The hand-over is only between the library's own objects on one ledger:
 * a guard on another ledger object, or a guard made by hand, gets envelopes through
 * `deliverMany` and reads them back, so an envelope its ledger does not hold is refused.
 */
import { describe, expect, it } from "vitest";
import { DELIVER_ENTRIES, type DeliverEntries } from "../../src/delivery/handoff.js";
import {
  createPipeline,
  createProducer,
  type Envelope,
  guardSink,
  type Ledger,
  type LedgerEntry,
  MemoryLedger,
  type SinkGuard,
} from "../../src/index.js";

const order = { schema: { name: "order", version: 1 } } as const;
const events = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    type: "order.created",
    payload: { i: from + i },
    ...order,
  }));

/** A MemoryLedger that counts the entry reads (`get`, `getMany`) made of it. */
function countingLedger(): { ledger: MemoryLedger; reads: () => number } {
  const ledger = new MemoryLedger();
  let reads = 0;
  const get = ledger.get.bind(ledger);
  const getMany = ledger.getMany.bind(ledger);
  ledger.get = (key) => {
    reads++;
    return get(key);
  };
  ledger.getMany = (keys) => {
    reads += keys.length;
    return getMany(keys);
  };
  return { ledger, reads: () => reads };
}

const written = () => {
  const rows = new Map<string, string>();
  return {
    rows,
    writeBatch: (envelopes: readonly Envelope[]) => {
      for (const e of envelopes) rows.set(e.key, e.checksum);
    },
  };
};

describe("entries handed from a pipeline to its guards", () => {
  it("publishMany delivers the append's entries: no guard reads them back, every sink gets each once", async () => {
    const { ledger, reads } = countingLedger();
    const sinks = ["a", "b", "c"].map((name) => ({ name, ...written() }));
    const pipeline = createPipeline({
      producer: createProducer({ id: "p", ledger }),
      sinks: sinks.map(({ name, writeBatch }) => guardSink({ name, ledger, writeBatch })),
    });
    const published = await pipeline.publishMany(events(50));
    expect(reads()).toBe(0);
    for (const sink of sinks) {
      expect(published.sinks[sink.name]?.ok).toBe(true);
      expect(sink.rows.size).toBe(50);
    }
    for (const name of ["a", "b", "c"]) expect(await ledger.getWatermark(name)).toBe(50);
  });

  it("a drain and a background worker deliver what they scanned, without reading it again", async () => {
    const { ledger, reads } = countingLedger();
    await createProducer({ id: "p", ledger }).emitMany(events(30));
    const drained = written();
    const inline = createPipeline({
      producer: createProducer({ id: "p", ledger }),
      sinks: [guardSink({ name: "drained", ledger, writeBatch: drained.writeBatch })],
    });
    await inline.drain();
    expect(drained.rows.size).toBe(30);
    const background = written();
    const pipeline = createPipeline({
      producer: createProducer({ id: "p", ledger }),
      sinks: [guardSink({ name: "bg", ledger, writeBatch: background.writeBatch })],
      delivery: "background",
    });
    await pipeline.idle();
    await pipeline.close();
    expect(background.rows.size).toBe(30);
    expect(reads()).toBe(0);
  });

  it("a guard handed entries of another ledger object reads them back: what it does not hold is refused", async () => {
    // The pipeline refuses such a guard when it is made; the guard itself does not rely on it.
    const producerLedger = new MemoryLedger();
    const other = new MemoryLedger();
    const rows = written();
    const guard = guardSink({ name: "elsewhere", ledger: other, writeBatch: rows.writeBatch });
    const [entry] = (
      await producerLedger.append(
        await createProducer({ id: "p", ledger: new MemoryLedger() }).emitMany(events(1)),
      )
    ).results.map((r) => r.entry);
    const handed = (guard as unknown as Record<symbol, DeliverEntries>)[
      DELIVER_ENTRIES
    ] as DeliverEntries;
    const error = await handed(producerLedger, [entry as LedgerEntry]).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe("not_in_ledger");
    expect(rows.rows.size).toBe(0);
    // And from its own ledger, an entry is taken as the ledger's answer.
    await other.append([(entry as LedgerEntry).envelope]);
    const own = (await other.get((entry as LedgerEntry).envelope.key)) as LedgerEntry;
    expect((await handed(other, [own]))[0]?.status).toBe("written");
    expect(rows.rows.size).toBe(1);
  });

  it("bad input to the hand-over is refused as deliverMany refuses it", async () => {
    const ledger = new MemoryLedger();
    const guard = guardSink({ name: "s", ledger, write: () => undefined });
    const handed = (guard as unknown as Record<symbol, DeliverEntries>)[
      DELIVER_ENTRIES
    ] as DeliverEntries;
    const empty = await handed(ledger, []).catch((e: unknown) => e);
    expect((empty as { code?: string; path?: string }).path).toBe("envelopes");
    const badOption = await handed(ledger, [], { replya: true } as never).catch((e: unknown) => e);
    expect((badOption as { path?: string }).path).toBe("options.replya");
  });

  it("a guard made by hand gets envelopes through its deliverMany", async () => {
    const { ledger } = countingLedger();
    const real = guardSink({ name: "wrapped", ledger, writeBatch: () => undefined });
    const seen: Envelope[][] = [];
    const wrapped: SinkGuard = {
      ...real,
      deliverMany: (envelopes, options) => {
        seen.push([...envelopes]);
        return real.deliverMany(envelopes, options);
      },
    };
    const pipeline = createPipeline({
      producer: createProducer({ id: "p", ledger: ledger as Ledger }),
      sinks: [wrapped],
    });
    const published = await pipeline.publishMany(events(4));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toEqual(published.envelopes);
  });

  it("the hand-over functions are hidden: a producer and a guard show only their documented keys", () => {
    const ledger = new MemoryLedger();
    const producer = createProducer({ id: "p", ledger });
    const guard = guardSink({ name: "s", ledger, write: () => undefined });
    expect(Object.keys(producer).sort()).toEqual(["emit", "emitMany", "id", "ledger"]);
    expect(
      Object.getOwnPropertySymbols(producer).every(
        (s) => !Object.keys(producer).includes(String(s)),
      ),
    ).toBe(true);
    expect(Object.keys(guard)).not.toContain("deliverEntries");
    expect(JSON.stringify(Object.keys(guard))).not.toMatch(/entries/i);
  });
});
