/**
 * Tests aimed at mutants that `npm run mutate` left alive in src/envelope/cloudevents.ts and
 * src/envelope/cloudevents-parse.ts. The conformance tests next door check that a broken
 * event is refused at the right path; these pin the whole of each refusal (every issue, in
 * order, with its path, code and message, and no issue more: a broken attribute is not also
 * reported missing), each edge of the RFC 3339 calendar and offset rules, the 32-bit
 * integer bounds, the `source` length limit, what `toCloudEvent` leaves out when an
 * envelope has no trace or parents, and how a foreign event's producer, schema, seq, time,
 * trace and payload are derived (each rule of the module notes on its own).
 */
import { describe, expect, it } from "vitest";
import { rfc3339Ms } from "../../src/envelope/cloudevents-parse.js";
import {
  CloudEventError,
  type Envelope,
  fromCloudEvent,
  InvalidArgumentError,
  parseCloudEvent,
  seal,
  toCloudEvent,
  type ValidationIssue,
} from "../../src/index.js";
import { catchError, nestObjects } from "../helpers.js";

const BASE = { specversion: "1.0", id: "1", source: "/s", type: "t" } as const;
const T0 = Date.UTC(2026, 10, 26, 12, 0, 0, 123);

/** Every issue of the `CloudEventError` that `fn` throws. */
function issuesOf(fn: () => unknown): readonly ValidationIssue[] {
  const error = catchError(fn);
  expect(error).toBeInstanceOf(CloudEventError);
  return (error as CloudEventError).issues;
}

const parseIssues = (input: unknown) => issuesOf(() => parseCloudEvent(input));

const issue = (path: string, code: string, message: string): ValidationIssue => ({
  path,
  code,
  message,
});

/** An envelope with no trace and no parents. */
function plain(payload: unknown = { a: 1 }): Envelope {
  return seal(
    { producer: "p", stream: "s", seq: 7, type: "t", schema: { name: "n", version: 2 }, payload },
    { clock: () => T0 },
  ) as Envelope;
}

/** An envelope with every trace field and two parents. */
function traced(): Envelope {
  return seal(
    {
      producer: "p",
      stream: "s",
      seq: 7,
      type: "t",
      schema: { name: "n", version: 2 },
      payload: { a: 1 },
      trace: {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        correlationId: "corr",
        causationId: "cause",
      },
      parents: ["01JDQ7Z8X9Y0A1B2C3D4E5F6G7", "01JDQ7Z8X9Y0A1B2C3D4E5F6G8"],
    },
    { clock: () => T0 },
  ) as Envelope;
}

/** The event `toCloudEvent` makes of `envelope`, as a plain mutable object. */
function ownEvent(envelope: Envelope = plain()): Record<string, unknown> {
  return { ...toCloudEvent(envelope) };
}

describe("rfc3339Ms: the calendar and offset rules, each edge on its own", () => {
  it("reads leap years as the Gregorian calendar does (every 4th, not every 100th, every 400th)", () => {
    expect(rfc3339Ms("2000-02-29T00:00:00Z")).toBe(Date.UTC(2000, 1, 29));
    expect(rfc3339Ms("2024-02-29T00:00:00Z")).toBe(Date.UTC(2024, 1, 29));
    expect(rfc3339Ms("1900-02-29T00:00:00Z")).toBeUndefined();
    expect(rfc3339Ms("2100-02-29T00:00:00Z")).toBeUndefined();
    expect(rfc3339Ms("2023-02-29T00:00:00Z")).toBeUndefined();
    expect(rfc3339Ms("1900-02-28T00:00:00Z")).toBe(Date.UTC(1900, 1, 28));
  });

  it("refuses day 00, minute 60 and second 61; takes second 60 as a leap second", () => {
    expect(rfc3339Ms("2026-01-00T00:00:00Z")).toBeUndefined();
    expect(rfc3339Ms("2026-01-01T00:00:00Z")).toBe(Date.UTC(2026, 0, 1));
    expect(rfc3339Ms("2026-01-31T00:00:00Z")).toBe(Date.UTC(2026, 0, 31));
    expect(rfc3339Ms("2026-01-32T00:00:00Z")).toBeUndefined();
    expect(rfc3339Ms("2026-01-01T00:60:00Z")).toBeUndefined();
    expect(rfc3339Ms("2026-01-01T00:59:00Z")).toBe(Date.UTC(2026, 0, 1, 0, 59));
    expect(rfc3339Ms("2026-01-01T00:00:61Z")).toBeUndefined();
    expect(rfc3339Ms("2026-01-01T00:00:60Z")).toBe(Date.UTC(2026, 0, 1, 0, 0, 59, 999));
    expect(rfc3339Ms("2026-01-01T23:00:00Z")).toBe(Date.UTC(2026, 0, 1, 23));
  });

  it("takes offsets up to 23:59, hours and minutes both, in the right direction", () => {
    expect(rfc3339Ms("2026-01-01T00:00:00+23:00")).toBe(Date.UTC(2025, 11, 31, 1));
    expect(rfc3339Ms("2026-01-01T00:00:00+24:00")).toBeUndefined();
    expect(rfc3339Ms("2026-01-01T00:00:00+00:59")).toBe(Date.UTC(2025, 11, 31, 23, 1));
    expect(rfc3339Ms("2026-01-01T00:00:00+00:60")).toBeUndefined();
    expect(rfc3339Ms("2026-01-01T00:00:00+01:30")).toBe(Date.UTC(2025, 11, 31, 22, 30));
    expect(rfc3339Ms("2026-01-01T00:00:00-01:30")).toBe(Date.UTC(2026, 0, 1, 1, 30));
    expect(rfc3339Ms("2026-01-01T00:00:00.25-00:00")).toBe(Date.UTC(2026, 0, 1, 0, 0, 0, 250));
  });
});

describe("parseCloudEvent: reading the input", () => {
  it("reports text that is not JSON with the parser's own message", () => {
    let native = "";
    try {
      JSON.parse("{not json");
    } catch (error) {
      native = (error as Error).message;
    }
    expect(parseIssues("{not json")).toEqual([
      issue("$", "invalid_json", `input is not JSON: ${native}`),
    ]);
  });

  it("refuses what is not an object, naming what it got", () => {
    expect(parseIssues(null)).toEqual([
      issue("$", "invalid_type", "must be a JSON object, got null"),
    ]);
    expect(parseIssues("null")).toEqual([
      issue("$", "invalid_type", "must be a JSON object, got null"),
    ]);
    expect(parseIssues("[]")).toEqual([
      issue("$", "invalid_type", "must be a JSON object, got array"),
    ]);
    expect(parseIssues(42)).toEqual([
      issue("$", "invalid_type", "must be a JSON object, got number"),
    ]);
  });

  it("refuses a revoked Proxy as not an event object", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(parseIssues(proxy)).toEqual([
      issue("$", "invalid_type", "must be a JSON object, got object"),
    ]);
  });

  it("refuses an object whose keys cannot be listed", () => {
    const trapped = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error("trap");
        },
      },
    );
    expect(parseIssues(trapped)).toEqual([
      issue("$", "invalid_type", "its attributes cannot be read"),
    ]);
  });

  it("reports each attribute whose getter throws, at its path, and reads the rest", () => {
    const input: Record<string, unknown> = { ...BASE };
    for (const name of ["boom", "Bad-Name"]) {
      Object.defineProperty(input, name, {
        enumerable: true,
        get: () => {
          throw new Error("getter");
        },
      });
    }
    expect(parseIssues(input)).toEqual([
      issue("$.boom", "unreadable", "the attribute cannot be read"),
      issue('$["Bad-Name"]', "unreadable", "the attribute cannot be read"),
    ]);
  });
});

describe("parseCloudEvent: attribute names and values", () => {
  it('writes a path as $.name for identifiers, $["name"] otherwise', () => {
    expect(parseIssues({ ...BASE, "Bad-Name": "x" })).toEqual([
      issue(
        '$["Bad-Name"]',
        "invalid_attribute_name",
        'attribute names must be lowercase letters and digits (a-z, 0-9), got "Bad-Name"',
      ),
    ]);
    expect(parseIssues({ ...BASE, "1abc": {} })).toEqual([
      issue(
        '$["1abc"]',
        "invalid_attribute_value",
        "attribute values are strings, booleans or integers, got object",
      ),
    ]);
    expect(parseIssues({ ...BASE, Ab_9: "x" })[0]?.path).toBe("$.Ab_9");
  });

  it("quotes at most 64 characters of a bad name", () => {
    const name = "A".repeat(70);
    expect(parseIssues({ ...BASE, [name]: "x" })).toEqual([
      issue(
        `$.${name}`,
        "invalid_attribute_name",
        `attribute names must be lowercase letters and digits (a-z, 0-9), got "${"A".repeat(64)}"`,
      ),
    ]);
  });

  it("keeps boolean attributes, true and false", () => {
    const event = parseCloudEvent({ ...BASE, yes: true, no: false });
    expect(event.yes).toBe(true);
    expect(event.no).toBe(false);
    expect(Object.keys(event)).toEqual(["specversion", "id", "source", "type", "yes", "no"]);
  });

  it("keeps integers from -2^31 to 2^31-1 and refuses one past either end", () => {
    const event = parseCloudEvent({ ...BASE, lo: -2147483648, hi: 2147483647, zero: 0 });
    expect([event.lo, event.hi, event.zero]).toEqual([-2147483648, 2147483647, 0]);
    expect(parseIssues({ ...BASE, hi: 2147483648, lo: -2147483649 })).toEqual([
      issue("$.hi", "invalid_integer", "numeric attributes are 32-bit integers, got 2147483648"),
      issue("$.lo", "invalid_integer", "numeric attributes are 32-bit integers, got -2147483649"),
    ]);
  });

  it("names a number that is not an integer in its message", () => {
    expect(parseIssues({ ...BASE, f: 1.5, n: Number.NaN, i: Number.POSITIVE_INFINITY })).toEqual([
      issue("$.f", "invalid_integer", "numeric attributes are 32-bit integers, got 1.5"),
      issue("$.n", "invalid_integer", "numeric attributes are 32-bit integers, got NaN"),
      issue("$.i", "invalid_integer", "numeric attributes are 32-bit integers, got Infinity"),
    ]);
  });

  it("refuses objects, arrays and BigInts as attribute values, naming what it got", () => {
    expect(parseIssues({ ...BASE, o: { nested: true }, a: [1], b: 10n })).toEqual([
      issue(
        "$.o",
        "invalid_attribute_value",
        "attribute values are strings, booleans or integers, got object",
      ),
      issue(
        "$.a",
        "invalid_attribute_value",
        "attribute values are strings, booleans or integers, got array",
      ),
      issue(
        "$.b",
        "invalid_attribute_value",
        "attribute values are strings, booleans or integers, got bigint",
      ),
    ]);
  });

  it("refuses strings with control characters or lone surrogates", () => {
    expect(parseIssues({ ...BASE, ext: "a\u0001", other: "b\ud800" })).toEqual([
      issue(
        "$.ext",
        "invalid_string",
        "must not hold control characters, noncharacters or lone surrogates",
      ),
      issue(
        "$.other",
        "invalid_string",
        "must not hold control characters, noncharacters or lone surrogates",
      ),
    ]);
  });

  it("leaves out data that is undefined, and data_base64 that is null or undefined", () => {
    for (const extra of [
      { data: undefined },
      { data_base64: null },
      { data_base64: undefined },
    ] as const) {
      const event = parseCloudEvent({ ...BASE, ...extra });
      expect(Object.keys(event), JSON.stringify(extra)).toEqual([
        "specversion",
        "id",
        "source",
        "type",
      ]);
    }
    expect(parseCloudEvent({ ...BASE, data: null }).data).toBeNull();
    expect(parseCloudEvent({ ...BASE, data_base64: "AA==" }).data_base64).toBe("AA==");
  });

  it("refuses data_base64 that is not a base64 string, even one whose text would be", () => {
    for (const data_base64 of [1234, true, "not base64!"]) {
      expect(parseIssues({ ...BASE, data_base64 }), String(data_base64)).toEqual([
        issue("$.data_base64", "invalid_base64", "data_base64 must be a base64 string"),
      ]);
    }
  });
});

describe("parseCloudEvent: data", () => {
  it("reports data that is not JSON at its path inside data, with the reason", () => {
    expect(parseIssues({ ...BASE, data: { n: 1n } })).toEqual([
      issue("$.data.n", "bigint", "data must be JSON: BigInt is not a JSON number at $.n"),
    ]);
    expect(parseIssues({ ...BASE, data: 1n })).toEqual([
      issue("$.data", "bigint", "data must be JSON: BigInt is not a JSON number at $"),
    ]);
  });

  it("reads parsed data nested far deeper than the envelope default, up to the hard limit", () => {
    const data = nestObjects(200);
    expect(parseCloudEvent({ ...BASE, data }).data).toEqual(data);
  });

  it("refuses data with data_base64", () => {
    expect(parseIssues({ ...BASE, data: 1, data_base64: "AA==" })).toEqual([
      issue("$.data_base64", "data_conflict", "data and data_base64 must not both be present"),
    ]);
  });
});

describe("parseCloudEvent: required attributes", () => {
  it("reports a missing specversion once, and a broken one not also as missing", () => {
    const { specversion: _, ...rest } = BASE;
    expect(parseIssues(rest)).toEqual([
      issue("$.specversion", "required", "specversion is required"),
    ]);
    expect(parseIssues({ ...BASE, specversion: 1.5 })).toEqual([
      issue("$.specversion", "invalid_integer", "numeric attributes are 32-bit integers, got 1.5"),
    ]);
  });

  it("quotes an unsupported specversion", () => {
    expect(parseIssues({ ...BASE, specversion: "0.3" })).toEqual([
      issue("$.specversion", "unsupported_specversion", 'specversion must be "1.0", got "0.3"'),
    ]);
    expect(parseIssues({ ...BASE, specversion: 1 })).toEqual([
      issue("$.specversion", "unsupported_specversion", 'specversion must be "1.0", got 1'),
    ]);
  });

  it("reports id, source and type missing, of the wrong type or empty, each once", () => {
    expect(parseIssues({ specversion: "1.0" })).toEqual([
      issue("$.id", "required", "id is required"),
      issue("$.source", "required", "source is required"),
      issue("$.type", "required", "type is required"),
    ]);
    expect(parseIssues({ ...BASE, id: 7, source: true, type: 0 })).toEqual([
      issue("$.id", "invalid_type", "id must be a string"),
      issue("$.source", "invalid_type", "source must be a string"),
      issue("$.type", "invalid_type", "type must be a string"),
    ]);
    expect(parseIssues({ ...BASE, id: "", source: "", type: "" })).toEqual([
      issue("$.id", "empty", "id must not be empty"),
      issue("$.source", "empty", "source must not be empty"),
      issue("$.type", "empty", "type must not be empty"),
    ]);
    expect(parseIssues({ ...BASE, id: 1.5, type: "a\u0001" })).toEqual([
      issue("$.id", "invalid_integer", "numeric attributes are 32-bit integers, got 1.5"),
      issue(
        "$.type",
        "invalid_string",
        "must not hold control characters, noncharacters or lone surrogates",
      ),
    ]);
  });

  it("reads a source of 4096 characters and refuses one of 4097", () => {
    const source = `/${"a".repeat(4095)}`;
    expect(parseCloudEvent({ ...BASE, source }).source).toBe(source);
    expect(parseIssues({ ...BASE, source: `${source}a` })).toEqual([
      issue("$.source", "too_long", "source must be at most 4096 characters"),
    ]);
  });

  it("refuses a source that is not a URI reference", () => {
    expect(parseIssues({ ...BASE, source: "a b" })).toEqual([
      issue("$.source", "invalid_uri_reference", "source must be a URI reference"),
    ]);
  });
});

describe("parseCloudEvent: optional attributes", () => {
  it("refuses an empty subject, quoting it", () => {
    expect(parseIssues({ ...BASE, subject: "" })).toEqual([
      issue("$.subject", "empty", 'subject must not be empty, got ""'),
    ]);
    expect(parseCloudEvent({ ...BASE, subject: "x" }).subject).toBe("x");
  });

  it("refuses optional attributes that are not strings", () => {
    expect(
      parseIssues({ ...BASE, datacontenttype: 1, dataschema: true, subject: false, time: 5 }),
    ).toEqual([
      issue("$.datacontenttype", "invalid_type", "datacontenttype must be a string"),
      issue("$.dataschema", "invalid_type", "dataschema must be a string"),
      issue("$.subject", "invalid_type", "subject must be a string"),
      issue("$.time", "invalid_type", "time must be a string"),
    ]);
  });

  it("states each rule, quoting at most 64 characters of the value", () => {
    const long = "x".repeat(100);
    expect(
      parseIssues({ ...BASE, datacontenttype: "nope", dataschema: "relative/x", time: long }),
    ).toEqual([
      issue(
        "$.datacontenttype",
        "invalid_media_type",
        'datacontenttype must be a media type (type/subtype), got "nope"',
      ),
      issue("$.dataschema", "invalid_uri", 'dataschema must be an absolute URI, got "relative/x"'),
      issue(
        "$.time",
        "invalid_time",
        `time must be an RFC 3339 timestamp, got "${"x".repeat(64)}"`,
      ),
    ]);
  });
});

describe("toCloudEvent: options and the attributes it leaves out", () => {
  it("writes no trace or parents attributes for an envelope without them", () => {
    const event = toCloudEvent(plain());
    expect(Object.keys(event)).toEqual([
      "specversion",
      "id",
      "source",
      "type",
      "time",
      "subject",
      "datacontenttype",
      "dataschema",
      "sequence",
      "partitionkey",
      "sinkproofkey",
      "sinkproofchecksum",
      "data",
    ]);
  });

  it("writes each trace field that is set, and only those", () => {
    const envelope = seal(
      {
        producer: "p",
        stream: "s",
        seq: 1,
        type: "t",
        schema: { name: "n", version: 1 },
        payload: 1,
        trace: { correlationId: "c" },
      },
      { clock: () => T0 },
    ) as Envelope;
    const event = toCloudEvent(envelope);
    expect(event.sinkproofcorrelation).toBe("c");
    for (const name of ["traceparent", "sinkproofcausation", "sinkproofparents"]) {
      expect(name in event, name).toBe(false);
    }
  });

  it("takes a schemaBase of up to 1024 characters", () => {
    const base = `urn:${"a".repeat(1019)}/`;
    expect(base).toHaveLength(1024);
    expect(toCloudEvent(plain(), { schemaBase: base }).dataschema).toBe(`${base}n/2`);
  });

  it("refuses a schemaBase that is too long, not a URI or not a string, at options.schemaBase", () => {
    for (const [schemaBase, got] of [
      [`urn:${"a".repeat(1021)}`, "string"],
      ["nope", "string"],
      [["urn:x/"], "array"],
      [{ toString: () => "urn:x/" }, "object"],
    ] as const) {
      const error = catchError(() => toCloudEvent(plain(), { schemaBase: schemaBase as never }));
      expect(error, got).toBeInstanceOf(InvalidArgumentError);
      expect([error.code, error.path, error.message]).toEqual([
        "invalid_argument",
        "options.schemaBase",
        `options.schemaBase must be an absolute URI, got ${got}`,
      ]);
    }
  });
});

describe("fromCloudEvent: options", () => {
  it("refuses a bad schemaBase at options.schemaBase", () => {
    const error = catchError(() => fromCloudEvent(BASE, { schemaBase: "nope" }));
    expect([error.code, error.path, error.message]).toEqual([
      "invalid_argument",
      "options.schemaBase",
      "options.schemaBase must be an absolute URI, got string",
    ]);
  });
});

describe("fromCloudEvent: the producer of a foreign event", () => {
  const producerOf = (source: string) => fromCloudEvent({ ...BASE, source }).producer;

  it("is the percent-decoded source when that is a producer name", () => {
    expect(producerOf("a%20b")).toBe("a b");
    expect(producerOf("shop")).toBe("shop");
  });

  it("is the source with % and / escaped when decoding fails or gives no producer name", () => {
    expect(producerOf("%FF")).toBe("%25FF");
    expect(producerOf("%2F")).toBe("%252F");
    expect(producerOf("/a%20b")).toBe("%2Fa%2520b");
  });

  it("is at most 128 characters: longer sources need options.producer", () => {
    expect(producerOf("a".repeat(128))).toBe("a".repeat(128));
    const long = { ...BASE, source: "a".repeat(129) };
    expect(issuesOf(() => fromCloudEvent(long))).toEqual([
      issue("$.source", "invalid_producer", "source cannot name a producer: give options.producer"),
    ]);
    expect(fromCloudEvent(long, { producer: "p" }).producer).toBe("p");
  });
});

describe("fromCloudEvent: the schema of a foreign event", () => {
  const schemaOf = (dataschema: string, schemaBase?: string) =>
    fromCloudEvent({ ...BASE, dataschema }, schemaBase === undefined ? {} : { schemaBase }).schema;

  it("is read from our dataschema, name percent-decoded", () => {
    expect(schemaOf("urn:sinkproof:schema:a%20b:12")).toEqual({ name: "a b", version: 12 });
    expect(schemaOf("urn:sinkproof:schema:a:b:3")).toEqual({ name: "a:b", version: 3 });
    expect(schemaOf("https://s.example/x/order/3", "https://s.example/x/")).toEqual({
      name: "order",
      version: 3,
    });
  });

  it("is { name: type, version: 1 } when dataschema is not one of ours", () => {
    for (const dataschema of [
      "http://example.org/path/name:7",
      "urn:sinkproof:schema::3",
      "urn:sinkproof:schema:5",
      "urn:sinkproof:schema:order:0",
      "urn:sinkproof:schema:order:01",
      "urn:sinkproof:schema:order:1e3",
      "urn:sinkproof:schema:order:x1",
      "urn:sinkproof:schema:order:9999999999999999",
      "urn:sinkproof:schema:%FF:1",
    ]) {
      expect(schemaOf(dataschema), dataschema).toEqual({ name: "t", version: 1 });
    }
    for (const dataschema of [
      "https://other.example/x/order/3",
      "https://s.example/x//3",
      "urn:sinkproof:schema:order:3",
    ]) {
      expect(schemaOf(dataschema, "https://s.example/x/"), dataschema).toEqual({
        name: "t",
        version: 1,
      });
    }
  });
});

describe("fromCloudEvent: the seq of a foreign event", () => {
  const seqOf = (sequence: unknown) => fromCloudEvent({ ...BASE, sequence }).seq;

  it("is a decimal sequence of up to 16 digits, or a non-negative integer one", () => {
    expect(seqOf("17")).toBe(17);
    expect(seqOf("0000000000000007")).toBe(7);
    expect(seqOf(5)).toBe(5);
    expect(seqOf(0)).toBe(0);
  });

  it("is 0 for any other sequence, or none", () => {
    for (const sequence of [
      undefined,
      "abc",
      "-5",
      "1e3",
      "x5",
      "5x",
      "12345678901234567",
      -1,
      true,
    ]) {
      expect(seqOf(sequence), String(sequence)).toBe(0);
    }
  });
});

describe("fromCloudEvent: the time, trace and payload of a foreign event", () => {
  it("takes times from the epoch on, and refuses earlier ones", () => {
    expect(fromCloudEvent({ ...BASE, time: "1970-01-01T00:00:00Z" }).time).toBe(
      "1970-01-01T00:00:00.000Z",
    );
    expect(issuesOf(() => fromCloudEvent({ ...BASE, time: "1969-12-31T23:59:59.999Z" }))).toEqual([
      issue(
        "$.time",
        "invalid_time",
        "time is outside 1970 to 9999, the range an envelope can hold",
      ),
    ]);
  });

  it("keeps a valid traceparent and drops one that is not", () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    expect(fromCloudEvent({ ...BASE, traceparent }).trace).toStrictEqual({ traceparent });
    expect(fromCloudEvent({ ...BASE, traceparent: "nope" }).trace).toStrictEqual({});
  });

  it("wraps data_base64 without a datacontenttype as application/octet-stream", () => {
    expect(fromCloudEvent({ ...BASE, data_base64: "AA==" }).payload).toEqual({
      datacontenttype: "application/octet-stream",
      data_base64: "AA==",
    });
  });
});

describe("fromCloudEvent: our own events", () => {
  it("reads back an envelope without trace or parents exactly, no undefined fields added", () => {
    const envelope = plain();
    expect(fromCloudEvent(ownEvent(envelope))).toStrictEqual(envelope);
    expect(fromCloudEvent(JSON.stringify(toCloudEvent(envelope)))).toStrictEqual(envelope);
    const full = traced();
    expect(fromCloudEvent(ownEvent(full))).toStrictEqual(full);
  });

  it("reads a missing data as a null payload", () => {
    const envelope = plain(null);
    const { data: _, ...event } = ownEvent(envelope);
    expect(fromCloudEvent(event)).toStrictEqual(envelope);
  });

  it("reads an empty sinkproofparents as no parents", () => {
    const envelope = plain();
    expect(fromCloudEvent({ ...ownEvent(envelope), sinkproofparents: "" })).toStrictEqual(envelope);
  });

  it("reads a time of ours back in any RFC 3339 offset", () => {
    const envelope = plain();
    expect(
      fromCloudEvent({ ...ownEvent(envelope), time: "2026-11-26T13:00:00.123+01:00" }),
    ).toStrictEqual(envelope);
  });

  const own = (changes: Record<string, unknown>, options = {}) => {
    const event = { ...ownEvent(), ...changes };
    for (const [name, value] of Object.entries(changes)) {
      if (value === undefined) delete event[name];
    }
    return issuesOf(() => fromCloudEvent(event, options));
  };
  const bad = (path: string, message: string) =>
    issue(path, "invalid_sinkproof_attribute", message);

  it("refuses a sinkproofkey that is not a string, or a sinkproofchecksum that is not a checksum", () => {
    expect(own({ sinkproofkey: 5 })).toEqual([
      bad("$.sinkproofkey", "sinkproofkey must be a string (it comes with sinkproofchecksum)"),
    ]);
    expect(own({ sinkproofchecksum: "nope" })).toEqual([
      bad(
        "$.sinkproofchecksum",
        "sinkproofchecksum must be a sinkproof checksum (it comes with sinkproofkey)",
      ),
    ]);
  });

  it("refuses an id that is not a ULID", () => {
    expect(own({ id: "not-a-ulid" })).toEqual([
      bad("$.id", "id of a sinkproof event must be a ULID"),
    ]);
  });

  it("refuses a time that is missing or outside year 0 to 9999", () => {
    const message = "time of a sinkproof event must be an RFC 3339 timestamp from year 0 to 9999";
    for (const time of [undefined, "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"]) {
      expect(own({ time }), String(time)).toEqual([bad("$.time", message)]);
    }
  });

  it("refuses a sequence that is not exactly 16 digits", () => {
    for (const sequence of ["00000000000000007", "x000000000000007", "000000000000007x", 7]) {
      expect(own({ sequence }), String(sequence)).toEqual([
        bad("$.sequence", "sequence must be 16 decimal digits"),
      ]);
    }
  });

  it("refuses another datacontenttype, and data_base64 in place of data", () => {
    expect(own({ datacontenttype: "text/plain" })).toEqual([
      bad("$.datacontenttype", "datacontenttype must be application/json"),
    ]);
    expect(own({ data: undefined, data_base64: "AA==" })).toEqual([
      bad("$.data_base64", "a sinkproof event carries data, not data_base64"),
    ]);
  });

  it("refuses a missing or foreign dataschema, naming the form it expects", () => {
    expect(own({ dataschema: undefined })).toEqual([
      bad("$.dataschema", "dataschema must be urn:sinkproof:schema:<name>:<version>"),
    ]);
    expect(own({}, { schemaBase: "https://s.example/" })).toEqual([
      bad("$.dataschema", "dataschema must be https://s.example/<name>/<version>"),
    ]);
  });

  it("refuses a source that does not percent-decode", () => {
    expect(own({ source: "%FF" })).toEqual([
      bad("$.source", "source must be a percent-encoded producer name"),
    ]);
  });

  it("refuses sinkproofparents and trace attributes that are not strings", () => {
    expect(own({ sinkproofparents: 5 })).toEqual([
      bad("$.sinkproofparents", "sinkproofparents must be ids joined by commas"),
    ]);
    expect(own({ traceparent: 5, sinkproofcorrelation: true, sinkproofcausation: 0 })).toEqual([
      bad("$.traceparent", "traceparent must be a string"),
      bad("$.sinkproofcorrelation", "sinkproofcorrelation must be a string"),
      bad("$.sinkproofcausation", "sinkproofcausation must be a string"),
    ]);
  });

  it("lists every broken attribute at once, in the order they are checked", () => {
    expect(
      own({ sinkproofkey: 1, id: "x", sequence: "1", datacontenttype: "text/plain" }).map(
        (i) => i.path,
      ),
    ).toEqual(["$.sinkproofkey", "$.id", "$.sequence", "$.datacontenttype"]);
  });
});
