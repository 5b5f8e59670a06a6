/**
 * An envelope as JSON text, the way the durable ledgers store it: the envelope's own field
 * order, with the payload's canonical bytes (already computed by the integrity check)
 * spliced in, so that storing an envelope does not serialize its payload a second time;
 * and the way back, checked, so that a row that is not an envelope is never returned.
 *
 * @module
 */

import { isValidEnvelopeFields } from "../envelope/fields.js";
import type { Envelope, JsonValue } from "../envelope/schema.js";
import { buildEnvelope } from "../envelope/seal.js";
import { deepFreeze } from "../internal/freeze.js";

/**
 * An envelope's JSON around its payload: the payload's canonical bytes go between the two
 * parts. Field order is the envelope's own, so `JSON.parse` gives back the same envelope.
 */
export function jsonParts(e: Envelope): { prefix: string; suffix: string } {
  // id, time and checksum are of a fixed alphabet (no escaping); the names may need it.
  const q = JSON.stringify;
  return {
    prefix: `{"id":"${e.id}","producer":${q(e.producer)},"stream":${q(e.stream)},"seq":${e.seq},"type":${q(e.type)},"schema":{"name":${q(e.schema.name)},"version":${e.schema.version}},"time":"${e.time}","key":${q(e.key)},"checksum":"${e.checksum}","payload":`,
    suffix: `,"trace":${q(e.trace)},"parents":${q(e.parents)}}`,
  };
}

const decoder = new TextDecoder();

/** The envelope as JSON text; `canonical` is its payload's canonical UTF-8, when known. */
export function envelopeJson(envelope: Envelope, canonical: Uint8Array | undefined): string {
  return storedEnvelope(envelope, canonical).text;
}

/**
 * {@link envelopeJson}, and the same text without its payload (`rest`, what the entry hash
 * covers), from one serialization.
 */
export function storedEnvelope(
  envelope: Envelope,
  canonical: Uint8Array | undefined,
): { text: string; rest: string } {
  const { prefix, suffix } = jsonParts(envelope);
  const payload =
    canonical === undefined ? JSON.stringify(envelope.payload) : decoder.decode(canonical);
  return { text: prefix + payload + suffix, rest: prefix + suffix };
}

/** Parses stored envelope JSON; undefined when it is not an envelope. */
export function parseEnvelopeJson(text: unknown): Envelope | undefined {
  if (typeof text !== "string") return undefined;
  let parsed: (Envelope & { payload: JsonValue }) | undefined;
  try {
    parsed = JSON.parse(text) as Envelope & { payload: JsonValue };
  } catch {
    return undefined;
  }
  if (!isValidEnvelopeFields(parsed) || parsed === undefined || parsed.payload === undefined)
    return undefined;
  deepFreeze(parsed.payload);
  return buildEnvelope(parsed);
}
