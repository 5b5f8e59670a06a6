/**
 * Hot-path checks of envelope fields, hand-written so that sealing and appending do not
 * pay for a zod parse on every event. Each must accept exactly what its zod schema
 * accepts (`draftFieldsSchema`, `envelopeFieldsSchema`): property tests hold them
 * together, and on failure the zod schema runs to list every issue.
 *
 * @module
 */

import { isChecksum } from "../checksum/checksum.js";
import { isId } from "./ids.js";
import { ENVELOPE_LIMITS, isCleanText, isEnvelopeTime, isTraceparent } from "./schema.js";

/** The fields a draft may have. Internal (seal reads a draft by them). */
export const DRAFT_KEYS: ReadonlySet<string> = new Set([
  "producer",
  "stream",
  "seq",
  "type",
  "schema",
  "payload",
  "key",
  "trace",
  "parents",
]);
const ENVELOPE_KEYS = new Set([
  "id",
  "producer",
  "stream",
  "seq",
  "type",
  "schema",
  "time",
  "key",
  "checksum",
  "payload",
  "trace",
  "parents",
]);
/** The fields a trace may have. Internal. */
export const TRACE_KEYS: ReadonlySet<string> = new Set([
  "traceparent",
  "correlationId",
  "causationId",
]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Names that passed `isCleanText` recently. Producers seal many envelopes with the same
 * producer, stream, type and schema names, so the scan is skipped for a name seen before.
 * Bounded: cleared when full.
 */
const cleanNames = new Set<string>();

function isText(value: unknown, max: number): value is string {
  if (typeof value !== "string" || value.length < 1 || value.length > max) return false;
  if (cleanNames.has(value)) return true;
  if (!isCleanText(value)) return false;
  if (cleanNames.size >= 1024) cleanNames.clear();
  cleanNames.add(value);
  return true;
}

/** Keys differ from envelope to envelope: checked without the name cache, which they would flush. */
function isKey(value: unknown): value is string {
  return (
    typeof value === "string" &&
    value.length >= 1 &&
    value.length <= ENVELOPE_LIMITS.key &&
    isCleanText(value)
  );
}

function hasOnlyKeys(value: object, allowed: ReadonlySet<string>): boolean {
  for (const key of Object.keys(value)) if (!allowed.has(key)) return false;
  return true;
}

function isSeq(value: unknown): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isSchemaRef(schema: unknown): boolean {
  if (!isObject(schema) || Object.keys(schema).length !== 2) return false;
  if (!isText(schema.name, ENVELOPE_LIMITS.schemaName)) return false;
  const version = schema.version;
  return typeof version === "number" && Number.isSafeInteger(version) && version >= 1;
}

function isTrace(trace: unknown): boolean {
  if (!isObject(trace) || !hasOnlyKeys(trace, TRACE_KEYS)) return false;
  const { traceparent, correlationId, causationId } = trace;
  if (
    traceparent !== undefined &&
    (typeof traceparent !== "string" || !isTraceparent(traceparent))
  ) {
    return false;
  }
  if (correlationId !== undefined && !isText(correlationId, ENVELOPE_LIMITS.traceField))
    return false;
  return causationId === undefined || isText(causationId, ENVELOPE_LIMITS.traceField);
}

function isParents(parents: unknown): boolean {
  if (!Array.isArray(parents) || parents.length > ENVELOPE_LIMITS.parents) return false;
  for (let i = 0; i < parents.length; i++) if (!isId(parents[i])) return false;
  return true;
}

function isProducer(value: unknown): value is string {
  return isText(value, ENVELOPE_LIMITS.producer) && !value.includes("/");
}

/** The hot-path check of a draft's fields (payload aside); see `draftFieldsSchema`. */
export function isValidDraft(draft: unknown): boolean {
  if (!isObject(draft) || !hasOnlyKeys(draft, DRAFT_KEYS)) return false;
  const { producer, stream, seq, type, schema, key, trace, parents } = draft;
  return (
    isProducer(producer) &&
    (stream === undefined || isText(stream, ENVELOPE_LIMITS.stream)) &&
    isSeq(seq) &&
    isText(type, ENVELOPE_LIMITS.type) &&
    isSchemaRef(schema) &&
    (key === undefined || isKey(key)) &&
    (trace === undefined || isTrace(trace)) &&
    (parents === undefined || isParents(parents))
  );
}

/**
 * The hot-path check of an envelope's fields (payload aside: it is canonicalized apart);
 * see `envelopeFieldsSchema`.
 */
export function isValidEnvelopeFields(envelope: unknown): boolean {
  if (!isObject(envelope) || !hasOnlyKeys(envelope, ENVELOPE_KEYS)) return false;
  const { id, producer, stream, seq, type, schema, time, key, checksum, trace, parents } = envelope;
  if (typeof time !== "string") return false;
  // isEnvelopeTime keeps the last times that checked out: a batch's envelopes share one.
  if (!isEnvelopeTime(time)) return false;
  return (
    isId(id) &&
    isProducer(producer) &&
    isText(stream, ENVELOPE_LIMITS.stream) &&
    isSeq(seq) &&
    isText(type, ENVELOPE_LIMITS.type) &&
    isSchemaRef(schema) &&
    isKey(key) &&
    isChecksum(checksum) &&
    isTrace(trace) &&
    isParents(parents)
  );
}
