import { readdirSync } from "node:fs";
import { CloudEvent as SdkCloudEvent } from "cloudevents";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CloudEventError,
  type Envelope,
  fromCloudEvent,
  IntegrityError,
  idempotencyKey,
  parseCloudEvent,
  seal,
  toCloudEvent,
  verify,
} from "../../src/index.js";
import { catchError, nestObjects, readVector, vectorPath } from "../helpers.js";

const VECTORS = readdirSync(vectorPath("cloudevents")).sort();

/** Why each invalid vector must be refused: the issue code at the attribute's path. */
const REASONS: Readonly<Record<string, readonly [string, string]>> = {
  "invalid-sdk-go-bogus-datacontenttype.json": ["$.datacontenttype", "invalid_media_type"],
  "invalid-sdk-go-datacontenttype-no-subtype.json": ["$.datacontenttype", "invalid_media_type"],
  "invalid-sdk-go-empty-datacontenttype.json": ["$.datacontenttype", "invalid_media_type"],
  "invalid-sdk-go-empty-id.json": ["$.id", "empty"],
  "invalid-sdk-go-missing-type.json": ["$.type", "required"],
  "invalid-sdk-go-no-specversion.json": ["$.specversion", "required"],
  "invalid-sdk-go-wrong-specversion.json": ["$.specversion", "unsupported_specversion"],
  "invalid-sdk-go-wrong-time.json": ["$.time", "invalid_time"],
  "invalid-sdk-java-fail_numeric_long.json": ["$.long", "invalid_integer"],
  "invalid-sdk-java-json_data_with_ext_invalid.json": [
    "$.a_invalid_name",
    "invalid_attribute_name",
  ],
  "invalid-sdk-js-empty-object.json": ["$.specversion", "required"],
  "invalid-sdk-js-empty-source.json": ["$.source", "empty"],
  "invalid-sdk-js-extension-name-uppercase.json": ["$.ExtensionWithCaps", "invalid_attribute_name"],
  "invalid-sdk-js-null-source.json": ["$.source", "required"],
};

describe("CloudEvents conformance vectors", () => {
  it("covers every vector file", () => {
    expect(VECTORS.length).toBe(25);
    const invalid = VECTORS.filter((f) => f.startsWith("invalid-"));
    expect(invalid.sort()).toEqual(Object.keys(REASONS).sort());
  });

  describe.each(VECTORS.filter((f) => f.startsWith("valid-")))("%s", (file) => {
    it("is accepted by parseCloudEvent and by fromCloudEvent, text or object", () => {
      const text = readVector(`cloudevents/${file}`);
      const event = parseCloudEvent(text);
      const raw = JSON.parse(text) as Record<string, unknown>;
      expect(event.id).toBe(raw.id);
      // Null attributes are "not set": left out.
      for (const [name, value] of Object.entries(raw)) {
        if (value === null && name !== "data") expect(name in event).toBe(false);
      }
      const envelope = fromCloudEvent(text);
      expect(verify(envelope).ok).toBe(true);
      expect(envelope.key).toBe(
        idempotencyKey({ cloudevents_source: String(raw.source), cloudevents_id: String(raw.id) }),
      );
      expect(fromCloudEvent(raw).key).toBe(envelope.key);
    });
  });

  describe.each(VECTORS.filter((f) => f.startsWith("invalid-")))("%s", (file) => {
    it("is rejected with the reason", () => {
      const error = catchError(() => parseCloudEvent(readVector(`cloudevents/${file}`)));
      expect(error).toBeInstanceOf(CloudEventError);
      expect(error.code).toBe("invalid_cloudevent");
      const [path, code] = REASONS[file] as readonly [string, string];
      expect((error as CloudEventError).issues).toContainEqual(
        expect.objectContaining({ path, code }),
      );
      expect(catchError(() => fromCloudEvent(readVector(`cloudevents/${file}`))).code).toBe(
        "invalid_cloudevent",
      );
    });
  });

  it("maps the foreign vectors as documented", () => {
    const object = fromCloudEvent(readVector("cloudevents/valid-spec-json-object-data.json"));
    expect(object.payload).toEqual({ appinfoA: "abc", appinfoB: 123, appinfoC: true });
    expect(object.producer).toBe("%2Fmycontext");
    expect(object.stream).toBe("default");
    expect(object.schema).toEqual({ name: "com.example.someevent", version: 1 });
    expect(object.time).toBe("2018-04-05T17:31:00.000Z");
    const offset = fromCloudEvent(readVector("cloudevents/valid-sdk-java-json_data_with_ext.json"));
    expect(offset.time).toBe("2018-04-26T12:48:09.000Z");
    expect(offset.stream).toBe("sub");
    expect(offset.producer).toBe("http:%2F%2Flocalhost%2Fsource");
    const fraction = fromCloudEvent(
      readVector("cloudevents/valid-sdk-java-json_data_with_fractional_time.json"),
    );
    expect(fraction.time).toBe("2018-04-26T14:48:09.123Z");
    expect(fromCloudEvent(readVector("cloudevents/valid-spec-json-number-data.json")).payload).toBe(
      1.5,
    );
    expect(
      fromCloudEvent(readVector("cloudevents/valid-spec-xml-string-data.json")).payload,
    ).toEqual({
      datacontenttype: "application/xml",
      data: '<much wow="xml"/>',
    });
    expect(
      fromCloudEvent(readVector("cloudevents/valid-sdk-java-base64_text_data.json")).payload,
    ).toEqual({
      datacontenttype: "text/plain",
      data_base64: "SGVsbG8gV29ybGQgTG9yZW5hIQ==",
    });
    expect(fromCloudEvent(readVector("cloudevents/valid-sdk-go-min.json")).payload).toBeNull();
  });
});

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0, 123);

const draftOf = () => ({
  producer: "p",
  stream: "s",
  seq: 1,
  type: "t",
  schema: { name: "t", version: 1 },
});

function order(overrides: Partial<Parameters<typeof seal>[0]> = {}): Envelope {
  return seal(
    {
      producer: "orders-svc",
      stream: "orders",
      seq: 42,
      type: "order.created",
      schema: { name: "order", version: 3 },
      payload: { orderId: "o-1", total: 12.5, lines: [{ sku: "A", qty: 2 }] },
      trace: {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        correlationId: "corr-1",
        causationId: "cause-1",
      },
      parents: ["01JDQ7Z8X9Y0A1B2C3D4E5F6G7", "01JDQ7Z8X9Y0A1B2C3D4E5F6G8"],
      ...overrides,
    },
    { clock: () => T0 },
  ) as Envelope;
}

describe("toCloudEvent / fromCloudEvent", () => {
  it("maps every envelope field to the documented attribute", () => {
    const envelope = order();
    expect(toCloudEvent(envelope)).toEqual({
      specversion: "1.0",
      id: envelope.id,
      source: "orders-svc",
      type: "order.created",
      time: "2026-11-26T12:00:00.123Z",
      subject: "orders",
      datacontenttype: "application/json",
      dataschema: "urn:sinkproof:schema:order:3",
      sequence: "0000000000000042",
      partitionkey: "orders-svc/orders",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      sinkproofkey: envelope.key,
      sinkproofchecksum: envelope.checksum,
      sinkproofcorrelation: "corr-1",
      sinkproofcausation: "cause-1",
      sinkproofparents: "01JDQ7Z8X9Y0A1B2C3D4E5F6G7,01JDQ7Z8X9Y0A1B2C3D4E5F6G8",
      data: envelope.payload,
    });
    expect(toCloudEvent(envelope, { schemaBase: "https://schemas.example.com/" }).dataschema).toBe(
      "https://schemas.example.com/order/3",
    );
  });

  it("is its own strict reader's valid input, and the cloudevents SDK's", () => {
    const envelope = order();
    const event = toCloudEvent(envelope);
    expect(parseCloudEvent(JSON.stringify(event))).toEqual(event);
    const sdk = new SdkCloudEvent(event as never);
    expect(sdk.validate()).toBe(true);
    expect(fromCloudEvent(JSON.parse(JSON.stringify(sdk)))).toEqual(envelope);
  });

  it("round-trips losslessly, checksums still verifying (property)", () => {
    const name = fc
      .string({ unit: "binary", minLength: 1, maxLength: 40 })
      // Everything an envelope name may hold: all of Unicode but controls, noncharacters
      // and lone surrogates.
      .filter((s) => !/[\p{Cc}\p{Noncharacter_Code_Point}]/u.test(s) && s.isWellFormed());
    fc.assert(
      fc.property(
        name.filter((s) => !s.includes("/")),
        name,
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        name,
        fc.integer({ min: 1, max: 1000 }),
        fc.jsonValue({ maxDepth: 4 }),
        fc.boolean(),
        fc.constantFrom("xxh64", "sha256") as fc.Arbitrary<"xxh64" | "sha256">,
        (producer, stream, seq, schemaName, version, payload, withTrace, algorithm) => {
          const envelope = seal(
            {
              producer,
              stream,
              seq,
              type: "t",
              schema: { name: schemaName, version },
              payload: JSON.parse(JSON.stringify(payload)) as unknown,
              ...(withTrace ? { trace: { correlationId: stream } } : {}),
            },
            { algorithm },
          ) as Envelope;
          for (const schemaBase of [undefined, "https://s.example/x/"]) {
            const options = schemaBase === undefined ? {} : { schemaBase };
            const wire = JSON.stringify(toCloudEvent(envelope, options));
            const back = fromCloudEvent(wire, options);
            expect(back).toEqual(envelope);
            expect(verify(back).ok).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("detects altered data of our events", () => {
    const event = { ...toCloudEvent(order()), data: { orderId: "o-1", total: 0 } };
    const error = catchError(() => fromCloudEvent(event));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.code).toBe("checksum_mismatch");
  });

  it("refuses our events with broken or partial sinkproof attributes", () => {
    const event = toCloudEvent(order());
    const cases: [Record<string, unknown>, string][] = [
      [{ ...event, sinkproofchecksum: undefined }, "$.sinkproofchecksum"],
      [{ ...event, sinkproofkey: undefined }, "$.sinkproofkey"],
      [{ ...event, id: "not-a-ulid" }, "$.id"],
      [{ ...event, sequence: "42" }, "$.sequence"],
      [{ ...event, time: undefined }, "$.time"],
      [{ ...event, time: "10000-01-01T00:00:00Z" }, "$.time"],
      [{ ...event, dataschema: "https://elsewhere.example/order" }, "$.dataschema"],
      [{ ...event, datacontenttype: "text/plain" }, "$.datacontenttype"],
      [{ ...event, source: "%E0%A4%A" }, "$.source"],
    ];
    for (const [input, path] of cases) {
      const error = catchError(() => fromCloudEvent(input));
      expect(error.code, path).toBe("invalid_cloudevent");
      expect(
        (error as CloudEventError).issues.map((i) => i.path),
        path,
      ).toContain(path);
    }
  });

  it("seals foreign events: stable key per (source, id), options for what CloudEvents lacks", () => {
    const foreign = {
      specversion: "1.0",
      id: "A-1",
      source: "https://shop.example/orders",
      type: "order.paid",
      time: "2026-11-26T13:14:15.5+01:00",
      sequence: "17",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      data: { orderId: "o-1" },
    };
    const a = fromCloudEvent(foreign);
    const b = fromCloudEvent(JSON.stringify(foreign));
    expect(a.key).toBe(b.key);
    expect(a.id).not.toBe(b.id);
    expect(a.seq).toBe(17);
    expect(a.time).toBe("2026-11-26T12:14:15.500Z");
    expect(a.trace.traceparent).toBe(foreign.traceparent);
    const named = fromCloudEvent(foreign, {
      producer: "shop",
      schema: { name: "payment", version: 2 },
      seq: 5,
      algorithm: "sha256",
    });
    expect([named.producer, named.schema, named.seq]).toEqual([
      "shop",
      { name: "payment", version: 2 },
      5,
    ]);
    expect(named.checksum.startsWith("sha256:")).toBe(true);
    // Our dataschema on a foreign event names the schema.
    const typed = fromCloudEvent({ ...foreign, dataschema: "urn:sinkproof:schema:order:4" });
    expect(typed.schema).toEqual({ name: "order", version: 4 });
    const noTime = fromCloudEvent({ ...foreign, time: undefined }, { clock: () => T0 });
    expect(noTime.time).toBe("2026-11-26T12:00:00.123Z");
  });

  it("reads our events back whatever RFC 3339 form an intermediary wrote the time in", () => {
    const envelope = order();
    const event = toCloudEvent(envelope);
    // 12:00:00.123Z as Go's RFC3339Nano would write it (no trailing zeros), and with an offset.
    for (const time of [
      "2026-11-26T12:00:00.123Z",
      "2026-11-26T13:00:00.123+01:00",
      "2026-11-26t12:00:00.1230z",
    ]) {
      expect(fromCloudEvent({ ...event, time })).toEqual(envelope);
    }
    const tenth = seal(
      { ...draftOf(), payload: 1 },
      { clock: () => Date.UTC(2026, 0, 1, 0, 0, 0, 120) },
    ) as Envelope;
    expect(fromCloudEvent({ ...toCloudEvent(tenth), time: "2026-01-01T00:00:00.12Z" })).toEqual(
      tenth,
    );
  });

  it("reads RFC 3339 and RFC 3986 as the RFCs say", () => {
    const base = { specversion: "1.0", id: "1", source: "/s", type: "t" };
    for (const time of [
      "1990-12-31T23:59:60Z",
      "0000-02-29T00:00:00Z",
      "2024-02-29T00:00:00.5-08:00",
    ]) {
      expect(() => parseCloudEvent({ ...base, time }), time).not.toThrow();
    }
    for (const time of [
      "2023-02-29T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-01-01T24:00:00Z",
      "2026-01-01 00:00:00Z",
      "2026-01-01T00:00:00+24:00",
    ]) {
      expect(() => parseCloudEvent({ ...base, time }), time).toThrow(CloudEventError);
    }
    expect(fromCloudEvent({ ...base, time: "1990-12-31T23:59:60.5Z" }).time).toBe(
      "1990-12-31T23:59:59.999Z",
    );
    expect(fromCloudEvent({ ...base, time: "2026-01-01T00:00:00.0019999Z" }).time).toBe(
      "2026-01-01T00:00:00.001Z",
    );
    expect(fromCloudEvent({ ...base, time: "1990-12-31T23:59:60Z" }).time).toBe(
      "1990-12-31T23:59:59.999Z",
    );
    for (const time of [
      "9999-12-31T23:59:59-14:00",
      "1969-12-31T23:59:59.999Z",
      "0000-02-29T00:00:00Z",
    ]) {
      // Valid CloudEvents times outside what an envelope holds: refused at $.time.
      const error = catchError(() => fromCloudEvent({ ...base, time }));
      expect([error.code, error.path], time).toEqual(["invalid_cloudevent", "$.time"]);
    }
    for (const source of [
      "/s",
      "s",
      "urn:x:y",
      "https://a.example:8080/p?q=1#f",
      "//host/p",
      "http://[::1]/x",
      "a%20b",
      "./a:b",
      "mailto:a@b.example",
    ]) {
      expect(() => parseCloudEvent({ ...base, source }), source).not.toThrow();
    }
    for (const source of ["%zz", "/ü", "a#b#c", "http://[::1", ":foo", "a b", "a:b:c:%"]) {
      expect(() => parseCloudEvent({ ...base, source }), source).toThrow(CloudEventError);
    }
    for (const dataschema of ["a:<>", "http://ü/x", "relative/x", "http://h/%zz"]) {
      expect(() => parseCloudEvent({ ...base, dataschema }), dataschema).toThrow(CloudEventError);
    }
  });

  it("refuses hostile input with typed errors", () => {
    const base = { specversion: "1.0", id: "1", source: "/s", type: "t" };
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      ["{not json", "$"],
      ["[]", "$"],
      [null, "$"],
      [42, "$"],
      [
        JSON.parse(
          '{"__proto__": "x", "specversion": "1.0", "id": "1", "source": "/s", "type": "t"}',
        ),
        "$.__proto__",
      ],
      [{ ...base, ext: { nested: true } }, "$.ext"],
      [{ ...base, ext: [1] }, "$.ext"],
      [{ ...base, ext: Number.NaN }, "$.ext"],
      [{ ...base, ext: 1.5 }, "$.ext"],
      [{ ...base, ext: 10n }, "$.ext"],
      [{ ...base, id: "a\ud800" }, "$.id"],
      [{ ...base, id: "a\u0085b" }, "$.id"],
      [{ ...base, id: 7 }, "$.id"],
      [{ ...base, data: 1, data_base64: "AA==" }, "$.data_base64"],
      [{ ...base, data_base64: "not base64!" }, "$.data_base64"],
      [{ ...base, dataschema: "relative/path" }, "$.dataschema"],
      [{ ...base, time: "2026-02-30T00:00:00Z" }, "$.time"],
      [{ ...base, source: "has space" }, "$.source"],
    ];
    for (const [input, path] of cases) {
      const error = catchError(() => parseCloudEvent(input));
      expect(error.code, path).toBe("invalid_cloudevent");
      expect(
        (error as CloudEventError).issues.map((i) => i.path),
        String(path),
      ).toContain(path);
    }
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(catchError(() => parseCloudEvent(proxy)).code).toBe("invalid_cloudevent");
    const trapped = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error("trap");
        },
      },
    );
    expect(catchError(() => parseCloudEvent(trapped)).code).toBe("invalid_cloudevent");
    // Data that is not JSON, or too deep, or too big: typed errors from sealing.
    // Parsed input that JSON cannot hold is refused by the reader, with the path inside data.
    for (const [data, code] of [
      [cyclic, "cycle"],
      [nestObjects(100_000), "too_deep"],
      [{ n: 1n }, "bigint"],
      [{ f: () => 1 }, "function"],
      [{ x: Number.NaN }, "non_finite_number"],
    ] as const) {
      const error = catchError(() => parseCloudEvent({ ...base, data }));
      expect(error.code).toBe("invalid_cloudevent");
      expect((error as CloudEventError).issues[0]?.code).toBe(code);
      expect((error as CloudEventError).issues[0]?.path.startsWith("$.data")).toBe(true);
    }

    // JSON text is held to the same hard limit as the object it parses to: data nested one
    // level past 10,000 is refused either way, at the same path; text deeper than the
    // envelope default is read.
    const nested = (depth: number): string => `${'{"a":'.repeat(depth)}0${"}".repeat(depth)}`;
    const asText = (depth: number): string =>
      `${JSON.stringify(base).slice(0, -1)},"data":${nested(depth)}}`;
    const deepText = catchError(() => parseCloudEvent(asText(10_001)));
    const deepObject = catchError(() => parseCloudEvent(JSON.parse(asText(10_001))));
    expect(deepText.code).toBe("invalid_cloudevent");
    expect((deepText as CloudEventError).issues).toEqual((deepObject as CloudEventError).issues);
    expect((deepText as CloudEventError).issues[0]?.code).toBe("too_deep");
    expect(parseCloudEvent(asText(200)).data).toEqual(nestObjects(200));

    expect(
      catchError(() => fromCloudEvent({ ...base, data: "x".repeat(2 * 1024 * 1024) })).code,
    ).toBe("too_large");
    expect(catchError(() => fromCloudEvent({ ...base, subject: "x".repeat(300) })).code).toBe(
      "invalid_envelope",
    );
    expect(catchError(() => toCloudEvent(null as never)).code).toBe("invalid_envelope");
    expect(
      catchError(() => toCloudEvent({ ...order(), producer: "bad\ud800" } as Envelope)).code,
    ).toBe("invalid_envelope");
    expect(catchError(() => toCloudEvent(order(), { schemaBase: "nope" })).code).toBe(
      "invalid_argument",
    );
    expect(catchError(() => fromCloudEvent(base, { producer: "a/b" })).code).toBe(
      "invalid_envelope",
    );
  });
});
