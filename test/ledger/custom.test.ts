import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { JsonFileLedger } from "../../examples/custom-ledger.js";
import { ledgerConformance } from "../../src/testing/index.js";

// The adapter of examples/custom-ledger.ts passes the same suite as sinkproof's own ledgers.
const root = mkdtempSync(join(tmpdir(), "sinkproof-custom-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

ledgerConformance({
  name: "JsonFileLedger (examples/custom-ledger.ts)",
  describe,
  it,
  create: async ({ clock }) => new JsonFileLedger(join(root, `l${n++}.json`), { clock }),
  reopen: async (ledger, { clock }) => {
    await ledger.close();
    return new JsonFileLedger(ledger.file, { clock });
  },
  // It keeps no row hashes (digest mode's ledger side is optional): reconcile hashes its
  // entries itself, and the ledger says `unsupported` (checked below).
  skip: Object.fromEntries(
    [
      "digestBuckets answers what digestIndex answers for the same entries, for every split",
      "scope.through bounds the entries counted; entries appended later count in the next request",
      "a reopened ledger answers the same",
      "bad requests are refused with typed errors naming the path",
    ]
      .map((name) => [name, "JsonFileLedger keeps no row hashes: digest mode hashes its scan"])
      .concat(
        [
          "window samples are kept per sink, in the order recorded",
          "each sink keeps its most recent WINDOW_HISTORY_LIMIT samples",
          "window samples survive a reopen",
          "a bad sample stores none of its call, and a bad query is refused",
        ].map((name) => [name, "JsonFileLedger keeps no window history (the hooks are optional)"]),
      ),
  ),
});

describe("JsonFileLedger without digest hooks", () => {
  it("refuses digest requests with `unsupported`, which reconcile handles by hashing its scan", async () => {
    const ledger = new JsonFileLedger(join(root, `l${n++}.json`));
    const error = await ledger
      .digestBuckets({ from: 0, to: 2 ** 32, buckets: 1 }, { through: 0 })
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe("unsupported");
    await ledger.close();
  });

  it("refuses window history with `unsupported`, after checking the samples", async () => {
    const ledger = new JsonFileLedger(join(root, `l${n++}.json`));
    const sample = {
      sink: "search",
      at: "2026-01-01T00:00:00.000Z",
      position: 0,
      behindEntries: 0,
      behindMs: 0,
      consistent: true,
    };
    const refused = await ledger.recordWindows([sample]).catch((e: unknown) => e);
    expect((refused as { code?: string }).code).toBe("unsupported");
    const bad = await ledger.recordWindows([{ ...sample, position: -1 }]).catch((e: unknown) => e);
    expect((bad as { code?: string; path?: string }).code).toBe("invalid_argument");
    expect((bad as { path?: string }).path).toBe("samples[0].position");
    const read = await ledger.windowHistory("search").catch((e: unknown) => e);
    expect((read as { code?: string }).code).toBe("unsupported");
    await ledger.close();
  });
});
