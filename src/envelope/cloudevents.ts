/**
 * CloudEvents 1.0 in structured JSON mode: `toCloudEvent`, `fromCloudEvent`, and
 * `parseCloudEvent`, a strict reader of the spec.
 *
 * Mapping (envelope → event):
 * | envelope | CloudEvents attribute |
 * |---|---|
 * | id | `id` |
 * | producer | `source` (percent-encoded, so any producer name is a URI reference) |
 * | type | `type` |
 * | time | `time` |
 * | stream | `subject` |
 * | schema name + version | `dataschema`: `urn:sinkproof:schema:<name>:<version>`, or `<schemaBase><name>/<version>` |
 * | payload | `data`, with `datacontenttype` `application/json` |
 * | seq | `sequence` (sequence extension): 16 zero-padded digits, so it sorts as text |
 * | producer/stream | `partitionkey` (partitioning extension): the unit of ordering |
 * | trace.traceparent | `traceparent` (distributed tracing extension) |
 * | key, checksum | `sinkproofkey`, `sinkproofchecksum` |
 * | parents | `sinkproofparents`, ids joined by `,` |
 * | trace.correlationId, causationId | `sinkproofcorrelation`, `sinkproofcausation` |
 *
 * An event carrying `sinkproofkey` and `sinkproofchecksum` is read back into exactly the
 * envelope it came from, and its checksum is verified. An event without them (a foreign
 * event) is sealed as a new envelope: a fresh id, idempotency key from (source, id) (the
 * pair CloudEvents makes unique), time normalised to UTC milliseconds, stream from
 * `subject`, schema from `dataschema` when it is one of ours, else `{ name: type, version: 1 }`.
 *
 * @module
 */

import { canonicalize, MAX_BYTES_LIMIT, MAX_DEPTH_LIMIT } from "../canonical/canonicalize.js";
import { type ChecksumAlgorithm, isChecksum } from "../checksum/checksum.js";
import { CanonicalizationError, CloudEventError, type ValidationIssue } from "../errors.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { checkEnvelope } from "./check.js";
import { type IdFactory, isId } from "./ids.js";
import { idempotencyKey } from "./keys.js";
import {
  DEFAULT_STREAM,
  ENVELOPE_LIMITS,
  type Envelope,
  isCleanText,
  isProducerName,
  isTraceparent,
  type JsonValue,
  type SchemaRef,
} from "./schema.js";
import { seal } from "./seal.js";
import { payloadLimits } from "./verify.js";

/** A CloudEvents 1.0 event in structured JSON mode, with every attribute that is set. */
export interface CloudEvent {
  /** Always `"1.0"`. */
  readonly specversion: "1.0";
  /** Unique per source. */
  readonly id: string;
  /** URI reference of the context the event happened in. */
  readonly source: string;
  /** The event's type. */
  readonly type: string;
  /** Media type of `data` (RFC 2046 `type/subtype`). */
  readonly datacontenttype?: string;
  /** Absolute URI of the schema `data` adheres to. */
  readonly dataschema?: string;
  /** The subject of the event in the context of the source. */
  readonly subject?: string;
  /** When it happened, RFC 3339. */
  readonly time?: string;
  /** The event data. */
  readonly data?: JsonValue;
  /** Binary event data, base64. */
  readonly data_base64?: string;
  /** Extension attributes: lowercase alphanumeric names, string, boolean or 32-bit integer values. */
  readonly [attribute: string]: JsonValue | undefined;
}

/** Options of {@link toCloudEvent}. */
export interface ToCloudEventOptions {
  /**
   * Where `dataschema` points: `<schemaBase><name>/<version>` (name percent-encoded).
   * Give the same base to `fromCloudEvent`.
   * @default "urn:sinkproof:schema:<name>:<version>"
   */
  readonly schemaBase?: string | undefined;
}

/** Options of {@link fromCloudEvent}. */
export interface FromCloudEventOptions extends ToCloudEventOptions {
  /**
   * Producer name of a foreign event.
   * @default the percent-decoded `source` when it is a valid producer name, else `source` with `%` and `/` escaped
   */
  readonly producer?: string | undefined;
  /**
   * Schema of a foreign event's payload.
   * @default from `dataschema` when it is one of ours, else `{ name: type, version: 1 }`
   */
  readonly schema?: SchemaRef | undefined;
  /**
   * Sequence number of a foreign event.
   * @default its `sequence` attribute when that is a decimal integer, else 0
   */
  readonly seq?: number | undefined;
  /** Milliseconds since the epoch, for a foreign event without `time`. @default Date.now */
  readonly clock?: (() => number) | undefined;
  /** Id factory for foreign events. @default a monotonic ULID factory */
  readonly ids?: IdFactory | undefined;
  /** Checksum algorithm of foreign events. @default "xxh64" */
  readonly algorithm?: ChecksumAlgorithm | undefined;
}

const NAME = /^[a-z0-9]+$/;
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|"(?:[^"\\\\]|\\\\.)*"))*[ \\t]*$`,
);
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const REQUIRED = ["id", "source", "type"] as const;
/** Longest `source` read: longer is no URI anyone emits (and would be slow to check). */
const MAX_SOURCE = 4096;
const SEQUENCE_DIGITS = 16;
const URN_PREFIX = "urn:sinkproof:schema:";

/**
 * CloudEvents strings: no control characters (C0, DEL, C1), no noncharacters, no lone
 * surrogates. The envelope's own rule for names and keys is the same.
 */
const isCloudEventString = isCleanText;

const PCHAR = "(?:[A-Za-z0-9\\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})";
const SEGMENT = `${PCHAR}*`;
const SEGMENT_NC = "(?:[A-Za-z0-9\\-._~!$&'()*+,;=@]|%[0-9A-Fa-f]{2})+";
const QUERY = `(?:${PCHAR}|[/?])*`;
const AUTHORITY =
  "(?:(?:[A-Za-z0-9\\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*@)?(?:\\[[0-9A-Fa-f:.]+\\]|v[0-9A-Fa-f]+\\.[A-Za-z0-9\\-._~!$&'()*+,;=:]+|(?:[A-Za-z0-9\\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?";
const HIER = `(?://${AUTHORITY}(?:/${SEGMENT})*|/(?:${SEGMENT.replace("*", "+")}(?:/${SEGMENT})*)?|${PCHAR}+(?:/${SEGMENT})*|)`;
const RELATIVE = `(?://${AUTHORITY}(?:/${SEGMENT})*|/(?:${SEGMENT.replace("*", "+")}(?:/${SEGMENT})*)?|${SEGMENT_NC}(?:/${SEGMENT})*|)`;
const TAIL = `(?:\\?${QUERY})?(?:#${QUERY})?`;
/** RFC 3986 `absolute-URI` with an optional fragment (a `URI`). */
const URI = new RegExp(`^[A-Za-z][A-Za-z0-9+.-]*:${HIER}${TAIL}$`);
/** RFC 3986 `URI-reference`: a URI or a relative reference. */
const URI_REFERENCE = new RegExp(`^(?:[A-Za-z][A-Za-z0-9+.-]*:${HIER}|${RELATIVE})${TAIL}$`);

/** The envelope form of a time (`0000-01-01T00:00:00.000Z` to `9999-…`), or undefined. */
function envelopeTime(ms: number): string | undefined {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return undefined;
  const iso = date.toISOString();
  return iso.length === 24 && !iso.startsWith("-") && !iso.startsWith("+") ? iso : undefined;
}

/** Epoch milliseconds of an RFC 3339 timestamp (leap second 60 read as 59.999), or undefined. */
function rfc3339Ms(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Milliseconds from the fraction's digits (exact; deeper precision is cut, not rounded).
  const millis = m[7] === undefined ? 0 : Number(`${m[7].slice(1)}00`.slice(0, 3));
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  if (days === undefined || d < 1 || d > days || h > 23 || mi > 59 || s > 60) return undefined;
  let offset = 0;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offset = (m[8] === "-" ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, Math.min(s, 59), 0);
  // A leap second is read as the last millisecond of the second before it.
  const ms = date.getTime() + (s === 60 ? 999 : millis);
  return ms - offset;
}

function decodeInput(input: unknown): unknown {
  if (typeof input !== "string") return input;
  try {
    return JSON.parse(input) as unknown;
  } catch (error) {
    throw new CloudEventError([
      {
        path: "$",
        code: "invalid_json",
        message: `input is not JSON: ${error instanceof Error ? error.message : String(error)}`,
      },
    ]);
  }
}

const at = (name: string): string =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `$.${name}` : `$[${JSON.stringify(name)}]`;

/**
 * Reads a CloudEvents 1.0 event in structured JSON mode (JSON text or a parsed object) as
 * a strict spec reader: `specversion` exactly `"1.0"`; `id`, `source`, `type` non-empty
 * strings; attribute names lowercase alphanumeric; attribute values strings, booleans or
 * 32-bit integers, never objects or arrays; `datacontenttype` a `type/subtype` media type;
 * `dataschema` an absolute URI; `time` RFC 3339; `data` and `data_base64` never both.
 * `null` means "not set": such attributes are left out of the result.
 *
 * Throws a `CloudEventError` listing every broken rule.
 *
 * @example
 * ```ts
 * import { parseCloudEvent } from "sinkproof";
 * const event = parseCloudEvent('{"specversion":"1.0","id":"1","source":"/s","type":"t"}');
 * event.type; // "t"
 * ```
 */
export function parseCloudEvent(input: unknown): CloudEvent {
  const value = decodeInput(input);
  let isArray: boolean;
  try {
    isArray = Array.isArray(value);
  } catch {
    isArray = true; // a revoked Proxy: not an event object
  }
  if (typeof value !== "object" || value === null || isArray) {
    throw new CloudEventError([
      { path: "$", code: "invalid_type", message: `must be a JSON object, got ${describe(value)}` },
    ]);
  }
  const issues: ValidationIssue[] = [];
  const issue = (path: string, code: string, message: string) => {
    issues.push({ path, code, message });
  };
  const out: Record<string, JsonValue> = {};
  let keys: string[];
  try {
    keys = Object.keys(value);
  } catch {
    throw new CloudEventError([
      { path: "$", code: "invalid_type", message: "its attributes cannot be read" },
    ]);
  }
  for (const name of keys) {
    let v: unknown;
    try {
      v = (value as Record<string, unknown>)[name];
    } catch {
      issue(at(name), "unreadable", "the attribute cannot be read");
      continue;
    }
    if (name === "data") {
      if (v !== undefined) out.data = v as JsonValue;
      continue;
    }
    if (name === "data_base64") {
      if (v === null || v === undefined) continue;
      if (typeof v !== "string" || !BASE64.test(v)) {
        issue(at(name), "invalid_base64", "data_base64 must be a base64 string");
      } else out.data_base64 = v;
      continue;
    }
    if (!NAME.test(name)) {
      issue(
        at(name),
        "invalid_attribute_name",
        `attribute names must be lowercase letters and digits (a-z, 0-9), got ${JSON.stringify(name.slice(0, 64))}`,
      );
      continue;
    }
    if (v === null || v === undefined) continue; // null: the attribute is not set
    if (typeof v === "string") {
      if (!isCloudEventString(v)) {
        issue(
          at(name),
          "invalid_string",
          "must not hold control characters, noncharacters or lone surrogates",
        );
        continue;
      }
      out[name] = v;
    } else if (typeof v === "boolean") {
      out[name] = v;
    } else if (typeof v === "number") {
      if (!Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
        issue(
          at(name),
          "invalid_integer",
          `numeric attributes are 32-bit integers, got ${Number.isFinite(v) ? v : String(v)}`,
        );
        continue;
      }
      out[name] = v;
    } else {
      issue(
        at(name),
        "invalid_attribute_value",
        `attribute values are strings, booleans or integers, got ${describe(v)}`,
      );
    }
  }
  if (out.data !== undefined && typeof input !== "string") {
    // Parsed input may hold what JSON cannot (a BigInt, a function, a cycle, NaN).
    try {
      canonicalize(out.data, { maxDepth: MAX_DEPTH_LIMIT, maxBytes: MAX_BYTES_LIMIT });
    } catch (error) {
      if (error instanceof CanonicalizationError) {
        issue(
          `$.data${(error.path ?? "$").slice(1)}`,
          error.code,
          `data must be JSON: ${error.message}`,
        );
      } else throw error;
    }
  }
  if (out.data !== undefined && out.data_base64 !== undefined) {
    issue("$.data_base64", "data_conflict", "data and data_base64 must not both be present");
  }
  const failed = new Set(issues.map((i) => i.path));
  if (out.specversion === undefined) {
    if (!failed.has("$.specversion")) issue("$.specversion", "required", "specversion is required");
  } else if (out.specversion !== "1.0") {
    issue(
      "$.specversion",
      "unsupported_specversion",
      `specversion must be "1.0", got ${JSON.stringify(out.specversion)}`,
    );
  }
  for (const name of REQUIRED) {
    const v = out[name];
    if (failed.has(`$.${name}`)) continue;
    if (v === undefined) issue(`$.${name}`, "required", `${name} is required`);
    else if (typeof v !== "string") issue(`$.${name}`, "invalid_type", `${name} must be a string`);
    else if (v.length === 0) issue(`$.${name}`, "empty", `${name} must not be empty`);
  }
  if (typeof out.source === "string" && out.source.length > MAX_SOURCE) {
    issue("$.source", "too_long", `source must be at most ${MAX_SOURCE} characters`);
  } else if (
    typeof out.source === "string" &&
    out.source.length > 0 &&
    !URI_REFERENCE.test(out.source)
  ) {
    issue("$.source", "invalid_uri_reference", "source must be a URI reference");
  }
  const optionalString = (
    name: string,
    test: (v: string) => boolean,
    code: string,
    rule: string,
  ) => {
    const v = out[name];
    if (v === undefined || failed.has(`$.${name}`)) return;
    if (typeof v !== "string") issue(`$.${name}`, "invalid_type", `${name} must be a string`);
    else if (!test(v))
      issue(`$.${name}`, code, `${name} ${rule}, got ${JSON.stringify(v.slice(0, 64))}`);
  };
  optionalString(
    "datacontenttype",
    (v) => MEDIA_TYPE.test(v),
    "invalid_media_type",
    "must be a media type (type/subtype)",
  );
  optionalString("dataschema", (v) => URI.test(v), "invalid_uri", "must be an absolute URI");
  optionalString("subject", (v) => v.length > 0, "empty", "must not be empty");
  optionalString(
    "time",
    (v) => rfc3339Ms(v) !== undefined,
    "invalid_time",
    "must be an RFC 3339 timestamp",
  );
  if (issues.length > 0) throw new CloudEventError(issues);
  return Object.freeze(out) as unknown as CloudEvent;
}

function encodeSource(producer: string): string {
  return encodeURIComponent(producer);
}

function producerOfSource(source: string): string | undefined {
  let decoded: string | undefined;
  try {
    decoded = decodeURIComponent(source);
  } catch {
    decoded = undefined;
  }
  const fits = (p: string) =>
    p.length > 0 && p.length <= ENVELOPE_LIMITS.producer && isProducerName(p);
  if (decoded !== undefined && fits(decoded)) return decoded;
  const escaped = source.replaceAll("%", "%25").replaceAll("/", "%2F");
  return fits(escaped) ? escaped : undefined;
}

function schemaUri(schema: SchemaRef, base: string | undefined): string {
  const name = encodeURIComponent(schema.name);
  return base === undefined
    ? `${URN_PREFIX}${name}:${schema.version}`
    : `${base}${name}/${schema.version}`;
}

function schemaOfUri(uri: string, base: string | undefined): SchemaRef | undefined {
  let rest: string;
  let sep: string;
  if (base === undefined) {
    if (!uri.startsWith(URN_PREFIX)) return undefined;
    rest = uri.slice(URN_PREFIX.length);
    sep = ":";
  } else {
    if (!uri.startsWith(base)) return undefined;
    rest = uri.slice(base.length);
    sep = "/";
  }
  const cut = rest.lastIndexOf(sep);
  if (cut <= 0) return undefined;
  const digits = rest.slice(cut + 1);
  if (!/^[1-9]\d{0,15}$/.test(digits)) return undefined;
  const version = Number(digits);
  if (!Number.isSafeInteger(version)) return undefined;
  try {
    return { name: decodeURIComponent(rest.slice(0, cut)), version };
  } catch {
    return undefined;
  }
}

function checkBase(base: unknown, where: string): string | undefined {
  if (base === undefined) return undefined;
  if (typeof base !== "string" || !URI.test(base) || base.length > 1024) {
    invalidArgument(where, `must be an absolute URI, got ${describe(base)}`);
  }
  return base;
}

/**
 * Maps an envelope to a CloudEvents 1.0 event in structured JSON mode (see the module
 * notes for the mapping). `JSON.stringify` the result to send it; `fromCloudEvent` reads
 * it back into the same envelope.
 *
 * @example
 * ```ts
 * import { seal, toCloudEvent } from "sinkproof";
 * const envelope = seal({ producer: "orders-svc", seq: 7, type: "order.created", schema: { name: "order", version: 2 }, payload: { orderId: "o-1" } });
 * const event = toCloudEvent(envelope);
 * event.sequence;   // "0000000000000007"
 * event.dataschema; // "urn:sinkproof:schema:order:2"
 * ```
 */
export function toCloudEvent(envelope: Envelope, options: ToCloudEventOptions = {}): CloudEvent {
  // Only an intact envelope goes out: its fields and its checksum are checked.
  checkEnvelope(envelope, payloadLimits(undefined));
  const read = readOptions<ToCloudEventOptions>(options, "options", TO_KEYS);
  const base = checkBase(read.schemaBase, "options.schemaBase");
  const event: Record<string, JsonValue> = {
    specversion: "1.0",
    id: envelope.id,
    source: encodeSource(envelope.producer),
    type: envelope.type,
    time: envelope.time,
    subject: envelope.stream,
    datacontenttype: "application/json",
    dataschema: schemaUri(envelope.schema, base),
    sequence: String(envelope.seq).padStart(SEQUENCE_DIGITS, "0"),
    partitionkey: `${envelope.producer}/${envelope.stream}`,
    sinkproofkey: envelope.key,
    sinkproofchecksum: envelope.checksum,
  };
  const trace = envelope.trace ?? {};
  if (trace.traceparent !== undefined) event.traceparent = trace.traceparent;
  if (trace.correlationId !== undefined) event.sinkproofcorrelation = trace.correlationId;
  if (trace.causationId !== undefined) event.sinkproofcausation = trace.causationId;
  if (envelope.parents !== undefined && envelope.parents.length > 0) {
    event.sinkproofparents = envelope.parents.join(",");
  }
  event.data = envelope.payload;
  return Object.freeze(event) as unknown as CloudEvent;
}

const TO_KEYS = optionKeys<ToCloudEventOptions>()("schemaBase");
const FROM_KEYS = optionKeys<FromCloudEventOptions>()(
  "schemaBase",
  "producer",
  "schema",
  "seq",
  "clock",
  "ids",
  "algorithm",
);

const JSON_MEDIA = /^(?:application\/json|text\/json|[^/]+\/[^;]*\+json)(?:\s*;.*)?$/i;

function fail(path: string, code: string, message: string): never {
  throw new CloudEventError([{ path, code, message }]);
}

/**
 * Reads a CloudEvents 1.0 event (JSON text or a parsed object) into an envelope. The
 * event is first checked by {@link parseCloudEvent}. An event made by `toCloudEvent`
 * becomes exactly the envelope it came from, checksum verified (an altered `data` throws
 * an `IntegrityError`). A foreign event is sealed as a new envelope (see the module
 * notes); its extension attributes are not kept.
 *
 * @example
 * ```ts
 * import { fromCloudEvent, toCloudEvent } from "sinkproof";
 * const again = fromCloudEvent(JSON.stringify(toCloudEvent(envelope))); // deep-equals envelope
 * const foreign = fromCloudEvent({ specversion: "1.0", id: "A-1", source: "https://example.com/shop", type: "order.paid", data: { orderId: "o-1" } });
 * foreign.key; // "ik1_…", the same for every copy of event A-1 from that source
 * ```
 */
export function fromCloudEvent(input: unknown, fromOptions: FromCloudEventOptions = {}): Envelope {
  const options = readOptions<FromCloudEventOptions>(fromOptions, "options", FROM_KEYS);
  const base = checkBase(options.schemaBase, "options.schemaBase");
  const event = parseCloudEvent(input);
  const hasKey = event.sinkproofkey !== undefined;
  const hasChecksum = event.sinkproofchecksum !== undefined;
  if (hasKey || hasChecksum) return ownEvent(event, base);

  const producer = options.producer ?? producerOfSource(event.source);
  if (producer === undefined) {
    fail("$.source", "invalid_producer", "source cannot name a producer: give options.producer");
  }
  let schema =
    options.schema === undefined
      ? undefined
      : (readOptions<SchemaRef>(options.schema, "options.schema", ["name", "version"], {
          required: true,
        }) as SchemaRef);
  if (schema === undefined) {
    const fromUri =
      typeof event.dataschema === "string" ? schemaOfUri(event.dataschema, base) : undefined;
    schema = fromUri ?? { name: event.type, version: 1 };
  }
  let seq = options.seq;
  if (seq === undefined) {
    const s = event.sequence;
    seq =
      typeof s === "string" && /^\d{1,16}$/.test(s) && Number.isSafeInteger(Number(s))
        ? Number(s)
        : typeof s === "number" && s >= 0
          ? s
          : 0;
  }
  const clock = options.clock ?? Date.now;
  const ms = typeof event.time === "string" ? rfc3339Ms(event.time) : undefined;
  if (
    typeof event.time === "string" &&
    (ms === undefined || ms < 0 || envelopeTime(ms) === undefined)
  ) {
    // An envelope's time (and its ULID's) runs from the Unix epoch to the end of year 9999.
    fail("$.time", "invalid_time", "time is outside 1970 to 9999, the range an envelope can hold");
  }
  const time = ms;
  const contentType = typeof event.datacontenttype === "string" ? event.datacontenttype : undefined;
  let payload: unknown;
  if (event.data_base64 !== undefined) {
    payload = {
      datacontenttype: contentType ?? "application/octet-stream",
      data_base64: event.data_base64,
    };
  } else if (contentType === undefined || JSON_MEDIA.test(contentType)) {
    payload = event.data ?? null;
  } else {
    payload = { datacontenttype: contentType, data: event.data ?? null };
  }
  const traceparent =
    typeof event.traceparent === "string" && isTraceparent(event.traceparent)
      ? event.traceparent
      : undefined;
  return seal(
    {
      producer,
      stream: typeof event.subject === "string" ? event.subject : DEFAULT_STREAM,
      seq,
      type: event.type,
      schema,
      payload,
      key: idempotencyKey({ cloudevents_source: event.source, cloudevents_id: event.id }),
      ...(traceparent === undefined ? {} : { trace: { traceparent } }),
    },
    {
      clock: time === undefined ? clock : () => time,
      ...(options.ids === undefined ? {} : { ids: options.ids }),
      ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
    },
  ) as Envelope;
}

/** Reads back an event `toCloudEvent` made: every field must be there, in our formats. */
function ownEvent(event: CloudEvent, base: string | undefined): Envelope {
  const issues: ValidationIssue[] = [];
  const need = (ok: boolean, path: string, message: string) => {
    if (!ok) issues.push({ path, code: "invalid_sinkproof_attribute", message });
  };
  need(
    typeof event.sinkproofkey === "string",
    "$.sinkproofkey",
    "sinkproofkey must be a string (it comes with sinkproofchecksum)",
  );
  need(
    isChecksum(event.sinkproofchecksum),
    "$.sinkproofchecksum",
    "sinkproofchecksum must be a sinkproof checksum (it comes with sinkproofkey)",
  );
  need(isId(event.id), "$.id", "id of a sinkproof event must be a ULID");
  const ms = typeof event.time === "string" ? rfc3339Ms(event.time) : undefined;
  const time = ms === undefined ? undefined : envelopeTime(ms);
  need(
    time !== undefined,
    "$.time",
    "time of a sinkproof event must be an RFC 3339 timestamp from year 0 to 9999",
  );
  const sequence = event.sequence;
  need(
    typeof sequence === "string" &&
      /^\d{16}$/.test(sequence) &&
      Number.isSafeInteger(Number(sequence)),
    "$.sequence",
    "sequence must be 16 decimal digits",
  );
  need(
    event.datacontenttype === "application/json",
    "$.datacontenttype",
    "datacontenttype must be application/json",
  );
  need(
    event.data_base64 === undefined,
    "$.data_base64",
    "a sinkproof event carries data, not data_base64",
  );
  const schema =
    typeof event.dataschema === "string" ? schemaOfUri(event.dataschema, base) : undefined;
  need(
    schema !== undefined,
    "$.dataschema",
    base === undefined
      ? `dataschema must be ${URN_PREFIX}<name>:<version>`
      : `dataschema must be ${base}<name>/<version>`,
  );
  const producer = (() => {
    try {
      return decodeURIComponent(event.source);
    } catch {
      return undefined;
    }
  })();
  need(producer !== undefined, "$.source", "source must be a percent-encoded producer name");
  const parents = event.sinkproofparents;
  need(
    parents === undefined || typeof parents === "string",
    "$.sinkproofparents",
    "sinkproofparents must be ids joined by commas",
  );
  for (const name of ["traceparent", "sinkproofcorrelation", "sinkproofcausation"]) {
    const v = event[name];
    need(v === undefined || typeof v === "string", `$.${name}`, `${name} must be a string`);
  }
  if (issues.length > 0) throw new CloudEventError(issues);
  const trace: Record<string, string> = {};
  if (event.traceparent !== undefined) trace.traceparent = event.traceparent as string;
  if (event.sinkproofcorrelation !== undefined)
    trace.correlationId = event.sinkproofcorrelation as string;
  if (event.sinkproofcausation !== undefined)
    trace.causationId = event.sinkproofcausation as string;
  // The same checks as parseEnvelope (fields, limits, checksum), on the fast path.
  return checkEnvelope(
    {
      id: event.id,
      producer,
      stream: event.subject ?? DEFAULT_STREAM,
      seq: Number(sequence),
      type: event.type,
      schema,
      time,
      key: event.sinkproofkey,
      checksum: event.sinkproofchecksum,
      payload: event.data === undefined ? null : event.data,
      trace,
      parents: typeof parents === "string" && parents.length > 0 ? parents.split(",") : [],
    },
    payloadLimits(undefined),
  );
}
