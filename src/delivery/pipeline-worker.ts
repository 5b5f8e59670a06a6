/**
 * The background worker of one sink: reads the ledger after the sink's cursor a batch at
 * a time and hands each batch to the guard's `deliverMany`; one batch in flight per sink.
 *
 * - The cursor starts after the sink's watermark and moves past a batch once the batch
 *   got its receipts. Entries whose receipt is not final (a poison payload, a key another
 *   deliverer holds) are kept aside as `stuck` and retried with backoff, so they hold the
 *   watermark but not the cursor; memory grows with the stuck entries, not the backlog.
 * - A batch that fails as a whole (the sink down, frozen, the ledger unavailable) throttles
 *   the worker: it waits `minMs`, doubling to `maxMs` while batches keep failing, and tries
 *   the same batch again; one batch that succeeds ends the throttle.
 * - Damage in the ledger (`CorruptionError`) stops the worker for good: `lastError` says
 *   why and `idle()` rejects with it.
 * - After each batch the worker counts the sink's backlog (entries past the watermark and
 *   the age of the oldest), reports it as gauges, and wakes whoever waits on it
 *   (`publish` under backpressure, `idle`).
 *
 * @module
 */

import { CorruptionError, DeliveryError, isSinkproofError } from "../errors.js";
import { errorSummary } from "../internal/arguments.js";
import type { Ledger, LedgerEntry } from "../ledger/types.js";
import { isFinalStatus } from "../ledger/validate.js";
import type { SinkFailure, SinkGuard } from "./guard-types.js";
import { deliverEntries } from "./handoff.js";
import type { PipelineConfig, SinkBacklog } from "./pipeline-options.js";

/** One entry held aside: its last receipt was not final. */
interface Stuck {
  readonly key: string;
  readonly appendedAt: number;
  /** How many times it was tried. */
  tries: number;
  /** When it may be tried again (the worker's clock). */
  due: number;
}

/** A waiter on a worker's progress: resolved (or rejected) after a batch. */
interface Waiter {
  readonly check: () => boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** The background worker of one sink; see the module notes. */
export class SinkWorker {
  readonly guard: SinkGuard;
  readonly #config: PipelineConfig;
  readonly #ledger: Ledger;
  readonly #labels: Readonly<Record<string, string>>;
  #cursor = 0;
  /** The head as last read, and the pipeline's publish count when it was asked for. */
  #head = 0;
  #publishedAtHead = 0;
  #watermark = 0;
  /** When the oldest entry past the watermark was appended (ms); undefined when caught up. */
  #oldestAt: number | undefined;
  readonly #stuck = new Map<number, Stuck>();
  #delayMs = 0;
  #throttledUntil: number | undefined;
  #lastError: SinkFailure | undefined;
  #fatal: unknown;
  #closed = false;
  #wake: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #waiters = new Set<Waiter>();
  #loop: Promise<void> | undefined;
  /** The pipeline's count of envelopes published so far (shared by its workers). */
  readonly #published: () => number;

  constructor(guard: SinkGuard, config: PipelineConfig, published: () => number) {
    this.guard = guard;
    this.#config = config;
    this.#ledger = guard.ledger;
    this.#labels = Object.freeze({ sink: guard.name });
    this.#published = published;
  }

  /** Starts the loop. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** New entries were published: look now (unless throttled). */
  notify(): void {
    if (this.#throttledUntil === undefined) this.#wake?.();
  }

  /** Entries past the watermark, counting the ones published since the head was read. */
  backlogEntries(): number {
    const head = this.#head + Math.max(0, this.#published() - this.#publishedAtHead);
    return Math.max(0, head - this.#watermark);
  }

  /** Age of the oldest entry past the watermark, in ms. */
  backlogAgeMs(now: number): number {
    return this.#oldestAt === undefined ? 0 : Math.max(0, now - this.#oldestAt);
  }

  /** What `Pipeline.backlog` shows of this sink. */
  backlog(): SinkBacklog {
    const until = this.#throttledUntil;
    return Object.freeze({
      entries: this.backlogEntries(),
      ageMs: this.backlogAgeMs(this.#config.clock()),
      watermark: this.#watermark,
      stuck: this.#stuck.size,
      throttledUntil: until === undefined ? undefined : new Date(until).toISOString(),
      lastError: this.#lastError,
      stopped: this.#fatal !== undefined,
    });
  }

  /** Resolves once `check()` holds after a batch (or at once); rejects when the worker stops. */
  waitFor(check: () => boolean, signal?: AbortSignal): Promise<void> {
    if (check()) return Promise.resolve();
    if (this.#fatal !== undefined) return Promise.reject(this.#fatal);
    if (this.#closed) return Promise.reject(closedError());
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        check,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(signal?.reason);
      };
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** Resolves once the sink's watermark reached `target`. */
  caughtUpTo(target: number, signal?: AbortSignal): Promise<void> {
    return this.waitFor(() => this.#watermark >= target, signal);
  }

  /** Stops the loop after its batch in flight; waiters are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
    for (const waiter of this.#waiters) waiter.reject(closedError());
    this.#waiters.clear();
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      let worked = false;
      try {
        if (this.#cursor === 0) {
          this.#watermark = await this.#ledger.getWatermark(this.guard.name);
          this.#cursor = this.#watermark + 1;
        }
        worked = await this.#step();
        this.#delayMs = 0;
        this.#throttledUntil = undefined;
        this.#lastError = undefined;
      } catch (error) {
        if (error instanceof CorruptionError) {
          this.#fatal = error;
          this.#lastError = failureOf(error, this.#config.clock());
          for (const waiter of this.#waiters) waiter.reject(error);
          this.#waiters.clear();
          return;
        }
        this.#throttle(error);
      }
      this.#settleWaiters();
      if (this.#closed) break;
      if (this.#throttledUntil !== undefined) {
        await this.#sleep(Math.max(0, this.#throttledUntil - this.#config.clock()), false);
      } else if (!worked) {
        await this.#sleep(this.#config.pollMs, true);
      }
    }
  }

  /** One batch: the stuck entries due, then new ones after the cursor. False when there was none. */
  async #step(): Promise<boolean> {
    const { batchSize, clock } = this.#config;
    const ledger = this.#ledger;
    const publishedBefore = this.#published();
    this.#head = await ledger.head();
    this.#publishedAtHead = publishedBefore;
    const now = clock();
    const due: [number, Stuck][] = [];
    for (const [position, stuck] of this.#stuck) {
      if (due.length >= batchSize) break;
      if (stuck.due <= now) due.push([position, stuck]);
    }
    const batch: { position: number; appendedAt: number; entry: LedgerEntry }[] = [];
    if (due.length > 0) {
      const entries = await ledger.getMany(due.map(([, s]) => s.key));
      entries.forEach((entry, i) => {
        const [position, stuck] = due[i] as [number, Stuck];
        if (entry === undefined) this.#stuck.delete(position);
        else batch.push({ position, appendedAt: stuck.appendedAt, entry });
      });
    }
    let fresh = 0;
    let last = this.#cursor - 1;
    if (batch.length < batchSize && this.#cursor <= this.#head) {
      for await (const entry of ledger.scan({
        from: this.#cursor,
        to: this.#head,
        limit: batchSize - batch.length,
      }) as AsyncIterable<LedgerEntry>) {
        batch.push({
          position: entry.position,
          appendedAt: Date.parse(entry.appendedAt),
          entry,
        });
        last = entry.position;
        fresh++;
      }
    }
    if (batch.length === 0) {
      await this.#measure();
      return false;
    }
    // A key another process's worker holds is skipped, not waited for: it is set aside and
    // looked at again shortly (done by then), while this worker moves on.
    // What the ledger answered just now goes to the guard as it is: not read again.
    const receipts = await deliverEntries(
      this.guard,
      ledger,
      batch.map((b) => b.entry),
      { whenHeld: "skip" },
    );
    let freshFinals = 0;
    let freshFailed = 0;
    receipts.forEach((receipt, i) => {
      const { position, appendedAt } = batch[i] as (typeof batch)[number];
      if (isFinalStatus(receipt.status)) {
        if (i >= due.length) freshFinals++;
        this.#stuck.delete(position);
        return;
      }
      const held = receipt.error?.code === "claim_held";
      if (i >= due.length && !held) freshFailed++;
      const known = this.#stuck.get(position);
      const tries = held ? 1 : (known?.tries ?? 0) + 1;
      const wait = Math.min(
        this.#config.throttleMaxMs,
        this.#config.throttleMinMs * 2 ** Math.min(tries - 1, 30),
      );
      this.#stuck.set(position, { key: receipt.key, appendedAt, tries, due: clock() + wait });
    });
    if (fresh > 0 && freshFinals === 0 && freshFailed > 0) {
      // No new entry got through: the sink is failing. The new entries stay after the
      // cursor (tried again as they are, not all set aside), and the worker waits. A stuck
      // entry failing again alone throttles nothing: its own backoff grew.
      for (let i = due.length; i < batch.length; i++) {
        this.#stuck.delete((batch[i] as (typeof batch)[number]).position);
      }
      const error = receipts.find((r) => r.error !== undefined)?.error;
      throw new DeliveryError(
        "sink_failing",
        `Every envelope of the batch failed at ${this.guard.name}${error === undefined ? "" : `: ${error.message}`}`,
        { sink: this.guard.name },
      );
    }
    if (fresh > 0) this.#cursor = last + 1;
    await this.#measure();
    return true;
  }

  /** The sink's watermark and backlog, as gauges. */
  async #measure(): Promise<void> {
    const ledger = this.#ledger;
    const name = this.guard.name;
    this.#watermark = Math.max(
      this.guard.status().watermark,
      await ledger.getWatermark(name),
      this.#watermark,
    );
    let oldest: number | undefined;
    for (const stuck of this.#stuck.values()) {
      if (oldest === undefined || stuck.appendedAt < oldest) oldest = stuck.appendedAt;
    }
    if (this.#watermark < this.#head) {
      // The first entry past the watermark: the stuck one, or the next one to read.
      for await (const entry of ledger.scan({ from: this.#watermark + 1, limit: 1 })) {
        const at = Date.parse(entry.appendedAt);
        if (oldest === undefined || at < oldest) oldest = at;
      }
    } else oldest = undefined;
    this.#oldestAt = oldest;
    const { metrics, clock } = this.#config;
    metrics.gauge("sinkproof.sink.backlog", this.backlogEntries(), this.#labels);
    metrics.gauge("sinkproof.sink.backlog_age", this.backlogAgeMs(clock()), this.#labels);
  }

  #throttle(error: unknown): void {
    const { throttleMinMs, throttleMaxMs, clock, metrics } = this.#config;
    this.#delayMs = Math.min(
      throttleMaxMs,
      this.#delayMs === 0 ? throttleMinMs : this.#delayMs * 2,
    );
    const now = clock();
    this.#throttledUntil = now + this.#delayMs;
    this.#lastError = failureOf(error, now);
    metrics.counter("sinkproof.sink.throttled", 1, this.#labels);
  }

  #settleWaiters(): void {
    for (const waiter of this.#waiters) {
      if (waiter.check()) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** Sleeps `ms`; `wakeable`: a publish (`notify`) ends it early. `close` always does. */
  #sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        if (this.#timer !== undefined) clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#wake = undefined;
        resolve();
      };
      this.#timer = setTimeout(done, ms);
      this.#wake = wakeable ? done : () => (this.#closed ? done() : undefined);
    });
  }
}

function failureOf(error: unknown, now: number): SinkFailure {
  const { code, message } = isSinkproofError(error)
    ? { code: error.code, message: error.message }
    : errorSummary(error, "delivery_failed");
  return Object.freeze({ code, message, at: new Date(now).toISOString() });
}

/** The error of a call made after `close`. */
export function closedError(): DeliveryError {
  return new DeliveryError("pipeline_closed", "The pipeline is closed");
}
