/**
 * The file ledger's per-entry columns, in chunked typed arrays: a JavaScript array of
 * numbers or strings cannot grow past about 2^27 elements (the engine then aborts the
 * process, uncatchable), and one typed array cannot hold more than the engine's limit
 * either. A column here is a list of fixed-size typed chunks, so it grows to
 * {@link MAX_ENTRIES} entries at a few bytes each, and past that it refuses with a
 * `LedgerError` of code `ledger_full` instead of aborting.
 *
 * @module
 */

import { LedgerError } from "../../errors.js";

/**
 * Most entries one FileLedger holds: 2^32 − 1 (positions are stored in 32 bits). Past it,
 * `append` refuses with `ledger_full`; start a new ledger directory.
 */
export const MAX_ENTRIES: number = 2 ** 32 - 1;

/** The error past {@link MAX_ENTRIES} (or a smaller limit a test sets), or another limit. */
export function ledgerFull(limit: number, what: string = "entries"): LedgerError {
  return new LedgerError(
    "ledger_full",
    `The ledger holds its limit of ${limit.toLocaleString("en-US")} ${what}: nothing more can be written (see docs/ledgers.md, FileLedger limits)`,
  );
}

type Chunk = Float64Array | Uint32Array;

/** A growable column of numbers in typed chunks of `2^chunkBits` elements. */
export class NumberColumn {
  readonly #chunks: Chunk[] = [];
  readonly #bits: number;
  readonly #mask: number;
  readonly #make: (size: number) => Chunk;
  #length = 0;

  /**
   * `kind`: `float64` for any safe integer (offsets), `uint32` for values below 2^32.
   * `chunkBits`: log2 of the chunk size (a test makes them small).
   */
  constructor(kind: "float64" | "uint32", chunkBits = 16) {
    this.#bits = chunkBits;
    this.#mask = 2 ** chunkBits - 1;
    this.#make = kind === "float64" ? (n) => new Float64Array(n) : (n) => new Uint32Array(n);
  }

  get length(): number {
    return this.#length;
  }

  push(value: number): void {
    const index = this.#length;
    const chunk = Math.floor(index / 2 ** this.#bits);
    if (chunk === this.#chunks.length) this.#chunks.push(this.#make(2 ** this.#bits));
    (this.#chunks[chunk] as Chunk)[index & this.#mask] = value;
    this.#length = index + 1;
  }

  get(index: number): number {
    return (this.#chunks[Math.floor(index / 2 ** this.#bits)] as Chunk)[
      index & this.#mask
    ] as number;
  }

  set(index: number, value: number): void {
    (this.#chunks[Math.floor(index / 2 ** this.#bits)] as Chunk)[index & this.#mask] = value;
  }
}

/**
 * A column of strings with few distinct values (producers, streams): each value stored
 * once, each entry as a 32-bit id.
 */
export class StringColumn {
  readonly #ids: NumberColumn;
  readonly #values: string[] = [];
  readonly #idOf = new Map<string, number>();

  constructor(chunkBits = 16) {
    this.#ids = new NumberColumn("uint32", chunkBits);
  }

  get length(): number {
    return this.#ids.length;
  }

  push(value: string): void {
    let id = this.#idOf.get(value);
    if (id === undefined) {
      id = this.#values.length;
      this.#values.push(value);
      this.#idOf.set(value, id);
    }
    this.#ids.push(id);
  }

  get(index: number): string {
    return this.#values[this.#ids.get(index)] as string;
  }
}

/**
 * A column of ISO-8601 times (`2026-11-26T12:00:00.000Z`, as `Date#toISOString` writes
 * them): 8 bytes each, as ms since the epoch. A time that does not read back the same way
 * is kept as it is, on the side (none does, from this ledger).
 */
export class TimeColumn {
  readonly #ms: NumberColumn;
  readonly #odd = new Map<number, string>();
  #lastText = "";
  #lastMs = Number.NaN;

  constructor(chunkBits = 16) {
    this.#ms = new NumberColumn("float64", chunkBits);
  }

  get length(): number {
    return this.#ms.length;
  }

  push(text: string): void {
    if (text === this.#lastText) {
      this.#ms.push(this.#lastMs);
      return;
    }
    const ms = Date.parse(text);
    if (Number.isFinite(ms) && new Date(ms).toISOString() === text) {
      this.#lastText = text;
      this.#lastMs = ms;
      this.#ms.push(ms);
      return;
    }
    this.#odd.set(this.#ms.length, text);
    this.#ms.push(Number.NaN);
  }

  get(index: number): string {
    const ms = this.#ms.get(index);
    if (Number.isNaN(ms)) return this.#odd.get(index) as string;
    if (ms === this.#lastMs) return this.#lastText;
    return new Date(ms).toISOString();
  }
}

/**
 * A column of numbers by position (1 to {@link MAX_ENTRIES}), 0 where nothing was set, in
 * chunks of `2^chunkBits` float64s made only when a position in them is set: a sink whose
 * receipts start late costs nothing for the positions before.
 */
export class LocationColumn {
  readonly #chunks: (Float64Array | undefined)[] = [];
  readonly #size: number;
  #end = 0;

  /** `chunkBits`: log2 of the chunk size, 10 to 20 (a test makes them small). */
  constructor(chunkBits = 14) {
    this.#size = 2 ** Math.min(20, Math.max(10, chunkBits));
  }

  /** The highest position set, 0 for none. */
  get end(): number {
    return this.#end;
  }

  get(position: number): number {
    const chunk = this.#chunks[Math.floor(position / this.#size)];
    return chunk === undefined ? 0 : (chunk[position % this.#size] as number);
  }

  set(position: number, value: number): void {
    const at = Math.floor(position / this.#size);
    let chunk = this.#chunks[at];
    if (chunk === undefined) {
      // At most 2^32 / 2^chunkBits chunks: holes are left as holes.
      chunk = new Float64Array(this.#size);
      this.#chunks[at] = chunk;
    }
    chunk[position % this.#size] = value;
    if (position > this.#end) this.#end = position;
  }

  /** `position` if its chunk exists, else the first position of the next chunk that does (or past the end). */
  nextFrom(position: number): number {
    let at = Math.floor(position / this.#size);
    if (this.#chunks[at] !== undefined) return position;
    while (at < this.#chunks.length && this.#chunks[at] === undefined) at++;
    return at < this.#chunks.length ? at * this.#size : this.#end + 1;
  }
}
