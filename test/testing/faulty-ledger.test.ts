/**
 * createFaultyLedger: with no fault it is the ledger it wraps (the whole conformance
 * suite passes through it); each fault does what it says, drawn from its seed.
 */
import { describe, expect, it } from "vitest";
import { createSealer, InvalidArgumentError, LedgerError, MemoryLedger } from "../../src/index.js";
import { createFaultyLedger, ledgerConformance } from "../../src/testing/index.js";
import { LEDGER_CALLS, LEDGER_SCANS } from "../../src/testing/ledger-wrap.js";

ledgerConformance({
  name: "createFaultyLedger over MemoryLedger, with no fault",
  describe,
  it,
  create: async ({ clock }) => createFaultyLedger(new MemoryLedger({ clock })),
});

const seal = createSealer();
const envelope = (n: number) =>
  seal({
    producer: "p",
    seq: n,
    type: "t",
    schema: { name: "s", version: 1 },
    payload: { n },
  });

describe("createFaultyLedger", () => {
  it("wraps every method of the Ledger interface", () => {
    // The lists are checked against the interface at compile time (ledger-wrap.ts); here,
    // that each names a method the ledger has, and the wrapper has each of them.
    const inner = new MemoryLedger();
    const faulty = createFaultyLedger(inner);
    const listed: string[] = [...LEDGER_CALLS, ...LEDGER_SCANS];
    expect(new Set(listed).size).toBe(34);
    for (const method of listed) {
      expect(typeof (inner as never)[method], method).toBe("function");
      expect(typeof (faulty as never)[method], method).toBe("function");
    }
    expect(faulty.capabilities).toEqual(inner.capabilities);
  });

  it("fail: the call throws `unavailable` and has no effect", async () => {
    const inner = new MemoryLedger();
    const ledger = createFaultyLedger(inner, { fail: 1, methods: ["append"] });
    const error = await ledger.append([envelope(1)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe("unavailable");
    expect(await inner.head()).toBe(0);
    expect(await ledger.head()).toBe(0); // not in `methods`: passes
    expect(ledger.stats()).toEqual({ failed: 1, ambiguous: 0, hung: 0 });
  });

  it("ambiguous: the call takes effect, then throws; heal stops the faults", async () => {
    const inner = new MemoryLedger();
    const ledger = createFaultyLedger(inner, { ambiguous: 1 });
    const error = await ledger.append([envelope(1)]).catch((e: unknown) => e);
    expect((error as LedgerError).code).toBe("unavailable");
    expect(await inner.head()).toBe(1);
    ledger.heal();
    expect(await ledger.head()).toBe(1);
    expect((await ledger.append([envelope(1)])).existing).toBe(1);
    expect(ledger.stats().ambiguous).toBe(1);
  });

  it("hang: the call waits until release, then runs; scans are faulted step by step", async () => {
    const inner = new MemoryLedger();
    await inner.append([envelope(1), envelope(2)]);
    const ledger = createFaultyLedger(inner, { hang: 1, methods: ["head", "scan"] });
    let done = false;
    const head = ledger.head().then((h) => {
      done = true;
      return h;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(done).toBe(false);
    ledger.release();
    expect(await head).toBe(2);
    const seen: number[] = [];
    const scan = (async () => {
      for await (const entry of ledger.scan()) seen.push(entry.position);
    })();
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      ledger.release();
    }
    await scan;
    expect(seen).toEqual([1, 2]);
    expect(ledger.stats().hung).toBe(4); // head, then three steps of the scan
  });

  it("the same seed draws the same faults", async () => {
    const run = async () => {
      const ledger = createFaultyLedger(new MemoryLedger(), { seed: 9, fail: 0.5 });
      const outcomes: boolean[] = [];
      for (let i = 0; i < 20; i++)
        outcomes.push(
          await ledger.head().then(
            () => true,
            () => false,
          ),
        );
      return outcomes;
    };
    const [a, b] = [await run(), await run()];
    expect(a).toEqual(b);
    expect(a).toContain(true);
    expect(a).toContain(false);
  });

  it("bad options are typed errors with the path", () => {
    const inner = new MemoryLedger();
    const refused = (options: unknown, path: string) => {
      let thrown: unknown;
      try {
        createFaultyLedger(inner, options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect((thrown as InvalidArgumentError).path).toBe(path);
    };
    refused({ fial: 0.1 }, "options.fial");
    refused({ fail: 1.5 }, "options.fail");
    refused({ fail: Number.NaN }, "options.fail");
    refused({ fail: 0.6, hang: 0.6 }, "options");
    refused({ seed: -2 }, "options.seed");
    refused({ methods: ["append", "explode"] }, "options.methods[1]");
    expect(() => createFaultyLedger({} as never)).toThrow(InvalidArgumentError);
  });
});
