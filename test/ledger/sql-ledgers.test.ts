/**
 * docs/ledgers.md shows the PostgreSQL schema; it must be the one the migration creates.
 * And the SQL ledgers' drivers are optional: missing, they give a typed error with the fix.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { MIGRATIONS, POSTGRES_SCHEMA_VERSION } from "../../src/ledger/postgres/migrations.js";

const normalize = (sql: string) => sql.replace(/\s+/g, " ").trim();

describe("docs/ledgers.md", () => {
  it("shows the PostgreSQL schema exactly as the migrations create it", () => {
    const doc = readFileSync(new URL("../../docs/ledgers.md", import.meta.url), "utf8");
    const section = doc.slice(doc.indexOf("### Schema"));
    const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    expect(POSTGRES_SCHEMA_VERSION).toBe(6);
    for (let version = 1; version <= POSTGRES_SCHEMA_VERSION; version++) {
      const migration = (MIGRATIONS[version] as (s: string) => string)('"public"');
      expect(normalize(block as string), `version ${version}`).toContain(normalize(migration));
    }
    expect(block).toContain("sinkproof_meta");
    expect(block).toContain(`('schema_version', '${POSTGRES_SCHEMA_VERSION}')`);
  });
});

describe("optional drivers", () => {
  it("without better-sqlite3 or pg, the subpaths import and opening fails with missing_driver and the fix", () => {
    const fixtures = new URL("./fixtures/", import.meta.url);
    const out = execFileSync(
      process.execPath,
      [
        "--import",
        fileURLToPath(new URL("hide-drivers.mjs", fixtures)),
        "--import",
        "tsx",
        fileURLToPath(new URL("missing-driver-child.ts", fixtures)),
      ],
      { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } },
    );
    const lines = out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      {
        name: "sqlite",
        error: "LedgerError",
        code: "missing_driver",
        message: expect.stringContaining("npm install better-sqlite3@12"),
      },
      {
        name: "postgres",
        error: "LedgerError",
        code: "missing_driver",
        message: expect.stringContaining("npm install pg@8"),
      },
    ]);
  });
});
