/**
 * `parseCloudEvent`: a strict reader of CloudEvents 1.0 in structured JSON mode, and the
 * `CloudEvent` type it returns. The grammar it holds an event to (attribute names, media
 * types, RFC 3339 times, RFC 3986 URIs and URI references, base64) lives here too.
 *
 * Owns: what a valid event is. Promises: every broken rule is reported, in one
 * `CloudEventError`, with its path (`$.time`, `$["Bad-Name"]`, `$.data.a`) and code; the
 * event returned is frozen and holds only the attributes that are set. Mapping events to
 * and from envelopes is `cloudevents.ts`'s.
 *
 * @module
 */

import { canonicalize, MAX_BYTES_LIMIT, MAX_DEPTH_LIMIT } from "../canonical/canonicalize.js";
import { CanonicalizationError, CloudEventError, type ValidationIssue } from "../errors.js";
import { describe } from "../internal/arguments.js";
import { isCleanText, type JsonValue } from "./schema.js";

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
export const URI: RegExp = new RegExp(`^[A-Za-z][A-Za-z0-9+.-]*:${HIER}${TAIL}$`);
/** RFC 3986 `URI-reference`: a URI or a relative reference. */
const URI_REFERENCE = new RegExp(`^(?:[A-Za-z][A-Za-z0-9+.-]*:${HIER}|${RELATIVE})${TAIL}$`);

/** Epoch milliseconds of an RFC 3339 timestamp (leap second 60 read as 59.999), or undefined. */
export function rfc3339Ms(value: string): number | undefined {
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
  const value = readObject(input);
  const issues: ValidationIssue[] = [];
  const out = readAttributes(value, issues);
  checkData(out, issues);
  // The paths already reported: a broken attribute is not also reported missing.
  const failed = new Set(issues.map((i) => i.path));
  checkRequired(out, failed, issues);
  checkOptional(out, failed, issues);
  if (issues.length > 0) throw new CloudEventError(issues);
  return Object.freeze(out) as unknown as CloudEvent;
}

function addIssue(issues: ValidationIssue[], path: string, code: string, message: string): void {
  issues.push({ path, code, message });
}

/** The event object of the input (JSON text or a parsed value), or a `CloudEventError`. */
function readObject(input: unknown): object {
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
  return value;
}

/** Every attribute that is set, context and extension alike, each read once. */
function readAttributes(value: object, issues: ValidationIssue[]): Record<string, JsonValue> {
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
      addIssue(issues, at(name), "unreadable", "the attribute cannot be read");
      continue;
    }
    readAttribute(name, v, out, issues);
  }
  return out;
}

/** One attribute into `out`: `data` as it is, `data_base64` checked, any other by its name and value. */
function readAttribute(
  name: string,
  v: unknown,
  out: Record<string, JsonValue>,
  issues: ValidationIssue[],
): void {
  if (name === "data") {
    if (v !== undefined) out.data = v as JsonValue;
    return;
  }
  if (name === "data_base64") {
    if (v === null || v === undefined) return;
    if (typeof v !== "string" || !BASE64.test(v)) {
      addIssue(issues, at(name), "invalid_base64", "data_base64 must be a base64 string");
    } else out.data_base64 = v;
    return;
  }
  if (!NAME.test(name)) {
    addIssue(
      issues,
      at(name),
      "invalid_attribute_name",
      `attribute names must be lowercase letters and digits (a-z, 0-9), got ${JSON.stringify(name.slice(0, 64))}`,
    );
    return;
  }
  if (v === null || v === undefined) return; // null: the attribute is not set
  const read = attributeValue(name, v, issues);
  if (read !== undefined) out[name] = read;
}

/** An attribute's value when it is a CloudEvents string, boolean or 32-bit integer; else an issue. */
function attributeValue(
  name: string,
  v: unknown,
  issues: ValidationIssue[],
): JsonValue | undefined {
  if (typeof v === "string") {
    if (isCloudEventString(v)) return v;
    addIssue(
      issues,
      at(name),
      "invalid_string",
      "must not hold control characters, noncharacters or lone surrogates",
    );
  } else if (typeof v === "boolean") {
    return v;
  } else if (typeof v === "number") {
    if (Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX) return v;
    addIssue(
      issues,
      at(name),
      "invalid_integer",
      `numeric attributes are 32-bit integers, got ${Number.isFinite(v) ? v : String(v)}`,
    );
  } else {
    addIssue(
      issues,
      at(name),
      "invalid_attribute_value",
      `attribute values are strings, booleans or integers, got ${describe(v)}`,
    );
  }
  return undefined;
}

/**
 * `data` must be JSON within the hard limits, and never with `data_base64`. Parsed input may
 * hold what JSON cannot (a BigInt, a function, a cycle, NaN); JSON text may nest deeper or
 * weigh more than the limits, so it is checked too, and an event reads the same as text or
 * as the object that text parses to.
 */
function checkData(out: Record<string, JsonValue>, issues: ValidationIssue[]): void {
  if (out.data !== undefined) {
    try {
      canonicalize(out.data, { maxDepth: MAX_DEPTH_LIMIT, maxBytes: MAX_BYTES_LIMIT });
    } catch (error) {
      if (error instanceof CanonicalizationError) {
        addIssue(
          issues,
          `$.data${(error.path ?? "$").slice(1)}`,
          error.code,
          `data must be JSON: ${error.message}`,
        );
      } else throw error;
    }
  }
  if (out.data !== undefined && out.data_base64 !== undefined) {
    addIssue(
      issues,
      "$.data_base64",
      "data_conflict",
      "data and data_base64 must not both be present",
    );
  }
}

/** The required context attributes: `specversion` "1.0", and `id`, `source`, `type`. */
function checkRequired(
  out: Record<string, JsonValue>,
  failed: ReadonlySet<string>,
  issues: ValidationIssue[],
): void {
  if (out.specversion === undefined) {
    if (!failed.has("$.specversion")) {
      addIssue(issues, "$.specversion", "required", "specversion is required");
    }
  } else if (out.specversion !== "1.0") {
    addIssue(
      issues,
      "$.specversion",
      "unsupported_specversion",
      `specversion must be "1.0", got ${JSON.stringify(out.specversion)}`,
    );
  }
  for (const name of REQUIRED) {
    const v = out[name];
    if (failed.has(`$.${name}`)) continue;
    if (v === undefined) addIssue(issues, `$.${name}`, "required", `${name} is required`);
    else if (typeof v !== "string") {
      addIssue(issues, `$.${name}`, "invalid_type", `${name} must be a string`);
    } else if (v.length === 0) addIssue(issues, `$.${name}`, "empty", `${name} must not be empty`);
  }
  if (typeof out.source === "string" && out.source.length > MAX_SOURCE) {
    addIssue(issues, "$.source", "too_long", `source must be at most ${MAX_SOURCE} characters`);
  } else if (
    typeof out.source === "string" &&
    out.source.length > 0 &&
    !URI_REFERENCE.test(out.source)
  ) {
    addIssue(issues, "$.source", "invalid_uri_reference", "source must be a URI reference");
  }
}

/** The optional context attributes that are strings of a form, in the order they are checked. */
const OPTIONAL: readonly {
  readonly name: string;
  readonly test: (v: string) => boolean;
  readonly code: string;
  readonly rule: string;
}[] = [
  {
    name: "datacontenttype",
    test: (v) => MEDIA_TYPE.test(v),
    code: "invalid_media_type",
    rule: "must be a media type (type/subtype)",
  },
  {
    name: "dataschema",
    test: (v) => URI.test(v),
    code: "invalid_uri",
    rule: "must be an absolute URI",
  },
  { name: "subject", test: (v) => v.length > 0, code: "empty", rule: "must not be empty" },
  {
    name: "time",
    test: (v) => rfc3339Ms(v) !== undefined,
    code: "invalid_time",
    rule: "must be an RFC 3339 timestamp",
  },
];

function checkOptional(
  out: Record<string, JsonValue>,
  failed: ReadonlySet<string>,
  issues: ValidationIssue[],
): void {
  for (const { name, test, code, rule } of OPTIONAL) {
    const v = out[name];
    if (v === undefined || failed.has(`$.${name}`)) continue;
    if (typeof v !== "string")
      addIssue(issues, `$.${name}`, "invalid_type", `${name} must be a string`);
    else if (!test(v)) {
      addIssue(issues, `$.${name}`, code, `${name} ${rule}, got ${JSON.stringify(v.slice(0, 64))}`);
    }
  }
}
