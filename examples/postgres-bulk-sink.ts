/**
 * Background delivery into a real PostgreSQL table with a bulk writer: the producer
 * publishes batches (`publishMany`) and returns once they are durable in a
 * PostgresLedger; a background worker delivers each batch with one multi-row upsert
 * (`writeBatch`), guarded by each row's fencing token. At the end, every key is in the
 * table exactly once, with its checksum, and the sink's watermark is at the head.
 *
 * Run: SINKPROOF_PG_URL=postgres://user@localhost:5432/db npx tsx examples/postgres-bulk-sink.ts
 * (after `npm run build`; it imports the package). It creates the schema
 * `sinkproof_bulk_example` and drops it at the end.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { createPipeline, createProducer, guardSink, type SinkBatchWriter } from "sinkproof";
import { PostgresLedger } from "sinkproof/postgres";

const url = process.env.SINKPROOF_PG_URL;
if (url === undefined) {
  console.error("Set SINKPROOF_PG_URL to a PostgreSQL connection string to run this example.");
  process.exit(1);
}
const schema = "sinkproof_bulk_example";
const EVENTS = 2_000;

const pool = new pg.Pool({ connectionString: url, max: 4 });
pool.on("error", (error) => console.error("idle client failed:", error.message));
await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);

try {
  const ledger = await PostgresLedger.open({ connectionString: url, schema });
  await pool.query(
    `CREATE TABLE ${schema}.orders (key text PRIMARY KEY, position bigint NOT NULL, checksum text NOT NULL, body jsonb NOT NULL, fencing_token bigint NOT NULL, writes int NOT NULL)`,
  );

  // One statement per batch: rows in, or updated only under a newer fencing token (a
  // writer paused past its claim never overwrites the newer holder's row).
  const upsertOrders: SinkBatchWriter = async (envelopes, ctx) => {
    await pool.query(
      `INSERT INTO ${schema}.orders AS o (key, position, checksum, body, fencing_token, writes)
       SELECT key, position, checksum, body, token, 1
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[], $5::bigint[]) AS r(key, position, checksum, body, token)
       ON CONFLICT (key) DO UPDATE SET position = excluded.position, checksum = excluded.checksum,
         body = excluded.body, fencing_token = excluded.fencing_token, writes = o.writes + 1
       WHERE o.fencing_token < excluded.fencing_token`,
      [
        envelopes.map((e) => e.key),
        ctx.items.map((item) => item.position),
        envelopes.map((e) => e.checksum),
        envelopes.map((e) => JSON.stringify(e.payload)),
        ctx.items.map((item) => item.fencingToken),
      ],
    );
  };

  const pipeline = createPipeline({
    producer: createProducer({ id: "orders-svc", ledger }),
    sinks: [guardSink({ name: "orders-table", ledger, writeBatch: upsertOrders })],
    delivery: "background",
    batchSize: 500,
    maxBacklog: { entries: 5_000 },
  });

  for (let from = 0; from < EVENTS; from += 100) {
    await pipeline.publishMany(
      Array.from({ length: 100 }, (_, i) => ({
        type: "order.created",
        payload: { orderId: `o-${from + i}`, total: (from + i) / 4 },
        schema: { name: "order", version: 1 },
        stream: `orders-${(from + i) % 8}`,
      })),
    );
  }
  await pipeline.idle();
  await pipeline.close();

  const head = await ledger.head();
  assert.equal(head, EVENTS);
  assert.equal(await ledger.getWatermark("orders-table"), head);
  const { rows } = await pool.query(
    `SELECT count(*)::int AS rows, max(writes)::int AS most FROM ${schema}.orders`,
  );
  assert.deepEqual(rows[0], { rows: EVENTS, most: 1 });
  // Every row holds what the ledger holds for its key.
  const stored = await pool.query(`SELECT key, checksum FROM ${schema}.orders`);
  for (const row of stored.rows as { key: string; checksum: string }[]) {
    const entry = await ledger.get(row.key);
    assert.equal(entry?.envelope.checksum, row.checksum);
  }
  console.log(
    `${EVENTS} events published in batches of 100 and upserted in batches: every key once, watermark ${head}`,
  );
  await ledger.close();
} finally {
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
}
