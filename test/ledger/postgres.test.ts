/**
 * PostgresLedger against a real server (started by test/support/postgres-global-setup.ts):
 * the public conformance suite, then what only a shared SQL ledger has to prove: settings
 * checked at open, migrations (newer schema refused, concurrent openers), gap-free
 * visibility with a late commit, server-side claim expiry across ledgers, and driver
 * errors translated.
 */
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type AuditRecord,
  createSealer,
  type Envelope,
  IdempotencyConflictError,
  IntegrityError,
  InvalidArgumentError,
  isSinkproofError,
  isTransientLedgerError,
  LedgerError,
} from "../../src/index.js";
import { entryHash } from "../../src/ledger/index.js";
import { setInsertChunkChars } from "../../src/ledger/postgres/append.js";
import { translatePgError } from "../../src/ledger/postgres/errors.js";
import { type PgPool, type PgPoolClient, PostgresLedger } from "../../src/ledger/postgres/index.js";
import { transaction } from "../../src/ledger/postgres/transaction.js";
import { ledgerConformance } from "../../src/testing/index.js";
import { freshDatabase, poolOf, postgresUrl } from "../support/postgres.js";
import { findPostgres, startPostgres } from "../support/postgres-server.js";

const skip = postgresUrl === undefined;

let url = "";
let schemas = 0;
const nextSchema = () => `s${schemas++}`;

describe.skipIf(skip)("PostgresLedger", () => {
  beforeAll(async () => {
    url = await freshDatabase("ledger");
  });

  ledgerConformance({
    name: "PostgresLedger",
    describe,
    it,
    // The server's clock rules claims (capabilities.clock is "server"): the ledger keeps
    // the real clock, so that renewals and expiries on both sides agree.
    create: async () => PostgresLedger.open({ connectionString: url, schema: nextSchema() }),
    reopen: async (ledger) => {
      await ledger.close();
      return PostgresLedger.open({ connectionString: url, schema: ledger.schema });
    },
  });

  const sealer = createSealer();
  const envelope = (seq: number, payload: unknown = { seq }): Envelope =>
    sealer({
      producer: "p",
      stream: "s",
      seq,
      type: "t",
      schema: { name: "t", version: 1 },
      payload,
    });

  const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
    const out: T[] = [];
    for await (const item of iterable) out.push(item);
    return out;
  };

  async function caught(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
    } catch (error) {
      return error;
    }
    throw new Error("expected a rejection");
  }

  describe("own cases", () => {
    it("declares synchronous-commit durability, many processes, durable claims, the server's clock", async () => {
      const ledger = await PostgresLedger.open({ connectionString: url, schema: nextSchema() });
      expect(ledger.capabilities).toEqual({
        durability: "synchronous-commit",
        concurrency: "multi-process",
        claims: "durable",
        clock: "server",
      });
      await ledger.close();
    });

    it("takes a pg.Pool, and leaves it open on close (it is the caller's)", async () => {
      const pool = poolOf(url);
      const ledger = await PostgresLedger.open({ pool, schema: nextSchema() });
      await ledger.append([envelope(0)]);
      await ledger.close();
      expect((await pool.query("SELECT 1 AS one")).rows[0]).toEqual({ one: 1 });
      await pool.end();
    });

    it("refuses synchronous_commit=off unless allowed, and then declares no durability", async () => {
      const weak = `${url}?options=${encodeURIComponent("-c synchronous_commit=off")}`;
      const error = await caught(PostgresLedger.open({ connectionString: weak }));
      expect(error).toBeInstanceOf(LedgerError);
      expect((error as LedgerError).code).toBe("unsafe_settings");
      expect((error as LedgerError).message).toContain("synchronous_commit is off");
      const allowed = await PostgresLedger.open({
        connectionString: weak,
        schema: nextSchema(),
        allowUnsafeSettings: true,
      });
      expect(allowed.capabilities.durability).toBe("none");
      await allowed.close();
    });

    it("refuses a server running with fsync=off unless allowed", async () => {
      const binaries = findPostgres();
      if ("missing" in binaries) throw new Error(binaries.missing);
      const server = await startPostgres(binaries, { fsync: "off" });
      try {
        const error = await caught(PostgresLedger.open({ connectionString: server.url }));
        expect((error as LedgerError).code).toBe("unsafe_settings");
        expect((error as LedgerError).message).toContain("fsync is off");
        const allowed = await PostgresLedger.open({
          connectionString: server.url,
          allowUnsafeSettings: true,
        });
        expect(allowed.capabilities.durability).toBe("none");
        await allowed.close();
      } finally {
        await server.stop();
      }
    });

    it("audit records appended from several ledgers at once form one valid chain", async () => {
      const schema = nextSchema();
      const ledgers = await Promise.all(
        Array.from({ length: 4 }, () => PostgresLedger.open({ connectionString: url, schema })),
      );
      await Promise.all(
        ledgers.flatMap((ledger, l) =>
          Array.from({ length: 10 }, (_, i) =>
            ledger.appendAudit({ actor: `ledger-${l}`, action: "note", reason: `record ${i}` }),
          ),
        ),
      );
      const check = await (ledgers[0] as PostgresLedger).verifyAudit();
      expect(check).toMatchObject({ ok: true, count: 40 });
      await Promise.all(ledgers.map((l) => l.close()));
    });

    it("outcomes raced from several ledgers settle each intent exactly once", async () => {
      const schema = nextSchema();
      const ledgers = await Promise.all(
        Array.from({ length: 4 }, () => PostgresLedger.open({ connectionString: url, schema })),
      );
      const first = ledgers[0] as PostgresLedger;
      const intents: AuditRecord[] = [];
      for (let i = 0; i < 5; i++) {
        intents.push(
          await first.appendAudit({
            actor: "repair",
            action: "replay",
            reason: `intent ${i}`,
            subject: { sink: "s", key: `k${i}` },
            phase: "intent",
          }),
        );
      }
      // Every ledger tries to settle every intent, with unrelated records in between.
      const results = await Promise.allSettled(
        ledgers.flatMap((ledger, l) =>
          intents.flatMap((intent) => [
            ledger.appendAudit({
              actor: `ledger-${l}`,
              action: "replay",
              reason: "settled",
              phase: "outcome",
              intent: intent.index,
            }),
            ledger.appendAudit({ actor: `ledger-${l}`, action: "note", reason: "between" }),
          ]),
        ),
      );
      const outcomes = results.filter((_, i) => i % 2 === 0);
      expect(outcomes.filter((r) => r.status === "fulfilled")).toHaveLength(5);
      for (const r of outcomes.filter((r) => r.status === "rejected")) {
        const reason = (r as PromiseRejectedResult).reason;
        expect(reason).toBeInstanceOf(InvalidArgumentError);
        expect((reason as InvalidArgumentError).path).toBe("input.intent");
      }
      expect(results.filter((_, i) => i % 2 === 1).every((r) => r.status === "fulfilled")).toBe(
        true,
      );
      const check = await first.verifyAudit();
      expect(check).toMatchObject({ ok: true, count: 5 + 5 + 20, interrupted: [] });
      await Promise.all(ledgers.map((l) => l.close()));
    });

    it("refuses a schema made by a newer version, with nothing changed", async () => {
      const schema = nextSchema();
      const ledger = await PostgresLedger.open({ connectionString: url, schema });
      await ledger.close();
      const pool = poolOf(url);
      await pool.query(
        `UPDATE "${schema}".sinkproof_meta SET value = '99' WHERE name = 'schema_version'`,
      );
      const error = await caught(PostgresLedger.open({ connectionString: url, schema }));
      expect(error).toBeInstanceOf(LedgerError);
      expect((error as LedgerError).code).toBe("database_too_new");
      expect(
        (await pool.query(`SELECT value FROM "${schema}".sinkproof_meta`)).rows[0]?.value,
      ).toBe("99");
      await pool.end();
    });

    it("concurrent openers of a new schema do not race: one migrates, all open", async () => {
      const schema = nextSchema();
      const ledgers = await Promise.all(
        Array.from({ length: 8 }, () =>
          PostgresLedger.open({ connectionString: url, schema, poolSize: 2 }),
        ),
      );
      const results = await Promise.all(ledgers.map((l, i) => l.append([envelope(i)])));
      expect(results.map((r) => r.results[0]?.entry.position).sort()).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8,
      ]);
      const pool = poolOf(url);
      const tables = await pool.query(
        "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1",
        [schema],
      );
      expect(tables.rows[0]?.n).toBe(10); // nine ledger tables and sinkproof_meta
      await pool.end();
      await Promise.all(ledgers.map((l) => l.close()));
    });

    it("a late commit is never skipped: a later append waits, and readers see neither until the first commits", async () => {
      const schema = nextSchema();
      let reached: () => void = () => undefined;
      let release: () => void = () => undefined;
      const atCommit = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let armed = false;
      const inner = poolOf(url);
      // A pool whose first COMMIT waits for the test: an append that took its position and
      // has not committed yet.
      const held: PgPool = {
        query: (config) => inner.query(config as pg.QueryConfig),
        end: () => inner.end(),
        connect: async () => {
          const client = await inner.connect();
          const wrapped: PgPoolClient = {
            query: async (config) => {
              if (config === "COMMIT" && armed) {
                armed = false;
                reached();
                await released;
              }
              return client.query(config as pg.QueryConfig);
            },
            release: (destroy) => client.release(destroy),
          };
          return wrapped;
        },
      };
      const first = await PostgresLedger.open({ pool: held, schema });
      const second = await PostgresLedger.open({ connectionString: url, schema });
      const reader = await PostgresLedger.open({ connectionString: url, schema });
      armed = true;
      const a = envelope(1);
      const b = envelope(2);
      const appendA = first.append([a]);
      await atCommit;
      let secondDone = false;
      const appendB = second.append([b]).then((result) => {
        secondDone = true;
        return result;
      });
      await sleep(300);
      expect(secondDone).toBe(false);
      expect(await reader.head()).toBe(0);
      expect(await collect(reader.scan())).toEqual([]);
      expect(await reader.get(b.key)).toBeUndefined();
      release();
      const [ra, rb] = await Promise.all([appendA, appendB]);
      expect(ra.results[0]?.entry.position).toBe(1);
      expect(rb.results[0]?.entry.position).toBe(2);
      expect((await collect(reader.scan())).map((e) => e.envelope.key)).toEqual([a.key, b.key]);
      expect(await reader.advanceWatermark("warehouse", 2)).toBe(2);
      await Promise.all([first.close(), second.close(), reader.close()]);
      await inner.end();
    });

    it("claims expire by the server's clock, across ledgers", async () => {
      const schema = nextSchema();
      const a = await PostgresLedger.open({ connectionString: url, schema });
      const b = await PostgresLedger.open({ connectionString: url, schema });
      const before = Date.now();
      const claimed = await a.claim("warehouse", "k", { owner: "a", ttlMs: 300 });
      expect(claimed.status).toBe("acquired");
      if (claimed.status === "acquired") {
        expect(claimed.claim.expiresAt).toBeGreaterThanOrEqual(before + 300 - 1000);
        expect(claimed.claim.expiresAt).toBeLessThanOrEqual(Date.now() + 300 + 1000);
      }
      const held = await b.claim("warehouse", "k", { owner: "b", ttlMs: 300 });
      expect(held.status).toBe("held");
      if (held.status === "held") expect(held.owner).toBe("a");
      await sleep(400);
      expect((await b.claim("warehouse", "k", { owner: "b", ttlMs: 300 })).status).toBe("acquired");
      await Promise.all([a.close(), b.close()]);
    });

    it("a row committed by a writer that bypassed the append lock is answered as if it had come first", async () => {
      const schema = nextSchema();
      const ledger = await PostgresLedger.open({ connectionString: url, schema });
      const original = envelope(7);
      const same = envelope(7); // same key and checksum, another id
      const other = envelope(7, { seq: 7, changed: true }); // same key, another checksum
      const foreign = new pg.Client(url);
      await foreign.connect();
      // A writer of the ledger's own rows (entry hash included), only not through the lock.
      const insert = `INSERT INTO "${schema}".sinkproof_entries (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash) VALUES (1, $1, $2, 'p', 's', $3, '2026-01-01T00:00:00.000Z', $4, $5)`;
      // Uncommitted: the ledger does not see it, takes position 1, and blocks on the index.
      await foreign.query("BEGIN");
      await foreign.query(insert, [
        original.key,
        original.id,
        original.checksum,
        JSON.stringify(original),
        entryHash(1, "2026-01-01T00:00:00.000Z", original),
      ]);
      const conflicting = caught(ledger.append([envelope(8), other]));
      await sleep(200);
      await foreign.query("COMMIT");
      const error = await conflicting;
      expect(error).toBeInstanceOf(IdempotencyConflictError);
      expect((error as IdempotencyConflictError).code).toBe("idempotency_conflict");
      expect((error as IdempotencyConflictError).existing?.position).toBe(1);
      expect(await ledger.head()).toBe(1);
      const again = await ledger.append([same]);
      expect(again.results[0]).toMatchObject({ status: "existing", entry: { position: 1 } });
      await foreign.end();
      await ledger.close();
    });

    it("a unique violation inside an append's transaction is retried and answered as the conflict it is", async () => {
      const schema = nextSchema();
      const inner = poolOf(url);
      let armed = false;
      let reached: () => void = () => undefined;
      let release: () => void = () => undefined;
      const atInsert = new Promise<void>((resolve) => {
        reached = resolve;
      });
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      // A pool whose careful-path INSERT (the statement named …_insert) waits for the test.
      const gated: PgPool = {
        query: (config) => inner.query(config as pg.QueryConfig),
        end: () => inner.end(),
        connect: async () => {
          const client = await inner.connect();
          return {
            query: async (config) => {
              if (armed && typeof config === "object" && config.name?.endsWith("_insert")) {
                armed = false;
                reached();
                await released;
              }
              return client.query(config as pg.QueryConfig);
            },
            release: (destroy) => client.release(destroy),
          } satisfies PgPoolClient;
        },
      };
      const ledger = await PostgresLedger.open({ pool: gated, schema });
      const first = envelope(1);
      await ledger.append([first]);
      armed = true;
      // One existing envelope sends the append down the careful path (lookup, then insert).
      const fresh = envelope(2);
      const appending = caught(ledger.append([first, fresh]));
      await atInsert;
      // Meanwhile a writer that bypasses the ledger commits the same key, another checksum.
      const other = envelope(2, { seq: 2, other: true });
      await inner.query(
        `INSERT INTO "${schema}".sinkproof_entries (position, key, id, producer, stream, checksum, appended_at, envelope, entry_hash) VALUES (2, $1, $2, 'p', 's', $3, '2026-01-01T00:00:00.000Z', $4, $5)`,
        [
          other.key,
          other.id,
          other.checksum,
          JSON.stringify(other),
          entryHash(2, "2026-01-01T00:00:00.000Z", other),
        ],
      );
      release();
      const error = await appending;
      expect(error).toBeInstanceOf(IdempotencyConflictError);
      expect((error as IdempotencyConflictError).existing?.envelope.checksum).toBe(other.checksum);
      expect((error as IdempotencyConflictError).cause).toBeUndefined();
      expect(await ledger.head()).toBe(2);

      // The translation itself, on real driver errors: a key twice, an id twice.
      const duplicateKey = await caught(
        inner.query(
          `INSERT INTO "${schema}".sinkproof_entries (position, key, id, producer, stream, checksum, appended_at, envelope) VALUES (3, $1, 'X', 'p', 's', 'c', 't', '{}')`,
          [first.key],
        ),
      );
      expect((duplicateKey as { code?: string }).code).toBe("23505");
      expect((translatePgError(duplicateKey) as IdempotencyConflictError).code).toBe(
        "idempotency_conflict",
      );
      const duplicateId = await caught(
        inner.query(
          `INSERT INTO "${schema}".sinkproof_entries (position, key, id, producer, stream, checksum, appended_at, envelope) VALUES (3, 'new', $1, 'p', 's', 'c', 't', '{}')`,
          [first.id],
        ),
      );
      expect((translatePgError(duplicateId) as IdempotencyConflictError).code).toBe("id_conflict");
      await ledger.close();
      await inner.end();
    });

    it("translates a real serialization failure, and retries a transaction that hits one", async () => {
      const pool = poolOf(url);
      await pool.query("CREATE TABLE IF NOT EXISTS ser (id int PRIMARY KEY, n int)");
      await pool.query("INSERT INTO ser VALUES (1, 0) ON CONFLICT DO NOTHING");
      const c1 = await pool.connect();
      const c2 = await pool.connect();
      await c1.query("BEGIN ISOLATION LEVEL SERIALIZABLE");
      await c2.query("BEGIN ISOLATION LEVEL SERIALIZABLE");
      await c1.query("SELECT n FROM ser WHERE id = 1");
      await c2.query("SELECT n FROM ser WHERE id = 1");
      await c1.query("UPDATE ser SET n = n + 1 WHERE id = 1");
      const pending = c2.query("UPDATE ser SET n = n + 1 WHERE id = 1").catch((e: unknown) => e);
      await c1.query("COMMIT");
      const failure = await pending;
      await c2.query("ROLLBACK");
      c1.release();
      c2.release();
      expect((failure as { code?: string }).code).toBe("40001");
      const translated = translatePgError(failure);
      expect(translated).toBeInstanceOf(LedgerError);
      expect((translated as LedgerError).code).toBe("serialization_failure");

      let attempts = 0;
      const value = await transaction(pool, async (client) => {
        attempts++;
        await client.query("SELECT 1");
        if (attempts === 1) throw failure;
        return ["done", true] as [string, boolean];
      });
      expect([value, attempts]).toEqual(["done", 2]);
      attempts = 0;
      const exhausted = await caught(
        transaction(pool, async () => {
          attempts++;
          throw failure;
        }),
      );
      expect((exhausted as LedgerError).code).toBe("serialization_failure");
      expect(attempts).toBe(5);
      await pool.end();
    });

    it("connection loss is unavailable, nothing is half-written, and the ledger recovers", async () => {
      const schema = nextSchema();
      const ledger = await PostgresLedger.open({ connectionString: url, schema });
      const admin = new pg.Client(url);
      await admin.connect();
      const { rows } = await admin.query("SELECT hashtext($1) AS lock", [
        `sinkproof:append:${schema}`,
      ]);
      // Hold the append lock, so that the ledger's append waits inside its transaction,
      // then kill the backend it waits in.
      await admin.query("BEGIN");
      await admin.query("SELECT pg_advisory_xact_lock($1)", [rows[0]?.lock]);
      const failing = caught(ledger.append([envelope(1), envelope(2)]));
      let waiting: number | undefined;
      for (let i = 0; i < 100 && waiting === undefined; i++) {
        await sleep(20);
        const found = await admin.query(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        );
        waiting = found.rows[0]?.pid;
      }
      expect(waiting).toBeDefined();
      await admin.query("SELECT pg_terminate_backend($1)", [waiting]);
      await admin.query("COMMIT");
      const error = await failing;
      expect(error).toBeInstanceOf(LedgerError);
      expect((error as LedgerError).code).toBe("unavailable");
      expect(await ledger.head()).toBe(0);
      const retried = await ledger.append([envelope(1), envelope(2)]);
      expect(retried.appended).toBe(2);
      await admin.end();
      await ledger.close();

      const closedPort = new URL(url);
      closedPort.port = "1";
      const refused = await caught(
        PostgresLedger.open({ connectionString: closedPort.toString() }),
      );
      expect(refused).toBeInstanceOf(LedgerError);
      expect((refused as LedgerError).code).toBe("unavailable");
    });

    it("hostile input meets the same core checks as every ledger", async () => {
      const ledger = await PostgresLedger.open({ connectionString: url, schema: nextSchema() });
      const altered = { ...envelope(1), payload: { seq: 2 } };
      expect(await caught(ledger.append([altered]))).toBeInstanceOf(IntegrityError);
      const nul = await caught(ledger.get("a\u0000b"));
      expect(nul).toBeInstanceOf(InvalidArgumentError);
      // Text that SQL must carry verbatim: quotes, backslashes, NUL inside JSON, emoji.
      const tricky = envelope(3, { s: "'; DROP TABLE x; --\\\"\u0000😀", n: -0.5e-7 });
      await ledger.append([tricky]);
      expect((await ledger.get(tricky.key))?.envelope).toEqual(tricky);
      expect(await ledger.head()).toBe(1);
      await ledger.close();
      for (const schema of ['x"; DROP SCHEMA public; --', "Upper", "", "a".repeat(41)]) {
        const error = await caught(PostgresLedger.open({ connectionString: url, schema }));
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as InvalidArgumentError).path).toBe("options.schema");
      }
      const both = await caught(
        PostgresLedger.open({ connectionString: url, pool: poolOf(url) } as never),
      );
      expect(both).toBeInstanceOf(InvalidArgumentError);
      expect(isSinkproofError(await caught(PostgresLedger.open(null as never)))).toBe(true);
    });

    for (const isolation of ["repeatable read", "serializable"]) {
      it(`a database whose default isolation is ${isolation}: concurrent openers, appends, audit records, reservations, watermarks and claims are all correct`, async () => {
        const isolated = await freshDatabase("iso");
        const admin = new pg.Client(isolated);
        await admin.connect();
        await admin.query(
          `ALTER DATABASE "${new URL(isolated).pathname.slice(1)}" SET default_transaction_isolation = '${isolation}'`,
        );
        await admin.end();
        const schema = "iso";
        // Openers of a new schema, at once: one migrates, the others wait and find it done.
        const ledgers = await Promise.all(
          Array.from({ length: 4 }, () =>
            PostgresLedger.open({ connectionString: isolated, schema, poolSize: 4 }),
          ),
        );
        const seal = createSealer();
        const of = (producer: string, seq: number) =>
          seal({
            producer,
            stream: "s",
            seq,
            type: "t",
            schema: { name: "t", version: 1 },
            payload: { seq },
          });
        const failures: unknown[] = [];
        const note = (error: unknown) => {
          failures.push(error);
        };
        const reserved: number[] = [];
        await Promise.all(
          ledgers.flatMap((ledger, l) => [
            (async () => {
              for (let i = 0; i < 25; i++) await ledger.append([of(`p${l}`, i)]).catch(note);
              // The careful path: one envelope already there, one new.
              for (let i = 0; i < 10; i++) {
                await ledger.append([of(`p${l}`, 0), of(`q${l}`, i)]).catch(note);
              }
            })(),
            ...Array.from({ length: 10 }, (_, i) =>
              ledger.appendAudit({ actor: `l${l}`, action: "note", reason: `r${i}` }).catch(note),
            ),
            ...Array.from({ length: 20 }, () =>
              ledger.reserveSequence("shared", 3).then((r) => {
                reserved.push(r.first);
              }, note),
            ),
          ]),
        );
        expect(failures).toEqual([]);
        const first = ledgers[0] as PostgresLedger;
        expect(await first.head()).toBe(4 * 35);
        const positions = (await collect(first.scan())).map((e) => e.position);
        expect(positions).toEqual(Array.from({ length: 140 }, (_, i) => i + 1));
        expect(await first.verifyAudit()).toMatchObject({ ok: true, count: 40 });
        expect(reserved.sort((a, b) => a - b)).toEqual(Array.from({ length: 80 }, (_, i) => i * 3));
        // One-statement writes on one hot row each, from every ledger at once.
        const marks = await Promise.all(
          ledgers.flatMap((ledger) =>
            Array.from({ length: 10 }, (_, i) =>
              ledger.advanceWatermark("w", 1 + ((i * 13) % 140)),
            ),
          ),
        );
        expect(marks.every((m) => m >= 1)).toBe(true);
        expect(await first.getWatermark("w")).toBe(Math.max(...marks));
        const claims = await Promise.all(
          ledgers.map((ledger, l) =>
            ledger.claim("sink", `k${l}`, { owner: `o${l}`, ttlMs: 60_000 }),
          ),
        );
        const held = claims.map((c) => (c.status === "acquired" ? c.claim : undefined));
        expect(held.every((c) => c !== undefined)).toBe(true);
        await Promise.all(
          ledgers.flatMap((ledger, l) =>
            Array.from({ length: 5 }, () => ledger.renewClaim(held[l] as never, 60_000)),
          ),
        );
        expect(
          await Promise.all(ledgers.map((ledger, l) => ledger.releaseClaim(held[l] as never))),
        ).toEqual([true, true, true, true]);
        await Promise.all(ledgers.map((l) => l.close()));
      }, 60_000);
    }

    it("the ledger's transactions run READ COMMITTED with synchronous_commit on, whatever the session says", async () => {
      const isolated = await freshDatabase("iso");
      const loose = `${isolated}?options=${encodeURIComponent("-c synchronous_commit=off -c default_transaction_isolation=serializable")}`;
      const pool = poolOf(loose);
      const seen = await transaction(pool, async (client) => [
        (
          await client.query(
            "SELECT current_setting('transaction_isolation') AS isolation, current_setting('synchronous_commit') AS sync",
          )
        ).rows[0],
        false,
      ]);
      expect(seen).toEqual({ isolation: "read committed", sync: "on" });
      // Outside the ledger's transactions the session keeps its own settings.
      expect((await pool.query("SHOW synchronous_commit")).rows[0]).toEqual({
        synchronous_commit: "off",
      });
      await pool.end();
    });

    it("a role with only SELECT, INSERT, UPDATE, DELETE opens a ledger its owner created, and uses all of it", async () => {
      const schema = nextSchema();
      const owner = await PostgresLedger.open({ connectionString: url, schema });
      await owner.close();
      const role = `dml_${process.pid}_${schemas}`;
      const admin = new pg.Client(url);
      await admin.connect();
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`GRANT USAGE ON SCHEMA "${schema}" TO ${role}`);
      await admin.query(
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO ${role}`,
      );
      const roleUrl = new URL(url);
      roleUrl.username = role;
      try {
        const ledger = await PostgresLedger.open({ connectionString: roleUrl.toString(), schema });
        const e = envelope(1);
        await ledger.append([e, envelope(2)]);
        await ledger.append([e, envelope(3)]); // the careful path
        expect(await ledger.reserveSequence("p", 2)).toMatchObject({ first: 0, count: 2 });
        const claimed = await ledger.claim("sink", e.key, { owner: "o", ttlMs: 60_000 });
        if (claimed.status !== "acquired") throw new Error("expected the claim");
        await ledger.renewClaim(claimed.claim, 60_000);
        await ledger.putReceipt({
          sink: "sink",
          key: e.key,
          id: e.id,
          position: 1,
          checksum: e.checksum,
          status: "written",
          attempt: 1,
          startedAt: "2026-01-01T00:00:00.000Z",
          finishedAt: "2026-01-01T00:00:00.001Z",
        });
        expect(await ledger.releaseClaim(claimed.claim)).toBe(true);
        expect(await ledger.advanceWatermark("sink", 1)).toBe(1);
        await ledger.appendAudit({ actor: "a", action: "note", reason: "r" });
        expect(await ledger.head()).toBe(3);
        // Checkpoints and window history too (no sequence to be granted).
        const checkpoint = {
          sink: "sink",
          through: 1,
          at: "2026-01-01T00:00:00.000Z",
          key: e.key,
          checksum: e.checksum,
          digest: "xxh64sum:0123456789abcdef",
        };
        expect(await ledger.putCheckpoint(checkpoint, { expected: null })).toBe(true);
        const sample = {
          sink: "sink",
          at: "2026-01-01T00:00:00.000Z",
          position: 1,
          behindEntries: 2,
          behindMs: 5,
          consistent: true,
        };
        await ledger.recordWindows([sample]);
        expect(await ledger.windowHistory("sink")).toEqual([sample]);
        await ledger.close();
        // The role may not create anything: a schema behind this code cannot be opened by it,
        // and that is a configuration mistake (permission_denied), not a transient failure.
        const missing = await caught(
          PostgresLedger.open({ connectionString: roleUrl.toString(), schema: nextSchema() }),
        );
        expect(missing).toBeInstanceOf(LedgerError);
        expect((missing as LedgerError).code).toBe("permission_denied");
        expect(isTransientLedgerError(missing)).toBe(false);
      } finally {
        await admin.query(`DROP OWNED BY ${role}`);
        await admin.query(`DROP ROLE ${role}`);
        await admin.end();
      }
    });

    it("ledgers of schemas whose statement names once clashed share one connection; every name fits in 63 bytes", async () => {
      const inner = poolOf(url, 1); // one connection: every ledger prepares its statements on it
      const names = new Set<string>();
      const recording: PgPool = {
        query: (config) => {
          if (config.name !== undefined) names.add(config.name);
          return inner.query(config as pg.QueryConfig);
        },
        end: () => inner.end(),
        connect: async () => {
          const client = await inner.connect();
          return {
            query: (config) => {
              if (typeof config === "object" && config.name !== undefined) names.add(config.name);
              return client.query(config as pg.QueryConfig);
            },
            release: (destroy) => client.release(destroy),
          } satisfies PgPoolClient;
        },
      };
      const base = `n${schemas++}`;
      const ledgers = await Promise.all(
        [base, `${base}_scan`, `${base}_${"l".repeat(40 - base.length - 1)}`].map((schema) =>
          PostgresLedger.open({ pool: recording, schema }),
        ),
      );
      const e = envelope(1);
      for (const ledger of ledgers) {
        await ledger.append([e]);
        await ledger.putReceipt({
          sink: "sink",
          key: e.key,
          id: e.id,
          position: 1,
          checksum: e.checksum,
          status: "written",
          attempt: 1,
          startedAt: "2026-01-01T00:00:00.000Z",
          finishedAt: "2026-01-01T00:00:00.001Z",
        });
      }
      for (const ledger of ledgers) {
        // `x` + scan_receipts and `x_scan` + receipts were one name.
        expect(await collect(ledger.scanReceipts("sink"))).toHaveLength(1);
        expect(await ledger.getReceipts("sink", e.key)).toHaveLength(1);
        expect(await ledger.advanceWatermark("sink", 1)).toBe(1);
        expect(await ledger.getWatermark("sink")).toBe(1);
      }
      expect(names.size).toBeGreaterThan(10);
      for (const name of names) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
      await Promise.all(ledgers.map((l) => l.close()));
      await inner.end();
    });

    it("a batch larger than one INSERT can carry is appended in chunks, in one transaction: contiguous positions, all or nothing", async () => {
      const schema = nextSchema();
      const ledger = await PostgresLedger.open({ connectionString: url, schema });
      const previous = setInsertChunkChars(3000); // a few envelopes per chunk
      try {
        const batch = Array.from({ length: 40 }, (_, i) =>
          envelope(i, { seq: i, pad: "p".repeat(500) }),
        );
        const first = await ledger.append(batch.slice(0, 10));
        expect(first.results.map((r) => r.entry.position)).toEqual(
          Array.from({ length: 10 }, (_, i) => i + 1),
        );
        // Fast path: the chunks before the one holding an existing envelope are inserted, then
        // that chunk inserts fewer rows than it has: everything rolls back, and the careful
        // path appends the batch whole.
        const mixed = [...batch.slice(10, 25), batch[3] as Envelope, ...batch.slice(25)];
        const second = await ledger.append(mixed);
        expect(second.results.map((r) => r.status)).toEqual(
          mixed.map((_, i) => (i === 15 ? "existing" : "appended")),
        );
        expect(second.results.map((r) => r.entry.position)).toEqual([
          ...Array.from({ length: 15 }, (_, i) => 11 + i),
          4,
          ...Array.from({ length: 15 }, (_, i) => 26 + i),
        ]);
        // A clash in the last chunk leaves nothing of the earlier ones.
        const clash = await caught(
          ledger.append([
            ...Array.from({ length: 20 }, (_, i) =>
              envelope(100 + i, { seq: 100 + i, pad: "q".repeat(500) }),
            ),
            envelope(0, { changed: true }),
          ]),
        );
        expect(clash).toBeInstanceOf(IdempotencyConflictError);
        expect(await ledger.head()).toBe(40);
        const stored = await collect(ledger.scan());
        expect(stored.map((e) => e.position)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(stored.map((e) => e.envelope.key).sort()).toEqual(batch.map((e) => e.key).sort());
      } finally {
        setInsertChunkChars(previous);
      }
      // And with the real chunk size: 40 envelopes of about 1 MB (more than one chunk).
      const big = "x".repeat(1_000_000);
      const large = Array.from({ length: 40 }, (_, i) => envelope(1000 + i, { big, i }));
      const appended = await ledger.append(large);
      expect(appended.appended).toBe(40);
      expect(await ledger.head()).toBe(80);
      expect((await ledger.get((large[39] as Envelope).key))?.position).toBe(80);
      await ledger.close();
    }, 60_000);

    it("bad options are refused before anything is created, each with the option's own path", async () => {
      const probe = poolOf(url);
      const cases: [Record<string, unknown>, string][] = [
        [{ schema: "opt_clock", clock: 5 }, "options.clock"],
        [{ schema: "opt_bytes", maxPayloadBytes: -1 }, "options.maxPayloadBytes"],
        [{ schema: "opt_depth", maxDepth: 0.5 }, "options.maxDepth"],
        [{ schema: "pg_ledger" }, "options.schema"],
        [{ schema: "pg_temp" }, "options.schema"],
        [{ schema: "information_schema" }, "options.schema"],
      ];
      for (const [options, path] of cases) {
        const error = await caught(PostgresLedger.open({ connectionString: url, ...options }));
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as InvalidArgumentError).path).toBe(path);
        const created = await probe.query(
          "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1",
          [options.schema],
        );
        if (path !== "options.schema") expect(created.rows[0]?.n).toBe(0);
      }
      await probe.end();
    });

    it("a statement timeout, a pool connect timeout and a query read timeout are unavailable, a dropped database is database_not_found; nothing is half-written", async () => {
      const unavailable = (error: unknown) => {
        expect(error).toBeInstanceOf(LedgerError);
        expect((error as LedgerError).code).toBe("unavailable");
      };
      const schema = nextSchema();
      const admin = new pg.Client(url);
      await admin.connect();
      const { rows } = await admin.query("SELECT hashtext($1) AS lock", [
        `sinkproof:append:${schema}`,
      ]);
      const holdAppendLock = async () => {
        await admin.query("BEGIN");
        await admin.query("SELECT pg_advisory_xact_lock($1)", [rows[0]?.lock]);
      };
      // statement_timeout (57014) while the append waits for its lock.
      const timed = await PostgresLedger.open({
        connectionString: `${url}?options=${encodeURIComponent("-c statement_timeout=100")}`,
        schema,
      });
      await holdAppendLock();
      unavailable(await caught(timed.append([envelope(1)])));
      await admin.query("COMMIT");
      expect(await timed.head()).toBe(0);
      await timed.close();

      // node-postgres' query_timeout: the client gives up while the server still runs the
      // statement. The connection is destroyed, so what it did rolls back.
      const readTimeout = new pg.Pool({ connectionString: url, query_timeout: 200, max: 2 });
      readTimeout.on("error", () => undefined);
      const impatient = await PostgresLedger.open({ pool: readTimeout, schema });
      await holdAppendLock();
      unavailable(await caught(impatient.append([envelope(1)])));
      await admin.query("COMMIT");
      await sleep(100);
      expect(await impatient.head()).toBe(0);
      expect((await impatient.append([envelope(1)])).appended).toBe(1);
      await impatient.close();
      await readTimeout.end();

      // A pool whose every connection is checked out past connectionTimeoutMillis.
      const small = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 100 });
      small.on("error", () => undefined);
      const busy = await PostgresLedger.open({ pool: small, schema });
      const taken = await small.connect();
      unavailable(await caught(busy.append([envelope(2)])));
      unavailable(await caught(busy.head()));
      taken.release();
      expect(await busy.head()).toBe(1);
      await busy.close();
      await small.end();

      // The database dropped under an open ledger (3D000 on every new connection): waiting
      // will not bring it back, so it is not unavailable.
      const doomed = await freshDatabase("drop");
      const orphan = await PostgresLedger.open({ connectionString: doomed, schema });
      await orphan.append([envelope(1)]);
      await admin.query(`DROP DATABASE "${new URL(doomed).pathname.slice(1)}" WITH (FORCE)`);
      for (const error of [
        await caught(orphan.head()),
        await caught(orphan.append([envelope(2)])),
      ]) {
        expect((error as LedgerError).code).toBe("database_not_found");
        expect(isTransientLedgerError(error)).toBe(false);
      }
      await orphan.close();
      await admin.end();
    });

    it("a one-statement read or write that hits a serialization failure is retried, and after 5 attempts says so", async () => {
      const inner = poolOf(url);
      let failures = 0;
      let calls = 0;
      const flaky: PgPool = {
        query: async (config) => {
          if (config.name?.endsWith("_reserve") || config.name?.endsWith("_head")) {
            calls++;
            if (failures > 0) {
              failures--;
              throw Object.assign(new Error("could not serialize access"), { code: "40001" });
            }
          }
          return inner.query(config as pg.QueryConfig);
        },
        connect: () => inner.connect() as Promise<PgPoolClient>,
        end: () => inner.end(),
      };
      const ledger = await PostgresLedger.open({ pool: flaky, schema: nextSchema() });
      failures = 2;
      expect((await ledger.reserveSequence("p", 1)).first).toBe(0);
      expect(calls).toBe(3);
      failures = 4;
      expect(await ledger.head()).toBe(0);
      failures = 5;
      calls = 0;
      const exhausted = await caught(ledger.reserveSequence("p", 1));
      expect((exhausted as LedgerError).code).toBe("serialization_failure");
      expect((exhausted as LedgerError).message).toContain("after 5 attempts");
      expect(calls).toBe(5);
      await ledger.close();
      await inner.end();
    });

    it("a unique violation is a conflict only on an entry's key or id; any other is a storage error", async () => {
      const schema = nextSchema();
      const ledger = await PostgresLedger.open({ connectionString: url, schema });
      await ledger.appendAudit({ actor: "a", action: "note", reason: "r" });
      const pool = poolOf(url);
      const duplicateAudit = await caught(
        pool.query(
          `INSERT INTO "${schema}".sinkproof_audit (idx, hash, record) VALUES (1, 'h', '{}')`,
        ),
      );
      expect((duplicateAudit as { code?: string }).code).toBe("23505");
      expect(translatePgError(duplicateAudit)).not.toBeInstanceOf(IdempotencyConflictError);
      expect(translatePgError(duplicateAudit)).toBe(duplicateAudit); // BaseLedger wraps it as storage_error
      await pool.end();
      await ledger.close();
    });
  });
});
