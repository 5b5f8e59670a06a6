import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { FileLedger, verify } from "../../src/index.js";
import { createSeededRandom } from "../../src/testing/index.js";

const root = mkdtempSync(join(tmpdir(), "sinkproof-crash-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const child = fileURLToPath(new URL("./fixtures/crash-child.ts", import.meta.url));
const projectRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Runs the child until `delayMs` after it is ready, then SIGKILLs it; returns the acked keys. */
function runAndKill(
  directory: string,
  firstBatch: number,
  seed: number,
  delayMs: number,
): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ["--import", "tsx", child, directory, String(firstBatch), String(seed)],
      {
        cwd: projectRoot,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const acked = new Map<string, string>();
    let buffer = "";
    let stderr = "";
    let killed = false;
    proc.stdout.setEncoding("utf8");
    proc.stdout.on("data", (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        if (line.startsWith("ready")) {
          setTimeout(() => {
            killed = true;
            proc.kill("SIGKILL");
          }, delayMs);
        } else if (line.startsWith("ack ")) {
          for (const pair of line.split(" ").slice(3)) {
            const [key, checksum] = pair.split("=") as [string, string];
            acked.set(key, checksum);
          }
        }
      }
    });
    proc.stderr.on("data", (chunk) => {
      stderr += String(chunk);
    });
    proc.on("exit", (code, signal) => {
      if (killed && signal === "SIGKILL") resolve(acked);
      else reject(new Error(`child exited on its own (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
}

/** Kills, each one a child process started and killed at a random moment of its appends. */
const KILLS = 30;

describe("FileLedger survives SIGKILL at random moments", () => {
  it("keeps every acknowledged append, intact, and never shows half a batch (30 kills)", async () => {
    const directory = join(root, "crash");
    const random = createSeededRandom(20261126);
    const acknowledged = new Map<string, string>();
    let truncations = 0;
    for (let run = 0; run < KILLS; run++) {
      const delay = 5 + Math.floor(random() * 120);
      const acked = await runAndKill(directory, run * 100_000, 1 + run, delay);
      for (const [key, checksum] of acked) acknowledged.set(key, checksum);

      const ledger = await FileLedger.open(directory, { segmentBytes: 64 * 1024 });
      try {
        if (ledger.recovery.truncated !== undefined) truncations++;
        // Every acknowledged append is there, intact.
        for (const [key, checksum] of acked) {
          const entry = await ledger.get(key);
          expect(entry?.envelope.checksum, key).toBe(checksum);
        }
        // Everything there is intact, gap-free, and whole batches only.
        const batches = new Map<string, { count: number; seen: number }>();
        let expected = 1;
        for await (const entry of ledger.scan()) {
          expect(entry.position).toBe(expected++);
          expect(verify(entry.envelope).ok).toBe(true);
          const match = /^b(\d+)-(\d+)of(\d+)$/.exec(entry.envelope.key) as RegExpExecArray;
          const batch = batches.get(match[1] as string) ?? { count: Number(match[3]), seen: 0 };
          batch.seen++;
          batches.set(match[1] as string, batch);
        }
        for (const [batch, { count, seen }] of batches) {
          // A batch was sent as two appends (one envelope split off) when it had 3 or more.
          const whole = seen === count || (count > 2 && (seen === 1 || seen === count - 1));
          expect(whole, `batch ${batch}: ${seen} of ${count}`).toBe(true);
        }
        for (const [key, checksum] of acknowledged) {
          expect((await ledger.get(key as string))?.envelope.checksum).toBe(checksum);
        }
      } finally {
        await ledger.close();
      }
    }
    expect(acknowledged.size).toBeGreaterThan(KILLS);
    console.log(
      `[crash test] ${KILLS} kills, ${acknowledged.size} acknowledged envelopes, ${truncations} torn tails cut off`,
    );
  }, 300_000);
});
