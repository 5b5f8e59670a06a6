/**
 * Claims, fencing tokens and freezes across real processes sharing one SqliteLedger: a
 * writer paused (SIGSTOP) past its claim while another process takes the key over; a
 * deliverer killed (SIGKILL) while it held a claim; a freeze put by one process reaching
 * a guard in another.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createSealer, guardSink, type Receipt } from "../../src/index.js";
import { SqliteLedger } from "../../src/ledger/sqlite/index.js";

const child = fileURLToPath(new URL("../support/fencing-child.ts", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "sinkproof-fencing-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

interface Running {
  readonly process: ChildProcess;
  /** Resolves with the first stdout line equal to `line` (or parsed, for JSON). */
  line(match: (line: string) => boolean): Promise<string>;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

function start(args: string[]): Running {
  const proc = spawn(process.execPath, ["--import", "tsx", child, ...args], {
    env: { ...process.env, NODE_OPTIONS: "" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: Array<{ match: (line: string) => boolean; resolve: (line: string) => void }> = [];
  let buffer = "";
  let stderr = "";
  proc.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  proc.stdout?.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let at = buffer.indexOf("\n");
    while (at >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
      at = buffer.indexOf("\n");
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    proc.on("exit", (code) => {
      if (code !== 0 && code !== null) console.error(`[fencing child] exit ${code}: ${stderr}`);
      resolve(code);
    });
  });
  return {
    process: proc,
    lines,
    exited,
    line: (match) =>
      new Promise((resolve, reject) => {
        const found = lines.find(match);
        if (found !== undefined) return resolve(found);
        waiters.push({ match, resolve });
        void exited.then((code) => reject(new Error(`child exited (${code}): ${stderr}`)));
      }),
  };
}

async function fixture(keys: number) {
  const dir = mkdtempSync(join(root, `case${n++}-`));
  const ledgerPath = join(dir, "ledger.db");
  const sinkPath = join(dir, "sink.db");
  const sink = new Database(sinkPath);
  sink.exec(
    "CREATE TABLE orders (key TEXT PRIMARY KEY, checksum TEXT NOT NULL, payload TEXT NOT NULL, fencing_token INTEGER NOT NULL, applies INTEGER NOT NULL)",
  );
  sink.close();
  const ledger = await SqliteLedger.open(ledgerPath);
  const seal = createSealer();
  const envelopes = Array.from({ length: keys }, (_, i) =>
    seal({
      producer: "orders-svc",
      seq: i,
      type: "order.created",
      schema: { name: "order", version: 1 },
      key: `order-${i}`,
      payload: { orderId: i },
    }),
  );
  await ledger.append(envelopes);
  return { dir, ledgerPath, sinkPath, ledger, envelopes };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function receiptsOf(ledger: SqliteLedger, key: string): Promise<readonly Receipt[]> {
  return ledger.getReceipts("warehouse", key);
}

describe("fencing tokens across processes", () => {
  it("a writer paused past its claim writes zero times at a fenced sink, its receipt is superseded, and exactly one written receipt remains", async () => {
    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      const { ledgerPath, sinkPath, ledger } = await fixture(1);
      const a = start([ledgerPath, sinkPath, "slow", "order-0"]);
      await a.line((l) => l === '"writing"');
      a.process.kill("SIGSTOP");
      // Past A's 300 ms claim: B takes the key over and writes.
      await sleep(700);
      const b = start([ledgerPath, sinkPath, "fast", "order-0"]);
      const bResult = JSON.parse(await b.line((l) => l.startsWith("{"))) as {
        status: string;
        token: number;
      };
      expect(await b.exited).toBe(0);
      expect(bResult.status).toBe("written");
      writeFileSync(`${sinkPath}.go`, "");
      a.process.kill("SIGCONT");
      const aResult = JSON.parse(await a.line((l) => l.startsWith("{"))) as {
        status: string;
        aborted: boolean;
        token: number;
      };
      expect(await a.exited).toBe(0);
      expect(aResult.status, "A's late write is not counted").toBe("superseded");
      expect(aResult.aborted, "A's signal told it the claim was lost").toBe(true);
      expect(bResult.token).toBeGreaterThan(aResult.token);
      const sink = new Database(sinkPath, { readonly: true });
      const row = sink
        .prepare("SELECT fencing_token, applies FROM orders WHERE key = ?")
        .get("order-0") as { fencing_token: number; applies: number };
      sink.close();
      expect(row).toEqual({ fencing_token: bResult.token, applies: 1 });
      const receipts = await receiptsOf(ledger, "order-0");
      expect(receipts.filter((r) => r.status === "written")).toMatchObject([
        { fencingToken: bResult.token },
      ]);
      expect(receipts.filter((r) => r.status === "superseded")).toMatchObject([
        { fencingToken: aResult.token },
      ]);
      await ledger.close();
    }
    console.log(`[fencing] ${rounds} SIGSTOP rounds: the paused writer applied 0 times in each`);
  });

  it("a claim left by a killed process on this host is taken over at once, without waiting out its TTL", async () => {
    const { ledgerPath, sinkPath, ledger } = await fixture(1);
    const dead = start([ledgerPath, sinkPath, "hang", "order-0"]);
    await dead.line((l) => l === '"writing"');
    dead.process.kill("SIGKILL");
    await dead.exited;
    const waits: unknown[] = [];
    const guard = guardSink({
      name: "warehouse",
      ledger,
      write: () => undefined,
      claimTtlMs: 60_000, // the dead process's claim has about a minute left
    });
    const entry = await ledger.get("order-0");
    const receipt = await guard.deliver(entry?.envelope as never, {
      onWait: (wait) => waits.push(wait),
    });
    expect(receipt.status).toBe("written");
    expect(waits, "no wait for a claim whose holder is gone").toEqual([]);
    await ledger.close();
  });

  it("a freeze put by one process stops another process's guard, and unfreezing lets it write again", async () => {
    const { ledgerPath, sinkPath, ledger } = await fixture(0);
    const streaming = start([ledgerPath, sinkPath, "stream", "s"]);
    await streaming.line((l) => l.startsWith("written"));
    const freeze = await ledger.freezeSink("warehouse", { reason: "drift found", actor: "ops" });
    const firstRefusal = await streaming.line((l) => l.startsWith("frozen"));
    const refusedAt = streaming.lines.indexOf(firstRefusal);
    await streaming.line(
      (l) => l.startsWith("frozen") && streaming.lines.indexOf(l) > refusedAt + 3,
    );
    // Once refused, refused until unfrozen: the freeze is ledger state, not a moment.
    const during = streaming.lines.slice(refusedAt);
    expect(during.every((l) => l.startsWith("frozen"))).toBe(true);
    await ledger.unfreezeSink("warehouse", { reason: "repaired", actor: "ops" });
    const resumed = streaming.lines.length;
    await streaming.line((l) => l.startsWith("written") && streaming.lines.indexOf(l) >= resumed);
    streaming.process.stdin?.end();
    expect(await streaming.exited).toBe(0);
    const audit = [];
    for await (const record of ledger.scanAudit()) audit.push(record.action);
    expect(audit).toEqual(["freeze", "unfreeze"]);
    expect(freeze.audit).toBe(1);
    await ledger.close();
  });
});
