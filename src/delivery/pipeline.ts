/**
 * `createPipeline`: one producer fanned out to many guarded sinks. `publish` emits (the
 * event is durable in the ledger first) and then delivers to every sink independently: a
 * sink that fails or is frozen never blocks or undoes the others. `drain` is the recovery
 * path: it delivers every entry past each sink's watermark that has no final receipt
 * there, e.g. after a crash between emit and delivery.
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { isTransientLedgerError } from "../errors.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { checkHasMethod, optionalFunction } from "../internal/checks.js";
import { optionKeys, readArray, readOptions, readProperty } from "../internal/options.js";
import type { LedgerEntry, Receipt } from "../ledger/types.js";
import { isFinalStatus } from "../ledger/validate.js";
import type { ClaimWait, SinkGuard } from "./guard.js";
import type { EmitOptions, Producer } from "./producer.js";

/** Options of {@link createPipeline}. */
export interface PipelineOptions {
  /** The producer; every sink must read from its ledger. */
  readonly producer: Producer;
  /** The guarded sinks, each with a distinct name. */
  readonly sinks: readonly SinkGuard[];
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

/** Result of {@link Pipeline.publish}. */
export interface Published {
  /** The envelope, durable in the ledger. */
  readonly envelope: Envelope;
  /** Per sink name. */
  readonly sinks: Readonly<Record<string, SinkOutcome>>;
}

/** Result of {@link Pipeline.drain}, per sink name. */
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

/** Progress of a {@link Pipeline.drain}, per sink. */
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

/** Options of {@link Pipeline.drain}. */
export interface DrainOptions {
  /** Told every 1,000 entries, whenever a delivery waits for a claim, and at each sink's end. */
  readonly onProgress?: ((progress: DrainProgress) => void) | undefined;
}

/** A producer and its sinks: see {@link createPipeline}. */
export interface Pipeline {
  /** Emits, then delivers to every sink independently. */
  publish(type: string, payload: unknown, options: EmitOptions): Promise<Published>;
  /** Delivers every entry past each sink's watermark that has no final receipt there. */
  drain(options?: DrainOptions): Promise<Drained>;
}

const PIPELINE_KEYS = optionKeys<PipelineOptions>()("producer", "sinks");
const DRAIN_KEYS = optionKeys<DrainOptions>()("onProgress");

/**
 * Wires a producer to its sinks.
 *
 * @example
 * ```ts
 * import { createPipeline, createProducer, guardSink, FileLedger } from "sinkproof";
 * const ledger = await FileLedger.open("./ledger");
 * const pipeline = createPipeline({
 *   producer: createProducer({ id: "orders-svc", ledger }),
 *   sinks: [guardSink({ name: "warehouse", ledger, write: upsertRow }), guardSink({ name: "search", ledger, write: indexDoc })],
 * });
 * await pipeline.drain(); // after a restart: finish what a crash interrupted
 * const { envelope, sinks } = await pipeline.publish("order.created", order, { schema: { name: "order", version: 1 } });
 * ```
 */
export function createPipeline(pipelineOptions: PipelineOptions): Pipeline {
  const options = readOptions<PipelineOptions>(pipelineOptions, "options", PIPELINE_KEYS, {
    required: true,
  });
  const producer = checkHasMethod(
    options.producer as Producer,
    "emit",
    "options.producer",
    "a producer",
  );
  const sinks = readArray(options.sinks, "options.sinks") as SinkGuard[];
  if (sinks.length === 0)
    invalidArgument("options.sinks", "must be a non-empty array of guarded sinks");
  const names = new Set<string>();
  sinks.forEach((sink, i) => {
    checkHasMethod(sink, "deliver", `options.sinks[${i}]`, "a guarded sink");
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
  const ledger = producer.ledger;

  async function publish(
    type: string,
    payload: unknown,
    emitOptions: EmitOptions,
  ): Promise<Published> {
    const envelope = await producer.emit(type, payload, emitOptions);
    const settled = await Promise.allSettled(sinks.map((sink) => sink.deliver(envelope)));
    const outcome: Record<string, SinkOutcome> = {};
    settled.forEach((result, i) => {
      const sink = sinks[i] as SinkGuard;
      outcome[sink.name] =
        result.status === "fulfilled"
          ? { ok: true, receipt: result.value }
          : { ok: false, error: result.reason };
    });
    return Object.freeze({ envelope, sinks: Object.freeze(outcome) });
  }

  async function* pending(sink: SinkGuard, dispatched: () => void): AsyncIterable<Envelope> {
    const from = (await ledger.getWatermark(sink.name)) + 1;
    const to = await ledger.head();
    if (to < from) return;
    // Positions with a final receipt are skipped; the rest are delivered in position order.
    const finals = new Set<number>();
    for await (const receipt of ledger.scanReceipts(sink.name, { from, to })) {
      if (isFinalStatus(receipt.status)) finals.add(receipt.position);
    }
    for await (const entry of ledger.scan({ from, to }) as AsyncIterable<LedgerEntry>) {
      if (!finals.has(entry.position)) {
        dispatched();
        yield entry.envelope;
      }
    }
  }

  async function drain(options?: DrainOptions): Promise<Drained> {
    const drainOptions = readOptions<DrainOptions>(options, "options", DRAIN_KEYS);
    const onProgress = optionalFunction(drainOptions.onProgress, "options.onProgress");
    const results = await Promise.all(
      sinks.map(async (sink) => {
        let dispatched = 0;
        const tell = (waiting: ClaimWait | undefined, done = false) =>
          onProgress?.({ sink: sink.name, dispatched, waiting, done });
        try {
          const receipts = await sink.deliverAll(
            pending(sink, () => {
              if (++dispatched % 1000 === 0) tell(undefined);
            }),
            { onWait: (wait) => tell(wait) },
          );
          tell(undefined, true);
          await sink.measure();
          return [
            sink.name,
            {
              delivered: receipts.length,
              final: receipts.filter((r) => isFinalStatus(r.status)).length,
              watermark: await ledger.getWatermark(sink.name),
            },
          ] as const;
        } catch (error) {
          // The ledger may be what failed. If it is unavailable, the guard's last view of
          // the watermark is reported, and this sink's failure does not reject the drain of
          // the others; damage (a `CorruptionError`) still rejects the drain.
          let watermark: number;
          try {
            watermark = await ledger.getWatermark(sink.name);
          } catch (readError) {
            if (!isTransientLedgerError(readError)) throw readError;
            watermark = sink.status().watermark;
          }
          return [sink.name, { delivered: 0, final: 0, watermark, error }] as const;
        }
      }),
    );
    return Object.freeze(Object.fromEntries(results));
  }

  return { publish, drain };
}
