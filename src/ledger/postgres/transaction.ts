/**
 * How `PostgresLedger` runs SQL: one statement on the pool, one write on its own, or a
 * transaction on one client (READ COMMITTED, `synchronous_commit` on, an advisory lock
 * when asked).
 *
 * Promises: a serialization failure or deadlock is tried again, up to
 * `SERIALIZATION_RETRIES` times with a short random backoff; every other failure rolls
 * back and leaves translated (errors.ts); a client whose connection failed, or whose
 * statement timed out and may still run, is destroyed, never returned to the pool.
 *
 * @module
 */

import { isSinkproofError } from "../../errors.js";
import { logger } from "../../observe/debug.js";
import { codeOf, isRetryableConflict, SERIALIZATION_RETRIES, translatePgError } from "./errors.js";
import type { PgPool, PgPoolClient, PgQueryable, PgQueryResult } from "./pool.js";
import { BEGIN } from "./sql.js";

const log = logger("ledger:postgres");

/**
 * One statement on the pool (its own implicit transaction), its failure translated; a
 * serialization failure or deadlock is retried like a transaction's.
 */
export async function query(
  pool: PgQueryable,
  config: { text: string; values?: unknown[]; name?: string; rowMode?: "array" },
): Promise<PgQueryResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await pool.query(config);
    } catch (error) {
      if (!isRetryableConflict(error) || attempt >= SERIALIZATION_RETRIES) {
        throw translatePgError(error);
      }
      log("statement retried after %s (attempt %d)", codeOf(error), attempt);
    }
    await sleep(Math.random() * 10 * attempt);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One write statement on its own: run directly on the pool (its own implicit transaction)
 * when the session defaults were safe at open, else in a READ COMMITTED transaction with
 * `synchronous_commit` on. A serialization failure or deadlock is retried like a
 * transaction's.
 */
export async function writeOne(
  pool: PgPool,
  config: { text: string; values?: unknown[]; name?: string },
  direct: boolean,
): Promise<PgQueryResult> {
  if (!direct) {
    return transaction(pool, async (client) => [await client.query(config), true]);
  }
  return query(pool, config);
}

/**
 * Runs `body` in a transaction on one client, after taking the advisory lock `lock` (for
 * the transaction) when given. `body` returns its value and whether to commit. A
 * serialization failure or deadlock is retried with a short random backoff; other
 * failures roll back and are translated. A client whose connection failed is destroyed,
 * not returned to the pool.
 */
export async function transaction<T>(
  pool: PgPool,
  body: (client: PgPoolClient, first: PgQueryResult | undefined) => Promise<[T, boolean]>,
  lock?: number,
  prelude?: string,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: PgPoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw translatePgError(error);
    }
    let destroy: Error | undefined;
    // The query in flight fails with the same error; this only keeps the event heard.
    const onError = (error: Error) => {
      destroy = error;
    };
    client.on?.("error", onError);
    try {
      // One round trip: BEGIN, the lock, and a first statement. The isolation is READ
      // COMMITTED whatever the session's default (a database may set repeatable read or
      // serializable): each statement takes its own snapshot, so statements after the lock
      // see what committed before it was granted. A session with synchronous_commit off
      // gets it on for this transaction, so an acknowledged commit is flushed.
      const started = (await client.query(
        [
          BEGIN,
          ...(lock === undefined ? [] : [`SELECT pg_advisory_xact_lock(${Math.trunc(lock)})`]),
          ...(prelude === undefined ? [] : [prelude]),
        ].join("; "),
      )) as PgQueryResult | PgQueryResult[];
      const first = prelude === undefined ? undefined : [started].flat().at(-1);
      const [value, commit] = await body(client, first);
      await client.query(commit ? "COMMIT" : "ROLLBACK");
      return value;
    } catch (error) {
      const translated = translatePgError(error);
      if (isSinkproofError(translated) && translated.code === "unavailable") {
        // The connection is gone, or a statement (perhaps the COMMIT) timed out on the
        // client and may still run: destroy the connection (the server rolls back whatever
        // did not commit) and never reuse it. The outcome of a COMMIT is then unknown.
        destroy = error instanceof Error ? error : new Error(String(error));
      } else {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          // The connection is gone or confused: destroy it rather than reuse it.
          destroy =
            rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
      }
      if (!isRetryableConflict(error) || attempt >= SERIALIZATION_RETRIES) {
        throw translatePgError(error);
      }
      log("transaction retried after %s (attempt %d)", codeOf(error), attempt);
    } finally {
      client.removeListener?.("error", onError);
      client.release(destroy);
    }
    await sleep(Math.random() * 10 * attempt);
  }
}
