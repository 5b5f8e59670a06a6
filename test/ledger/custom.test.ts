import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
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
});
