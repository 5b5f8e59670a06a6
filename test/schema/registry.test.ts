import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  createMemoryMetrics,
  createProducer,
  createSchemaRegistry,
  type Envelope,
  guardSink,
  type JsonValue,
  MemoryLedger,
  PayloadValidationError,
  reconcile,
  repair,
  SchemaRegistryError,
  type SinkWriteContext,
  seal,
  verify,
} from "../../src/index.js";
import { catchError, nestObjects } from "../helpers.js";

/** person v1 { name } → v2 { first, last } (upcast) → v3 adds optional email (as-is) → v4 renames email → emails[] (upcast). */
function people(options: Parameters<typeof createSchemaRegistry>[0] = {}) {
  const registry = createSchemaRegistry(options);
  registry.register({
    name: "person",
    version: 1,
    schema: z.object({ name: z.string() }),
    examples: [{ name: "Ada Lovelace" }, { name: "Plato" }],
  });
  registry.register({
    name: "person",
    version: 2,
    schema: z.object({ first: z.string(), last: z.string() }),
    examples: [{ first: "Ada", last: "Lovelace" }],
    upcast: (p) => {
      const [first = "", ...rest] = (p as { name: string }).name.split(" ");
      return { first, last: rest.join(" ") };
    },
  });
  registry.register({
    name: "person",
    version: 3,
    schema: z.object({ first: z.string(), last: z.string(), email: z.string().optional() }),
    examples: [{ first: "Ada", last: "Lovelace", email: "ada@example.com" }],
  });
  registry.register({
    name: "person",
    version: 4,
    schema: z.object({ first: z.string(), last: z.string(), emails: z.array(z.string()) }),
    upcast: (p) => {
      const { email, ...rest } = p as { email?: string; first: string; last: string };
      return { ...rest, emails: email === undefined ? [] : [email] };
    },
  });
  return registry;
}

const sealPerson = (version: number, payload: unknown, seq = 1) =>
  seal({
    producer: "crm",
    stream: "people",
    seq,
    type: "person.changed",
    schema: { name: "person", version },
    payload,
    trace: { correlationId: "c-1" },
  }) as Envelope;

describe("validate", () => {
  const registry = createSchemaRegistry();
  registry.register({
    name: "order",
    version: 1,
    schema: z.object({
      orderId: z.string(),
      total: z.number().positive(),
      currency: z.string().default("EUR"),
      lines: z.array(z.object({ sku: z.string() })),
    }),
  });

  it("returns the parsed payload: defaults applied, unknown keys stripped", () => {
    expect(
      registry.validate("order", 1, { orderId: "o-1", total: 5, lines: [], extra: true }),
    ).toEqual({ success: true, data: { orderId: "o-1", total: 5, currency: "EUR", lines: [] } });
  });

  it("returns every issue with its path, code and message", () => {
    const result = registry.validate("order", 1, { orderId: 7, total: -1, lines: [{ sku: 1 }] });
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.issues.map((i) => [i.path, i.code])).toEqual([
      ["$.orderId", "invalid_type"],
      ["$.total", "too_small"],
      ["$.lines[0].sku", "invalid_type"],
    ]);
    expect(result.issues.every((i) => i.message.length > 0)).toBe(true);
  });

  it("reports an unknown type or version as an issue", () => {
    for (const [type, version] of [
      ["nope", 1],
      ["order", 2],
      ["order", 0],
      ["order", Number.NaN],
      [42, 1],
    ] as const) {
      const result = registry.validate(type as string, version, {});
      expect(result).toEqual({
        success: false,
        issues: [expect.objectContaining({ code: "unknown_schema", path: "$" })],
      });
    }
  });

  it("never throws on hostile payloads", () => {
    const cyclic: Record<string, unknown> = { orderId: "o" };
    cyclic.self = cyclic;
    const hostile = [
      null,
      undefined,
      Number.NaN,
      10n,
      "\ud800",
      cyclic,
      nestObjects(100_000),
      JSON.parse('{"__proto__": {"polluted": true}, "orderId": "o", "total": 1, "lines": []}'),
      { orderId: "x".repeat(5_000_000), total: 1, lines: [] },
    ];
    for (const payload of hostile) {
      const result = registry.validate("order", 1, payload);
      expect(typeof result.success).toBe("boolean");
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // A schema that recurses 100k levels deep overflows the stack inside zod: an issue.
    const deep = createSchemaRegistry();
    const Node: z.ZodType = z.object({
      get a() {
        return z.union([Node, z.number()]);
      },
    });
    deep.register({ name: "deep", version: 1, schema: Node });
    const result = deep.validate("deep", 1, nestObjects(100_000));
    expect(result.success).toBe(false);
    if (!result.success) expect(result.issues[0]?.code).toBe("schema_threw");
  });
});

describe("upcast", () => {
  it("chains upcasters (and as-is steps) to the latest version, validating the result", () => {
    const registry = people();
    const original = sealPerson(1, { name: "Ada Lovelace" });
    const snapshot = JSON.stringify(original);
    const { envelope, steps } = registry.upcast(original);
    expect(steps).toEqual([
      { from: 1, to: 2, via: "upcast" },
      { from: 2, to: 3, via: "as-is" },
      { from: 3, to: 4, via: "upcast" },
    ]);
    expect(envelope.payload).toEqual({ first: "Ada", last: "Lovelace", emails: [] });
    expect(envelope.schema).toEqual({ name: "person", version: 4 });
    // Its own checksum, a link to the original; the original untouched.
    expect(envelope.checksum).not.toBe(original.checksum);
    expect(verify(envelope).ok).toBe(true);
    expect(envelope.parents).toEqual([original.id]);
    expect(envelope.id).not.toBe(original.id);
    expect(envelope.key).toBe(original.key);
    expect(envelope.time).toBe(original.time);
    expect(envelope.trace).toEqual(original.trace);
    expect(JSON.stringify(original)).toBe(snapshot);
    expect(Object.isFrozen(envelope.payload)).toBe(true);
  });

  it("stops at the version asked for, and returns the envelope itself when already there", () => {
    const registry = people();
    const original = sealPerson(1, { name: "Plato" });
    const at2 = registry.upcast(original, 2);
    expect(at2.envelope.payload).toEqual({ first: "Plato", last: "" });
    expect(at2.envelope.schema.version).toBe(2);
    const v3 = sealPerson(3, { first: "A", last: "B", email: "a@b" });
    expect(registry.upcast(v3, 3).envelope).toBe(v3);
    expect(registry.upcast(v3).envelope.payload).toEqual({
      first: "A",
      last: "B",
      emails: ["a@b"],
    });
  });

  it("reads each as-is step with its version's schema, so defaults reach the next upcaster", () => {
    const registry = createSchemaRegistry();
    registry.register({
      name: "o",
      version: 1,
      schema: z.object({ id: z.string() }),
      examples: [{ id: "a" }],
    });
    registry.register({
      name: "o",
      version: 2,
      schema: z.object({ id: z.string(), currency: z.string().default("EUR") }),
      examples: [{ id: "b", currency: "USD" }],
    });
    registry.register({
      name: "o",
      version: 3,
      schema: z.object({ id: z.string(), money: z.object({ currency: z.string() }) }),
      upcast: (p) => {
        const { id, currency } = p as { id: string; currency: string };
        return { id, money: { currency } };
      },
    });
    const v1 = seal({
      producer: "p",
      seq: 1,
      type: "o",
      schema: { name: "o", version: 1 },
      payload: { id: "x" },
    }) as Envelope;
    expect(registry.upcast(v1).envelope.payload).toEqual({ id: "x", money: { currency: "EUR" } });
  });

  it("names the gap when a step is missing", () => {
    const registry = createSchemaRegistry();
    registry.register({ name: "t", version: 1, schema: z.object({ a: z.string() }) });
    registry.register({
      name: "t",
      version: 2,
      schema: z.object({ b: z.string() }),
      compatibility: "NONE",
    });
    const old = seal({
      producer: "p",
      seq: 1,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { a: "x" },
    }) as Envelope;
    const error = catchError(() => registry.upcast(old));
    expect(error).toBeInstanceOf(SchemaRegistryError);
    expect(error.code).toBe("upcast_gap");
    expect(error.message).toContain("from version 1 to 2");
    const beyond = catchError(() => people().upcast(sealPerson(1, { name: "A B" }), 7));
    expect(beyond.code).toBe("upcast_gap");
    expect(beyond.message).toContain("versions 5 to 7 are not registered");
  });

  it("refuses to go down, unknown schemas, throwing and invalid upcasters", () => {
    const registry = people();
    expect(
      catchError(() => registry.upcast(sealPerson(3, { first: "a", last: "b" }), 2)).code,
    ).toBe("downcast");
    const unknown = seal({
      producer: "p",
      seq: 1,
      type: "x",
      schema: { name: "x", version: 1 },
      payload: {},
    }) as Envelope;
    expect(catchError(() => registry.upcast(unknown)).code).toBe("unknown_schema");
    // v1 payloads that break the upcaster or the target schema.
    const throwing = catchError(() => registry.upcast(sealPerson(1, { nom: "x" })));
    expect(throwing.code).toBe("upcast_failed");
    expect(throwing.cause).toBeInstanceOf(TypeError);

    const strict = createSchemaRegistry({ compatibility: "NONE" });
    strict.register({ name: "n", version: 1, schema: z.object({ n: z.number() }) });
    strict.register({
      name: "n",
      version: 2,
      schema: z.object({ n: z.number().positive() }),
      upcast: (p) => p,
    });
    const invalid = catchError(() =>
      strict.upcast(
        seal({
          producer: "p",
          seq: 1,
          type: "n",
          schema: { name: "n", version: 1 },
          payload: { n: -1 },
        }) as Envelope,
      ),
    );
    expect(invalid.code).toBe("upcast_invalid");
    expect((invalid as SchemaRegistryError).issues[0]?.path).toBe("$.payload.n");
    expect(catchError(() => registry.upcast(null as never)).code).toBe("invalid_envelope");
    const v1 = sealPerson(1, { name: "A B" });
    const tampered = { ...v1, payload: { name: "C D" } } as Envelope;
    expect(catchError(() => registry.upcast(tampered)).code).toBe("checksum_mismatch");
    expect(catchError(() => registry.upcast({ ...v1, time: "yesterday" } as Envelope)).code).toBe(
      "invalid_envelope",
    );
    expect(catchError(() => registry.upcast(sealPerson(1, { name: "a" }), 1.5)).code).toBe(
      "invalid_argument",
    );
  });

  it("gives the upcaster a copy: it cannot change the sealed original", () => {
    const registry = createSchemaRegistry({ compatibility: "NONE" });
    registry.register({ name: "m", version: 1, schema: z.object({ list: z.array(z.number()) }) });
    registry.register({
      name: "m",
      version: 2,
      schema: z.object({ list: z.array(z.number()) }),
      upcast: (p) => {
        const q = p as { list: number[] };
        q.list.push(99);
        return q;
      },
    });
    const original = seal({
      producer: "p",
      seq: 1,
      type: "m",
      schema: { name: "m", version: 1 },
      payload: { list: [1] },
    }) as Envelope;
    expect(registry.upcast(original).envelope.payload).toEqual({ list: [1, 99] });
    expect(original.payload).toEqual({ list: [1] });
    expect(verify(original).ok).toBe(true);
  });
});

describe("the producer with a registry", () => {
  it("validates at emit time and seals the parsed payload", async () => {
    const registry = createSchemaRegistry();
    registry.register({
      name: "order",
      version: 1,
      schema: z.object({ orderId: z.string(), currency: z.string().default("EUR") }),
    });
    const ledger = new MemoryLedger();
    const producer = createProducer({ id: "shop", ledger, registry });
    const envelope = await producer.emit(
      "order.created",
      { orderId: "o-1", junk: 1 },
      { schema: { name: "order", version: 1 } },
    );
    expect(envelope.payload).toEqual({ orderId: "o-1", currency: "EUR" });
    expect(verify(envelope).ok).toBe(true);

    const invalid = await producer
      .emitMany([
        {
          type: "order.created",
          payload: { orderId: "ok" },
          schema: { name: "order", version: 1 },
        },
        { type: "order.created", payload: { orderId: 1 }, schema: { name: "order", version: 1 } },
      ])
      .catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(PayloadValidationError);
    expect((invalid as PayloadValidationError).issues[0]?.path).toBe("$[1].payload.orderId");
    const unknown = await producer
      .emit("order.created", { orderId: "o" }, { schema: { name: "order", version: 2 } })
      .catch((e: unknown) => e);
    expect((unknown as PayloadValidationError).issues[0]).toEqual(
      expect.objectContaining({ path: "$.schema", code: "unknown_schema" }),
    );
    // Nothing of the refused batches reached the ledger.
    expect(await ledger.head()).toBe(1);
  });

  it("emits deprecated versions, counting each and warning once", async () => {
    const metrics = createMemoryMetrics();
    const warnings: string[] = [];
    const registry = createSchemaRegistry({ metrics, warn: (m) => warnings.push(m) });
    registry.register({
      name: "order",
      version: 1,
      schema: z.object({ id: z.string() }),
      deprecated: "use order v2",
    });
    registry.register({
      name: "order",
      version: 2,
      schema: z.object({ id: z.string(), n: z.int().optional() }),
    });
    const producer = createProducer({ id: "shop", ledger: new MemoryLedger(), registry });
    for (let i = 0; i < 3; i++) {
      await producer.emit(
        "order.created",
        { id: `o-${i}` },
        { schema: { name: "order", version: 1 } },
      );
    }
    await producer.emit("order.created", { id: "new" }, { schema: { name: "order", version: 2 } });
    expect(metrics.count("sinkproof.schema.deprecated", { schema: "order", version: "1" })).toBe(3);
    expect(warnings).toEqual(['sinkproof: use order v2 (schema "order" version 1 was emitted)']);
    expect(registry.get("order", 1)?.deprecated).toBe("use order v2");
    expect(registry.get("order", 2)?.deprecated).toBeUndefined();
  });
});

describe("hooks and hostile arguments", () => {
  it("a failing warn or metrics hook never fails an emit that is already in the ledger", async () => {
    const registry = createSchemaRegistry({
      warn: () => {
        throw new Error("warn threw");
      },
      metrics: {
        counter: () => {
          throw new Error("counter threw");
        },
        histogram: () => {},
        gauge: () => {},
      },
    });
    registry.register({
      name: "o",
      version: 1,
      schema: z.object({ id: z.string() }),
      deprecated: true,
    });
    const ledger = new MemoryLedger();
    const producer = createProducer({ id: "p", ledger, registry });
    const envelope = await producer.emit(
      "o",
      { id: "1" },
      { schema: { name: "o", version: 1 }, key: "k1" },
    );
    expect((await ledger.get("k1"))?.envelope).toEqual(envelope);
    expect(catchError(() => createSchemaRegistry({ metrics: {} as never })).path).toBe(
      "options.metrics",
    );
  });

  it("Proxies and throwing getters become typed errors", () => {
    const registry = people();
    const trap = new Proxy(
      {},
      {
        get() {
          throw new Error("trap");
        },
        getPrototypeOf() {
          throw new Error("trap");
        },
        ownKeys() {
          throw new Error("trap");
        },
      },
    );
    const throwing = {
      get name(): string {
        throw new Error("getter");
      },
    };
    // validate never throws: an unknown schema is an issue.
    expect(registry.validate(trap as never, 1, {})).toEqual({
      success: false,
      issues: [expect.objectContaining({ code: "unknown_schema" })],
    });
    expect(registry.validate("person", 1, trap).success).toBe(false);
    for (const fn of [
      () => registry.register(trap as never),
      () => registry.register(throwing as never),
      () => registry.check(throwing as never),
      () => registry.upcast(trap as never),
      () =>
        registry.register({
          name: "x",
          version: 1,
          schema: z.object({}),
          examples: new Proxy([], {
            get: () => {
              throw new Error("trap");
            },
          }) as never,
        }),
    ]) {
      const error = catchError(fn);
      expect(["invalid_argument", "invalid_envelope"]).toContain(error.code);
    }
  });
});

describe("a guard with accepted versions", () => {
  async function setup(accepts: Record<string, [number, number]>, withRegistry = true) {
    const registry = people();
    const ledger = new MemoryLedger();
    const written: { envelope: Envelope; context: SinkWriteContext }[] = [];
    const guard = guardSink({
      name: "crm-index",
      ledger,
      accepts,
      ...(withRegistry ? { registry } : {}),
      write: (envelope, context) => {
        written.push({ envelope, context });
      },
    });
    return { registry, ledger, guard, written };
  }

  it("upcasts older envelopes to the newest accepted version before writing", async () => {
    const { ledger, guard, written } = await setup({ person: [2, 3] });
    const v1 = sealPerson(1, { name: "Ada Lovelace" }, 1);
    const v3 = sealPerson(3, { first: "Grace", last: "Hopper" }, 2);
    await ledger.append([v1, v3]);
    const receipts = await guard.deliverAll([v1, v3]);
    expect(receipts.map((r) => r.status)).toEqual(["written", "written"]);
    const [first, second] = written;
    expect(first?.envelope.schema.version).toBe(3);
    expect(first?.envelope.payload).toEqual({ first: "Ada", last: "Lovelace" });
    expect(first?.context.original).toBe((await ledger.get(v1.key))?.envelope);
    // The receipt is about the ledger's entry: its checksum.
    expect(receipts[0]?.checksum).toBe(v1.checksum);
    expect(second?.envelope).toEqual(v3);
    expect(second?.context.original).toBeUndefined();
    expect(await ledger.getWatermark("crm-index")).toBe(2);
  });

  it("rejects what it cannot bring into range, with the reason", async () => {
    const { ledger, guard, written } = await setup({ person: [2, 3] });
    const v4 = sealPerson(4, { first: "A", last: "B", emails: [] }, 1);
    const broken = sealPerson(1, { nom: "no name field" }, 2);
    await ledger.append([v4, broken]);
    const [tooNew, failed] = await guard.deliverAll([v4, broken]);
    expect(tooNew?.status).toBe("rejected");
    expect(tooNew?.error?.code).toBe("unsupported_schema_version");
    expect(tooNew?.issues?.[0]?.message).toContain("versions 2 to 3, got 4");
    expect(failed?.status).toBe("rejected");
    expect(failed?.error?.code).toBe("upcast_failed");
    expect(written).toEqual([]);
    // Final refusals: the watermark passes them.
    expect(await ledger.getWatermark("crm-index")).toBe(2);
  });

  it("answers a duplicate without upcasting again, and upcasts to the same id every time", async () => {
    let calls = 0;
    const registry = createSchemaRegistry({ compatibility: "NONE" });
    registry.register({ name: "c", version: 1, schema: z.object({ n: z.number() }) });
    registry.register({
      name: "c",
      version: 2,
      schema: z.object({ count: z.number() }),
      upcast: (p) => {
        calls++;
        return { count: (p as { n: number }).n };
      },
    });
    const ledger = new MemoryLedger();
    const ids: string[] = [];
    const guard = guardSink({
      name: "s",
      ledger,
      registry,
      accepts: { c: [2, 2] },
      write: (envelope) => {
        ids.push(envelope.id);
      },
    });
    const v1 = seal({
      producer: "p",
      seq: 1,
      type: "c",
      schema: { name: "c", version: 1 },
      payload: { n: 3 },
    }) as Envelope;
    await ledger.append([v1]);
    expect((await guard.deliver(v1)).status).toBe("written");
    expect((await guard.deliver(v1)).status).toBe("duplicate");
    expect(calls).toBe(1);
    expect((await guard.deliver(v1, { replay: true })).status).toBe("replayed");
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[0]?.slice(0, 10)).toBe(v1.id.slice(0, 10));
    expect(registry.upcast(v1).envelope.id).toBe(ids[0]);
  });

  it("a refusal stands until a replay, which writes once the registry can upcast", async () => {
    const registry = createSchemaRegistry({ compatibility: "NONE" });
    registry.register({ name: "c", version: 1, schema: z.object({ n: z.number() }) });
    const ledger = new MemoryLedger();
    const rows: Envelope[] = [];
    const guard = guardSink({
      name: "s",
      ledger,
      registry,
      accepts: { c: [2, 2] },
      write: (envelope) => {
        rows.push(envelope);
      },
    });
    const v1 = seal({
      producer: "p",
      seq: 1,
      type: "c",
      schema: { name: "c", version: 1 },
      payload: { n: 3 },
    }) as Envelope;
    await ledger.append([v1]);
    expect((await guard.deliver(v1)).error?.code).toBe("unsupported_schema_version");
    registry.register({
      name: "c",
      version: 2,
      schema: z.object({ count: z.number() }),
      upcast: (p) => ({ count: (p as { n: number }).n }),
    });
    expect((await guard.deliver(v1)).status).toBe("rejected");
    expect((await guard.deliver(v1, { replay: true })).status).toBe("replayed");
    expect(rows.map((r) => r.payload)).toEqual([{ count: 3 }]);
  });

  it("without a registry, rejects versions out of range", async () => {
    const { ledger, guard } = await setup({ person: [2, 4] }, false);
    const v1 = sealPerson(1, { name: "A" });
    await ledger.append([v1]);
    const receipt = await guard.deliver(v1);
    expect(receipt.status).toBe("rejected");
    expect(receipt.error?.message).toContain("no registry");
  });

  it("passes schemas it does not list, and refuses malformed ranges", async () => {
    const { ledger, guard, written } = await setup({ order: [1, 1] });
    const v1 = sealPerson(1, { name: "A" });
    await ledger.append([v1]);
    expect((await guard.deliver(v1)).status).toBe("written");
    expect(written[0]?.envelope).toEqual(v1);
    for (const accepts of [
      [1, 2],
      { person: [2, 1] },
      { person: [0, 1] },
      { person: [1] },
      { person: "1-2" },
    ]) {
      const error = catchError(() =>
        guardSink({ name: "s", ledger, write: () => {}, accepts: accepts as never }),
      );
      expect(error.code).toBe("invalid_argument");
      expect(error.path).toMatch(/^options\.accepts/);
    }
  });
});

describe("reconciling a sink that holds upcast versions", () => {
  async function setup() {
    const registry = people();
    const ledger = new MemoryLedger();
    const rows = new Map<string, Envelope>();
    const accepts = { person: [3, 3] } as const;
    const guard = guardSink({
      name: "crm",
      ledger,
      registry,
      accepts: { person: [3, 3] },
      write: (envelope) => {
        rows.set(envelope.key, envelope);
      },
    });
    const entries = [
      sealPerson(1, { name: "Ada Lovelace" }, 1),
      sealPerson(2, { first: "Grace", last: "Hopper" }, 2),
      sealPerson(3, { first: "Alan", last: "Turing", email: "alan@example.com" }, 3),
    ];
    await ledger.append(entries);
    await guard.deliverAll(entries);
    const observe = () =>
      [...rows.values()].map((e) => ({ key: e.key, payload: e.payload as JsonValue }));
    const sink = {
      name: "crm",
      observe,
      guard,
      accepts,
      registry,
      rewrite: (envelope: Envelope) => {
        rows.set(envelope.key, envelope);
      },
    };
    return { ledger, rows, sink, entries, registry };
  }

  it("compares each entry with its upcast: consistent when the sink holds exactly that", async () => {
    const { ledger, sink } = await setup();
    const report = await reconcile({ ledger, sinks: [sink] });
    expect(report.consistent).toBe(true);
    expect(report.sinks[0]?.counts.matched).toBe(3);
    // Without `accepts`, the upcast v1 row looks altered (the v2 one reads as v3 as is,
    // so its checksum is the same): the reason the option exists.
    const naive = await reconcile({
      ledger,
      sinks: [{ name: "crm", observe: sink.observe }],
    });
    expect(naive.sinks[0]?.counts.mismatched).toBe(1);
  });

  it("finds an altered upcast row, with paths in the upcast payload, and repair rewrites the upcast", async () => {
    const { ledger, rows, sink, entries } = await setup();
    const first = entries[0] as Envelope;
    const held = rows.get(first.key) as Envelope;
    rows.set(first.key, {
      ...held,
      payload: { ...(held.payload as object), last: "Byron" },
    } as Envelope);
    const report = await reconcile({ ledger, sinks: [sink] });
    const [finding] = report.sinks[0]?.findings ?? [];
    expect(finding).toEqual(
      expect.objectContaining({
        kind: "mismatched",
        key: first.key,
        expected: held.checksum,
        paths: ["$.last"],
      }),
    );
    const result = await repair(report, { ledger, sinks: [sink] });
    expect(result.converged).toBe(true);
    expect(rows.get(first.key)?.payload).toEqual({ first: "Ada", last: "Lovelace" });
    expect(rows.get(first.key)?.schema.version).toBe(3);
  });

  it("refuses accepts with digest mode, and a malformed accepts or registry", async () => {
    const ledger = new MemoryLedger();
    const digest = { digest: async () => [], observeRange: async () => [] };
    for (const sink of [
      { name: "s", digest, accepts: { person: [1, 2] } },
      { name: "s", observe: () => [], accepts: { person: [2, 1] } },
      { name: "s", observe: () => [], registry: {} },
    ]) {
      const error = await reconcile({ ledger, sinks: [sink as never] }).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe("invalid_argument");
    }
  });
});
