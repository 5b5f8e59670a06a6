/**
 * A producer and two sinks: a file-backed sink (one JSON file per key) and an in-memory
 * search index. Publish, survive a flaky sink, drain after a crash, read the metrics.
 *
 * Run: npx tsx examples/pipeline.ts  (after `npm run build`; it imports the package)
 */
import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  checksum,
  createMemoryMetrics,
  createPipeline,
  createProducer,
  FileLedger,
  guardSink,
  type SinkWriter,
} from "sinkproof";
import { z } from "zod";

const root = mkdtempSync(join(tmpdir(), "sinkproof-pipeline-"));
const order = { schema: { name: "order", version: 1 }, stream: "orders" } as const;
const orderSchema = z.object({ orderId: z.string(), total: z.number().positive() });

/** File sink: one JSON file per key, replaced atomically, so a second write of a key is harmless. */
function fileSink(directory: string): SinkWriter {
  mkdirSync(directory, { recursive: true });
  return (envelope) => {
    const file = join(directory, `${encodeURIComponent(envelope.key)}.json`);
    const temp = `${file}.tmp`;
    writeFileSync(temp, JSON.stringify({ checksum: envelope.checksum, payload: envelope.payload }));
    renameSync(temp, file);
    return { offset: file };
  };
}

/** In-memory search index, down for its first two calls. */
const index = new Map<string, unknown>();
let indexCalls = 0;
const indexSink: SinkWriter = (envelope) => {
  indexCalls++;
  if (indexCalls <= 2) throw new Error("index warming up");
  index.set(envelope.key, envelope.payload);
};

async function openPipeline() {
  const ledger = await FileLedger.open(join(root, "ledger"));
  const metrics = createMemoryMetrics();
  const pipeline = createPipeline({
    producer: createProducer({
      id: "orders-svc",
      ledger,
      validate: { "order.created": orderSchema },
      metrics,
    }),
    sinks: [
      guardSink({ name: "files", ledger, write: fileSink(join(root, "files")), metrics }),
      guardSink({
        name: "search",
        ledger,
        write: indexSink,
        metrics,
        retry: { attempts: 5, baseDelayMs: 5 },
      }),
    ],
  });
  return { ledger, metrics, pipeline };
}

try {
  // 1. Publish: durable in the ledger first, then delivered to both sinks independently.
  let { ledger, metrics, pipeline } = await openPipeline();
  const first = await pipeline.publish("order.created", { orderId: "o-1", total: 42.5 }, order);
  console.log("published", first.envelope.key, {
    files: first.sinks.files?.ok ? first.sinks.files.receipt.status : "error",
    search: first.sinks.search?.ok
      ? `${first.sinks.search.receipt.status} after ${first.sinks.search.receipt.attempt} attempts`
      : "error",
  });

  // 2. A bad payload never reaches the ledger.
  await pipeline
    .publish("order.created", { orderId: "o-2", total: -1 }, order)
    .catch((error: { code: string; issues: unknown }) => {
      console.log("refused at emit:", error.code, error.issues);
    });

  // 3. Crash between emit and delivery: emit three orders, "die" before delivering them.
  const producer = createProducer({ id: "orders-svc", ledger });
  for (const id of ["o-3", "o-4", "o-5"])
    await producer.emit("order.created", { orderId: id, total: 10 }, order);
  await ledger.close();

  // 4. Restart and drain: everything past each sink's watermark without a final receipt.
  const reopened = await openPipeline();
  ledger = reopened.ledger;
  metrics = reopened.metrics;
  pipeline = reopened.pipeline;
  const drained = await pipeline.drain();
  console.log("drained", drained);
  assert.equal(drained.files?.watermark, 4);
  assert.equal(drained.search?.watermark, 4);

  // 5. What the sinks hold is what was emitted: recompute each file's checksum.
  for (const name of readdirSync(join(root, "files"))) {
    const { checksum: stored, payload } = JSON.parse(
      readFileSync(join(root, "files", name), "utf8"),
    );
    assert.equal(checksum(payload), stored);
  }
  assert.equal(index.size, 4);
  console.log("files:", readdirSync(join(root, "files")).length, "index:", index.size);
  console.log("metrics after the restart:", metrics.snapshot().counters);
  await ledger.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
