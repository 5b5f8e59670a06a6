/**
 * Seal an event on the producer side, ship it as JSON, and check it on the sink side.
 *
 * Run: npx tsx examples/seal-and-verify.ts  (after `npm run build`; it imports the package)
 */
import assert from "node:assert/strict";
import {
  checksum,
  createSealer,
  IntegrityError,
  idempotencyKey,
  isSinkproofError,
  parseEnvelope,
  verify,
} from "sinkproof";

// Producer: one sealer per producer, so ids sort in creation order.
const sealOrder = createSealer();
const envelope = sealOrder({
  producer: "orders-svc",
  stream: "orders",
  seq: 1,
  type: "order.created",
  schema: { name: "order", version: 1 },
  // The identity of the effect: the same order event always gets the same key.
  key: idempotencyKey({ orderId: "o-1", event: "created" }),
  payload: { orderId: "o-1", total: 42.5, items: [{ sku: "beans-1kg", qty: 2 }] },
});
console.log("sealed", envelope.id, envelope.key, envelope.checksum);

// The wire: any JSON transport (a queue, HTTP, a file).
const wire = JSON.stringify(envelope);

// Sink: parse strictly (every field checked, checksum verified), then store.
const received = parseEnvelope(wire);
assert.deepEqual(received, envelope);
console.log("received intact:", verify(received).ok);

// A sink that stores the payload can recompute the checksum from what it holds.
const stored = JSON.parse(JSON.stringify(received.payload));
assert.equal(checksum(stored), envelope.checksum);

// Damage in transit is caught: here a digit of the total changed.
const damaged = wire.replace('"total":42.5', '"total":42.6');
try {
  parseEnvelope(damaged);
  assert.fail("damage went unnoticed");
} catch (error) {
  assert.ok(error instanceof IntegrityError);
  console.log("damaged copy refused:", error.code, error.expected, "!=", error.actual);
}

// Bad input is a typed error with a code and a path, never a crash.
try {
  sealOrder({
    producer: "orders-svc",
    seq: 2,
    type: "order.created",
    schema: { name: "order", version: 1 },
    payload: { orderId: "o-2", total: Number.NaN },
  });
  assert.fail("NaN went unnoticed");
} catch (error) {
  assert.ok(isSinkproofError(error));
  assert.equal(error.path, "$.payload.total");
  console.log("bad payload refused:", error.code, "at", error.path);
}
