/**
 * CloudEvents interop: send sealed envelopes as CloudEvents 1.0 (structured JSON mode),
 * read them back losslessly, and take in foreign events from a webhook, idempotently.
 *
 * Run: npx tsx examples/cloudevents.ts  (after `npm run build`; it imports the package)
 */
import assert from "node:assert/strict";
import {
  CloudEventError,
  createProducer,
  fromCloudEvent,
  IntegrityError,
  MemoryLedger,
  toCloudEvent,
  verify,
} from "sinkproof";

const ledger = new MemoryLedger();
const producer = createProducer({ id: "orders-svc", ledger });
const envelope = await producer.emit(
  "order.created",
  { orderId: "o-1", total: 42.5 },
  {
    schema: { name: "order", version: 2 },
    stream: "orders",
    trace: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
  },
);

// Out: one JSON document per event, e.g. the body of an HTTP POST with
// Content-Type: application/cloudevents+json.
const body = JSON.stringify(toCloudEvent(envelope));
console.log(body);

// In: the same envelope, checksum verified.
const back = fromCloudEvent(body);
assert.deepEqual(back, envelope);
assert.ok(verify(back).ok);

// Altered in transit: refused.
const tampered = { ...JSON.parse(body), data: { orderId: "o-1", total: 0 } };
assert.throws(() => fromCloudEvent(tampered), IntegrityError);

// A foreign event from a webhook, delivered twice (webhooks retry). Its idempotency key
// comes from (source, id), so the ledger keeps one entry.
const webhook = JSON.stringify({
  specversion: "1.0",
  id: "evt_1Q2w3E",
  source: "https://payments.example.com/webhooks",
  type: "payment.succeeded",
  time: "2026-11-26T10:00:00+01:00",
  datacontenttype: "application/json",
  data: { paymentId: "pay_1", orderId: "o-1", amount: 4250 },
});
const first = fromCloudEvent(webhook, { producer: "payments-webhook" });
const again = fromCloudEvent(webhook, { producer: "payments-webhook" });
assert.equal(first.key, again.key);
const { results } = await ledger.append([first]);
const { results: retried } = await ledger.append([again]);
assert.equal(results[0]?.status, "appended");
assert.equal(retried[0]?.status, "existing");
console.log(
  `foreign event ${first.key} at ${first.time}, schema ${first.schema.name} v${first.schema.version}`,
);

// Not a CloudEvent: every broken rule, with its path.
try {
  fromCloudEvent({ specversion: "1.0", id: "", source: "/s", Type: "x", count: 2 ** 40 });
  assert.fail("accepted an invalid event");
} catch (error) {
  assert.ok(error instanceof CloudEventError);
  for (const issue of error.issues) console.log(`  ${issue.path} ${issue.code}: ${issue.message}`);
  assert.deepEqual(
    error.issues.map((i) => i.path),
    ["$.Type", "$.count", "$.id", "$.type"],
  );
}
console.log("cloudevents: ok");
