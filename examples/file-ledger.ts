/**
 * A crash-safe ledger in a directory: append, read back, record a delivery, restart.
 *
 * Run: npx tsx examples/file-ledger.ts  (after `npm run build`; it imports the package)
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSealer, FileLedger, IdempotencyConflictError, LedgerLockedError } from "sinkproof";

const directory = mkdtempSync(join(tmpdir(), "sinkproof-example-"));
try {
  const sealOrder = createSealer();
  let ledger = await FileLedger.open(directory);

  // Sequence numbers come from the ledger, so they survive a restart.
  const { first } = await ledger.reserveSequence("orders-svc", 2);
  const orders = [0, 1].map((i) =>
    sealOrder({
      producer: "orders-svc",
      stream: "orders",
      seq: first + i,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: { orderId: `o-${i}`, total: 10 * (i + 1) },
    }),
  );

  // Resolves once the bytes are fsync'd: only then may a sink see these envelopes.
  const { results } = await ledger.append(orders);
  console.log(
    "appended at positions",
    results.map((r) => r.entry.position),
  );

  // Appending the same effect again is idempotent; a different payload under the key is not.
  assert.equal((await ledger.append(orders.slice(0, 1))).existing, 1);
  const tampered = sealOrder({
    producer: "orders-svc",
    stream: "orders",
    seq: first,
    type: "order.created",
    schema: { name: "order", version: 1 },
    payload: { orderId: "o-0", total: 999 },
  });
  await ledger.append([tampered]).catch((error: unknown) => {
    assert.ok(error instanceof IdempotencyConflictError);
    console.log("conflict refused; existing entry at position", error.existing?.position);
  });

  // A delivery leaves a receipt; the watermark says how far the sink is complete.
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
    sinkOffset: "orders_table:row-1",
  });
  await ledger.advanceWatermark("warehouse", 1);

  // One writer per directory.
  await FileLedger.open(directory).catch((error: unknown) => {
    assert.ok(error instanceof LedgerLockedError);
    console.log("second open refused:", error.code);
  });

  // Restart: everything acknowledged is still there.
  await ledger.close();
  ledger = await FileLedger.open(directory);
  console.log(
    "reopened:",
    ledger.recovery.entries,
    "entries,",
    ledger.recovery.segments,
    "segment(s)",
  );
  assert.equal(await ledger.head(), 2);
  assert.equal(await ledger.getWatermark("warehouse"), 1);
  assert.equal((await ledger.getReceipts("warehouse", entry.envelope.key)).length, 1);
  for await (const e of ledger.scan({ stream: "orders" }))
    console.log(e.position, e.envelope.key, e.envelope.checksum);
  await ledger.close();
} finally {
  rmSync(directory, { recursive: true, force: true });
}
