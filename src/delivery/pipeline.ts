/**
 * `createPipeline`: one producer fanned out to many guarded sinks.
 *
 * - Inline delivery (the default): `publish` emits (the event is durable in the ledger
 *   first) and then delivers to every sink independently: a sink that fails or is frozen
 *   never blocks or undoes the others. `publishMany` does the same for a batch, with one
 *   append and one `deliverMany` per sink.
 * - Background delivery: `publish` returns once the events are durable; one worker per
 *   sink (`pipeline-worker.ts`) delivers what the ledger holds past the sink's watermark,
 *   a batch at a time. Past `maxBacklog` a publish waits or fails (`backlog_full`);
 *   `idle()` waits until every sink caught up; `close()` stops the workers.
 * - `drain` is the recovery path: it delivers every entry past each sink's watermark that
 *   has no final receipt there (after a crash between emit and delivery), in batches.
 *
 * The options and public types are in `pipeline-options.ts`.
 *
 * @module
 */

import { DeliveryError, isTransientLedgerError } from "../errors.js";
import { describe, invalidArgument, reading, renamed } from "../internal/arguments.js";
import { optionalFunction } from "../internal/checks.js";
import { readArray, readOptions } from "../internal/options.js";
import type { LedgerEntry, Receipt } from "../ledger/types.js";
import { isFinalStatus } from "../ledger/validate.js";
import { MAX_DELIVER_BATCH } from "./guard-many.js";
import type { ClaimWait, SinkGuard } from "./guard-types.js";
import { deliverEntries, emitEntries } from "./handoff.js";
import {
  DRAIN_KEYS,
  type Drained,
  type DrainOptions,
  IDLE_KEYS,
  type IdleOptions,
  type Pipeline,
  type PipelineConfig,
  type PipelineOptions,
  type Published,
  type PublishedMany,
  type PublishItem,
  resolvePipelineOptions,
  type SinkBacklog,
  type SinkBatchOutcome,
  type SinkOutcome,
} from "./pipeline-options.js";
import { closedError, SinkWorker } from "./pipeline-worker.js";
import type { EmitOptions } from "./producer.js";

export type {
  BacklogLimit,
  Drained,
  DrainOptions,
  DrainProgress,
  IdleOptions,
  Pipeline,
  PipelineOptions,
  Published,
  PublishedMany,
  PublishItem,
  SinkBacklog,
  SinkBatchOutcome,
  SinkOutcome,
  ThrottleOptions,
} from "./pipeline-options.js";

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
  const config = resolvePipelineOptions(pipelineOptions);
  const { producer, sinks } = config;
  let published = 0;
  let closed = false;
  const workers = config.background
    ? sinks.map((sink) => new SinkWorker(sink, config, () => published))
    : [];
  for (const worker of workers) worker.start();

  function assertOpen(): void {
    if (closed) throw closedError();
  }

  /** Background: waits (or fails) while a sink is past `maxBacklog`. */
  async function admit(): Promise<void> {
    const { maxEntries, maxAgeMs, clock, failFast } = config;
    if (maxEntries === undefined && maxAgeMs === undefined) return;
    const over = (worker: SinkWorker) =>
      (maxEntries !== undefined && worker.backlogEntries() >= maxEntries) ||
      (maxAgeMs !== undefined && worker.backlogAgeMs(clock()) >= maxAgeMs);
    for (const worker of workers) {
      if (!over(worker)) continue;
      if (failFast) {
        throw new DeliveryError(
          "backlog_full",
          `Sink ${worker.guard.name} is past its backlog limit (${worker.backlogEntries()} entries, oldest ${worker.backlogAgeMs(clock())} ms): nothing was published`,
          { sink: worker.guard.name },
        );
      }
      await worker.waitFor(() => closed || !over(worker));
      assertOpen();
    }
  }

  function queued(count: number): void {
    published += count;
    for (const worker of workers) worker.notify();
  }

  async function publish(
    type: string,
    payload: unknown,
    emitOptions: EmitOptions,
  ): Promise<Published> {
    assertOpen();
    await admit();
    const envelope = await producer.emit(type, payload, emitOptions);
    if (config.background) {
      queued(1);
      return Object.freeze({ envelope, sinks: Object.freeze({}) });
    }
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

  async function publishMany(events: readonly PublishItem[]): Promise<PublishedMany> {
    assertOpen();
    const list = readArray(events, "events", MAX_DELIVER_BATCH);
    if (list.length === 0) invalidArgument("events", "must hold at least one event");
    await admit();
    let emitted: Awaited<ReturnType<typeof emitEntries>>;
    try {
      emitted = await emitEntries(producer, list as PublishItem[]);
    } catch (error) {
      // The producer names its argument `items`; here it is `events`.
      throw renamed(error, "items", "events");
    }
    const { envelopes, entries } = emitted;
    if (config.background) {
      queued(envelopes.length);
      return Object.freeze({ envelopes: Object.freeze(envelopes), sinks: Object.freeze({}) });
    }
    // The append's own entries go to the guards: not read back from the ledger again.
    const settled = await Promise.allSettled(
      sinks.map((sink) =>
        entries === undefined
          ? sink.deliverMany(envelopes)
          : deliverEntries(sink, producer.ledger, entries),
      ),
    );
    const outcome: Record<string, SinkBatchOutcome> = {};
    settled.forEach((result, i) => {
      const sink = sinks[i] as SinkGuard;
      outcome[sink.name] =
        result.status === "fulfilled"
          ? { ok: true, receipts: Object.freeze(result.value) }
          : { ok: false, error: result.reason };
    });
    return Object.freeze({ envelopes: Object.freeze(envelopes), sinks: Object.freeze(outcome) });
  }

  async function drain(options?: DrainOptions): Promise<Drained> {
    assertOpen();
    const drainOptions = readOptions<DrainOptions>(options, "options", DRAIN_KEYS);
    const onProgress = optionalFunction(drainOptions.onProgress, "options.onProgress");
    const results = await Promise.all(sinks.map((sink) => drainSink(config, sink, onProgress)));
    return Object.freeze(Object.fromEntries(results));
  }

  async function idle(options?: IdleOptions): Promise<void> {
    assertOpen();
    const idleOptions = readOptions<IdleOptions>(options, "options", IDLE_KEYS);
    const signal = idleOptions.signal;
    if (signal !== undefined && !reading("options.signal", () => signal instanceof AbortSignal)) {
      invalidArgument("options.signal", `must be an AbortSignal, got ${describe(signal)}`);
    }
    const head = await producer.ledger.head();
    if (!config.background) {
      // Inline: every publish delivered already; entries a crash left are drained.
      await drain();
      return;
    }
    await Promise.all(workers.map((worker) => worker.caughtUpTo(head, signal)));
  }

  function backlog(): Readonly<Record<string, SinkBacklog>> {
    return Object.freeze(
      Object.fromEntries(workers.map((worker) => [worker.guard.name, worker.backlog()])),
    );
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await Promise.all(workers.map((worker) => worker.close()));
  }

  return { publish, publishMany, drain, idle, backlog, close };
}

/** The entries past the watermark of `sink` with no final receipt there, in position order. */
async function* pending(
  config: PipelineConfig,
  sink: SinkGuard,
  dispatched: () => void,
): AsyncIterable<LedgerEntry> {
  const ledger = config.producer.ledger;
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
      yield entry;
    }
  }
}

/** Drains one sink in batches of `batchSize`: what `drain` reports of it. */
async function drainSink(
  config: PipelineConfig,
  sink: SinkGuard,
  onProgress: DrainOptions["onProgress"],
): Promise<readonly [string, Drained[string]]> {
  const ledger = config.producer.ledger;
  let dispatched = 0;
  const tell = (waiting: ClaimWait | undefined, done = false) =>
    onProgress?.({ sink: sink.name, dispatched, waiting, done });
  let delivered = 0;
  let final = 0;
  const deliver = async (batch: readonly LedgerEntry[]) => {
    // The scan's entries, checked as it read them, go to the guard as they are.
    const receipts: readonly Receipt[] = await deliverEntries(sink, ledger, batch, {
      onWait: (wait) => tell(wait),
    });
    delivered += receipts.length;
    final += receipts.filter((r) => isFinalStatus(r.status)).length;
  };
  try {
    let batch: LedgerEntry[] = [];
    for await (const entry of pending(config, sink, () => {
      if (++dispatched % 1000 === 0) tell(undefined);
    })) {
      batch.push(entry);
      if (batch.length >= config.batchSize) {
        await deliver(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await deliver(batch);
    tell(undefined, true);
    await sink.measure();
    return [sink.name, { delivered, final, watermark: await ledger.getWatermark(sink.name) }];
  } catch (error) {
    // The ledger may be what failed. If it is unavailable, the guard's last view of the
    // watermark is reported, and this sink's failure does not reject the drain of the
    // others; damage (a `CorruptionError`) still rejects the drain.
    let watermark: number;
    try {
      watermark = await ledger.getWatermark(sink.name);
    } catch (readError) {
      if (!isTransientLedgerError(readError)) throw readError;
      watermark = sink.status().watermark;
    }
    return [sink.name, { delivered, final, watermark, error }];
  }
}
