/**
 * The faults of a memory sink (`createMemorySink`): its `faults` option checked, and each
 * write call's draw: refused while offline, acknowledged and dropped, stored twice, or
 * stored with an altered payload, each counted. Faults are drawn from a seeded generator,
 * so a test sees the same faults every run. The option types are public through
 * `memory-sink.ts`; the rest is internal to `sinkproof/testing`.
 *
 * @module
 */

import type { Envelope, JsonValue } from "../envelope/schema.js";
import { invalidArgument, show } from "../internal/arguments.js";
import { type OptionKeys, optionKeys, readOptions } from "../internal/options.js";
import { createSeededRandom } from "../internal/random.js";

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

/** The keys of `options.faults`. */
export const FAULT_KEYS: OptionKeys<MemorySinkFaults> = optionKeys<MemorySinkFaults>()(
  "seed",
  "drop",
  "duplicate",
  "corrupt",
  "offline",
);

/** The faults of one sink as they stand (`heal` and `setOffline` change them), and their counts. */
export interface Faults {
  drop: number;
  duplicate: number;
  corruptRate: number;
  offlineWindow: WriteWindow | undefined;
  /** Taken offline by hand (`setOffline`). */
  offline: boolean;
  readonly random: () => number;
  readonly stats: {
    writes: number;
    stored: number;
    dropped: number;
    duplicated: number;
    corrupted: number;
    refused: number;
  };
}

/** What a write stores, when it stores anything. */
export interface Stored {
  readonly payload: JsonValue;
  readonly count: number;
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

/** Checks the faults asked for (already read as options), and starts their generator. */
export function readFaults(faults: MemorySinkFaults): Faults {
  const seed = faults.seed ?? 1;
  if (!Number.isSafeInteger(seed))
    invalidArgument("options.faults.seed", `must be an integer, got ${show(seed)}`);
  const drop = probability(faults.drop, "options.faults.drop");
  const duplicate = probability(faults.duplicate, "options.faults.duplicate");
  const corruptRate = probability(faults.corrupt, "options.faults.corrupt");
  const offlineWindow =
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
  return {
    drop,
    duplicate,
    corruptRate,
    offlineWindow,
    offline: false,
    random: createSeededRandom(seed),
    stats: { writes: 0, stored: 0, dropped: 0, duplicated: 0, corrupted: 0, refused: 0 },
  };
}

/**
 * Draws the faults of one write call of the sink `name`, and counts them: throws when the
 * sink is offline, answers `undefined` for a dropped write, else what to store.
 */
export function drawFaults(faults: Faults, name: string, envelope: Envelope): Stored | undefined {
  const { stats, random, offlineWindow } = faults;
  const call = ++stats.writes;
  if (
    faults.offline ||
    (offlineWindow !== undefined && call >= offlineWindow.from && call <= offlineWindow.to)
  ) {
    stats.refused++;
    throw new SinkOfflineError(`${name} is offline`);
  }
  // One draw per fault, always, so that one fault's rate does not shift the others.
  const dropped = random() < faults.drop;
  const twice = random() < faults.duplicate;
  const altered = random() < faults.corruptRate;
  if (dropped) {
    stats.dropped++;
    return undefined;
  }
  const payload = altered ? corrupt(envelope.payload, random) : envelope.payload;
  if (altered) stats.corrupted++;
  // An upsert by key, except that a duplicating write leaves two copies.
  if (twice) stats.duplicated++;
  stats.stored++;
  return { payload, count: twice ? 2 : 1 };
}

/** Stops every fault from now on (the sink was fixed). */
export function heal(faults: Faults): void {
  faults.drop = 0;
  faults.duplicate = 0;
  faults.corruptRate = 0;
  faults.offlineWindow = undefined;
  faults.offline = false;
}
