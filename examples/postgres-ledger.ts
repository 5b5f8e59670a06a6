/**
 * One PostgreSQL ledger shared by a producer and two sink writers (as if they were
 * separate processes: each has its own ledger object and pool): append, deliver through
 * guarded sinks into a table, and check that every key landed once and the watermark
 * reached the head.
 *
 * Run: SINKPROOF_PG_URL=postgres://user@localhost:5432/db npx tsx examples/postgres-ledger.ts
 * (after `npm run build`; it imports the package). It creates the schema
 * `sinkproof_example` and drops it at the end.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { createSealer, guardSink } from "sinkproof";
import { PostgresLedger } from "sinkproof/postgres";

const url = process.env.SINKPROOF_PG_URL;
if (url === undefined) {
  console.error("Set SINKPROOF_PG_URL to a PostgreSQL connection string to run this example.");
  process.exit(1);
}
const schema = "sinkproof_example";

// The sink: a table keyed by idempotency key; the writer upserts, so a redelivery after a
// crash between write and receipt is harmless.
const pool = new pg.Pool({ connectionString: url, max: 10 });
pool.on("error", (error) => console.error("idle client failed:", error.message));
await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);

try {
  // The producer's ledger: a connection string (the ledger makes and ends its own pool).
  const producerLedger = await PostgresLedger.open({ connectionString: url, schema });
  await pool.query(
    `CREATE TABLE ${schema}.orders (key text PRIMARY KEY, checksum text NOT NULL, body jsonb NOT NULL, writes int NOT NULL DEFAULT 1)`,
  );
  const seal = createSealer();
  const { first } = await producerLedger.reserveSequence("orders-svc", 20);
  const orders = Array.from({ length: 20 }, (_, i) =>
    seal({
      producer: "orders-svc",
      stream: `orders-${i % 4}`,
      seq: first + i,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: { orderId: `o-${i}`, total: 10 * (i + 1) },
    }),
  );
  // Committed (synchronous_commit on) when it resolves: only then may a sink see them.
  const { appended } = await producerLedger.append(orders);
  console.log(`appended ${appended} orders; head ${await producerLedger.head()}`);

  // Two sink writers, each with its own ledger object on a shared pool (the pool is
  // theirs: the ledger does not end it). Claims in the ledger keep them from writing one
  // key twice; the second to come gets a `duplicate` receipt instead of a write.
  const writers = await Promise.all(
    ["writer-a", "writer-b"].map(async (owner) => {
      const ledger = await PostgresLedger.open({ pool, schema });
      return guardSink({
        name: "orders-table",
        ledger,
        owner,
        write: async (envelope) => {
          await pool.query(
            `INSERT INTO ${schema}.orders (key, checksum, body) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET checksum = $2, body = $3, writes = orders.writes + 1`,
            [envelope.key, envelope.checksum, JSON.stringify(envelope.payload)],
          );
        },
      });
    }),
  );
  // They work from opposite ends of the list and meet in the middle.
  const receipts = await Promise.all(
    writers.map((writer, i) => writer.deliverAll(i === 0 ? orders : [...orders].reverse())),
  );
  for (const [i, list] of receipts.entries()) {
    const written = list.filter((r) => r.status === "written").length;
    console.log(`writer ${i}: ${written} written, ${list.length - written} duplicate`);
  }
  for (const writer of writers) await writer.measure();

  const { rows } = await pool.query(
    `SELECT count(*)::int AS n, max(writes)::int AS most FROM ${schema}.orders`,
  );
  assert.deepEqual(rows[0], { n: 20, most: 1 });
  const watermark = await producerLedger.getWatermark("orders-table");
  assert.equal(watermark, await producerLedger.head());
  console.log(`sink holds ${rows[0].n} orders, each written once; watermark ${watermark}`);

  for (const writer of writers) await writer.ledger.close();
  await producerLedger.close();
} finally {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
}
