/**
 * Four worker processes deliver the same 10,000 entries to one sink through one
 * PostgresLedger (test/ledger/fixtures/pg-deliver-worker.ts). The sink table has no unique
 * key, so a key written twice would be two rows: every key must be there exactly once,
 * and the sink's watermark must end at the head.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createSealer, type Envelope } from "../../src/index.js";
import { PostgresLedger } from "../../src/ledger/postgres/index.js";
import { freshDatabase, postgresUrl } from "../support/postgres.js";

const skip = postgresUrl === undefined;

const ENTRIES = 6_000;
const WORKERS = 4;

describe.skipIf(skip)("PostgresLedger shared by processes", () => {
  it(`${WORKERS} worker processes deliver the same ${ENTRIES} entries: each key written exactly once, watermark at the head`, async () => {
    const url = await freshDatabase("multi");
    const schema = "shared";
    const ledger = await PostgresLedger.open({ connectionString: url, schema });
    const seal = createSealer();
    for (let b = 0; b < ENTRIES / 500; b++) {
      const batch: Envelope[] = Array.from({ length: 500 }, (_, i) => {
        const n = b * 500 + i;
        return seal({
          producer: "orders-svc",
          // Many streams: a guard delivers one stream in order, streams in parallel.
          stream: `orders-${n % 32}`,
          seq: n,
          type: "order.created",
          schema: { name: "order", version: 1 },
          payload: { orderId: `o-${n}`, total: n / 4 },
        });
      });
      await ledger.append(batch);
    }
    const head = await ledger.head();
    expect(head).toBe(ENTRIES);
    const admin = new pg.Client(url);
    await admin.connect();
    await admin.query(
      `CREATE TABLE "${schema}".sink_rows (key text NOT NULL, checksum text NOT NULL, worker int NOT NULL, position bigint NOT NULL)`,
    );

    const child = fileURLToPath(new URL("./fixtures/pg-deliver-worker.ts", import.meta.url));
    // Workers 0 and 1 start at the same place and fight over every key; 2 and 3 elsewhere.
    const offsets = [0, 0, ENTRIES / 2, (ENTRIES * 3) / 4];
    const outputs = await Promise.all(
      offsets.map(
        (offset, worker) =>
          new Promise<string>((resolve, reject) => {
            execFile(
              process.execPath,
              ["--import", "tsx", child, url, schema, String(worker), String(offset)],
              { env: { ...process.env, NODE_OPTIONS: "" }, maxBuffer: 1 << 24 },
              (error, stdout, stderr) =>
                error ? reject(new Error(`${String(error)}\n${stderr}`)) : resolve(stdout),
            );
          }),
      ),
    );
    const statuses = outputs.map(
      (out) => JSON.parse(/statuses (\{.*\}) lag/.exec(out)?.[1] ?? "{}") as Record<string, number>,
    );
    console.log(`[multi-process] receipts per worker: ${JSON.stringify(statuses)}`);
    for (const s of statuses) {
      // Every worker answered every entry: written by it, or a duplicate of another's write.
      expect((s.written ?? 0) + (s.duplicate ?? 0)).toBe(ENTRIES);
    }
    expect(statuses.reduce((sum, s) => sum + (s.written ?? 0), 0)).toBe(ENTRIES);
    // More than one worker wrote: the test really shared the work.
    expect(statuses.filter((s) => (s.written ?? 0) > 0).length).toBeGreaterThan(1);

    const counts = await admin.query(
      `SELECT count(*)::int AS rows, count(DISTINCT key)::int AS keys, max(n)::int AS most FROM (SELECT key, count(*) OVER (PARTITION BY key) AS n FROM "${schema}".sink_rows) r`,
    );
    expect(counts.rows[0]).toEqual({ rows: ENTRIES, keys: ENTRIES, most: 1 });
    const missing = await admin.query(
      `SELECT count(*)::int AS n FROM "${schema}".sinkproof_entries e WHERE NOT EXISTS (SELECT 1 FROM "${schema}".sink_rows s WHERE s.key = e.key AND s.checksum = e.checksum)`,
    );
    expect(missing.rows[0]?.n).toBe(0);
    expect(await ledger.getWatermark("warehouse")).toBe(head);
    const receipts = await admin.query(
      `SELECT key, receipt FROM "${schema}".sinkproof_receipts WHERE sink = 'warehouse'`,
    );
    const byStatus: Record<string, number> = {};
    for (const row of receipts.rows) {
      const status = (JSON.parse(row.receipt) as { status: string }).status;
      byStatus[status] = (byStatus[status] ?? 0) + 1;
    }
    expect(byStatus).toEqual({ written: ENTRIES });
    await admin.end();
    await ledger.close();
  }, 300_000);
});
