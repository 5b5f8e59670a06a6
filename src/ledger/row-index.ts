/**
 * The in-memory row index of MemoryLedger and FileLedger: each entry's row hash (digest
 * mode's `rowHash` of its key and checksum) by position, its position in one of 65,536
 * blocks of the hash space, and each block's count and digest sums, kept up to date as
 * entries are appended. A digest request sums whole blocks and reads the rows of the
 * blocks it cuts, so it costs the blocks and rows of its range, not the ledger's size.
 * About 24 bytes an entry. Internal.
 *
 * @module
 */

import { formatDigest, HASH_SPACE, rowHash } from "../checksum/row-hash.js";
import { LedgerError } from "../errors.js";
import type { BucketDigest, DigestScope, DigestSplit, HashRange } from "./types.js";

const BLOCK_BITS = 16;
const BLOCKS = 1 << BLOCK_BITS;
const BLOCK_WIDTH = HASH_SPACE / BLOCKS;

/** A growable list of positions. */
class Positions {
  items = new Float64Array(4);
  length = 0;

  push(position: number): void {
    if (this.length === this.items.length) {
      const grown = new Float64Array(this.items.length * 2);
      grown.set(this.items);
      this.items = grown;
    }
    this.items[this.length++] = position;
  }
}

/** Row hashes of positions 1 to `length`, kept in blocks of the hash space. */
export class RowIndex {
  /** Per position (index = position - 1): the row's place, and its digest words. */
  #hash = new Uint32Array(1024);
  #hi = new Uint32Array(1024);
  #lo = new Uint32Array(1024);
  #length = 0;
  readonly #count = new Float64Array(BLOCKS);
  readonly #hiSum = new Uint32Array(BLOCKS);
  readonly #loSum = new Uint32Array(BLOCKS);
  readonly #rows: (Positions | undefined)[] = new Array(BLOCKS);

  /** Positions indexed: 1 to this. */
  get length(): number {
    return this.#length;
  }

  /** Indexes the entry at the next position (`length + 1`). */
  add(position: number, key: string, checksum: string): void {
    if (position !== this.#length + 1) {
      throw new LedgerError(
        "ledger_failed",
        `The row index of digest mode got position ${position} after ${this.#length}`,
        { position },
      );
    }
    const { hash, hi, lo } = rowHash(key, checksum);
    this.#addHashed(position, hash, hi, lo);
  }

  /** Indexes the next position from its row hash, computed already. */
  #addHashed(position: number, hash: number, hi: number, lo: number): void {
    if (this.#length === this.#hash.length) this.#grow();
    const i = this.#length++;
    this.#hash[i] = hash;
    this.#hi[i] = hi;
    this.#lo[i] = lo;
    const block = hash >>> BLOCK_BITS;
    this.#count[block] = (this.#count[block] as number) + 1;
    this.#hiSum[block] = ((this.#hiSum[block] as number) + hi) >>> 0;
    this.#loSum[block] = ((this.#loSum[block] as number) + lo) >>> 0;
    let rows = this.#rows[block];
    if (rows === undefined) {
      rows = new Positions();
      this.#rows[block] = rows;
    }
    rows.push(position);
  }

  /**
   * Positions 1 to `hash.length` from their row hashes (the columns of {@link columns}),
   * with nothing hashed: for an index kept on disk.
   */
  static fromColumns(hash: Uint32Array, hi: Uint32Array, lo: Uint32Array): RowIndex {
    const index = new RowIndex();
    for (let i = 0; i < hash.length; i++)
      index.#addHashed(i + 1, hash[i] as number, hi[i] as number, lo[i] as number);
    return index;
  }

  /** The row hashes of positions 1 to `length` (views, not copies). */
  columns(): { hash: Uint32Array; hi: Uint32Array; lo: Uint32Array } {
    return {
      hash: this.#hash.subarray(0, this.#length),
      hi: this.#hi.subarray(0, this.#length),
      lo: this.#lo.subarray(0, this.#length),
    };
  }

  #grow(): void {
    const size = this.#hash.length * 2;
    const grow = (a: Uint32Array) => {
      const b = new Uint32Array(size);
      b.set(a);
      return b;
    };
    this.#hash = grow(this.#hash);
    this.#hi = grow(this.#hi);
    this.#lo = grow(this.#lo);
  }

  /** Bucket digests of positions 1 to `scope.through` over `split` (non-empty buckets, ascending). */
  buckets(split: DigestSplit, scope: DigestScope): BucketDigest[] {
    const width = (split.to - split.from) / split.buckets;
    const count = new Float64Array(split.buckets);
    const hiSum = new Uint32Array(split.buckets);
    const loSum = new Uint32Array(split.buckets);
    const addRow = (i: number, sign: 1 | -1) => {
      const hash = this.#hash[i] as number;
      if (hash < split.from || hash >= split.to) return;
      const b = Math.floor((hash - split.from) / width);
      count[b] = (count[b] as number) + sign;
      hiSum[b] = ((hiSum[b] as number) + sign * (this.#hi[i] as number)) >>> 0;
      loSum[b] = ((loSum[b] as number) + sign * (this.#lo[i] as number)) >>> 0;
    };
    const first = Math.floor(split.from / BLOCK_WIDTH);
    const last = Math.ceil(split.to / BLOCK_WIDTH) - 1;
    for (let block = first; block <= last; block++) {
      const start = block * BLOCK_WIDTH;
      const end = start + BLOCK_WIDTH;
      const inside = start >= split.from && end <= split.to;
      const b = Math.floor((start - split.from) / width);
      if (inside && Math.floor((end - 1 - split.from) / width) === b) {
        // The whole block lies in one bucket: its sums.
        count[b] = (count[b] as number) + (this.#count[block] as number);
        hiSum[b] = ((hiSum[b] as number) + (this.#hiSum[block] as number)) >>> 0;
        loSum[b] = ((loSum[b] as number) + (this.#loSum[block] as number)) >>> 0;
        continue;
      }
      const rows = this.#rows[block];
      if (rows === undefined) continue;
      for (let r = 0; r < rows.length; r++) addRow((rows.items[r] as number) - 1, 1);
    }
    // Entries past `through` (appended since the pass began) were summed: take them out.
    for (let i = scope.through; i < this.#length; i++) addRow(i, -1);
    const out: BucketDigest[] = [];
    for (let b = 0; b < split.buckets; b++) {
      const n = count[b] as number;
      if (n > 0)
        out.push({
          bucket: b,
          count: n,
          digest: formatDigest(hiSum[b] as number, loSum[b] as number),
        });
    }
    return out;
  }

  /** Positions from 1 to `scope.through` whose row hash is in `range`, ascending. */
  positions(range: HashRange, scope: DigestScope): number[] {
    const out: number[] = [];
    const first = Math.floor(range.from / BLOCK_WIDTH);
    const last = Math.ceil(range.to / BLOCK_WIDTH) - 1;
    for (let block = first; block <= last; block++) {
      const rows = this.#rows[block];
      if (rows === undefined) continue;
      for (let r = 0; r < rows.length; r++) {
        const position = rows.items[r] as number;
        if (position > scope.through) continue;
        const hash = this.#hash[position - 1] as number;
        if (hash >= range.from && hash < range.to) out.push(position);
      }
    }
    return out.sort((a, b) => a - b);
  }
}

/** An entry as the row index needs it. */
export interface IndexedRow {
  readonly position: number;
  readonly key: string;
  readonly checksum: string;
}

/**
 * A {@link RowIndex} built on first use and caught up with the entries appended since on
 * each use after (`read(from, to)` gives them, in position order): nothing is paid at
 * append, and each digest request pays only for the entries new since the last one.
 * Catch-ups run one at a time.
 */
export class LazyRowIndex {
  #index: RowIndex | undefined;
  #turn: Promise<unknown> = Promise.resolve();

  /**
   * `read(from, to)` gives the entries to index; `load`, when given, an index kept from
   * before (positions 1 to some n) to start from instead of an empty one, asked once.
   */
  constructor(
    private readonly read: (
      from: number,
      to: number,
    ) => AsyncIterable<IndexedRow> | Iterable<IndexedRow>,
    private readonly load?: () => Promise<RowIndex | undefined>,
  ) {}

  /** The index as built so far; undefined before the first use. */
  get built(): RowIndex | undefined {
    return this.#index;
  }

  /** The index, holding at least positions 1 to `head`. */
  upTo(head: number): Promise<RowIndex> {
    const next = this.#turn.then(async () => {
      if (this.#index === undefined) {
        const loaded = this.load === undefined ? undefined : await this.load();
        this.#index = loaded !== undefined && loaded.length <= head ? loaded : new RowIndex();
      }
      const index = this.#index;
      if (index.length < head) {
        for await (const row of this.read(index.length + 1, head)) {
          index.add(row.position, row.key, row.checksum);
        }
      }
      return index;
    });
    this.#turn = next.catch(() => undefined);
    return next;
  }

  /** Forgets the index (the next use rebuilds it). */
  reset(): void {
    this.#index = undefined;
  }
}
