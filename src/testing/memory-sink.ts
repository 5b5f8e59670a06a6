/**
 * `createMemorySink`: an in-memory sink with seeded fault injection, for testing
 * pipelines, reconciliation and repair without a database. It keeps rows by idempotency
 * key (with a copy count, so duplicates are real), can be read back (`observe`, digest
 * mode), rewritten and pruned, and can be told to misbehave: drop acknowledged writes,
 * store some twice, corrupt some payloads, or be offline for a window of write calls.
 * Faults are drawn from a seeded generator, so a test sees the same faults every run.
 *
 * @module
 */

import { type Checksum, checksum } from "../checksum/checksum.js";
import {
  type GuardSinkOptions,
  guardSink,
  type SinkGuard,
  type SinkWriteContext,
  type SinkWriter,
} from "../delivery/guard.js";
import type { Envelope, JsonValue } from "../envelope/schema.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import type { Ledger } from "../ledger/types.js";
import { digestIndex } from "../reconcile/digest.js";
import type { Observation, ReconcileSink, SinkDigest } from "../reconcile/types.js";

/** Faults a memory sink injects. Probabilities are per write call, from 0 to 1. */
export interface MemorySinkFaults {
  /**
   * Seed of the fault generator: the same seed gives the same faults.
   * @default 1
   */
  readonly seed?: number | undefined;
  /** Probability that a write is acknowledged but not stored (a lost write). */
  readonly drop?: number | undefined;
  /** Probability that a write is stored twice (an at-least-once sink without dedup). */
  readonly duplicate?: number | undefined;
  /** Probability that a write stores an altered payload (one field changed). */
  readonly corrupt?: number | undefined;
  /**
   * Write calls (counted from 1, retries included) that fail as if the sink were
   * unreachable: `{ from, to }`, both inclusive.
   */
  readonly offline?: WriteWindow | undefined;
}

/** A window of write calls, counted from 1, retries included; both ends inclusive. */
export interface WriteWindow {
  /** First write call of the window. */
  readonly from: number;
  /** Last write call of the window. */
  readonly to: number;
}

/** Options of {@link createMemorySink}. */
export interface MemorySinkOptions {
  /** The sink's name. */
  readonly name: string;
  /** When given, the sink comes with its guard (`sink.guard`), delivering from this ledger. */
  readonly ledger?: Ledger | undefined;
  /** More options for that guard (retries, concurrency, validation, ...). */
  readonly guardOptions?: Omit<GuardSinkOptions, "name" | "ledger" | "write"> | undefined;
  /** Faults to inject. */
  readonly faults?: MemorySinkFaults | undefined;
  /**
   * What `observe` yields: `checksum` (of the payload held, cheap) or `payload` (so that
   * mismatched findings show the differing JSON paths).
   * @default "checksum"
   */
  readonly observe?: "checksum" | "payload" | undefined;
  /**
   * Whether the sink offers digest mode (`sink.digest`).
   * @default false
   */
  readonly digest?: boolean | undefined;
  /**
   * The sink's lag tolerance for reconciliation, in ms.
   * @default 60_000
   */
  readonly lagToleranceMs?: number | undefined;
}

/** One key as the sink holds it. */
export interface MemorySinkRow {
  /** The payload held (altered when corrupted). */
  readonly payload: JsonValue;
  /** Checksum of the payload held. */
  readonly checksum: Checksum;
  /** How many copies. */
  readonly count: number;
}

/** What a memory sink has done, fault by fault. */
export interface MemorySinkStats {
  /** Write calls, retries included. */
  readonly writes: number;
  /** Writes stored (once or twice). */
  readonly stored: number;
  /** Writes acknowledged and not stored. */
  readonly dropped: number;
  /** Writes stored twice. */
  readonly duplicated: number;
  /** Writes stored altered. */
  readonly corrupted: number;
  /** Write calls refused while offline. */
  readonly refused: number;
}

/** An in-memory sink: see {@link createMemorySink}. It is a `ReconcileSink` as it stands. */
export interface MemorySink extends ReconcileSink {
  /** The raw writer (an upsert by key, with the faults): give it to `guardSink`. */
  readonly write: SinkWriter;
  /** Its guard, when a ledger was given. */
  readonly guard: SinkGuard | undefined;
  /** Reads back every key held. */
  readonly observe: () => Iterable<Observation>;
  /** Digest mode over the rows held, when enabled. */
  readonly digest: SinkDigest | undefined;
  /** Replaces every copy of the key with the envelope's payload (no faults). */
  readonly rewrite: (envelope: Envelope) => void;
  /** Removes every copy of the key. */
  readonly remove: (key: string) => void;
  /** The row held for a key. */
  get(key: string): MemorySinkRow | undefined;
  /** Every row, by key. */
  rows(): ReadonlyMap<string, MemorySinkRow>;
  /** Keys held (copies not counted). */
  readonly size: number;
  /** Sets a row directly (tests that inject anomalies by hand): `count` copies of `payload`. */
  put(key: string, payload: JsonValue, count?: number): void;
  /** Deletes a row directly; true when it was there. */
  delete(key: string): boolean;
  /** Takes the sink offline (every write fails) or back online. */
  setOffline(offline: boolean): void;
  /** Stops every fault from now on (the sink was fixed). */
  heal(): void;
  /** What it has done so far. */
  stats(): MemorySinkStats;
}

/**
 * A seeded pseudo-random generator (mulberry32): numbers in `[0, 1)`, the same sequence for
 * the same seed. Small and fast; plenty for fault injection and reproducible test data,
 * not for anything secret.
 *
 * @example
 * ```ts
 * import { createSeededRandom } from "sinkproof/testing";
 * const random = createSeededRandom(42);
 * if (random() < 0.01) dropThisWrite();
 * ```
 */
export function createSeededRandom(seed: number): () => number {
  if (!Number.isSafeInteger(seed))
    invalidArgument("seed", `must be an integer, got ${String(seed)}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Changes one field of a payload (or replaces a scalar payload) so its checksum changes. */
function corrupt(payload: JsonValue, random: () => number): JsonValue {
  if (typeof payload === "object" && payload !== null) {
    const copy: Record<string, JsonValue> | JsonValue[] = Array.isArray(payload)
      ? [...(payload as readonly JsonValue[])]
      : { ...(payload as Record<string, JsonValue>) };
    const keys = Object.keys(copy);
    if (keys.length === 0) return { corrupted: true };
    const key = keys[Math.floor(random() * keys.length)] as string;
    const target = copy as Record<string, JsonValue>;
    const value = target[key] as JsonValue;
    target[key] =
      typeof value === "number"
        ? value + 1
        : typeof value === "string"
          ? `${value}\u0000`
          : typeof value === "boolean"
            ? !value
            : value === null
              ? "corrupted"
              : null;
    return copy;
  }
  return { corrupted: payload };
}

function probability(value: unknown, where: string): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
    invalidArgument(where, `must be a probability from 0 to 1, got ${String(value)}`);
  }
  return value;
}

/** A retryable failure, as an unreachable sink would throw. */
class SinkOfflineError extends Error {
  readonly code = "sink_offline";
}

/**
 * Makes an in-memory sink with optional seeded faults. With `ledger`, it comes with its
 * guard, so it can go straight into a pipeline and into `reconcile` / `repair`.
 *
 * @example
 * ```ts
 * import { createMemorySink } from "sinkproof/testing";
 * const search = createMemorySink({ name: "search", ledger, faults: { drop: 0.01, seed: 7 } });
 * const pipeline = createPipeline({ producer, sinks: [search.guard!] });
 * // ... publish ...
 * const report = await reconcile({ ledger, sinks: [search] });
 * report.sinks[0].counts["missing-lost"]; // the dropped writes, once older than the lag tolerance
 * ```
 */
export function createMemorySink(options: MemorySinkOptions): MemorySink {
  if (typeof options !== "object" || options === null)
    invalidArgument("options", `must be an object, got ${describe(options)}`);
  const { name } = options;
  if (typeof name !== "string" || name.length === 0)
    invalidArgument("options.name", "must be a non-empty string");
  const faults = options.faults ?? {};
  if (typeof faults !== "object" || faults === null)
    invalidArgument("options.faults", `must be an object, got ${describe(faults)}`);
  const seed = faults.seed ?? 1;
  if (!Number.isSafeInteger(seed))
    invalidArgument("options.faults.seed", `must be an integer, got ${String(seed)}`);
  let drop = probability(faults.drop, "options.faults.drop");
  let duplicate = probability(faults.duplicate, "options.faults.duplicate");
  let corruptRate = probability(faults.corrupt, "options.faults.corrupt");
  let offlineWindow = faults.offline;
  if (
    offlineWindow !== undefined &&
    (typeof offlineWindow !== "object" ||
      offlineWindow === null ||
      !Number.isSafeInteger(offlineWindow.from) ||
      !Number.isSafeInteger(offlineWindow.to) ||
      offlineWindow.from > offlineWindow.to)
  ) {
    invalidArgument(
      "options.faults.offline",
      "must be { from, to }: write call numbers, from ≤ to",
    );
  }
  const mode = options.observe ?? "checksum";
  if (mode !== "checksum" && mode !== "payload")
    invalidArgument("options.observe", `must be "checksum" or "payload", got ${String(mode)}`);
  const random = createSeededRandom(seed);
  const rows = new Map<string, MemorySinkRow>();
  let offline = false;
  let digestCache: SinkDigest | undefined;
  const stats = { writes: 0, stored: 0, dropped: 0, duplicated: 0, corrupted: 0, refused: 0 };

  const set = (key: string, payload: JsonValue, count: number): void => {
    rows.set(key, { payload, checksum: checksum(payload), count });
    digestCache = undefined;
  };

  const write: SinkWriter = (envelope: Envelope, _context: SinkWriteContext) => {
    const call = ++stats.writes;
    if (
      offline ||
      (offlineWindow !== undefined && call >= offlineWindow.from && call <= offlineWindow.to)
    ) {
      stats.refused++;
      throw new SinkOfflineError(`${name} is offline`);
    }
    // One draw per fault, always, so that one fault's rate does not shift the others.
    const dropped = random() < drop;
    const twice = random() < duplicate;
    const altered = random() < corruptRate;
    if (dropped) {
      stats.dropped++;
      return { offset: "dropped" };
    }
    const payload = altered ? corrupt(envelope.payload, random) : envelope.payload;
    if (altered) stats.corrupted++;
    // An upsert by key, except that a duplicating write leaves two copies.
    if (twice) stats.duplicated++;
    stats.stored++;
    set(envelope.key, payload, twice ? 2 : 1);
    return { offset: `${name}:${envelope.key}` };
  };

  const guard =
    options.ledger === undefined
      ? undefined
      : guardSink({ ...options.guardOptions, name, ledger: options.ledger, write });

  const sink: MemorySink = {
    name,
    lagToleranceMs: options.lagToleranceMs,
    write,
    guard,
    observe: function* () {
      for (const [key, row] of rows) {
        yield mode === "payload"
          ? { key, payload: row.payload, count: row.count }
          : { key, checksum: row.checksum, count: row.count };
      }
    },
    digest:
      options.digest === true
        ? {
            digest: (split) => {
              digestCache ??= digestIndex(
                [...rows].map(([key, row]) => ({ key, checksum: row.checksum, count: row.count })),
              );
              return digestCache.digest(split);
            },
            observeRange: (range) => {
              digestCache ??= digestIndex(
                [...rows].map(([key, row]) => ({ key, checksum: row.checksum, count: row.count })),
              );
              const found = [...(digestCache.observeRange(range) as Iterable<Observation>)];
              return mode === "payload"
                ? found.map((o) => ({
                    key: o.key,
                    checksum: o.checksum,
                    payload: (rows.get(o.key) as MemorySinkRow).payload,
                    count: o.count,
                  }))
                : found;
            },
          }
        : undefined,
    rewrite: (envelope) => set(envelope.key, envelope.payload, 1),
    remove: (key) => {
      if (rows.delete(key)) digestCache = undefined;
    },
    get: (key) => rows.get(key),
    rows: () => rows,
    get size() {
      return rows.size;
    },
    put: (key, payload, count = 1) => {
      if (typeof key !== "string" || key.length === 0)
        invalidArgument("key", `must be a non-empty string, got ${describe(key)}`);
      if (!Number.isSafeInteger(count) || count < 1)
        invalidArgument("count", `must be a positive integer, got ${String(count)}`);
      set(key, payload, count);
    },
    delete: (key) => {
      const had = rows.delete(key);
      if (had) digestCache = undefined;
      return had;
    },
    setOffline: (value) => {
      offline = value;
    },
    heal: () => {
      drop = 0;
      duplicate = 0;
      corruptRate = 0;
      offlineWindow = undefined;
      offline = false;
    },
    stats: () => ({ ...stats }),
  };
  return sink;
}
