/**
 * `npm run bench`: the per-event path measured against the floor (JSON.stringify of the
 * same payload) and against peers, in one process. Prints a table and writes
 * bench/results.json. Numbers in README and docs come from here.
 *
 * Method: tinybench runs each task for a fixed time; one sample is a batch of calls (so
 * the timer's own cost is negligible), and the figure is the median sample divided by the
 * batch size. Ratios compare medians measured in the same run.
 *
 * Order matters in one process, because the JIT specializes on the shapes it has seen:
 * the 400-byte order groups run first, as in a producer that emits order events; the
 * 10 KB and 1 MiB groups run after them, on a JIT that has seen every payload here.
 */
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import * as canonicalizeModule from "canonicalize";
import { CloudEvent } from "cloudevents";
import stableStringify from "fast-json-stable-stringify";
import { Bench } from "tinybench";
import { z } from "zod";
import {
  canonicalize,
  checksum,
  checksumOf,
  createSchemaRegistry,
  createSealer,
  fromCloudEvent,
  parseEnvelope,
  toCloudEvent,
  verify,
} from "../src/index.js";
import { runDeliveryBench } from "./delivery.js";
import { runLedgerBench } from "./ledger.js";
import { bulkOrderPayload, mebibytePayload, orderPayload } from "./payloads.js";
import { runReconcileBench } from "./reconcile.js";
import { runSimulateBench } from "./simulate.js";
import { runSqlLedgerBench } from "./sql-ledgers.js";
import { runThroughputBench } from "./throughput.js";

interface Row {
  group: string;
  name: string;
  /** Median time of one call, in nanoseconds. */
  medianNs: number;
  /** Calls per second at the median. */
  opsPerSec: number;
  /** medianNs divided by the group's floor's medianNs. */
  ratioToFloor: number;
  /** For throughput groups: MiB of input per second at the median. */
  mibPerSec?: number;
  floor: boolean;
}

interface TaskSpec {
  name: string;
  fn: () => unknown;
  batch: number;
  floor?: boolean;
}

interface Group {
  name: string;
  /** Input size in bytes (JSON text), for throughput. */
  bytes: number;
  tasks: TaskSpec[];
}

let blackhole = 0;
const keep = (value: unknown) => {
  blackhole += typeof value === "string" ? value.length : value === undefined ? 0 : 1;
};

// canonicalize 2.x ships ESM whose typings TypeScript reads as a namespace.
const canonicalizeNpm = (
  canonicalizeModule as unknown as { default: (v: unknown) => string | undefined }
).default;

const quick = process.argv.includes("--quick");
const bench = new Bench({ time: quick ? 200 : 1500, warmupTime: quick ? 50 : 300, iterations: 20 });

const order = orderPayload();
const bulk = bulkOrderPayload();
const mib = mebibytePayload();
const orderBytes = Buffer.byteLength(JSON.stringify(order));
const bulkBytes = Buffer.byteLength(JSON.stringify(bulk));
const mibBytes = Buffer.byteLength(JSON.stringify(mib));
// Made on first use, not at start-up: canonicalizing 1 MiB of varied rows before the
// 400-byte groups would train the JIT on shapes an order producer never sees.
let mibCanonical: Uint8Array | undefined;
const mibBytesCanonical = () => {
  mibCanonical ??= Buffer.from(canonicalize(mib));
  return mibCanonical;
};

const sealer = createSealer();
let seq = 0;
const draftOf = (payload: unknown) => ({
  producer: "orders-svc",
  stream: "orders",
  seq: seq++,
  type: "order.created",
  schema: { name: "order", version: 1 },
  payload,
});
const cloudEventOf = (payload: object) =>
  new CloudEvent({
    type: "order.created",
    source: "/orders-svc",
    subject: "orders",
    datacontenttype: "application/json",
    data: payload,
  });
const sealedOrder = sealer(draftOf(orderPayload()));
const sealedOrderText = JSON.stringify(sealedOrder);
const orderEventText = JSON.stringify(toCloudEvent(sealedOrder));

// The order's zod schema, raw and through a registry (emit-time validation).
const orderSchema = z.object({
  orderId: z.string(),
  customerId: z.string(),
  status: z.enum(["new", "confirmed", "shipped"]),
  total: z.number().nonnegative(),
  createdAt: z.string(),
  items: z.array(
    z.object({ sku: z.string(), name: z.string(), qty: z.int().positive(), unitPrice: z.number() }),
  ),
  shipping: z.object({
    method: z.string(),
    address: z.object({ city: z.string(), country: z.string(), postcode: z.string() }),
  }),
  paid: z.boolean(),
});
const registry = createSchemaRegistry();
registry.register({ name: "order", version: 1, schema: orderSchema, examples: [orderPayload()] });

const groups: Group[] = [
  {
    name: `canonical form, ${orderBytes}-byte order`,
    bytes: orderBytes,
    tasks: [
      { name: "JSON.stringify", fn: () => keep(JSON.stringify(order)), batch: 200, floor: true },
      { name: "sinkproof canonicalize", fn: () => keep(canonicalize(order)), batch: 200 },
      { name: "fast-json-stable-stringify", fn: () => keep(stableStringify(order)), batch: 200 },
      { name: "canonicalize (npm)", fn: () => keep(canonicalizeNpm(order)), batch: 200 },
    ],
  },
  {
    name: `seal, ${orderBytes}-byte order`,
    bytes: orderBytes,
    tasks: [
      { name: "JSON.stringify", fn: () => keep(JSON.stringify(order)), batch: 200, floor: true },
      {
        name: "sinkproof seal (canonical + xxh64 + id + key)",
        fn: () => keep(sealer(draftOf(order))),
        batch: 200,
      },
      { name: "sinkproof verify", fn: () => keep(verify(sealedOrder)), batch: 200 },
      { name: "new CloudEvent() (cloudevents)", fn: () => keep(cloudEventOf(order)), batch: 50 },
    ],
  },
  {
    name: `seal, a fresh ${orderBytes}-byte order each call`,
    bytes: orderBytes,
    tasks: [
      {
        name: "JSON.stringify",
        fn: () => keep(JSON.stringify(orderPayload(seq++))),
        batch: 200,
        floor: true,
      },
      {
        name: "sinkproof seal (freezes the new payload)",
        fn: () => keep(sealer(draftOf(orderPayload(seq)))),
        batch: 200,
      },
      {
        name: "new CloudEvent() (cloudevents)",
        fn: () => keep(cloudEventOf(orderPayload(seq++))),
        batch: 50,
      },
    ],
  },
  {
    name: `CloudEvents out, sealed ${orderBytes}-byte order`,
    bytes: orderBytes,
    tasks: [
      {
        name: "JSON.stringify(envelope)",
        fn: () => keep(JSON.stringify(sealedOrder)),
        batch: 200,
        floor: true,
      },
      {
        name: "sinkproof toCloudEvent (envelope and checksum checked) + JSON.stringify",
        fn: () => keep(JSON.stringify(toCloudEvent(sealedOrder))),
        batch: 200,
      },
      {
        name: "new CloudEvent(toCloudEvent()) + JSON.stringify (cloudevents)",
        fn: () => keep(JSON.stringify(new CloudEvent(toCloudEvent(sealedOrder) as never))),
        batch: 50,
      },
    ],
  },
  {
    name: `CloudEvents in, sealed ${orderBytes}-byte order`,
    bytes: orderBytes,
    tasks: [
      { name: "JSON.parse", fn: () => keep(JSON.parse(orderEventText)), batch: 200, floor: true },
      {
        name: "sinkproof fromCloudEvent (strict read + checksum verified)",
        fn: () => keep(fromCloudEvent(orderEventText)),
        batch: 200,
      },
      {
        name: "sinkproof parseEnvelope (same envelope, its own JSON)",
        fn: () => keep(parseEnvelope(sealedOrderText)),
        batch: 200,
      },
      {
        name: "new CloudEvent(JSON.parse()) (cloudevents, validates, no checksum)",
        fn: () => keep(new CloudEvent(JSON.parse(orderEventText) as never)),
        batch: 50,
      },
    ],
  },
  {
    name: `schema validation, ${orderBytes}-byte order`,
    bytes: orderBytes,
    tasks: [
      {
        name: "zod safeParse",
        fn: () => keep(orderSchema.safeParse(order)),
        batch: 200,
        floor: true,
      },
      {
        name: "sinkproof registry.validate",
        fn: () => keep(registry.validate("order", 1, order)),
        batch: 200,
      },
    ],
  },
  {
    name: `canonical form, ${bulkBytes}-byte bulk order`,
    bytes: bulkBytes,
    tasks: [
      { name: "JSON.stringify", fn: () => keep(JSON.stringify(bulk)), batch: 10, floor: true },
      { name: "sinkproof canonicalize", fn: () => keep(canonicalize(bulk)), batch: 10 },
      { name: "fast-json-stable-stringify", fn: () => keep(stableStringify(bulk)), batch: 10 },
      { name: "canonicalize (npm)", fn: () => keep(canonicalizeNpm(bulk)), batch: 10 },
    ],
  },
  {
    name: `seal, ${bulkBytes}-byte bulk order`,
    bytes: bulkBytes,
    tasks: [
      { name: "JSON.stringify", fn: () => keep(JSON.stringify(bulk)), batch: 10, floor: true },
      {
        name: "sinkproof seal (canonical + xxh64 + id + key)",
        fn: () => keep(sealer(draftOf(bulk))),
        batch: 10,
      },
      { name: "new CloudEvent() (cloudevents)", fn: () => keep(cloudEventOf(bulk)), batch: 5 },
    ],
  },
  {
    name: `checksum throughput, ${(mibBytes / 1048576).toFixed(2)} MiB of orders`,
    bytes: mibBytes,
    tasks: [
      { name: "JSON.stringify", fn: () => keep(JSON.stringify(mib)), batch: 1, floor: true },
      { name: "sinkproof checksum (xxh64)", fn: () => keep(checksum(mib)), batch: 1 },
      {
        name: "sinkproof checksum (sha256)",
        fn: () => keep(checksum(mib, { algorithm: "sha256" })),
        batch: 1,
      },
      {
        name: "xxh64 of the canonical bytes alone (checksumOf)",
        fn: () => keep(checksumOf(mibBytesCanonical())),
        batch: 1,
      },
    ],
  },
];

const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const selected = only === undefined ? groups : groups.filter((g) => g.name.includes(only));
// `--only=ledger` runs the ledger benchmarks alone (`--only=sql-ledgers` the SQLite and
// PostgreSQL ones, `--only=delivery`, `--only=reconcile`, `--only=simulate`, `--only=throughput`
// theirs); any other
// filter skips them.
const specs = new Map<string, { group: Group; spec: TaskSpec }>();
for (const group of selected) {
  for (const spec of group.tasks) {
    const id = `${group.name} :: ${spec.name}`;
    specs.set(id, { group, spec });
    const { fn, batch } = spec;
    bench.add(id, () => {
      for (let i = 0; i < batch; i++) fn();
    });
  }
}

console.log(
  `sinkproof bench: Node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} x${os.cpus().length}${quick ? " (quick)" : ""}`,
);
await bench.run();

const rows: Row[] = [];
for (const task of bench.tasks) {
  const entry = specs.get(task.name);
  const result = task.result;
  if (entry === undefined || !("latency" in result))
    throw new Error(`task ${task.name} did not complete`);
  const medianNs = (result.latency.p50 * 1e6) / entry.spec.batch;
  rows.push({
    group: entry.group.name,
    name: entry.spec.name,
    medianNs,
    opsPerSec: 1e9 / medianNs,
    ratioToFloor: 0,
    floor: entry.spec.floor === true,
    ...(entry.group.name.startsWith("checksum")
      ? { mibPerSec: entry.group.bytes / 1048576 / (medianNs / 1e9) }
      : {}),
  });
}
for (const group of selected) {
  const inGroup = rows.filter((r) => r.group === group.name);
  const floor = inGroup.find((r) => r.floor);
  if (floor === undefined) throw new Error(`group ${group.name} has no floor`);
  for (const row of inGroup) row.ratioToFloor = row.medianNs / floor.medianNs;
}

const find = (group: string, name: string) =>
  rows.find((r) => r.group.startsWith(group) && r.name.startsWith(name));
const canon400 = find("canonical form, ", "sinkproof canonicalize");
const seal400 = find("seal, 4", "sinkproof seal");
const cloud400 = find("seal, 4", "new CloudEvent");
const eventTargets =
  canon400 === undefined || seal400 === undefined || cloud400 === undefined
    ? []
    : [
        {
          target: "canonicalize ≤ 1.5× JSON.stringify (400-byte order)",
          actual: `${canon400.ratioToFloor.toFixed(2)}×`,
          met: canon400.ratioToFloor <= 1.5,
        },
        {
          target: "seal ≤ 2.0× JSON.stringify (400-byte order)",
          actual: `${seal400.ratioToFloor.toFixed(2)}×`,
          met: seal400.ratioToFloor <= 2.0,
        },
        {
          target: "seal faster than new CloudEvent() (400-byte order)",
          actual: `${(cloud400.medianNs / seal400.medianNs).toFixed(1)}× faster`,
          met: seal400.medianNs < cloud400.medianNs,
        },
      ];

const fmt = (ns: number) =>
  ns >= 1e6
    ? `${(ns / 1e6).toFixed(2)} ms`
    : ns >= 1e3
      ? `${(ns / 1e3).toFixed(2)} µs`
      : `${ns.toFixed(0)} ns`;
for (const group of selected) {
  console.log(`\n### ${group.name}\n`);
  console.log(
    `| task | median | ops/s | × floor |${group.name.startsWith("checksum") ? " MiB/s |" : ""}`,
  );
  console.log(`|---|---:|---:|---:|${group.name.startsWith("checksum") ? "---:|" : ""}`);
  for (const row of rows.filter((r) => r.group === group.name)) {
    const mibs = row.mibPerSec === undefined ? "" : ` ${row.mibPerSec.toFixed(0)} |`;
    console.log(
      `| ${row.name}${row.floor ? " (floor)" : ""} | ${fmt(row.medianNs)} | ${Math.round(row.opsPerSec).toLocaleString("en-US")} | ${row.ratioToFloor.toFixed(2)} |${mibs}`,
    );
  }
}
const ledgerPart =
  only === undefined || only === "ledger" ? await runLedgerBench(quick) : { rows: [], targets: [] };
const deliveryPart =
  only === undefined || only === "delivery"
    ? await runDeliveryBench(quick)
    : { rows: [], targets: [] };
const reconcilePart =
  only === undefined || only === "reconcile"
    ? await runReconcileBench(quick)
    : { rows: [], targets: [] };
const sqlPart =
  only === undefined || only === "sql-ledgers"
    ? await runSqlLedgerBench(quick)
    : { rows: [], targets: [] };
const simulatePart =
  only === undefined || only === "simulate"
    ? await runSimulateBench(quick)
    : { rows: [], targets: [] };
const throughputPart =
  only === undefined || only === "throughput"
    ? await runThroughputBench(quick)
    : { rows: [], targets: [] };
const ledger = {
  rows: [
    ...ledgerPart.rows,
    ...sqlPart.rows,
    ...deliveryPart.rows,
    ...reconcilePart.rows,
    ...simulatePart.rows,
    ...throughputPart.rows,
  ],
  targets: [
    ...ledgerPart.targets,
    ...sqlPart.targets,
    ...deliveryPart.targets,
    ...reconcilePart.targets,
    ...simulatePart.targets,
    ...throughputPart.targets,
  ],
};
const perSecond = (n: number) => (n === 0 ? "" : Math.round(n).toLocaleString("en-US"));
const ledgerLines = [
  "| group | task | per second | median | × floor | note |",
  "|---|---|---:|---:|---:|---|",
  ...ledger.rows.map(
    (r) =>
      `| ${r.group} | ${r.name}${r.floor === true ? " (floor)" : ""} | ${perSecond(r.perSecond)} | ${r.medianNs === 0 ? "" : fmt(r.medianNs)} | ${r.ratioToFloor === undefined ? "" : r.ratioToFloor.toFixed(2)} | ${r.note ?? ""} |`,
  ),
];
if (ledger.rows.length > 0) console.log(`\n### ledgers\n\n${ledgerLines.join("\n")}`);
const targets = [...eventTargets, ...ledger.targets];
console.log("\n### targets\n");
console.log("| target | measured | met |\n|---|---|---|");
for (const t of targets) console.log(`| ${t.target} | ${t.actual} | ${t.met ? "yes" : "no"} |`);

const out = {
  generatedAt: new Date().toISOString(),
  node: process.version,
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.cpus().length,
  quick,
  method:
    "tinybench; one sample = one batch of calls; median sample / batch size; ratios to the group's floor in the same run",
  rows,
  ledger: ledger.rows,
  targets,
};
// Only a full run (all groups, full time) is a result worth keeping.
if (!quick && only === undefined) {
  writeFileSync(new URL("./results.json", import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
  // The README's figures are written here, from this run, between its bench markers.
  const readmeUrl = new URL("../README.md", import.meta.url);
  const readme = readFileSync(readmeUrl, "utf8");
  const lines = [
    `Node ${process.version}, ${out.cpu} ×${out.cores}, ${out.generatedAt.slice(0, 10)}. Median per call; × floor = time ÷ \`JSON.stringify\` of the same payload in the same run.`,
    "",
    "| group | task | median | × floor |",
    "|---|---|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.group} | ${r.name}${r.floor ? " (floor)" : ""} | ${fmt(r.medianNs)}${r.mibPerSec === undefined ? "" : ` (${r.mibPerSec.toFixed(0)} MiB/s)`} | ${r.ratioToFloor.toFixed(2)} |`,
    ),
    "",
    "Ledgers and delivery (operations per second at the median; × floor = rate ÷ the floor's rate):",
    "",
    ...ledgerLines,
    "",
    "| target | measured | met |",
    "|---|---|---|",
    ...targets.map((t) => `| ${t.target} | ${t.actual} | ${t.met ? "yes" : "no"} |`),
  ];
  const updated = readme.replace(
    /<!-- bench:start -->[\s\S]*<!-- bench:end -->/,
    `<!-- bench:start -->\n${lines.join("\n")}\n<!-- bench:end -->`,
  );
  writeFileSync(readmeUrl, updated);
  // docs/reconciliation.md quotes the reconciliation rows and targets of the same run.
  const docUrl = new URL("../docs/reconciliation.md", import.meta.url);
  const doc = readFileSync(docUrl, "utf8");
  const reconcileLines = [
    `Node ${process.version}, ${out.cpu} ×${out.cores}, ${out.generatedAt.slice(0, 10)}.`,
    "",
    "| group | task | per second | time | note |",
    "|---|---|---:|---:|---|",
    ...reconcilePart.rows.map(
      (r) =>
        `| ${r.group} | ${r.name} | ${perSecond(r.perSecond)} | ${fmt(r.medianNs)} | ${r.note ?? ""} |`,
    ),
    "",
    "| target | measured | met |",
    "|---|---|---|",
    ...reconcilePart.targets.map((t) => `| ${t.target} | ${t.actual} | ${t.met ? "yes" : "no"} |`),
  ];
  writeFileSync(
    docUrl,
    doc.replace(
      /<!-- reconcile-bench:start -->[\s\S]*<!-- reconcile-bench:end -->/,
      `<!-- reconcile-bench:start -->\n${reconcileLines.join("\n")}\n<!-- reconcile-bench:end -->`,
    ),
  );
}
if (blackhole === 0 && selected.length > 0) console.log("(nothing was computed?)");
