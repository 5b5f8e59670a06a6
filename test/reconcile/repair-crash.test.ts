/**
 * A repair killed in the middle of a sink action: a real child process repairs a file
 * sink from a FileLedger, its rewrite stops (after writing the sink file, or before) and
 * the parent SIGKILLs it there. After a reopen, the audit log shows the interrupted
 * intent, reconcile reports it, the next repair settles it (an outcome saying what it
 * found), and verifyAudit is clean again. Without intent records the killed repair's
 * sink change had no audit record at all.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  type AuditRecord,
  createSealer,
  type Envelope,
  FileLedger,
  reconcile,
  repair,
} from "../../src/index.js";
import { fileSink, type Hold, readRows, writeRows } from "./fixtures/file-sink.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-repair-crash-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const child = fileURLToPath(new URL("./fixtures/repair-crash-child.ts", import.meta.url));
const projectRoot = fileURLToPath(new URL("../..", import.meta.url));

/** A ledger of 5 entries, and a sink file holding them with entry 2 altered. */
async function setUp(
  name: string,
): Promise<{ directory: string; file: string; altered: Envelope }> {
  const directory = join(root, name);
  const file = join(root, `${name}.json`);
  const ledger = await FileLedger.open(directory);
  const seal = createSealer();
  const envelopes = Array.from({ length: 5 }, (_, i) =>
    seal({
      producer: "orders-svc",
      seq: i,
      type: "order.created",
      schema: { name: "order", version: 1 },
      payload: { id: `o-${i}`, total: i * 10 },
    }),
  );
  await ledger.append(envelopes);
  await ledger.close();
  const rows: Record<string, { checksum: string; payload: Envelope["payload"] }> = {};
  for (const e of envelopes) rows[e.key] = { checksum: e.checksum, payload: e.payload };
  const altered = envelopes[2] as Envelope;
  const wrong = createSealer()({
    producer: "orders-svc",
    seq: 2,
    type: "order.created",
    schema: { name: "order", version: 1 },
    payload: { id: "o-2", total: 0 },
  });
  rows[altered.key] = { checksum: wrong.checksum, payload: wrong.payload };
  writeRows(file, rows);
  return { directory, file, altered };
}

/** Runs the child until its rewrite holds, then SIGKILLs it. */
function repairAndKill(directory: string, file: string, hold: Hold): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", child, directory, file, hold], {
      cwd: projectRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let killed = false;
    proc.stdout.setEncoding("utf8");
    proc.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      if (!killed && stdout.includes(`holding ${hold}\n`)) {
        killed = true;
        proc.kill("SIGKILL");
      }
    });
    proc.stderr.on("data", (chunk) => {
      stderr += String(chunk);
    });
    proc.on("exit", (code, signal) => {
      if (killed && signal === "SIGKILL") resolve();
      else reject(new Error(`child exited on its own (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
}

async function auditOf(ledger: FileLedger): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const record of ledger.scanAudit()) out.push(record);
  return out;
}

describe("a repair SIGKILLed during a sink action", () => {
  it("after the sink was written: the intent is interrupted, reported, then settled as completed", async () => {
    const { directory, file, altered } = await setUp("after");
    await repairAndKill(directory, file, "after");
    // The sink change happened...
    expect(readRows(file)[altered.key]?.checksum).toBe(altered.checksum);

    const ledger = await FileLedger.open(directory);
    try {
      // ...and is on the record (before intents, the log was empty here): an intent
      // with no outcome, reported, not damage.
      expect(await auditOf(ledger), "audit records of the killed repair").toHaveLength(1);
      const check = await ledger.verifyAudit();
      expect(check.ok).toBe(true);
      expect(check.interrupted).toHaveLength(1);
      expect(check.interrupted[0]).toMatchObject({
        phase: "intent",
        actor: "nightly-repair",
        action: "rewrite",
        subject: { sink: "file-sink", key: altered.key, position: 3 },
        after: altered.checksum,
      });
      const intent = check.interrupted[0] as AuditRecord;

      const sink = fileSink(file);
      const report = await reconcile({ ledger, sinks: [sink] });
      expect(report.consistent).toBe(true); // the write landed before the kill
      expect(report.sinks[0]?.interrupted).toEqual([
        {
          intent: intent.index,
          time: intent.time,
          actor: "nightly-repair",
          action: "rewrite",
          key: altered.key,
          position: 3,
          before: intent.before,
          after: altered.checksum,
        },
      ]);

      const result = await repair(report, { ledger, sinks: [sink], actor: "alice" });
      expect(result.converged).toBe(true);
      expect(result.actions).toEqual([]);
      expect(result.interrupted).toMatchObject([
        {
          sink: "file-sink",
          intent: intent.index,
          action: "rewrite",
          key: altered.key,
          found: "completed",
          status: "settled",
        },
      ]);
      const records = await auditOf(ledger);
      expect(records).toHaveLength(2);
      expect(records[1]).toMatchObject({
        actor: "alice",
        action: "rewrite",
        phase: "outcome",
        intent: intent.index,
        after: altered.checksum,
        details: { outcome: "interrupted", found: "completed", finding: "matched" },
      });
      expect(result.interrupted[0]?.audit).toBe(records[1]?.index);
      const clean = await ledger.verifyAudit();
      expect(clean).toMatchObject({ ok: true, count: 2, interrupted: [] });
      // And a second repair finds nothing left to settle.
      const again = await repair(await reconcile({ ledger, sinks: [sink] }), {
        ledger,
        sinks: [sink],
      });
      expect(again.interrupted).toEqual([]);
    } finally {
      await ledger.close();
    }
  }, 60_000);

  it("before the sink was written: settled as incomplete, then the same repair rewrites it", async () => {
    const { directory, file, altered } = await setUp("before");
    await repairAndKill(directory, file, "before");
    expect(readRows(file)[altered.key]?.checksum).not.toBe(altered.checksum);

    const ledger = await FileLedger.open(directory);
    try {
      const check = await ledger.verifyAudit();
      expect(check.ok).toBe(true);
      expect(check.interrupted.map((r) => r.action)).toEqual(["rewrite"]);
      const sink = fileSink(file);
      const report = await reconcile({ ledger, sinks: [sink] });
      expect(report.sinks[0]?.interrupted).toHaveLength(1);
      expect(report.sinks[0]?.findings).toMatchObject([
        { kind: "mismatched", key: altered.key, mismatch: "value" },
      ]);
      // A dry run shows the settlement it would make, and appends nothing.
      const plan = await repair(report, { ledger, sinks: [sink], dryRun: true });
      expect(plan.interrupted).toMatchObject([{ found: "incomplete", status: "planned" }]);
      expect(plan.converged).toBe(false);
      expect(await auditOf(ledger)).toHaveLength(1);

      const result = await repair(report, { ledger, sinks: [sink] });
      expect(result.interrupted).toMatchObject([
        { found: "incomplete", finding: "mismatched", status: "settled" },
      ]);
      expect(result.actions).toMatchObject([
        { action: "rewrite", key: altered.key, status: "done" },
      ]);
      expect(result.converged).toBe(true);
      expect(readRows(file)[altered.key]?.checksum).toBe(altered.checksum);
      const records = await auditOf(ledger);
      expect(
        records.map((r) => [r.phase, r.intent, (r.details as { outcome?: string }).outcome]),
      ).toEqual([
        ["intent", undefined, undefined],
        ["outcome", 1, "interrupted"],
        ["intent", undefined, undefined],
        ["outcome", 3, "done"],
      ]);
      expect(await ledger.verifyAudit()).toMatchObject({ ok: true, interrupted: [] });
    } finally {
      await ledger.close();
    }
  }, 60_000);
});
