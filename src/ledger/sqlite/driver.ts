/**
 * The part of better-sqlite3 that `SqliteLedger` uses, written out structurally so that
 * the published types do not name the optional peer dependency; loading it on first
 * use; and the pacing of waits for another connection's lock.
 *
 * Promises: a missing better-sqlite3 is `missing_driver` with the fix; the driver itself
 * never blocks the event loop for more than `DRIVER_BUSY_MS` per try.
 *
 * @module
 */

import { peerLoader } from "../peer.js";

/** The part of better-sqlite3's `Statement` the ledger uses. */
export interface Statement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  raw(toggle: boolean): Statement;
}

/** The part of better-sqlite3's `Database` the ledger uses. */
export interface Database {
  prepare(sql: string): Statement;
  exec(sql: string): unknown;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(
    fn: (...args: A) => R,
  ): { (...args: A): R; immediate(...args: A): R };
  close(): unknown;
  readonly open: boolean;
}

/** How better-sqlite3 opens a database file. */
export type DatabaseConstructor = new (path: string, options?: { timeout?: number }) => Database;

/** Loads better-sqlite3 once; a missing package is a `missing_driver` error with the fix. */
export const loadDriver: () => Promise<DatabaseConstructor> = peerLoader<DatabaseConstructor>(
  () => import("better-sqlite3"),
  "SqliteLedger needs the optional peer dependency better-sqlite3 12: npm install better-sqlite3@12",
);

/**
 * How long the driver itself waits for a lock, per try, in ms. better-sqlite3 is
 * synchronous: its busy handler sleeps on the event loop's thread, so it is kept short
 * and the ledger sleeps asynchronously between tries instead (see `SqliteLedger`'s `#run`).
 */
export const DRIVER_BUSY_MS = 20;

/** A promise that resolves after `ms` ms. */
export const sleep = (ms: number): Promise<unknown> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** The sleep before try `attempt + 1`: 1, 2, 4 … up to 50 ms, with jitter, never past the deadline. */
export function busyBackoff(attempt: number, deadline: number): number {
  const ms = Math.min(2 ** attempt, 50) * (0.5 + Math.random() / 2);
  return Math.max(0, Math.min(ms, deadline - Date.now()));
}
