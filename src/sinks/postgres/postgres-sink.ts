/**
 * `postgresTableSink`: a sink that is one PostgreSQL table, on a `pg` pool the caller
 * owns. One row per key: its ledger position, checksum, payload (`jsonb`), the fencing
 * token of the write that stored it, and its row hash for digest mode in three indexed
 * columns. Writes are upserts fenced in the statement (`… WHERE stored_token <
 * excluded.token`); a batch is one statement over `unnest`; read-back pages by key
 * (within a ledger range over an index on `position`); digests are computed in SQL from
 * the stored row hashes. Every write commits before it resolves. Internal to the subpath.
 *
 * @module
 */

import type { Checksum } from "../../checksum/checksum.js";
import { formatDigest, rowHash } from "../../checksum/row-hash.js";
import type {
  SinkBatchContext,
  SinkBatchResult,
  SinkWriteContext,
  SinkWriteResult,
} from "../../delivery/guard-types.js";
import type { Envelope } from "../../envelope/schema.js";
import { assertIntact } from "../../envelope/verify.js";
import { SinkError } from "../../errors.js";
import { describe, eachUnderPath, invalidArgument } from "../../internal/arguments.js";
import { optionKeys, readArray, readOptions, readProperty } from "../../internal/options.js";
import type { PgPool, PgQueryResult } from "../../ledger/postgres/pool.js";
import type { BucketDigest, DigestSplit, HashRange } from "../../ledger/types.js";
import type { Observation, ObserveRange, SinkDigest } from "../../reconcile/types.js";
import {
  highestPerKey,
  READY_SINK_OPTION_KEYS,
  type ReadySink,
  type ReadySinkOptions,
  readySinkOptions,
  withExtras,
  writeTarget,
} from "../types.js";

/** Options of {@link postgresTableSink}. */
export interface PostgresTableSinkOptions extends ReadySinkOptions {
  /** A `pg` pool (`new pg.Pool(...)`): the sink runs its queries on it and never ends it. */
  readonly pool: PgPool;
  /** The table: an SQL identifier (letters, digits, `_`; not starting with a digit). */
  readonly table: string;
  /** Its schema, an identifier as well. @default "public" */
  readonly schema?: string | undefined;
}

const OPTION_KEYS = optionKeys<PostgresTableSinkOptions>()(
  ...READY_SINK_OPTION_KEYS,
  "pool",
  "table",
  "schema",
);

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** A table name leaves room for its indexes' names (`<table>_by_row_hash`) within 63 bytes. */
const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;
const PAGE = 1000;

/** A PostgreSQL table sink: see {@link postgresTableSink}. */
export interface PostgresTableSink extends ReadySink {
  /** The table, schema-qualified and quoted, as the queries name it. */
  readonly table: string;
  /** Creates the table and its indexes when missing (idempotent). */
  migrate(): Promise<void>;
}

function identifier(value: unknown, where: string, rule = IDENTIFIER, most = 63): string {
  if (typeof value !== "string" || !rule.test(value))
    invalidArgument(
      where,
      `must be an SQL identifier (letters, digits and _, not starting with a digit, at most ${most}), got ${describe(value)}`,
    );
  return value;
}

/**
 * A sink that is one PostgreSQL table (see the module notes), ready for `guardSink`
 * (`write`, `writeBatch`) and for `reconcile` and `repair` (`observe(range)`, `digest`,
 * `rewrite`, `remove`). Call `migrate()` once to create the table. Its durability: a
 * write resolves once committed. What reconcile sees in it: read-back finds rows deleted,
 * altered (checksum or, with `observe: "both"`, payload) or inserted by hand; digest mode
 * compares the stored row hashes, so it does not see a payload edited under its checksum,
 * nor a row inserted by hand without them.
 *
 * @example
 * ```ts
 * import pg from "pg";
 * import { postgresTableSink } from "sinkproof/sinks/postgres";
 * const orders = postgresTableSink({ name: "orders", pool: new pg.Pool(), table: "orders_sink" });
 * await orders.migrate();
 * ```
 */
export function postgresTableSink(options: PostgresTableSinkOptions): PostgresTableSink {
  const o = readOptions<PostgresTableSinkOptions>(options, "options", OPTION_KEYS, {
    required: true,
  });
  const { name, mode, lagToleranceMs, reconcileBy } = readySinkOptions(o);
  const pool = o.pool;
  if (
    typeof pool !== "object" ||
    pool === null ||
    typeof readProperty(pool, "query", "options.pool") !== "function"
  )
    invalidArgument("options.pool", `must be a pg Pool, got ${describe(pool)}`);
  const tableName = identifier(o.table, "options.table", TABLE, 48);
  const schemaName = identifier(o.schema ?? "public", "options.schema");
  const t = `"${schemaName}"."${tableName}"`;
  let closed = false;

  const query = async (text: string, values?: unknown[]): Promise<PgQueryResult> => {
    if (closed) throw new SinkError("sink_closed", `The PostgreSQL sink ${name} is closed`);
    try {
      return await pool.query({ text, values });
    } catch (error) {
      throw new SinkError(
        "sink_storage_error",
        `The PostgreSQL sink ${name} (${t}) failed: ${String((error as Error)?.message ?? error)}`,
        { cause: error },
      );
    }
  };

  const upsert = `INSERT INTO ${t} (key, position, checksum, payload, fencing_token, row_hash, row_hi, row_lo)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::jsonb[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
    ON CONFLICT (key) DO UPDATE SET position = excluded.position, checksum = excluded.checksum,
      payload = excluded.payload, fencing_token = excluded.fencing_token,
      row_hash = excluded.row_hash, row_hi = excluded.row_hi, row_lo = excluded.row_lo
    WHERE ${t}.fencing_token < excluded.fencing_token`;

  const writeAll = async (
    given: readonly { envelope: Envelope; position: number; token: number }[],
  ): Promise<void> => {
    // A key twice in one statement cannot be upserted twice: its highest token's write counts.
    const list = highestPerKey(given);
    if (list.length === 0) return;
    const hashes = list.map(({ envelope }) => rowHash(envelope.key, envelope.checksum));
    await query(upsert, [
      list.map((i) => i.envelope.key),
      list.map((i) => i.position),
      list.map((i) => i.envelope.checksum),
      list.map((i) => JSON.stringify(i.envelope.payload)),
      list.map((i) => i.token),
      hashes.map((h) => h.hash),
      hashes.map((h) => h.hi),
      hashes.map((h) => h.lo),
    ]);
  };

  const checked = (envelope: unknown): Envelope => {
    assertIntact(envelope);
    return envelope;
  };

  async function* observe(range?: ObserveRange): AsyncIterable<Observation> {
    let after = "";
    const columns = mode === "both" ? "key, checksum, payload::text AS payload" : "key, checksum";
    while (true) {
      const { rows } =
        range === undefined
          ? await query(`SELECT ${columns} FROM ${t} WHERE key > $1 ORDER BY key LIMIT ${PAGE}`, [
              after,
            ])
          : await query(
              `SELECT ${columns} FROM ${t} WHERE (position BETWEEN $2 AND $3 OR position = 0) AND key > $1 ORDER BY key LIMIT ${PAGE}`,
              [after, range.from, range.to],
            );
      for (const row of rows) {
        const key = String(row.key);
        yield mode === "both"
          ? {
              key,
              checksum: String(row.checksum) as Checksum,
              payload: JSON.parse(String(row.payload)),
            }
          : { key, checksum: String(row.checksum) as Checksum };
        after = key;
      }
      if (rows.length < PAGE) return;
    }
  }

  const digest: SinkDigest = {
    async digest(split: DigestSplit): Promise<readonly BucketDigest[]> {
      const width = (split.to - split.from) / split.buckets;
      const { rows } = await query(
        `SELECT (row_hash - $1::bigint) / $3::bigint AS bucket, count(*) AS count,
           (sum(row_hi) % 4294967296)::bigint AS hi, (sum(row_lo) % 4294967296)::bigint AS lo
         FROM ${t} WHERE row_hash >= $1::bigint AND row_hash < $2::bigint GROUP BY 1 ORDER BY 1`,
        [split.from, split.to, width],
      );
      return rows.map((r) => ({
        bucket: Number(r.bucket),
        count: Number(r.count),
        digest: formatDigest(BigInt(String(r.hi)), BigInt(String(r.lo))),
      }));
    },
    async *observeRange(range: HashRange): AsyncIterable<Observation> {
      const { rows } = await query(
        `SELECT key, checksum FROM ${t} WHERE row_hash >= $1::bigint AND row_hash < $2::bigint`,
        [range.from, range.to],
      );
      for (const r of rows) yield { key: String(r.key), checksum: String(r.checksum) as Checksum };
    },
  };

  const extras = {
    digests: digest,
    table: t,
    async migrate(): Promise<void> {
      await query(`CREATE TABLE IF NOT EXISTS ${t} (
        key text PRIMARY KEY,
        position bigint NOT NULL CHECK (position >= 0),
        checksum text NOT NULL,
        payload jsonb NOT NULL,
        fencing_token bigint NOT NULL DEFAULT 0,
        row_hash bigint CHECK (row_hash BETWEEN 0 AND 4294967295),
        row_hi bigint CHECK (row_hi BETWEEN 0 AND 4294967295),
        row_lo bigint CHECK (row_lo BETWEEN 0 AND 4294967295)
      )`);
      await query(`CREATE INDEX IF NOT EXISTS "${tableName}_by_position" ON ${t} (position)`);
      await query(
        `CREATE INDEX IF NOT EXISTS "${tableName}_by_row_hash" ON ${t} (row_hash) INCLUDE (row_hi, row_lo)`,
      );
    },
  };
  return withExtras<PostgresTableSink>(
    {
      name,
      lagToleranceMs,
      durability: "synchronous-commit",
      digestSees:
        "the stored row hashes (of key and checksum): not a payload edited under its checksum, nor a row inserted by hand without them",
      async write(envelope: Envelope, context: SinkWriteContext): Promise<SinkWriteResult> {
        const e = checked(envelope);
        await writeAll([{ envelope: e, ...writeTarget(context, "context") }]);
        return { offset: `${name}:${e.key}` };
      },
      async writeBatch(
        envelopes: readonly Envelope[],
        context: SinkBatchContext,
      ): Promise<SinkBatchResult> {
        const list = eachUnderPath(readArray(envelopes, "envelopes"), "", "envelopes", checked);
        await writeAll(
          list.map((envelope, i) => ({
            envelope,
            ...writeTarget(
              (context as { items?: readonly SinkWriteContext[] } | undefined)?.items?.[i],
              `context.items[${i}]`,
            ),
          })),
        );
        return {};
      },
      observe,
      ...(reconcileBy === "digest" ? { digest } : {}),
      async rewrite(envelope: Envelope): Promise<void> {
        const e = checked(envelope);
        const h = rowHash(e.key, e.checksum);
        // A repair's rewrite keeps the row's position and token (it is not a delivery).
        await query(
          `INSERT INTO ${t} (key, position, checksum, payload, fencing_token, row_hash, row_hi, row_lo)
         VALUES ($1, 0, $2, $3::jsonb, 0, $4, $5, $6)
         ON CONFLICT (key) DO UPDATE SET checksum = excluded.checksum, payload = excluded.payload,
           row_hash = excluded.row_hash, row_hi = excluded.row_hi, row_lo = excluded.row_lo`,
          [e.key, e.checksum, JSON.stringify(e.payload), h.hash, h.hi, h.lo],
        );
      },
      async remove(key: string): Promise<void> {
        if (typeof key !== "string" || key.length === 0)
          invalidArgument("key", `must be a non-empty string, got ${describe(key)}`);
        await query(`DELETE FROM ${t} WHERE key = $1`, [key]);
      },
      async close(): Promise<void> {
        closed = true;
      },
    },
    extras,
  );
}
