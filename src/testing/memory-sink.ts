/**
 * `createMemorySink`: an in-memory sink with seeded fault injection, for testing
 * pipelines, reconciliation and repair without a database. It keeps rows by idempotency
 * key (with a copy count, so duplicates are real), can be read back (`observe`, digest
 * mode), rewritten and pruned, and can be told to misbehave: drop acknowledged writes,
 * store some twice, corrupt some payloads, or be offline for a window of write calls.
 * Faults are drawn from a seeded generator, so a test sees the same faults every run.
 * Each row keeps a stored checksum beside its payload, as a SQL sink's checksum column
 * does; `tamper` edits one without the other, as a person with database access might.
 *
 * @module
 */

import { type Checksum, checksum, isChecksum } from "../checksum/checksum.js";
import {
  GUARD_KEYS,
  type GuardSinkOptions,
  guardSink,
  type SinkGuard,
  type SinkWriteContext,
  type SinkWriter,
} from "../delivery/guard.js";
import type { Envelope, JsonValue } from "../envelope/schema.js";
import { InvalidArgumentError } from "../errors.js";
import { describe, invalidArgument, show } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { createSeededRandom } from "../internal/random.js";
import type { Ledger } from "../ledger/types.js";
import { digestIndex } from "../reconcile/digest.js";
import { SINK_KEYS } from "../reconcile/sinks.js";
import type { Observation, ReconcileSink, SinkDigest } from "../reconcile/types.js";

export { createSeededRandom };

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
   * What `observe` (and digest mode's `observeRange`) yields per row: `checksum` (the
   * stored checksum: cheap, blind to a payload edited under it), `payload` (so that
   * mismatched findings show the differing JSON paths; blind to an edited checksum), or
   * `both` (each is checked against the ledger and against the other).
   * @default "checksum"
   */
  readonly observe?: "checksum" | "payload" | "both" | undefined;
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
  /** The checksum stored beside it: its payload's, unless `tamper` changed one of the two. */
  readonly checksum: Checksum;
  /** How many copies. */
  readonly count: number;
}

/** What {@link MemorySink.tamper} changes in a row; what is left out stays as it is. */
export interface MemorySinkTamper {
  /** The payload to hold from now on (its checksum is not recomputed). */
  readonly payload?: JsonValue | undefined;
  /** The checksum to store from now on (the payload is not changed). */
  readonly checksum?: string | undefined;
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
  /**
   * Edits a row in place, the stored checksum and the payload each as given and neither
   * recomputed from the other: `{ payload }` alone is a payload edited under its
   * checksum (digest mode cannot see it), `{ checksum }` alone a checksum column edited
   * over an intact payload. False when the key is not held.
   *
   * @example
   * ```ts
   * sink.tamper(key, { payload: { ...order, total: 0 } }); // the stored checksum stays
   * ```
   */
  tamper(key: string, change: MemorySinkTamper): boolean;
  /** Takes the sink offline (every write fails) or back online. */
  setOffline(offline: boolean): void;
  /** Stops every fault from now on (the sink was fixed). */
  heal(): void;
  /** What it has done so far. */
  stats(): MemorySinkStats;
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
    invalidArgument(where, `must be a probability from 0 to 1, got ${show(value)}`);
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
export function createMemorySink(sinkOptions: MemorySinkOptions): MemorySink {
  const options = readOptions<MemorySinkOptions>(sinkOptions, "options", MEMORY_SINK_KEYS, {
    required: true,
  });
  const { name } = options;
  if (typeof name !== "string" || name.length === 0)
    invalidArgument("options.name", "must be a non-empty string");
  const faults = readOptions<MemorySinkFaults>(options.faults, "options.faults", FAULT_KEYS);
  const guardOptions = readOptions<GuardSinkOptions>(
    options.guardOptions,
    "options.guardOptions",
    GUARD_KEYS.filter((key) => key !== "name" && key !== "ledger" && key !== "write"),
  );
  const seed = faults.seed ?? 1;
  if (!Number.isSafeInteger(seed))
    invalidArgument("options.faults.seed", `must be an integer, got ${show(seed)}`);
  let drop = probability(faults.drop, "options.faults.drop");
  let duplicate = probability(faults.duplicate, "options.faults.duplicate");
  let corruptRate = probability(faults.corrupt, "options.faults.corrupt");
  let offlineWindow =
    faults.offline === undefined
      ? undefined
      : (readOptions<WriteWindow>(faults.offline, "options.faults.offline", ["from", "to"], {
          required: true,
        }) as WriteWindow);
  if (
    offlineWindow !== undefined &&
    (!Number.isSafeInteger(offlineWindow.from) ||
      !Number.isSafeInteger(offlineWindow.to) ||
      offlineWindow.from > offlineWindow.to)
  ) {
    invalidArgument(
      "options.faults.offline",
      "must be { from, to }: write call numbers, from ≤ to",
    );
  }
  const mode = options.observe ?? "checksum";
  if (mode !== "checksum" && mode !== "payload" && mode !== "both") {
    invalidArgument(
      "options.observe",
      `must be "checksum", "payload" or "both", got ${show(mode)}`,
    );
  }
  const random = createSeededRandom(seed);
  const rows = new Map<string, MemorySinkRow>();
  let offline = false;
  let digestCache: SinkDigest | undefined;
  const stats = { writes: 0, stored: 0, dropped: 0, duplicated: 0, corrupted: 0, refused: 0 };

  const set = (key: string, payload: JsonValue, count: number): void => {
    rows.set(key, { payload, checksum: checksum(payload), count });
    digestCache = undefined;
  };

  const view = (key: string, row: MemorySinkRow): Observation =>
    mode === "payload"
      ? { key, payload: row.payload, count: row.count }
      : mode === "both"
        ? { key, checksum: row.checksum, payload: row.payload, count: row.count }
        : { key, checksum: row.checksum, count: row.count };

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
      : withPathUnder("options.guardOptions", () =>
          guardSink({ ...guardOptions, name, ledger: options.ledger as Ledger, write }),
        );

  const sink: MemorySink = {
    name,
    lagToleranceMs: options.lagToleranceMs,
    write,
    guard,
    observe: function* () {
      for (const [key, row] of rows) yield view(key, row);
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
              // The range is found by the stored checksum (as a SQL sink's row-hash
              // index would); a payload, when asked for, is read beside it.
              return mode === "checksum"
                ? found
                : found.map((o) => ({
                    key: o.key,
                    checksum: o.checksum,
                    payload: (rows.get(o.key) as MemorySinkRow).payload,
                    count: o.count,
                  }));
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
        invalidArgument("count", `must be a positive integer, got ${show(count)}`);
      set(key, payload, count);
    },
    delete: (key) => {
      const had = rows.delete(key);
      if (had) digestCache = undefined;
      return had;
    },
    tamper: (key, given) => {
      if (typeof given !== "object" || given === null)
        invalidArgument("change", `must be { payload?, checksum? }, got ${describe(given)}`);
      const change = readOptions<MemorySinkTamper>(given, "change", ["payload", "checksum"]);
      if (change.checksum !== undefined && !isChecksum(change.checksum))
        invalidArgument("change.checksum", "must be a checksum (xxh64:… or sha256:…)");
      const row = rows.get(key);
      if (row === undefined) return false;
      rows.set(key, {
        payload: change.payload === undefined ? row.payload : change.payload,
        checksum: change.checksum === undefined ? row.checksum : (change.checksum as Checksum),
        count: row.count,
      });
      digestCache = undefined;
      return true;
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
  // The test helpers live on the sink's prototype, not enumerable: the sink reads as a sink
  // description with nothing else of its own (as a class instance would), so `reconcile`
  // and `repair` take it, and `{ ...sink }` copies the description alone.
  const helpers: object = {};
  for (const key of Object.keys(sink)) {
    if (!(SINK_KEYS as readonly string[]).includes(key)) {
      const descriptor = Object.getOwnPropertyDescriptor(sink, key) as PropertyDescriptor;
      Object.defineProperty(helpers, key, { ...descriptor, enumerable: false });
      delete (sink as unknown as Record<string, unknown>)[key];
    }
  }
  Object.setPrototypeOf(sink, helpers);
  return sink;
}

/**
 * Runs `make`, naming the options it is given as they sit in the caller's: an
 * `InvalidArgumentError` at `options.retry` becomes one at `options.guardOptions.retry`.
 */
function withPathUnder<T>(prefix: string, make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (!(error instanceof InvalidArgumentError) || error.path?.startsWith("options.") !== true) {
      throw error;
    }
    const path = `${prefix}${error.path.slice("options".length)}`;
    throw new InvalidArgumentError(
      "invalid_argument",
      error.message.startsWith(error.path)
        ? `${path}${error.message.slice(error.path.length)}`
        : `${path}: ${error.message}`,
      { path, cause: error },
    );
  }
}

const MEMORY_SINK_KEYS = optionKeys<MemorySinkOptions>()(
  "name",
  "ledger",
  "guardOptions",
  "faults",
  "observe",
  "digest",
  "lagToleranceMs",
);
const FAULT_KEYS = optionKeys<MemorySinkFaults>()(
  "seed",
  "drop",
  "duplicate",
  "corrupt",
  "offline",
);
