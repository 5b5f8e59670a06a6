import { execFile, execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import {
  CorruptionError,
  createSealer,
  IdempotencyConflictError,
  IntegrityError,
  InvalidArgumentError,
  isSinkproofError,
  LedgerError,
} from "../../src/index.js";
import { translateSqliteError } from "../../src/ledger/sqlite/errors.js";
import { SQLITE_SCHEMA_VERSION, SqliteLedger } from "../../src/ledger/sqlite/index.js";
import { ledgerConformance } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-sqlite-ledger-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

ledgerConformance({
  name: "SqliteLedger",
  describe,
  it,
  create: async ({ clock }) => SqliteLedger.open(join(root, `c${n++}.db`), { clock }),
  reopen: async (ledger, { clock }) => {
    await ledger.close();
    return SqliteLedger.open(ledger.path, { clock });
  },
});

const sealer = createSealer();
const envelope = (seq: number, payload: unknown = { seq }) =>
  sealer({
    producer: "p",
    stream: "s",
    seq,
    type: "t",
    schema: { name: "t", version: 1 },
    payload,
  });

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("SqliteLedger", () => {
  it("declares WAL durability, many processes, durable claims, the injected clock", async () => {
    const ledger = await SqliteLedger.open(join(root, `own${n++}.db`));
    expect(ledger.capabilities).toEqual({
      durability: "wal-synchronous",
      concurrency: "multi-process",
      claims: "durable",
      clock: "injected",
    });
    await ledger.close();
    const raw = new Database(ledger.path);
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(raw.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
    raw.close();
  });

  it("refuses weaker settings unless allowed, and then declares no durability", async () => {
    for (const [path, options, why] of [
      [":memory:", {}, "journal_mode is memory"],
      [join(root, `own${n++}.db`), { synchronous: "normal" }, "synchronous is normal"],
      [join(root, `own${n++}.db`), { synchronous: "off" }, "synchronous is off"],
    ] as const) {
      const error = await caught(SqliteLedger.open(path, options));
      expect(error).toBeInstanceOf(LedgerError);
      expect((error as LedgerError).code).toBe("unsafe_settings");
      expect((error as LedgerError).message).toContain(why);
      const allowed = await SqliteLedger.open(path, { ...options, allowUnsafeSettings: true });
      expect(allowed.capabilities.durability).toBe("none");
      await allowed.append([envelope(0)]);
      expect(await allowed.head()).toBe(1);
      await allowed.close();
    }
    const extra = await SqliteLedger.open(join(root, `own${n++}.db`), { synchronous: "extra" });
    expect(extra.capabilities.durability).toBe("wal-synchronous");
    await extra.close();
  });

  it("a file that cannot be opened is a LedgerError, never the driver's raw error", async () => {
    const error = await caught(SqliteLedger.open(join(root, "no", "such", "dir", "x.db")));
    expect(error).toBeInstanceOf(LedgerError);
    const notADatabase = join(root, `own${n++}.db`);
    writeFileSync(notADatabase, "this is not a SQLite database, just text ".repeat(100));
    const damaged = await caught(SqliteLedger.open(notADatabase));
    expect(damaged).toBeInstanceOf(CorruptionError);
  });

  it("refuses a database made by a newer version, and leaves it alone", async () => {
    const path = join(root, `own${n++}.db`);
    await (await SqliteLedger.open(path)).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    raw.close();
    const error = await caught(SqliteLedger.open(path));
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe("database_too_new");
    const after = new Database(path);
    expect(after.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION + 1);
    after.close();
  });

  it("refuses a newer database in rollback-journal mode without switching it to WAL", async () => {
    const path = join(root, `own${n++}.db`);
    const raw = new Database(path);
    raw.exec("CREATE TABLE app (x)");
    raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 6}`);
    raw.close();
    const before = readFileSync(path);
    const error = await caught(SqliteLedger.open(path));
    expect((error as LedgerError).code).toBe("database_too_new");
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(readFileSync(path).equals(before)).toBe(true);
    const after = new Database(path);
    expect(after.pragma("journal_mode", { simple: true })).toBe("delete");
    after.close();
  });

  it("a write lock held past the busy timeout is unavailable; nothing is half-written", async () => {
    const path = join(root, `own${n++}.db`);
    const ledger = await SqliteLedger.open(path, { busyTimeoutMs: 50 });
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    const error = await caught(ledger.append([envelope(1), envelope(2)]));
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe("unavailable");
    other.exec("ROLLBACK");
    other.close();
    expect(await ledger.head()).toBe(0);
    expect((await ledger.append([envelope(1), envelope(2)])).appended).toBe(2);
    await ledger.close();
  });

  it("waiting for another connection's lock does not block the event loop: timers run, and the lock released by one lets the call through", async () => {
    const path = join(root, `own${n++}.db`);
    const ledger = await SqliteLedger.open(path, { busyTimeoutMs: 3000 });
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    // Only a timer of this process can release the lock: a driver that waited blocking
    // would wait out the whole busy timeout and fail.
    setTimeout(() => other.exec("ROLLBACK"), 300);
    let last = Date.now();
    let largestGap = 0;
    const ticker = setInterval(() => {
      const now = Date.now();
      largestGap = Math.max(largestGap, now - last);
      last = now;
    }, 10);
    const started = Date.now();
    try {
      const [appended, reserved, audited] = await Promise.all([
        ledger.append([envelope(1)]),
        ledger.reserveSequence("p", 1),
        ledger.appendAudit({ actor: "a", action: "note", reason: "r" }),
      ]);
      expect(appended.appended).toBe(1);
      expect(reserved.first).toBe(0);
      expect(audited.index).toBe(1);
    } finally {
      clearInterval(ticker);
      other.close();
    }
    expect(Date.now() - started).toBeLessThan(2000);
    expect(largestGap).toBeLessThan(1000); // blocking, it would be the whole wait (3 s)
    await ledger.close();
  });

  it("translates the driver's constraint errors into conflicts", async () => {
    const path = join(root, `own${n++}.db`);
    const ledger = await SqliteLedger.open(path);
    const [entry] = (await ledger.append([envelope(1)])).results;
    await ledger.close();
    const raw = new Database(path);
    let driverError: unknown;
    try {
      raw
        .prepare(
          "INSERT INTO sinkproof_entries (position, key, id, producer, stream, checksum, appended_at, envelope) VALUES (2, ?, 'X', 'p', 's', 'c', 't', '{}')",
        )
        .run(entry?.entry.envelope.key);
    } catch (error) {
      driverError = error;
    }
    raw.close();
    expect((driverError as { code?: string }).code).toBe("SQLITE_CONSTRAINT_UNIQUE");
    const translated = translateSqliteError(driverError, path);
    expect(translated).toBeInstanceOf(IdempotencyConflictError);
    expect(isSinkproofError(translated)).toBe(true);
  });

  it("a stored row that is not an envelope is corruption, never returned", async () => {
    const path = join(root, `own${n++}.db`);
    const ledger = await SqliteLedger.open(path);
    const e = envelope(1);
    await ledger.append([e]);
    const raw = new Database(path);
    raw.prepare("UPDATE sinkproof_entries SET envelope = ? WHERE position = 1").run('{"id":1}');
    raw.close();
    const error = await caught(ledger.get(e.key));
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).position).toBe(1);
    await ledger.close();
  });

  it("hostile input meets the same core checks; tricky text is stored verbatim", async () => {
    const ledger = await SqliteLedger.open(join(root, `own${n++}.db`));
    expect(await caught(ledger.append([{ ...envelope(1), payload: { seq: 2 } }]))).toBeInstanceOf(
      IntegrityError,
    );
    expect(await caught(ledger.get("a\u0000b"))).toBeInstanceOf(InvalidArgumentError);
    const tricky = envelope(3, { s: "'; DROP TABLE x; --\\\"\u0000😀", n: -0.5e-7 });
    await ledger.append([tricky]);
    expect((await ledger.get(tricky.key))?.envelope).toEqual(tricky);
    await ledger.close();
    for (const [path, options, where] of [
      ["", {}, "path"],
      ["x.db", { busyTimeoutMs: -1 }, "options.busyTimeoutMs"],
      ["x.db", { synchronous: "sometimes" }, "options.synchronous"],
      ["x.db", { allowUnsafeSettings: "yes" }, "options.allowUnsafeSettings"],
    ] as const) {
      const error = await caught(SqliteLedger.open(path, options as never));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).path).toBe(where);
    }
  });

  it("bad options are refused before the file is created, each with the option's own path", async () => {
    for (const [options, where] of [
      [{ clock: 5 }, "options.clock"],
      [{ maxPayloadBytes: -1 }, "options.maxPayloadBytes"],
      [{ maxDepth: 0 }, "options.maxDepth"],
    ] as const) {
      const path = join(root, `own${n++}.db`);
      const error = await caught(SqliteLedger.open(path, options as never));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).path).toBe(where);
      expect(existsSync(path)).toBe(false);
    }
  });

  it("a read-only file is refused at open with a LedgerError, and a write refused later is one too", async (context) => {
    const path = join(root, `own${n++}.db`);
    await (await SqliteLedger.open(path)).close();
    // As root, permissions do not stop writes; the immutable attribute does.
    const root0 = process.getuid?.() === 0;
    const lock = () =>
      root0 ? execFileSync("chattr", ["+i", path], { stdio: "pipe" }) : chmodSync(path, 0o444);
    const unlock = () =>
      root0 ? execFileSync("chattr", ["-i", path], { stdio: "pipe" }) : chmodSync(path, 0o644);
    try {
      lock();
    } catch (error) {
      // chattr needs a file system with attributes (not tmpfs, overlayfs on some kernels).
      context.skip(`cannot make ${path} read-only here: ${String(error).slice(0, 120)}`);
    }
    try {
      const error = await caught(SqliteLedger.open(path));
      expect(error).toBeInstanceOf(LedgerError);
      expect((error as LedgerError).code).toBe("storage_error");
      expect((error as LedgerError).message).toContain("read-only");
    } finally {
      unlock();
    }
    const readonly = Object.assign(new Error("attempt to write a readonly database"), {
      code: "SQLITE_READONLY",
    });
    const translated = translateSqliteError(readonly, path) as LedgerError;
    expect(translated).toBeInstanceOf(LedgerError);
    expect(translated.message).toContain("read-only");
  });

  it("several processes race on the same keys, one of them with another checksum: each key once, every conflict reported, nothing else fails", async () => {
    const path = join(root, `own${n++}.db`); // not created: the children race to make it
    const child = fileURLToPath(new URL("../support/sqlite-race-child.ts", import.meta.url));
    const workers = [0, 1, 2, 3];
    const outputs = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<string>((resolve, reject) => {
            execFile(
              process.execPath,
              ["--import", "tsx", child, path, String(worker)],
              { env: { ...process.env, NODE_OPTIONS: "" } },
              (error, stdout, stderr) =>
                error ? reject(new Error(`${String(error)}\n${stderr}`)) : resolve(stdout),
            );
          }),
      ),
    );
    const reports = outputs.map(
      (out) => JSON.parse(out.trim()) as { outcomes: string[]; errors: string[] },
    );
    for (const report of reports) expect(report.errors).toEqual([]);
    const ledger = await SqliteLedger.open(path);
    const entries: { position: number; key: string; variant: boolean }[] = [];
    for await (const entry of ledger.scan()) {
      const payload = entry.envelope.payload as { variant?: string };
      entries.push({
        position: entry.position,
        key: entry.envelope.key,
        variant: payload.variant === "w0",
      });
    }
    expect(entries.map((e) => e.position)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(new Set(entries.map((e) => e.key)).size).toBe(150);
    const byKey = new Map(entries.map((e) => [e.key, e]));
    let worker0Won = 0;
    for (let b = 0; b < 30; b++) {
      // Whoever stored the first key of batch b decided it: the workers with that checksum
      // appended (or found) the batch, the others got the conflict.
      const won = (byKey.get(`k${b * 5}`) as { variant: boolean }).variant;
      if (won) worker0Won++;
      for (const worker of workers) {
        const sameChecksum = (worker === 0) === won;
        expect((reports[worker] as { outcomes: string[] }).outcomes[b]).toBe(
          sameChecksum ? "ok" : "conflict",
        );
      }
    }
    console.log(`[sqlite race] worker 0's checksum won ${worker0Won} of 30 batches`);
    expect(await ledger.verifyAudit()).toMatchObject({ ok: true, count: 120 });
    await ledger.close();
  }, 120_000);

  it("several processes append to one file: gap-free positions, every entry there", async () => {
    const path = join(root, `own${n++}.db`);
    await (await SqliteLedger.open(path)).close();
    const child = fileURLToPath(new URL("./fixtures/sqlite-append-child.ts", import.meta.url));
    const runs = [0, 1, 2].map(
      (worker) =>
        new Promise<string>((resolve, reject) => {
          execFile(
            process.execPath,
            ["--import", "tsx", child, path, String(worker), "40"],
            { env: { ...process.env, NODE_OPTIONS: "" } },
            (error, stdout) => (error ? reject(error) : resolve(stdout)),
          );
        }),
    );
    const outputs = await Promise.all(runs);
    for (const out of outputs) expect(out).toMatch(/^done \d+/);
    const ledger = await SqliteLedger.open(path);
    expect(await ledger.head()).toBe(1200);
    const positions: number[] = [];
    const perWorker = new Map<string, number[]>();
    for await (const entry of ledger.scan()) {
      positions.push(entry.position);
      const list = perWorker.get(entry.envelope.producer) ?? [];
      list.push(entry.envelope.seq);
      perWorker.set(entry.envelope.producer, list);
    }
    expect(positions).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    for (const worker of [0, 1, 2]) {
      // Each worker's entries, in its own order: its batches were appended in sequence.
      expect(perWorker.get(`worker-${worker}`)).toEqual(Array.from({ length: 400 }, (_, i) => i));
    }
    await ledger.close();
  });
});
