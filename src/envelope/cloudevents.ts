/**
 * CloudEvents 1.0 in structured JSON mode: `toCloudEvent` and `fromCloudEvent`, the
 * mapping between envelopes and events. `parseCloudEvent`, the strict reader of the spec
 * that `fromCloudEvent` reads with, is `cloudevents-parse.ts`'s, re-exported here.
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

import { type ChecksumAlgorithm, isChecksum } from "../checksum/checksum.js";
import { CloudEventError, type ValidationIssue } from "../errors.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { checkEnvelope } from "./check.js";
import { type CloudEvent, parseCloudEvent, rfc3339Ms, URI } from "./cloudevents-parse.js";
import { type IdFactory, isId } from "./ids.js";
import { idempotencyKey } from "./keys.js";
import {
  DEFAULT_STREAM,
  ENVELOPE_LIMITS,
  type Envelope,
  isProducerName,
  isTraceparent,
  type JsonValue,
  type SchemaRef,
} from "./schema.js";
import { seal } from "./seal.js";
import { payloadLimits } from "./verify.js";

export { type CloudEvent, parseCloudEvent } from "./cloudevents-parse.js";

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

const SEQUENCE_DIGITS = 16;
const URN_PREFIX = "urn:sinkproof:schema:";

/** The envelope form of a time (`0000-01-01T00:00:00.000Z` to `9999-…`), or undefined. */
function envelopeTime(ms: number): string | undefined {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return undefined;
  const iso = date.toISOString();
  return iso.length === 24 && !iso.startsWith("-") && !iso.startsWith("+") ? iso : undefined;
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
  const schema = foreignSchema(options.schema, event, base);
  const seq = options.seq === undefined ? foreignSeq(event.sequence) : options.seq;
  const clock = options.clock ?? Date.now;
  const time = foreignTime(event.time);
  const payload = foreignPayload(event);
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

/** A foreign event's schema: `options.schema`, else from `dataschema` when it is ours, else `{ name: type, version: 1 }`. */
function foreignSchema(
  given: SchemaRef | undefined,
  event: CloudEvent,
  base: string | undefined,
): SchemaRef {
  const read =
    given === undefined
      ? undefined
      : (readOptions<SchemaRef>(given, "options.schema", ["name", "version"], {
          required: true,
        }) as SchemaRef);
  if (read !== undefined) return read;
  const fromUri =
    typeof event.dataschema === "string" ? schemaOfUri(event.dataschema, base) : undefined;
  return fromUri ?? { name: event.type, version: 1 };
}

/** A foreign event's seq: its `sequence` when that is a decimal integer, else 0. */
function foreignSeq(s: JsonValue | undefined): number {
  return typeof s === "string" && /^\d{1,16}$/.test(s) && Number.isSafeInteger(Number(s))
    ? Number(s)
    : typeof s === "number" && s >= 0
      ? s
      : 0;
}

/** A foreign event's time in epoch milliseconds, undefined when it has none. */
function foreignTime(time: string | undefined): number | undefined {
  const ms = typeof time === "string" ? rfc3339Ms(time) : undefined;
  if (typeof time === "string" && (ms === undefined || ms < 0 || envelopeTime(ms) === undefined)) {
    // An envelope's time (and its ULID's) runs from the Unix epoch to the end of year 9999.
    fail("$.time", "invalid_time", "time is outside 1970 to 9999, the range an envelope can hold");
  }
  return ms;
}

/** A foreign event's payload: its JSON `data`, or the data with its media type when it is not JSON. */
function foreignPayload(event: CloudEvent): unknown {
  const contentType = typeof event.datacontenttype === "string" ? event.datacontenttype : undefined;
  if (event.data_base64 !== undefined) {
    return {
      datacontenttype: contentType ?? "application/octet-stream",
      data_base64: event.data_base64,
    };
  }
  if (contentType === undefined || JSON_MEDIA.test(contentType)) return event.data ?? null;
  return { datacontenttype: contentType, data: event.data ?? null };
}

/** Reads back an event `toCloudEvent` made: every field must be there, in our formats. */
function ownEvent(event: CloudEvent, base: string | undefined): Envelope {
  const { time, schema, producer } = checkOwnEvent(event, base);
  const parents = event.sinkproofparents;
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
      seq: Number(event.sequence),
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

/**
 * Checks every sinkproof attribute of an event `toCloudEvent` made, throwing a
 * `CloudEventError` listing each one that is missing or not in our format; returns the
 * fields read from them.
 */
function checkOwnEvent(
  event: CloudEvent,
  base: string | undefined,
): { time: string | undefined; schema: SchemaRef | undefined; producer: string | undefined } {
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
  return { time, schema, producer };
}
