/**
 * For PostgreSQL test files: the server of the run (see postgres-global-setup.ts), and a
 * fresh database on it per caller, so that test files running in parallel never share
 * tables.
 */
import pg from "pg";
import { inject } from "vitest";

const provided = inject("postgres");

/** The server's connection string, or undefined when the PostgreSQL suite is skipped. */
export const postgresUrl: string | undefined = "url" in provided ? provided.url : undefined;
/** Why the PostgreSQL suite is skipped, when it is. */
export const postgresSkipped: string | undefined =
  "skipped" in provided ? provided.skipped : undefined;

let databases = 0;

/** Creates an empty database and returns its connection string. */
export async function freshDatabase(prefix = "t"): Promise<string> {
  if (postgresUrl === undefined) throw new Error(`no PostgreSQL server: ${postgresSkipped}`);
  const name = `${prefix}_${process.pid}_${databases++}_${Date.now() % 100000}`;
  const admin = new pg.Client(postgresUrl);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A pool with an error listener (node-postgres asks every pool to have one). */
export function poolOf(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on("error", () => undefined);
  return pool;
}
