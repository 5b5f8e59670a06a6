/**
 * The public functions of sinkproof, each with valid base arguments built fresh per call,
 * for the adversarial suite (test/hostile.test.ts). A case names its parameters; the suite
 * puts every hostile value in every parameter and in every listed nested option
 * (`options.retry.attempts`), the other arguments staying valid.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  assertIntact,
  canonicalize,
  checksum,
  checksumOf,
  checksumsEqual,
  createIdFactory,
  createMemoryMetrics,
  createMonitor,
  createPipeline,
  createProducer,
  createSchemaRegistry,
  createSealer,
  FileLedger,
  fromCloudEvent,
  guardSink,
  idempotencyKey,
  idTime,
  isChecksum,
  isId,
  isRetryable,
  isSinkproofError,
  isTransientLedgerError,
  type Ledger,
  MemoryLedger,
  metricId,
  parseCloudEvent,
  parseEnvelope,
  permanent,
  type Receipt,
  type ReconcileReport,
  reconcile,
  renderReport,
  repair,
  seal,
  sequenceKey,
  signReceipt,
  toCloudEvent,
  verify,
  verifyReceipt,
  verifySinkPayloads,
} from "sinkproof";
import { digestIndex, formatDigest, rowHash } from "sinkproof/digest";
import {
  auditHash,
  entryHash,
  isFinalStatus,
  planAppend,
  verifyAuditChain,
} from "sinkproof/ledger";
import {
  createFaultyLedger,
  createManualClock,
  createMemorySink,
  createSeededRandom,
  ledgerAppendBatchCases,
  ledgerAppendCases,
  ledgerAuditCases,
  ledgerAuditPhaseCases,
  ledgerClaimCases,
  ledgerClosedCases,
  ledgerConformance,
  ledgerFencingCases,
  ledgerFreezeCases,
  ledgerReadCases,
  ledgerReceiptCases,
  ledgerRestartCases,
  ledgerSequenceCases,
  ledgerTakeoverCases,
  ledgerWatermarkCases,
  simulate,
} from "sinkproof/testing";
import { z } from "zod";
import { isSafeParseSchema, schemaIssues } from "../../src/delivery/validation.js";
import { jsonlSink } from "../../src/sinks/jsonl/index.js";
import { postgresTableSink } from "../../src/sinks/postgres/index.js";

/** One public function (or method) under attack. */
export interface HostileCase<C = unknown> {
  /** The name the suite groups its calls under, e.g. `ledger.append`. */
  readonly fn: string;
  /** Builds a fresh world for one call (outside the timed part). */
  readonly setup: () => Promise<C> | C;
  /** Parameter names, in order; a hostile value goes into each. */
  readonly params: readonly string[];
  /** Valid base arguments. */
  readonly args: (ctx: C) => unknown[];
  /** Calls the function under attack with `args`. */
  readonly call: (ctx: C, args: unknown[]) => unknown;
  /** Nested option paths to attack, e.g. `options.retry.attempts`, `sinks.0.observe`. */
  readonly nested?: readonly string[];
  /** Positions not to attack as a whole (e.g. a parameter that only exists for nesting). */
  readonly skipWhole?: readonly string[];
  /**
   * Positions where a failure may legitimately follow work already done for earlier items
   * (deliverAll delivers item 0 before it reads item 1): no half-written check there.
   */
  readonly progressive?: readonly string[];
  /** The ledger whose state must be unchanged after a failed call. */
  readonly ledger?: (ctx: C) => Ledger | undefined;
  /** The function returns an iterable to be read to the end. */
  readonly iterate?: boolean;
  /** A predicate: it must return a boolean and never throw, not even a typed error. */
  readonly predicate?: boolean;
  /** The real sealed envelope the lying-envelope values wrap. */
  readonly envelope?: (ctx: C) => object;
  /** Runs after the call, whatever its outcome. */
  readonly cleanup?: (ctx: C) => Promise<void> | void;
  /**
   * Calls (`<position> ← <value name>`) known to take the worker down (heap exhaustion):
   * not made, and reported as CRASH problems. Remove an entry to check it again.
   */
  readonly crashes?: readonly string[];
  /** Runs the call with this directory as cwd (FileLedger: a relative path lands there). */
  readonly cwd?: (ctx: C) => string;
}

function def<C>(c: HostileCase<C>): HostileCase<unknown> {
  return c as unknown as HostileCase<unknown>;
}

export const T0 = Date.UTC(2026, 0, 1);
const ISO = new Date(T0).toISOString();
export const SINKS = ["warehouse", "store"] as const;

const orderV1 = z.object({ orderId: z.string(), total: z.number() });
const orderV2 = z.object({ orderId: z.string(), total: z.number(), currency: z.string() });

/** A ledger with two entries, one delivered receipt, one audit record; a guard; a registry. */
export async function world() {
  const clock = createManualClock(T0);
  const ledger = new MemoryLedger({ clock: clock.now });
  const sealer = createSealer({ clock: clock.now });
  const draft = (seq: number) => ({
    producer: "orders-svc",
    stream: "orders",
    seq,
    type: "order.created",
    schema: { name: "order", version: 1 },
    payload: { orderId: `o-${seq}`, total: seq },
  });
  const envelope = sealer(draft(1));
  const second = sealer(draft(2));
  const outside = sealer(draft(3));
  await ledger.append([envelope, second]);
  const write = async () => ({ offset: "row" });
  const guard = guardSink({ name: "warehouse", ledger, write, clock: clock.now });
  const receipt = await guard.deliver(envelope);
  await ledger.appendAudit({ actor: "fixture", action: "note", reason: "a first record" });
  const registry = createSchemaRegistry();
  registry.register({
    name: "order",
    version: 1,
    schema: orderV1,
    examples: [{ orderId: "o-0", total: 0 }],
  });
  registry.register({
    name: "order",
    version: 2,
    schema: orderV2,
    examples: [{ orderId: "o-0", total: 0, currency: "EUR" }],
    upcast: (p) => ({ ...(p as object), currency: "EUR" }),
  });
  /** A receipt for the second entry, not stored yet. */
  const fresh: Receipt = {
    sink: "warehouse",
    key: second.key,
    id: second.id,
    position: 2,
    status: "written",
    checksum: second.checksum,
    attempt: 1,
    startedAt: ISO,
    finishedAt: ISO,
    sinkOffset: "row",
  };
  const signingKey = { keyId: "k1", secret: "a secret of thirty-two bytes!!!!" };
  const signed = signReceipt(receipt, signingKey);
  return {
    clock,
    ledger,
    sealer,
    draft,
    envelope,
    second,
    outside,
    write,
    guard,
    receipt,
    fresh,
    registry,
    signingKey,
    signed,
  };
}
export type World = Awaited<ReturnType<typeof world>>;

/** `world()` plus a memory sink "store" with one lost entry and one stray row, and its report. */
export async function reconciled(digest = false) {
  const w = await world();
  const sink = createMemorySink({
    name: "store",
    ledger: w.ledger,
    lagToleranceMs: 0,
    digest,
    observe: "both",
    guardOptions: { clock: w.clock.now },
  });
  const guard = sink.guard;
  if (guard === undefined) throw new Error("memory sink without a guard");
  await guard.deliver(w.envelope);
  await guard.deliver(w.second);
  sink.delete(w.second.key);
  sink.put("stray", { x: 1 });
  w.clock.advance(60_000);
  /** A plain ReconcileSink (not the memory sink object), so nested options can be replaced. */
  const plain = {
    name: "store",
    lagToleranceMs: 0,
    observe: sink.observe,
    guard,
    rewrite: sink.rewrite,
    remove: sink.remove,
    freezeOn: { duplicate: 100 },
    ...(digest ? { digest: sink.digest } : {}),
  };
  const report: ReconcileReport = await reconcile({
    ledger: w.ledger,
    sinks: [plain],
    clock: w.clock.now,
  });
  const repaired = await repair(report, {
    ledger: w.ledger,
    sinks: [plain],
    clock: w.clock.now,
    dryRun: true,
  });
  return { ...w, sink, plain, report, repaired, storeGuard: guard };
}
export type Reconciled = Awaited<ReturnType<typeof reconciled>>;

const env = (w: World) => w.envelope;
const led = (w: World) => w.ledger;

const seqOptions = [
  "options.clock",
  "options.ids",
  "options.algorithm",
  "options.maxPayloadBytes",
  "options.maxDepth",
];
const draftPaths = [
  "draft.producer",
  "draft.stream",
  "draft.seq",
  "draft.type",
  "draft.schema",
  "draft.schema.name",
  "draft.schema.version",
  "draft.payload",
  "draft.key",
  "draft.trace",
  "draft.trace.traceparent",
  "draft.trace.correlationId",
  "draft.parents",
  "draft.parents.0",
];
const envelopePaths = (p: string) => [
  `${p}.id`,
  `${p}.key`,
  `${p}.checksum`,
  `${p}.payload`,
  `${p}.schema`,
  `${p}.seq`,
  `${p}.time`,
  `${p}.trace`,
  `${p}.parents`,
];
const receiptPaths = (p: string) => [
  `${p}.sink`,
  `${p}.key`,
  `${p}.id`,
  `${p}.position`,
  `${p}.status`,
  `${p}.checksum`,
  `${p}.attempt`,
  `${p}.startedAt`,
  `${p}.finishedAt`,
  `${p}.sinkOffset`,
  `${p}.error`,
  `${p}.issues`,
  `${p}.fencingToken`,
  `${p}.signature`,
];
const emitPaths = (p: string) => [
  `${p}.schema`,
  `${p}.schema.name`,
  `${p}.schema.version`,
  `${p}.stream`,
  `${p}.key`,
  `${p}.trace`,
  `${p}.parents`,
];
const reportPaths = (p: string) => [
  `${p}.generatedAt`,
  `${p}.range`,
  `${p}.range.from`,
  `${p}.sinks`,
  `${p}.sinks.0`,
  `${p}.sinks.0.name`,
  `${p}.sinks.0.findings`,
  `${p}.sinks.0.findings.0`,
  `${p}.sinks.0.findings.0.key`,
  `${p}.sinks.0.findings.0.kind`,
  `${p}.sinks.0.counts`,
  `${p}.sinks.0.window`,
  `${p}.sinks.0.interrupted`,
];
const sinkPaths = (p: string) => [
  `${p}.name`,
  `${p}.lagToleranceMs`,
  `${p}.observe`,
  `${p}.digest`,
  `${p}.guard`,
  `${p}.rewrite`,
  `${p}.remove`,
  `${p}.freezeOn`,
  `${p}.freezeOn.duplicate`,
  `${p}.accepts`,
  `${p}.registry`,
];

export function hostileCases(): HostileCase[] {
  return [
    // ---------------------------------------------------------------- canonical, checksum
    def({
      fn: "canonicalize",
      setup: () => undefined,
      params: ["value", "options"],
      args: () => [
        { a: 1, b: [true, null, "x"] },
        { maxDepth: 64, maxBytes: 1 << 20 },
      ],
      call: (_, [v, o]) => canonicalize(v, o as never),
      nested: ["options.maxDepth", "options.maxBytes"],
    }),
    def({
      fn: "checksum",
      setup: () => undefined,
      params: ["value", "options"],
      args: () => [{ a: 1 }, { algorithm: "sha256", maxDepth: 64, maxBytes: 1 << 20 }],
      call: (_, [v, o]) => checksum(v, o as never),
      nested: ["options.algorithm", "options.maxDepth", "options.maxBytes"],
    }),
    def({
      fn: "checksumOf",
      setup: () => undefined,
      params: ["data", "options"],
      args: () => ["some bytes", { algorithm: "xxh64" }],
      call: (_, [d, o]) => checksumOf(d as never, o as never),
      nested: ["options.algorithm"],
    }),
    def({
      fn: "checksumsEqual",
      setup: () => checksum({ a: 1 }),
      params: ["a", "b"],
      args: (c) => [c, c],
      call: (_, [a, b]) => checksumsEqual(a as never, b as never),
    }),
    def({
      fn: "isChecksum",
      setup: () => undefined,
      params: ["value"],
      args: () => [checksum(1)],
      call: (_, [v]) => isChecksum(v),
      predicate: true,
    }),

    // ---------------------------------------------------------------- envelope
    def({
      fn: "seal",
      setup: () => createManualClock(T0),
      params: ["draft", "options"],
      args: (clock) => [
        {
          producer: "orders-svc",
          stream: "orders",
          seq: 1,
          type: "order.created",
          schema: { name: "order", version: 1 },
          payload: { orderId: "o-1" },
          key: "k-1",
          trace: { correlationId: "c-1" },
          parents: [],
        },
        { clock: clock.now, algorithm: "xxh64", maxPayloadBytes: 1 << 20, maxDepth: 32 },
      ],
      call: (_, [d, o]) => seal(d as never, o as never),
      nested: [...draftPaths, ...seqOptions],
    }),
    def({
      fn: "createSealer(...).seal",
      setup: () => createManualClock(T0),
      params: ["options", "draft"],
      args: (clock) => [
        { clock: clock.now, ids: createIdFactory({ clock: clock.now }), algorithm: "sha256" },
        {
          producer: "orders-svc",
          seq: 1,
          type: "order.created",
          schema: { name: "order", version: 1 },
          payload: { orderId: "o-1" },
        },
      ],
      call: (_, [o, d]) => createSealer(o as never)(d as never),
      nested: [...seqOptions, ...draftPaths],
    }),
    def({
      fn: "verify",
      setup: world,
      params: ["envelope", "options"],
      args: (w) => [w.envelope, { maxPayloadBytes: 1 << 20, maxDepth: 32 }],
      call: (_, [e, o]) => verify(e, o as never),
      nested: [...envelopePaths("envelope"), "options.maxPayloadBytes", "options.maxDepth"],
      envelope: env,
    }),
    def({
      fn: "assertIntact",
      setup: world,
      params: ["envelope", "options"],
      args: (w) => [w.envelope, { maxPayloadBytes: 1 << 20, maxDepth: 32 }],
      call: (_, [e, o]) => assertIntact(e, o as never),
      nested: [...envelopePaths("envelope"), "options.maxPayloadBytes", "options.maxDepth"],
      envelope: env,
    }),
    def({
      fn: "parseEnvelope",
      setup: world,
      params: ["input", "options"],
      args: (w) => [JSON.stringify(w.envelope), { verify: true, maxPayloadBytes: 1 << 20 }],
      call: (_, [i, o]) => parseEnvelope(i, o as never),
      nested: ["options.verify", "options.maxPayloadBytes", "options.maxDepth"],
      envelope: env,
    }),
    def({
      fn: "parseEnvelope (object input)",
      setup: world,
      params: ["input"],
      args: (w) => [JSON.parse(JSON.stringify(w.envelope))],
      call: (_, [i]) => parseEnvelope(i),
      nested: envelopePaths("input"),
      skipWhole: ["input"],
    }),
    def({
      fn: "toCloudEvent",
      setup: world,
      params: ["envelope", "options"],
      args: (w) => [w.envelope, { schemaBase: "https://schemas.example.com/" }],
      call: (_, [e, o]) => toCloudEvent(e as never, o as never),
      nested: [...envelopePaths("envelope"), "options.schemaBase"],
      envelope: env,
    }),
    def({
      fn: "fromCloudEvent",
      setup: async () => {
        const w = await world();
        return { w, event: JSON.parse(JSON.stringify(toCloudEvent(w.envelope))) as object };
      },
      params: ["input", "options"],
      args: ({ w, event }) => [
        event,
        {
          producer: "orders-svc",
          schema: { name: "order", version: 1 },
          seq: 1,
          clock: w.clock.now,
          ids: createIdFactory({ clock: w.clock.now }),
          algorithm: "xxh64",
        },
      ],
      call: (_, [i, o]) => fromCloudEvent(i, o as never),
      nested: [
        "input.id",
        "input.source",
        "input.type",
        "input.specversion",
        "input.data",
        "input.time",
        "input.dataschema",
        "input.subject",
        "options.producer",
        "options.schema",
        "options.schema.version",
        "options.seq",
        "options.clock",
        "options.ids",
        "options.algorithm",
        "options.schemaBase",
      ],
    }),
    def({
      fn: "parseCloudEvent",
      setup: async () => JSON.stringify(toCloudEvent((await world()).envelope)),
      params: ["input"],
      args: (text) => [text],
      call: (_, [i]) => parseCloudEvent(i),
    }),
    def({
      fn: "parseCloudEvent (object input)",
      setup: async () => JSON.parse(JSON.stringify(toCloudEvent((await world()).envelope))),
      params: ["input"],
      args: (event) => [event],
      call: (_, [i]) => parseCloudEvent(i),
      nested: ["input.id", "input.source", "input.type", "input.specversion", "input.data"],
      skipWhole: ["input"],
    }),
    def({
      fn: "idempotencyKey",
      setup: () => undefined,
      params: ["parts"],
      args: () => [{ order: "o-1", line: 2, ok: true }],
      call: (_, [p]) => idempotencyKey(p as never),
      nested: ["parts.order", "parts.line"],
    }),
    def({
      fn: "sequenceKey",
      setup: () => undefined,
      params: ["producer", "stream", "seq"],
      args: () => ["orders-svc", "orders", 1],
      call: (_, [p, s, n]) => sequenceKey(p as never, s as never, n as never),
    }),
    def({
      fn: "createIdFactory (+next)",
      setup: () => createManualClock(T0),
      params: ["options"],
      args: (clock) => [{ clock: clock.now, random: createSeededRandom(1) }],
      call: (_, [o]) => createIdFactory(o as never)(),
      nested: ["options.clock", "options.random"],
    }),
    def({
      fn: "idTime",
      setup: () => createIdFactory({ clock: () => T0 })(),
      params: ["id"],
      args: (id) => [id],
      call: (_, [i]) => idTime(i as never),
    }),
    def({
      fn: "isId",
      setup: () => createIdFactory({ clock: () => T0 })(),
      params: ["value"],
      args: (id) => [id],
      call: (_, [v]) => isId(v),
      predicate: true,
    }),

    // ---------------------------------------------------------------- ledger: MemoryLedger
    def({
      fn: "MemoryLedger constructor (+append, head)",
      setup: world,
      params: ["options"],
      args: (w) => [{ clock: w.clock.now, maxPayloadBytes: 1 << 20, maxDepth: 32 }],
      call: async (w, [o]) => {
        const ledger = new MemoryLedger(o as never);
        await ledger.append([w.envelope]);
        return ledger.head();
      },
      nested: ["options.clock", "options.maxPayloadBytes", "options.maxDepth"],
    }),
    def({
      fn: "ledger.append",
      setup: world,
      params: ["envelopes"],
      args: (w) => [[w.outside]],
      call: (w, [e]) => w.ledger.append(e as never),
      nested: ["envelopes.0", "envelopes.1", ...envelopePaths("envelopes.0")],
      ledger: led,
      envelope: (w) => w.outside,
    }),
    def({
      fn: "ledger.get",
      setup: world,
      params: ["key"],
      args: (w) => [w.envelope.key],
      call: (w, [k]) => w.ledger.get(k as never),
      ledger: led,
    }),
    def({
      fn: "ledger.getById",
      setup: world,
      params: ["id"],
      args: (w) => [w.envelope.id],
      call: (w, [k]) => w.ledger.getById(k as never),
      ledger: led,
    }),
    def({
      fn: "ledger.scan",
      setup: world,
      params: ["query"],
      args: () => [{ from: 1, to: 2, producer: "orders-svc", stream: "orders", limit: 10 }],
      call: (w, [q]) => w.ledger.scan(q as never),
      nested: ["query.from", "query.to", "query.producer", "query.stream", "query.limit"],
      iterate: true,
      ledger: led,
    }),
    def({
      fn: "ledger.reserveSequence",
      setup: world,
      params: ["producer", "count"],
      args: () => ["orders-svc", 5],
      call: (w, [p, n]) => w.ledger.reserveSequence(p as never, n as never),
      ledger: led,
    }),
    def({
      fn: "ledger.putReceipt",
      setup: world,
      params: ["receipt"],
      args: (w) => [w.fresh],
      call: (w, [r]) => w.ledger.putReceipt(r as never),
      nested: [...receiptPaths("receipt"), "receipt.error.code", "receipt.issues.0"],
      ledger: led,
    }),
    def({
      fn: "ledger.getReceipts",
      setup: world,
      params: ["sink", "key"],
      args: (w) => ["warehouse", w.envelope.key],
      call: (w, [s, k]) => w.ledger.getReceipts(s as never, k as never),
      ledger: led,
    }),
    def({
      fn: "ledger.scanReceipts",
      setup: world,
      params: ["sink", "range"],
      args: () => ["warehouse", { from: 1, to: 2 }],
      call: (w, [s, r]) => w.ledger.scanReceipts(s as never, r as never),
      nested: ["range.from", "range.to"],
      iterate: true,
      ledger: led,
    }),
    def({
      fn: "ledger.getWatermark",
      setup: world,
      params: ["sink"],
      args: () => ["warehouse"],
      call: (w, [s]) => w.ledger.getWatermark(s as never),
      ledger: led,
    }),
    def({
      fn: "ledger.advanceWatermark",
      setup: world,
      params: ["sink", "position"],
      args: () => ["warehouse", 1],
      call: (w, [s, p]) => w.ledger.advanceWatermark(s as never, p as never),
      ledger: led,
    }),
    def({
      fn: "ledger.claim",
      setup: world,
      params: ["sink", "key", "options"],
      args: (w) => [
        "warehouse",
        w.second.key,
        { owner: "me", ttlMs: 1000, replay: false, takeOverFrom: "other" },
      ],
      call: (w, [s, k, o]) => w.ledger.claim(s as never, k as never, o as never),
      nested: ["options.owner", "options.ttlMs", "options.replay", "options.takeOverFrom"],
      ledger: led,
    }),
    def({
      fn: "ledger.renewClaim",
      setup: async () => {
        const w = await world();
        const got = await w.ledger.claim("warehouse", w.second.key, { owner: "me", ttlMs: 1000 });
        if (got.status !== "acquired") throw new Error("fixture claim not acquired");
        return { w, claim: got.claim };
      },
      params: ["claim", "ttlMs"],
      args: ({ claim }) => [claim, 1000],
      call: ({ w }, [c, t]) => w.ledger.renewClaim(c as never, t as never),
      nested: ["claim.sink", "claim.key", "claim.owner", "claim.token", "claim.fencingToken"],
      ledger: ({ w }) => w.ledger,
    }),
    def({
      fn: "ledger.releaseClaim",
      setup: async () => {
        const w = await world();
        const got = await w.ledger.claim("warehouse", w.second.key, { owner: "me", ttlMs: 1000 });
        if (got.status !== "acquired") throw new Error("fixture claim not acquired");
        return { w, claim: got.claim };
      },
      params: ["claim"],
      args: ({ claim }) => [claim],
      call: ({ w }, [c]) => w.ledger.releaseClaim(c as never),
      nested: ["claim.sink", "claim.key", "claim.owner", "claim.token", "claim.expiresAt"],
      ledger: ({ w }) => w.ledger,
    }),
    def({
      fn: "ledger.getMany",
      setup: world,
      params: ["keys"],
      args: (w) => [[w.envelope.key, w.second.key]],
      call: (w, [k]) => w.ledger.getMany(k as never),
      nested: ["keys.0", "keys.1"],
      ledger: led,
    }),
    def({
      fn: "ledger.claimMany",
      setup: world,
      params: ["sink", "keys", "options"],
      args: (w) => [
        "warehouse",
        [w.second.key],
        { owner: "me", ttlMs: 1000, replay: false, takeOverFrom: "other" },
      ],
      call: (w, [s, k, o]) => w.ledger.claimMany(s as never, k as never, o as never),
      nested: [
        "keys.0",
        "options.owner",
        "options.ttlMs",
        "options.replay",
        "options.takeOverFrom",
      ],
      ledger: led,
    }),
    def({
      fn: "ledger.releaseClaims",
      setup: async () => {
        const w = await world();
        const got = await w.ledger.claim("warehouse", w.second.key, { owner: "me", ttlMs: 1000 });
        if (got.status !== "acquired") throw new Error("fixture claim not acquired");
        return { w, claim: got.claim };
      },
      params: ["claims"],
      args: ({ claim }) => [[claim]],
      call: ({ w }, [c]) => w.ledger.releaseClaims(c as never),
      nested: ["claims.0", "claims.0.token", "claims.0.fencingToken"],
      ledger: ({ w }) => w.ledger,
    }),
    def({
      fn: "ledger.putReceipts",
      setup: world,
      params: ["receipts"],
      args: (w) => [[w.fresh]],
      call: (w, [r]) => w.ledger.putReceipts(r as never),
      nested: ["receipts.0", ...receiptPaths("receipts.0").slice(0, 4)],
      ledger: led,
    }),
    def({
      fn: "ledger.compactReceipts",
      setup: world,
      params: ["sink", "input"],
      args: () => ["warehouse", { actor: "ops", reason: "retention", through: 0 }],
      call: (w, [s, i]) => w.ledger.compactReceipts(s as never, i as never),
      nested: ["input.actor", "input.reason", "input.through"],
      ledger: led,
    }),
    def({
      fn: "ledger.getCheckpoint",
      setup: world,
      params: ["sink"],
      args: () => ["warehouse"],
      call: (w, [s]) => w.ledger.getCheckpoint(s as never),
      ledger: led,
    }),
    def({
      fn: "ledger.putCheckpoint",
      setup: world,
      params: ["checkpoint"],
      args: () => [
        {
          sink: "warehouse",
          through: 0,
          at: ISO,
          digest: "xxh64sum:0000000000000000",
        },
      ],
      call: (w, [c]) => w.ledger.putCheckpoint(c as never),
      nested: ["checkpoint.sink", "checkpoint.through", "checkpoint.at", "checkpoint.digest"],
      ledger: led,
    }),
    def({
      fn: "ledger.digestBuckets",
      setup: world,
      params: ["split", "scope"],
      args: () => [{ from: 0, to: 2 ** 32, buckets: 16 }, { through: 2 }],
      call: (w, [sp, sc]) => w.ledger.digestBuckets(sp as never, sc as never),
      nested: ["split.from", "split.to", "split.buckets", "scope.through"],
      ledger: led,
    }),
    def({
      fn: "ledger.digestPositions",
      setup: world,
      params: ["range", "scope"],
      args: () => [{ from: 0, to: 2 ** 32 }, { through: 2 }],
      call: (w, [r, sc]) => w.ledger.digestPositions(r as never, sc as never),
      nested: ["range.from", "range.to", "scope.through"],
      ledger: led,
    }),
    def({
      fn: "ledger.freezeSink",
      setup: world,
      params: ["sink", "input"],
      args: () => ["warehouse", { reason: "drift", actor: "ops", origin: "manual" }],
      call: (w, [s, i]) => w.ledger.freezeSink(s as never, i as never),
      nested: ["input.reason", "input.actor", "input.origin"],
      ledger: led,
    }),
    def({
      fn: "ledger.unfreezeSink",
      setup: async () => {
        const w = await world();
        await w.ledger.freezeSink("warehouse", { reason: "drift", actor: "ops", origin: "manual" });
        return w;
      },
      params: ["sink", "input"],
      args: () => ["warehouse", { reason: "fixed", actor: "ops", origin: "manual" }],
      call: (w, [s, i]) => w.ledger.unfreezeSink(s as never, i as never),
      nested: ["input.reason", "input.actor", "input.origin"],
      ledger: led,
    }),
    def({
      fn: "ledger.getFreezes",
      setup: world,
      params: ["sink"],
      args: () => ["warehouse"],
      call: (w, [s]) => w.ledger.getFreezes(s as never),
      ledger: led,
    }),
    def({
      fn: "ledger.appendAudit",
      setup: world,
      params: ["input"],
      args: (w) => [
        {
          actor: "ops",
          action: "replay",
          reason: "lost",
          subject: { sink: "warehouse", key: w.envelope.key, position: 1 },
          before: null,
          after: w.envelope.checksum,
          details: { n: 1 },
          phase: "intent",
        },
      ],
      call: (w, [i]) => w.ledger.appendAudit(i as never),
      nested: [
        "input.actor",
        "input.action",
        "input.reason",
        "input.subject",
        "input.subject.sink",
        "input.subject.key",
        "input.subject.position",
        "input.before",
        "input.after",
        "input.details",
        "input.phase",
        "input.intent",
      ],
      ledger: led,
    }),
    def({
      fn: "ledger.verifyAudit",
      setup: async () => {
        const w = await world();
        const head = (await w.ledger.verifyAudit()) as { head?: unknown };
        return { w, head: head.head };
      },
      params: ["options"],
      args: ({ head }) => [{ head }],
      call: ({ w }, [o]) => w.ledger.verifyAudit(o as never),
      nested: ["options.head", "options.head.index", "options.head.hash"],
      ledger: ({ w }) => w.ledger,
    }),
    def({
      fn: "verifyAuditChain",
      setup: async () => {
        const w = await world();
        const records: unknown[] = [];
        for await (const r of w.ledger.scanAudit()) records.push(r);
        return records;
      },
      params: ["records", "head"],
      args: (records) => [records, undefined],
      call: (_, [r, h]) => verifyAuditChain(r as never, h as never),
      // A string is iterable, by character: verifyAuditChain refuses it (20 M one-character
      // "records", each a problem, once exhausted the heap).
      nested: ["records.0", "records.0.hash", "records.0.index", "records.0.details", "head.hash"],
    }),
    def({
      fn: "auditHash",
      setup: async () => {
        const w = await world();
        for await (const r of w.ledger.scanAudit()) return r;
        throw new Error("no audit record");
      },
      params: ["record"],
      args: (r) => [r],
      call: (_, [r]) => auditHash(r as never),
      nested: ["record.actor", "record.details", "record.index", "record.subject"],
    }),
    def({
      fn: "entryHash",
      setup: world,
      params: ["position", "appendedAt", "envelope"],
      args: (w) => [1, ISO, w.envelope],
      call: (_, [p, a, e]) => entryHash(p as never, a as never, e as never),
      nested: envelopePaths("envelope"),
      envelope: env,
    }),
    def({
      fn: "planAppend",
      setup: world,
      params: ["envelopes", "byKey", "byId"],
      args: (w) => [[w.outside], () => undefined, () => undefined],
      call: (_, [e, k, i]) => planAppend(e as never, k as never, i as never),
      nested: ["envelopes.0"],
      envelope: (w) => w.outside,
    }),

    // ---------------------------------------------------------------- ledger: FileLedger
    def({
      fn: "FileLedger.open (+append, close)",
      setup: async () => {
        const w = await world();
        const dir = mkdtempSync(join(tmpdir(), "sinkproof-hostile-"));
        return { w, dir, opened: [] as FileLedger[] };
      },
      params: ["directory", "options"],
      args: ({ w, dir }) => [
        join(dir, "ledger"),
        { clock: w.clock.now, maxPayloadBytes: 1 << 20, segmentBytes: 1 << 16, cacheEntries: 8 },
      ],
      call: async ({ w, opened }, [d, o]) => {
        const ledger = await FileLedger.open(d as never, o as never);
        opened.push(ledger);
        await ledger.append([w.envelope]);
        await ledger.close();
      },
      nested: [
        "options.clock",
        "options.maxPayloadBytes",
        "options.maxDepth",
        "options.segmentBytes",
        "options.cacheEntries",
      ],
      cwd: ({ dir }) => dir,
      cleanup: async ({ dir, opened }) => {
        for (const l of opened) await l.close().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    }),

    // ---------------------------------------------------------------- delivery
    def({
      fn: "guardSink (+deliver)",
      setup: world,
      params: ["options"],
      args: (w) => [
        {
          name: "warehouse",
          ledger: w.ledger,
          write: w.write,
          validate: orderV1,
          concurrency: 2,
          claimTtlMs: 5000,
          owner: "me",
          metrics: createMemoryMetrics(),
          signReceipts: w.signingKey,
          clock: w.clock.now,
          pollMs: 10,
          accepts: { order: [1, 2] },
          registry: w.registry,
          freezeCheckMs: 1000,
        },
      ],
      call: async (w, [o]) => {
        const guard = guardSink(o as never);
        return guard.deliver(w.second);
      },
      nested: [
        "options.name",
        "options.ledger",
        "options.write",
        "options.validate",
        "options.retry",
        "options.concurrency",
        "options.claimTtlMs",
        "options.owner",
        "options.metrics",
        "options.signReceipts",
        "options.signReceipts.keyId",
        "options.signReceipts.secret",
        "options.clock",
        "options.pollMs",
        "options.accepts",
        "options.accepts.order",
        "options.accepts.order.0",
        "options.registry",
        "options.freezeCheckMs",
      ],
      ledger: led,
    }),
    def({
      fn: "guardSink retry (+deliver through one failure)",
      setup: world,
      params: ["options"],
      args: (w) => {
        let calls = 0;
        return [
          {
            name: "warehouse",
            ledger: w.ledger,
            write: async () => {
              if (calls++ === 0) throw new Error("transient sink failure");
            },
            retry: {
              attempts: 3,
              baseDelayMs: 1,
              maxDelayMs: 2,
              retryable: () => true,
              random: () => 0.5,
              sleep: async () => undefined,
            },
          },
        ];
      },
      call: async (w, [o]) => guardSink(o as never).deliver(w.second),
      nested: [
        "options.retry.attempts",
        "options.retry.baseDelayMs",
        "options.retry.maxDelayMs",
        "options.retry.retryable",
        "options.retry.random",
        "options.retry.sleep",
      ],
      skipWhole: ["options"],
      ledger: led,
    }),
    def({
      fn: "guard.deliver",
      setup: world,
      params: ["envelope", "options"],
      args: (w) => [
        w.second,
        { replay: false, signal: new AbortController().signal, onWait: () => {} },
      ],
      call: (w, [e, o]) => w.guard.deliver(e as never, o as never),
      nested: [...envelopePaths("envelope"), "options.replay", "options.signal", "options.onWait"],
      ledger: led,
      envelope: (w) => w.second,
    }),
    def({
      fn: "guard.deliverAll",
      setup: world,
      params: ["envelopes", "options"],
      args: (w) => [[w.second], { replay: false }],
      call: (w, [e, o]) => w.guard.deliverAll(e as never, o as never),
      nested: ["envelopes.0", "envelopes.1", "options.replay", "options.signal", "options.onWait"],
      progressive: ["envelopes.1"],
      ledger: led,
      envelope: (w) => w.second,
    }),
    def({
      fn: "guard.deliverMany",
      setup: world,
      params: ["envelopes", "options"],
      args: (w) => [[w.second], { replay: false }],
      call: (w, [e, o]) => w.guard.deliverMany(e as never, o as never),
      nested: [
        "envelopes.0",
        "envelopes.0.key",
        "envelopes.0.checksum",
        "options.replay",
        "options.signal",
        "options.onWait",
      ],
      ledger: led,
      envelope: (w) => w.second,
    }),
    def({
      fn: "guard.freeze",
      setup: world,
      params: ["reason", "options"],
      args: () => ["drift", { actor: "ops", origin: "manual" }],
      call: (w, [r, o]) => w.guard.freeze(r as never, o as never),
      nested: ["options.actor", "options.origin"],
      ledger: led,
    }),
    def({
      fn: "guard.unfreeze",
      setup: async () => {
        const w = await world();
        await w.guard.freeze("drift", { actor: "ops", origin: "manual" });
        return w;
      },
      params: ["options"],
      args: () => [{ reason: "fixed", actor: "ops", origin: "manual" }],
      call: (w, [o]) => w.guard.unfreeze(o as never),
      nested: ["options.reason", "options.actor", "options.origin"],
      ledger: led,
    }),
    def({
      fn: "createProducer (+emit)",
      setup: world,
      params: ["options"],
      args: (w) => [
        {
          id: "orders-svc",
          ledger: w.ledger,
          clock: w.clock.now,
          ids: createIdFactory({ clock: w.clock.now }),
          validate: { "order.created": orderV1 },
          registry: w.registry,
          algorithm: "sha256",
          sequenceBlock: 10,
          metrics: createMemoryMetrics(),
        },
      ],
      call: async (_, [o]) =>
        createProducer(o as never).emit(
          "order.created",
          { orderId: "o-9", total: 9 },
          { schema: { name: "order", version: 1 } },
        ),
      nested: [
        "options.id",
        "options.ledger",
        "options.clock",
        "options.ids",
        "options.validate",
        "options.validate[order.created]",
        "options.registry",
        "options.algorithm",
        "options.sequenceBlock",
        "options.metrics",
      ],
      ledger: led,
    }),
    def({
      fn: "producer.emit",
      setup: async () => {
        const w = await world();
        return {
          w,
          producer: createProducer({ id: "orders-svc", ledger: w.ledger, clock: w.clock.now }),
        };
      },
      params: ["type", "payload", "options"],
      args: () => [
        "order.created",
        { orderId: "o-9", total: 9 },
        { schema: { name: "order", version: 1 }, stream: "orders", key: "k-9", parents: [] },
      ],
      call: ({ producer }, [t, p, o]) => producer.emit(t as never, p, o as never),
      nested: ["payload.orderId", ...emitPaths("options"), "options.trace.traceparent"],
      ledger: ({ w }) => w.ledger,
    }),
    def({
      fn: "producer.emitMany",
      setup: async () => {
        const w = await world();
        return {
          w,
          producer: createProducer({ id: "orders-svc", ledger: w.ledger, clock: w.clock.now }),
        };
      },
      params: ["items"],
      args: () => [
        [
          {
            type: "order.created",
            payload: { orderId: "o-9" },
            schema: { name: "order", version: 1 },
          },
          {
            type: "order.created",
            payload: { orderId: "o-10" },
            schema: { name: "order", version: 1 },
          },
        ],
      ],
      call: ({ producer }, [i]) => producer.emitMany(i as never),
      nested: ["items.0", "items.1", "items.0.type", "items.0.payload", ...emitPaths("items.0")],
      ledger: ({ w }) => w.ledger,
    }),
    def({
      fn: "createPipeline (+publish, drain)",
      setup: async () => {
        const w = await world();
        return {
          w,
          producer: createProducer({ id: "orders-svc", ledger: w.ledger, clock: w.clock.now }),
        };
      },
      params: ["options"],
      args: ({ w, producer }) => [{ producer, sinks: [w.guard] }],
      call: async (_, [o]) => {
        const pipeline = createPipeline(o as never);
        await pipeline.publish(
          "order.created",
          { orderId: "o-9" },
          { schema: { name: "order", version: 1 } },
        );
        return pipeline.drain();
      },
      nested: ["options.producer", "options.sinks", "options.sinks.0", "options.sinks.1"],
      ledger: ({ w }) => w.ledger,
    }),
    def({
      fn: "pipeline.publish",
      setup: async () => {
        const w = await world();
        const producer = createProducer({ id: "orders-svc", ledger: w.ledger, clock: w.clock.now });
        return { w, pipeline: createPipeline({ producer, sinks: [w.guard] }) };
      },
      params: ["type", "payload", "options"],
      args: () => ["order.created", { orderId: "o-9" }, { schema: { name: "order", version: 1 } }],
      call: ({ pipeline }, [t, p, o]) => pipeline.publish(t as never, p, o as never),
      nested: ["payload.orderId", ...emitPaths("options")],
      ledger: ({ w }) => w.ledger,
    }),
    def({
      fn: "pipeline.drain",
      setup: async () => {
        const w = await world();
        const producer = createProducer({ id: "orders-svc", ledger: w.ledger, clock: w.clock.now });
        return { w, pipeline: createPipeline({ producer, sinks: [w.guard] }) };
      },
      params: ["options"],
      args: () => [{ onProgress: () => {} }],
      call: ({ pipeline }, [o]) => pipeline.drain(o as never),
      nested: ["options.onProgress"],
      ledger: ({ w }) => w.ledger,
    }),
    def({
      fn: "signReceipt",
      setup: world,
      params: ["receipt", "key"],
      args: (w) => [w.receipt, w.signingKey],
      call: (_, [r, k]) => signReceipt(r as never, k as never),
      nested: [...receiptPaths("receipt"), "key.keyId", "key.secret"],
    }),
    def({
      fn: "verifyReceipt",
      setup: world,
      params: ["receipt", "keys"],
      args: (w) => [w.signed, { k1: w.signingKey.secret }],
      call: (_, [r, k]) => verifyReceipt(r as never, k as never),
      nested: [
        ...receiptPaths("receipt"),
        "receipt.signature.keyId",
        "receipt.signature.value",
        "keys.k1",
      ],
    }),
    def({
      fn: "permanent",
      setup: () => undefined,
      params: ["error"],
      args: () => [new Error("permanent failure")],
      call: (_, [e]) => permanent(e),
    }),
    def({
      fn: "isRetryable",
      setup: () => undefined,
      params: ["error"],
      args: () => [new Error("x")],
      call: (_, [e]) => isRetryable(e),
      predicate: true,
    }),
    def({
      fn: "isSafeParseSchema",
      setup: () => undefined,
      params: ["value"],
      args: () => [orderV1],
      call: (_, [v]) => isSafeParseSchema(v),
      predicate: true,
    }),
    def({
      fn: "schemaIssues",
      setup: () => undefined,
      params: ["schema", "value", "base"],
      args: () => [orderV1, { orderId: 1 }, "$.payload"],
      call: (_, [s, v, b]) => schemaIssues(s as never, v, b as never),
    }),
    def({
      fn: "isSinkproofError",
      setup: () => undefined,
      params: ["error"],
      args: () => [new Error("x")],
      call: (_, [e]) => isSinkproofError(e),
      predicate: true,
    }),
    def({
      fn: "isTransientLedgerError",
      setup: () => undefined,
      params: ["error"],
      args: () => [new Error("x")],
      call: (_, [e]) => isTransientLedgerError(e),
      predicate: true,
    }),
    def({
      fn: "isFinalStatus",
      setup: () => undefined,
      params: ["status"],
      args: () => ["written"],
      call: (_, [s]) => isFinalStatus(s as never),
      predicate: true,
    }),
    def({
      fn: "metricId",
      setup: () => undefined,
      params: ["name", "labels"],
      args: () => ["sinkproof_deliveries_total", { sink: "warehouse" }],
      call: (_, [n, l]) => metricId(n as never, l as never),
      nested: ["labels.sink"],
    }),

    // ---------------------------------------------------------------- reconcile
    def({
      fn: "reconcile",
      setup: () => reconciled(false),
      params: ["options"],
      args: (r) => [
        {
          ledger: r.ledger,
          sinks: [r.plain],
          clock: r.clock.now,
          range: { from: 1, to: 2 },
          onProgress: () => {},
          maxFindings: 100,
          freezeOn: { duplicate: 100 },
          actor: "ops",
        },
      ],
      call: (_, [o]) => reconcile(o as never),
      nested: [
        "options.ledger",
        "options.sinks",
        "options.sinks.0",
        "options.sinks.1",
        ...sinkPaths("options.sinks.0"),
        "options.clock",
        "options.range",
        "options.range.from",
        "options.range.to",
        "options.onProgress",
        "options.maxFindings",
        "options.freezeOn",
        "options.freezeOn.missing-lost",
        "options.actor",
        "options.concurrency",
        "options.incremental",
        "options.maxKeysInMemory",
      ],
      ledger: (r) => r.ledger,
    }),
    def({
      fn: "reconcile (digest sink)",
      setup: () => reconciled(true),
      params: ["options"],
      args: (r) => [{ ledger: r.ledger, sinks: [r.plain], clock: r.clock.now }],
      call: (_, [o]) => reconcile(o as never),
      nested: [
        "options.sinks.0.digest",
        "options.sinks.0.digest.digest",
        "options.sinks.0.digest.observeRange",
      ],
      skipWhole: ["options"],
      ledger: (r) => r.ledger,
    }),
    def({
      fn: "repair",
      setup: () => reconciled(false),
      params: ["report", "options"],
      args: (r) => [
        r.report,
        {
          ledger: r.ledger,
          sinks: [r.plain],
          dryRun: false,
          actor: "ops",
          reason: "nightly",
          includeLate: false,
          clock: r.clock.now,
        },
      ],
      call: (_, [rep, o]) => repair(rep as never, o as never),
      nested: [
        ...reportPaths("report"),
        "options.ledger",
        "options.sinks",
        "options.sinks.0",
        ...sinkPaths("options.sinks.0"),
        "options.dryRun",
        "options.actor",
        "options.reason",
        "options.includeLate",
        "options.clock",
      ],
      ledger: (r) => r.ledger,
    }),
    def({
      fn: "renderReport",
      setup: () => reconciled(false),
      params: ["report", "options"],
      args: (r) => [r.report, { format: "html", repair: r.repaired, topFindings: 5, title: "t" }],
      call: (_, [rep, o]) => renderReport(rep as never, o as never),
      nested: [
        ...reportPaths("report"),
        "options.format",
        "options.repair",
        "options.repair.actions",
        "options.repair.sinks",
        "options.topFindings",
        "options.title",
      ],
    }),
    def({
      fn: "renderReport (markdown)",
      setup: () => reconciled(false),
      params: ["report", "options"],
      args: (r) => [r.report, { format: "markdown", repair: r.repaired }],
      call: (_, [rep, o]) => renderReport(rep as never, o as never),
      nested: reportPaths("report"),
      skipWhole: ["options"],
    }),
    def({
      fn: "createMonitor (+runOnce)",
      setup: () => reconciled(false),
      params: ["options"],
      args: (r) => [
        {
          ledger: r.ledger,
          sinks: [r.plain],
          clock: r.clock.now,
          everyMs: 1000,
          fullSweepEveryMs: 86_400_000,
          onAlert: () => {},
          onPass: () => {},
          metrics: createMemoryMetrics(),
          lagAlertMs: 1000,
          baseline: { alpha: 0.2, sigmas: 3, warmup: 10 },
          concurrency: 2,
          maxFindings: 100,
          freezeOn: { duplicate: 100 },
          actor: "ops",
        },
      ],
      // A value only a pass can find wrong (a clock that answers NaN) fails that pass,
      // reported on it and alerted, never thrown: runOnce resolves.
      call: (_, [o]) => createMonitor(o as never).runOnce(),
      nested: [
        "options.ledger",
        "options.sinks",
        "options.sinks.0",
        ...sinkPaths("options.sinks.0"),
        "options.clock",
        "options.everyMs",
        "options.fullSweepEveryMs",
        "options.onAlert",
        "options.onPass",
        "options.metrics",
        "options.lagAlertMs",
        "options.baseline",
        "options.baseline.alpha",
        "options.baseline.sigmas",
        "options.baseline.warmup",
        "options.concurrency",
        "options.maxFindings",
        "options.freezeOn",
        "options.actor",
      ],
    }),
    def({
      fn: "verifySinkPayloads",
      setup: () => reconciled(true),
      params: ["options"],
      args: (r) => [
        {
          sink: r.plain,
          ledger: r.ledger,
          sample: { rows: 10 },
          seed: 1,
          via: "observe",
          maxProblems: 10,
        },
      ],
      call: (_, [o]) => verifySinkPayloads(o as never),
      nested: [
        "options.sink",
        ...sinkPaths("options.sink"),
        "options.ledger",
        "options.sample",
        "options.sample.rows",
        "options.seed",
        "options.via",
        "options.maxProblems",
      ],
      ledger: (r) => r.ledger,
    }),
    def({
      fn: "digestIndex (+digest, observeRange)",
      setup: world,
      params: ["rows"],
      args: (w) => [[{ key: w.envelope.key, checksum: w.envelope.checksum }]],
      call: async (_, [rows]) => {
        const index = digestIndex(rows as never);
        await index.digest({ from: 0, to: 2 ** 32, buckets: 4 });
        for await (const _o of index.observeRange({ from: 0, to: 2 ** 32 })) {
          // read to the end
        }
      },
      nested: ["rows.0", "rows.0.key", "rows.0.checksum", "rows.0.count"],
    }),
    def({
      fn: "rowHash",
      setup: world,
      params: ["key", "checksum"],
      args: (w) => [w.envelope.key, w.envelope.checksum],
      call: (_, [k, c]) => rowHash(k as never, c as never),
    }),
    def({
      fn: "formatDigest",
      setup: () => undefined,
      params: ["hiSum", "loSum"],
      args: () => [1, 2n],
      call: (_, [h, l]) => formatDigest(h as never, l as never),
    }),

    // ---------------------------------------------------------------- testing
    def({
      fn: "createMemorySink",
      setup: world,
      params: ["options"],
      args: (w) => [
        {
          name: "store",
          ledger: w.ledger,
          guardOptions: { clock: w.clock.now },
          faults: { seed: 1, drop: 0, duplicate: 0, corrupt: 0, offline: { from: 100, to: 200 } },
          observe: "checksum",
          digest: true,
          lagToleranceMs: 0,
        },
      ],
      call: async (w, [o]) => {
        const sink = createMemorySink(o as never);
        await sink.guard?.deliver(w.second);
        return [...sink.observe()];
      },
      nested: [
        "options.name",
        "options.ledger",
        "options.guardOptions",
        "options.guardOptions.clock",
        "options.guardOptions.retry",
        "options.faults",
        "options.faults.seed",
        "options.faults.drop",
        "options.faults.duplicate",
        "options.faults.corrupt",
        "options.faults.offline",
        "options.faults.offline.from",
        "options.observe",
        "options.digest",
        "options.lagToleranceMs",
      ],
      ledger: led,
    }),
    def({
      fn: "jsonlSink",
      setup: () => ({ dir: mkdtempSync(join(tmpdir(), "sinkproof-hostile-jsonl-")) }),
      params: ["options"],
      args: ({ dir }) => [
        {
          name: "archive",
          path: join(dir, "a.jsonl"),
          observe: "both",
          fsync: false,
          lagToleranceMs: 0,
        },
      ],
      call: async (_, [o]) => {
        const sink = await jsonlSink(o as never);
        await sink.close();
      },
      nested: [
        "options.name",
        "options.path",
        "options.observe",
        "options.fsync",
        "options.lagToleranceMs",
      ],
      cleanup: ({ dir }) => rmSync(dir, { recursive: true, force: true }),
    }),
    def({
      fn: "postgresTableSink",
      setup: () => undefined,
      params: ["options"],
      args: () => [
        {
          name: "orders",
          pool: { query: async () => ({ rows: [], rowCount: 0 }) },
          table: "orders_sink",
          schema: "public",
          observe: "both",
          lagToleranceMs: 0,
        },
      ],
      call: async (_, [o]) => {
        const sink = postgresTableSink(o as never);
        await sink.remove("k");
      },
      nested: [
        "options.name",
        "options.pool",
        "options.table",
        "options.schema",
        "options.observe",
        "options.lagToleranceMs",
      ],
    }),
    def({
      fn: "memorySink.put",
      setup: () => reconciled(true),
      params: ["key", "payload", "count"],
      args: () => ["k-new", { a: 1 }, 1],
      call: (r, [k, p, c]) => r.sink.put(k as never, p as never, c as never),
    }),
    def({
      fn: "memorySink.tamper",
      setup: () => reconciled(true),
      params: ["key", "change"],
      args: (r) => [r.envelope.key, { payload: { forged: true }, checksum: r.envelope.checksum }],
      call: (r, [k, c]) => r.sink.tamper(k as never, c as never),
      nested: ["change.payload", "change.checksum"],
    }),
    def({
      fn: "memorySink.get/delete/setOffline",
      setup: () => reconciled(true),
      params: ["key", "offline"],
      args: (r) => [r.envelope.key, false],
      call: (r, [k, o]) => {
        r.sink.get(k as never);
        r.sink.delete(k as never);
        r.sink.setOffline(o as never);
      },
    }),
    def({
      fn: "memorySink.digest.digest",
      setup: () => reconciled(true),
      params: ["split"],
      args: () => [{ from: 0, to: 2 ** 32, buckets: 4 }],
      call: (r, [s]) => r.sink.digest?.digest(s as never),
      nested: ["split.from", "split.to", "split.buckets"],
    }),
    def({
      fn: "memorySink.digest.observeRange",
      setup: () => reconciled(true),
      params: ["range"],
      args: () => [{ from: 0, to: 2 ** 32 }],
      call: (r, [s]) => r.sink.digest?.observeRange(s as never),
      nested: ["range.from", "range.to"],
      iterate: true,
    }),
    def({
      fn: "createManualClock (+advance, set)",
      setup: () => undefined,
      params: ["start", "advance", "set"],
      args: () => [T0, 10, T0 + 100],
      call: (_, [s, a, t]) => {
        const clock = createManualClock(s as never);
        clock.advance(a as never);
        clock.set(t as never);
        return clock.now();
      },
    }),
    def({
      fn: "createSeededRandom (+next)",
      setup: () => undefined,
      params: ["seed"],
      args: () => [1],
      call: (_, [s]) => createSeededRandom(s as never)(),
    }),
    def({
      fn: "simulate",
      setup: () => undefined,
      params: ["options"],
      args: () => [
        {
          seed: 1,
          steps: 5,
          sinks: { store: () => createMemorySink({ name: "store" }) },
          faults: { crash: 0.1, drop: 0.1, ledgerFail: 0.1, skewMs: 100 },
          producers: 1,
          deliverers: 1,
          reconcilers: 1,
          events: 2,
          payload: (producer: string, n: number) => ({ producer, n }),
          claimTtlMs: 100,
          lagToleranceMs: 100,
          schedule: [{ step: 1, kind: "crash", process: "producer-1", restartMs: 10 }],
          shrink: false,
        },
      ],
      call: async (_, [o]) => (await simulate(o as never)).ok,
      nested: [
        "options.seed",
        "options.steps",
        "options.sinks",
        "options.sinks.store",
        "options.faults",
        "options.faults.crash",
        "options.faults.drop",
        "options.faults.ledgerFail",
        "options.faults.skewMs",
        "options.producers",
        "options.deliverers",
        "options.reconcilers",
        "options.events",
        "options.payload",
        "options.claimTtlMs",
        "options.lagToleranceMs",
        "options.schedule",
        "options.shrink",
      ],
    }),
    def({
      fn: "createFaultyLedger",
      setup: world,
      params: ["ledger", "options"],
      args: (w) => [w.ledger, { seed: 1, fail: 0.1, ambiguous: 0.1, hang: 0, methods: ["head"] }],
      call: async (_, [l, o]) => {
        const faulty = createFaultyLedger(l as never, o as never);
        const head = faulty.head();
        setTimeout(() => faulty.release(), 5); // a call held by `hang` runs once released
        return head;
      },
      nested: [
        "options.seed",
        "options.fail",
        "options.ambiguous",
        "options.hang",
        "options.methods",
      ],
      ledger: led,
    }),
    def({
      fn: "ledgerConformance",
      setup: () => undefined,
      params: ["options"],
      args: () => [
        {
          name: "memory",
          describe: (_name: string, body: () => void) => body(),
          it: () => {},
          create: async () => new MemoryLedger(),
          skip: {},
        },
      ],
      call: (_, [o]) => ledgerConformance(o as never),
      nested: [
        "options.name",
        "options.describe",
        "options.it",
        "options.create",
        "options.reopen",
        "options.skip",
      ],
    }),
    def({
      fn: "ledger…Cases (the groups of the conformance suite)",
      setup: () => undefined,
      params: ["test", "durable"],
      args: () => [() => {}, true],
      call: (_, [test, durable]) => {
        for (const group of [
          ledgerAppendBatchCases,
          ledgerAppendCases,
          ledgerAuditCases,
          ledgerAuditPhaseCases,
          ledgerClaimCases,
          ledgerClosedCases,
          ledgerFencingCases,
          ledgerFreezeCases,
          ledgerReadCases,
          ledgerReceiptCases,
          ledgerRestartCases,
          ledgerSequenceCases,
          ledgerTakeoverCases,
          ledgerWatermarkCases,
        ])
          group(test as never, durable as never);
      },
    }),

    // ---------------------------------------------------------------- schema
    def({
      fn: "createSchemaRegistry",
      setup: () => undefined,
      params: ["options"],
      args: () => [{ compatibility: "BACKWARD", metrics: createMemoryMetrics(), warn: () => {} }],
      call: (_, [o]) => {
        const registry = createSchemaRegistry(o as never);
        registry.register({ name: "order", version: 1, schema: orderV1 });
        registry.register({ name: "order", version: 2, schema: orderV1, deprecated: "old" });
        return registry.noteEmitted("order", 2);
      },
      nested: ["options.compatibility", "options.metrics", "options.warn"],
    }),
    def({
      fn: "registry.register",
      setup: world,
      params: ["registration"],
      args: () => [
        {
          name: "order",
          version: 3,
          schema: orderV2.extend({ note: z.string().optional() }),
          examples: [{ orderId: "o", total: 1, currency: "EUR" }],
          upcast: (p: unknown) => p,
          deprecated: false,
          compatibility: "BACKWARD",
        },
      ],
      call: (w, [r]) => w.registry.register(r as never),
      nested: [
        "registration.name",
        "registration.version",
        "registration.schema",
        "registration.examples",
        "registration.examples.0",
        "registration.upcast",
        "registration.deprecated",
        "registration.compatibility",
      ],
    }),
    def({
      fn: "registry.check",
      setup: world,
      params: ["registration"],
      args: () => [{ name: "order", version: 3, schema: orderV2 }],
      call: (w, [r]) => w.registry.check(r as never),
      nested: ["registration.name", "registration.version", "registration.schema"],
    }),
    def({
      fn: "registry.validate",
      setup: world,
      params: ["name", "version", "payload"],
      args: () => ["order", 1, { orderId: "o", total: 1 }],
      call: (w, [t, v, p]) => w.registry.validate(t as never, v as never, p),
      nested: ["payload.orderId"],
    }),
    def({
      fn: "registry.get/latest/versions/compatibility",
      setup: world,
      params: ["name", "version"],
      args: () => ["order", 1],
      call: (w, [t, v]) => [
        w.registry.get(t as never, v as never),
        w.registry.latest(t as never),
        w.registry.versions(t as never),
        w.registry.compatibility(t as never),
      ],
    }),
    def({
      fn: "registry.noteEmitted",
      setup: world,
      params: ["name", "version"],
      args: () => ["order", 1],
      call: (w, [t, v]) => w.registry.noteEmitted(t as never, v as never),
    }),
    def({
      fn: "registry.upcast",
      setup: world,
      params: ["envelope", "toVersion"],
      args: (w) => [w.envelope, 2],
      call: (w, [e, v]) => w.registry.upcast(e as never, v as never),
      nested: envelopePaths("envelope"),
      envelope: env,
    }),
  ];
}
