import { describe, expect, it } from "vitest";
import { InvalidArgumentError, MemoryLedger, seal } from "../../src/index.js";
import {
  ledgerClaimCases,
  ledgerConformance,
  ledgerFreezeCases,
  ledgerReadCases,
} from "../../src/testing/index.js";

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

describe("ledgerConformance groups", () => {
  const titlesOf = (run: (test: (title: string) => void) => void): string[] => {
    const out: string[] = [];
    run((title) => out.push(title));
    return out;
  };

  it("runs the groups given, in the suite's order, and a skip may name any case of the suite", () => {
    const picked: string[] = [];
    const claims = titlesOf((t) => ledgerClaimCases(t, false));
    ledgerConformance({
      name: "some",
      describe: (_name, body) => body(),
      it: (title) => {
        picked.push(title);
      },
      create: async () => new MemoryLedger(),
      groups: [ledgerFreezeCases, ledgerReadCases],
      skip: { [claims[0] as string]: "not run here anyway" },
    });
    const reads = titlesOf((t) => ledgerReadCases(t, false));
    const freezes = titlesOf((t) => ledgerFreezeCases(t, false));
    expect(reads.length).toBeGreaterThan(0);
    expect(freezes.length).toBeGreaterThan(0);
    expect(picked).toEqual([...reads, ...freezes]);
  });

  it("refuses groups that are not the suite's, with a typed error at the path", () => {
    const run = (groups: unknown) => () =>
      ledgerConformance({
        name: "x",
        describe: () => undefined,
        it: () => undefined,
        create: async () => new MemoryLedger(),
        groups: groups as never,
      });
    for (const [groups, path] of [
      [[], "options.groups"],
      [[ledgerReadCases, () => undefined], "options.groups[1]"],
      ["ledgerReadCases", "options.groups"],
    ] as const) {
      const error = catchSync(run(groups));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).path).toBe(path);
    }
  });
});

function catchSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
