/**
 * Sealing: turning a draft (producer, stream, seq, type, schema, payload, ...) into an
 * immutable envelope with an id, a time, an idempotency key and a checksum.
 *
 * Owns: the hot path of every emitted event. Promises: the checksum covers exactly the
 * canonical form of the stored payload; the envelope and its payload are deep-frozen;
 * a bad draft fails before anything is computed, with every issue listed, and nothing of
 * the caller's payload is frozen when it is rejected.
 *
 * @module
 */

import type { Checksum, ChecksumAlgorithm } from "../checksum/checksum.js";
import { EnvelopeValidationError } from "../errors.js";
import { describe, invalidArgument, show } from "../internal/arguments.js";
import { checkFunction } from "../internal/checks.js";
import { type OptionKeys, optionKeys, readOptions } from "../internal/options.js";
import { DRAFT_KEYS, isValidDraft, TRACE_KEYS } from "./fields.js";
import { createIdFactory, type IdFactory, isId } from "./ids.js";
import { readingEnvelope, zodIssues } from "./issues.js";
import { joinSequenceKey } from "./keys.js";
import { hashPayload } from "./payload.js";
import {
  DEFAULT_STREAM,
  draftFieldsSchema,
  type Envelope,
  type JsonOf,
  type SchemaRef,
  type Trace,
} from "./schema.js";
import { payloadLimits } from "./verify.js";

/** What a producer gives to {@link seal}: everything but id, time and checksum. */
export interface EnvelopeDraft<P = unknown> {
  /** Name of the producer. 1-128 characters, no control characters, no `/`. */
  readonly producer: string;
  /**
   * Stream inside the producer. 1-256 characters.
   * @default "default"
   */
  readonly stream?: string | undefined;
  /** Sequence number of the producer: a non-negative safe integer. */
  readonly seq: number;
  /** Event type, e.g. `order.created`. 1-256 characters. */
  readonly type: string;
  /** Schema name and version of the payload. */
  readonly schema: SchemaRef;
  /** The event data: any JSON value (a `Date` is stored as its ISO-8601 string). */
  readonly payload: P;
  /**
   * Idempotency key, 1-512 characters. Give one (e.g. from {@link idempotencyKey} over
   * business fields) when the same effect may be emitted again under another seq.
   * @default sequenceKey(producer, stream, seq), e.g. "orders-svc/orders/42"
   */
  readonly key?: string | undefined;
  /** Tracing context. */
  readonly trace?: Trace | undefined;
  /** Ids of upstream envelopes, at most 256. */
  readonly parents?: readonly string[] | undefined;
}

/** Options of {@link seal} and {@link createSealer}. */
export interface SealOptions {
  /**
   * Milliseconds since the Unix epoch, for `time` and, unless `ids` is given, for the id.
   * Called once per envelope.
   * @default Date.now
   */
  readonly clock?: (() => number) | undefined;
  /**
   * Id factory. By default one monotonic factory per clock function, shared by every
   * sealer that uses that clock, so ids keep sorting in creation order across sealers.
   * @default createIdFactory({ clock })
   */
  readonly ids?: IdFactory | undefined;
  /**
   * Checksum algorithm.
   * @default "xxh64"
   */
  readonly algorithm?: ChecksumAlgorithm | undefined;
  /**
   * Largest canonical payload, in UTF-8 bytes; larger is a `too_large` error.
   * @default 1_048_576 (1 MiB)
   */
  readonly maxPayloadBytes?: number | undefined;
  /**
   * Deepest payload nesting; deeper is a `too_deep` error.
   * @default 64
   */
  readonly maxDepth?: number | undefined;
}

/** The keys of {@link SealOptions}. Internal. */
export const SEAL_KEYS: OptionKeys<SealOptions> = optionKeys<SealOptions>()(
  "clock",
  "ids",
  "algorithm",
  "maxPayloadBytes",
  "maxDepth",
);

/** A function that seals drafts with fixed options; see {@link createSealer}. */
export type Sealer = <P>(draft: EnvelopeDraft<P>) => Envelope<JsonOf<P>>;

const NO_PARENTS: readonly string[] = Object.freeze([]);
const NO_TRACE: Trace = Object.freeze({});

/** Copies the defined trace fields into a frozen object. */
export function freezeTrace(trace: Trace | undefined): Trace {
  if (trace === undefined) return NO_TRACE;
  const out: { traceparent?: string; correlationId?: string; causationId?: string } = {};
  if (trace.traceparent !== undefined) out.traceparent = trace.traceparent;
  if (trace.correlationId !== undefined) out.correlationId = trace.correlationId;
  if (trace.causationId !== undefined) out.causationId = trace.causationId;
  return Object.keys(out).length === 0 ? NO_TRACE : Object.freeze(out);
}

/** The last schema reference frozen: producers seal many envelopes of one schema in a row. */
let lastSchema: SchemaRef = Object.freeze({ name: "", version: 0 });

function frozenSchema(schema: SchemaRef): SchemaRef {
  if (schema.name !== lastSchema.name || schema.version !== lastSchema.version) {
    lastSchema = Object.freeze({ name: schema.name, version: schema.version });
  }
  return lastSchema;
}

/** The fields {@link buildEnvelope} assembles, each already validated. */
export interface EnvelopeFields<P> {
  id: string;
  producer: string;
  stream: string;
  seq: number;
  type: string;
  schema: SchemaRef;
  time: string;
  key: string;
  checksum: Checksum;
  payload: P;
  trace: Trace | undefined;
  parents: readonly string[] | undefined;
}

/** Assembles a frozen envelope; every field already validated. The one place that does. */
export function buildEnvelope<P>(fields: EnvelopeFields<P>): Envelope<P> {
  return Object.freeze({
    id: fields.id,
    producer: fields.producer,
    stream: fields.stream,
    seq: fields.seq,
    type: fields.type,
    schema: frozenSchema(fields.schema),
    time: fields.time,
    key: fields.key,
    checksum: fields.checksum,
    payload: fields.payload,
    trace: freezeTrace(fields.trace),
    parents:
      fields.parents === undefined || fields.parents.length === 0
        ? NO_PARENTS
        : Object.freeze([...fields.parents]),
  });
}

interface ClockIds {
  now: number;
  readonly next: IdFactory;
}
/** One monotonic id factory per clock function, fed the time the sealer read. */
const idsByClock = new WeakMap<() => number, ClockIds>();

function idsFor(clock: () => number): ClockIds {
  let entry = idsByClock.get(clock);
  if (entry === undefined) {
    const state = { now: 1 } as { now: number; next: IdFactory };
    state.next = createIdFactory({ clock: () => state.now });
    entry = state;
    idsByClock.set(clock, entry);
  }
  return entry;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** True when `value` has an own enumerable key that is not in `known`. */
function hasOther(value: object, known: ReadonlySet<string>): boolean {
  for (const key of Object.keys(value)) if (!known.has(key)) return true;
  return false;
}

/**
 * A draft read once into plain objects, each field where the draft has it (own, a getter
 * on its class, inherited): what is checked and sealed is what was read. `undefined` when
 * the draft has a field a draft cannot have (the check then explains it).
 */
function snapshotDraft(draft: unknown): EnvelopeDraft | undefined {
  if (!isRecord(draft) || hasOther(draft, DRAFT_KEYS)) return undefined;
  const { producer, stream, seq, type, schema, payload, key, trace, parents } = draft;
  let schemaCopy: unknown = schema;
  if (isRecord(schema)) {
    // A schema reference has exactly its two fields.
    if (Object.keys(schema).length !== 2) return undefined;
    schemaCopy = { name: schema.name, version: schema.version };
  }
  let traceCopy: unknown = trace;
  if (isRecord(trace)) {
    if (hasOther(trace, TRACE_KEYS)) return undefined;
    const { traceparent, correlationId, causationId } = trace;
    const t: Record<string, unknown> = {};
    if (traceparent !== undefined) t.traceparent = traceparent;
    if (correlationId !== undefined) t.correlationId = correlationId;
    if (causationId !== undefined) t.causationId = causationId;
    traceCopy = t;
  }
  const out: Record<string, unknown> = { producer, seq, type, schema: schemaCopy, payload };
  if (stream !== undefined) out.stream = stream;
  if (key !== undefined) out.key = key;
  if (trace !== undefined) out.trace = traceCopy;
  if (parents !== undefined) out.parents = Array.isArray(parents) ? [...parents] : parents;
  return out as unknown as EnvelopeDraft;
}

function explainDraft(draft: unknown): never {
  const result = draftFieldsSchema.safeParse(draft);
  const issues = result.success
    ? [{ path: "$", code: "invalid_draft", message: "draft is not valid" }]
    : zodIssues(result.error.issues);
  throw new EnvelopeValidationError(issues);
}

/**
 * Creates a sealer: {@link seal} with options resolved once. Reuse one sealer per
 * producer; its ids sort in creation order.
 *
 * @example
 * ```ts
 * import { createSealer } from "sinkproof";
 * let now = Date.parse("2026-11-26T12:00:00.000Z");
 * const sealOrder = createSealer({ clock: () => now++, algorithm: "sha256" });
 * const envelope = sealOrder({
 *   producer: "orders-svc", seq: 1, type: "order.created",
 *   schema: { name: "order", version: 1 }, payload: { orderId: "o-1", total: 42 },
 * });
 * envelope.time; // "2026-11-26T12:00:00.000Z"
 * ```
 */
export function createSealer(options: SealOptions = {}): Sealer {
  const read = readOptions<SealOptions>(options, "options", SEAL_KEYS);
  const { clock = Date.now, ids, algorithm = "xxh64" } = read;
  checkFunction(clock, "options.clock");
  if (ids !== undefined && typeof ids !== "function") {
    invalidArgument("options.ids", `must be an id factory function, got ${describe(ids)}`);
  }
  if (algorithm !== "xxh64" && algorithm !== "sha256") {
    invalidArgument("options.algorithm", `must be "xxh64" or "sha256", got ${describe(algorithm)}`);
  }
  const limits = payloadLimits(read);
  const clockIds = ids === undefined ? idsFor(clock) : undefined;
  let lastMs = Number.NaN;
  let lastTime = "";

  function timeOf(ms: unknown): string {
    if (ms === lastMs) return lastTime;
    if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 0 || ms > 253_402_300_799_999) {
      invalidArgument(
        "options.clock()",
        `must return an integer number of ms from 0 to 253402300799999 (year 9999), got ${show(ms)}`,
      );
    }
    lastMs = ms;
    lastTime = new Date(ms).toISOString();
    return lastTime;
  }

  return function sealDraft<P>(draft: EnvelopeDraft<P>): Envelope<JsonOf<P>> {
    // Read once into plain objects, then checked, then built from: a draft whose fields
    // answer each read anew (a Proxy, a getter) cannot slip another value past the check.
    const read = readingEnvelope("draft", [], () => {
      const copy = snapshotDraft(draft);
      if (copy === undefined || !isValidDraft(copy)) explainDraft(draft);
      return copy as EnvelopeDraft<P>;
    });
    const hashed = hashPayload(read.payload, limits, algorithm, true);
    const ms = clock();
    const time = timeOf(ms);
    let id: string;
    if (clockIds === undefined) {
      id = (ids as IdFactory)();
      if (!isId(id)) invalidArgument("options.ids()", `must return a ULID, got ${describe(id)}`);
    } else {
      clockIds.now = ms;
      id = clockIds.next();
    }
    return sealed(read, id, time, hashed);
  };
}

/** The envelope of a checked draft. */
function sealed<P>(
  draft: EnvelopeDraft<P>,
  id: string,
  time: string,
  hashed: { checksum: Checksum; payload: unknown },
): Envelope<JsonOf<P>> {
  const stream = draft.stream ?? DEFAULT_STREAM;
  const envelope = buildEnvelope({
    id,
    producer: draft.producer,
    stream,
    seq: draft.seq,
    type: draft.type,
    schema: draft.schema,
    time,
    key: draft.key ?? joinSequenceKey(draft.producer, stream, draft.seq),
    checksum: hashed.checksum,
    payload: hashed.payload as JsonOf<P>,
    trace: draft.trace,
    parents: draft.parents,
  });
  // The draft was read again: an object whose fields change between reads (a Proxy)
  // must not slip another value past the check.
  return envelope;
}

let defaultSealer: Sealer | undefined;

/**
 * Seals a draft into an immutable {@link Envelope}: assigns an id (monotonic ULID) and a
 * time, derives the idempotency key when none is given, and computes the checksum of the
 * payload's canonical form. The envelope is frozen and the payload deep-frozen in place:
 * seal takes ownership of the payload (a payload holding Dates is replaced by its JSON form).
 *
 * A draft with bad fields throws an `EnvelopeValidationError` listing every issue; a
 * payload that is not JSON or breaks a limit throws a `CanonicalizationError` whose path
 * starts at `$.payload`. Nothing is frozen when sealing fails.
 *
 * `seal(draft, options)` builds a sealer per call; to seal many drafts with the same
 * options, use {@link createSealer}.
 *
 * @example
 * ```ts
 * import { seal, verify } from "sinkproof";
 * const envelope = seal({
 *   producer: "orders-svc",
 *   stream: "orders",
 *   seq: 1,
 *   type: "order.created",
 *   schema: { name: "order", version: 1 },
 *   payload: { orderId: "o-1", total: 42.5 },
 * });
 * envelope.checksum;        // "xxh64:…"
 * verify(envelope).ok;      // true
 * Object.isFrozen(envelope.payload); // true
 * ```
 */
export function seal<P>(draft: EnvelopeDraft<P>, options?: SealOptions): Envelope<JsonOf<P>> {
  if (options === undefined) {
    defaultSealer ??= createSealer();
    return defaultSealer(draft);
  }
  return createSealer(options)(draft);
}
