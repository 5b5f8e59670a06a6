import { describe, expect, it } from "vitest";
import { MemoryLedger, seal } from "../../src/index.js";
import { ledgerConformance } from "../../src/testing/index.js";

ledgerConformance({
  name: "MemoryLedger",
  describe,
  it,
  create: async ({ clock }) => new MemoryLedger({ clock }),
});

describe("MemoryLedger", () => {
  it("declares no durability and process-local claims", () => {
    expect(new MemoryLedger().capabilities).toEqual({
      durability: "none",
      concurrency: "single-process",
      claims: "process",
      clock: "injected",
    });
  });

  it("takes payload limits for append", async () => {
    const ledger = new MemoryLedger({ maxPayloadBytes: 10 });
    const envelope = seal({
      producer: "p",
      seq: 0,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { x: "long enough" },
    });
    await expect(ledger.append([envelope])).rejects.toMatchObject({ code: "unverifiable" });
  });

  it("rejects bad options with an InvalidArgumentError", () => {
    expect(() => new MemoryLedger({ clock: 1 as never })).toThrow(
      expect.objectContaining({ path: "options.clock" }),
    );
    expect(() => new MemoryLedger({ maxDepth: 0 })).toThrow(
      expect.objectContaining({ path: "options.maxDepth" }),
    );
  });
});
