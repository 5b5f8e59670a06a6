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

/** Hash → positions (1, 2, 3, …), for a set of keys that only grows. */
export class HashIndex {
  /** Slot → position; 0 is empty. Load kept at most 1/2. */
  #slots: Int32Array = new Int32Array(1024);
  /** Position → hash (index 0 unused). */
  #hashes: Uint32Array = new Uint32Array(1024);
  #count = 0;

  /** How many positions are indexed. */
  get size(): number {
    return this.#count;
  }

  /** Adds `position` (the next one: positions arrive in order) under `hash`. */
  add(hash: number, position: number): void {
    if (position >= this.#hashes.length) {
      const grown = new Uint32Array(this.#hashes.length * 2);
      grown.set(this.#hashes);
      this.#hashes = grown;
    }
    this.#hashes[position] = hash;
    this.#count++;
    if (this.#count * 2 > this.#slots.length) this.#rehash(this.#slots.length * 2);
    else this.#place(this.#slots, hash, position);
  }

  /** Calls `match` with each position stored under `hash`, until it returns true. */
  find(hash: number, match: (position: number) => boolean): number | undefined {
    const slots = this.#slots;
    const mask = slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const position = slots[slot] as number;
      if (position === 0) return undefined;
      if (this.#hashes[position] === hash && match(position)) return position;
    }
  }

  #place(slots: Int32Array, hash: number, position: number): void {
    const mask = slots.length - 1;
    let slot = hash & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = position;
  }

  #rehash(capacity: number): void {
    const slots = new Int32Array(capacity);
    for (let position = 1; position <= this.#count; position++) {
      this.#place(slots, this.#hashes[position] as number, position);
    }
    this.#slots = slots;
  }
}
