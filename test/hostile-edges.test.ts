/**
 * The hostile cases a reviewer found past the matrix of test/hostile.test.ts: values that
 * change between reads, thrown values that cannot be turned into text, a ledger clock
 * outside what a date can hold, an adapter whose receipt rows answer each read anew.
 */
import { describe, expect, it } from "vitest";
import {
  CorruptionError,
  createSealer,
  type Envelope,
  guardSink,
  InvalidArgumentError,
  isSinkproofError,
  MemoryLedger,
  type Receipt,
  reconcile,
  repair,
} from "../src/index.js";
import { createManualClock, createMemorySink } from "../src/testing/index.js";

const T0 = Date.UTC(2026, 0, 1);
const draft = (seq: number) => ({
  producer: "shop",
  seq,
  type: "order.paid",
  schema: { name: "order", version: 1 },
  payload: { id: seq },
});

async function world() {
  const clock = createManualClock(T0);
  const ledger = new MemoryLedger({ clock: clock.now });
  const seal = createSealer({ clock: clock.now });
  const envelope = seal(draft(1)) as Envelope;
  await ledger.append([envelope]);
  return { clock, ledger, envelope };
}

async function settle(run: () => unknown): Promise<unknown> {
  try {
    return await run();
  } catch (error) {
    return error;
  }
}

describe("hostile edges", () => {
  it("repair reads the report it checked, not the caller's object again", async () => {
    const { ledger, clock } = await world();
    const sink = createMemorySink({ name: "wh", ledger });
    clock.advance(120_000);
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    let reads = 0;
    const shifty = {
      ...report,
      get sinks() {
        reads++;
        return reads === 1 ? report.sinks : null;
      },
    };
    const result = await repair(shifty as never, { ledger, sinks: [sink], clock: clock.now });
    expect(result.converged).toBe(true);
    expect(reads).toBe(1);
    expect(sink.size).toBe(1);
  });

  it("a sink action that throws something that is not an Error still gets its outcome record", async () => {
    const { ledger, clock, envelope } = await world();
    const sink = createMemorySink({ name: "wh", ledger });
    await sink.guard?.deliver(envelope);
    sink.put(envelope.key, { id: "altered" });
    clock.advance(120_000);
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    const throwing = {
      ...sink,
      rewrite: () => {
        throw Object.create(null);
      },
    };
    const result = await repair(report, { ledger, sinks: [throwing], clock: clock.now });
    expect(result.converged).toBe(false);
    const phases: unknown[] = [];
    for await (const record of ledger.scanAudit()) phases.push(record.phase);
    expect(phases.filter((p) => p === "intent").length).toBe(
      phases.filter((p) => p === "outcome").length,
    );
    expect((await ledger.verifyAudit()).ok).toBe(true);
  });

  it("a writer that throws a null-prototype object or an Error with a number message gets a failed receipt", async () => {
    for (const thrown of [Object.create(null), Object.assign(new Error("x"), { message: 42 })]) {
      const { ledger, envelope } = await world();
      const guard = guardSink({
        name: "wh",
        ledger,
        write: () => {
          throw thrown;
        },
        retry: { attempts: 1 },
      });
      const receipt = await guard.deliver(envelope);
      expect(receipt.status).toBe("failed");
      expect(typeof receipt.error?.message).toBe("string");
      expect((await ledger.getReceipts("wh", envelope.key)).length).toBe(1);
    }
  });

  it("an observe that throws a null-prototype object is a read error in the report, which renders", async () => {
    const { ledger } = await world();
    const report = await reconcile({
      ledger,
      sinks: [
        {
          name: "wh",
          observe: () => {
            throw Object.assign(new Error("x"), { message: 42 });
          },
        },
      ],
    });
    expect(typeof report.sinks[0]?.error?.message).toBe("string");
    const again = await repair(report, { ledger, sinks: [{ name: "wh" }], dryRun: true });
    expect(again.dryRun).toBe(true);
  });

  it("seal reads a draft once: a field that answers each read anew cannot pass the check with one value and seal another", () => {
    let reads = 0;
    const shifty = {
      ...draft(1),
      get producer() {
        reads++;
        return reads === 1 ? "shop" : "not/a producer";
      },
    };
    const envelope = createSealer()(shifty);
    expect(envelope.producer).toBe("shop");
    expect(reads).toBe(1);
  });

  it("seal reads a draft as before: fields from a class, inherited or not enumerable, each read once", () => {
    const seal = createSealer({ clock: () => T0 });
    const hidden = Object.defineProperty({ ...draft(1) }, "key", { value: "order-42" });
    expect(seal(hidden).key).toBe("order-42");
    class Draft {
      readonly producer = "shop";
      readonly seq = 1;
      readonly type = "order.paid";
      readonly schema = { name: "order", version: 1 };
      readonly payload = { id: 1 };
      get stream() {
        return "orders";
      }
    }
    const fromClass = seal(new Draft());
    expect(fromClass.stream).toBe("orders");
    expect(fromClass.key).toBe("shop/orders/1");
    class Trace {
      get traceparent() {
        return "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      }
      get correlationId() {
        return "c-1";
      }
    }
    const traced = seal({ ...draft(2), trace: new Trace() });
    expect(traced.trace).toEqual({
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      correlationId: "c-1",
    });
    expect(seal(Object.create(draft(3))).seq).toBe(3);
  });

  it("a ledger clock past the year 9999 is a typed error, and nothing is appended", async () => {
    const ledger = new MemoryLedger({ clock: () => 1e300 });
    const envelope = createSealer()(draft(1)) as Envelope;
    const error = await settle(() => ledger.append([envelope]));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).path).toBe("options.clock()");
    expect(await ledger.head()).toBe(0);
  });

  it("an adapter's receipt row that answers each read anew is checked as read once, or refused", async () => {
    class Shifty extends MemoryLedger {
      protected override async _getReceipts(sink: string, key: string) {
        const receipts = await super._getReceipts(sink, key);
        return receipts.map((receipt) => {
          let reads = 0;
          return new Proxy(receipt as Receipt, {
            get(target, property, receiver) {
              if (property === "status" && reads++ > 0) return "bogus";
              return Reflect.get(target, property, receiver);
            },
          });
        });
      }
    }
    const clock = createManualClock(T0);
    const ledger = new Shifty({ clock: clock.now });
    const envelope = createSealer({ clock: clock.now })(draft(1)) as Envelope;
    await ledger.append([envelope]);
    const guard = guardSink({ name: "wh", ledger, write: () => undefined, clock: clock.now });
    await guard.deliver(envelope);
    const got = await settle(() => ledger.getReceipts("wh", envelope.key));
    if (got instanceof CorruptionError) return; // refused: fine
    expect(isSinkproofError(got)).toBe(false);
    for (const receipt of got as Receipt[]) expect(receipt.status).toBe("written");
  });
});
