/**
 * Child process of test/delivery/fencing-multiprocess.test.ts: one deliverer over a shared
 * SqliteLedger, writing to an SQLite table that keeps the highest fencing token applied
 * per key (the recipe of docs/sinks.md).
 *
 * argv: <ledger path> <sink path> <mode> <key>
 * - `slow`: delivers <key> with a 300 ms claim; the writer prints `writing` and waits for
 *   the file `<sink path>.go` before writing (the parent pauses this process meanwhile),
 *   then waits for its signal to abort (at most 2 s) and writes anyway, as a writer that
 *   ignores the signal would. Prints `{ status, aborted, token }`.
 * - `fast`: delivers <key> at once and prints `{ status, token }`.
 * - `hang`: delivers <key> with a 60 s claim; the writer prints `writing` and never ends.
 * - `stream`: delivers a new key every 10 ms (freezeCheckMs 100) until the parent closes
 *   stdin, printing `written <n>` or `frozen <n>` per delivery.
 */
import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { createSealer, DeliveryError, guardSink, type SinkWriter } from "../../src/index.js";
import { SqliteLedger } from "../../src/ledger/sqlite/index.js";

const [ledgerPath, sinkPath, mode, key] = process.argv.slice(2) as [string, string, string, string];
const ledger = await SqliteLedger.open(ledgerPath, { busyTimeoutMs: 30_000 });
const db = new Database(sinkPath);
db.pragma("busy_timeout = 30000");
// The fenced upsert: a write whose token is not above the stored one changes nothing.
const upsert = db.prepare(
  `INSERT INTO orders (key, checksum, payload, fencing_token, applies) VALUES (?, ?, ?, ?, 1)
   ON CONFLICT (key) DO UPDATE SET checksum = excluded.checksum, payload = excluded.payload,
     fencing_token = excluded.fencing_token, applies = orders.applies + 1
   WHERE orders.fencing_token < excluded.fencing_token`,
);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);

let aborted = false;
const fenced: SinkWriter = (envelope, ctx) => {
  upsert.run(envelope.key, envelope.checksum, JSON.stringify(envelope.payload), ctx.fencingToken);
};
const slow: SinkWriter = async (envelope, ctx) => {
  say("writing");
  while (!existsSync(`${sinkPath}.go`)) await sleep(5);
  for (let i = 0; i < 400 && !ctx.signal.aborted; i++) await sleep(5);
  aborted = ctx.signal.aborted;
  return fenced(envelope, ctx);
};
const hang: SinkWriter = async () => {
  say("writing");
  await new Promise(() => undefined);
};

const guard = guardSink({
  name: "warehouse",
  ledger,
  write: mode === "slow" ? slow : mode === "hang" ? hang : fenced,
  claimTtlMs: mode === "slow" ? 300 : 60_000,
  freezeCheckMs: 100,
  retry: { attempts: 1 },
});

if (mode === "stream") {
  const seal = createSealer();
  let open = true;
  process.stdin.on("end", () => {
    open = false;
  });
  process.stdin.resume();
  for (let n = 0; open; n++) {
    const [envelope] = (
      await ledger.append([
        seal({
          producer: "stream",
          seq: n,
          type: "t",
          schema: { name: "t", version: 1 },
          key: `${key}-${n}`,
          payload: { n },
        }),
      ])
    ).results.map((r) => r.entry.envelope);
    try {
      await guard.deliver(envelope as never);
      process.stdout.write(`written ${n}\n`);
    } catch (error) {
      if (error instanceof DeliveryError && error.code === "sink_frozen")
        process.stdout.write(`frozen ${n}\n`);
      else throw error;
    }
    await sleep(10);
  }
} else {
  const entry = await ledger.get(key);
  if (entry === undefined) throw new Error(`no entry ${key}`);
  const receipt = await guard.deliver(entry.envelope);
  say({ status: receipt.status, aborted, token: receipt.fencingToken ?? null });
}
await ledger.close();
db.close();
