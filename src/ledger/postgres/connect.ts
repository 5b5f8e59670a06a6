/**
 * What `PostgresLedger.open` does before it trusts a server: makes the pool a connection
 * string asks for (loading `pg`, an optional peer dependency, on first use), and reads the
 * server's settings and the schema's advisory lock ids.
 *
 * Promises: a missing `pg` is `missing_driver` with the fix; a made pool has an `error`
 * listener, so an idle connection that drops never ends the process; `synchronous_commit`
 * off or `fsync` not on is `unsafe_settings`, unless `allowUnsafeSettings`, and the
 * ledger is then not durable.
 *
 * @module
 */

import { LedgerError } from "../../errors.js";
import { logger } from "../../observe/debug.js";
import { peerLoader } from "../peer.js";
import type { PgPool } from "./pool.js";
import { SETTINGS } from "./sql.js";
import { query } from "./transaction.js";

const log = logger("ledger:postgres");

interface PgModule {
  Pool: new (config: {
    connectionString: string;
    max: number;
  }) => PgPool & {
    on(event: "error", listener: (error: unknown) => void): unknown;
  };
}

/** Loads `pg` once; a missing package is a `missing_driver` error with the fix. */
const loadDriver = peerLoader<PgModule>(
  () => import("pg"),
  "PostgresLedger with a connection string needs the optional peer dependency pg 8: npm install pg@8",
);

/** A pool of at most `poolSize` connections to `target` (a checked connection URL). */
export async function makePool(target: string, poolSize: number): Promise<PgPool> {
  const pg = await loadDriver();
  const made = new pg.Pool({ connectionString: target, max: poolSize });
  // An idle client whose connection drops emits `error` on the pool; without a
  // listener that would end the process. The next query gets a new connection.
  made.on("error", (error) => log("idle connection failed: %O", error));
  return made;
}

/** The advisory lock ids of one schema's appends and audit log. */
export interface Locks {
  append: number;
  audit: number;
}

/** What open learned of the server, for the ledger it makes. */
export interface ServerState {
  /** The advisory lock ids of appends and of the audit log. */
  readonly locks: Locks;
  /** The advisory lock id of migrations. */
  readonly migrateLock: number;
  /** `synchronous_commit` is not off and `fsync` is on. */
  readonly durable: boolean;
  /** The session defaults are READ COMMITTED with synchronous_commit not off. */
  readonly direct: boolean;
  /** The database's name, for the `CorruptionError` of damage found in it. */
  readonly database: string;
}

/**
 * Reads the server's settings and the schema's lock ids; refuses settings that could lose
 * an acknowledged write (`unsafe_settings`) unless `allowUnsafe`.
 */
export async function checkServer(
  pool: PgPool,
  schema: string,
  allowUnsafe: boolean,
): Promise<ServerState> {
  const settings = await query(pool, {
    text: SETTINGS,
    values: [
      `sinkproof:append:${schema}`,
      `sinkproof:audit:${schema}`,
      `sinkproof:migrate:${schema}`,
    ],
  });
  const row = settings.rows[0] as Record<string, unknown>;
  const weak: string[] = [];
  if (row.synchronous_commit === "off") weak.push("synchronous_commit is off");
  if (row.fsync !== "on") weak.push(`fsync is ${String(row.fsync)}`);
  if (weak.length > 0 && !allowUnsafe) {
    throw new LedgerError(
      "unsafe_settings",
      `Refusing to open the ledger: ${weak.join("; ")}. An acknowledged write could be lost; pass allowUnsafeSettings: true to accept that (tests only)`,
    );
  }
  return {
    locks: { append: Number(row.append_lock), audit: Number(row.audit_lock) },
    migrateLock: Number(row.migrate_lock),
    durable: weak.length === 0,
    direct: row.isolation === "read committed" && row.synchronous_commit !== "off",
    database: String(row.database),
  };
}
