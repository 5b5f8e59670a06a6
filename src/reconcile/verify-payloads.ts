/**
 * `verifySinkPayloads`: checks that the rows a sink holds agree with themselves, each
 * payload hashing to the checksum stored beside it, for the whole sink or a seeded
 * sample. It covers digest mode's blind spot: digest mode compares stored checksums
 * only, so a payload edited in place under its checksum reads as matched there. Run it
 * on a schedule (a rotating seed covers every row over time).
 *
 * It reads the sink's rows through its digest's `observeRange` when it has one (a sample
 * is then a seeded set of row-hash ranges, so a SQL sink reads only the sample), else
 * through `observe`. Only rows given with both a `checksum` and a `payload` can be
 * checked; the others are counted as `unverifiable`, and make the result not ok. The
 * rule is the one reconciliation uses for such rows (`isSelfConsistent` in copies.ts).
 *
 * @module
 */

import { performance } from "node:perf_hooks";
import { algorithmOf, type Checksum, isChecksum } from "../checksum/checksum.js";
import { describe, invalidArgument, show } from "../internal/arguments.js";
import { checkHasMethod } from "../internal/checks.js";
import { mix32 } from "../internal/mix.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { createSeededRandom } from "../internal/random.js";
import type { Ledger } from "../ledger/types.js";
import { isSelfConsistent, payloadChecksum, toCopy } from "./copies.js";
import { HASH_SPACE, rowHash } from "./digest.js";
import { readObservations } from "./holdings.js";
import { checkSink } from "./sinks.js";
import type { HashRange, Observation, ObserveRange, ReconcileSink, SinkDigest } from "./types.js";

/** Which rows to check: a number of rows, or a fraction of the sink. */
export type PayloadSample =
  | {
      /**
       * At least this many rows (digest mode reads whole slices of the hash space, so it
       * may check a few more), chosen by the seed.
       */
      readonly rows: number;
    }
  | {
      /** About this fraction of the rows, greater than 0 and at most 1, chosen by the seed. */
      readonly fraction: number;
    };

/** Options of {@link verifySinkPayloads}. */
export interface VerifySinkPayloadsOptions {
  /** The sink, as given to `reconcile`: with a `digest` or an `observe` that yields payloads and checksums. */
  readonly sink: ReconcileSink;
  /**
   * For a sink read with `observe`: the ledger whose whole range `observe` is given (a
   * sink may narrow its read by it). Without it, `observe` gets
   * `{ from: 1, to: Number.MAX_SAFE_INTEGER, since: undefined }`.
   */
  readonly ledger?: Ledger | undefined;
  /**
   * Check only a sample.
   * @default every row
   */
  readonly sample?: PayloadSample | undefined;
  /**
   * Seed of the sample: the same seed and the same rows give the same sample.
   * @default 1
   */
  readonly seed?: number | undefined;
  /**
   * How to read the sink when it has both.
   * @default "digest" when the sink has one, else "observe"
   */
  readonly via?: "observe" | "digest" | undefined;
  /**
   * Problems listed; the counts are always complete.
   * @default 10_000
   */
  readonly maxProblems?: number | undefined;
}

/** A row whose payload does not hash to the checksum stored beside it. */
export interface PayloadProblem {
  /** The idempotency key. */
  readonly key: string;
  /** The checksum the sink stored. */
  readonly storedChecksum: string;
  /**
   * The payload's checksum, in the stored checksum's algorithm; undefined when the
   * payload is not JSON that can be canonicalized.
   */
  readonly payloadChecksum: string | undefined;
  /** How many copies of the row. */
  readonly count: number;
}

/** Result of {@link verifySinkPayloads}. */
export interface PayloadVerification {
  /** The sink. */
  readonly sink: string;
  /** How its rows were read. */
  readonly via: "observe" | "digest";
  /** The sample asked for (undefined: every row). */
  readonly sample: PayloadSample | undefined;
  /** The seed used. */
  readonly seed: number;
  /** Rows read (copies counted). */
  readonly rowsRead: number;
  /** Of those, rows given with both a payload and a checksum, and so checked. */
  readonly checked: number;
  /** Rows given without a payload or without a checksum: they could not be checked. */
  readonly unverifiable: number;
  /** Rows whose payload does not hash to their stored checksum. */
  readonly inconsistent: number;
  /** Those rows, at most `maxProblems`, in the order read. */
  readonly problems: readonly PayloadProblem[];
  /** True when `problems` was cut at `maxProblems`. */
  readonly truncated: boolean;
  /** No inconsistent row and no unverifiable one. */
  readonly ok: boolean;
  /** Time spent, ms. */
  readonly durationMs: number;
}

/** The hash space is sampled in this many equal slices. */
const SLICES = 4096;
const SLICE_WIDTH = HASH_SPACE / SLICES;

class Checker {
  rowsRead = 0;
  checked = 0;
  unverifiable = 0;
  inconsistent = 0;
  truncated = false;
  readonly problems: PayloadProblem[] = [];

  constructor(readonly max: number) {}

  check(o: Observation): void {
    const count = o.count ?? 1;
    this.rowsRead += count;
    if (o.checksum === undefined || o.payload === undefined) {
      this.unverifiable += count;
      return;
    }
    this.checked += count;
    const copy = toCopy(o);
    if (isSelfConsistent(copy)) return;
    this.inconsistent += count;
    if (this.problems.length >= this.max) {
      this.truncated = true;
      return;
    }
    this.problems.push({
      key: o.key,
      storedChecksum: o.checksum,
      payloadChecksum: payloadChecksum(copy, algorithmOf(o.checksum as Checksum)),
      count,
    });
  }
}

/** A seeded 32-bit hash of a key (FNV-1a, then murmur3's finalizer): the observe sample's order. */
function sampleHash(seed: number, key: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** The slices of the hash space in a seeded order. */
function sliceOrder(seed: number): number[] {
  const random = createSeededRandom(seed);
  const order = Array.from({ length: SLICES }, (_, i) => i);
  for (let i = SLICES - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

/** Sorted slices as ranges, adjacent ones merged. */
function rangesOf(slices: readonly number[]): HashRange[] {
  const sorted = [...slices].sort((a, b) => a - b);
  const out: { from: number; to: number }[] = [];
  for (const slice of sorted) {
    const from = slice * SLICE_WIDTH;
    const last = out.at(-1);
    if (last !== undefined && last.to === from) last.to = from + SLICE_WIDTH;
    else out.push({ from, to: from + SLICE_WIDTH });
  }
  return out;
}

async function readRange(
  digest: SinkDigest,
  range: HashRange,
  where: string,
  each: (o: Observation) => void,
): Promise<void> {
  await readObservations(
    digest.observeRange(range),
    where,
    (o) => {
      // A row outside the range asked for would be checked twice, or not be in the sample.
      if (o.checksum !== undefined) {
        const { hash } = rowHash(o.key, o.checksum);
        if (hash < range.from || hash >= range.to) {
          invalidArgument(
            where,
            `returned ${JSON.stringify(o.key.slice(0, 80))}, whose row hash ${hash} is outside the range asked for [${range.from}, ${range.to})`,
            undefined,
            { key: o.key },
          );
        }
      }
      each(o);
    },
    () => {},
  );
}

async function viaDigest(
  digest: SinkDigest,
  sample: PayloadSample | undefined,
  seed: number,
  checker: Checker,
): Promise<void> {
  const where = "options.sink.digest.observeRange()";
  const each = (o: Observation) => checker.check(o);
  if (sample === undefined) {
    await readRange(digest, { from: 0, to: HASH_SPACE }, where, each);
    return;
  }
  const order = sliceOrder(seed);
  if ("fraction" in sample) {
    const k = Math.max(1, Math.ceil(sample.fraction * SLICES));
    for (const range of rangesOf(order.slice(0, k))) await readRange(digest, range, where, each);
    return;
  }
  // Slice by slice in the seeded order, until enough rows were read.
  for (const slice of order) {
    if (checker.rowsRead >= sample.rows) return;
    const from = slice * SLICE_WIDTH;
    await readRange(digest, { from, to: from + SLICE_WIDTH }, where, each);
  }
}

async function viaObserve(
  sink: ReconcileSink,
  range: ObserveRange,
  sample: PayloadSample | undefined,
  seed: number,
  checker: Checker,
): Promise<void> {
  const observe = sink.observe as NonNullable<ReconcileSink["observe"]>;
  const where = "options.sink.observe()";
  if (sample === undefined || ("fraction" in sample && sample.fraction >= 1)) {
    await readObservations(
      observe(range),
      where,
      (o) => checker.check(o),
      () => {},
    );
    return;
  }
  if ("fraction" in sample) {
    const below = sample.fraction * HASH_SPACE;
    await readObservations(
      observe(range),
      where,
      (o) => {
        if (sampleHash(seed, o.key) < below) checker.check(o);
      },
      () => {},
    );
    return;
  }
  // The `rows` keys of smallest seeded hash: the same sample whatever order the sink reads in.
  const kept: { h: number; o: Observation }[] = [];
  const worse = (a: { h: number; o: Observation }, b: { h: number; o: Observation }) =>
    a.h !== b.h ? a.h > b.h : a.o.key > b.o.key;
  await readObservations(
    observe(range),
    where,
    (o) => {
      const item = { h: sampleHash(seed, o.key), o };
      if (kept.length < sample.rows) heapPush(kept, item, worse);
      else if (worse(kept[0] as typeof item, item)) heapReplaceTop(kept, item, worse);
    },
    () => {},
  );
  for (const { o } of kept.sort((a, b) => (worse(a, b) ? 1 : -1))) checker.check(o);
}

/** A binary max-heap by `worse`, in an array. */
function heapPush<T>(heap: T[], item: T, worse: (a: T, b: T) => boolean): void {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!worse(heap[i] as T, heap[parent] as T)) break;
    [heap[i], heap[parent]] = [heap[parent] as T, heap[i] as T];
    i = parent;
  }
}

function heapReplaceTop<T>(heap: T[], item: T, worse: (a: T, b: T) => boolean): void {
  heap[0] = item;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let top = i;
    if (l < heap.length && worse(heap[l] as T, heap[top] as T)) top = l;
    if (r < heap.length && worse(heap[r] as T, heap[top] as T)) top = r;
    if (top === i) return;
    [heap[i], heap[top]] = [heap[top] as T, heap[i] as T];
    i = top;
  }
}

function checkSample(sample: unknown): PayloadSample | undefined {
  if (sample === undefined) return undefined;
  if (typeof sample !== "object" || sample === null)
    invalidArgument("options.sample", `must be { rows } or { fraction }, got ${describe(sample)}`);
  const s: Record<string, unknown> = readOptions<{ rows: number; fraction: number }>(
    sample,
    "options.sample",
    ["rows", "fraction"],
  );
  const keys = Object.keys(s);
  if (keys.length !== 1 || (keys[0] !== "rows" && keys[0] !== "fraction"))
    invalidArgument("options.sample", "must be { rows } or { fraction }, one of the two");
  if (keys[0] === "rows" && (!Number.isSafeInteger(s.rows) || (s.rows as number) < 1))
    invalidArgument("options.sample.rows", `must be a positive integer, got ${show(s.rows)}`);
  if (
    keys[0] === "fraction" &&
    (typeof s.fraction !== "number" || !(s.fraction > 0 && s.fraction <= 1))
  ) {
    invalidArgument(
      "options.sample.fraction",
      `must be a number greater than 0 and at most 1, got ${show(s.fraction)}`,
    );
  }
  return Object.freeze(s) as unknown as PayloadSample;
}

async function observeRangeOf(ledger: Ledger | undefined): Promise<ObserveRange> {
  if (ledger === undefined) return { from: 1, to: Number.MAX_SAFE_INTEGER, since: undefined };
  checkHasMethod(ledger, "head", "options.ledger", "a Ledger");
  const head = await ledger.head();
  let since: string | undefined;
  for await (const entry of ledger.scan({ from: 1, to: 1 })) since = entry.appendedAt;
  return { from: 1, to: Math.max(head, 0), since };
}

const VERIFY_KEYS = optionKeys<VerifySinkPayloadsOptions>()(
  "sink",
  "ledger",
  "sample",
  "seed",
  "via",
  "maxProblems",
);

/**
 * Checks that a sink's rows agree with themselves: each payload hashes to the checksum
 * stored beside it. For every row, or a seeded sample (`{ rows: N }` or
 * `{ fraction }`), deterministic for a seed and the sink's rows. Digest mode cannot see
 * a payload edited under its checksum; this can, so schedule it for digest-mode sinks.
 *
 * Throws `InvalidArgumentError` for bad options or a malformed answer from the sink (with
 * its path); what the sink itself throws propagates.
 *
 * @example
 * ```ts
 * import { verifySinkPayloads } from "sinkproof";
 * // nightly: 1% of the warehouse, another 1% each day
 * const day = Math.floor(Date.now() / 86_400_000);
 * const check = await verifySinkPayloads({ sink: warehouse, sample: { fraction: 0.01 }, seed: day });
 * if (!check.ok) console.error(check.problems); // [{ key, storedChecksum, payloadChecksum, count }]
 * ```
 */
export async function verifySinkPayloads(
  verifyOptions: VerifySinkPayloadsOptions,
): Promise<PayloadVerification> {
  const options = readOptions<VerifySinkPayloadsOptions>(verifyOptions, "options", VERIFY_KEYS, {
    required: true,
  });
  const sink = checkSink(options.sink, "options.sink");
  const sample = checkSample(options.sample);
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed))
    invalidArgument("options.seed", `must be an integer, got ${show(seed)}`);
  const max = options.maxProblems ?? 10_000;
  if (!Number.isSafeInteger(max) || max < 0)
    invalidArgument("options.maxProblems", `must be a non-negative integer, got ${show(max)}`);
  const via = options.via ?? (sink.digest !== undefined ? "digest" : "observe");
  if (via !== "digest" && via !== "observe")
    invalidArgument("options.via", `must be "digest" or "observe", got ${describe(via)}`);
  if (via === "digest" ? sink.digest === undefined : sink.observe === undefined) {
    invalidArgument(
      via === "digest" && options.via !== undefined ? "options.via" : "options.sink",
      `has no ${via === "digest" ? "digest" : "observe or digest"}: its rows cannot be read`,
    );
  }
  const started = performance.now();
  const checker = new Checker(max);
  if (via === "digest") await viaDigest(sink.digest as SinkDigest, sample, seed, checker);
  else await viaObserve(sink, await observeRangeOf(options.ledger), sample, seed, checker);
  return {
    sink: sink.name,
    via,
    sample,
    seed,
    rowsRead: checker.rowsRead,
    checked: checker.checked,
    unverifiable: checker.unverifiable,
    inconsistent: checker.inconsistent,
    problems: checker.problems,
    truncated: checker.truncated,
    ok: checker.inconsistent === 0 && checker.unverifiable === 0,
    durationMs: performance.now() - started,
  };
}

/**
 * The rows of `key` holding `checksum` that disagree with themselves, read from a digest
 * sink by their row hash: how `repair` checks, in digest mode, the keys it repaired
 * (the digest compares stored checksums only). Rows without a payload cannot be checked
 * and are not returned. Internal.
 */
export async function inconsistentRowsOf(
  digest: SinkDigest,
  key: string,
  checksum: string,
  where: string,
): Promise<PayloadProblem[]> {
  if (!isChecksum(checksum)) return [];
  const { hash } = rowHash(key, checksum);
  const checker = new Checker(Number.MAX_SAFE_INTEGER);
  await readRange(digest, { from: hash, to: hash + 1 }, where, (o) => {
    if (o.key === key) checker.check(o);
  });
  return checker.problems;
}
