/**
 * `SqliteLedgerOptions`: the options of `SqliteLedger.open`, their key list, and the
 * checks they pass before the database is touched.
 *
 * Promises: the options are read strictly (`readOptions` with the complete key list: an
 * unknown key is refused); every bad value is an `InvalidArgumentError` at its path.
 *
 * @module
 */

import { describe, invalidArgument } from "../../internal/arguments.js";
import { checkBoolean, checkInteger } from "../../internal/checks.js";
import { optionKeys, readOptions } from "../../internal/options.js";
import { checkLedgerOptions, LEDGER_OPTION_KEYS, type LedgerOptions } from "../base.js";

/**
 * Options of {@link SqliteLedger.open}.
 *
 * @example
 * ```ts
 * import { SqliteLedger, type SqliteLedgerOptions } from "sinkproof/sqlite";
 * const options: SqliteLedgerOptions = { synchronous: "extra", busyTimeoutMs: 10_000 };
 * const ledger = await SqliteLedger.open("./data/ledger.db", options);
 * ```
 */
export interface SqliteLedgerOptions extends LedgerOptions {
  /**
   * Open even when the database cannot run with WAL and `synchronous=FULL` (an in-memory
   * database, a file system without shared memory): the ledger then declares
   * `durability: "none"`. For tests only.
   * @default false
   */
  readonly allowUnsafeSettings?: boolean | undefined;
  /**
   * `synchronous` setting. `"full"` and `"extra"` keep the promise; `"normal"` and
   * `"off"` lose acknowledged writes on power failure and need `allowUnsafeSettings`.
   * @default "full"
   */
  readonly synchronous?: "full" | "extra" | "normal" | "off" | undefined;
  /**
   * How long a call waits for another connection's lock (another process, or another
   * ledger on the same file) before it fails with `unavailable`, in ms. 0 to 600,000.
   * The wait does not block the event loop: the driver waits at most 20 ms at a time
   * (better-sqlite3 is synchronous, so that much is blocking), and the ledger sleeps
   * asynchronously between tries, so timers (claim renewals among them) keep running.
   * @default 5000
   */
  readonly busyTimeoutMs?: number | undefined;
}

/** The `synchronous` settings by their PRAGMA level. */
export const SYNCHRONOUS = { off: 0, normal: 1, full: 2, extra: 3 } as const;

const SQLITE_KEYS = optionKeys<SqliteLedgerOptions>()(
  ...LEDGER_OPTION_KEYS,
  "allowUnsafeSettings",
  "synchronous",
  "busyTimeoutMs",
);

/** The options of one open, read and checked, with their defaults filled in. */
export interface CheckedSqliteOptions {
  /** The options as read (what `BaseLedger` is given). */
  readonly options: SqliteLedgerOptions;
  /** `allowUnsafeSettings`. */
  readonly allowUnsafe: boolean;
  /** The `synchronous` setting to ask for. */
  readonly synchronous: keyof typeof SYNCHRONOUS;
  /** How long a call waits for another connection's lock, in ms. */
  readonly busyTimeoutMs: number;
}

/**
 * Reads and checks the options of `SqliteLedger.open`: an `InvalidArgumentError` at the
 * path of the first bad one.
 */
export function readSqliteOptions(openOptions: SqliteLedgerOptions): CheckedSqliteOptions {
  const options = readOptions<SqliteLedgerOptions>(openOptions, "options", SQLITE_KEYS);
  checkLedgerOptions(options);
  const allowUnsafe = checkBoolean(
    options.allowUnsafeSettings ?? false,
    "options.allowUnsafeSettings",
  );
  const synchronous = options.synchronous ?? "full";
  if (typeof synchronous !== "string" || !Object.hasOwn(SYNCHRONOUS, synchronous)) {
    invalidArgument(
      "options.synchronous",
      `must be "full", "extra", "normal" or "off", got ${describe(synchronous)}`,
    );
  }
  const busyTimeoutMs = checkInteger(
    options.busyTimeoutMs ?? 5000,
    "options.busyTimeoutMs",
    0,
    600_000,
  );
  return { options, allowUnsafe, synchronous, busyTimeoutMs };
}
