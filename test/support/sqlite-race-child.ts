/**
 * Child of the SQLite same-keys race (test/ledger/sqlite.test.ts): opens the ledger file
 * (perhaps racing the other children to create and migrate it), appends 30 batches of 5
 * envelopes with keys `k0` … `k149`, the same for every child, and an audit record after
 * each batch. Worker 0 seals the first envelope of every batch with another payload, so
 * that key has two checksums. Prints one JSON line: each batch's outcome (`ok` or
 * `conflict`) and any other error.
 *
 * argv: <path> <worker>
 */
import { createSealer, IdempotencyConflictError } from "../../src/index.js";
import { SqliteLedger } from "../../src/ledger/sqlite/index.js";

const [path, worker] = process.argv.slice(2) as [string, string];
const ledger = await SqliteLedger.open(path, { busyTimeoutMs: 30_000 });
const seal = createSealer();
const outcomes: string[] = [];
const errors: string[] = [];
for (let b = 0; b < 30; b++) {
  const batch = Array.from({ length: 5 }, (_, i) => {
    const n = b * 5 + i;
    return seal({
      producer: "p",
      stream: "s",
      seq: n,
      type: "t",
      schema: { name: "t", version: 1 },
      key: `k${n}`,
      payload: worker === "0" && i === 0 ? { n, variant: "w0" } : { n },
    });
  });
  try {
    await ledger.append(batch);
    outcomes.push("ok");
  } catch (error) {
    if (error instanceof IdempotencyConflictError && error.code === "idempotency_conflict") {
      outcomes.push("conflict");
    } else {
      outcomes.push("error");
      errors.push(String(error));
    }
  }
  try {
    await ledger.appendAudit({ actor: `w${worker}`, action: "note", reason: String(b) });
  } catch (error) {
    errors.push(`audit: ${String(error)}`);
  }
}
console.log(JSON.stringify({ outcomes, errors }));
await ledger.close();
