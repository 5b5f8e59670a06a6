/**
 * Every ```ts block of README.md and docs/*.md is typechecked against src/ (strict, as an
 * ES module with top-level await), and run when it can be, so a docs example cannot rot.
 * One test per block, named by its page and line. The markers and the rules for what a
 * block is given are in test/support/doc-blocks.ts; the hidden context of each page is
 * `PRELUDES` below.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import {
  type BlockModule,
  docPages,
  extractBlocks,
  moduleBuilder,
  type Prelude,
  runnableSource,
  typecheck,
} from "./support/doc-blocks.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The draft of the envelope the preludes seal. */
const DRAFT = `{ producer: "orders-svc", stream: "orders", seq: 1, type: "order.created", schema: { name: "order", version: 1 }, payload: { orderId: "o-1", total: 42.5 } }`;
/** A sealed envelope, in no ledger. */
const sealed = `const envelope = sp.seal(${DRAFT});`;
/** A memory ledger, a producer on it, and an envelope it emitted. */
const emitted = {
  ledger: "const ledger = new sp.MemoryLedger();",
  producer: `const producer = sp.createProducer({ id: "orders-svc", ledger });`,
  envelope: `const envelope = await producer.emit("order.created", { orderId: "o-1", total: 42.5 }, { schema: { name: "order", version: 1 }, stream: "orders" });`,
};
/** A writer that accepts everything, and a guard on the ledger with it. */
const guarded = {
  write: "const write: sp.SinkWriter = () => {};",
  warehouse: `const warehouse = sp.guardSink({ name: "warehouse", ledger, write });`,
};
/** A table of observations, written and read back by key. */
const table = (name: string, methods: string) =>
  `const ${name} = (() => { const rows = new Map<string, sp.Observation>(); return { ${methods} }; })();`;

/**
 * What each page leaves to the reader, keyed by page. An entry written `declare …` exists
 * for the compiler only (a block that uses it is not run); the others are real, small and
 * in memory, so the blocks that use them run.
 */
const PRELUDES: Record<string, Prelude> = {
  "README.md": {
    ledger: emitted.ledger,
    db: table(
      "db",
      "upsert: async (_table: string, key: string, payload: sp.JsonValue, checksum: string) => { rows.set(key, { key, payload, checksum }); }, remove: async (_table: string, key: string) => { rows.delete(key); }, scan: (_table: string) => [...rows.values()]",
    ),
    search: table(
      "search",
      "index: async (doc: { id: string; document: sp.JsonValue }) => { rows.set(doc.id, { key: doc.id, payload: doc.document }); }, scanAll: () => [...rows.values()]",
    ),
    upsert: `const upsert = (e: sp.Envelope) => db.upsert("orders", e.key, e.payload, e.checksum);`,
    deleteKey: `const deleteKey = (key: string) => db.remove("orders", key);`,
    warehouse: `const warehouse = sp.guardSink({ name: "warehouse", ledger, write: upsert });`,
    searchGuard: `const searchGuard = sp.guardSink({ name: "search", ledger, write: (e) => search.index({ id: e.key, document: e.payload }) });`,
    draft: `const draft = { producer: "orders-svc", stream: "orders", seq: 1, type: "order.created", schema: { name: "order", version: 1 } };`,
  },
  "docs/canonical-form.md": {
    value: `const value = { orderId: "o-1", total: 42.5 };`,
  },
  "docs/checksums.md": {
    value: `const value = { orderId: "o-1", total: 42.5 };`,
    fileBytes: `const fileBytes = new TextEncoder().encode("order o-1");`,
    a: `const a = sp.checksum({ orderId: "o-1" });`,
    b: `const b = sp.checksum({ orderId: "o-1" });`,
  },
  "docs/cloudevents.md": { envelope: sealed },
  "docs/envelopes.md": {
    envelope: sealed,
    message: `const message = { body: JSON.stringify(sp.seal(${DRAFT})) };`,
  },
  "docs/errors.md": {
    ledger: emitted.ledger,
    write: guarded.write,
    sinks: `const sinks: sp.ReconcileSink[] = [{ name: "warehouse", observe: () => [] }];`,
    clock: "const clock = spt.createManualClock().now;",
  },
  "docs/ledgers.md": {
    envelope: sealed,
    MyLedger:
      "declare class MyLedger extends sp.MemoryLedger { static open(options: { path: string; clock: () => number }): Promise<MyLedger>; readonly path: string; }",
    freshPath: "declare function freshPath(): string;",
  },
  "docs/observability.md": { ...emitted, ...guarded },
  "docs/producing.md": {
    ledger: emitted.ledger,
    producer: emitted.producer,
    payment: `const payment = { orderId: "o-1", amount: 42.5 };`,
    order: `const order = { orderId: "o-2", total: 10 };`,
    upsertOrderRow: "const upsertOrderRow: sp.SinkWriter = () => {};",
    indexOrderDocument: "const indexOrderDocument: sp.SinkWriter = () => {};",
    paymentKey: `const paymentKey = "payment/o-1";`,
    warehouse: `const warehouse = sp.guardSink({ name: "warehouse", ledger, write: () => {} });`,
    search: `const search = sp.guardSink({ name: "search", ledger, write: () => {} });`,
    pipeline: `const pipeline = sp.createPipeline({ producer, sinks: [sp.guardSink({ name: "warehouse", ledger, write: () => {} })] });`,
  },
  "docs/reconciliation.md": {
    ledger: emitted.ledger,
    search: table("search", "scanAll: () => [...rows.values()]"),
    warehouseDigest:
      "const warehouseDigest: sp.SinkDigest = { digest: async () => [], observeRange: () => [] };",
    warehouse: `const warehouse: sp.ReconcileSink = { name: "warehouse", observe: () => [] };`,
    sinks: `const sinks: sp.ReconcileSink[] = [{ name: "warehouse", observe: () => [] }];`,
  },
  "docs/runbook.md": {
    ledger: emitted.ledger,
    producer: emitted.producer,
    sinks: `const sinks: sp.ReconcileSink[] = [{ name: "warehouse", observe: () => [] }];`,
    pipeline: `const pipeline = sp.createPipeline({ producer, sinks: [sp.guardSink({ name: "warehouse", ledger, write: () => {} })] });`,
    lastKnownHead: "let lastKnownHead: sp.AuditHead | undefined;",
  },
  "docs/schemas.md": {
    ...emitted,
    z: `import { z } from "zod";`,
    registry: `const registry = sp.createSchemaRegistry();
registry.register({ name: "order", version: 1, schema: z.object({ orderId: z.string(), total: z.number() }), examples: [{ orderId: "o-1", total: 42 }] });
registry.register({ name: "order", version: 2, schema: z.object({ orderId: z.string(), total: z.number(), currency: z.string().default("EUR") }), examples: [{ orderId: "o-2", total: 10, currency: "USD" }] });`,
    oldEnvelope: `const oldEnvelope = sp.seal(${DRAFT});`,
    readWarehouse: "const readWarehouse = () => [];",
    warehouse: `const warehouse = sp.guardSink({ name: "warehouse", ledger, registry, accepts: { order: [3, 3] }, write: () => {} });`,
  },
  "docs/sinks.md": {
    ...emitted,
    ...guarded,
    db: "const db = { query: async (_sql: string, _params: unknown[]) => ({ rows: [] }) };",
    envelopes: `const envelopes = [envelope, await producer.emit("order.paid", { orderId: "o-1" }, { schema: { name: "payment", version: 1 } })];`,
    secret: `const secret = "a test secret of 32 bytes or so!";`,
    es: "const es = { bulk: async ({ operations }: { operations: unknown[] }) => ({ items: operations.filter((_, i) => i % 2 === 0).map(() => ({ index: {} as { error?: unknown } | undefined })) }) };",
  },
  "docs/testing.md": {
    clock: "const clock = spt.createManualClock();",
  },
};

const blocks = docPages(root).flatMap((doc) =>
  extractBlocks(doc, readFileSync(join(root, doc), "utf8")),
);
const build = moduleBuilder(root, PRELUDES);
const modules = blocks.filter((b) => b.marker?.kind !== "skip").map(build);
/** Blocks that must not compile, checked in the same Program: the check is a real one. */
const canaries = [
  // strict options: a misspelt key is refused (and the line is the page's)
  'import { canonicalize } from "sinkproof";\n\ncanonicalize({}, { maxDepht: 3 });',
  // strict null checks, after a top-level await
  "const n = await Promise.resolve(undefined);\nconst m: number = n;",
  // a fragment is given only what the library exports
  "canonicalize(notDeclaredAnywhere);",
].map((code, i) => build({ doc: `canary-${i}.md`, line: 10, code, marker: undefined }));
// One Program for every block: built when the file is collected, checked per block below.
const diagnostics = typecheck(root, [...modules, ...canaries]);

/** Why a compiled block is not run, or undefined when it runs. */
function notRun(module: BlockModule): string | undefined {
  const marker = module.block.marker;
  if (marker?.kind === "no-run") return marker.reason;
  if (module.declaredOnly.length > 0)
    return `uses ${module.declaredOnly.join(", ")}, which the page leaves to the reader`;
  return undefined;
}

let scratch: string | undefined;
/** A directory for the runs, with the project's node_modules, so packages resolve. */
function scratchDir(): string {
  if (scratch === undefined) {
    scratch = mkdtempSync(join(tmpdir(), "sinkproof-docs-"));
    symlinkSync(join(root, "node_modules"), join(scratch, "node_modules"), "dir");
  }
  return scratch;
}
/** What the blocks that ran declared: what can be closed is closed at the end. */
const values: unknown[] = [];
afterAll(async () => {
  for (const value of values) {
    const close = (value as { close?: unknown } | null)?.close;
    if (typeof close === "function") await Promise.resolve(close.call(value)).catch(() => {});
  }
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

const CONSOLE = ["log", "info", "warn", "error", "debug"] as const;

/**
 * Runs a block as a module of its own, in a directory of its own (its working directory,
 * with the empty `data/` the pages' paths assume). What it prints is kept, and shown only
 * when it fails.
 */
async function run(module: BlockModule): Promise<void> {
  const dir = join(scratchDir(), module.file.replace(/\.mts$/, ""));
  mkdirSync(join(dir, "data"), { recursive: true });
  const file = join(dir, "block.ts");
  writeFileSync(file, runnableSource(root, module));
  const printed: string[] = [];
  const saved = CONSOLE.map((name) => console[name]);
  for (const name of CONSOLE)
    console[name] = (...args: unknown[]) => {
      printed.push(args.map((a) => (typeof a === "string" ? a : inspect(a))).join(" "));
    };
  const cwd = process.cwd();
  process.chdir(dir);
  (globalThis as { __docsBlockValues?: unknown[] }).__docsBlockValues = values;
  try {
    await import(pathToFileURL(file).href);
  } catch (error) {
    if (printed.length > 0)
      saved[0]?.(`${module.block.doc}:${module.block.line} printed:\n${printed.join("\n")}`);
    throw error;
  } finally {
    process.chdir(cwd);
    CONSOLE.forEach((name, i) => {
      console[name] = saved[i] as (typeof console)[typeof name];
    });
  }
}

describe("finding blocks and checking them", () => {
  it("reads ts and typescript fences with the marker before them, and none inside another fence", () => {
    const page = [
      "<!-- docs-test: skip — a shape with … -->",
      "```ts",
      "a…;",
      "```",
      "````md",
      "```ts",
      "inside();",
      "```",
      "````",
      "<!-- docs-test: throws invalid_argument -->",
      "",
      "```typescript",
      "b();",
      "```",
      "  ```ts",
      "  c();",
      "  ```",
      "<!-- docs-test: no-run - needs a server -->",
      "```ts",
      "d();",
      "```",
    ].join("\n");
    expect(extractBlocks("page.md", page)).toEqual([
      { doc: "page.md", line: 2, code: "a…;", marker: { kind: "skip", reason: "a shape with …" } },
      {
        doc: "page.md",
        line: 12,
        code: "b();",
        marker: { kind: "throws", code: "invalid_argument" },
      },
      { doc: "page.md", line: 15, code: "c();", marker: undefined },
      {
        doc: "page.md",
        line: 19,
        code: "d();",
        marker: { kind: "no-run", reason: "needs a server" },
      },
    ]);
  });

  it("refuses a marker it does not know, one without a reason, and one not before a ts block", () => {
    const page = (...lines: string[]) => lines.join("\n");
    expect(() => extractBlocks("p.md", page("<!-- docs-test: skpi -->", "```ts", "```"))).toThrow(
      /marker/,
    );
    expect(() => extractBlocks("p.md", page("<!-- docs-test: skip -->", "```ts", "```"))).toThrow(
      /marker/,
    );
    expect(() =>
      extractBlocks("p.md", page("<!-- docs-test: no-run — x -->", "text", "```ts", "```")),
    ).toThrow(/p\.md:1: a marker must come just before a ts block/);
    expect(() =>
      extractBlocks("p.md", page("<!-- docs-test: no-run — x -->", "```sh", "```")),
    ).toThrow(/p\.md:1/);
    expect(() => extractBlocks("p.md", page("<!-- docs-test: no-run — x -->"))).toThrow(/p\.md:1/);
  });

  it("has a prelude only for pages that exist, each entry used by a block", () => {
    const unused = Object.entries(PRELUDES).flatMap(([doc, prelude]) => {
      expect(docPages(root), `PRELUDES names ${doc}`).toContain(doc);
      const used = new Set(modules.filter((m) => m.block.doc === doc).flatMap((m) => m.entries));
      return Object.keys(prelude)
        .filter((name) => !used.has(name))
        .map((name) => `${doc}: ${name}`);
    });
    expect(unused, "prelude entries no block uses").toEqual([]);
  });

  it("fails a block that does not compile, naming the page's line", () => {
    const [options, nulls, unknown] = canaries.map((c) => diagnostics.get(c)?.join("\n") ?? "");
    expect(options).toMatch(/^canary-0\.md:13:\d+ TS2\d+: .*maxDepht/);
    expect(nulls).toMatch(/^canary-1\.md:12:\d+ TS2322/);
    expect(unknown).toMatch(/^canary-2\.md:11:\d+ TS2304: .*notDeclaredAnywhere/);
  });
});

describe("the ts blocks of README.md and docs/*.md", () => {
  it("are found: README.md and every page of docs/", () => {
    expect(new Set(blocks.map((b) => b.doc)).size).toBe(docPages(root).length);
    expect(blocks.length).toBeGreaterThan(40);
  });

  for (const block of blocks) {
    const where = `${block.doc}:${block.line}`;
    const marker = block.marker;
    if (marker?.kind === "skip") {
      it(`${where} (skipped: ${marker.reason})`, (context) => {
        console.log(`${where} skipped: ${marker.reason}`);
        context.skip();
      });
      continue;
    }
    const module = modules.find((m) => m.block === block) as BlockModule;
    const reason = notRun(module);
    const outcome =
      reason !== undefined
        ? `compiles (not run: ${reason})`
        : marker?.kind === "throws"
          ? `compiles and throws ${marker.code}`
          : "compiles and runs";
    it(`${where} ${outcome}`, async () => {
      expect(diagnostics.get(module), `${where} does not compile`).toEqual([]);
      if (reason !== undefined) return;
      if (marker?.kind === "throws") {
        await expect(run(module)).rejects.toMatchObject({ code: marker.code });
      } else {
        await run(module);
      }
    });
  }
});
