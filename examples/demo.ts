/**
 * The sinkproof demo: one producer, three faulty sinks, and the proof that every sink ends
 * up holding exactly what was emitted.
 *
 * 1. A FileLedger in a temporary directory (its path is printed).
 * 2. A producer publishes order events through a pipeline to three sinks, each with
 *    seeded faults:
 *    - `files`:  the ready-made JSONL sink (`sinkproof/sinks/jsonl`), whose file a cleanup
 *                script and a person then edit by hand (lines deleted, payloads altered);
 *    - `search`: an in-memory search index that corrupts a few payloads;
 *    - `kv`:     a key-value store that silently drops ~1% of writes and is offline for
 *                a window of writes, then comes back (read back in digest mode).
 * 3. Reconcile: a summary table per sink. The freeze policy freezes the search index (it
 *    holds altered payloads).
 * 4. Repair: replay, rewrite, remove; every action audited in the ledger. The sinks are
 *    still flaky, so repair runs in rounds until it converges (at most 3).
 * 5. Reconcile again: every sink consistent; report.md and report.html written.
 *
 * Exits 0 only if the final state is consistent.
 *
 * Run: npm run demo            (10,000 events)
 *      npx tsx examples/demo.ts --events 1000 --out ./reports   (after `npm run build`)
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  createPipeline,
  createProducer,
  FileLedger,
  guardSink,
  type ReconcileProgress,
  type ReconcileReport,
  type ReconcileSink,
  type RepairResult,
  reconcile,
  renderReport,
  repair,
} from "sinkproof";
import { type JsonlSink, jsonlSink } from "sinkproof/sinks/jsonl";
import { createMemorySink, createSeededRandom } from "sinkproof/testing";

const { values } = parseArgs({
  options: { events: { type: "string", default: "10000" }, out: { type: "string" } },
});
const EVENTS = Number(values.events);
if (!Number.isSafeInteger(EVENTS) || EVENTS < 100)
  throw new Error("--events must be an integer ≥ 100");
const root = mkdtempSync(join(tmpdir(), "sinkproof-demo-"));
const out = resolve(values.out ?? root);
mkdirSync(out, { recursive: true });
const tty = process.stdout.isTTY === true;
const LAG_MS = 250;

function progress(text: string, done = false): void {
  if (tty) process.stdout.write(`\r${text}${done ? "\n" : ""}`);
  else if (done) console.log(text);
}

function table(report: ReconcileReport): string {
  const head = [
    "sink",
    "basis",
    "matched",
    "late",
    "lost",
    "mismatched",
    "duplicate",
    "unexpected",
    "contradicted",
    "verdict",
  ];
  const rows = report.sinks.map((s) => [
    s.name,
    s.basis,
    String(s.counts.matched),
    String(s.counts["missing-late"]),
    String(s.counts["missing-lost"]),
    String(s.counts.mismatched),
    String(s.counts.duplicate),
    String(s.counts.unexpected),
    String(s.contradicted),
    s.consistent ? "consistent" : s.error ? `unreadable: ${s.error.code}` : "NOT consistent",
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] as string).length)),
  );
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (i < 2 || i === 9 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ");
  return [fmt(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(fmt)].join("\n");
}

const ledger = await FileLedger.open(join(root, "ledger"));
console.log(`sinkproof demo: ${EVENTS.toLocaleString("en")} order events, 3 faulty sinks`);
console.log(`ledger:  ${join(root, "ledger")}`);

// --- The sinks -------------------------------------------------------------------------
const retry = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 };
const filesPath = join(root, "orders.jsonl");
let files: JsonlSink = await jsonlSink({ name: "files", path: filesPath, lagToleranceMs: LAG_MS });
// Writes go to the sink open now (it is reopened after the hand edits below).
const filesGuard = guardSink({
  name: "files",
  ledger,
  write: (envelope, ctx) => files.write(envelope, ctx),
  retry,
});
const search = createMemorySink({
  name: "search",
  ledger,
  observe: "payload",
  faults: { seed: 7, corrupt: 0.002 },
  guardOptions: { retry },
});
// Offline for a window of write calls in the middle of the run (retries included).
const offlineFrom = Math.floor(EVENTS * 0.4);
const kv = createMemorySink({
  name: "kv",
  ledger,
  digest: true,
  faults: {
    seed: 3,
    drop: 0.01,
    offline: { from: offlineFrom, to: offlineFrom + Math.floor(EVENTS * 0.03) },
  },
  guardOptions: { retry },
});

// --- Publish -----------------------------------------------------------------------------
const producer = createProducer({ id: "orders-svc", ledger });
const pipeline = createPipeline({
  producer,
  sinks: [filesGuard, search.guard, kv.guard].filter((g) => g !== undefined),
});
const started = performance.now();
let published = 0;
let failedDeliveries = 0;
const IN_FLIGHT = 100;
for (let first = 0; first < EVENTS; first += IN_FLIGHT) {
  const batch = [];
  for (let i = first; i < Math.min(EVENTS, first + IN_FLIGHT); i++) {
    const payload = {
      orderId: `o-${String(i).padStart(6, "0")}`,
      customer: `c-${i % 997}`,
      items: [{ sku: `sku-${i % 50}`, qty: (i % 4) + 1, unitPrice: 5 + (i % 20) }],
      total: ((i % 4) + 1) * (5 + (i % 20)),
      currency: "EUR",
    };
    batch.push(
      pipeline.publish("order.created", payload, {
        schema: { name: "order", version: 1 },
        stream: "orders",
      }),
    );
  }
  for (const result of await Promise.all(batch)) {
    published++;
    for (const outcome of Object.values(result.sinks))
      if (!outcome.ok || outcome.receipt.status === "failed") failedDeliveries++;
  }
  progress(`publishing ${published}/${EVENTS}`, published === EVENTS);
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `published ${published} events in ${seconds.toFixed(1)} s; ${failedDeliveries} deliveries failed (kv offline for a while)`,
);
await new Promise((r) => setTimeout(r, LAG_MS + 50)); // let the lag tolerance pass: what is missing now is lost

// --- Hands on the JSONL file: a cleanup script deletes 0.5% of its lines, and someone
// edits three payloads in place (their stored checksums left as they were).
await files.close();
const random = createSeededRandom(11);
let altered = 0;
const lines: string[] = [];
for (const line of readFileSync(filesPath, "utf8").split("\n")) {
  if (line.length === 0 || random() < 0.005) continue;
  if (altered < 3 && random() < 0.01) {
    lines.push(line.replace(/"qty":(\d+)/, (_, qty: string) => `"qty":${Number(qty) + 10}`));
    altered++;
  } else lines.push(line);
}
writeFileSync(filesPath, lines.map((line) => `${line}\n`).join(""));
files = await jsonlSink({ name: "files", path: filesPath, lagToleranceMs: LAG_MS });
const sinks: ReconcileSink[] = [
  { ...files, guard: filesGuard },
  { ...search, lagToleranceMs: LAG_MS },
  { ...kv, lagToleranceMs: LAG_MS },
];

// --- Reconcile ---------------------------------------------------------------------------
const onProgress = (p: ReconcileProgress) =>
  progress(
    `reconciling: ${p.phase === "compare" ? "ledger scan" : `${p.phase} ${p.sink}`} ${p.done}${p.total === undefined ? "" : `/${p.total}`}      `,
  );
const before = await reconcile({ ledger, sinks, onProgress, freezeOn: { mismatched: 0 } });
progress("", true);
console.log(
  `\nreconciliation (${before.range.entries} entries, ${before.durationMs.toFixed(0)} ms):\n${table(before)}`,
);
for (const s of before.sinks)
  if (s.frozen !== undefined) console.log(`${s.name}: guard frozen (${s.frozen})`);
for (const s of before.sinks) {
  const f = s.findings.find((x) => x.kind === "mismatched" && x.paths !== undefined);
  if (f !== undefined) console.log(`${s.name}: e.g. ${f.key} differs at ${f.paths?.join(", ")}`);
}

// --- Repair, in rounds: the sinks are still flaky ---------------------------------------
let report = before;
const repairs: RepairResult[] = [];
for (let round = 1; round <= 3 && !report.consistent; round++) {
  const result = await repair(report, {
    ledger,
    sinks,
    actor: "demo",
    reason: `demo round ${round}`,
  });
  repairs.push(result);
  const byAction = new Map<string, number>();
  for (const a of result.actions)
    byAction.set(`${a.action} ${a.status}`, (byAction.get(`${a.action} ${a.status}`) ?? 0) + 1);
  console.log(
    `\nrepair round ${round}: ${result.actions.length} actions (${[...byAction].map(([k, n]) => `${n} ${k}`).join(", ")}); ` +
      (result.converged
        ? "converged"
        : `${result.unresolved.length} keys did not converge, e.g. ${result.unresolved[0]?.key}: ${result.unresolved[0]?.reason}`),
  );
  for (const s of result.sinks) if (s.unfrozen) console.log(`${s.name}: guard unfrozen`);
  report = await reconcile({ ledger, sinks });
}

// --- Final state -------------------------------------------------------------------------
console.log(`\nafter repair:\n${table(report)}`);
const audit = await ledger.verifyAudit();
console.log(`audit log: ${audit.count} records, hash chain ${audit.ok ? "intact" : "BROKEN"}`);
const firstRepair = repairs[0];
writeFileSync(
  join(out, "report.md"),
  renderReport(before, { format: "markdown", repair: firstRepair }),
);
writeFileSync(
  join(out, "report.html"),
  renderReport(before, { format: "html", repair: firstRepair }),
);
writeFileSync(join(out, "report-after.md"), renderReport(report, { format: "markdown" }));
console.log(
  `reports: ${join(out, "report.md")}, ${join(out, "report.html")}, ${join(out, "report-after.md")}`,
);
await files.close();
await ledger.close();
const ok = report.consistent && audit.ok && existsSync(join(out, "report.html"));
console.log(
  ok ? "\nevery sink is consistent with the ledger" : "\nNOT consistent: see the reports",
);
process.exitCode = ok ? 0 : 1;
