/**
 * The `sinkproof` command, run as a child process (the package's bin, built in dist/)
 * against a FileLedger and the JSONL sink, and against the real PostgreSQL server with
 * the PostgreSQL table sink: exit codes for cron and CI (0 consistent, 1 findings, 2
 * usage or config error, 3 runtime error), reports on stdout or in --out, repair dry and
 * for real, audit verify, ledger stats / get / tail, monitor until SIGTERM, --help for
 * every command, and config mistakes named.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSealer, FileLedger, guardSink } from "../../src/index.js";
import { jsonlSink } from "../../src/sinks/jsonl/index.js";
import { freshDatabase, postgresSkipped, postgresUrl } from "../support/postgres.js";

const root = resolve(import.meta.dirname, "../..");
const bin = join(root, "dist/cli/bin.js");
const dist = (path: string) => pathToFileURL(join(root, "dist", path)).href;
const dir = mkdtempSync(join(tmpdir(), "sinkproof-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = join(dir, "sinkproof.config.mjs");
const ledgerDir = join(dir, "ledger");
const archive = join(dir, "archive.jsonl");

function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const seal = createSealer();
const keys: string[] = [];

beforeAll(async () => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm run build first`);
  writeFileSync(
    config,
    `import { defineConfig, FileLedger, guardSink } from ${JSON.stringify(dist("index.js"))};
import { jsonlSink } from ${JSON.stringify(dist("sinks/jsonl/index.js"))};
export default defineConfig({
  ledger: () => FileLedger.open(${JSON.stringify(ledgerDir)}),
  sinks: async (ledger) => {
    const sink = await jsonlSink({ name: "archive", path: ${JSON.stringify(archive)}, lagToleranceMs: 0 });
    return [{ ...sink, guard: guardSink({ name: sink.name, ledger, write: sink.write }) }];
  },
});
`,
  );
  const ledger = await FileLedger.open(ledgerDir);
  const sink = await jsonlSink({ name: "archive", path: archive });
  const guard = guardSink({ name: "archive", ledger, write: sink.write });
  for (let i = 0; i < 5; i++) {
    const e = seal({
      producer: "orders",
      seq: i,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: { total: i },
    });
    keys.push(e.key);
    await ledger.append([e]);
    await guard.deliver(e);
  }
  await sink.close();
  await ledger.close();
});

describe("sinkproof (the command)", () => {
  it("reconcile: exit 0 when consistent, 1 with findings; json on stdout; --out", () => {
    const ok = cli("reconcile");
    expect(ok.stderr).not.toContain("Error");
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("consistent");
    // A row deleted from the file by hand.
    const lines = readFileSync(archive, "utf8").trim().split("\n");
    writeFileSync(archive, `${lines.slice(1).join("\n")}\n`);
    const bad = cli("reconcile", "--format", "json");
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.report.sinks[0].counts["missing-lost"]).toBe(1);
    const out = join(dir, "report.html");
    expect(cli("reconcile", "--format", "html", "--out", out).code).toBe(1);
    expect(readFileSync(out, "utf8")).toContain("<!doctype html>");
  });

  it("repair: --dry-run plans, --yes needs --actor and --reason, then converges", () => {
    const before = readFileSync(archive, "utf8");
    const dry = cli("repair", "--dry-run");
    expect(dry.code, dry.stderr).toBe(1);
    expect(readFileSync(archive, "utf8")).toBe(before);
    const refused = cli("repair", "--yes");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--actor");
    const done = cli("repair", "--yes", "--actor", "ci", "--reason", "a row deleted by hand");
    expect(done.code, done.stderr).toBe(0);
    expect(cli("reconcile").code).toBe(0);
  });

  it("audit verify, ledger stats, get and tail", () => {
    const audit = cli("audit", "verify");
    expect(audit.code, audit.stderr).toBe(0);
    expect(JSON.parse(audit.stdout).ok).toBe(true);
    const stats = cli("ledger", "stats");
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({
      head: 5,
      sinks: { archive: { watermark: 5 } },
    });
    const got = cli("ledger", "get", keys[2] as string);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout).position).toBe(3);
    expect(cli("ledger", "get", "no-such-key").code).toBe(1);
    const tail = cli("ledger", "tail", "--n", "2");
    expect(
      tail.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).position),
    ).toEqual([4, 5]);
  });

  it("usage and config mistakes exit 2 and say what is wrong; a runtime failure exits 3", () => {
    const missing = cli("reconcile", "--config", "nope.mjs");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("nope.mjs");
    const shape = join(dir, "shape.mjs");
    writeFileSync(shape, "export default { ledger: 5, sinks: [] };\n");
    expect(cli("reconcile", "--config", shape).stderr).toContain("default.ledger");
    writeFileSync(shape, "export default { ledger: () => null, sinks: [], extra: 1 };\n");
    expect(cli("reconcile", "--config", shape).stderr).toContain("default.extra");
    expect(cli("reconcile", "--formt", "json").code).toBe(2);
    expect(cli("reconcile", "--format", "xml").code).toBe(2);
    expect(cli("reconcile", "--sink", "nope").stderr).toContain("no such sink");
    expect(cli("frobnicate").code).toBe(2);
    expect(cli("ledger", "tail", "--n", "0").code).toBe(2);
    const stray = cli("repair", "--yes", "--actor", "a", "--reason", "r", "archive");
    expect(stray.code, "a sink named as an argument, not --sink").toBe(2);
    expect(stray.stderr).toContain("--sink NAME");
    expect(cli("constructor").code).toBe(2);
    expect(cli("main").code).toBe(2);
    const empty = join(dir, "empty.mjs");
    writeFileSync(
      empty,
      `import { FileLedger } from ${JSON.stringify(dist("index.js"))};
export default { ledger: () => FileLedger.open(${JSON.stringify(join(dir, "empty-ledger"))}), sinks: [] };
`,
    );
    const none = cli("reconcile", "--config", empty);
    expect(none.code, "a config with no sinks is not a green run").toBe(2);
    expect(none.stderr).toContain("empty");
    const failing = join(dir, "failing.mjs");
    writeFileSync(
      failing,
      `import { LedgerError } from ${JSON.stringify(dist("index.js"))};
export default { ledger: async () => { throw new LedgerError("unavailable", "the database is down"); }, sinks: [] };
`,
    );
    const down = cli("reconcile", "--config", failing);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain("unavailable: the database is down");
  });

  it("--help for the command and every subcommand", () => {
    expect(cli("--help").stdout).toContain("exit codes");
    for (const command of ["reconcile", "repair", "audit", "ledger", "monitor"]) {
      const help = cli(command, "--help");
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain(`usage: sinkproof ${command}`);
    }
  });

  it("monitor runs passes until SIGTERM, then exits 0", async () => {
    const child = spawn(process.execPath, [bin, "monitor", "--every-ms", "50"], { cwd: dir });
    let stderr = "";
    const passes = new Promise<void>((resolvePasses) => {
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        if ((stderr.match(/"pass"/g) ?? []).length >= 2) resolvePasses();
      });
    });
    await passes;
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('"consistent":true');
  });

  it.skipIf(postgresUrl === undefined)(
    `reconcile against the PostgreSQL table sink${postgresSkipped === undefined ? "" : ` (skipped: ${postgresSkipped})`}`,
    async () => {
      const url = await freshDatabase("cli");
      const pgConfig = join(dir, "pg.config.mjs");
      const pgLedger = join(dir, "pg-ledger");
      writeFileSync(
        pgConfig,
        `import pg from ${JSON.stringify(pathToFileURL(join(root, "node_modules/pg/lib/index.js")).href)};
import { defineConfig, FileLedger, guardSink } from ${JSON.stringify(dist("index.js"))};
import { postgresTableSink } from ${JSON.stringify(dist("sinks/postgres/index.js"))};
const pool = new pg.Pool({ connectionString: ${JSON.stringify(url)} });
export default defineConfig({
  ledger: () => FileLedger.open(${JSON.stringify(pgLedger)}),
  sinks: async (ledger) => {
    const sink = postgresTableSink({ name: "orders", pool, table: "orders_sink", lagToleranceMs: 0 });
    await sink.migrate();
    const close = async () => pool.end();
    return [{ ...sink, close, guard: guardSink({ name: sink.name, ledger, write: sink.write }) }];
  },
});
`,
      );
      const ledger = await FileLedger.open(pgLedger);
      await ledger.append([
        seal({ producer: "pg", seq: 0, type: "t", schema: { name: "t", version: 1 }, payload: {} }),
      ]);
      await ledger.close();
      const missing = cli("reconcile", "--config", pgConfig, "--format", "json");
      expect(missing.code, missing.stderr).toBe(1);
      expect(JSON.parse(missing.stdout).report.sinks[0].counts["missing-lost"]).toBe(1);
      const fixed = cli(
        "repair",
        "--config",
        pgConfig,
        "--yes",
        "--actor",
        "ci",
        "--reason",
        "replay",
      );
      expect(fixed.code, fixed.stderr).toBe(0);
      expect(cli("reconcile", "--config", pgConfig).code).toBe(0);
    },
  );
});
