/**
 * `createMemorySink`: an in-memory sink with seeded fault injection, for testing
 * pipelines, reconciliation and repair without a database. It keeps rows by idempotency
 * key (with a copy count, so duplicates are real), can be read back (`observe`, digest
 * mode), rewritten and pruned, and can be told to misbehave: drop acknowledged writes,
 * store some twice, corrupt some payloads, or be offline for a window of write calls.
 * Faults are drawn from a seeded generator, so a test sees the same faults every run
 * (`memory-sink-faults.ts` checks and draws them; this file holds the rows). Each row
 * keeps a stored checksum beside its payload, as a SQL sink's checksum column does;
 * `tamper` edits one without the other, as a person with database access might.
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
import { describe, invalidArgument, show, underPath } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { createSeededRandom } from "../internal/random.js";
import type { Ledger } from "../ledger/types.js";
import { digestIndex } from "../reconcile/digest.js";
import { SINK_KEYS } from "../reconcile/sinks.js";
import type { Observation, ReconcileSink, SinkDigest } from "../reconcile/types.js";
import {
  drawFaults,
  FAULT_KEYS,
  heal,
  type MemorySinkFaults,
  readFaults,
} from "./memory-sink-faults.js";

export type { MemorySinkFaults, WriteWindow } from "./memory-sink-faults.js";
export { createSeededRandom };

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
  const given = readOptions<MemorySinkFaults>(options.faults, "options.faults", FAULT_KEYS);
  const guardOptions = readOptions<GuardSinkOptions>(
    options.guardOptions,
    "options.guardOptions",
    GUARD_KEYS.filter((key) => key !== "name" && key !== "ledger" && key !== "write"),
  );
  const faults = readFaults(given);
  const mode = options.observe ?? "checksum";
  if (mode !== "checksum" && mode !== "payload" && mode !== "both") {
    invalidArgument(
      "options.observe",
      `must be "checksum", "payload" or "both", got ${show(mode)}`,
    );
  }
  const store: Store = { rows: new Map(), mode, index: undefined };
  const { rows } = store;

  const write: SinkWriter = (envelope: Envelope, _context: SinkWriteContext) => {
    const stored = drawFaults(faults, name, envelope);
    if (stored === undefined) return { offset: "dropped" };
    set(store, envelope.key, stored.payload, stored.count);
    return { offset: `${name}:${envelope.key}` };
  };

  const guard =
    options.ledger === undefined
      ? undefined
      : underPath("options", "options.guardOptions", () =>
          guardSink({ ...guardOptions, name, ledger: options.ledger as Ledger, write }),
        );

  const sink: MemorySink = {
    name,
    lagToleranceMs: options.lagToleranceMs,
    write,
    guard,
    observe: function* () {
      for (const [key, row] of rows) yield view(mode, key, row);
    },
    digest: options.digest === true ? digestMode(store) : undefined,
    rewrite: (envelope) => set(store, envelope.key, envelope.payload, 1),
    remove: (key) => {
      if (rows.delete(key)) store.index = undefined;
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
      set(store, key, payload, count);
    },
    delete: (key) => {
      const had = rows.delete(key);
      if (had) store.index = undefined;
      return had;
    },
    tamper: (key, given) => tamper(store, key, given),
    setOffline: (value) => {
      faults.offline = value;
    },
    heal: () => heal(faults),
    stats: () => ({ ...faults.stats }),
  };
  return keepHelpersOnPrototype(sink);
}

/** The rows a memory sink holds, how it reads them back, and their digest index. */
interface Store {
  readonly rows: Map<string, MemorySinkRow>;
  readonly mode: "checksum" | "payload" | "both";
  /** The digest index of the rows, built when first asked for, dropped on every change. */
  index: SinkDigest | undefined;
}

function set(store: Store, key: string, payload: JsonValue, count: number): void {
  store.rows.set(key, { payload, checksum: checksum(payload), count });
  store.index = undefined;
}

function view(mode: Store["mode"], key: string, row: MemorySinkRow): Observation {
  return mode === "payload"
    ? { key, payload: row.payload, count: row.count }
    : mode === "both"
      ? { key, checksum: row.checksum, payload: row.payload, count: row.count }
      : { key, checksum: row.checksum, count: row.count };
}

function indexOf(store: Store): SinkDigest {
  store.index ??= digestIndex(
    [...store.rows].map(([key, row]) => ({ key, checksum: row.checksum, count: row.count })),
  );
  return store.index;
}

/** Digest mode over the rows held (`options.digest`). */
function digestMode(store: Store): SinkDigest {
  return {
    digest: (split) => indexOf(store).digest(split),
    observeRange: (range) => {
      const found = [...(indexOf(store).observeRange(range) as Iterable<Observation>)];
      // The range is found by the stored checksum (as a SQL sink's row-hash
      // index would); a payload, when asked for, is read beside it.
      return store.mode === "checksum"
        ? found
        : found.map((o) => ({
            key: o.key,
            checksum: o.checksum,
            payload: (store.rows.get(o.key) as MemorySinkRow).payload,
            count: o.count,
          }));
    },
  };
}

/** {@link MemorySink.tamper}: edits a row, neither the payload nor the checksum recomputed. */
function tamper(store: Store, key: string, given: MemorySinkTamper): boolean {
  if (typeof given !== "object" || given === null)
    invalidArgument("change", `must be { payload?, checksum? }, got ${describe(given)}`);
  const change = readOptions<MemorySinkTamper>(given, "change", ["payload", "checksum"]);
  if (change.checksum !== undefined && !isChecksum(change.checksum))
    invalidArgument("change.checksum", "must be a checksum (xxh64:… or sha256:…)");
  const row = store.rows.get(key);
  if (row === undefined) return false;
  store.rows.set(key, {
    payload: change.payload === undefined ? row.payload : change.payload,
    checksum: change.checksum === undefined ? row.checksum : (change.checksum as Checksum),
    count: row.count,
  });
  store.index = undefined;
  return true;
}

/**
 * The test helpers live on the sink's prototype, not enumerable: the sink reads as a sink
 * description with nothing else of its own (as a class instance would), so `reconcile`
 * and `repair` take it, and `{ ...sink }` copies the description alone.
 */
function keepHelpersOnPrototype(sink: MemorySink): MemorySink {
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

const MEMORY_SINK_KEYS = optionKeys<MemorySinkOptions>()(
  "name",
  "ledger",
  "guardOptions",
  "faults",
  "observe",
  "digest",
  "lagToleranceMs",
);
