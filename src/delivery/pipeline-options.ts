/**
 * The public types of `createPipeline` (its options, what `publish`, `publishMany` and
 * `drain` answer, the backlog of a sink) and the check of its options, read once into a
 * {@link PipelineConfig}. Nothing here delivers.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { checkFunction, checkHasMethod, optionalInteger } from "../internal/checks.js";
import {
  type OptionKeys,
  optionKeys,
  readArray,
  readOptions,
  readProperty,
} from "../internal/options.js";
import type { Receipt } from "../ledger/types.js";
import { checkMetrics, type Metrics, safeMetrics } from "../observe/metrics.js";
import { MAX_DELIVER_BATCH } from "./guard-many.js";
import type { ClaimWait, SinkFailure, SinkGuard } from "./guard-types.js";
import type { EmitItem, EmitOptions, Producer } from "./producer.js";

/** Options of `createPipeline`. */
export interface PipelineOptions {
  /** The producer; every sink must read from its ledger. */
  readonly producer: Producer;
  /** The guarded sinks, each with a distinct name. */
  readonly sinks: readonly SinkGuard[];
  /**
   * `inline`: `publish` delivers to every sink before it returns. `background`: `publish`
   * returns once the events are durable, and one worker per sink delivers what the ledger
   * holds past the sink's watermark, a batch at a time (`idle()` waits for them,
   * `close()` stops them).
   * @default "inline"
   */
  readonly delivery?: "inline" | "background" | undefined;
  /**
   * Envelopes per `deliverMany` of `drain` and of the background workers. 1 to 10,000.
   * @default 100
   */
  readonly batchSize?: number | undefined;
  /**
   * Background delivery only: how far a sink may fall behind before `publish` pushes back
   * (see `onBacklog`). `entries`: ledger entries past the sink's watermark; `ageMs`: age of
   * the oldest of them. Either or both, each a positive integer.
   */
  readonly maxBacklog?: BacklogLimit | undefined;
  /**
   * What `publish` does while a sink is past `maxBacklog`: `wait` until it is under it
   * again, or `fail` at once with a `DeliveryError` of code `backlog_full` (nothing is
   * appended).
   * @default "wait"
   */
  readonly onBacklog?: "wait" | "fail" | undefined;
  /**
   * Background delivery: how often an idle worker looks for entries other processes
   * appended, in ms (entries this pipeline publishes wake it at once).
   * @default 200
   */
  readonly pollMs?: number | undefined;
  /**
   * Background delivery: how long a worker waits after a batch that failed (a sink that is
   * down, a frozen sink, an unavailable ledger) before it tries again, doubling from
   * `minMs` up to `maxMs` while it keeps failing, back to none once a batch succeeds.
   * @default { minMs: 100, maxMs: 30_000 }
   */
  readonly throttle?: ThrottleOptions | undefined;
  /** Where to report the backlog gauges; see docs/observability.md. */
  readonly metrics?: Metrics | undefined;
  /**
   * Milliseconds since the epoch, for backlog ages and throttling.
   * @default Date.now
   */
  readonly clock?: (() => number) | undefined;
}

/** {@link PipelineOptions.maxBacklog}. */
export interface BacklogLimit {
  /** Most entries past a sink's watermark. */
  readonly entries?: number | undefined;
  /** Greatest age of the oldest entry past a sink's watermark, in ms. */
  readonly ageMs?: number | undefined;
}

/** {@link PipelineOptions.throttle}. */
export interface ThrottleOptions {
  /** The first wait after a failed batch, in ms. @default 100 */
  readonly minMs?: number | undefined;
  /** The longest wait, in ms. @default 30_000 */
  readonly maxMs?: number | undefined;
}

/** What happened at one sink: its receipt, or the error its guard threw (frozen, ledger failure). */
export type SinkOutcome =
  | {
      /** The guard returned a receipt (which may still say `failed`). */
      readonly ok: true;
      /** The receipt. */
      readonly receipt: Receipt;
    }
  | {
      /** The guard threw. */
      readonly ok: false;
      /** What it threw (a `DeliveryError` when frozen; a `LedgerError` when the ledger failed). */
      readonly error: unknown;
    };

/** What happened to a batch at one sink: its receipts, or the error its guard threw. */
export type SinkBatchOutcome =
  | {
      /** The guard returned receipts (some may still say `failed`). */
      readonly ok: true;
      /** One receipt per envelope, in order. */
      readonly receipts: readonly Receipt[];
    }
  | {
      /** The guard threw. */
      readonly ok: false;
      /** What it threw. */
      readonly error: unknown;
    };

/** Result of `Pipeline.publish`. */
export interface Published {
  /** The envelope, durable in the ledger. */
  readonly envelope: Envelope;
  /** Per sink name; empty with background delivery (the workers deliver it). */
  readonly sinks: Readonly<Record<string, SinkOutcome>>;
}

/** Result of `Pipeline.publishMany`. */
export interface PublishedMany {
  /** The envelopes, durable in the ledger, in order. */
  readonly envelopes: readonly Envelope[];
  /** Per sink name; empty with background delivery (the workers deliver them). */
  readonly sinks: Readonly<Record<string, SinkBatchOutcome>>;
}

/** One event of `Pipeline.publishMany`: what `producer.emitMany` takes. */
export type PublishItem = EmitItem;

/** Result of `Pipeline.drain`, per sink name. */
export interface Drained {
  readonly [sink: string]: {
    /** Entries delivered now. */
    readonly delivered: number;
    /** Of those, how many got a final receipt. */
    readonly final: number;
    /** The watermark after the drain. */
    readonly watermark: number;
    /** The error the guard threw, if it stopped the drain of this sink (e.g. frozen). */
    readonly error?: unknown;
  };
}

/** Progress of a `Pipeline.drain`, per sink. */
export interface DrainProgress {
  /** The sink. */
  readonly sink: string;
  /** Entries handed to the sink's guard so far. */
  readonly dispatched: number;
  /**
   * Set when a delivery starts waiting for a claim another deliverer holds (a crashed
   * process's claim waits until it expires, unless that process ran on this host): which
   * key, whose claim, until when.
   */
  readonly waiting: ClaimWait | undefined;
  /** True in the last report of the sink. */
  readonly done: boolean;
}

/** Options of `Pipeline.drain`. */
export interface DrainOptions {
  /** Told every 1,000 entries, whenever a delivery waits for a claim, and at each sink's end. */
  readonly onProgress?: ((progress: DrainProgress) => void) | undefined;
}

/** Options of `Pipeline.idle`. */
export interface IdleOptions {
  /** Stops waiting: `idle` then rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/** Where one sink's background worker stands (`Pipeline.backlog`). */
export interface SinkBacklog {
  /** Entries past the sink's watermark, as the worker last counted them. */
  readonly entries: number;
  /** Age of the oldest of them, in ms; 0 when caught up. */
  readonly ageMs: number;
  /** The sink's watermark as the worker last saw it. */
  readonly watermark: number;
  /** Entries whose last receipt was not final, retried with backoff (a poison entry stays here). */
  readonly stuck: number;
  /** Until when the worker waits before its next batch (ISO-8601), while the sink keeps failing. */
  readonly throttledUntil: string | undefined;
  /** The last error a batch met, if the last batch failed. */
  readonly lastError: SinkFailure | undefined;
  /** True once the worker stopped for good (the ledger is damaged: `lastError` says how). */
  readonly stopped: boolean;
}

/** A producer and its sinks: see `createPipeline`. */
export interface Pipeline {
  /**
   * Emits, then (inline delivery) delivers to every sink independently. With background
   * delivery, returns once the event is durable; past `maxBacklog` it first waits, or
   * fails with `backlog_full`, as `onBacklog` says.
   */
  publish(type: string, payload: unknown, options: EmitOptions): Promise<Published>;
  /**
   * Emits many events in one atomic append (`producer.emitMany`), then (inline delivery)
   * delivers the batch to every sink with `deliverMany`, each sink independently.
   * 1 to 10,000 events.
   */
  publishMany(events: readonly PublishItem[]): Promise<PublishedMany>;
  /** Delivers every entry past each sink's watermark that has no final receipt there. */
  drain(options?: DrainOptions): Promise<Drained>;
  /**
   * Resolves once every sink's watermark has reached the ledger's head as it was when
   * `idle` was called (background delivery; with inline delivery, at once after a drain).
   * An entry that stays stuck keeps it waiting: pass a `signal` to stop.
   */
  idle(options?: IdleOptions): Promise<void>;
  /** Background delivery: each sink's backlog, as its worker last saw it. Empty inline. */
  backlog(): Readonly<Record<string, SinkBacklog>>;
  /**
   * Stops the background workers once their batches in flight are done, and refuses
   * every later call with `pipeline_closed`. Calling it twice is fine.
   */
  close(): Promise<void>;
}

/** {@link PipelineOptions} checked, with every default filled in. */
export interface PipelineConfig {
  readonly producer: Producer;
  readonly sinks: readonly SinkGuard[];
  readonly background: boolean;
  readonly batchSize: number;
  readonly maxEntries: number | undefined;
  readonly maxAgeMs: number | undefined;
  readonly failFast: boolean;
  readonly pollMs: number;
  readonly throttleMinMs: number;
  readonly throttleMaxMs: number;
  readonly metrics: Metrics;
  readonly clock: () => number;
}

const PIPELINE_KEYS = optionKeys<PipelineOptions>()(
  "producer",
  "sinks",
  "delivery",
  "batchSize",
  "maxBacklog",
  "onBacklog",
  "pollMs",
  "throttle",
  "metrics",
  "clock",
);
const BACKLOG_KEYS = optionKeys<BacklogLimit>()("entries", "ageMs");
const THROTTLE_KEYS = optionKeys<ThrottleOptions>()("minMs", "maxMs");
/** The keys of {@link DrainOptions}. */
export const DRAIN_KEYS: OptionKeys<DrainOptions> = optionKeys<DrainOptions>()("onProgress");
/** The keys of {@link IdleOptions}. */
export const IDLE_KEYS: OptionKeys<IdleOptions> = optionKeys<IdleOptions>()("signal");

function checkSinks(given: unknown, producer: Producer): SinkGuard[] {
  const sinks = readArray(given, "options.sinks") as SinkGuard[];
  if (sinks.length === 0)
    invalidArgument("options.sinks", "must be a non-empty array of guarded sinks");
  const names = new Set<string>();
  sinks.forEach((sink, i) => {
    checkHasMethod(sink, "deliver", `options.sinks[${i}]`, "a guarded sink");
    checkHasMethod(sink, "deliverMany", `options.sinks[${i}]`, "a guarded sink");
    const name = readProperty(sink, "name", `options.sinks[${i}]`);
    if (typeof name !== "string")
      invalidArgument(`options.sinks[${i}].name`, `must be a sink name, got ${describe(name)}`);
    if (names.has(name))
      invalidArgument(`options.sinks[${i}]`, `repeats the sink name ${JSON.stringify(name)}`);
    if (
      readProperty(sink, "ledger", `options.sinks[${i}]`) !==
      readProperty(producer, "ledger", "options.producer")
    ) {
      invalidArgument(`options.sinks[${i}]`, "must deliver from the producer's ledger");
    }
    names.add(name);
  });
  return sinks;
}

/** Reads and checks the options of `createPipeline`, each once, in the order of the keys. */
export function resolvePipelineOptions(pipelineOptions: PipelineOptions): PipelineConfig {
  const options = readOptions<PipelineOptions>(pipelineOptions, "options", PIPELINE_KEYS, {
    required: true,
  });
  const producer = checkHasMethod(
    options.producer as Producer,
    "emit",
    "options.producer",
    "a producer",
  );
  const sinks = checkSinks(options.sinks, producer);
  const delivery = options.delivery ?? "inline";
  if (delivery !== "inline" && delivery !== "background") {
    invalidArgument(
      "options.delivery",
      `must be "inline" or "background", got ${describe(delivery)}`,
    );
  }
  const background = delivery === "background";
  const batchSize = optionalInteger(
    options.batchSize,
    "options.batchSize",
    1,
    MAX_DELIVER_BATCH,
    100,
  );
  let maxEntries: number | undefined;
  let maxAgeMs: number | undefined;
  if (options.maxBacklog !== undefined) {
    if (!background) {
      invalidArgument("options.maxBacklog", 'applies to delivery: "background" only');
    }
    const limit = readOptions<BacklogLimit>(
      options.maxBacklog,
      "options.maxBacklog",
      BACKLOG_KEYS,
      {
        required: true,
      },
    );
    if (limit.entries !== undefined) {
      maxEntries = optionalInteger(limit.entries, "options.maxBacklog.entries", 1, 2 ** 48, 1);
    }
    if (limit.ageMs !== undefined) {
      maxAgeMs = optionalInteger(limit.ageMs, "options.maxBacklog.ageMs", 1, 31_536_000_000, 1);
    }
    if (maxEntries === undefined && maxAgeMs === undefined) {
      invalidArgument("options.maxBacklog", "must set entries, ageMs or both");
    }
  }
  const onBacklog = options.onBacklog ?? "wait";
  if (onBacklog !== "wait" && onBacklog !== "fail") {
    invalidArgument("options.onBacklog", `must be "wait" or "fail", got ${describe(onBacklog)}`);
  }
  const pollMs = optionalInteger(options.pollMs, "options.pollMs", 1, 3_600_000, 200);
  const throttle = readOptions<ThrottleOptions>(
    options.throttle,
    "options.throttle",
    THROTTLE_KEYS,
  );
  const throttleMinMs = optionalInteger(
    throttle.minMs,
    "options.throttle.minMs",
    1,
    3_600_000,
    100,
  );
  const throttleMaxMs = optionalInteger(
    throttle.maxMs,
    "options.throttle.maxMs",
    throttleMinMs,
    86_400_000,
    Math.max(throttleMinMs, 30_000),
  );
  const metrics = safeMetrics(checkMetrics(options.metrics, "options.metrics"));
  const clock = checkFunction(options.clock ?? Date.now, "options.clock");
  return {
    producer,
    sinks,
    background,
    batchSize,
    maxEntries,
    maxAgeMs,
    failFast: onBacklog === "fail",
    pollMs,
    throttleMinMs,
    throttleMaxMs,
    metrics,
    clock,
  };
}
