/**
 * The PostgreSQL table sink, against the real server the test suite starts: the sink
 * conformance suite, then rows deleted, altered and inserted by hand in SQL, found by
 * reconcile (read-back and digest mode) and repaired; bad options refused with typed
 * errors naming the path.
 */
import type pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createSealer, guardSink, MemoryLedger, reconcile, repair } from "../../src/index.js";
import { postgresTableSink } from "../../src/sinks/postgres/index.js";
import { createManualClock, sinkConformance } from "../../src/testing/index.js";
import { freshDatabase, poolOf, postgresSkipped, postgresUrl } from "../support/postgres.js";

const skip = postgresUrl === undefined;
if (skip) console.log(`[sinks/postgres] skipped: ${postgresSkipped}`);
let pool: pg.Pool | undefined;
const poolNow = async (): Promise<pg.Pool> => {
  pool ??= poolOf(await freshDatabase("sinks"));
  return pool;
};
afterAll(async () => {
  await pool?.end();
});
let tables = 0;

sinkConformance({
  name: "postgresTableSink",
  describe: skip ? describe.skip : describe,
  it,
  create: async (name) => {
    const sink = postgresTableSink({ name, pool: await poolNow(), table: `c${tables++}` });
    await sink.migrate();
    return sink;
  },
  reopen: async (sink) => {
    await sink.close();
    const table = sink.table.split(".")[1]?.replaceAll('"', "") as string;
    return postgresTableSink({ name: sink.name, pool: await poolNow(), table });
  },
});

describe.skipIf(skip)("postgresTableSink: damage made in SQL", () => {
  it("rows deleted, altered and inserted by hand are found by read-back and repaired", async () => {
    const db = await poolNow();
    const clock = createManualClock(Date.parse("2026-06-01T12:00:00.000Z"));
    const ledger = new MemoryLedger({ clock: clock.now });
    const seal = createSealer({ clock: clock.now });
    const sink = postgresTableSink({ name: "orders", pool: db, table: "hand", lagToleranceMs: 0 });
    await sink.migrate();
    await sink.migrate(); // idempotent
    const guard = guardSink({
      name: "orders",
      ledger,
      write: sink.write,
      writeBatch: sink.writeBatch,
    });
    const envelopes = Array.from({ length: 8 }, (_, i) =>
      seal({
        producer: "orders",
        seq: i,
        type: "order",
        schema: { name: "order", version: 1 },
        payload: { total: i * 10 },
      }),
    );
    await ledger.append(envelopes);
    await guard.deliverMany(envelopes);
    const [a, b, c] = envelopes as [
      (typeof envelopes)[0],
      (typeof envelopes)[0],
      (typeof envelopes)[0],
    ];
    await db.query('DELETE FROM "public"."hand" WHERE key = $1', [a.key]);
    await db.query(
      `UPDATE "public"."hand" SET payload = jsonb_set(payload, '{total}', '999') WHERE key = $1`,
      [b.key],
    );
    await db.query(
      `UPDATE "public"."hand" SET checksum = 'xxh64:0000000000000000' WHERE key = $1`,
      [c.key],
    );
    await db.query(
      `INSERT INTO "public"."hand" (key, position, checksum, payload) VALUES ('stray', 3, 'xxh64:1111111111111111', '{}')`,
    );
    clock.advance(60_000);
    const full = { ...sink, guard };
    const report = await reconcile({ ledger, sinks: [full], clock: clock.now });
    expect(report.sinks[0]?.counts).toMatchObject({
      "missing-lost": 1,
      mismatched: 2,
      unexpected: 1,
      matched: 5,
    });
    const result = await repair(report, {
      ledger,
      sinks: [full],
      actor: "test",
      reason: "hand edits",
      clock: clock.now,
    });
    expect(result.converged).toBe(true);
    expect((await reconcile({ ledger, sinks: [full], clock: clock.now })).consistent).toBe(true);
    // Digest mode sees what changes the stored row hashes: a deleted row.
    await db.query('DELETE FROM "public"."hand" WHERE key = $1', [a.key]);
    const digestOnly = { name: "orders", lagToleranceMs: 0, digest: sink.digests };
    const digested = await reconcile({ ledger, sinks: [digestOnly], clock: clock.now });
    expect(digested.sinks[0]?.counts, JSON.stringify(digested.sinks[0])).toMatchObject({
      "missing-lost": 1,
    });
  });

  it("refuses bad options with typed errors naming the path", async () => {
    const db = await poolNow();
    const cases: [unknown, string][] = [
      [{ name: "s", pool: db, table: "a; DROP TABLE x" }, "options.table"],
      [{ name: "s", pool: db, table: "1abc" }, "options.table"],
      [{ name: "s", pool: db, table: "ok", schema: 'x"y' }, "options.schema"],
      [{ name: "s", pool: {}, table: "ok" }, "options.pool"],
      [{ name: "", pool: db, table: "ok" }, "options.name"],
      [{ name: "s", pool: db, table: "ok", observe: "rows" }, "options.observe"],
      [{ name: "s", pool: db, table: "ok", tabel: "x" }, "options.tabel"],
    ];
    for (const [options, path] of cases) {
      expect(() => postgresTableSink(options as never), path).toThrow(
        expect.objectContaining({ code: "invalid_argument", path }),
      );
    }
    const missing = postgresTableSink({ name: "s", pool: db, table: "never_migrated" });
    await expect(missing.remove("k")).rejects.toMatchObject({ code: "sink_storage_error" });
  });
});
