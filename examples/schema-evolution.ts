/**
 * Schema evolution: a registry of order schemas in three versions, a change the registry
 * refuses, a producer that validates at emit time, a deprecated version, and a sink that
 * only reads the newest version, fed old entries through upcasters.
 *
 * Run: npx tsx examples/schema-evolution.ts  (after `npm run build`; it imports the package)
 */
import assert from "node:assert/strict";
import {
  createMemoryMetrics,
  createProducer,
  createSchemaRegistry,
  type Envelope,
  guardSink,
  MemoryLedger,
  PayloadValidationError,
  SchemaCompatibilityError,
} from "sinkproof";
import { z } from "zod";

const metrics = createMemoryMetrics();
const warnings: string[] = [];
const registry = createSchemaRegistry({
  compatibility: "BACKWARD", // the default: each version reads the previous one's data
  metrics,
  warn: (message) => warnings.push(message),
});

// v1: the first shape. Examples are evidence for later compatibility checks.
registry.register({
  name: "order",
  version: 1,
  schema: z.object({ orderId: z.string(), total: z.number() }),
  examples: [{ orderId: "o-1", total: 42 }],
  deprecated: "order v1 has no currency: emit v3",
});

// v2: a new field with a default is backward compatible.
registry.register({
  name: "order",
  version: 2,
  schema: z.object({ orderId: z.string(), total: z.number(), currency: z.string().default("EUR") }),
  examples: [{ orderId: "o-2", total: 10, currency: "USD" }],
});

// A breaking v3 is refused, with every change listed, and nothing is registered.
try {
  registry.register({
    name: "order",
    version: 3,
    schema: z.object({
      orderId: z.number(),
      amount: z.object({ value: z.number(), currency: z.string() }),
    }),
  });
  assert.fail("an incompatible version was registered");
} catch (error) {
  assert.ok(error instanceof SchemaCompatibilityError);
  console.log(`refused v3 (${error.mode}):`);
  for (const change of error.changes)
    console.log(`  ${change.kind} at ${change.path}: ${change.message}`);
  assert.deepEqual(error.changes.map((c) => `${c.kind}@${c.path}`).sort(), [
    "example-rejected@$.amount", // the v2 example fails v3
    "example-rejected@$.orderId",
    "required-field-added@$.amount", // and the structure says why
    "type-changed@$.orderId",
  ]);
}
assert.equal(registry.latest("order"), 2);

// The same reshaping with an upcaster: old data reaches v3 through it, and the registry
// checks that on the examples of v2.
registry.register({
  name: "order",
  version: 3,
  schema: z.object({
    orderId: z.string(),
    amount: z.object({ value: z.number(), currency: z.string() }),
  }),
  upcast: (payload) => {
    const { orderId, total, currency } = payload as {
      orderId: string;
      total: number;
      currency: string;
    };
    return { orderId, amount: { value: total, currency } };
  },
});
console.log(`registered versions of order: ${registry.versions("order").join(", ")}`);

// The producer validates against the registry and seals the parsed payload.
const ledger = new MemoryLedger();
const producer = createProducer({ id: "shop", ledger, registry });
const old = await producer.emit(
  "order.created",
  { orderId: "o-1", total: 42 },
  { schema: { name: "order", version: 1 } },
);
const mid = await producer.emit(
  "order.created",
  { orderId: "o-2", total: 10 },
  { schema: { name: "order", version: 2 } },
);
const current = await producer.emit(
  "order.created",
  { orderId: "o-3", amount: { value: 7, currency: "GBP" } },
  { schema: { name: "order", version: 3 } },
);
assert.deepEqual(mid.payload, { orderId: "o-2", total: 10, currency: "EUR" }); // the default applied
assert.equal(metrics.count("sinkproof.schema.deprecated", { schema: "order", version: "1" }), 1);
assert.equal(warnings.length, 1);
console.log(`deprecation warning: ${warnings[0]}`);

const refused = await producer
  .emit(
    "order.created",
    { orderId: "o-4", total: "lots" },
    { schema: { name: "order", version: 2 } },
  )
  .catch((error: unknown) => error);
assert.ok(refused instanceof PayloadValidationError);
console.log(`refused payload: ${refused.issues.map((i) => `${i.path} ${i.message}`).join("; ")}`);

// A warehouse sink that only reads v3: the guard upcasts v1 and v2 entries before writing.
const warehouse = new Map<string, Envelope>();
const guard = guardSink({
  name: "warehouse",
  ledger,
  registry,
  accepts: { order: [3, 3] },
  write: (envelope) => {
    warehouse.set(envelope.key, envelope);
  },
});
const receipts = await guard.deliverAll([old, mid, current]);
assert.deepEqual(
  receipts.map((r) => r.status),
  ["written", "written", "written"],
);
for (const envelope of warehouse.values()) {
  assert.equal(envelope.schema.version, 3);
  console.log(`warehouse row ${envelope.key}: ${JSON.stringify(envelope.payload)}`);
}
assert.deepEqual(warehouse.get(old.key)?.payload, {
  orderId: "o-1",
  amount: { value: 42, currency: "EUR" },
});
// The upcast row names the ledger entry it came from; the ledger entry is unchanged.
assert.deepEqual(warehouse.get(old.key)?.parents, [old.id]);
assert.equal((await ledger.get(old.key))?.envelope.checksum, old.checksum);
console.log("schema evolution: ok");
