/**
 * Reconcile a sink against the ledger, read the findings, plan a repair, repair, and
 * check the audit log. The sink is a plain Map standing in for a key-value store; each
 * function handed to reconcile/repair is what you would write for your own store.
 *
 * Run: npx tsx examples/reconcile-and-repair.ts  (after `npm run build`; it imports the package)
 */
import assert from "node:assert/strict";
import {
  checksum,
  createProducer,
  type Envelope,
  guardSink,
  type JsonValue,
  MemoryLedger,
  type ReconcileSink,
  reconcile,
  renderReport,
  repair,
} from "sinkproof";

const ledger = new MemoryLedger();
const producer = createProducer({ id: "orders-svc", ledger });

// The store: key → { payload, checksum }. Its writer is an upsert by key.
const store = new Map<string, { payload: JsonValue; checksum: string }>();
const guard = guardSink({
  name: "kv",
  ledger,
  write: (envelope: Envelope) => {
    store.set(envelope.key, { payload: envelope.payload, checksum: envelope.checksum });
  },
});

// How reconciliation reads, fixes and prunes the store.
const kv: ReconcileSink = {
  name: "kv",
  lagToleranceMs: 0, // this store is written synchronously: anything missing is lost
  // What the store really holds. The payload is given, so the checksum is recomputed from
  // it (a stale checksum column cannot hide an altered payload) and differences get paths.
  *observe() {
    for (const [key, row] of store) yield { key, payload: row.payload };
  },
  guard, // missing entries are replayed through it
  rewrite: (envelope) => {
    store.set(envelope.key, { payload: envelope.payload, checksum: envelope.checksum });
  },
  remove: (key) => {
    store.delete(key);
  },
};

// Emit and deliver 20 orders.
for (let i = 1; i <= 20; i++) {
  const envelope = await producer.emit(
    "order.created",
    { orderId: `o-${i}`, total: i * 10, lines: [{ sku: `sku-${i % 3}`, qty: 1 }] },
    { schema: { name: "order", version: 1 }, stream: "orders" },
  );
  await guard.deliver(envelope);
}

// Drift: a lost row, an altered row, a row nobody emitted.
const keys = [...store.keys()];
store.delete(keys[4] as string);
const altered = store.get(keys[9] as string);
if (altered !== undefined) {
  const payload = { ...(altered.payload as object), total: 0 } as JsonValue;
  store.set(keys[9] as string, { payload, checksum: checksum(payload) });
}
store.set("orders-svc/orders/999", {
  payload: { orderId: "o-999" },
  checksum: checksum({ orderId: "o-999" }),
});

// 1. Reconcile.
const report = await reconcile({ ledger, sinks: [kv] });
const sink = report.sinks[0];
assert.ok(sink !== undefined);
console.log("consistent:", report.consistent, sink.counts);
for (const f of sink.findings) {
  console.log(
    ` ${f.kind.padEnd(12)} ${f.key}${f.paths ? `  differs at ${f.paths.join(", ")}` : ""}${f.receipt ? `  (receipt says ${f.receipt})` : ""}`,
  );
}
assert.deepEqual(
  sink.findings.map((f) => f.kind),
  ["missing-lost", "mismatched", "unexpected"],
);

// 2. Plan first: a dry run changes nothing.
const plan = await repair(report, { ledger, sinks: [kv], dryRun: true });
console.log(
  "plan:",
  plan.actions.map((a) => `${a.action} ${a.key}`),
);
assert.equal(store.size, 20);

// 3. Repair: replay the lost entry, rewrite the altered one, remove the stranger; each
//    action lands in the ledger's hash-chained audit log before it is reported done.
const result = await repair(report, {
  ledger,
  sinks: [kv],
  actor: "ops@example.com",
  reason: "TICKET-42",
});
console.log(
  "converged:",
  result.converged,
  result.actions.map((a) => `${a.action}: ${a.status} (audit #${a.audit})`),
);
assert.equal(result.converged, true);
assert.equal((await reconcile({ ledger, sinks: [kv] })).consistent, true);

// 4. A second repair with the same report does nothing: it rechecks before acting.
assert.equal((await repair(report, { ledger, sinks: [kv] })).actions.length, 0);

// 5. The audit log verifies; keep its head to detect truncation later.
const audit = await ledger.verifyAudit();
if (!audit.ok) throw new Error(`audit log broken: ${JSON.stringify(audit.problems)}`);
console.log(`audit: ${audit.count} records, head ${audit.head?.hash.slice(0, 12)}…`);

// 6. A report for a pull request or a ticket.
console.log(
  renderReport(report, { format: "markdown", repair: result }).split("\n").slice(0, 12).join("\n"),
);
