/**
 * Group commit of single emits (src/delivery/group-commit.ts): concurrent emits share one
 * ledger append, each gets its own envelope or its own error, in the order they were made.
 */
import { describe, expect, it } from "vitest";
import {
  createProducer,
  IdempotencyConflictError,
  type Ledger,
  LedgerError,
  MemoryLedger,
} from "../../src/index.js";
import { createFaultyLedger } from "../../src/testing/index.js";
import { wrapLedger } from "../../src/testing/ledger-wrap.js";

const schema = { name: "order", version: 1 };

function countingAppends(ledger: Ledger) {
  const sizes: number[] = [];
  const wrapped = wrapLedger(
    () => ledger,
    (method, args, invoke) => {
      if (method === "append") sizes.push((args[0] as unknown[]).length);
      return invoke();
    },
  );
  return { ledger: wrapped, sizes };
}

describe("producer group commit", () => {
  it("appends 100 concurrent emits in two appends, in the order they were made", async () => {
    const inner = new MemoryLedger();
    const { ledger, sizes } = countingAppends(inner);
    const producer = createProducer({ id: "p", ledger, sequenceBlock: 1000 });
    await producer.emit("t", { n: -1 }, { schema }); // the sequence block is reserved
    sizes.length = 0;
    const envelopes = await Promise.all(
      Array.from({ length: 100 }, (_, n) => producer.emit("t", { n }, { schema, key: `k${n}` })),
    );
    expect(sizes).toEqual([1, 99]);
    const entries = await Promise.all(envelopes.map((e) => inner.get(e.key)));
    expect(entries.map((e) => e?.position)).toEqual(Array.from({ length: 100 }, (_, n) => n + 2));
    expect(envelopes.map((e) => (e.payload as { n: number }).n)).toEqual(
      Array.from({ length: 100 }, (_, n) => n),
    );
  });

  it("a key that clashes in a group fails its own emit only", async () => {
    const inner = new MemoryLedger();
    const { ledger, sizes } = countingAppends(inner);
    const producer = createProducer({ id: "p", ledger });
    await producer.emit("t", { v: 0 }, { schema, key: "first" });
    sizes.length = 0;
    const outcomes = await Promise.allSettled([
      producer.emit("t", { v: 1 }, { schema, key: "a" }),
      producer.emit("t", { v: 1 }, { schema, key: "b" }),
      producer.emit("t", { v: 2 }, { schema, key: "b" }), // same key, another payload
      producer.emit("t", { v: 1 }, { schema, key: "c" }),
      producer.emit("t", { v: 1 }, { schema, key: "b" }), // the same again: the first's envelope
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(IdempotencyConflictError);
    const b = (outcomes[1] as PromiseFulfilledResult<{ id: string }>).value;
    expect((outcomes[4] as PromiseFulfilledResult<{ id: string }>).value.id).toBe(b.id);
    // The group (4 emits after the first) was refused whole, then appended one by one.
    expect(sizes).toEqual([1, 4, 1, 1, 1, 1]);
    expect(await inner.head()).toBe(4);
  });

  it("a ledger that fails answers each emit of the group with its own error", async () => {
    const inner = new MemoryLedger();
    const faulty = createFaultyLedger(inner, { methods: ["append"] });
    const producer = createProducer({ id: "p", ledger: faulty });
    await producer.emit("t", {}, { schema, key: "warm" });
    const failing = createFaultyLedger(inner, { methods: ["append"], fail: 1 });
    const broken = createProducer({ id: "q", ledger: failing });
    const outcomes = await Promise.allSettled(
      [1, 2, 3].map((n) => broken.emit("t", { n }, { schema, key: `f${n}` })),
    );
    for (const outcome of outcomes) {
      expect(outcome.status).toBe("rejected");
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(LedgerError);
    }
    expect(await inner.head()).toBe(1);
    // Emits after the failure are committed as usual.
    const healthy = createProducer({ id: "q", ledger: inner });
    expect((await healthy.emit("t", {}, { schema, key: "after" })).key).toBe("after");
  });
});
