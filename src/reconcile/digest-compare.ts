/**
 * Digest mode: compares a sink's bucket digests with the same digests of the ledger's
 * rows, and bisects each differing bucket (`FANOUT` ways) until both sides are small enough
 * to read row by row (`LEAF_ROWS`), so the rows read follow the differences, not the size
 * of the table. Internal.
 *
 * @module
 */

import { CorruptionError, InvalidArgumentError, LedgerError } from "../errors.js";
import { describe } from "../internal/arguments.js";
import type { Ledger, LedgerEntry } from "../ledger/types.js";
import { type Held, type Slot, toHeld } from "./copies.js";
import { HASH_SPACE, rowHash, type SortedRows } from "./digest.js";
import { hold, readObservations } from "./holdings.js";
import { judgeHeld, judgeLeftovers, judgeMissing, ledgerEntry } from "./judge.js";
import { type Comparer, type Context, progress, type SinkRun } from "./run.js";
import type { BucketDigest, DigestSplit, HashRange, Observation, SinkDigest } from "./types.js";

/** Digest mode reads a bucket row by row once both sides hold at most this many rows. */
const LEAF_ROWS = 16;
/** Gaps up to this many positions between wanted entries are read through, in one scan. */
const READ_THROUGH = 64;
/** Digest mode splits a differing bucket into this many. */
const FANOUT = 16;
const EMPTY_DIGEST = "0000000000000000";
const NO_ROWS: Summary = Object.freeze({ count: 0, digest: EMPTY_DIGEST });

/** A bucket's row count and digest. */
interface Summary {
  readonly count: number;
  readonly digest: string;
}

/**
 * The ledger's side of digest mode: its rows (one per entry of the range, which starts at
 * 1), summarised by bucket and listed by hash range. Either the rows the scan hashed
 * ({@link scannedRows}) or the ledger's own row hashes ({@link ledgerRows}).
 */
export interface ExpectedRows {
  /** Rows: the entries 1 to the range's end. */
  readonly length: number;
  /** Whether the rows come from the ledger's stored row hashes (checked as they are read). */
  readonly stored: boolean;
  /** The non-empty buckets of `split`, by bucket number. */
  buckets(split: DigestSplit): Promise<ReadonlyMap<number, Summary>>;
  /** The positions of the rows in `range`, ascending. */
  positions(range: HashRange): Promise<readonly number[]>;
}

/** The rows the ledger scan hashed, sorted. */
export function scannedRows(sorted: SortedRows): ExpectedRows {
  return {
    length: sorted.length,
    stored: false,
    async buckets(split) {
      const width = (split.to - split.from) / split.buckets;
      const out = new Map<number, Summary>();
      for (let b = 0; b < split.buckets; b++) {
        const from = split.from + b * width;
        const summary = sorted.summary(from, from + width);
        if (summary.count > 0) out.set(b, summary);
      }
      return out;
    },
    async positions(range) {
      const { start, end } = sorted.summary(range.from, range.to);
      const out: number[] = [];
      for (let i = start; i < end; i++) out.push(sorted.ref(i));
      return out.sort((a, b) => a - b);
    },
  };
}

/**
 * The ledger's own row hashes (`digestBuckets`, `digestPositions`), when it keeps them:
 * no entry is hashed here. Undefined when it keeps none (`unsupported`), or is a
 * Ledger-shaped object without those methods: the scan then hashes every entry. Their
 * total must be the range's entries, or the ledger is damaged.
 */
export async function ledgerRows(ctx: Context): Promise<ExpectedRows | undefined> {
  const ledger = ctx.ledger;
  if (typeof ledger.digestBuckets !== "function" || typeof ledger.digestPositions !== "function")
    return undefined;
  const scope = { through: ctx.to };
  let total: readonly BucketDigest[];
  try {
    total = await ledger.digestBuckets({ from: 0, to: HASH_SPACE, buckets: 1 }, scope);
  } catch (error) {
    if (error instanceof LedgerError && error.code === "unsupported") return undefined;
    throw error;
  }
  const rows = total.reduce((n, b) => n + b.count, 0);
  if (rows !== ctx.entries) {
    throw new CorruptionError(
      `The ledger's row hashes count ${rows} rows for its ${ctx.entries} entries 1 to ${ctx.to}: a row is missing or doubled. See docs/runbook.md`,
      { file: ledger.constructor.name, offset: 0 },
    );
  }
  return {
    length: rows,
    stored: true,
    async buckets(split) {
      const out = new Map<number, Summary>();
      for (const b of await ledger.digestBuckets(split, scope)) out.set(b.bucket, b);
      return out;
    },
    positions: (range) => ledger.digestPositions(range, scope),
  };
}

export function digestComparer(ctx: Context, run: SinkRun): Comparer {
  return {
    run,
    basis: "digest",
    async prepare() {
      if (ctx.from !== 1) {
        throw new InvalidArgumentError(
          "invalid_argument",
          `Digest mode compares the sink's whole table, so the range must start at position 1 (got ${ctx.from}); give the sink an observe() for partial ranges`,
          { path: "options.range.from", sink: run.sink.name },
        );
      }
    },
    visit: () => undefined, // the shared scan hashes every entry once for all digest sinks
    finish: (expected) => compareDigest(ctx, run, expected as ExpectedRows),
  };
}

export async function entryAt(ledger: Ledger, position: number): Promise<LedgerEntry | undefined> {
  for await (const entry of ledger.scan({ from: position, to: position })) return entry;
  return undefined;
}

/**
 * The entries at sorted `positions`: one scan per run of nearby positions (gaps of up to
 * 64 are read through and skipped), so that many scattered reads become a few sequential ones.
 */
async function* entriesAt(
  ledger: Ledger,
  positions: readonly number[],
): AsyncIterable<LedgerEntry> {
  let i = 0;
  while (i < positions.length) {
    let j = i;
    while (
      j + 1 < positions.length &&
      (positions[j + 1] as number) - (positions[j] as number) <= READ_THROUGH
    )
      j++;
    const wanted = new Set(positions.slice(i, j + 1));
    for await (const entry of ledger.scan({ from: positions[i], to: positions[j] })) {
      if (wanted.has(entry.position)) yield entry;
    }
    i = j + 1;
  }
}

function checkBuckets(answer: unknown, buckets: number, where: string): Map<number, BucketDigest> {
  if (!Array.isArray(answer)) {
    throw new InvalidArgumentError(
      "invalid_argument",
      `${where} must return an array of { bucket, count, digest }, got ${describe(answer)}`,
      {
        path: where,
      },
    );
  }
  const byBucket = new Map<number, BucketDigest>();
  answer.forEach((value: unknown, i) => {
    const b = value as BucketDigest;
    const ok =
      typeof b === "object" &&
      b !== null &&
      Number.isSafeInteger(b.bucket) &&
      b.bucket >= 0 &&
      b.bucket < buckets &&
      Number.isSafeInteger(b.count) &&
      b.count >= 0 &&
      typeof b.digest === "string" &&
      /^[0-9a-f]{16}$/.test(b.digest) &&
      !byBucket.has(b.bucket);
    if (!ok) {
      throw new InvalidArgumentError(
        "invalid_argument",
        `${where}[${i}] must be { bucket: 0 to ${buckets - 1} (once each), count: integer ≥ 0, digest: 16 lowercase hex }`,
        { path: `${where}[${i}]` },
      );
    }
    byBucket.set(b.bucket, b);
  });
  return byBucket;
}

/** Bisects the hash space down to the differing leaves. */
async function bisect(
  ctx: Context,
  run: SinkRun,
  expected: ExpectedRows,
  digest: SinkDigest,
): Promise<HashRange[]> {
  const stats = run.digest as NonNullable<SinkRun["digest"]>;
  let initial = 1;
  while (initial * LEAF_ROWS * FANOUT < expected.length && initial < 65_536) initial *= 2;
  let pending = [{ from: 0, to: HASH_SPACE, buckets: initial }];
  const leaves: HashRange[] = [];
  while (pending.length > 0) {
    const next: typeof pending = [];
    for (const split of pending) {
      const width = (split.to - split.from) / split.buckets;
      const where = `${run.where}.digest.digest()`;
      const byBucket = checkBuckets(await digest.digest(split), split.buckets, where);
      const ours = await expected.buckets(split);
      for (let b = 0; b < split.buckets; b++) {
        const from = split.from + b * width;
        const to = from + width;
        const mine = ours.get(b) ?? NO_ROWS;
        const theirs = byBucket.get(b);
        const count = theirs?.count ?? 0;
        stats.buckets++;
        if (mine.count === count && mine.digest === (count === 0 ? EMPTY_DIGEST : theirs?.digest))
          continue;
        stats.differing++;
        if (width === 1 || (count <= LEAF_ROWS && mine.count <= LEAF_ROWS))
          leaves.push({ from, to });
        else next.push({ from, to, buckets: Math.min(FANOUT, width) });
      }
      progress(ctx, run.sink.name, "digest", stats.buckets, undefined);
    }
    pending = next;
  }
  return leaves;
}

async function compareDigest(ctx: Context, run: SinkRun, expected: ExpectedRows): Promise<void> {
  const digest = run.sink.digest as SinkDigest;
  run.digest = { buckets: 0, differing: 0, rowsRead: 0 };
  const leaves = await bisect(ctx, run, expected, digest);
  // Read the differing leaves row by row, on both sides.
  const map = new Map<string, Slot>();
  const positions: number[] = [];
  /** For stored row hashes: the leaf each position was listed in, checked as it is read. */
  const leafOf = new Map<number, HashRange>();
  for (const leaf of leaves) {
    const where = `${run.where}.digest.observeRange()`;
    const inLeaf = (o: Observation): void => {
      // A row outside the range asked for would be counted twice (here and in its own bucket).
      if (o.checksum !== undefined) {
        const { hash } = rowHash(o.key, o.checksum);
        if (hash < leaf.from || hash >= leaf.to) {
          throw new InvalidArgumentError(
            "invalid_argument",
            `${where} returned ${JSON.stringify(o.key.slice(0, 80))}, whose row hash ${hash} is outside the range asked for [${leaf.from}, ${leaf.to})`,
            { path: where, key: o.key },
          );
        }
      }
      hold(map, o);
    };
    run.digest.rowsRead += await readObservations(
      digest.observeRange(leaf),
      where,
      inLeaf,
      () => {},
    );
    for (const position of await expected.positions(leaf)) {
      positions.push(position);
      if (expected.stored) leafOf.set(position, leaf);
    }
  }
  run.observations = run.digest.rowsRead;
  positions.sort((a, b) => a - b);
  const pending: Array<() => Promise<void> | void> = [];
  for await (const entry of entriesAt(ctx.ledger, positions)) {
    const key = entry.envelope.key;
    const leaf = leafOf.get(entry.position);
    if (leaf !== undefined) {
      const { hash } = rowHash(key, entry.envelope.checksum);
      if (hash < leaf.from || hash >= leaf.to) {
        throw new CorruptionError(
          `The ledger listed the entry at position ${entry.position} in hash range [${leaf.from}, ${leaf.to}), but its row hash is ${hash}: its stored row hash is damaged. See docs/runbook.md`,
          { file: ctx.ledger.constructor.name, offset: 0 },
          { position: entry.position },
        );
      }
    }
    const slot = map.get(key);
    map.delete(key);
    pending.push(
      slot === undefined ? () => judgeMissing(ctx, run, entry) : () => judgeHeld(run, entry, slot),
    );
  }
  if (pending.length !== positions.length) {
    throw new LedgerError("not_found", "Ledger entries vanished during reconciliation", {
      position: positions[0],
    });
  }
  // Keys read in a leaf whose ledger row lies in a matching bucket: the sink holds that
  // row exactly once there (the bucket matched), plus the copies read here.
  const unknown = new Map<string, Slot>();
  for (const [key, slot] of map) {
    const entry = await ledgerEntry(ctx.ledger, key);
    if (entry === undefined) {
      unknown.set(key, slot);
      continue;
    }
    if (entry.position < ctx.from || entry.position > ctx.to) continue;
    const held: Held = {
      first: { checksum: entry.envelope.checksum, payload: undefined, hasPayload: false },
      other: undefined,
      count: 1,
    };
    const extra = toHeld(slot);
    held.count += extra.count;
    held.other = extra.first; // its row hash differs from the ledger's, so its checksum does
    positions.push(entry.position);
    pending.push(() => judgeHeld(run, entry, held));
  }
  // Judge in position order so findings list in position order, as in the other modes.
  const order = positions
    .map((position, i) => ({ position, i }))
    .sort((a, b) => a.position - b.position);
  for (const { i } of order) await (pending[i] as () => Promise<void> | void)();
  // Entries outside every differing leaf matched: their buckets agreed.
  run.tally.counts.matched += expected.length - positions.length;
  await judgeLeftovers(ctx, run, unknown);
}
