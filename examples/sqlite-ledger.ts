/**
 * A ledger in one SQLite file: append, record a delivery, and reopen; the settings check
 * that refuses a database that could lose acknowledged writes.
 *
 * Run: npx tsx examples/sqlite-ledger.ts  (after `npm run build`; it imports the package;
 * needs `npm install better-sqlite3@12`)
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSealer, isSinkproofError } from "sinkproof";
import { SqliteLedger } from "sinkproof/sqlite";

const directory = mkdtempSync(join(tmpdir(), "sinkproof-sqlite-example-"));
try {
  const path = join(directory, "ledger.db");
  let ledger = await SqliteLedger.open(path);
  console.log("capabilities:", ledger.capabilities);

  const seal = createSealer();
  const orders = [0, 1, 2].map((i) =>
    seal({
      producer: "orders-svc",
      stream: "orders",
      seq: i,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: { orderId: `o-${i}`, total: 10 * (i + 1) },
    }),
  );
  // One transaction, committed and fsync'd (WAL, synchronous=FULL) when it resolves.
  const { results } = await ledger.append(orders);
  console.log(
    "appended at positions",
    results.map((r) => r.entry.position),
  );

  const entry = results[0]?.entry;
  assert.ok(entry !== undefined);
  await ledger.putReceipt({
    sink: "warehouse",
    key: entry.envelope.key,
    id: entry.envelope.id,
    position: entry.position,
    status: "written",
    checksum: entry.envelope.checksum,
    attempt: 1,
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
  });
  await ledger.advanceWatermark("warehouse", 1);

  // Reopen: everything acknowledged is there, and idempotency holds across the restart.
  await ledger.close();
  ledger = await SqliteLedger.open(path);
  assert.equal(await ledger.head(), 3);
  assert.equal((await ledger.append(orders)).existing, 3);
  console.log(
    "reopened: head",
    await ledger.head(),
    "watermark",
    await ledger.getWatermark("warehouse"),
  );
  await ledger.close();

  // Settings that could lose an acknowledged write are refused unless asked for.
  await SqliteLedger.open(join(directory, "weak.db"), { synchronous: "normal" }).catch(
    (error: unknown) => {
      assert.ok(isSinkproofError(error));
      console.log("weak settings refused:", error.code);
    },
  );
} finally {
  rmSync(directory, { recursive: true, force: true });
}
