import type Database from "better-sqlite3";
import type pg from "pg";
import { describe, expectTypeOf, it } from "vitest";
import type { Ledger, LedgerCapabilities, LedgerErrorCode } from "../src/index.js";
import {
  type PgPool,
  PostgresLedger,
  type PostgresLedgerOptions,
} from "../src/ledger/postgres/index.js";
import { SqliteLedger, type SqliteLedgerOptions } from "../src/ledger/sqlite/index.js";

describe("SQL ledger types", () => {
  it("a pg.Pool is a PgPool, without the published types naming pg", () => {
    expectTypeOf<pg.Pool>().toExtend<PgPool>();
    expectTypeOf<PostgresLedgerOptions["pool"]>().toEqualTypeOf<PgPool | undefined>();
  });

  it("open resolves to the adapter, which is a Ledger", () => {
    expectTypeOf(PostgresLedger.open).returns.resolves.toEqualTypeOf<PostgresLedger>();
    expectTypeOf(SqliteLedger.open).returns.resolves.toEqualTypeOf<SqliteLedger>();
    expectTypeOf<PostgresLedger>().toExtend<Ledger>();
    expectTypeOf<SqliteLedger>().toExtend<Ledger>();
    expectTypeOf<SqliteLedger["capabilities"]>().toEqualTypeOf<LedgerCapabilities>();
  });

  it("options are checked: synchronous is a closed set", () => {
    expectTypeOf<SqliteLedgerOptions["synchronous"]>().toEqualTypeOf<
      "full" | "extra" | "normal" | "off" | undefined
    >();
    // better-sqlite3's own Database is not needed to use the ledger.
    expectTypeOf<Database.Database>().not.toEqualTypeOf<SqliteLedger>();
  });

  it("the database ledgers' error codes are literal", () => {
    expectTypeOf<"unavailable">().toExtend<LedgerErrorCode>();
    expectTypeOf<"serialization_failure">().toExtend<LedgerErrorCode>();
    expectTypeOf<"unsafe_settings">().toExtend<LedgerErrorCode>();
    expectTypeOf<"database_too_new">().toExtend<LedgerErrorCode>();
    expectTypeOf<"missing_driver">().toExtend<LedgerErrorCode>();
  });
});
