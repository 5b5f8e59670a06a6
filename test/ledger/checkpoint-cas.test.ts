/**
 * `putCheckpoint` with `expected` across two ledger objects on one database (two
 * processes, as far as the storage can tell): the SQL ledgers' compare-and-set is one
 * atomic step in the database, so of racing puts from one checkpoint exactly one stores.
 * (Within one ledger object, the conformance suite checks it.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSealer, type Ledger, type ReconcileCheckpoint } from "../../src/index.js";
import { PostgresLedger } from "../../src/ledger/postgres/index.js";
import { SqliteLedger } from "../../src/ledger/sqlite/index.js";
import { freshDatabase, postgresSkipped, postgresUrl } from "../support/postgres.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-cas-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const seal = createSealer();

async function race(open: () => Promise<Ledger>): Promise<void> {
  const ledgers = [await open(), await open(), await open(), await open()];
  const first = ledgers[0] as Ledger;
  const { results } = await first.append(
    [0, 1].map((seq) =>
      seal({ producer: "p", seq, type: "t", schema: { name: "t", version: 1 }, payload: {} }),
    ),
  );
  const [e1, e2] = results.map((r) => r.entry);
  const at = (entry: NonNullable<typeof e1>, second: number): ReconcileCheckpoint => ({
    sink: "warehouse",
    through: entry.position,
    at: new Date(Date.UTC(2026, 0, 1) + second * 1000).toISOString(),
    key: entry.envelope.key,
    checksum: entry.envelope.checksum,
    digest: "xxh64sum:0123456789abcdef",
  });
  if (e1 === undefined || e2 === undefined) throw new Error("two entries appended");
  for (let round = 0; round < 10; round++) {
    // Every ledger object reads the same checkpoint (or none), then all put at once.
    const expected = (await first.getCheckpoint("warehouse")) ?? null;
    const answers = await Promise.all(
      ledgers.flatMap((ledger, l) =>
        [0, 1].map((k) => ledger.putCheckpoint(at(e2, round * 8 + l * 2 + k), { expected })),
      ),
    );
    expect(answers.filter(Boolean), `round ${round}: ${answers}`).toHaveLength(1);
    const winner = answers.indexOf(true);
    expect(await ledgers[3]?.getCheckpoint("warehouse")).toEqual(at(e2, round * 8 + winner));
  }
  for (const ledger of ledgers) await ledger.close();
}

describe("putCheckpoint's compare-and-set between ledger objects on one database", () => {
  it("SqliteLedger: of racing puts from one checkpoint, one stores", async () => {
    const path = join(root, "cas.db");
    await race(() => SqliteLedger.open(path));
  });

  it.skipIf(postgresUrl === undefined)(
    `PostgresLedger: of racing puts from one checkpoint, one stores${postgresSkipped === undefined ? "" : ` (skipped: ${postgresSkipped})`}`,
    async () => {
      const url = await freshDatabase("cas");
      await race(() => PostgresLedger.open({ connectionString: url, schema: "cas" }));
    },
  );
});
