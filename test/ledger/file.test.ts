import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, it } from "vitest";
import { FileLedger } from "../../src/index.js";
import { ledgerConformance } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-file-ledger-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

ledgerConformance({
  name: "FileLedger",
  describe,
  it,
  create: async ({ clock }) => FileLedger.open(join(root, `c${n++}`), { clock }),
  reopen: async (ledger, { clock }) => {
    await ledger.close();
    return FileLedger.open(ledger.directory, { clock });
  },
});

ledgerConformance({
  name: "FileLedger with tiny segments",
  describe,
  it,
  create: async ({ clock }) => FileLedger.open(join(root, `s${n++}`), { clock, segmentBytes: 4096, cacheEntries: 0 }),
  reopen: async (ledger, { clock }) => {
    await ledger.close();
    return FileLedger.open(ledger.directory, { clock, segmentBytes: 4096, cacheEntries: 0 });
  },
});
