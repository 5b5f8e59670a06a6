/**
 * Production throughput benchmarks, run by bench/index.ts in the same process
 * (`--only=throughput` runs them alone). Each figure sits beside its floor, measured in
 * the same run:
 *
 * - MemoryLedger: `deliverMany` in batches of 100 against one `deliver` after another.
 * - FileLedger, SqliteLedger, PostgresLedger: `publishMany` of 100 events to 3 sinks
 *   (inline, receipts stored durably; the sinks' own writes are no-ops, so the ledger's
 *   work is what is measured) against the raw floor doing the same writes in one
 *   durable unit per batch: for FileLedger, `write` + `fdatasync` of the same bytes (the
 *   envelopes' JSON and the 300 receipts' JSON); for SQLite, better-sqlite3 inserting the
 *   100 entry rows and 300 receipt rows in one transaction (WAL, synchronous=FULL); for
 *   PostgreSQL, pg inserting them with two `unnest` statements in one transaction.
 *   FileLedger's 100 `publish` calls in flight at once are the second comparison.
 * - Four processes, one PostgresLedger, background delivery to three sink tables with no
 *   unique key: the invariant (every key once per sink) is checked, events/s reported.
 * - FileLedger heap per entry after a reopen, with 10 sinks' receipts.
 *
 * PostgreSQL runs on a throwaway local server started here; without the server binaries
 * its rows are skipped with a printed reason.
 */
import { execFile } from "node:child_process";
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import {
  createPipeline,
  createProducer,
  createSealer,
  type Envelope,
  FileLedger,
  guardSink,
  type Ledger,
  MemoryLedger,
  type PublishItem,
  type Receipt,
} from "../src/index.js";
import { envelopeJson } from "../src/ledger/envelope-json.js";
import { PostgresLedger } from "../src/ledger/postgres/index.js";
import { SqliteLedger } from "../src/ledger/sqlite/index.js";
import { findPostgres, startPostgres } from "../test/support/postgres-server.js";
import type { LedgerRow, LedgerTarget } from "./ledger.js";
import { orderPayload } from "./payloads.js";

const BATCH = 100;
const SINKS = ["warehouse", "search", "archive"];
let seq = 0;

const items = (n: number): PublishItem[] =>
  Array.from({ length: n }, () => {
    const n = seq++;
    return {
      type: "order.created",
      payload: orderPayload(n),
      schema: { name: "order", version: 1 },
      stream: `orders-${n % 8}`,
    };
  });

const seal = createSealer();
const envelopes = (n: number): Envelope[] =>
  items(n).map((item, i) =>
    seal({
      producer: "raw",
      seq: seq + i,
      type: item.type,
      schema: item.schema,
      payload: item.payload,
    }),
  );

/** A receipt as the guard stores it, for the floors' byte counts. */
function receiptOf(e: Envelope, position: number, sink: string): Receipt {
  const at = new Date().toISOString();
  return {
    sink,
    key: e.key,
    id: e.id,
    position,
    status: "written",
    checksum: e.checksum,
    attempt: 1,
    startedAt: at,
    finishedAt: at,
    fencingToken: position,
  };
}

function pipelineOn(ledger: Ledger) {
  return createPipeline({
    producer: createProducer({ id: "orders-svc", ledger, sequenceBlock: 10_000 }),
    sinks: SINKS.map((name) => guardSink({ name, ledger, writeBatch: () => undefined })),
  });
}

/** Events per second of `run` (which publishes `perRun` events), best of the median of `runs`. */
async function rate(perRun: number, runs: number, run: () => Promise<void>): Promise<number> {
  await run(); // warm
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - started));
  }
  times.sort((a, b) => a - b);
  return perRun / ((times[times.length >> 1] as number) / 1e9);
}

function row(
  group: string,
  name: string,
  perSecond: number,
  extra: Partial<LedgerRow> = {},
): LedgerRow {
  return { group, name, perSecond, medianNs: 1e9 / perSecond, ...extra };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const per = (x: number) => `${Math.round(x).toLocaleString("en-US")}/s`;

async function memoryDelivery(
  runs: number,
): Promise<{ rows: LedgerRow[]; targets: LedgerTarget[] }> {
  const group = "MemoryLedger delivery, 1,000 entries a run, one sink";
  // Ledgers filled before the timed part: only the deliveries are timed.
  const prepared = async (count: number) => {
    const out: { ledger: MemoryLedger; list: Envelope[] }[] = [];
    for (let i = 0; i < count; i++) {
      const ledger = new MemoryLedger();
      const list = envelopes(1000);
      await ledger.append(list);
      out.push({ ledger, list });
    }
    return out;
  };
  const singles = await prepared(runs + 1);
  const floor = await rate(1000, runs, async () => {
    const { ledger, list } = singles.pop() as { ledger: MemoryLedger; list: Envelope[] };
    const guard = guardSink({ name: "s", ledger, write: () => undefined });
    for (const e of list) await guard.deliver(e);
  });
  const batches = await prepared(runs + 1);
  const batched = await rate(1000, runs, async () => {
    const { ledger, list } = batches.pop() as { ledger: MemoryLedger; list: Envelope[] };
    const guard = guardSink({ name: "s", ledger, writeBatch: () => undefined });
    for (let i = 0; i < list.length; i += BATCH) await guard.deliverMany(list.slice(i, i + BATCH));
  });
  return {
    rows: [
      row(group, "deliver, one after another", floor, { floor: true, ratioToFloor: 1 }),
      row(group, "deliverMany, batches of 100 (one writeBatch call each)", batched, {
        ratioToFloor: batched / floor,
      }),
    ],
    targets: [
      {
        target: "MemoryLedger deliverMany (batches of 100) ≥ 10× one deliver after another",
        actual: `${(batched / floor).toFixed(1)}×`,
        met: batched / floor >= 10,
      },
    ],
  };
}

async function fileLedger(root: string, runs: number) {
  const group = "FileLedger publish, 3 sinks, durable receipts";
  // The floor: the same bytes written and fdatasync'd once per batch of 100.
  const fd = openSync(join(root, "raw.log"), "a");
  const rawBatch = () => {
    const list = envelopes(BATCH);
    const parts = list.map((e) => envelopeJson(e, undefined));
    list.forEach((e, i) => {
      for (const sink of SINKS) parts.push(JSON.stringify(receiptOf(e, i + 1, sink)));
    });
    writeSync(fd, `${parts.join("\n")}\n`);
    fdatasyncSync(fd);
  };
  const floor = await rate(BATCH * 10, runs, async () => {
    for (let b = 0; b < 10; b++) rawBatch();
  });
  closeSync(fd);
  let n = 0;
  const open = async () => FileLedger.open(join(root, `l${n++}`));
  const manyLedger = await open();
  const many = pipelineOn(manyLedger);
  const batched = await rate(BATCH * 10, runs, async () => {
    for (let b = 0; b < 10; b++) await many.publishMany(items(BATCH));
  });
  await manyLedger.close();
  const inFlightLedger = await open();
  const single = pipelineOn(inFlightLedger);
  const inFlight = await rate(BATCH * 3, runs, async () => {
    for (let b = 0; b < 3; b++) {
      await Promise.all(
        items(BATCH).map((item) =>
          single.publish(item.type, item.payload, { schema: item.schema, stream: item.stream }),
        ),
      );
    }
  });
  await inFlightLedger.close();
  return {
    rows: [
      row(group, "raw write + fdatasync of the same bytes, one fsync per 100", floor, {
        floor: true,
        ratioToFloor: 1,
      }),
      row(group, "100 publish calls in flight at once", inFlight, {
        ratioToFloor: inFlight / floor,
      }),
      row(group, "publishMany, batches of 100", batched, { ratioToFloor: batched / floor }),
    ],
    targets: [
      {
        target:
          "FileLedger publishMany (100, 3 sinks) ≥ 20% of raw write + fdatasync, one fsync per batch",
        actual: pct(batched / floor),
        met: batched / floor >= 0.2,
      },
      {
        target: "FileLedger publishMany (100, 3 sinks) ≥ 5× 100 publish calls in flight",
        actual: `${(batched / inFlight).toFixed(1)}×`,
        met: batched / inFlight >= 5,
      },
    ],
  };
}

async function sqlite(root: string, runs: number) {
  const group = "SqliteLedger publish, 3 sinks, durable receipts";
  const db = new Database(join(root, "raw.sqlite"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec(
    "CREATE TABLE entries (position INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, id TEXT UNIQUE NOT NULL, producer TEXT, stream TEXT, checksum TEXT, appended_at TEXT, envelope TEXT); CREATE TABLE receipts (seq INTEGER PRIMARY KEY, sink TEXT, key TEXT, position INTEGER, final INTEGER, receipt TEXT); CREATE INDEX r1 ON receipts (sink, key, seq); CREATE INDEX r2 ON receipts (sink, position, seq);",
  );
  const insertEntry = db.prepare(
    "INSERT INTO entries (key, id, producer, stream, checksum, appended_at, envelope) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const insertReceipt = db.prepare(
    "INSERT INTO receipts (sink, key, position, final, receipt) VALUES (?, ?, ?, 1, ?)",
  );
  const batch = db.transaction((list: Envelope[]) => {
    const at = new Date().toISOString();
    list.forEach((e, i) => {
      insertEntry.run(
        e.key,
        e.id,
        e.producer,
        e.stream,
        e.checksum,
        at,
        envelopeJson(e, undefined),
      );
      for (const sink of SINKS)
        insertReceipt.run(sink, e.key, i, JSON.stringify(receiptOf(e, i, sink)));
    });
  });
  const floor = await rate(BATCH * 10, runs, async () => {
    for (let b = 0; b < 10; b++) batch(envelopes(BATCH));
  });
  db.close();
  const ledger = await SqliteLedger.open(join(root, "ledger.sqlite"));
  const pipeline = pipelineOn(ledger);
  const batched = await rate(BATCH * 10, runs, async () => {
    for (let b = 0; b < 10; b++) await pipeline.publishMany(items(BATCH));
  });
  await ledger.close();
  return {
    rows: [
      row(group, "raw better-sqlite3: 100 entry + 300 receipt rows, one transaction", floor, {
        floor: true,
        ratioToFloor: 1,
      }),
      row(group, "publishMany, batches of 100", batched, { ratioToFloor: batched / floor }),
    ],
    targets: [
      {
        target:
          "SqliteLedger publishMany (100, 3 sinks) ≥ 25% of raw better-sqlite3 doing the same inserts",
        actual: pct(batched / floor),
        met: batched / floor >= 0.25,
      },
    ],
  };
}

async function postgres(runs: number, events: number) {
  const binaries = findPostgres();
  if ("missing" in binaries) {
    console.log(`PostgreSQL throughput bench skipped: ${binaries.missing}`);
    return { rows: [], targets: [] };
  }
  const server = await startPostgres(binaries);
  const rows: LedgerRow[] = [];
  const targets: LedgerTarget[] = [];
  try {
    const group = "PostgresLedger publish, 3 sinks, durable receipts, synchronous_commit on";
    const raw = new pg.Client(server.url);
    await raw.connect();
    await raw.query(
      "CREATE TABLE entries (position bigint PRIMARY KEY, key text UNIQUE NOT NULL, id text UNIQUE NOT NULL, producer text, stream text, checksum text, appended_at text, envelope text); CREATE TABLE receipts (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sink text, key text, position bigint, final boolean, receipt text); CREATE INDEX r1 ON receipts (sink, key, seq); CREATE INDEX r2 ON receipts (sink, position, seq);",
    );
    let position = 0;
    const rawBatch = async () => {
      const list = envelopes(BATCH);
      const at = new Date().toISOString();
      const positions = list.map(() => ++position);
      const sinks: string[] = [];
      const keys: string[] = [];
      const pos: number[] = [];
      const receipts: string[] = [];
      list.forEach((e, i) => {
        for (const sink of SINKS) {
          sinks.push(sink);
          keys.push(e.key);
          pos.push(positions[i] as number);
          receipts.push(JSON.stringify(receiptOf(e, positions[i] as number, sink)));
        }
      });
      await raw.query("BEGIN");
      await raw.query(
        "INSERT INTO entries SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])",
        [
          positions,
          list.map((e) => e.key),
          list.map((e) => e.id),
          list.map((e) => e.producer),
          list.map((e) => e.stream),
          list.map((e) => e.checksum),
          list.map(() => at),
          list.map((e) => envelopeJson(e, undefined)),
        ],
      );
      await raw.query(
        "INSERT INTO receipts (sink, key, position, final, receipt) SELECT s, k, p, true, r FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS u(s, k, p, r)",
        [sinks, keys, pos, receipts],
      );
      await raw.query("COMMIT");
    };
    const floor = await rate(BATCH * 5, runs, async () => {
      for (let b = 0; b < 5; b++) await rawBatch();
    });
    await raw.end();
    const ledger = await PostgresLedger.open({ connectionString: server.url, schema: "bench" });
    const pipeline = pipelineOn(ledger);
    const batched = await rate(BATCH * 5, runs, async () => {
      for (let b = 0; b < 5; b++) await pipeline.publishMany(items(BATCH));
    });
    await ledger.close();
    rows.push(
      row(group, "raw pg: 100 entry + 300 receipt rows, one transaction", floor, {
        floor: true,
        ratioToFloor: 1,
      }),
      row(group, "publishMany, batches of 100", batched, { ratioToFloor: batched / floor }),
    );
    targets.push({
      target:
        "PostgresLedger publishMany (100, 3 sinks) ≥ 25% of raw pg doing the same inserts, one transaction per batch",
      actual: pct(batched / floor),
      met: batched / floor >= 0.25,
    });
    const shared = await fourProcesses(server.url, events);
    rows.push(
      row(
        "PostgresLedger, 4 processes, background delivery to 3 sink tables",
        `${(events * 4).toLocaleString("en-US")} events published, all delivered`,
        shared.perSecond,
        { note: shared.once ? "every key once per sink" : "A KEY WAS WRITTEN TWICE OR LOST" },
      ),
    );
    targets.push({
      target:
        "4 processes, one PostgresLedger, background delivery: every key written once per sink; events/s reported",
      actual: `${shared.once ? "once per sink" : "not once"}, ${per(shared.perSecond)}`,
      met: shared.once,
    });
  } finally {
    await server.stop();
  }
  return { rows, targets };
}

async function fourProcesses(serverUrl: string, events: number) {
  const admin = new pg.Client(serverUrl);
  await admin.connect();
  await admin.query("CREATE DATABASE shared_bench");
  await admin.end();
  const url = serverUrl.replace(/\/[^/?]*(\?|$)/, "/shared_bench$1");
  const schema = "shared";
  const ledger = await PostgresLedger.open({ connectionString: url, schema });
  const db = new pg.Client(url);
  await db.connect();
  for (const sink of SINKS) {
    await db.query(
      `CREATE TABLE "${schema}".${sink}_rows (key text NOT NULL, checksum text NOT NULL, process text NOT NULL, fencing_token bigint NOT NULL)`,
    );
  }
  const child = fileURLToPath(
    new URL("../test/delivery/fixtures/pg-background-worker.ts", import.meta.url),
  );
  const total = events * 4;
  const started = process.hrtime.bigint();
  await Promise.all(
    [0, 1, 2, 3].map(
      (p) =>
        new Promise<string>((resolve, reject) => {
          execFile(
            process.execPath,
            ["--import", "tsx", child, url, schema, String(p), String(events), String(total)],
            { env: { ...process.env, NODE_OPTIONS: "" }, maxBuffer: 1 << 24 },
            (error, stdout, stderr) =>
              error ? reject(new Error(`${error}\n${stderr}`)) : resolve(stdout),
          );
        }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let once = (await ledger.head()) === total;
  for (const sink of SINKS) {
    const { rows } = await db.query(
      `SELECT count(*)::int AS rows, count(DISTINCT key)::int AS keys FROM "${schema}".${sink}_rows`,
    );
    once &&= rows[0].rows === total && rows[0].keys === total;
    once &&= (await ledger.getWatermark(sink)) === total;
  }
  await db.end();
  await ledger.close();
  // Process start-up (tsx) is inside the time: a conservative figure.
  return { perSecond: total / seconds, once };
}

async function heapPerEntry(root: string, entries: number) {
  const dir = join(root, "heap");
  const ledger = await FileLedger.open(dir);
  const sinks = Array.from({ length: 10 }, (_, i) => `sink-${i}`);
  for (let done = 0; done < entries; done += 1000) {
    const { results } = await ledger.append(envelopes(1000));
    for (const sink of sinks) {
      await ledger.putReceipts(
        results.map((r) => receiptOf(r.entry.envelope, r.entry.position, sink)),
      );
    }
  }
  await ledger.close();
  // Reopened in a fresh process, so that nothing else this bench holds is counted.
  const child = fileURLToPath(new URL("./heap-reopen.ts", import.meta.url));
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ["--expose-gc", "--import", "tsx", child, dir],
      { env: { ...process.env, NODE_OPTIONS: "" }, maxBuffer: 1 << 20 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error}\n${stderr}`)) : resolve(stdout),
    );
  });
  const measured = JSON.parse(out) as { entries: number; heap: number; typed: number };
  if (measured.entries !== entries) throw new Error(`reopened ${measured.entries} entries`);
  const bytes = measured.heap / entries;
  // Typed arrays (the columns and indexes) are outside the JS heap: counted on their own.
  const typed = measured.typed / entries;
  const of = `FileLedger after reopen, 10 sinks' receipts, ${entries.toLocaleString("en-US")} entries`;
  return {
    rows: [
      row("heap per entry", `${of}: JS heap`, 0, {
        medianNs: 0,
        perSecond: 0,
        note: `${Math.round(bytes)} bytes/entry`,
      }),
      row("heap per entry", `${of}: typed arrays (off the heap)`, 0, {
        medianNs: 0,
        perSecond: 0,
        note: `${Math.round(typed)} bytes/entry`,
      }),
    ],
    targets: [
      {
        target: "FileLedger heap per entry with 10 sinks' receipts ≤ 150 B",
        actual: `${Math.round(bytes)} B`,
        met: bytes <= 150,
      },
    ],
  };
}

/** Every throughput row and target. */
export async function runThroughputBench(
  quick: boolean,
): Promise<{ rows: LedgerRow[]; targets: LedgerTarget[] }> {
  const runs = quick ? 3 : 7;
  const root = mkdtempSync(join(tmpdir(), "sinkproof-throughput-"));
  const parts = [];
  try {
    parts.push(await memoryDelivery(runs));
    parts.push(await fileLedger(root, runs));
    parts.push(await sqlite(root, runs));
    parts.push(await postgres(runs, quick ? 500 : 2_500));
    parts.push(await heapPerEntry(root, quick ? 10_000 : 100_000));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return { rows: parts.flatMap((p) => p.rows), targets: parts.flatMap((p) => p.targets) };
}
