/**
 * The observations the read-back sinks answered, held once for every sink: one shared key
 * index and, per sink, a slot per key (a copy count, its checksum, its payload), read from
 * an iterable or async iterable with every item checked. Internal.
 *
 * @module
 */

import { isChecksum } from "../checksum/checksum.js";
import { InvalidArgumentError } from "../errors.js";
import { describe, invalidArgument, show } from "../internal/arguments.js";
import { type Held, merge, type Slot } from "./copies.js";
import { PROGRESS_EVERY } from "./run.js";
import { isFunction } from "./sinks.js";
import type { Observation } from "./types.js";

/** Checks one observation a sink gave. Internal (verifySinkPayloads uses it too). */
function checkObservation(value: unknown, where: string): Observation {
  if (typeof value !== "object" || value === null) {
    invalidArgument(
      where,
      `must be an observation { key, checksum | payload, count? }, got ${describe(value)}`,
    );
  }
  const o = value as Observation;
  if (typeof o.key !== "string" || o.key.length === 0) {
    invalidArgument(`${where}.key`, `must be a non-empty string, got ${describe(o.key)}`);
  }
  if (o.checksum !== undefined && !isChecksum(o.checksum)) {
    throw new InvalidArgumentError(
      "invalid_checksum",
      `${where}.checksum must be "xxh64:" + 16 or "sha256:" + 64 lowercase hex digits`,
      {
        path: `${where}.checksum`,
        key: o.key,
      },
    );
  }
  if (o.checksum === undefined && o.payload === undefined) {
    invalidArgument(where, "must have a checksum or a payload", undefined, { key: o.key });
  }
  if (o.count !== undefined && (!Number.isSafeInteger(o.count) || o.count < 1)) {
    invalidArgument(
      `${where}.count`,
      `must be a positive integer, got ${show(o.count)}`,
      undefined,
      {
        key: o.key,
      },
    );
  }
  return o;
}

/** Adds one observation to a map of what a sink holds (digest mode's differing rows). */
export function hold(map: Map<string, Slot>, o: Observation): void {
  const slot = map.get(o.key);
  const next = merge(slot, o);
  if (next !== slot) map.set(o.key, next);
}

/** Marks a key the ledger scan has judged at a sink. */
export const VISITED: Held = Object.freeze({
  first: Object.freeze({ checksum: undefined, payload: undefined, hasPayload: false }),
  other: undefined,
  count: 0,
}) as Held;

/**
 * What every read-back sink holds, under one key index: each key gets a number once, and
 * each sink an array of slots by that number. The ledger scan then looks each entry's key
 * up once for all sinks (not once per sink), and nothing is deleted: judged slots are
 * marked, and what is left unmarked is what the ledger did not meet.
 */
/**
 * Thrown (and caught by the pass) when a pass's read-back holds more keys than its memory
 * budget allows: the pass starts again, split into more hash partitions. Internal.
 */
export class TooManyKeys extends Error {
  constructor(readonly keys: number) {
    super(`more than ${keys} keys held at once`);
  }
}

/** The partition of a key among `parts`: FNV-1a of its UTF-16 code units, mod `parts`. */
export function partOf(key: string, parts: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % parts;
}

export class Holdings {
  readonly index: Map<string, number> = new Map();
  readonly keys: string[] = [];

  /**
   * `part`: the keys this pass holds (the others are read and dropped), undefined for all;
   * `maxKeys`: the most keys held at once, past which the pass is split ({@link TooManyKeys}).
   */
  constructor(
    readonly part: ((key: string) => boolean) | undefined = undefined,
    readonly maxKeys: number = Number.POSITIVE_INFINITY,
  ) {}

  /** A new sink's slots: as long as the index, so that writes never leave holes. */
  slots(): (Slot | undefined)[] {
    return new Array<Slot | undefined>(this.keys.length).fill(undefined);
  }

  /** Holds one observation; false when its key is not this pass's to hold. */
  add(slots: (Slot | undefined)[], o: Observation): boolean {
    if (this.part !== undefined && !this.part(o.key)) return false;
    let i = this.index.get(o.key);
    if (i === undefined) {
      if (this.keys.length >= this.maxKeys) throw new TooManyKeys(this.maxKeys);
      i = this.keys.length;
      this.index.set(o.key, i);
      this.keys.push(o.key);
    }
    const slot = slots[i];
    const next = merge(slot, o);
    if (next !== slot) {
      if (i < slots.length) slots[i] = next;
      else {
        while (slots.length < i) slots.push(undefined);
        slots.push(next);
      }
    }
    return true;
  }
}

function isIterable(value: unknown): value is AsyncIterable<unknown> | Iterable<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    (isFunction((value as AsyncIterable<unknown>)[Symbol.asyncIterator]) ||
      isFunction((value as Iterable<unknown>)[Symbol.iterator]))
  );
}

/** Reads observations into the map; returns how many were read. Internal. */
export async function readObservations(
  source: unknown,
  where: string,
  add: (o: Observation) => void,
  onEach: (n: number) => void,
): Promise<number> {
  if (!isIterable(source)) {
    invalidArgument(
      where,
      `must return an iterable or async iterable of observations, got ${describe(source)}`,
    );
  }
  let n = 0;
  if (
    isFunction((source as Iterable<unknown>)[Symbol.iterator]) &&
    !isFunction((source as AsyncIterable<unknown>)[Symbol.asyncIterator])
  ) {
    for (const value of source as Iterable<unknown>) {
      add(checkObservation(value, `${where}[${n}]`));
      if (++n % PROGRESS_EVERY === 0) onEach(n);
    }
    return n;
  }
  for await (const value of source as AsyncIterable<unknown>) {
    add(checkObservation(value, `${where}[${n}]`));
    if (++n % PROGRESS_EVERY === 0) onEach(n);
  }
  return n;
}
