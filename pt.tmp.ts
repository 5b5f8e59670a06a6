import { makeIdempotent, IdempotencyConfig } from "@aws-lambda-powertools/idempotency";
import { CachePersistenceLayer } from "@aws-lambda-powertools/idempotency/cache";
import { MemoryLedger, createSealer, guardSink } from "./src/index.ts";
import { orderPayload } from "./bench/payloads.ts";
const store = new Map<string, unknown>();
const client = {
  async get(name: string) { return (store.get(name) as string) ?? null; },
  async set(name: string, value: unknown, options?: { NX?: boolean }) { if (options?.NX && store.has(name)) return null; store.set(name, value); return "OK"; },
  async del(keys: string[]) { let n = 0; for (const k of keys) if (store.delete(k)) n++; return n; },
};
const persistenceStore = new CachePersistenceLayer({ client });
const sinkRows = new Map<string, unknown>();
const raw = async (e: { key: string; payload: unknown }) => { sinkRows.set(e.key, e.payload); return { ok: true }; };
const config = new IdempotencyConfig({ eventKeyJmesPath: "key" });
config.registerLambdaContext({ getRemainingTimeInMillis: () => 60_000 } as never);
const idem = makeIdempotent(raw, { persistenceStore, config });
const seal = createSealer();
const N = 20000;
const envs = Array.from({ length: N }, (_, i) => seal({ producer: "p", stream: "s", seq: i, type: "t", schema: { name: "t", version: 1 }, payload: orderPayload(i) }));
const ledger = new MemoryLedger();
await ledger.append(envs);
const guard = guardSink({ name: "w", ledger, write: (e) => { sinkRows.set(e.key, e.payload); } });
async function time(name: string, f: (i: number) => Promise<unknown>) {
  const t = performance.now(); for (let i = 0; i < N; i++) await f(i); const us = (performance.now() - t) * 1000 / N;
  console.log(name.padEnd(30), us.toFixed(2), "µs");
}
await time("raw write", (i) => raw(envs[i]!));
await time("powertools new", (i) => idem({ key: envs[i]!.key, payload: envs[i]!.payload }));
await time("powertools dup", (i) => idem({ key: envs[i]!.key, payload: envs[i]!.payload }));
await time("guard new", (i) => guard.deliver(envs[i]!));
await time("guard dup", (i) => guard.deliver(envs[i]!));
