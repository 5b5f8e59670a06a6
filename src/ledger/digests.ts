/**
 * Digest mode's ledger side: the checks of a digest request (`digestBuckets`,
 * `digestPositions`) on the way in, and of the adapter's answer on the way out (a bad
 * answer is damage: a `CorruptionError`). Internal.
 *
 * @module
 */

import { checkHashRange, formatDigest, rowHash, splitWidth } from "../checksum/row-hash.js";
import { LedgerError } from "../errors.js";
import { describe, invalidArgument, reading } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { corruption, type StorageSite } from "./read-checks.js";
import type { BucketDigest, DigestScope, DigestSplit, HashRange } from "./types.js";

const SCOPE_KEYS = optionKeys<DigestScope>()("through");
const DIGEST = /^[0-9a-f]{16}$/;

/** A ledger whose adapter keeps no row hashes. */
export function noDigests(ledger: string): LedgerError {
  return new LedgerError(
    "unsupported",
    `${ledger} keeps no bucket digests of its entries (its adapter does not implement _digestBuckets and _digestPositions): reconcile hashes its entries itself`,
  );
}

/** The most buckets one ledger digest request may ask for. */
export const MAX_LEDGER_BUCKETS = 1_048_576;

/** Checks a split (at most {@link MAX_LEDGER_BUCKETS} buckets); returns a copy. */
export function checkSplit(split: unknown, where: string): DigestSplit {
  if (typeof split !== "object" || split === null)
    invalidArgument(where, `must be { from, to, buckets }, got ${describe(split)}`);
  const copy = reading(where, () => {
    const { from, to, buckets } = split as DigestSplit;
    return { from, to, buckets };
  });
  splitWidth(copy, where);
  if (copy.buckets > MAX_LEDGER_BUCKETS) {
    invalidArgument(
      `${where}.buckets`,
      `must be at most ${MAX_LEDGER_BUCKETS}, got ${copy.buckets}`,
    );
  }
  return copy;
}

/** Checks a hash range; returns a copy. */
export function checkRange(range: unknown, where: string): HashRange {
  if (typeof range !== "object" || range === null)
    invalidArgument(where, `must be { from, to }, got ${describe(range)}`);
  const copy = reading(where, () => {
    const { from, to } = range as HashRange;
    return { from, to };
  });
  checkHashRange(copy, where);
  return copy;
}

/** Checks a scope against the head: `through` an integer from 0 to `head`. */
export function checkScope(scope: unknown, where: string, head: number): DigestScope {
  const read = readOptions<DigestScope>(scope, where, SCOPE_KEYS, { required: true });
  const through = read.through;
  if (
    typeof through !== "number" ||
    !Number.isSafeInteger(through) ||
    through < 0 ||
    through > head
  ) {
    invalidArgument(
      `${where}.through`,
      `must be an integer from 0 to the head (${head}), got ${describe(through)}`,
    );
  }
  return { through };
}

/** The adapter's buckets, checked: numbered within the split, ascending, well formed. */
export function adoptBuckets(
  answer: unknown,
  split: DigestSplit,
  scope: DigestScope,
  site: StorageSite,
): readonly BucketDigest[] {
  const bad = (why: string) =>
    corruption(site, undefined, `the ledger's bucket digests are not valid: ${why}`);
  if (!Array.isArray(answer)) throw bad(`not a list (${describe(answer)})`);
  const out: BucketDigest[] = [];
  let previous = -1;
  let rows = 0;
  for (const value of answer as unknown[]) {
    const b = value as BucketDigest;
    if (
      typeof b !== "object" ||
      b === null ||
      !Number.isSafeInteger(b.bucket) ||
      b.bucket <= previous ||
      b.bucket >= split.buckets ||
      !Number.isSafeInteger(b.count) ||
      b.count < 1 ||
      typeof b.digest !== "string" ||
      !DIGEST.test(b.digest)
    ) {
      throw bad(`bucket ${out.length} is ${describe(value)}`);
    }
    previous = b.bucket;
    rows += b.count;
    out.push(Object.freeze({ bucket: b.bucket, count: b.count, digest: b.digest }));
  }
  if (rows > scope.through) {
    throw bad(`they count ${rows} rows, more than the ${scope.through} entries asked for`);
  }
  return Object.freeze(out);
}

/** The adapter's positions, checked: ascending integers from 1 to `through`. */
export function adoptPositions(
  answer: unknown,
  scope: DigestScope,
  site: StorageSite,
): readonly number[] {
  if (!Array.isArray(answer)) {
    throw corruption(site, undefined, `the ledger's digest positions are not a list`);
  }
  let previous = 0;
  for (const value of answer as unknown[]) {
    if (
      typeof value !== "number" ||
      !Number.isSafeInteger(value) ||
      value <= previous ||
      value > scope.through
    ) {
      throw corruption(
        site,
        typeof value === "number" && Number.isSafeInteger(value) ? value : undefined,
        `the ledger's digest positions are not ascending positions from 1 to ${scope.through} (${describe(value)} after ${previous})`,
      );
    }
    previous = value;
  }
  return Object.freeze([...(answer as number[])]);
}

/** A SQL ledger's answer for one bucket: numbers, or strings and bigints from a driver. */
export interface BucketRow {
  readonly bucket: number | string | bigint;
  readonly count: number | string | bigint;
  readonly hi: number | string | bigint;
  readonly lo: number | string | bigint;
}

/** Bucket digests from a SQL ledger's `GROUP BY` rows. */
export function bucketsOfRows(rows: readonly BucketRow[]): BucketDigest[] {
  return rows.map((row) => ({
    bucket: Number(row.bucket),
    count: Number(row.count),
    digest: formatDigest(BigInt(row.hi), BigInt(row.lo)),
  }));
}

/** A SQL ledger's row of a range: its position, and the row hash it stores beside it. */
export interface HashedRow {
  readonly position: number | string | bigint;
  readonly key: string;
  readonly checksum: string;
  readonly row_hash: number | string | bigint;
  readonly row_hi: number | string | bigint;
  readonly row_lo: number | string | bigint;
}

/**
 * The positions of a SQL ledger's rows, each row's stored hash checked against its key
 * and checksum: a hash column edited by hand would move or hide a row in digest mode, so
 * it is damage (`CorruptionError` at its position).
 */
export function positionsOfRows(rows: readonly HashedRow[], site: StorageSite): number[] {
  return rows.map((row) => {
    const position = Number(row.position);
    const { hash, hi, lo } = rowHash(row.key, row.checksum);
    if (Number(row.row_hash) !== hash || Number(row.row_hi) !== hi || Number(row.row_lo) !== lo) {
      throw corruption(
        site,
        position,
        "the stored row hash (row_hash, row_hi, row_lo) is not that of its key and checksum",
      );
    }
    return position;
  });
}

/** An envelope's row hash as the three columns the SQL ledgers store: hash, hi, lo. */
export function rowWords(envelope: {
  readonly key: string;
  readonly checksum: string;
}): [number, number, number] {
  const { hash, hi, lo } = rowHash(envelope.key, envelope.checksum);
  return [hash, hi, lo];
}
