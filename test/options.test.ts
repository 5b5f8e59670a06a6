/**
 * A typo never falls back to a default: every options object of every public function,
 * nested ones too, refuses a key it does not know, with an `InvalidArgumentError` naming
 * the path and, when one is close, the key meant. One name for the clock (`clock`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  canonicalize,
  checksum,
  checksumOf,
  createIdFactory,
  createPipeline,
  createProducer,
  createSchemaRegistry,
  createSealer,
  type Envelope,
  FileLedger,
  fromCloudEvent,
  guardSink,
  InvalidArgumentError,
  MemoryLedger,
  parseEnvelope,
  type ReconcileSink,
  reconcile,
  renderReport,
  repair,
  seal,
  signReceipt,
  toCloudEvent,
  verify,
  verifySinkPayloads,
} from "../src/index.js";
import { closestKey, readOptions } from "../src/internal/options.js";
import { SqliteLedger } from "../src/ledger/sqlite/index.js";
import { createManualClock, createMemorySink, ledgerConformance } from "../src/testing/index.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 0, 1);
const draft = {
  producer: "shop",
  seq: 1,
  type: "order.paid",
  schema: { name: "order", version: 1 },
  payload: { id: 1 },
};

async function refused(run: () => unknown, path: string, hint?: string): Promise<void> {
  let thrown: unknown;
  try {
    await run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected ${path} to be refused`).toBeInstanceOf(InvalidArgumentError);
  const error = thrown as InvalidArgumentError;
  expect(error.code).toBe("invalid_argument");
  expect(error.path).toBe(path);
  expect(error.message).toContain("is not");
  if (hint !== undefined) expect(error.message).toContain(`did you mean ${hint}?`);
}

async function world() {
  const clock = createManualClock(T0);
  const ledger = new MemoryLedger({ clock: clock.now });
  const sealer = createSealer({ clock: clock.now });
  const envelope = sealer(draft) as Envelope;
  await ledger.append([envelope]);
  const guard = guardSink({ name: "wh", ledger, write: () => undefined, clock: clock.now });
  const receipt = await guard.deliver(envelope);
  return { clock, ledger, envelope, guard, receipt };
}

describe("the issue's cases", () => {
  it("a misspelt sink option is refused, not judged from receipts and called consistent", async () => {
    const { ledger } = await world();
    const sinks = [{ name: "wh", observer: () => [] }] as unknown as ReconcileSink[];
    let thrown: unknown;
    try {
      await reconcile({ ledger, sinks });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect((thrown as InvalidArgumentError).path).toBe("options.sinks[0].observer");
    expect((thrown as Error).message).toBe(
      "options.sinks[0].observer is not an option; did you mean observe?",
    );
  });

  it("retry: { attempt: 3 } is refused, naming attempts", async () => {
    const ledger = new MemoryLedger();
    await refused(
      () =>
        guardSink({
          name: "wh",
          ledger,
          write: () => undefined,
          retry: { attempt: 3 } as never,
        }),
      "options.retry.attempt",
      "attempts",
    );
  });

  it("reconcile and repair take clock, as everything else does, and refuse now", async () => {
    const { ledger, clock } = await world();
    const sink = createMemorySink({ name: "wh" }); // holds nothing: the entry is missing there
    clock.advance(5_000);
    // Five seconds after the append, with a 60 s tolerance: late, not lost. A clock that
    // was ignored (Date.now, months after T0) would say lost.
    const report = await reconcile({ ledger, sinks: [sink], clock: clock.now });
    expect(report.sinks[0]?.counts["missing-late"]).toBe(1);
    expect(report.sinks[0]?.counts["missing-lost"]).toBe(0);
    let thrown: unknown;
    try {
      await reconcile({ ledger, sinks: [sink], now: clock.now } as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect((thrown as InvalidArgumentError).path).toBe("options.now");
    expect((thrown as Error).message).toContain("it is called clock now");
    await expect(
      repair(report, { ledger, sinks: [sink], now: clock.now } as never),
    ).rejects.toMatchObject({ path: "options.now" });
    const fixed = await repair(report, { ledger, sinks: [sink], clock: clock.now, dryRun: true });
    expect(fixed.actions.length).toBe(0); // late entries are left to arrive
  });

  it("a schema registration takes name (the schema's name), and refuses type", async () => {
    const { z } = await import("zod");
    const registry = createSchemaRegistry();
    const schema = z.object({ orderId: z.string() });
    expect(registry.register({ name: "order", version: 1, schema }).name).toBe("order");
    for (const call of [
      () => registry.register({ type: "order", version: 2, schema } as never),
      () => registry.check({ type: "order", version: 2, schema } as never),
    ]) {
      let thrown: unknown;
      try {
        call();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect((thrown as InvalidArgumentError).path).toBe("registration.type");
      expect((thrown as Error).message).toContain("it is called name now");
    }
    expect(registry.versions("order")).toEqual([1]);
  });
});

describe("every public options object refuses an unknown key", () => {
  it("envelopes, checksums, ids and CloudEvents", async () => {
    const { envelope } = await world();
    await refused(() => canonicalize(1, { maxDeph: 3 } as never), "options.maxDeph", "maxDepth");
    await refused(
      () => checksum(1, { algoritm: "sha256" } as never),
      "options.algoritm",
      "algorithm",
    );
    await refused(() => checksumOf("a", { algo: "sha256" } as never), "options.algo", "algorithm");
    await refused(() => seal(draft, { clok: Date.now } as never), "options.clok", "clock");
    await refused(
      () => createSealer({ maxPayload: 9 } as never),
      "options.maxPayload",
      "maxPayloadBytes",
    );
    await refused(() => verify(envelope, { maxDepht: 3 } as never), "options.maxDepht", "maxDepth");
    await refused(
      () => parseEnvelope(JSON.stringify(envelope), { verfy: false } as never),
      "options.verfy",
      "verify",
    );
    await refused(
      () => createIdFactory({ randm: Math.random } as never),
      "options.randm",
      "random",
    );
    await refused(() => toCloudEvent(envelope, { schemaURL: "x" } as never), "options.schemaURL");
    await refused(
      () => fromCloudEvent(toCloudEvent(envelope), { produce: "x" } as never),
      "options.produce",
      "producer",
    );
  });

  it("ledgers, their queries and their inputs", async () => {
    const { ledger, receipt, guard } = await world();
    await refused(() => new MemoryLedger({ clocks: Date.now } as never), "options.clocks", "clock");
    await refused(() => ledger.scan({ form: 1 } as never), "query.form", "from");
    await refused(
      () => ledger.claim("wh", "k", { owner: "o", ttlMs: 10, replays: true } as never),
      "options.replays",
      "replay",
    );
    await refused(
      () => ledger.freezeSink("wh", { reason: "r", actor: "a", orign: "x" } as never),
      "input.orign",
      "origin",
    );
    await refused(
      () => ledger.appendAudit({ actor: "a", action: "b", reason: "c", detail: 1 } as never),
      "input.detail",
      "details",
    );
    await refused(() => ledger.putReceipt({ ...receipt, fencing: 1 } as never), "receipt.fencing");
    await refused(() => ledger.verifyAudit({ heads: undefined } as never), "options.heads", "head");
    await refused(() => guard.freeze("r", { actr: "me" } as never), "options.actr", "actor");
    await refused(() => guard.unfreeze({ reasn: "r" } as never), "options.reasn", "reason");
    const dir = mkdtempSync(join(tmpdir(), "sinkproof-options-"));
    dirs.push(dir);
    const at = join(dir, "ledger");
    await refused(
      () => FileLedger.open(at, { segmentSize: 4096 } as never),
      "options.segmentSize",
      "segmentBytes",
    );
    // Refused before anything on disk was made.
    expect(() => rmSync(at)).toThrow();
    await refused(
      () => SqliteLedger.open(join(dir, "l.db"), { busyTimeout: 5 } as never),
      "options.busyTimeout",
      "busyTimeoutMs",
    );
  });

  it("guards, producers, pipelines and deliveries", async () => {
    const { ledger, envelope, guard } = await world();
    await refused(
      () => guardSink({ name: "x", ledger, write: () => undefined, concurency: 2 } as never),
      "options.concurency",
      "concurrency",
    );
    await refused(
      () => guard.deliver(envelope, { replai: true } as never),
      "options.replai",
      "replay",
    );
    await refused(
      () => guard.deliverAll([envelope], { replai: true } as never),
      "options.replai",
      "replay",
    );
    await refused(
      () => createProducer({ id: "p", ledger, sequenceBlok: 5 } as never),
      "options.sequenceBlok",
      "sequenceBlock",
    );
    const producer = createProducer({ id: "p", ledger });
    await refused(
      () => producer.emit("t", {}, { schema: { name: "s", version: 1 }, strem: "x" } as never),
      "options.strem",
      "stream",
    );
    await refused(
      () =>
        producer.emitMany([
          { type: "t", payload: {}, schema: { name: "s", version: 1 }, kye: "k" },
        ] as never),
      "items[0].kye",
      "key",
    );
    await refused(
      () => createPipeline({ producer, sinks: [guard], sink: [] } as never),
      "options.sink",
      "sinks",
    );
    const pipeline = createPipeline({ producer, sinks: [guard] });
    await refused(
      () => pipeline.drain({ onprogress: () => undefined } as never),
      "options.onprogress",
      "onProgress",
    );
    const { receipt } = await world();
    await refused(
      () => signReceipt(receipt, { keyid: "k", secret: "0123456789abcdef" } as never),
      "key.keyid",
      "keyId",
    );
  });

  it("reconciliation, repair, rendering, payload checks, schemas and the testing kit", async () => {
    const { ledger } = await world();
    const sink = createMemorySink({ name: "wh", ledger });
    await refused(
      () => reconcile({ ledger, sinks: [sink], maxFinding: 3 } as never),
      "options.maxFinding",
      "maxFindings",
    );
    await refused(
      () => reconcile({ ledger, sinks: [sink], range: { form: 1 } } as never),
      "options.range.form",
      "from",
    );
    await refused(
      () => reconcile({ ledger, sinks: [sink], freezeOn: { mismatch: 0 } } as never),
      "options.freezeOn.mismatch",
      "mismatched",
    );
    await refused(
      () =>
        reconcile({ ledger, sinks: [{ name: "wh", observe: () => [], lagTolerance: 5 }] } as never),
      "options.sinks[0].lagTolerance",
      "lagToleranceMs",
    );
    const report = await reconcile({ ledger, sinks: [sink] });
    await refused(
      () => repair(report, { ledger, sinks: [sink], dryrun: true } as never),
      "options.dryrun",
      "dryRun",
    );
    await refused(
      () => renderReport(report, { format: "json", topFinding: 3 } as never),
      "options.topFinding",
      "topFindings",
    );
    await refused(
      () => verifySinkPayloads({ sink, sample: { row: 3 } } as never),
      "options.sample.row",
      "rows",
    );
    await refused(() => verifySinkPayloads({ sink, seeed: 3 } as never), "options.seeed", "seed");
    await refused(
      () => createSchemaRegistry({ compatability: "NONE" } as never),
      "options.compatability",
      "compatibility",
    );
    const registry = createSchemaRegistry();
    const { z } = await import("zod");
    await refused(
      () =>
        registry.register({
          name: "t",
          version: 1,
          schema: z.object({}),
          upcaster: () => ({}),
        } as never),
      "registration.upcaster",
      "upcast",
    );
    await refused(
      () => createMemorySink({ name: "x", fault: {} } as never),
      "options.fault",
      "faults",
    );
    await refused(
      () => createMemorySink({ name: "x", faults: { dorp: 0.1 } } as never),
      "options.faults.dorp",
      "drop",
    );
    await refused(
      () => createMemorySink({ name: "x", ledger, guardOptions: { retrys: {} } } as never),
      "options.guardOptions.retrys",
      "retry",
    );
    await refused(
      () =>
        ledgerConformance({
          name: "x",
          describe: () => undefined,
          it: () => undefined,
          create: async () => new MemoryLedger(),
          reopn: async () => new MemoryLedger(),
        } as never),
      "options.reopn",
      "reopen",
    );
    // A skip that names no case would skip nothing: refused, naming the case meant.
    let titles: string[] = [];
    ledgerConformance({
      name: "titles",
      describe: (_name, body) => body(),
      it: (title) => {
        titles.push(title);
      },
      create: async () => new MemoryLedger(),
    });
    titles = titles.filter((t) => t.length > 8);
    const title = titles[0] as string;
    await refused(
      () =>
        ledgerConformance({
          name: "x",
          describe: () => undefined,
          it: () => undefined,
          create: async () => new MemoryLedger(),
          skip: { [`${title}x`]: "why" },
        }),
      `options.skip.${title}x`,
      title,
    );
  });
});

describe("what is accepted", () => {
  it("a memory sink, a frozen snapshot and a class instance are sink descriptions", async () => {
    const { ledger } = await world();
    const memory = createMemorySink({ name: "wh", ledger });
    class Warehouse implements ReconcileSink {
      readonly name = "wh";
      readonly pool = { rows: [] as unknown[] }; // the implementation's own state
      observe() {
        return this.pool.rows as never;
      }
    }
    for (const sink of [
      memory,
      Object.freeze({ name: "wh", observe: () => [] }),
      new Warehouse(),
    ]) {
      const report = await reconcile({ ledger, sinks: [sink] });
      expect(report.sinks[0]?.name).toBe("wh");
    }
  });

  it("undefined values are absent and symbols ignored; a key that is not enumerable still counts", async () => {
    const options = { maxDepth: undefined, [Symbol("x")]: 1 };
    expect(canonicalize([1], options as never)).toBe("[1]");
    // Object.defineProperty makes an option all the same: read, and refused when unknown.
    const hidden = Object.defineProperty({}, "maxDepth", { value: 1, enumerable: false });
    expect(() => canonicalize([[1]], hidden as never)).toThrow(/too_deep|deeper|depth/i);
    const typo = Object.defineProperty({}, "maxDeph", { value: 1, enumerable: false });
    await refused(() => canonicalize(1, typo as never), "options.maxDeph", "maxDepth");
  });

  it("an object made from a prototype, or a class instance, cannot hide a typo or an old name", async () => {
    const { ledger, clock } = await world();
    const sink = createMemorySink({ name: "wh" });
    const inherited = Object.assign(Object.create({}), { ledger, sinks: [sink], now: clock.now });
    await refused(() => reconcile(inherited), "options.now");
    class Options {
      readonly ledger = ledger;
      readonly sinks = [sink];
      readonly clokc = clock.now;
    }
    await refused(() => reconcile(new Options() as never), "options.clokc", "clock");
    class Sink {
      readonly name = "wh";
      readonly lagToleranceMS = 5;
      observe() {
        return [];
      }
    }
    await refused(
      () => reconcile({ ledger, sinks: [new Sink() as never] }),
      "options.sinks[0].lagToleranceMS",
      "lagToleranceMs",
    );
  });

  it("a class sink keeps its own fields and its methods keep this; a memory sink spreads to its description", async () => {
    const { ledger } = await world();
    class Table {
      readonly name = "wh";
      readonly write = () => undefined; // its own, not a typo of rewrite
      readonly rows: unknown[] = [];
      observe() {
        return this.rows as never;
      }
    }
    expect(
      (await reconcile({ ledger, sinks: [new Table()] })).sinks[0]?.counts["missing-lost"],
    ).toBe(1);
    const memory = createMemorySink({ name: "wh" });
    expect(Object.keys({ ...memory }).sort()).toEqual(
      ["digest", "guard", "lagToleranceMs", "name", "observe", "remove", "rewrite"].sort(),
    );
    expect(typeof memory.tamper).toBe("function");
  });

  it("a memory sink names its guard options where they are, and emit reads its schema like an option", async () => {
    const { ledger } = await world();
    await refused(
      () =>
        createMemorySink({ name: "x", ledger, guardOptions: { retry: { attempt: 3 } } } as never),
      "options.guardOptions.retry.attempt",
      "attempts",
    );
    const producer = createProducer({ id: "p", ledger });
    await refused(
      () => producer.emit("t", {}, { schema: { name: "s", verison: 1 } } as never),
      "options.schema.verison",
      "version",
    );
  });

  it("each value is read once: a getter cannot change its answer after the check", () => {
    let reads = 0;
    const options = {
      get maxDepth() {
        reads++;
        return reads === 1 ? 5 : -1;
      },
    };
    expect(canonicalize([[1]], options)).toBe("[[1]]");
    expect(reads).toBe(1);
  });

  it("__proto__ as an own key is refused", async () => {
    const options = JSON.parse('{"__proto__": {"maxDepth": 1}}');
    await refused(() => canonicalize(1, options), "options.__proto__");
  });
});

describe("closestKey", () => {
  it("finds the key meant, and nothing when none is close", () => {
    const keys = ["observe", "digest", "guard", "rewrite", "remove", "lagToleranceMs"];
    expect(closestKey("observer", keys)).toBe("observe");
    expect(closestKey("Observe", keys)).toBe("observe");
    expect(closestKey("rwerite", keys)).toBe("rewrite");
    expect(closestKey("lagTolerance", keys)).toBe("lagToleranceMs");
    expect(closestKey("zzz", keys)).toBeUndefined();
    expect(closestKey("now", ["clock", "range"])).toBeUndefined();
  });

  it("says what the options are when none is close", () => {
    expect(() => readOptions({ zzz: 1 }, "options", ["alpha", "beta"])).toThrow(
      "options.zzz is not an option (known: alpha, beta)",
    );
  });
});

describe("the conformance suite drops nothing in silence", () => {
  it("without reopen it says which restart cases it does not run", () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => {
      lines.push(args.join(" "));
    };
    const titles: string[] = [];
    try {
      ledgerConformance({
        name: "silent?",
        describe: (_name, body) => body(),
        it: (title) => {
          titles.push(title);
        },
        create: async () => new MemoryLedger(),
      });
    } finally {
      console.log = log;
    }
    const said = lines.find((line) => line.includes("silent?: not run, no options.reopen given"));
    expect(said).toBeDefined();
    expect(said).toContain("survive a reopen");
    // Each case it names is one it did not define.
    for (const title of titles)
      expect(said?.includes(`: ${title};`) || said?.endsWith(title)).toBe(false);
  });
});
