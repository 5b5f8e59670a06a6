import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type CompatibilityMode,
  createSchemaRegistry,
  SchemaCompatibilityError,
} from "../../src/index.js";
import { catchError } from "../helpers.js";

/**
 * The compatibility matrix: each pair (v1 → v2) with the breaking changes expected per
 * mode, as `kind@path` strings (structural changes only: no examples here). An empty list
 * means compatible.
 */
interface Pair {
  readonly name: string;
  readonly v1: z.ZodType;
  readonly v2: z.ZodType;
  readonly backward: readonly string[];
  readonly forward: readonly string[];
}

const Tree: z.ZodType = z.object({
  name: z.string(),
  get children() {
    return z.array(Tree);
  },
});
const TreeWithSize: z.ZodType = z.object({
  name: z.string(),
  size: z.number(),
  get children() {
    return z.array(TreeWithSize);
  },
});

const order = { orderId: z.string(), total: z.number() };

const PAIRS: readonly Pair[] = [
  { name: "identical object", v1: z.object(order), v2: z.object(order), backward: [], forward: [] },
  {
    name: "optional field added",
    v1: z.object(order),
    v2: z.object({ ...order, note: z.string().optional() }),
    backward: [],
    forward: [],
  },
  {
    // The Confluent trap (schema-registry issues 1458, 1490, 1529): an open writer may
    // hold unknown extras, and adding an optional property must still be compatible.
    name: "optional field added to an open (loose) object",
    v1: z.looseObject(order),
    v2: z.looseObject({ ...order, note: z.string().optional() }),
    backward: [],
    forward: [],
  },
  {
    name: "required field added",
    v1: z.object(order),
    v2: z.object({ ...order, currency: z.string() }),
    backward: ["required-field-added@$.currency"],
    forward: [],
  },
  {
    name: "required field added with a default",
    v1: z.object(order),
    v2: z.object({ ...order, currency: z.string().default("EUR") }),
    backward: [],
    forward: [],
  },
  {
    name: "required field removed",
    v1: z.object(order),
    v2: z.object({ orderId: z.string() }),
    backward: [],
    forward: ["field-removed@$.total"],
  },
  {
    name: "optional field removed",
    v1: z.object({ ...order, note: z.string().optional() }),
    v2: z.object(order),
    backward: [],
    forward: [],
  },
  {
    name: "type changed",
    v1: z.object(order),
    v2: z.object({ orderId: z.number(), total: z.number() }),
    backward: ["type-changed@$.orderId"],
    forward: ["type-changed@$.orderId"],
  },
  {
    name: "integer widened to number",
    v1: z.object({ qty: z.int() }),
    v2: z.object({ qty: z.number() }),
    backward: [],
    forward: ["type-changed@$.qty"],
  },
  {
    name: "enum widened",
    v1: z.object({ status: z.enum(["new", "paid"]) }),
    v2: z.object({ status: z.enum(["new", "paid", "shipped"]) }),
    backward: [],
    forward: ["enum-widened@$.status"],
  },
  {
    name: "enum narrowed",
    v1: z.object({ status: z.enum(["new", "paid", "shipped"]) }),
    v2: z.object({ status: z.enum(["new", "paid"]) }),
    backward: ["enum-narrowed@$.status"],
    forward: [],
  },
  {
    name: "free string narrowed to an enum",
    v1: z.object({ status: z.string() }),
    v2: z.object({ status: z.enum(["new", "paid"]) }),
    backward: ["enum-narrowed@$.status"],
    forward: [],
  },
  {
    name: "literal changed",
    v1: z.object({ kind: z.literal("v1") }),
    v2: z.object({ kind: z.literal("v2") }),
    backward: ["enum-narrowed@$.kind"],
    forward: ["enum-widened@$.kind"],
  },
  {
    name: "optional made required",
    v1: z.object({ ...order, note: z.string().optional() }),
    v2: z.object({ ...order, note: z.string() }),
    backward: ["optional-to-required@$.note"],
    forward: [],
  },
  {
    name: "required made optional",
    v1: z.object({ ...order, note: z.string() }),
    v2: z.object({ ...order, note: z.string().optional() }),
    backward: [],
    forward: ["required-to-optional@$.note"],
  },
  {
    name: "nullable added",
    v1: z.object({ note: z.string() }),
    v2: z.object({ note: z.string().nullable() }),
    backward: [],
    forward: ["type-changed@$.note"],
  },
  {
    name: "nullable removed",
    v1: z.object({ note: z.string().nullable() }),
    v2: z.object({ note: z.string() }),
    backward: ["type-changed@$.note"],
    forward: [],
  },
  {
    name: "nullable changed to optional",
    v1: z.object({ note: z.string().nullable() }),
    v2: z.object({ note: z.string().optional() }),
    backward: ["type-changed@$.note"],
    forward: ["required-to-optional@$.note"],
  },
  {
    name: "nested object: required field added",
    v1: z.object({ customer: z.object({ id: z.string() }) }),
    v2: z.object({ customer: z.object({ id: z.string(), email: z.string() }) }),
    backward: ["required-field-added@$.customer.email"],
    forward: [],
  },
  {
    name: "nested object: type changed two levels down",
    v1: z.object({ a: z.object({ b: z.object({ c: z.string() }) }) }),
    v2: z.object({ a: z.object({ b: z.object({ c: z.boolean() }) }) }),
    backward: ["type-changed@$.a.b.c"],
    forward: ["type-changed@$.a.b.c"],
  },
  {
    name: "array item type changed",
    v1: z.object({ tags: z.array(z.string()) }),
    v2: z.object({ tags: z.array(z.number()) }),
    backward: ["type-changed@$.tags[*]"],
    forward: ["type-changed@$.tags[*]"],
  },
  {
    name: "array of objects: optional field added to items",
    v1: z.object({ lines: z.array(z.object({ sku: z.string() })) }),
    v2: z.object({ lines: z.array(z.object({ sku: z.string(), note: z.string().optional() })) }),
    backward: [],
    forward: [],
  },
  {
    name: "array of objects: required field added to items",
    v1: z.object({ lines: z.array(z.object({ sku: z.string() })) }),
    v2: z.object({ lines: z.array(z.object({ sku: z.string(), qty: z.int() })) }),
    backward: ["required-field-added@$.lines[*].qty"],
    forward: [],
  },
  {
    name: "union widened with a new type",
    v1: z.object({ id: z.union([z.string(), z.number()]) }),
    v2: z.object({ id: z.union([z.string(), z.number(), z.boolean()]) }),
    backward: [],
    forward: ["type-changed@$.id"],
  },
  {
    name: "discriminated union: branch added",
    v1: z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("card"), last4: z.string() }),
      z.object({ kind: z.literal("cash") }),
    ]),
    v2: z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("card"), last4: z.string() }),
      z.object({ kind: z.literal("cash") }),
      z.object({ kind: z.literal("voucher"), code: z.string() }),
    ]),
    backward: [],
    forward: ["union-widened@$"],
  },
  {
    name: "discriminated union: branch removed",
    v1: z.discriminatedUnion("kind", [
      z.object({ kind: z.literal("card"), last4: z.string() }),
      z.object({ kind: z.literal("cash") }),
    ]),
    v2: z.discriminatedUnion("kind", [z.object({ kind: z.literal("card"), last4: z.string() })]),
    // Old "cash" data against the one branch left: both what it is and what it lacks.
    backward: ["enum-narrowed@$.kind", "required-field-added@$.last4"],
    forward: [],
  },
  {
    name: "open object closed (loose to strict)",
    v1: z.looseObject(order),
    v2: z.strictObject(order),
    backward: ["object-closed@$"],
    forward: [],
  },
  {
    name: "closed object opened (strict to loose)",
    v1: z.strictObject(order),
    v2: z.looseObject(order),
    backward: [],
    forward: ["object-opened@$"],
  },
  {
    name: "field added where the old reader is a closed object",
    v1: z.strictObject(order),
    v2: z.strictObject({ ...order, note: z.string().optional() }),
    backward: [],
    forward: ["field-added@$.note"],
  },
  {
    name: "field removed from a closed object",
    v1: z.object({ ...order, note: z.string().optional() }),
    v2: z.strictObject(order),
    backward: ["field-removed@$.note"],
    forward: [],
  },
  {
    name: "string constraint tightened",
    v1: z.object({ code: z.string() }),
    v2: z.object({ code: z.string().min(3) }),
    backward: ["constraint-tightened@$.code"],
    forward: [],
  },
  {
    name: "number constraint loosened",
    v1: z.object({ qty: z.number().max(10) }),
    v2: z.object({ qty: z.number() }),
    backward: [],
    forward: ["constraint-loosened@$.qty"],
  },
  {
    name: "email format added",
    v1: z.object({ email: z.string() }),
    v2: z.object({ email: z.email() }),
    backward: ["constraint-tightened@$.email", "constraint-tightened@$.email"],
    forward: [],
  },
  {
    name: "record value type changed",
    v1: z.object({ prices: z.record(z.string(), z.number()) }),
    v2: z.object({ prices: z.record(z.string(), z.string()) }),
    backward: ["type-changed@$.prices[*]"],
    forward: ["type-changed@$.prices[*]"],
  },
  {
    name: "tuple element type changed",
    v1: z.object({ point: z.tuple([z.number(), z.number()]) }),
    v2: z.object({ point: z.tuple([z.number(), z.string()]) }),
    backward: ["type-changed@$.point[1]"],
    forward: ["type-changed@$.point[1]"],
  },
  {
    name: "recursive schema, unchanged",
    v1: Tree,
    v2: Tree,
    backward: [],
    forward: [],
  },
  {
    name: "recursive schema, required field added",
    v1: Tree,
    v2: TreeWithSize,
    // Reported once: the recursion compares each pair of schema nodes once.
    backward: ["required-field-added@$.size"],
    forward: [],
  },
  {
    name: "string changed to a date (zod cannot describe it in JSON Schema)",
    v1: z.object({ at: z.string() }),
    v2: z.object({ at: z.date() }),
    backward: ["type-changed@$.at"],
    forward: ["type-changed@$.at"],
  },
  {
    name: "a date field, unchanged, next to a new optional field",
    v1: z.object({ at: z.date() }),
    v2: z.object({ at: z.date(), note: z.string().optional() }),
    backward: [],
    forward: [],
  },
  {
    name: "field forbidden with never().optional()",
    v1: z.object({ a: z.string() }),
    v2: z.object({ a: z.never().optional() }),
    backward: ["type-changed@$.a"],
    // The new writer never has "a": only its becoming optional matters to an old reader.
    forward: ["required-to-optional@$.a"],
  },
  {
    name: "union with an intersection branch replacing a boolean",
    v1: z.object({ a: z.boolean() }),
    v2: z.object({
      a: z.union([z.intersection(z.string().min(1), z.string().max(5)), z.number()]),
    }),
    backward: ["type-changed@$.a"],
    // Each branch the new writer adds (the intersection's string, the number) is one.
    forward: ["type-changed@$.a", "type-changed@$.a"],
  },
  {
    name: "exclusive bound to the same inclusive one (gt to gte)",
    v1: z.object({ n: z.number().gt(0).lt(10) }),
    v2: z.object({ n: z.number().gte(0).lte(10) }),
    backward: [],
    forward: ["constraint-loosened@$.n", "constraint-loosened@$.n"],
  },
  {
    name: "multipleOf loosened to a divisor",
    v1: z.object({ n: z.number().multipleOf(4) }),
    v2: z.object({ n: z.number().multipleOf(2) }),
    backward: [],
    forward: ["constraint-loosened@$.n"],
  },
  {
    name: "integer to a number that is a multiple of 1",
    v1: z.object({ n: z.int() }),
    v2: z.object({ n: z.number().multipleOf(1) }),
    backward: [],
    forward: ["type-changed@$.n"],
  },
];

function kinds(mode: CompatibilityMode, pair: Pair): string[] {
  const registry = createSchemaRegistry({ compatibility: mode });
  registry.register({ name: "t", version: 1, schema: pair.v1 });
  return registry
    .check({ name: "t", version: 2, schema: pair.v2 })
    .map((c) => `${c.kind}@${c.path}`)
    .sort();
}

describe("compatibility matrix", () => {
  it("has at least 25 schema pairs", () => {
    expect(PAIRS.length).toBeGreaterThanOrEqual(25);
  });

  describe.each(PAIRS)("$name", (pair) => {
    it("BACKWARD finds exactly the backward breaks", () => {
      expect(kinds("BACKWARD", pair)).toEqual([...pair.backward].sort());
    });
    it("FORWARD finds exactly the forward breaks", () => {
      expect(kinds("FORWARD", pair)).toEqual([...pair.forward].sort());
    });
    it("FULL finds both", () => {
      expect(kinds("FULL", pair)).toEqual([...pair.backward, ...pair.forward].sort());
    });
    it("NONE finds nothing", () => {
      expect(kinds("NONE", pair)).toEqual([]);
    });
  });
});

describe("register", () => {
  it("throws SchemaCompatibilityError with every change, and registers nothing", () => {
    const registry = createSchemaRegistry();
    registry.register({ name: "order", version: 1, schema: z.object(order) });
    const error = catchError(() =>
      registry.register({
        name: "order",
        version: 2,
        schema: z.object({ orderId: z.number(), total: z.number(), currency: z.string() }),
      }),
    );
    expect(error).toBeInstanceOf(SchemaCompatibilityError);
    const compat = error as SchemaCompatibilityError;
    expect(compat.code).toBe("incompatible_schema");
    expect(compat.mode).toBe("BACKWARD");
    expect(compat.changes.map((c) => `${c.kind}@${c.path}`).sort()).toEqual([
      "required-field-added@$.currency",
      "type-changed@$.orderId",
    ]);
    expect(compat.changes.every((c) => c.against === 1 && c.direction === "backward")).toBe(true);
    expect(compat.message).toContain("not BACKWARD compatible");
    expect(registry.latest("order")).toBe(1);
    expect(registry.versions("order")).toEqual([1]);
    // The version is still free: a compatible one takes it.
    registry.register({
      name: "order",
      version: 2,
      schema: z.object({ ...order, n: z.int().optional() }),
    });
    expect(registry.latest("order")).toBe(2);
  });

  it("transitive modes check every earlier version, plain ones only the previous", () => {
    const v1 = z.object({ id: z.string(), note: z.string() });
    const v2 = z.object({ id: z.string() });
    const v3 = z.object({ id: z.string(), note: z.number().optional() });
    for (const [mode, expected] of [
      ["BACKWARD", []],
      ["BACKWARD_TRANSITIVE", ["type-changed@$.note against 1"]],
      [
        "FULL_TRANSITIVE",
        [
          "type-changed@$.note against 1",
          "type-changed@$.note against 1",
          "required-to-optional@$.note against 1",
        ],
      ],
    ] as const) {
      const registry = createSchemaRegistry({
        compatibility: mode === "FULL_TRANSITIVE" ? "BACKWARD" : mode,
      });
      registry.register({ name: "t", version: 1, schema: v1 });
      registry.register({ name: "t", version: 2, schema: v2 });
      const found = registry
        .check({ name: "t", version: 3, schema: v3, compatibility: mode })
        .map((c) => `${c.kind}@${c.path} against ${c.against}`);
      expect(found.sort(), mode).toEqual([...expected].sort());
    }
  });

  it("checks by example: earlier examples must pass a BACKWARD schema, new ones an old FORWARD schema", () => {
    // A refinement JSON Schema cannot show: only the examples catch it.
    const registry = createSchemaRegistry();
    registry.register({
      name: "sku",
      version: 1,
      schema: z.object({ sku: z.string() }),
      examples: [{ sku: "A-1" }, { sku: "b-2" }],
    });
    const changes = registry.check({
      name: "sku",
      version: 2,
      schema: z.object({
        sku: z.string().refine((s) => s === s.toUpperCase(), "must be upper case"),
      }),
    });
    expect(changes).toEqual([
      expect.objectContaining({
        kind: "example-rejected",
        path: "$.sku",
        against: 1,
        direction: "backward",
      }),
    ]);
    expect(changes[0]?.message).toContain("example 1 of version 1");

    const forward = createSchemaRegistry({ compatibility: "FORWARD" });
    forward.register({
      name: "sku",
      version: 1,
      schema: z.object({ sku: z.string().refine((s) => s.length < 5, "too long") }),
    });
    const fwd = forward.check({
      name: "sku",
      version: 2,
      schema: z.object({ sku: z.string() }),
      examples: [{ sku: "ABCDEFG" }],
    });
    expect(fwd.map((c) => c.kind)).toEqual(["example-rejected"]);
    expect(fwd[0]?.direction).toBe("forward");
  });

  it("checks examples in the form a producer seals them: parsed by their own schema", () => {
    // v1 fills in a default: sealed v1 data always has currency, so v2 may require it.
    const registry = createSchemaRegistry({ compatibility: "FULL" });
    registry.register({
      name: "o",
      version: 1,
      schema: z.object({ total: z.number(), currency: z.string().default("EUR") }),
      examples: [{ total: 1 }],
    });
    expect(registry.get("o", 1)?.examples).toEqual([{ total: 1, currency: "EUR" }]);
    expect(
      registry.check({
        name: "o",
        version: 2,
        schema: z.object({ total: z.number(), currency: z.string() }),
        examples: [{ total: 2, currency: "USD" }],
      }),
    ).toEqual([]);
    // An upcaster reads the sealed form too.
    const up = createSchemaRegistry();
    up.register({
      name: "o",
      version: 1,
      schema: z.object({ total: z.number(), currency: z.string().default("EUR") }),
      examples: [{ total: 1 }],
    });
    expect(
      up.check({
        name: "o",
        version: 2,
        schema: z.object({ amount: z.object({ value: z.number(), currency: z.string() }) }),
        upcast: (p) => {
          const { total, currency } = p as { total: number; currency: string };
          return { amount: { value: total, currency } };
        },
      }),
    ).toEqual([]);
  });

  it("upcasters: checked on the previous version's examples instead of the structure", () => {
    const registry = createSchemaRegistry();
    registry.register({
      name: "person",
      version: 1,
      schema: z.object({ name: z.string() }),
      examples: [{ name: "Ada Lovelace" }, { name: "Plato" }],
    });
    const v2 = z.object({ first: z.string(), last: z.string() });
    const split = (p: unknown) => {
      const [first = "", ...rest] = String((p as { name: string }).name).split(" ");
      return { first, last: rest.join(" ") };
    };
    // Structurally a break; with the upcaster, the old data reads fine.
    expect(registry.check({ name: "person", version: 2, schema: v2 }).map((c) => c.kind)).toContain(
      "required-field-added",
    );
    expect(registry.check({ name: "person", version: 2, schema: v2, upcast: split })).toEqual([]);
    // An upcaster whose output fails the new schema, one that throws:
    expect(
      registry
        .check({ name: "person", version: 2, schema: v2, upcast: (p) => ({ first: p }) })
        .map((c) => c.kind),
    ).toContain("example-rejected");
    expect(
      registry
        .check({
          name: "person",
          version: 2,
          schema: v2,
          upcast: () => {
            throw new Error("boom");
          },
        })
        .map((c) => c.kind),
    ).toEqual(["upcast-failed", "upcast-failed"]);
    // No examples to check an upcaster with: unverified.
    const bare = createSchemaRegistry();
    bare.register({ name: "person", version: 1, schema: z.object({ name: z.string() }) });
    expect(
      bare.check({ name: "person", version: 2, schema: v2, upcast: split }).map((c) => c.kind),
    ).toEqual(["upcast-unverified"]);
    registry.register({ name: "person", version: 2, schema: v2, upcast: split });
    expect(registry.get("person", 2)?.hasUpcast).toBe(true);
  });

  it("refuses malformed registrations with typed errors", () => {
    const registry = createSchemaRegistry();
    const bad = [
      () => registry.register({ name: "t", version: 2, schema: z.object({}) }),
      () => registry.register({ name: "t", version: 0, schema: z.object({}) }),
      () => registry.register({ name: "t", version: Number.NaN, schema: z.object({}) }),
      () => registry.register({ name: "", version: 1, schema: z.object({}) }),
      () => registry.register({ name: "a\u0000b", version: 1, schema: z.object({}) }),
      () => registry.register({ name: "\ud800", version: 1, schema: z.object({}) }),
      () =>
        registry.register({
          name: "t",
          version: 1,
          schema: { safeParse: () => ({ success: true }) } as never,
        }),
      () =>
        registry.register({
          name: "t",
          version: 1,
          schema: z.object({ a: z.string() }),
          examples: [{ a: 1 }],
        }),
      () => registry.register({ name: "t", version: 1, schema: z.any(), examples: [1n] }),
      () => registry.register({ name: "t", version: 1, schema: z.object({}), upcast: (p) => p }),
      () =>
        registry.register({
          name: "t",
          version: 1,
          schema: z.object({}),
          compatibility: "SIDEWAYS" as never,
        }),
      () => registry.register(null as never),
      () => createSchemaRegistry({ compatibility: "backward" as never }),
    ];
    for (const fn of bad) {
      const error = catchError(fn);
      expect(error.code).toBe("invalid_argument");
      expect(error.path).toMatch(/^(registration|options)/);
    }
    expect(registry.names()).toEqual([]);
  });

  it("per-type modes: a version may change the mode, later versions inherit it", () => {
    const registry = createSchemaRegistry();
    registry.register({ name: "t", version: 1, schema: z.object({ a: z.string() }) });
    registry.register({
      name: "t",
      version: 2,
      schema: z.object({ a: z.number() }),
      compatibility: "NONE",
    });
    expect(registry.compatibility("t")).toBe("NONE");
    registry.register({ name: "t", version: 3, schema: z.object({ b: z.boolean() }) });
    expect(registry.get("t", 3)?.compatibility).toBe("NONE");
    expect(registry.compatibility("other")).toBe("BACKWARD");
  });
});
