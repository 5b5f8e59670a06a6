/**
 * Digest mode: compare a sink with the ledger bucket by bucket, reading row by row only
 * the buckets that differ (data-diff's bisection, Merkle anti-entropy without the tree).
 *
 * Every row (one copy of one key at a sink; one entry in the ledger) gets a row hash:
 * `SHA-256(UTF-8(key + "\n" + checksum))`. Its first 4 bytes, as an unsigned big-endian
 * integer, place the row in the hash space `[0, 2^32)`; the next 8 bytes are its digest
 * words `hi` and `lo` (two unsigned 32-bit integers). A bucket's digest is
 * `(sum of hi mod 2^32, sum of lo mod 2^32)` written as 16 hex digits, with its row count
 * beside it: order-independent, so a SQL sink computes it with one `GROUP BY`. Two
 * buckets with equal count and digest hold the same rows (up to a 2^-64 accident); a
 * bucket that differs is split and compared again, down to a few rows.
 *
 * @module
 */

import {
  checkHashRange,
  formatDigest,
  HASH_SPACE,
  isWellFormed,
  type RowHash,
  rowHash,
  splitWidth,
} from "../checksum/row-hash.js";

import { describe, invalidArgument, reading, show } from "../internal/arguments.js";
import type { BucketDigest, DigestSplit, HashRange, Observation, SinkDigest } from "./types.js";

export {
  checkHashRange,
  formatDigest,
  HASH_SPACE,
  type RowHash,
  rowHash,
  splitWidth,
} from "../checksum/row-hash.js";

const EMPTY_DIGEST = "0000000000000000";

/** Grows typed arrays of row hashes as rows arrive. Internal. */
export class RowBuffer {
  hash: Uint32Array = new Uint32Array(1024);
  hi: Uint32Array = new Uint32Array(1024);
  lo: Uint32Array = new Uint32Array(1024);
  count: Uint32Array = new Uint32Array(1024);
  /** Caller's reference per row: a ledger position, an index into a key list. */
  ref: Float64Array = new Float64Array(1024);
  length = 0;

  push(row: RowHash, count: number, ref: number): void {
    if (this.length === this.hash.length) this.#grow();
    const i = this.length++;
    this.hash[i] = row.hash;
    this.hi[i] = row.hi;
    this.lo[i] = row.lo;
    this.count[i] = count;
    this.ref[i] = ref;
  }

  #grow(): void {
    const size = this.hash.length * 2;
    const grow32 = (a: Uint32Array) => {
      const b = new Uint32Array(size);
      b.set(a);
      return b;
    };
    this.hash = grow32(this.hash);
    this.hi = grow32(this.hi);
    this.lo = grow32(this.lo);
    this.count = grow32(this.count);
    const ref = new Float64Array(size);
    ref.set(this.ref);
    this.ref = ref;
  }
}

/** Row indexes sorted by hash: two stable counting passes over 16-bit halves. */
function radixOrder(hash: Uint32Array, n: number): Uint32Array {
  let from = new Uint32Array(n);
  let to = new Uint32Array(n);
  for (let i = 0; i < n; i++) from[i] = i;
  const counts = new Uint32Array(65537);
  for (const shift of [0, 16]) {
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const digit = ((hash[from[i] as number] as number) >>> shift) & 0xffff;
      counts[digit + 1] = (counts[digit + 1] as number) + 1;
    }
    for (let d = 0; d < 65536; d++)
      counts[d + 1] = (counts[d + 1] as number) + (counts[d] as number);
    for (let i = 0; i < n; i++) {
      const row = from[i] as number;
      const digit = ((hash[row] as number) >>> shift) & 0xffff;
      to[counts[digit] as number] = row;
      counts[digit] = (counts[digit] as number) + 1;
    }
    [from, to] = [to, from];
  }
  return from;
}

/** A bucket's rows, count and digest words. */
export interface BucketSummary {
  /** First sorted index. */
  readonly start: number;
  /** One past the last sorted index. */
  readonly end: number;
  /** Rows, copies counted. */
  readonly count: number;
  /** The 16-hex digest. */
  readonly digest: string;
}

/**
 * Rows sorted by row hash with prefix sums: the count and digest of any hash range in
 * two binary searches. Internal; {@link digestIndex} is its public face.
 */
export class SortedRows {
  readonly length: number;
  readonly #hash: Uint32Array;
  readonly #order: Uint32Array;
  readonly #ref: Float64Array;
  readonly #hiSum: Uint32Array;
  readonly #loSum: Uint32Array;
  readonly #countSum: Float64Array;

  constructor(rows: RowBuffer) {
    const n = rows.length;
    const order = radixOrder(rows.hash, n);
    const hash = new Uint32Array(n);
    const ref = new Float64Array(n);
    const hiSum = new Uint32Array(n + 1);
    const loSum = new Uint32Array(n + 1);
    const countSum = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      const row = order[i] as number;
      const count = rows.count[row] as number;
      hash[i] = rows.hash[row] as number;
      ref[i] = rows.ref[row] as number;
      hiSum[i + 1] = ((hiSum[i] as number) + Math.imul(rows.hi[row] as number, count)) >>> 0;
      loSum[i + 1] = ((loSum[i] as number) + Math.imul(rows.lo[row] as number, count)) >>> 0;
      countSum[i + 1] = (countSum[i] as number) + count;
    }
    this.length = n;
    this.#hash = hash;
    this.#order = order;
    this.#ref = ref;
    this.#hiSum = hiSum;
    this.#loSum = loSum;
    this.#countSum = countSum;
  }

  /** First sorted index whose hash is ≥ `value`. */
  lowerBound(value: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#hash[mid] as number) < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Count and digest of the rows with `from ≤ hash < to`. */
  summary(from: number, to: number): BucketSummary {
    const start = this.lowerBound(from);
    const end = to >= HASH_SPACE ? this.length : this.lowerBound(to);
    return this.between(start, end);
  }

  /** Count and digest of sorted indexes `[start, end)`. */
  between(start: number, end: number): BucketSummary {
    const count = (this.#countSum[end] as number) - (this.#countSum[start] as number);
    if (count === 0) return { start, end, count, digest: EMPTY_DIGEST };
    const hi = ((this.#hiSum[end] as number) - (this.#hiSum[start] as number)) >>> 0;
    const lo = ((this.#loSum[end] as number) - (this.#loSum[start] as number)) >>> 0;
    return { start, end, count, digest: formatDigest(hi, lo) };
  }

  /** The caller's reference of the row at sorted index `i`. */
  ref(i: number): number {
    return this.#ref[i] as number;
  }

  /** The row number (insertion order) at sorted index `i`. */
  row(i: number): number {
    return this.#order[i] as number;
  }
}

/**
 * Digest mode for a sink whose rows are at hand in code (a cache dump, a key-value store,
 * a test double): builds the sorted index once from `rows` and answers `digest` and
 * `observeRange` from it. Rows with the same key are copies (duplicates); give each copy
 * its own row or a `count`. A SQL sink computes the same answers in its database: see
 * docs/reconciliation.md.
 *
 * @example
 * ```ts
 * import { reconcile } from "sinkproof";
 * import { digestIndex } from "sinkproof/digest";
 * const rows = [...kv.entries()].map(([key, value]) => ({ key, checksum: value.checksum }));
 * const report = await reconcile({ ledger, sinks: [{ name: "kv", digest: digestIndex(rows) }] });
 * ```
 */
export function digestIndex(
  rows: Iterable<Observation & { readonly checksum: string }>,
): SinkDigest {
  const iterable = reading(
    "rows",
    () => typeof (rows as Iterable<unknown> | null)?.[Symbol.iterator] === "function",
  );
  if (!iterable) {
    invalidArgument("rows", `must be an iterable of { key, checksum }, got ${describe(rows)}`);
  }
  const buffer = new RowBuffer();
  const kept: Observation[] = [];
  // Each row is read once into a plain object: what is hashed is what is answered.
  reading("rows", () => {
    let i = 0;
    for (const row of rows as Iterable<unknown>) {
      const r =
        typeof row === "object" && row !== null ? (row as Record<string, unknown>) : undefined;
      const key = r?.key;
      const checksum = r?.checksum;
      if (typeof key !== "string" || typeof checksum !== "string") {
        invalidArgument(`rows[${i}]`, "must be { key, checksum } (strings)");
      }
      for (const [field, value] of [
        ["key", key],
        ["checksum", checksum],
      ] as const) {
        if (!isWellFormed(value)) {
          invalidArgument(
            `rows[${i}].${field}`,
            "must be a well-formed string (a lone surrogate has no UTF-8 form)",
          );
        }
      }
      const count = r?.count ?? 1;
      if (!Number.isSafeInteger(count) || (count as number) < 1) {
        invalidArgument(`rows[${i}].count`, `must be a positive integer, got ${show(count)}`);
      }
      const payload = r?.payload;
      buffer.push(rowHash(key, checksum), count as number, kept.length);
      kept.push(
        Object.freeze({
          key,
          checksum,
          ...(r?.count === undefined ? {} : { count: count as number }),
          ...(payload === undefined ? {} : { payload: payload as Observation["payload"] }),
        }),
      );
      i++;
    }
  });
  const sorted = new SortedRows(buffer);
  return {
    digest(split: DigestSplit): BucketDigest[] {
      const width = splitWidth(split, "split");
      const out: BucketDigest[] = [];
      let start = sorted.lowerBound(split.from);
      for (let b = 0; b < split.buckets; b++) {
        const upper = split.from + (b + 1) * width;
        const end = upper >= HASH_SPACE ? sorted.length : sorted.lowerBound(upper);
        if (end > start) {
          const s = sorted.between(start, end);
          out.push({ bucket: b, count: s.count, digest: s.digest });
        }
        start = end;
      }
      return out;
    },
    *observeRange(range: HashRange): Iterable<Observation> {
      checkHashRange(range, "range");
      const { start, end } = sorted.summary(range.from, range.to);
      for (let s = start; s < end; s++) yield kept[sorted.ref(s)] as Observation;
    },
  };
}
