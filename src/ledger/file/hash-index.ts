/**
 * The file ledger's key and id indexes: open addressing over 32-bit hashes of the UTF-8
 * bytes, positions in typed arrays.
 *
 * Why not a `Map<string, number>`: a million-entry replay spent most of its time in
 * `Map.set` on fresh strings, and the strings themselves were most of the heap. Here
 * replay hashes the key bytes straight from the segment and stores 12 bytes per entry; no
 * string is made. A hash match is only a candidate: the caller confirms it against the
 * entry itself (read from disk or the cache), so a collision costs a read, never a wrong
 * answer.
 *
 * @module
 */

import { mix32 } from "../../internal/mix.js";

/** FNV-1a over bytes, then murmur3's finalizer so that the low bits (the slot) mix well. */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** {@link hashBytes} of a string's UTF-8 encoding. */
export function hashString(value: string): number {
  let h = 0x811c9dc5;
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) {
      const bytes = Buffer.from(value, "utf8");
      return hashBytes(bytes, 0, bytes.length);
    }
    h ^= c;
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** Options of {@link HashIndex}, for tests of its limits. */
export interface HashIndexOptions {
  /** log2 of the elements per typed chunk. @default 20 */
  readonly chunkBits?: number | undefined;
  /** Slots to start with, a power of two. @default 1024 */
  readonly capacity?: number | undefined;
}

/**
 * Hash → positions (1 to 2^32 − 1), for a set of keys that only grows. Positions and
 * hashes are unsigned 32-bit; the slot table and the hash of each position live in typed
 * chunks made on first use, so the index holds up to 2^32 − 1 positions (2^33 slots at
 * half load) with no engine limit on the way; memory is about 12 bytes a position.
 */
export class HashIndex {
  readonly #bits: number;
  readonly #chunk: number;
  /** Slot → position; 0 is empty. Load kept at most 1/2. */
  #slots: (Uint32Array | undefined)[];
  #capacity: number;
  /** Position → hash. */
  readonly #hashes: (Uint32Array | undefined)[] = [];
  #count = 0;

  constructor(options: HashIndexOptions = {}) {
    this.#bits = options.chunkBits ?? 20;
    this.#chunk = 2 ** this.#bits;
    this.#capacity = options.capacity ?? 1024;
    this.#slots = [];
  }

  /** How many positions are indexed. */
  get size(): number {
    return this.#count;
  }

  /** How many slots the table has now. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Adds `position` (above every position added before) under `hash`. */
  add(hash: number, position: number): void {
    const c = Math.floor(position / this.#chunk);
    let hashes = this.#hashes[c];
    if (hashes === undefined) {
      hashes = new Uint32Array(this.#chunk);
      this.#hashes[c] = hashes;
    }
    hashes[position % this.#chunk] = hash;
    this.#count++;
    // The table doubles first (from its own slots), then takes the new position.
    if (this.#count * 2 > this.#capacity) this.#rehash(this.#capacity * 2);
    this.#place(this.#slots, this.#capacity, hash, position);
  }

  /** Calls `match` with each position stored under `hash`, until it returns true. */
  find(hash: number, match: (position: number) => boolean): number | undefined {
    const capacity = this.#capacity;
    for (let slot = this.#start(hash, capacity); ; slot = slot + 1 === capacity ? 0 : slot + 1) {
      const position = this.#slotAt(this.#slots, slot);
      if (position === 0) return undefined;
      if (this.#hashOf(position) === hash && match(position)) return position;
    }
  }

  /**
   * The first slot of `hash`: its low bits while the table has at most 2^32 slots; past
   * that, the hash scaled over the whole table (a 32-bit hash has no more bits to give).
   */
  #start(hash: number, capacity: number): number {
    return capacity <= 2 ** 32 ? hash % capacity : Math.floor(hash * (capacity / 2 ** 32));
  }

  #hashOf(position: number): number {
    return (this.#hashes[Math.floor(position / this.#chunk)] as Uint32Array)[
      position % this.#chunk
    ] as number;
  }

  #slotAt(slots: (Uint32Array | undefined)[], slot: number): number {
    const chunk = slots[Math.floor(slot / this.#chunk)];
    return chunk === undefined ? 0 : (chunk[slot % this.#chunk] as number);
  }

  #place(
    slots: (Uint32Array | undefined)[],
    capacity: number,
    hash: number,
    position: number,
  ): void {
    let slot = this.#start(hash, capacity);
    while (this.#slotAt(slots, slot) !== 0) slot = slot + 1 === capacity ? 0 : slot + 1;
    const size = Math.min(this.#chunk, capacity);
    const c = Math.floor(slot / this.#chunk);
    let chunk = slots[c];
    if (chunk === undefined) {
      chunk = new Uint32Array(size);
      slots[c] = chunk;
    }
    chunk[slot % this.#chunk] = position;
  }

  #rehash(capacity: number): void {
    const slots: (Uint32Array | undefined)[] = [];
    // Every position, from the old table's slots (positions need not be consecutive).
    for (const chunk of this.#slots) {
      if (chunk === undefined) continue;
      for (const position of chunk) {
        if (position !== 0) this.#place(slots, capacity, this.#hashOf(position), position);
      }
    }
    this.#slots = slots;
    this.#capacity = capacity;
  }
}
