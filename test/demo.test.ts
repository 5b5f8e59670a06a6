import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

/** `npm run demo`, with 1,000 events instead of 10,000, against the built package. */
describe("the demo", () => {
  it("publishes through faulty sinks, finds every fault, repairs, and ends consistent", () => {
    const out = mkdtempSync(join(tmpdir(), "sinkproof-demo-test-"));
    try {
      const run = spawnSync(
        process.execPath,
        ["--import", "tsx", "examples/demo.ts", "--events", "1000", "--out", out],
        {
          cwd: root,
          encoding: "utf8",
          env: { ...process.env, NODE_OPTIONS: "" },
          timeout: 120_000,
        },
      );
      expect(run.stderr).toBe("");
      expect(run.status, run.stdout).toBe(0);
      const stdout = run.stdout;
      expect(stdout).toMatch(/ledger: {2}\S+sinkproof-demo-\S+ledger/);
      expect(stdout).toContain("published 1000 events");
      // Every fault shows up in the first reconciliation...
      const first = stdout.slice(
        stdout.indexOf("reconciliation ("),
        stdout.indexOf("repair round 1"),
      );
      const row = (sink: string) => {
        const line = first.split("\n").find((l) => l.startsWith(`${sink} `)) ?? "";
        const [, basis, matched, late, lost, mismatched, duplicate, unexpected] = line
          .trim()
          .split(/\s+/);
        return {
          basis,
          matched: Number(matched),
          late: Number(late),
          lost: Number(lost),
          mismatched: Number(mismatched),
          duplicate: Number(duplicate),
          unexpected: Number(unexpected),
        };
      };
      expect(row("files").basis).toBe("observed");
      expect(row("files").lost, "lines deleted by hand").toBeGreaterThan(0);
      expect(row("files").mismatched, "payloads edited by hand").toBeGreaterThan(0);
      expect(row("search").mismatched).toBeGreaterThan(0);
      expect(row("kv").basis).toBe("digest");
      expect(row("kv").lost).toBeGreaterThan(0);
      expect(stdout).toContain("search: guard frozen");
      // ...and the final state is consistent, audited, reported.
      const after = stdout.slice(stdout.indexOf("after repair:"));
      expect(after.match(/ consistent\s*$/gm)).toHaveLength(3);
      expect(stdout).toMatch(/audit log: \d+ records, hash chain intact/);
      expect(stdout).toContain("every sink is consistent with the ledger");
      const md = readFileSync(join(out, "report.md"), "utf8");
      const html = readFileSync(join(out, "report.html"), "utf8");
      expect(md).toContain("files");
      expect(html.startsWith("<!doctype html>")).toBe(true);
      expect(html).not.toMatch(/https?:\/\/|<script|<link/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
