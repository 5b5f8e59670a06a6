import { describe, expectTypeOf, it } from "vitest";
import {
  type CanonicalizationError,
  type CanonicalizationErrorCode,
  type Checksum,
  checksum,
  createIdFactory,
  createSealer,
  type Envelope,
  type IdFactory,
  isSinkproofError,
  type JsonValue,
  parseEnvelope,
  type SinkproofError,
  type SinkproofErrorCode,
  seal,
  verify,
} from "../src/index.js";

describe("public types", () => {
  it("seal infers the payload type in its JSON form, read-only", () => {
    const envelope = seal({
      producer: "p",
      seq: 1,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { id: "o-1", total: 1.5, at: new Date(0), tags: ["a"] as string[] },
    });
    expectTypeOf(envelope.payload).toEqualTypeOf<{
      readonly id: string;
      readonly total: number;
      readonly at: string;
      readonly tags: readonly string[];
    }>();
    expectTypeOf(envelope.checksum).toEqualTypeOf<Checksum>();
    expectTypeOf(envelope).toMatchTypeOf<Envelope<unknown>>();
  });

  it("parseEnvelope returns an untyped-payload envelope", () => {
    expectTypeOf(parseEnvelope("{}")).toEqualTypeOf<Envelope<JsonValue>>();
    expectTypeOf(parseEnvelope("{}").payload).toEqualTypeOf<JsonValue>();
  });

  it("a sealer is generic per call", () => {
    const sealOrder = createSealer();
    const e = sealOrder({
      producer: "p",
      seq: 1,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: 42,
    });
    expectTypeOf(e.payload).toEqualTypeOf<number>();
  });

  it("envelopes are read-only", () => {
    const e = seal({
      producer: "p",
      seq: 1,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { n: 1 },
    });
    // @ts-expect-error envelope fields are read-only
    e.seq = 2;
    // @ts-expect-error payload members are read-only
    e.payload.n = 2;
  });

  it("checksums are template literal types", () => {
    expectTypeOf(checksum(1)).toEqualTypeOf<`xxh64:${string}` | `sha256:${string}`>();
  });

  it("error codes are literal unions, narrowed per class", () => {
    expectTypeOf<CanonicalizationError["code"]>().toEqualTypeOf<CanonicalizationErrorCode>();
    expectTypeOf<SinkproofError["code"]>().toEqualTypeOf<SinkproofErrorCode>();
    expectTypeOf<"cycle">().toMatchTypeOf<SinkproofErrorCode>();
    const e: unknown = new Error();
    if (isSinkproofError(e)) expectTypeOf(e).toEqualTypeOf<SinkproofError>();
  });

  it("verify narrows on ok", () => {
    const result = verify({});
    if (!result.ok) expectTypeOf(result.issues[0]?.path).toEqualTypeOf<string | undefined>();
  });

  it("an id factory is a function returning a string", () => {
    expectTypeOf(createIdFactory()).toEqualTypeOf<IdFactory>();
    expectTypeOf<IdFactory>().returns.toEqualTypeOf<string>();
  });

  it("rejects drafts with a missing field at compile time", () => {
    // @ts-expect-error schema is required
    seal({ producer: "p", seq: 1, type: "t", payload: 1 });
  });
});

describe("schema registry and CloudEvents types", () => {
  it("validate narrows on success; errors carry their codes and changes", async () => {
    const { createSchemaRegistry, SchemaCompatibilityError, SchemaRegistryError } = await import(
      "../src/index.js"
    );
    const registry = createSchemaRegistry();
    const result = registry.validate("t", 1, {});
    if (result.success) expectTypeOf(result.data).toBeUnknown();
    else expectTypeOf(result.issues[0]?.path).toEqualTypeOf<string | undefined>();
    expectTypeOf<
      InstanceType<typeof SchemaCompatibilityError>["code"]
    >().toEqualTypeOf<"incompatible_schema">();
    expectTypeOf<InstanceType<typeof SchemaRegistryError>["code"]>().toEqualTypeOf<
      "unknown_schema" | "downcast" | "upcast_gap" | "upcast_failed" | "upcast_invalid"
    >();
    expectTypeOf(registry.upcast).returns.toHaveProperty("envelope").toEqualTypeOf<Envelope>();
  });

  it("toCloudEvent returns the spec's required attributes as strings", async () => {
    const { toCloudEvent } = await import("../src/index.js");
    const event = toCloudEvent({} as Envelope);
    expectTypeOf(event.specversion).toEqualTypeOf<"1.0">();
    expectTypeOf(event.id).toEqualTypeOf<string>();
    expectTypeOf(event.data).toEqualTypeOf<JsonValue | undefined>();
  });
});
