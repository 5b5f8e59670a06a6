/**
 * Damage made directly in SQL never leaves a SQL ledger as data: one byte of a payload, a
 * checksum, a key column, a field beside the payload, a deleted row, an edited receipt, a
 * watermark past the head. Each case runs against SqliteLedger and against PostgresLedger
 * on the suite's throwaway server, and shows every reader refuse: get, getById, scan,
 * guard.deliver (nothing reaches the sink writer), reconcile (it rejects with the
 * CorruptionError, never a report), and the pipeline's drain.
 *
 * The cases use only APIs older than the checks, so that run against the code before
 * them they fail (altered data returned, delivered, judged consistent).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CorruptionError,
  checksum,
  createPipeline,
  createProducer,
  DeliveryError,
  type Envelope,
  guardSink,
  type Ledger,
  type Observation,
  reconcile,
} from "../../src/index.js";
import { PostgresLedger } from "../../src/ledger/postgres/index.js";
import { SqliteLedger } from "../../src/ledger/sqlite/index.js";
import { freshDatabase, postgresSkipped } from "../support/postgres.js";

/** A ledger under test and a raw connection to its tables. */
interface Opened {
  readonly ledger: Ledger;
  /** Runs SQL on the ledger's tables, outside the ledger; `$entries` etc. name them. */
  sql(statement: string): Promise<void>;
  /** Runs a query on the ledger's tables and returns its rows. */
  rows(statement: string): Promise<Record<string, unknown>[]>;
  /** Makes the tables those of schema version 1 (no entry hash), as an older sinkproof left them. */
  toSchemaOne(): Promise<void>;
  /** Closes the ledger and opens it again (running the migrations). */
  reopen(): Promise<Ledger>;
  close(): Promise<void>;
}

interface Subject {
  readonly name: string;
  readonly skip: string | undefined;
  open(): Promise<Opened>;
}

const root = mkdtempSync(join(tmpdir(), "sinkproof-sql-integrity-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let files = 0;

const tableNames = (statement: string, prefix: string) =>
  statement.replace(/\$(entries|receipts|watermarks|claims)/g, `${prefix}sinkproof_$1`);

const sqlite: Subject = {
  name: "SqliteLedger",
  skip: undefined,
  async open() {
    const path = join(root, `i${files++}.db`);
    let ledger = await SqliteLedger.open(path);
    const raw = new Database(path);
    return {
      ledger,
      async sql(statement) {
        raw.exec(tableNames(statement, ""));
      },
      async rows(statement) {
        return raw.prepare(tableNames(statement, "")).all() as Record<string, unknown>[];
      },
      async toSchemaOne() {
        // Undo what versions 2 (entry hash), 3 (fencing, freezes), 4 (checkpoints), 5
        // (row hashes) and 6 (window history) added.
        raw.exec(`ALTER TABLE sinkproof_entries DROP COLUMN entry_hash;
          ALTER TABLE sinkproof_claims DROP COLUMN fencing_token;
          ALTER TABLE sinkproof_claims DROP COLUMN released;
          DROP TABLE sinkproof_fencing;
          DROP TABLE sinkproof_freezes;
          DROP TABLE sinkproof_checkpoints;
          DROP INDEX sinkproof_entries_by_row_hash;
          ALTER TABLE sinkproof_entries DROP COLUMN row_hash;
          ALTER TABLE sinkproof_entries DROP COLUMN row_hi;
          ALTER TABLE sinkproof_entries DROP COLUMN row_lo;
          DROP TABLE sinkproof_windows;`);
        raw.pragma("user_version = 1");
      },
      async reopen() {
        await ledger.close();
        ledger = await SqliteLedger.open(path);
        return ledger;
      },
      async close() {
        raw.close();
        await ledger.close();
      },
    };
  },
};

let database = "";
let schemas = 0;
const postgres: Subject = {
  name: "PostgresLedger",
  skip: postgresSkipped,
  async open() {
    database ||= await freshDatabase("integrity");
    const schema = `i${schemas++}`;
    let ledger = await PostgresLedger.open({ connectionString: database, schema });
    const raw = new pg.Client(database);
    await raw.connect();
    return {
      ledger,
      async sql(statement) {
        await raw.query(tableNames(statement, `"${schema}".`));
      },
      async rows(statement) {
        return (await raw.query(tableNames(statement, `"${schema}".`))).rows;
      },
      async toSchemaOne() {
        // Undo what versions 2 (entry hash), 3 (fencing, freezes), 4 (checkpoints), 5
        // (row hashes) and 6 (window history) added.
        await raw.query(`ALTER TABLE "${schema}".sinkproof_entries DROP COLUMN entry_hash;
          ALTER TABLE "${schema}".sinkproof_claims DROP COLUMN fencing_token, DROP COLUMN released;
          DROP TABLE "${schema}".sinkproof_freezes;
          DROP TABLE "${schema}".sinkproof_checkpoints;
          ALTER TABLE "${schema}".sinkproof_entries DROP COLUMN row_hash, DROP COLUMN row_hi, DROP COLUMN row_lo;
          DROP TABLE "${schema}".sinkproof_windows;`);
        await raw.query(
          `UPDATE "${schema}".sinkproof_meta SET value = '1' WHERE name = 'schema_version'`,
        );
      },
      async reopen() {
        await ledger.close();
        ledger = await PostgresLedger.open({ connectionString: database, schema });
        return ledger;
      },
      async close() {
        await raw.end();
        await ledger.close();
      },
    };
  },
};

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, got an answer");
}

const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
};

/** A corruption error of this ledger's entries (or `part`) at `position`. */
function expectCorruption(error: unknown, position: number | undefined, part = "entries"): void {
  expect(error).toBeInstanceOf(CorruptionError);
  const corruption = error as CorruptionError;
  if (position !== undefined) expect(corruption.position).toBe(position);
  expect(corruption.table).toContain(`sinkproof_${part}`);
  expect(corruption.file.length).toBeGreaterThan(0);
}

for (const subject of [sqlite, postgres]) {
  describe.skipIf(subject.skip !== undefined)(
    `${subject.name}: damage made in SQL is refused by every reader`,
    () => {
      let opened: Opened;
      let ledger: Ledger;
      let envelopes: Envelope[];
      /** What a sink that mirrors the ledger exactly holds: reconcile called it consistent. */
      let mirror: Observation[];
      const written: string[] = [];
      const guard = () =>
        guardSink({
          name: "warehouse",
          ledger,
          write: async (envelope) => {
            written.push(envelope.key);
          },
        });

      beforeAll(() => {
        if (subject.skip !== undefined)
          console.log(`${subject.name} cases skipped: ${subject.skip}`);
      });

      async function fresh(): Promise<void> {
        opened = await subject.open();
        ledger = opened.ledger;
        const producer = createProducer({ id: "orders-svc", ledger });
        envelopes = [];
        for (let i = 1; i <= 3; i++) {
          envelopes.push(
            await producer.emit(
              "order.created",
              { order: `o-${i}`, qty: i },
              { schema: { name: "order", version: 1 } },
            ),
          );
        }
        mirror = envelopes.map((e) => ({ key: e.key, checksum: e.checksum }));
        const before = await reconcile({
          ledger,
          sinks: [{ name: "mirror", lagToleranceMs: 0, observe: () => mirror }],
        });
        expect(before.consistent).toBe(true);
        written.length = 0;
      }

      /**
       * Every read of the entry at `position` refuses, reconcile and the guard too. `found`:
       * whether its row is still found by its key and by its id (a changed key column or a
       * deleted row is found by neither, or only by id).
       */
      async function everyReaderRefuses(
        position: number,
        found: { byKey: boolean; byId: boolean } = { byKey: true, byId: true },
      ): Promise<void> {
        const { byKey, byId } = found;
        const e = envelopes[position - 1] as Envelope;
        if (byKey) expectCorruption(await caught(ledger.get(e.key)), position);
        else expect(await ledger.get(e.key)).toBeUndefined();
        if (byId) expectCorruption(await caught(ledger.getById(e.id)), position);
        else expect(await ledger.getById(e.id)).toBeUndefined();
        expectCorruption(await caught(collect(ledger.scan())), position);
        // A scan of the other entries only is unaffected.
        expect((await collect(ledger.scan({ to: position - 1 }))).length).toBe(position - 1);
        const delivered = await caught(guard().deliver(e));
        if (byKey) expectCorruption(delivered, position);
        else expect(delivered).toBeInstanceOf(DeliveryError);
        expect(written).toEqual([]);
        const report = await caught(
          reconcile({
            ledger,
            sinks: [{ name: "mirror", lagToleranceMs: 0, observe: () => mirror }],
          }),
        );
        expectCorruption(report, position);
        // Appending the original again cannot succeed past the damaged row either.
        if (byKey) expect(await caught(ledger.append([e]))).toBeInstanceOf(CorruptionError);
      }

      it("one byte of a payload changed", async () => {
        await fresh();
        await opened.sql(
          `UPDATE $entries SET envelope = replace(envelope, '"qty":2', '"qty":3') WHERE position = 2`,
        );
        await everyReaderRefuses(2);
        await opened.close();
      });

      it("the checksum changed, in the envelope or in its column", async () => {
        await fresh();
        const e = envelopes[1] as Envelope;
        const other = checksum({ something: "else" });
        await opened.sql(
          `UPDATE $entries SET envelope = replace(envelope, '${e.checksum}', '${other}') WHERE position = 2`,
        );
        await everyReaderRefuses(2);
        await opened.close();
        await fresh();
        const f = envelopes[1] as Envelope;
        await opened.sql(`UPDATE $entries SET checksum = '${other}' WHERE position = 2`);
        await everyReaderRefuses(2);
        expect(f.checksum).not.toBe(other);
        await opened.close();
      });

      it("payload and checksum rewritten to agree (a careless fix): the entry hash still says no", async () => {
        await fresh();
        const e = envelopes[1] as Envelope;
        const payload = { order: "o-2", qty: 20 };
        const rewritten = checksum(payload);
        await opened.sql(
          `UPDATE $entries SET checksum = '${rewritten}', envelope = replace(replace(envelope, '"qty":2', '"qty":20'), '${e.checksum}', '${rewritten}') WHERE position = 2`,
        );
        await everyReaderRefuses(2);
        await opened.close();
      });

      it("a field beside the payload changed (seq, type)", async () => {
        await fresh();
        const e = envelopes[1] as Envelope;
        await opened.sql(
          `UPDATE $entries SET envelope = replace(envelope, '"seq":${e.seq},', '"seq":${e.seq + 100},') WHERE position = 2`,
        );
        await everyReaderRefuses(2);
        await opened.close();
        await fresh();
        await opened.sql(
          `UPDATE $entries SET envelope = replace(envelope, '"type":"order.created"', '"type":"order.deleted"') WHERE position = 2`,
        );
        await everyReaderRefuses(2);
        await opened.close();
      });

      it("the key column changed: lookups by the new key and by id refuse, the old key is not found, scans refuse", async () => {
        await fresh();
        await opened.sql(`UPDATE $entries SET key = 'k-elsewhere' WHERE position = 2`);
        expectCorruption(await caught(ledger.get("k-elsewhere")), 2);
        // The guard finds no entry under the envelope's key: not delivered.
        await everyReaderRefuses(2, { byKey: false, byId: true });
        await opened.close();
      });

      it("a deleted row: the scan names the missing position, reconcile refuses, the guard does not deliver it", async () => {
        await fresh();
        await opened.sql("DELETE FROM $entries WHERE position = 2");
        const scanned = await caught(collect(ledger.scan()));
        expectCorruption(scanned, 2);
        expect((scanned as Error).message).toContain("position 2 is missing");
        await everyReaderRefuses(2, { byKey: false, byId: false });
        // A filtered scan cannot see a gap, but still meets entries 1 and 3 in order.
        expect(
          (await collect(ledger.scan({ producer: "orders-svc" }))).map((x) => x.position),
        ).toEqual([1, 3]);
        await opened.close();
      });

      it("an edited receipt row: getReceipts, scanReceipts, reconcile from receipts and the guard's claim refuse it", async () => {
        await fresh();
        const warehouse = guard();
        for (const e of envelopes) await warehouse.deliver(e);
        expect(written).toHaveLength(3);
        written.length = 0;
        const e = envelopes[1] as Envelope;
        const receipts = [{ name: "warehouse", lagToleranceMs: 0 }];
        expect((await reconcile({ ledger, sinks: receipts })).consistent).toBe(true);
        await opened.sql(
          `UPDATE $receipts SET receipt = replace(receipt, '"status":"written"', '"status":"done"') WHERE position = 2`,
        );
        expectCorruption(await caught(ledger.getReceipts("warehouse", e.key)), 2, "receipts");
        expectCorruption(await caught(collect(ledger.scanReceipts("warehouse"))), 2, "receipts");
        expectCorruption(await caught(reconcile({ ledger, sinks: receipts })), 2, "receipts");
        expectCorruption(await caught(warehouse.deliver(e)), 2, "receipts");
        expect(written).toEqual([]);
        // A receipt that names another key than the row it is read for.
        const first = envelopes[0] as Envelope;
        await opened.sql(
          `UPDATE $receipts SET receipt = replace(receipt, '"key":"${first.key}"', '"key":"${e.key}"') WHERE position = 1`,
        );
        expectCorruption(await caught(ledger.getReceipts("warehouse", first.key)), 1, "receipts");
        await opened.close();
      });

      it("the migration to schema 2 gives every intact row its entry hash, and a row already damaged none: it reads as damaged", async () => {
        await fresh();
        await opened.toSchemaOne();
        await opened.sql(
          `UPDATE $entries SET envelope = replace(envelope, '"qty":2', '"qty":3') WHERE position = 2`,
        );
        ledger = await opened.reopen();
        const hashes = await opened.rows(
          "SELECT position, entry_hash FROM $entries ORDER BY position",
        );
        expect(hashes.map((row) => Number(row.position))).toEqual([1, 2, 3]);
        expect(hashes[1]?.entry_hash).toBe("");
        for (const i of [0, 2]) expect(hashes[i]?.entry_hash).toMatch(/^xxh64:[0-9a-f]{16}$/);
        expect((await ledger.get((envelopes[0] as Envelope).key))?.envelope).toEqual(envelopes[0]);
        expect((await ledger.get((envelopes[2] as Envelope).key))?.envelope).toEqual(envelopes[2]);
        const damaged = await caught(ledger.get((envelopes[1] as Envelope).key));
        expectCorruption(damaged, 2);
        expect((damaged as Error).message).toContain("the payload or the checksum was altered");
        // The migration to schema 5 gave every row its row hash, as rowHash computes it
        // (each is checked against its key and checksum as it is read).
        expect([
          ...(await ledger.digestPositions({ from: 0, to: 2 ** 32 }, { through: 3 })),
        ]).toEqual([1, 2, 3]);
        // New appends get their hash at once.
        const producer = createProducer({ id: "orders-svc", ledger });
        const next = await producer.emit(
          "order.created",
          { n: 4 },
          { schema: { name: "order", version: 1 } },
        );
        expect((await ledger.get(next.key))?.position).toBe(4);
        await opened.close();
      });

      it("a watermark past the head: getWatermark, the guard's measure and the pipeline's drain refuse", async () => {
        await fresh();
        const warehouse = guard();
        for (const e of envelopes.slice(0, 2)) await warehouse.deliver(e);
        expect(await ledger.getWatermark("warehouse")).toBe(2);
        await opened.sql("UPDATE $watermarks SET position = 99 WHERE sink = 'warehouse'");
        expectCorruption(await caught(ledger.getWatermark("warehouse")), 99, "watermarks");
        expectCorruption(await caught(guard().measure()), 99, "watermarks");
        // The drain would start past the head and skip entry 3 in silence.
        written.length = 0;
        const pipeline = createPipeline({
          producer: createProducer({ id: "orders-svc", ledger }),
          sinks: [guard()],
        });
        expectCorruption(await caught(pipeline.drain()), 99, "watermarks");
        expect(written).toEqual([]);
        await opened.close();
      });
    },
  );
}
