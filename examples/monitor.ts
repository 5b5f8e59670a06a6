/**
 * A monitor with an alert hook: incremental reconciliation on a schedule, alerts posted
 * to a webhook (a small HTTP server on a loopback port stands in for Slack or PagerDuty).
 * A row is deleted behind the pipeline's back: the next pass posts a `loss` alert; the
 * repair fixes it, and the pass after posts `recovered`.
 *
 * Run: npx tsx examples/monitor.ts  (after `npm run build`; it imports the package)
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createMemoryMetrics,
  createMonitor,
  createProducer,
  guardSink,
  type JsonValue,
  MemoryLedger,
  type MonitorAlert,
  type ReconcileSink,
  repair,
} from "sinkproof";

// The webhook: it keeps what it receives.
const received: MonitorAlert[] = [];
const server = createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => {
    body += chunk;
  });
  request.on("end", () => {
    received.push(JSON.parse(body) as MonitorAlert);
    response.writeHead(204).end();
  });
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;

// A producer, a key-value store and its guarded writer.
const ledger = new MemoryLedger();
const producer = createProducer({ id: "orders-svc", ledger });
const store = new Map<string, { payload: JsonValue; checksum: string }>();
const guard = guardSink({
  name: "kv",
  ledger,
  write: (envelope) => {
    store.set(envelope.key, { payload: envelope.payload, checksum: envelope.checksum });
  },
});
const kv: ReconcileSink = {
  name: "kv",
  lagToleranceMs: 0, // written synchronously: anything missing is lost
  *observe() {
    for (const [key, row] of store) yield { key, checksum: row.checksum };
  },
  guard,
  rewrite: (envelope) => {
    store.set(envelope.key, { payload: envelope.payload, checksum: envelope.checksum });
  },
  remove: (key) => {
    store.delete(key);
  },
};
let orders = 0;
const emit = async (n: number) => {
  for (let i = 0; i < n; i++) {
    const envelope = await producer.emit(
      "order.created",
      { orderId: `o-${++orders}`, total: 10 },
      { schema: { name: "order", version: 1 }, stream: "orders" },
    );
    await guard.deliver(envelope);
  }
};

const metrics = createMemoryMetrics();
const monitor = createMonitor({
  ledger,
  sinks: [kv],
  everyMs: 50,
  fullSweepEveryMs: 86_400_000,
  metrics,
  // The alert hook: one POST per alert.
  onAlert: async (alert) => {
    const response = await fetch(hook, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(alert),
    });
    assert.equal(response.status, 204);
  },
});

// On a schedule: a pass at once, then one 50 ms after each pass ends.
await emit(100);
monitor.start();
const passes = (kind: string, outcome: string) =>
  metrics.count("sinkproof.monitor.passes", { kind, outcome });
while (passes("incremental", "consistent") < 3) await new Promise((r) => setTimeout(r, 10));
await monitor.stop();
assert.equal(received.length, 0, "a consistent sink raises nothing");
console.log(
  "3 passes, consistent, no alert; checkpoint at",
  (await ledger.getCheckpoint("kv"))?.through,
);

// New orders, and one of them deleted behind the pipeline's back.
await emit(20);
const victim = [...store.keys()].at(-5) as string;
store.delete(victim);
await new Promise((r) => setTimeout(r, 5)); // older than the lag tolerance (0 ms): lost, not late
const lossPass = await monitor.runOnce();
assert.equal(lossPass.report?.range.from, 101, "an incremental pass checks only the new entries");
assert.equal(received.length, 1);
assert.equal(received[0]?.kind, "loss");
assert.equal(received[0]?.severity, "critical");
assert.equal(received[0]?.counts?.["missing-lost"], 1);
console.log("posted:", received[0]?.severity, received[0]?.message);

// The on-call person repairs; the next pass posts `recovered`.
const fixed = await repair(lossPass.report as NonNullable<typeof lossPass.report>, {
  ledger,
  sinks: [kv],
  actor: "oncall@example.com",
  reason: "INC-1",
});
assert.ok(fixed.converged);
assert.ok(store.has(victim));
await monitor.runOnce();
assert.equal(received.length, 2);
assert.equal(received[1]?.kind, "recovered");
assert.deepEqual(received[1]?.cleared, ["loss"]);
console.log("posted:", received[1]?.severity, received[1]?.message);
assert.equal(metrics.count("sinkproof.monitor.alerts", { sink: "kv", kind: "loss" }), 1);

server.close();
