import { existsSync } from "node:fs";
import { createSealer, FileLedger } from "./src/index.ts";
import { orderPayload } from "./bench/payloads.ts";
const dir = "/tmp/sinkproof-1m";
if (!existsSync(dir)) {
  const seal = createSealer();
  let seq = 0;
  const l = await FileLedger.open(dir);
  for (let b = 0; b < 1000; b++) await l.append(Array.from({ length: 1000 }, () => seal({ producer: "orders-svc", stream: "orders", seq: seq++, type: "order.created", schema: { name: "order", version: 1 }, payload: orderPayload(seq) })));
  await l.close();
}
const t = performance.now();
const l = await FileLedger.open(dir);
console.log("reopen ms", (performance.now() - t).toFixed(0), l.recovery);
await l.close();
