/**
 * SQL ledger benchmarks, run by bench/index.ts in the same process (`--only=sql-ledgers`
 * runs them alone).
 *
 * - Batched append (100 freshly sealed 400-byte orders per call, integrity check
 *   included) of SqliteLedger and PostgresLedger, each against its floor: the raw driver
 *   inserting the same rows (same columns, entry hash included, computed outside the timed
 *   part; same table definition, same durability
 *   settings) in one transaction: better-sqlite3 prepared inserts for SQLite, one
 *   `INSERT … SELECT FROM unnest(…)` for PostgreSQL. Rows and envelopes are made in
 *   tinybench's `beforeEach`, outside the timed part. Target: the ledger at ≥ 50% of raw.
 * - Claim + receipt round trips: `claim`, `putReceipt`, `releaseClaim` of one entry, one
 *   after another (what a guard does per delivery, minus the write).
 * - Reconcile scan rate: `ledger.scan()` over every entry, entries per second, every read
 *   verified (payload checksum, entry hash, index columns, no gaps), against its floor: the
 *   same rows read with the raw driver (better-sqlite3 `iterate`, one pg query) and
 *   `JSON.parse`d, nothing checked. Target: the ledger at ≥ 50% of raw. And a whole
 *   `reconcile()` of the ledger against a sink that mirrors it exactly (its observations
 *   held in memory, so the ledger's side is what is measured).
 *
 * PostgreSQL runs on a throwaway local server started here (the tests' helper), with its
 * default durability (fsync and synchronous_commit on); without the server binaries its
 * rows are skipped with a printed reason.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { Bench } from "tinybench";
import {
  createSealer,
  type Envelope,
  type Ledger,
  type LedgerEntry,
  type Observation,
  reconcile,
} from "../src/index.js";
import { envelopeJson } from "../src/ledger/envelope-json.js";
import { PostgresLedger } from "../src/ledger/postgres/index.js";
import { entryHash } from "../src/ledger/read-checks.js";
import { SqliteLedger } from "../src/ledger/sqlite/index.js";
import { findPostgres, startPostgres } from "../test/support/postgres-server.js";
import type { LedgerRow, LedgerTarget } from "./ledger.js";
import { orderPayload } from "./payloads.js";

const BATCH = 100;
const SCAN_ENTRIES = 20_000;
const seal = createSealer();
let seq = 0;
const batchOf = (n: number): Envelope[] =>
  Array.from({ length: n }, () =>
    seal({
      producer: "orders-svc",
      stream: "orders",
      seq: seq++,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: orderPayload(seq),
    }),
  );

type Row = [number, string, string, string, string, string, string, string, string];
/** The rows a ledger stores for these envelopes, from `next` on. */
function rowsOf(envelopes: readonly Envelope[], next: number): Row[] {
  const appendedAt = new Date().toISOString();
  return envelopes.map((e, i) => [
    next + i,
    e.key,
    e.id,
    e.producer,
    e.stream,
    e.checksum,
    appendedAt,
    envelopeJson(e, undefined),
    entryHash(next + i, appendedAt, e),
  ]);
}

async function medianNs(
  name: string,
  options: { time: number; warmup: number },
  prepare: () => void | Promise<void>,
  run: () => Promise<unknown> | unknown,
): Promise<number> {
  const bench = new Bench({ time: options.time, warmupTime: options.warmup, iterations: 10 });
  bench.add(name, run, { beforeEach: prepare });
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (result === undefined || !("latency" in result)) throw new Error(`${name} did not complete`);
  return result.latency.p50 * 1e6;
}

async function fillLedger(ledger: Ledger, count: number): Promise<void> {
  for (let done = 0; done < count; done += 1000) await ledger.append(batchOf(1000));
}

/** claim + putReceipt + releaseClaim of the next entry, as a guard does around a write. */
async function claimReceiptRate(
  ledger: Ledger,
  options: { time: number; warmup: number },
  group: string,
): Promise<LedgerRow> {
  const entries: LedgerEntry[] = [];
  for await (const entry of ledger.scan()) entries.push(entry);
  let i = 0;
  const ns = await medianNs(
    group,
    options,
    () => undefined,
    async () => {
      const entry = entries[i++ % entries.length];
      if (entry === undefined) throw new Error("no entries");
      const started = new Date().toISOString();
      const claimed = await ledger.claim("bench-sink", entry.envelope.key, {
        owner: "bench",
        ttlMs: 30_000,
        replay: true,
      });
      if (claimed.status !== "acquired") throw new Error(`claim ${claimed.status}`);
      await ledger.putReceipt({
        sink: "bench-sink",
        key: entry.envelope.key,
        id: entry.envelope.id,
        position: entry.position,
        status: "written",
        checksum: entry.envelope.checksum,
        attempt: 1,
        startedAt: started,
        finishedAt: new Date().toISOString(),
      });
      await ledger.releaseClaim(claimed.claim);
    },
  );
  return {
    group,
    name: "claim + putReceipt + releaseClaim, one after another",
    perSecond: 1e9 / ns,
    medianNs: ns,
    note: "round trips per second",
  };
}

/** One timed run of `run`, which must see `expected` rows, after a full GC where exposed. */
async function timedRun(expected: number, run: () => Promise<number> | number): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const started = process.hrtime.bigint();
  const n = await run();
  if (n !== expected) throw new Error(`a scan saw ${n} of ${expected} entries`);
  return Number(process.hrtime.bigint() - started);
}

const median = (times: number[]): number =>
  times.sort((a, b) => a - b)[times.length >> 1] as number;

/**
 * `ledger.scan()` over every entry against the floor `raw` (the same rows read by the raw
 * driver and parsed), with the target line.
 */
async function scanRows(
  ledger: Ledger,
  group: string,
  label: string,
  floorName: string,
  raw: () => Promise<number> | number,
): Promise<{ rows: LedgerRow[]; target: LedgerTarget }> {
  const head = await ledger.head();
  const scan = async () => {
    let n = 0;
    for await (const _ of ledger.scan()) n++;
    return n;
  };
  // Interleaved, so that load from elsewhere on the machine falls on both alike.
  await raw();
  await scan();
  const floorTimes: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    floorTimes.push(await timedRun(head, raw));
    times.push(await timedRun(head, scan));
  }
  const floorNs = median(floorTimes);
  const ns = median(times);
  const floorRate = head / (floorNs / 1e9);
  const rate = head / (ns / 1e9);
  return {
    rows: [
      {
        group,
        name: floorName,
        perSecond: floorRate,
        medianNs: floorNs,
        ratioToFloor: 1,
        floor: true,
      },
      {
        group,
        name: `ledger.scan() of ${head.toLocaleString("en-US")} entries, every read verified`,
        perSecond: rate,
        medianNs: ns,
        ratioToFloor: rate / floorRate,
        note: "entries per second (reconcile's expected-state read)",
      },
    ],
    target: {
      target: `${label} scan ≥ 50% of raw driver reads`,
      actual: `${((rate / floorRate) * 100).toFixed(0)}%`,
      met: rate / floorRate >= 0.5,
    },
  };
}

/** A whole `reconcile` of the ledger against a sink that mirrors it exactly (read back in memory). */
async function reconcileRate(ledger: Ledger, group: string): Promise<LedgerRow> {
  const mirror: Observation[] = [];
  for await (const entry of ledger.scan())
    mirror.push({ key: entry.envelope.key, checksum: entry.envelope.checksum });
  const times: number[] = [];
  for (let run = 0; run < 3; run++) {
    const started = process.hrtime.bigint();
    const report = await reconcile({
      ledger,
      sinks: [{ name: "mirror", lagToleranceMs: 0, observe: () => mirror }],
    });
    const sink = report.sinks[0];
    if (sink === undefined || !sink.consistent || sink.observations !== mirror.length)
      throw new Error("the mirror should reconcile as consistent");
    times.push(Number(process.hrtime.bigint() - started));
  }
  const ns = times.sort((a, b) => a - b)[1] as number;
  return {
    group,
    name: `reconcile() of ${mirror.length.toLocaleString("en-US")} entries against an exact in-memory mirror`,
    perSecond: mirror.length / (ns / 1e9),
    medianNs: ns,
    note: "ledger entries per second, scan and comparison included",
  };
}

function appendRows(
  group: string,
  floorNs: number,
  ledgerNs: number,
  floorName: string,
  ledgerName: string,
): { rows: LedgerRow[]; target: LedgerTarget } {
  const floorRate = BATCH / (floorNs / 1e9);
  const rate = BATCH / (ledgerNs / 1e9);
  return {
    rows: [
      {
        group,
        name: floorName,
        perSecond: floorRate,
        medianNs: floorNs,
        ratioToFloor: 1,
        floor: true,
      },
      {
        group,
        name: ledgerName,
        perSecond: rate,
        medianNs: ledgerNs,
        ratioToFloor: rate / floorRate,
      },
    ],
    target: {
      target: `${group.split(" ")[0]} batched append ≥ 50% of raw driver inserts`,
      actual: `${((rate / floorRate) * 100).toFixed(0)}%`,
      met: rate / floorRate >= 0.5,
    },
  };
}

async function sqliteBench(
  root: string,
  options: { time: number; warmup: number },
): Promise<{ rows: LedgerRow[]; targets: LedgerTarget[] }> {
  const rows: LedgerRow[] = [];
  const targets: LedgerTarget[] = [];
  const group = `SqliteLedger append, batches of ${BATCH} 400-byte orders, WAL + synchronous=FULL`;
  // The floor: the same table (made by the ledger's migration), the same settings.
  const rawPath = join(root, "raw.db");
  await (await SqliteLedger.open(rawPath)).close();
  const raw = new Database(rawPath);
  raw.pragma("journal_mode = WAL");
  raw.pragma("synchronous = FULL");
  const insert = raw.prepare(
    "INSERT INTO sinkproof_entries (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const insertAll = raw.transaction((batch: Row[]) => {
    for (const row of batch) insert.run(...row);
  });
  let next = 1;
  let rowBatch: Row[] = [];
  const floorNs = await medianNs(
    `${group} raw`,
    options,
    () => {
      rowBatch = rowsOf(batchOf(BATCH), next);
      next += BATCH;
    },
    () => insertAll.immediate(rowBatch),
  );
  raw.close();
  const ledger = await SqliteLedger.open(join(root, "ledger.db"));
  let batch: Envelope[] = [];
  const ledgerNs = await medianNs(
    group,
    options,
    () => {
      batch = batchOf(BATCH);
    },
    () => ledger.append(batch),
  );
  const append = appendRows(
    group,
    floorNs,
    ledgerNs,
    "raw better-sqlite3 inserts of the same rows, one transaction",
    "SqliteLedger.append (integrity check included)",
  );
  rows.push(...append.rows);
  targets.push(append.target);
  await ledger.close();

  const scanPath = join(root, "scan.db");
  const scanned = await SqliteLedger.open(scanPath);
  await fillLedger(scanned, SCAN_ENTRIES);
  rows.push(await claimReceiptRate(scanned, options, "SqliteLedger claim + receipt"));
  const reader = new Database(scanPath, { readonly: true });
  const all = reader.prepare(
    "SELECT position, appended_at, envelope FROM sinkproof_entries ORDER BY position",
  );
  const scan = await scanRows(
    scanned,
    "SqliteLedger reconcile scan",
    "SqliteLedger",
    "raw better-sqlite3 iterate() of the same rows + JSON.parse, nothing checked",
    () => {
      let n = 0;
      for (const row of all.iterate() as Iterable<{ envelope: string }>) {
        if (JSON.parse(row.envelope) !== null) n++;
      }
      return n;
    },
  );
  reader.close();
  rows.push(...scan.rows);
  targets.push(scan.target);
  rows.push(await reconcileRate(scanned, "SqliteLedger reconcile scan"));
  await scanned.close();
  return { rows, targets };
}

async function postgresBench(options: {
  time: number;
  warmup: number;
}): Promise<{ rows: LedgerRow[]; targets: LedgerTarget[] }> {
  const binaries = findPostgres();
  if ("missing" in binaries) {
    console.log(`PostgreSQL bench skipped: ${binaries.missing}`);
    return { rows: [], targets: [] };
  }
  const server = await startPostgres(binaries);
  const rows: LedgerRow[] = [];
  const targets: LedgerTarget[] = [];
  try {
    const group = `PostgresLedger append, batches of ${BATCH} 400-byte orders, synchronous_commit on`;
    // The floor: the same table (made by the ledger's migration in its own schema).
    await (await PostgresLedger.open({ connectionString: server.url, schema: "raw" })).close();
    const raw = new pg.Client(server.url);
    await raw.connect();
    const insert =
      'INSERT INTO "raw".sinkproof_entries (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])';
    let next = 1;
    let columns: unknown[][] = [];
    const floorNs = await medianNs(
      `${group} raw`,
      options,
      () => {
        const batch = rowsOf(batchOf(BATCH), next);
        next += BATCH;
        columns = Array.from({ length: 9 }, (_, c) => batch.map((row) => row[c]));
      },
      async () => {
        await raw.query("BEGIN");
        await raw.query({ name: "raw_insert", text: insert, values: columns });
        await raw.query("COMMIT");
      },
    );
    await raw.end();
    const ledger = await PostgresLedger.open({ connectionString: server.url, schema: "bench" });
    let batch: Envelope[] = [];
    const ledgerNs = await medianNs(
      group,
      options,
      () => {
        batch = batchOf(BATCH);
      },
      () => ledger.append(batch),
    );
    const append = appendRows(
      group,
      floorNs,
      ledgerNs,
      "raw pg: BEGIN, one INSERT … unnest of the same rows, COMMIT",
      "PostgresLedger.append (integrity check, append lock, conflict check included)",
    );
    rows.push(...append.rows);
    targets.push(append.target);
    await ledger.close();

    const scanned = await PostgresLedger.open({ connectionString: server.url, schema: "scan" });
    await fillLedger(scanned, SCAN_ENTRIES);
    rows.push(await claimReceiptRate(scanned, options, "PostgresLedger claim + receipt"));
    const reader = new pg.Client(server.url);
    await reader.connect();
    const scan = await scanRows(
      scanned,
      "PostgresLedger reconcile scan",
      "PostgresLedger",
      "raw pg: one SELECT of the same rows + JSON.parse, nothing checked",
      async () => {
        const { rows: all } = await reader.query(
          'SELECT position, appended_at, envelope FROM "scan".sinkproof_entries ORDER BY position',
        );
        let n = 0;
        for (const row of all) if (JSON.parse(row.envelope as string) !== null) n++;
        return n;
      },
    );
    await reader.end();
    rows.push(...scan.rows);
    targets.push(scan.target);
    rows.push(await reconcileRate(scanned, "PostgresLedger reconcile scan"));
    await scanned.close();
  } finally {
    await server.stop();
  }
  return { rows, targets };
}

export async function runSqlLedgerBench(
  quick: boolean,
): Promise<{ rows: LedgerRow[]; targets: LedgerTarget[] }> {
  const options = { time: quick ? 300 : 2000, warmup: quick ? 100 : 300 };
  const root = mkdtempSync(join(tmpdir(), "sinkproof-sql-bench-"));
  try {
    const sqlite = await sqliteBench(root, options);
    const postgres = await postgresBench(options);
    return {
      rows: [...sqlite.rows, ...postgres.rows],
      targets: [...sqlite.targets, ...postgres.targets],
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
