/**
 * `createProducer`: the producer side. Every event is validated, sealed with the next
 * sequence number of the producer (reserved in the ledger, so numbers survive restarts:
 * `sequences.ts`) and appended to the ledger before `emit` returns it: write-ahead, so
 * nothing can reach a sink before it is durable. Concurrent emits are appended together
 * (group commit: `group-commit.ts`).
 *
 * @module
 */

import type { ChecksumAlgorithm } from "../checksum/checksum.js";
import type { IdFactory } from "../envelope/ids.js";
import type { Envelope, SchemaRef, Trace } from "../envelope/schema.js";
import { createSealer, type EnvelopeDraft, type Sealer } from "../envelope/seal.js";
import { PayloadValidationError, type ValidationIssue } from "../errors.js";
import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { checkHasMethod, checkInteger } from "../internal/checks.js";
import { optionKeys, readArray, readOptions } from "../internal/options.js";
import type { Ledger, LedgerEntry } from "../ledger/types.js";
import { checkProducer } from "../ledger/validate.js";
import { logger } from "../observe/debug.js";
import { checkMetrics, type Metrics, safeMetrics } from "../observe/metrics.js";
import type { SchemaRegistry } from "../schema/registry.js";
import { GroupCommit } from "./group-commit.js";
import { EMIT_ENTRIES, type EmitEntries, withHidden } from "./handoff.js";
import { SequenceBlocks } from "./sequences.js";
import { isSafeParseSchema, type SafeParseSchema, schemaIssues } from "./validation.js";

const log = logger("producer");

/** Validation at emit time: one schema per event type, or a function of (type, version, payload). */
export type PayloadValidator =
  | Readonly<Record<string, SafeParseSchema>>
  | ((
      type: string,
      schema: SchemaRef,
      payload: unknown,
    ) => readonly ValidationIssue[] | undefined | void);

/** Options of {@link createProducer}. */
export interface ProducerOptions {
  /** The producer's name: every envelope's `producer`. No `/`. */
  readonly id: string;
  /** Where events are appended before they are returned. */
  readonly ledger: Ledger;
  /**
   * Milliseconds since the epoch, for envelope times and ids.
   * @default Date.now
   */
  readonly clock?: (() => number) | undefined;
  /** Id factory. @default a monotonic ULID factory on `clock` */
  readonly ids?: IdFactory | undefined;
  /** Checks payloads before anything is written; a failure is a `PayloadValidationError`. */
  readonly validate?: PayloadValidator | undefined;
  /**
   * Validates every payload against its `schema` (name and version) in this registry
   * before anything is written, and seals the parsed value (defaults applied, unknown
   * keys stripped as the schema says). An unregistered schema or an invalid payload is a
   * `PayloadValidationError`; a deprecated version is emitted, counted and warned about once.
   */
  readonly registry?: SchemaRegistry | undefined;
  /**
   * Checksum algorithm of the envelopes.
   * @default "xxh64"
   */
  readonly algorithm?: ChecksumAlgorithm | undefined;
  /**
   * Sequence numbers reserved from the ledger at a time. A larger block means fewer ledger
   * writes; numbers left in a block when the process stops are skipped, never reused.
   * @default 100
   */
  readonly sequenceBlock?: number | undefined;
  /** Where to report `sinkproof.emitted`. */
  readonly metrics?: Metrics | undefined;
}

/** Options of one emitted event. */
export interface EmitOptions {
  /** Schema name and version of the payload. */
  readonly schema: SchemaRef;
  /** Stream inside the producer. @default "default" */
  readonly stream?: string | undefined;
  /**
   * Idempotency key. Emitting the same key and payload again returns the first envelope;
   * the same key with another payload is an `IdempotencyConflictError`.
   * @default `<producer>/<stream>/<seq>`
   */
  readonly key?: string | undefined;
  /** Tracing context. */
  readonly trace?: Trace | undefined;
  /** Ids of upstream envelopes. */
  readonly parents?: readonly string[] | undefined;
}

/** One event for {@link Producer.emitMany}. */
export interface EmitItem extends EmitOptions {
  /** Event type. */
  readonly type: string;
  /** The event data. */
  readonly payload: unknown;
}

/** A producer: see {@link createProducer}. */
export interface Producer {
  /** The producer's name. */
  readonly id: string;
  /** The ledger it appends to. */
  readonly ledger: Ledger;
  /**
   * Validates, seals and appends one event; resolves with the envelope once it is durable
   * in the ledger (the first envelope when the key was emitted before with the same payload).
   * Concurrent calls are committed together: an emit made while an append is in flight
   * goes into the next append with every other made meanwhile (one fsync or transaction
   * for the group); each still gets its own answer (a group the ledger refuses is appended
   * again one envelope at a time).
   */
  emit(type: string, payload: unknown, options: EmitOptions): Promise<Envelope>;
  /** {@link Producer.emit} for many events, in one atomic append. */
  emitMany(items: readonly EmitItem[]): Promise<Envelope[]>;
}

/** A validator checked once: a function, or the map read into a `Map` of checked schemas. */
type CheckedValidator =
  | Exclude<PayloadValidator, Readonly<Record<string, SafeParseSchema>>>
  | ReadonlyMap<string, SafeParseSchema>;

/**
 * The nested options of one emitted event, read once and refused on an unknown key like
 * any option (`options.schema.verison is not an option; did you mean version?`).
 */
function readEmitted<T extends Partial<EmitOptions>>(read: T, at: string): T {
  const out: Record<string, unknown> = { ...read };
  if (typeof read.schema === "object" && read.schema !== null) {
    out.schema = readOptions<SchemaRef>(read.schema, `${at}.schema`, ["name", "version"]);
  }
  if (typeof read.trace === "object" && read.trace !== null) {
    out.trace = readOptions<Trace>(read.trace, `${at}.trace`, [
      "traceparent",
      "correlationId",
      "causationId",
    ]);
  }
  if (read.parents !== undefined) {
    out.parents = readArray(read.parents, `${at}.parents`, 1024);
  }
  return out as T;
}

function checkValidator(validate: unknown): CheckedValidator | undefined {
  if (validate === undefined) return undefined;
  if (typeof validate === "function") return validate as CheckedValidator;
  if (typeof validate !== "object" || validate === null)
    invalidArgument("options.validate", "must be a map of event type to schema, or a function");
  return reading("options.validate", () => {
    const map = new Map<string, SafeParseSchema>();
    for (const type of Object.keys(validate)) {
      const schema: unknown = (validate as Record<string, unknown>)[type];
      if (!isSafeParseSchema(schema)) {
        invalidArgument(
          `options.validate[${JSON.stringify(type)}]`,
          `must be a zod schema (with safeParse), got ${describe(schema)}`,
        );
      }
      map.set(type, schema);
    }
    return map;
  });
}

function issuesOf(
  validate: CheckedValidator,
  type: string,
  schema: SchemaRef,
  payload: unknown,
): readonly ValidationIssue[] {
  if (typeof validate === "function") {
    const issues: unknown = validate(type, schema, payload) ?? [];
    if (!Array.isArray(issues) || !issues.every(isIssue)) {
      invalidArgument(
        "options.validate()",
        "must return an array of { path, code, message } issues, or nothing",
      );
    }
    return issues;
  }
  const own = validate.get(type);
  return own === undefined ? [] : schemaIssues(own, payload);
}

function isIssue(value: unknown): value is ValidationIssue {
  if (typeof value !== "object" || value === null) return false;
  const { path, code, message } = value as Record<string, unknown>;
  return typeof path === "string" && typeof code === "string" && typeof message === "string";
}

const PRODUCER_KEYS = optionKeys<ProducerOptions>()(
  "id",
  "ledger",
  "clock",
  "ids",
  "validate",
  "registry",
  "algorithm",
  "sequenceBlock",
  "metrics",
);
const EMIT_KEYS = optionKeys<EmitOptions>()("schema", "stream", "key", "trace", "parents");
const ITEM_KEYS = optionKeys<EmitItem>()(
  "type",
  "payload",
  "schema",
  "stream",
  "key",
  "trace",
  "parents",
);

/**
 * Creates a producer that appends every event to the ledger before returning it.
 *
 * @example
 * ```ts
 * import { createProducer, MemoryLedger } from "sinkproof";
 * import { z } from "zod";
 *
 * const producer = createProducer({
 *   id: "orders-svc",
 *   ledger: new MemoryLedger(),
 *   validate: { "order.created": z.object({ orderId: z.string(), total: z.number().positive() }) },
 * });
 * const envelope = await producer.emit("order.created", { orderId: "o-1", total: 42 }, {
 *   schema: { name: "order", version: 1 },
 *   stream: "orders",
 * });
 * ```
 */
export function createProducer(producerOptions: ProducerOptions): Producer {
  const config = resolveProducerOptions(producerOptions);
  const sequences = new SequenceBlocks(config.ledger, config.id, config.block);
  const group = new GroupCommit(config.ledger);
  const producer: Producer = {
    id: config.id,
    ledger: config.ledger,
    async emit(type, payload, emitOptions) {
      if (typeof emitOptions !== "object" || emitOptions === null) {
        invalidArgument(
          "options",
          `must be an object with at least a schema, got ${describe(emitOptions)}`,
        );
      }
      const read = readEmitted(
        readOptions<EmitOptions>(emitOptions, "options", EMIT_KEYS),
        "options",
      );
      const [entry] = await emitItems(
        config,
        sequences,
        [{ ...read, type, payload } as EmitItem],
        true,
        group,
      );
      return (entry as LedgerEntry).envelope;
    },
    async emitMany(items) {
      return envelopesOf(await emitEntries(items));
    },
  };
  // `emitMany` answering the entries, for a pipeline's own guards (see handoff.ts).
  const emitEntries: EmitEntries<EmitItem> = async (items) => {
    const list = readArray(items, "items");
    if (list.length === 0) return [];
    const read = list.map((item, i) => {
      if (typeof item !== "object" || item === null) {
        invalidArgument(`items[${i}]`, `must be an object, got ${describe(item)}`);
      }
      return readEmitted(
        readOptions<EmitItem>(item, `items[${i}]`, ITEM_KEYS),
        `items[${i}]`,
      ) as EmitItem;
    });
    return emitItems(config, sequences, read, false);
  };
  return withHidden(producer, EMIT_ENTRIES, emitEntries);
}

const envelopesOf = (entries: readonly LedgerEntry[]): Envelope[] =>
  entries.map((entry) => entry.envelope);

/** {@link ProducerOptions} checked, with every default filled in. */
interface ProducerConfig {
  readonly id: string;
  readonly ledger: Ledger;
  readonly validate: CheckedValidator | undefined;
  readonly registry: SchemaRegistry | undefined;
  /** Sequence numbers reserved at a time. */
  readonly block: number;
  readonly metrics: Metrics;
  readonly seal: Sealer;
  /** The labels of every metric: `{ producer: id }`. */
  readonly labels: Readonly<Record<string, string>>;
}

/** Reads and checks the options of {@link createProducer}, each once, in the order of the keys. */
function resolveProducerOptions(producerOptions: ProducerOptions): ProducerConfig {
  const options = readOptions<ProducerOptions>(producerOptions, "options", PRODUCER_KEYS, {
    required: true,
  });
  const id = checkProducer(options.id, "options.id");
  const ledger = checkHasMethod(options.ledger as Ledger, "append", "options.ledger", "a ledger");
  const validate = checkValidator(options.validate);
  const registry = options.registry;
  if (registry !== undefined)
    checkHasMethod(registry, "validate", "options.registry", "a schema registry");
  const block = checkInteger(options.sequenceBlock ?? 100, "options.sequenceBlock", 1, 1_000_000);
  const metrics = safeMetrics(checkMetrics(options.metrics, "options.metrics"));
  const seal = createSealer({
    clock: options.clock,
    ids: options.ids,
    algorithm: options.algorithm,
  });
  const labels = Object.freeze({ producer: id });
  return { id, ledger, validate, registry, block, metrics, seal, labels };
}

/** Validates one item; returns the payload to seal (the registry's parsed value). */
function checkItem(config: ProducerConfig, item: EmitItem, index: number | undefined): unknown {
  if (typeof item !== "object" || item === null) {
    invalidArgument(
      index === undefined ? "options" : `items[${index}]`,
      `must be an object, got ${describe(item)}`,
    );
  }
  const reject = (issues: readonly ValidationIssue[]): never => {
    const prefixed =
      index === undefined
        ? issues
        : issues.map((i) => ({ ...i, path: `$[${index}]${i.path.slice(1)}` }));
    throw new PayloadValidationError(prefixed, { key: item.key });
  };
  const { registry, validate } = config;
  let payload = item.payload;
  if (registry !== undefined) {
    const schema = item.schema as SchemaRef | undefined;
    const name = typeof schema === "object" && schema !== null ? schema.name : undefined;
    const version = typeof schema === "object" && schema !== null ? schema.version : undefined;
    const result = registry.validate(name as string, version as number, payload);
    if (!result.success) {
      reject(
        result.issues.map((i) =>
          i.code === "unknown_schema"
            ? { ...i, path: "$.schema" }
            : { ...i, path: `$.payload${i.path.slice(1)}` },
        ),
      );
    } else {
      payload = result.data;
    }
  }
  if (validate !== undefined) {
    const issues = issuesOf(validate, item.type, item.schema, payload);
    if (issues.length > 0) reject(issues);
  }
  return payload;
}

/** Checks every item, then seals them with the next sequence numbers and appends them at once. */
async function emitItems(
  config: ProducerConfig,
  sequences: SequenceBlocks,
  items: readonly EmitItem[],
  single: boolean,
  group?: GroupCommit,
): Promise<LedgerEntry[]> {
  const { id, ledger, registry, seal } = config;
  const payloads = items.map((item, i) => checkItem(config, item, single ? undefined : i));
  const seqs = await sequences.take(items.length);
  const envelopes = items.map((item, i) => {
    const draft: EnvelopeDraft = {
      producer: id,
      seq: seqs[i] as number,
      type: item.type,
      schema: item.schema,
      payload: payloads[i],
      ...(item.stream === undefined ? {} : { stream: item.stream }),
      ...(item.key === undefined ? {} : { key: item.key }),
      ...(item.trace === undefined ? {} : { trace: item.trace }),
      ...(item.parents === undefined ? {} : { parents: item.parents }),
    };
    return seal(draft) as Envelope;
  });
  // A single emit joins the group commit: concurrent emits share one append.
  const { results, appended } =
    group === undefined
      ? await ledger.append(envelopes)
      : await group.append(envelopes[0] as Envelope).then((r) => ({
          results: [r],
          appended: r.status === "appended" ? 1 : 0,
        }));
  config.metrics.counter("sinkproof.emitted", appended, config.labels);
  if (registry !== undefined) {
    for (const item of items) registry.noteEmitted(item.schema.name, item.schema.version);
  }
  log("emitted %d event(s), %d already in the ledger", appended, results.length - appended);
  return results.map((r) => r.entry);
}
