/**
 * The envelope: its TypeScript type, its zod schema, and the field rules both share.
 *
 * Owns: what a valid envelope is (field formats and length limits). The same constants
 * and predicates back the zod schemas (used on foreign input) and the hand-written check
 * that `seal` runs on the hot path; a property test keeps the two in agreement.
 *
 * @module
 */

import { z } from "zod";
import { canonicalBytes } from "../canonical/canonicalize.js";
import type { Checksum } from "../checksum/checksum.js";
import { isChecksum } from "../checksum/checksum.js";
import { CanonicalizationError } from "../errors.js";
import { isId } from "./ids.js";

/** A JSON value, as it appears in a sealed payload. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/**
 * The JSON form of a payload type, read-only: what `seal` stores after canonicalization
 * (a `Date` becomes its ISO-8601 string).
 */
export type JsonOf<T> = T extends Date
  ? string
  : T extends string | number | boolean | null
    ? T
    : T extends readonly unknown[]
      ? { readonly [I in keyof T]: JsonOf<T[I]> }
      : T extends object
        ? { readonly [K in keyof T]: JsonOf<T[K]> }
        : never;

/** The schema a payload was written with: a name and a positive integer version. */
export interface SchemaRef {
  /** Schema name, usually the payload type's name, e.g. `order`. */
  readonly name: string;
  /** Positive integer version, starting at 1. */
  readonly version: number;
}

/** Tracing context carried by an envelope; every field is optional. */
export interface Trace {
  /** W3C Trace Context `traceparent` header value. */
  readonly traceparent?: string;
  /** Identifier shared by every event of one business transaction. */
  readonly correlationId?: string;
  /** Id of the event or command that caused this one. */
  readonly causationId?: string;
}

/**
 * One sealed event. Immutable: `seal` and `parseEnvelope` return it frozen, payload
 * included. `checksum` covers the canonical form of `payload` only, so a sink that stores
 * the payload can recompute it.
 */
export interface Envelope<P = JsonValue> {
  /** ULID, unique per envelope; sorts by creation time within a producer process. */
  readonly id: string;
  /** Name of the producer that emitted it. */
  readonly producer: string;
  /** Stream (topic, entity type, partition) inside the producer. */
  readonly stream: string;
  /** Sequence number of the producer, a non-negative safe integer. */
  readonly seq: number;
  /** Event type, e.g. `order.created`. */
  readonly type: string;
  /** Schema name and version of the payload. */
  readonly schema: SchemaRef;
  /** When it was sealed: ISO-8601 UTC with milliseconds, e.g. `2026-11-26T15:02:59.123Z`. */
  readonly time: string;
  /** Idempotency key: the identity of the effect. */
  readonly key: string;
  /** `xxh64:<16 hex>` or `sha256:<64 hex>` of the payload's canonical UTF-8 bytes. */
  readonly checksum: Checksum;
  /** The event data, a JSON value. */
  readonly payload: P;
  /** Tracing context. */
  readonly trace: Trace;
  /** Ids of the upstream envelopes this one derives from. */
  readonly parents: readonly string[];
}

/** Length limits of envelope fields (UTF-16 code units) and of the payload. */
export const ENVELOPE_LIMITS: {
  /** Longest producer name. */
  readonly producer: number;
  /** Longest stream name. */
  readonly stream: number;
  /** Longest event type. */
  readonly type: number;
  /** Longest schema name. */
  readonly schemaName: number;
  /** Longest idempotency key. */
  readonly key: number;
  /** Longest `trace.correlationId` or `trace.causationId`. */
  readonly traceField: number;
  /** Most parent ids. */
  readonly parents: number;
  /** Default largest canonical payload, in UTF-8 bytes (1 MiB). */
  readonly maxPayloadBytes: number;
  /** Default deepest payload nesting. */
  readonly maxDepth: number;
} = Object.freeze({
  producer: 128,
  stream: 256,
  type: 256,
  schemaName: 256,
  key: 512,
  traceField: 256,
  parents: 256,
  maxPayloadBytes: 1024 * 1024,
  maxDepth: 64,
});

const DEFAULT_PAYLOAD_LIMITS = {
  maxDepth: ENVELOPE_LIMITS.maxDepth,
  maxBytes: ENVELOPE_LIMITS.maxPayloadBytes,
};

/** The stream of an envelope sealed without one. */
export const DEFAULT_STREAM = "default";

/** C0 and C1 control characters, DEL, and Unicode noncharacters (U+FDD0-FDEF, U+xxFFFE/F). */
const CONTROL =
  /[\u0000-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]/;
const TIME_FORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const TRACEPARENT_FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[^\s]*)?$/;
const CLEAN_TEXT_MESSAGE = "must not hold control characters, noncharacters or lone surrogates";

/**
 * Names and keys: no control characters (C0, DEL, C1), no Unicode noncharacters, no lone
 * surrogates: text any system (a CloudEvents attribute, a database column, a URL) carries
 * unchanged. Length is checked apart.
 */
export function isCleanText(value: string): boolean {
  const n = value.length;
  if (n > 64) return !CONTROL.test(value) && value.isWellFormed();
  // Short names and keys, the usual case: one pass, no regex.
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return false;
    if (c >= 0xd800) return !CONTROL.test(value) && value.isWellFormed();
  }
  return true;
}

/** Producer names: clean text without `/` (which separates the parts of a sequence key). */
export function isProducerName(value: string): boolean {
  return isCleanText(value) && !value.includes("/");
}

/** ISO-8601 UTC with exactly three fraction digits, and a real calendar date. */
export function isEnvelopeTime(value: string): boolean {
  // Receipts and envelopes made in one millisecond share their times: the last two that
  // checked out (a receipt's start and end alternate) are not parsed again (a string
  // cannot change).
  if (value === lastTime || value === otherTime) return true;
  if (!TIME_FORMAT.test(value)) return false;
  const date = new Date(value);
  if (Number.isNaN(date.getTime()) || date.toISOString() !== value) return false;
  otherTime = lastTime;
  lastTime = value;
  return true;
}

// Undefined until a time checks out: no string can match them before (an empty one neither).
let lastTime: string | undefined;
let otherTime: string | undefined;

/** W3C Trace Context: version-traceid-parentid-flags, ids not all zero, version not ff. */
export function isTraceparent(value: string): boolean {
  const match = TRACEPARENT_FORMAT.exec(value);
  if (match === null) return false;
  const [, version, traceId, parentId, rest] = match;
  if (version === "ff" || /^0+$/.test(traceId as string) || /^0+$/.test(parentId as string)) {
    return false;
  }
  return version !== "00" || rest === undefined;
}

const cleanText = (max: number) =>
  z.string().min(1).max(max).refine(isCleanText, { message: CLEAN_TEXT_MESSAGE });

const schemaRefSchema = z.strictObject({
  name: cleanText(ENVELOPE_LIMITS.schemaName),
  version: z.int().min(1),
});

const traceSchema = z.strictObject({
  traceparent: z
    .string()
    .refine(isTraceparent, { message: "must be a W3C traceparent" })
    .optional(),
  correlationId: cleanText(ENVELOPE_LIMITS.traceField).optional(),
  causationId: cleanText(ENVELOPE_LIMITS.traceField).optional(),
});

const idSchema = z.string().refine(isId, { message: "must be a ULID in upper case" });

const envelopeShape = {
  id: idSchema,
  producer: z
    .string()
    .min(1)
    .max(ENVELOPE_LIMITS.producer)
    .refine(isProducerName, { message: `${CLEAN_TEXT_MESSAGE}, nor "/"` }),
  stream: cleanText(ENVELOPE_LIMITS.stream),
  seq: z.int().min(0),
  type: cleanText(ENVELOPE_LIMITS.type),
  schema: schemaRefSchema,
  time: z.string().refine(isEnvelopeTime, {
    message: "must be ISO-8601 UTC with milliseconds, e.g. 2026-11-26T15:02:59.123Z",
  }),
  key: cleanText(ENVELOPE_LIMITS.key),
  checksum: z.string().refine(isChecksum, {
    message: 'must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits',
  }),
  payload: z.unknown(),
  trace: traceSchema,
  parents: z.array(idSchema).max(ENVELOPE_LIMITS.parents),
};

/** Fields a caller gives to `seal`, payload aside. Internal: explains why a draft failed. */
export const draftFieldsSchema: z.ZodType = z.strictObject({
  producer: envelopeShape.producer,
  stream: envelopeShape.stream.optional(),
  seq: envelopeShape.seq,
  type: envelopeShape.type,
  schema: envelopeShape.schema,
  key: envelopeShape.key.optional(),
  trace: envelopeShape.trace.optional(),
  parents: envelopeShape.parents.optional(),
  payload: envelopeShape.payload,
});

/** Every envelope field; the payload is checked apart, with the caller's limits. Internal. */
export const envelopeFieldsSchema: z.ZodType = z.strictObject(envelopeShape);

const jsonPayloadSchema = z.custom<JsonValue>().superRefine((value, ctx) => {
  if (value === undefined) {
    ctx.addIssue({ code: "custom", message: "payload is required" });
    return;
  }
  try {
    canonicalBytes(value, DEFAULT_PAYLOAD_LIMITS);
  } catch (error) {
    if (!(error instanceof CanonicalizationError)) throw error;
    ctx.addIssue({ code: "custom", message: error.message, params: { code: error.code } });
  }
});

/**
 * zod schema of an envelope, for composing with your own schemas (e.g. a message that
 * carries an envelope). The payload must be JSON within the default limits. To read
 * envelopes from the outside world prefer {@link parseEnvelope}, which also verifies the
 * checksum, takes limits, freezes the result and throws a typed error listing every issue.
 *
 * @example
 * ```ts
 * import { envelopeSchema } from "sinkproof";
 * const message = z.object({ envelope: envelopeSchema, attempt: z.int() });
 * ```
 */
export const envelopeSchema: z.ZodType<Envelope> = z.strictObject({
  ...envelopeShape,
  payload: jsonPayloadSchema,
}) as unknown as z.ZodType<Envelope>;
