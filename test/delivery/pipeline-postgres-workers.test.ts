/**
 * Four processes publish to one PostgresLedger with background delivery to three sinks
 * (test/delivery/fixtures/pg-background-worker.ts): every process's workers deliver every
 * process's entries, so they contend for every key. Each sink table has no unique key:
 * every key must be there exactly once per sink, and every watermark at the head.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { PostgresLedger } from "../../src/ledger/postgres/index.js";
import { freshDatabase, postgresSkipped, postgresUrl } from "../support/postgres.js";

const PROCESSES = 4;
const EVENTS = 1_500;
const SINKS = ["warehouse", "search", "archive"];

if (postgresUrl === undefined)
  console.log(`four-process background delivery skipped: ${postgresSkipped}`);

describe.skipIf(postgresUrl === undefined)(
  "background delivery, four processes, one PostgresLedger",
  () => {
    it(`${PROCESSES} processes × ${EVENTS} events × ${SINKS.length} sinks: every key written once per sink`, async () => {
      const url = await freshDatabase("background");
      const schema = "shared";
      const ledger = await PostgresLedger.open({ connectionString: url, schema });
      const admin = new pg.Client(url);
      await admin.connect();
      for (const sink of SINKS) {
        await admin.query(
          `CREATE TABLE "${schema}".${sink}_rows (key text NOT NULL, checksum text NOT NULL, process text NOT NULL, fencing_token bigint NOT NULL)`,
        );
      }
      const child = fileURLToPath(new URL("./fixtures/pg-background-worker.ts", import.meta.url));
      const total = PROCESSES * EVENTS;
      const outputs = await Promise.all(
        Array.from(
          { length: PROCESSES },
          (_, p) =>
            new Promise<string>((resolve, reject) => {
              execFile(
                process.execPath,
                ["--import", "tsx", child, url, schema, String(p), String(EVENTS), String(total)],
                { env: { ...process.env, NODE_OPTIONS: "" }, maxBuffer: 1 << 24, timeout: 240_000 },
                (error, stdout, stderr) =>
                  error ? reject(new Error(`${String(error)}\n${stderr}`)) : resolve(stdout),
              );
            }),
        ),
      );
      for (const out of outputs) expect(out).toMatch(new RegExp(`published ${EVENTS} seconds`));
      expect(await ledger.head()).toBe(total);
      for (const sink of SINKS) {
        const { rows } = await admin.query(
          `SELECT count(*)::int AS rows, count(DISTINCT key)::int AS keys FROM "${schema}".${sink}_rows`,
        );
        const by = await admin.query(
          `SELECT process, count(*)::int AS n FROM "${schema}".${sink}_rows GROUP BY process ORDER BY process`,
        );
        console.log(
          `[background] ${sink}: rows by process ${JSON.stringify(by.rows)}; ${outputs.map((o) => o.trim()).join("; ")}`,
        );
        // How the work is shared is not promised (one process may drain a sink before the
        // others get to it, logged above); that no key is written twice is.
        expect(rows[0], sink).toMatchObject({ rows: total, keys: total });
        expect(await ledger.getWatermark(sink)).toBe(total);
        // Every row is the ledger's envelope.
        const wrong = await admin.query(
          `SELECT count(*)::int AS n FROM "${schema}".${sink}_rows r JOIN "${schema}".sinkproof_entries e ON e.key = r.key WHERE e.checksum <> r.checksum`,
        );
        expect(wrong.rows[0].n).toBe(0);
      }
      await admin.end();
      await ledger.close();
    }, 300_000);
  },
);
