/**
 * docs/ledgers.md shows the PostgreSQL schema; it must be the one the migration creates.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MIGRATIONS, POSTGRES_SCHEMA_VERSION } from "../../src/ledger/postgres/postgres-ledger.js";

const normalize = (sql: string) => sql.replace(/\s+/g, " ").trim();

describe("docs/ledgers.md", () => {
  it("shows the PostgreSQL schema exactly as the current migration creates it", () => {
    const doc = readFileSync(new URL("../../docs/ledgers.md", import.meta.url), "utf8");
    const section = doc.slice(doc.indexOf("### Schema"));
    const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    expect(POSTGRES_SCHEMA_VERSION).toBe(1);
    const migration = (MIGRATIONS[1] as (s: string) => string)('"public"');
    expect(normalize(block as string)).toContain(normalize(migration));
    expect(block).toContain("sinkproof_meta");
  });
});
