/**
 * `reconcile`: compares what each sink really holds with what the ledger says was
 * emitted, and explains every difference.
 *
 * Expected state streams from the ledger in position order; observed state comes from
 * each sink's read-back (`observe`), its bucket digests (`digest`, for large sets), or,
 * where the sink cannot be read, from receipts alone (weaker: the report says so). Each
 * (entry, sink) pair gets exactly one finding; keys a sink holds that the ledger never
 * emitted are `unexpected`.
 *
 * The work: read every sink (its observations, or its receipts), then scan the ledger
 * range once, judging each entry at every sink, then settle what the scan could not
 * (keys the ledger never met; digest bisection). The ledger is streamed, never held:
 * memory holds the read-back sinks' observations (one map entry per key, about 50 bytes
 * beside the strings the sink gave) and, in digest mode, 28 bytes per ledger entry plus
 * the rows of differing buckets.
 *
 * A sink that cannot be read (its `observe` throws, or answers something malformed) gets
 * an `error` in its report and is not consistent; the other sinks are still reconciled.
 * Ledger failures abort the whole call.
 *
 * @module
 */

import { performance } from "node:perf_hooks";
import { InvalidArgumentError, isSinkproofError, LedgerError } from "../errors.js";
import { errorSummary, invalidArgument, show } from "../internal/arguments.js";
import { eachAtMost } from "../internal/each-at-most.js";
import { optionKeys, readOptions, readProperty } from "../internal/options.js";
import {
  type Ledger,
  type PositionRange,
  type ReconcileCheckpoint,
  WINDOW_HISTORY_LIMIT,
  type WindowSample,
} from "../ledger/types.js";
import { MAX_SAMPLES } from "../ledger/windows.js";
import { logger } from "../observe/debug.js";
import {
  nextCheckpoint,
  PrefixSums,
  prefixMismatch,
  type Start,
  startOf,
  storeCheckpoint,
} from "./checkpoint.js";
import { RowBuffer, rowHash, SortedRows } from "./digest.js";
import { digestComparer, entryAt, ledgerRows, scannedRows } from "./digest-compare.js";
import { applyFreezePolicy } from "./freeze.js";
import { Holdings, partOf, TooManyKeys } from "./holdings.js";
import { interruptedBySink } from "./interrupted.js";
import { ageOf, observedComparer, receiptComparer } from "./judge.js";
import {
  type Comparer,
  type Context,
  PROGRESS_EVERY,
  progress,
  type ScannedEntry,
  type SinkRun,
  Tally,
} from "./run.js";
import {
  checkFreezePolicy,
  checkLedger,
  checkPosition,
  checkSinks,
  isFunction,
  sinkExpectation,
} from "./sinks.js";
import type {
  CheckpointReport,
  ConsistencyWindow,
  Finding,
  FindingCounts,
  FreezePolicy,
  HistoryOptions,
  InterruptedAction,
  ReconcileOptions,
  ReconcileReport,
  ReconcileSink,
  SinkReadFailure,
  SinkReport,
} from "./types.js";

const log = logger("reconcile");

/** Default lag tolerance: one minute. */
export const DEFAULT_LAG_TOLERANCE_MS = 60_000;
/** Default number of findings listed per sink. */
export const DEFAULT_MAX_FINDINGS = 10_000;
/**
 * Keys a pass holds at once by default (read-back keys of all its sinks, or one sink's
 * receipts): one to two GB of heap. Past it the pass is split into hash partitions.
 */
export const DEFAULT_MAX_KEYS = 4_000_000;
/** Sinks read (and settled) at once by default. */
export const DEFAULT_CONCURRENCY = 4;
const MAX_CONCURRENCY = 256;
/** The largest time a `Date` can hold, in ms. */
const MAX_TIME_MS = 8.64e15;

function failureOf(error: unknown): SinkReadFailure {
  return errorSummary(error, "sink_read_failed");
}

function isLedgerFailure(error: unknown): boolean {
  return (
    error instanceof LedgerError ||
    (isSinkproofError(error) && (error.code === "corruption" || error.code === "ledger_closed"))
  );
}

function newRun(ctx: Context, sink: ReconcileSink, where: string): SinkRun {
  return {
    sink,
    where,
    lagMs: sink.lagToleranceMs ?? DEFAULT_LAG_TOLERANCE_MS,
    expect: sink.accepts === undefined ? undefined : sinkExpectation(sink),
    tally: new Tally(ctx.maxFindings),
    observations: 0,
    digest: undefined,
    error: undefined,
    durationMs: 0,
    outOfRange: 0,
  };
}

/** Whether a sink is compared in digest mode over this range. */
function isDigest(ctx: Context, sink: ReconcileSink): boolean {
  return sink.digest !== undefined && (ctx.from === 1 || sink.observe === undefined);
}

function comparerFor(ctx: Context, run: SinkRun, holdings: Holdings): Comparer {
  if (isDigest(ctx, run.sink)) return digestComparer(ctx, run);
  return run.sink.observe !== undefined
    ? observedComparer(ctx, run, holdings)
    : receiptComparer(ctx, run);
}

/** Runs one step of a comparer, timing it; a sink's failure is kept on its run, a ledger's thrown. */
async function step(comparer: Comparer, body: () => Promise<void>): Promise<void> {
  const { run } = comparer;
  if (run.error !== undefined) return;
  const started = performance.now();
  try {
    await body();
  } catch (caught) {
    if (isLedgerFailure(caught) || caught instanceof TooManyKeys) throw caught;
    run.error = failureOf(caught);
    log("sink %s could not be reconciled: %s", run.sink.name, run.error.message);
  } finally {
    run.durationMs += performance.now() - started;
  }
}

function sinkReport(
  ctx: Context,
  comparer: Judged,
  interrupted: readonly InterruptedAction[],
): SinkReport {
  const { run } = comparer;
  const { tally, error } = run;
  const counts: FindingCounts = { ...tally.counts };
  const findings = [...tally.findings].sort(byPosition);
  const consistent =
    error === undefined &&
    counts["missing-lost"] === 0 &&
    counts.duplicate === 0 &&
    counts.mismatched === 0 &&
    counts.unexpected === 0;
  // A sink that could not be read (wholly or part-way) vouches for no entry: its window
  // starts before the range, whatever the part read matched.
  const window: ConsistencyWindow =
    error !== undefined
      ? {
          position: Math.min(ctx.from - 1, ctx.to),
          behindEntries: Math.max(0, ctx.to - ctx.from + 1),
          behindMs: 0,
        }
      : tally.firstBad === undefined
        ? { position: ctx.to, behindEntries: 0, behindMs: 0 }
        : {
            position: tally.firstBad.position - 1,
            behindEntries: ctx.to - tally.firstBad.position + 1,
            behindMs: ageOf(tally.firstBad, ctx.nowMs),
          };
  return {
    name: run.sink.name,
    basis: comparer.basis,
    consistent,
    counts,
    contradicted: tally.contradicted,
    findings,
    truncated: tally.truncated,
    window,
    lagToleranceMs: run.lagMs,
    observations: run.observations,
    digest: run.digest,
    durationMs: run.durationMs,
    interrupted,
    error,
    ...(run.outOfRange > 0 ? { outOfRange: run.outOfRange } : {}),
  };
}

function byPosition(a: Finding, b: Finding): number {
  return (a.position ?? Number.POSITIVE_INFINITY) - (b.position ?? Number.POSITIVE_INFINITY);
}

const RECONCILE_KEYS = optionKeys<ReconcileOptions>()(
  "ledger",
  "sinks",
  "clock",
  "range",
  "onProgress",
  "maxFindings",
  "freezeOn",
  "actor",
  "incremental",
  "concurrency",
  "maxKeysInMemory",
  "history",
);
const HISTORY_KEYS = optionKeys<HistoryOptions>()("points");
/** How many samples a report carries per sink by default (`history: true`). */
const DEFAULT_HISTORY_POINTS = 100;
const RANGE_KEYS = optionKeys<PositionRange>()("from", "to");

/** `reconcile`'s options, checked. */
export interface Resolved {
  readonly ledger: Ledger;
  readonly sinks: readonly ReconcileSink[];
  readonly clock: () => number;
  readonly onProgress: ReconcileOptions["onProgress"];
  readonly maxFindings: number;
  readonly policy: FreezePolicy | undefined;
  readonly actor: string;
  readonly wantFrom: number;
  readonly wantTo: number | undefined;
  readonly incremental: false | true | "sweep";
  readonly concurrency: number;
  readonly maxKeys: number;
  /** Samples of each sink's history its report carries; undefined: no history. */
  readonly historyPoints: number | undefined;
}

/** `reconcile`'s options checked (typed errors for bad ones), as it reads them. Internal. */
export function resolveOptions(reconcileOptions: ReconcileOptions): Resolved {
  const options = readOptions<ReconcileOptions>(reconcileOptions, "options", RECONCILE_KEYS, {
    required: true,
    renamed: { now: "clock" },
  });
  const ledger = checkLedger(options.ledger);
  const sinks = checkSinks(options.sinks, "options.sinks");
  if (options.clock !== undefined && !isFunction(options.clock))
    invalidArgument("options.clock", "must be a function returning ms since the epoch");
  if (options.onProgress !== undefined && !isFunction(options.onProgress))
    invalidArgument("options.onProgress", "must be a function");
  const maxFindings =
    options.maxFindings === undefined ? DEFAULT_MAX_FINDINGS : options.maxFindings;
  if (!Number.isSafeInteger(maxFindings) || maxFindings < 0) {
    invalidArgument(
      "options.maxFindings",
      `must be a non-negative integer, got ${show(maxFindings)}`,
    );
  }
  const policy = checkFreezePolicy(options.freezeOn, "options.freezeOn");
  const actor = options.actor ?? "sinkproof.reconcile";
  if (typeof actor !== "string" || actor.length === 0)
    invalidArgument("options.actor", "must be a non-empty string");
  const incremental = options.incremental === undefined ? false : options.incremental;
  if (incremental !== false && incremental !== true && incremental !== "sweep") {
    invalidArgument(
      "options.incremental",
      `must be true, false or "sweep", got ${show(incremental)}`,
    );
  }
  if (incremental !== false) {
    for (const method of ["getCheckpoint", "putCheckpoint"] as const) {
      if (!isFunction(readProperty(ledger, method, "options.ledger")))
        invalidArgument(
          "options.ledger",
          `must be a Ledger with checkpoints for an incremental pass (it has no ${method}() method)`,
        );
    }
  }
  if (incremental !== false && options.range !== undefined) {
    invalidArgument(
      "options.range",
      "cannot be given with options.incremental: each sink's checkpoint decides where its pass starts",
    );
  }
  const concurrency = options.concurrency === undefined ? DEFAULT_CONCURRENCY : options.concurrency;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    invalidArgument(
      "options.concurrency",
      `must be an integer from 1 to ${MAX_CONCURRENCY}, got ${show(concurrency)}`,
    );
  }
  const maxKeys =
    options.maxKeysInMemory === undefined ? DEFAULT_MAX_KEYS : options.maxKeysInMemory;
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
    invalidArgument("options.maxKeysInMemory", `must be a positive integer, got ${show(maxKeys)}`);
  }
  const historyPoints = resolveHistory(options.history, ledger);
  const range = readOptions<PositionRange>(options.range, "options.range", RANGE_KEYS);
  const wantFrom = checkPosition(range.from, "options.range.from") ?? 1;
  const wantTo = checkPosition(range.to, "options.range.to");
  return {
    ledger,
    sinks,
    clock: options.clock ?? Date.now,
    onProgress: options.onProgress,
    maxFindings,
    policy,
    actor,
    wantFrom,
    wantTo,
    incremental,
    concurrency,
    maxKeys,
    historyPoints,
  };
}

/** The `history` option: how many samples per sink the report carries, or undefined (off). */
function resolveHistory(given: unknown, ledger: Ledger): number | undefined {
  if (given === undefined || given === false) return undefined;
  let points = DEFAULT_HISTORY_POINTS;
  if (given !== true) {
    const o = readOptions<HistoryOptions>(given, "options.history", HISTORY_KEYS, {
      required: true,
    });
    points = o.points ?? DEFAULT_HISTORY_POINTS;
    if (!Number.isSafeInteger(points) || points < 1 || points > WINDOW_HISTORY_LIMIT)
      invalidArgument(
        "options.history.points",
        `must be an integer from 1 to ${WINDOW_HISTORY_LIMIT}, got ${show(points)}`,
      );
  }
  for (const method of ["recordWindows", "windowHistory"] as const) {
    if (!isFunction(readProperty(ledger, method, "options.ledger")))
      invalidArgument(
        "options.ledger",
        `must be a Ledger that keeps window history for options.history (it has no ${method}() method)`,
      );
  }
  return points;
}

/**
 * Records each readable sink's window of this pass in the ledger's history (its time the
 * report's), then gives each sink's report its most recent `points` samples.
 */
async function withHistory(
  ledger: Ledger,
  reports: readonly SinkReport[],
  at: string,
  points: number,
): Promise<SinkReport[]> {
  const samples: WindowSample[] = reports
    .filter((r) => r.error === undefined)
    .map((r) => ({
      sink: r.name,
      at,
      position: r.window.position,
      behindEntries: r.window.behindEntries,
      behindMs: r.window.behindMs,
      consistent: r.consistent,
    }));
  for (let i = 0; i < samples.length; i += MAX_SAMPLES)
    await ledger.recordWindows(samples.slice(i, i + MAX_SAMPLES));
  return Promise.all(
    reports.map(async (r) => ({
      ...r,
      history: await ledger.windowHistory(r.name, { limit: points }),
    })),
  );
}

/**
 * One ledger scan for every sink: each entry judged at each sink that could be read, and
 * its row hashed once for all digest sinks. Returns the hashed rows (digest sinks only).
 */
async function scanLedger(
  ctx: Context,
  comparers: readonly Comparer[],
  holdings: Holdings,
  sums: PrefixSums | undefined,
  hashing: boolean,
): Promise<SortedRows | undefined> {
  const live = comparers.filter((c) => c.run.error === undefined && c.basis !== "digest");
  const rows = hashing ? new RowBuffer() : undefined;
  let done = 0;
  if (ctx.entries > 0 && (live.length > 0 || hashing || sums !== undefined)) {
    const part = ctx.part;
    const prefetching = live.filter((c) => c.prefetch !== undefined);
    let batch: ScannedEntry[] = [];
    // Entries are judged a batch at a time, in order, after each comparer read at once
    // what the batch's visits need from the ledger.
    const judge = async () => {
      if (prefetching.length > 0)
        await Promise.all(prefetching.map((c) => step(c, () => c.prefetch?.(batch) ?? DONE)));
      for (const { entry, i } of batch) {
        for (const comparer of live) {
          if (comparer.run.error !== undefined) continue;
          const pending = comparer.visit(entry, i);
          if (pending !== undefined) await pending;
        }
      }
      batch = [];
    };
    for await (const entry of ctx.ledger.scan({ from: ctx.from, to: ctx.to })) {
      if (part === undefined || part(entry.envelope.key)) {
        batch.push({ entry, i: holdings.index.get(entry.envelope.key) });
        if (batch.length === SCAN_BATCH) await judge();
      }
      if (rows !== undefined)
        rows.push(rowHash(entry.envelope.key, entry.envelope.checksum), 1, entry.position);
      sums?.add(entry);
      if (++done % PROGRESS_EVERY === 0) progress(ctx, undefined, "compare", done, ctx.entries);
    }
    if (batch.length > 0) await judge();
  }
  progress(ctx, undefined, "compare", done, ctx.entries);
  return rows === undefined ? undefined : new SortedRows(rows);
}

/**
 * Compares every sink with the ledger and explains each difference.
 *
 * Reads what each sink holds (`observe`, or bucket digests in digest mode, or its
 * receipts when it cannot be read), streams the ledger range once, and gives every
 * (entry, sink) pair one finding — `matched`, `missing-late` (age ≤ the sink's lag
 * tolerance), `missing-lost`, `duplicate` or `mismatched` (with the differing JSON paths
 * when the sink's payload is at hand) — plus `unexpected` for keys the ledger never
 * emitted. Missing entries whose final receipt says the sink has them are counted as
 * `contradicted`. A sink is consistent when it has no finding but `matched` and
 * `missing-late`, and could be read.
 *
 * A row whose payload does not hash to the checksum stored beside it is never matched
 * (when the sink's answer shows both): the finding's `mismatch` says what disagrees.
 * Each sink's report also lists `interrupted`: repair actions on it that were started
 * and never recorded as finished (audit intents with no outcome).
 *
 * With `freezeOn`, a sink whose findings cross a threshold is frozen in the ledger (origin
 * `reconcile`, audited): every guard of the sink on this ledger, in any process, refuses
 * deliveries other than replays until {@link repair} converges for it.
 *
 * With `incremental: true`, each sink is checked only after its checkpoint in the ledger
 * (see {@link ReconcileCheckpoint}): the whole ledger when it has none or one the ledger no
 * longer agrees with; the checkpoint then moves to the sink's consistency window (a late,
 * lost or altered entry holds it). `incremental: "sweep"` checks every entry and the
 * checkpoint's prefix digest. Each sink's report says where its pass started
 * (`checkpoint`), and `outOfRange` counts the rows a sink gave outside it (read whole).
 *
 * With `history`, each readable sink's consistency window is kept in the ledger's history
 * ({@link Ledger.recordWindows}) and each sink's report carries its recent samples
 * (`SinkReport.history`), which the HTML report draws as a time series.
 *
 * Throws `InvalidArgumentError` for malformed options; ledger failures propagate (a ledger
 * that keeps no checkpoints: `LedgerError` `unsupported` for an incremental pass), but
 * those of the history step only set the report's `historyError`.
 *
 * @example
 * ```ts
 * import { reconcile } from "sinkproof";
 * const report = await reconcile({
 *   ledger,
 *   sinks: [
 *     { name: "search", lagToleranceMs: 30_000, observe: () => search.allDocs() },
 *     { name: "warehouse" }, // no read-back: receipts only (weaker)
 *   ],
 * });
 * if (!report.consistent) console.log(renderReport(report, { format: "markdown" }));
 * ```
 */
export async function reconcile(reconcileOptions: ReconcileOptions): Promise<ReconcileReport> {
  const resolved = resolveOptions(reconcileOptions);
  const { ledger, sinks, clock, wantFrom, wantTo, incremental } = resolved;
  const started = performance.now();
  const nowMs = clock();
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs) || Math.abs(nowMs) > MAX_TIME_MS)
    invalidArgument(
      "options.clock()",
      `must return ms since the epoch (a valid Date), got ${show(nowMs)}`,
    );
  const head = await ledger.head();
  // Read before the sinks, so an action interrupted after this point shows next time.
  const interrupted = await interruptedBySink(ledger, new Set(sinks.map((s) => s.name)));
  const base: PassBase = { resolved, nowMs, interrupted };
  const all = sinks.map((sink, index) => ({ sink, index }));
  let reports: SinkReport[];
  let from: number;
  let to: number;
  if (incremental === false) {
    to = Math.min(wantTo ?? head, head);
    from = wantFrom;
    reports = (await pass(base, all, from, to, undefined)).reports;
  } else {
    to = head;
    reports = await incrementalPasses(base, all, head, incremental === "sweep");
    from = reports.length === 0 ? 1 : Math.min(...reports.map((r) => r.checkpoint?.from ?? 1));
  }
  const entries = Math.max(0, to - from + 1);
  const generatedAt = new Date(nowMs).toISOString();
  let historyError: ReconcileReport["historyError"];
  if (resolved.historyPoints !== undefined) {
    // After the pass (its freezes and checkpoints are stored): a history that fails must
    // not take the findings with it.
    try {
      reports = await withHistory(ledger, reports, generatedAt, resolved.historyPoints);
    } catch (error) {
      historyError = errorSummary(error, "history_failed");
      log("the window history was not kept: %s", historyError.message);
    }
  }
  return {
    generatedAt,
    consistent: reports.every((r) => r.consistent),
    range: { from, to: Math.max(to, from - 1), entries },
    sinks: reports,
    durationMs: performance.now() - started,
    ...(historyError === undefined ? {} : { historyError }),
  };
}

/** What every pass of one `reconcile` call shares. */
interface PassBase {
  readonly resolved: Resolved;
  readonly nowMs: number;
  readonly interrupted: ReadonlyMap<string, readonly InterruptedAction[]>;
}

/** A sink of the call, with its index in `options.sinks`. */
interface Member {
  readonly sink: ReconcileSink;
  readonly index: number;
}

/**
 * One comparison of `members` with the ledger positions `from` to `to`: read every sink,
 * one ledger scan (adding each entry to `sums` when given), settle the rest; one report per
 * member, in order.
 */
async function pass(
  base: PassBase,
  members: readonly Member[],
  from: number,
  to: number,
  sums: PrefixSums | undefined,
): Promise<{ reports: SinkReport[] }> {
  const { ledger, onProgress, maxFindings, policy, actor } = base.resolved;
  const entries = Math.max(0, to - from + 1);
  const first = entries > 0 ? await entryAt(ledger, from) : undefined;
  const ctx: Context = {
    ledger,
    from,
    to: Math.max(to, from - 1),
    entries,
    since: first?.appendedAt,
    nowMs: base.nowMs,
    maxFindings,
    onProgress,
    maxKeys: base.resolved.maxKeys,
  };
  log("reconciling %d sinks over positions %d..%d", members.length, from, ctx.to);
  // Within the memory budget: a pass whose read-back holds more than `maxKeys` keys starts
  // again split into hash partitions, each reading every sink and the ledger once and
  // holding only its own keys.
  let runs: SinkRun[] = [];
  let comparers: Judged[] = [];
  for (let parts = 1; ; parts *= 4) {
    runs = members.map(({ sink, index }) => newRun(ctx, sink, `options.sinks[${index}]`));
    try {
      comparers = await partitioned(base, ctx, runs, sums, parts);
      break;
    } catch (caught) {
      if (!(caught instanceof TooManyKeys)) throw caught;
      if (parts >= MAX_PARTS) {
        throw new InvalidArgumentError(
          "invalid_argument",
          `A read-back holds more than ${ctx.maxKeys} keys in each of ${parts} partitions: raise options.maxKeysInMemory`,
          { path: "options.maxKeysInMemory" },
        );
      }
      sums?.reset();
      log("more than %d keys held: the pass starts again in %d partitions", ctx.maxKeys, parts * 4);
    }
  }
  const reports: SinkReport[] = [];
  for (const [i, comparer] of comparers.entries()) {
    const sink = (members[i] as Member).sink;
    const report = sinkReport(ctx, comparer, base.interrupted.get(sink.name) ?? []);
    reports.push(await applyFreezePolicy(ledger, sink, report, sink.freezeOn ?? policy, actor));
  }
  return { reports };
}

/** Scanned entries judged together (their missing entries' receipts read at once). */
const SCAN_BATCH = 256;
const DONE: Promise<void> = Promise.resolve();

/** The most hash partitions a pass is split into. */
const MAX_PARTS = 4096;

/**
 * The pass in `parts` hash partitions (1: the whole pass at once): per partition, every
 * sink read (keeping that partition's keys), one ledger scan, the rest settled. Digest
 * sinks hold no keys: they are compared once, in the first partition, which also feeds
 * `sums`. Returns a comparer per run (for the report's basis).
 */
async function partitioned(
  base: PassBase,
  ctx: Context,
  runs: readonly SinkRun[],
  sums: PrefixSums | undefined,
  parts: number,
): Promise<Judged[]> {
  const { concurrency } = base.resolved;
  let out: Judged[] = [];
  for (let p = 0; p < parts; p++) {
    const part = parts === 1 ? undefined : (key: string) => partOf(key, parts) === p;
    const pctx: Context = part === undefined ? ctx : { ...ctx, part };
    const holdings = new Holdings(part, ctx.maxKeys);
    const all = runs.map((run) => comparerFor(pctx, run, holdings));
    const comparers = all.filter((c) => p === 0 || c.basis !== "digest");
    // 1. Read every sink (observations, receipts), `concurrency` at once.
    await eachAtMost(comparers, concurrency, (c) => step(c, () => c.prepare()));
    // 2. One ledger scan for every sink: each entry judged at each sink that could be read.
    // Digest sinks use the ledger's own row hashes when it keeps them; else the scan
    // hashes every entry for them (and a pass with only digest sinks scans nothing).
    const digests = comparers.some((c) => c.run.error === undefined && c.basis === "digest");
    const stored = digests ? await ledgerRows(pctx) : undefined;
    const scanned = await scanLedger(
      pctx,
      comparers,
      holdings,
      p === 0 ? sums : undefined,
      digests && !stored,
    );
    const expected = stored ?? (scanned === undefined ? undefined : scannedRows(scanned));
    // 3. What the scan could not settle (leftover keys, digest bisection), `concurrency` at once.
    await eachAtMost(comparers, concurrency, (c) => step(c, () => c.finish(expected)));
    // Each sink's tally lives on its run, shared by the partitions; the comparers (and the
    // holdings they close over) are let go, so one partition's keys are garbage before the
    // next one's are read.
    if (p === 0) out = all.map((c) => ({ run: c.run, basis: c.basis }));
  }
  return out;
}

/** What a sink's report is made from: its run (the tally) and the basis it was read on. */
type Judged = Pick<Comparer, "run" | "basis">;

/**
 * Checkpointed passes: each sink from its checkpoint (sinks starting at the same position
 * share one pass), then each sink's checkpoint moved to the end of what matched.
 */
async function incrementalPasses(
  base: PassBase,
  members: readonly Member[],
  head: number,
  sweep: boolean,
): Promise<SinkReport[]> {
  const { ledger } = base.resolved;
  const starts: Start[] = [];
  for (const { sink } of members) {
    const previous = await ledger.getCheckpoint(sink.name);
    starts.push(await startOf(ledger, sink, previous, head, sweep));
  }
  const groups = new Map<number, number[]>();
  starts.forEach((start, i) => {
    const group = groups.get(start.from);
    if (group === undefined) groups.set(start.from, [i]);
    else group.push(i);
  });
  const out: SinkReport[] = new Array(members.length);
  const at = new Date(base.nowMs).toISOString();
  for (const [from, indexes] of [...groups].sort((a, b) => a[0] - b[0])) {
    const sums = new PrefixSums(from, head - from + 1);
    const { reports } = await pass(
      base,
      indexes.map((i) => members[i] as Member),
      from,
      head,
      sums,
    );
    for (const [j, i] of indexes.entries()) {
      const report = reports[j] as SinkReport;
      let start = starts[i] as Start;
      const mismatch = start.status === "untrusted" ? undefined : prefixMismatch(start, sums);
      if (mismatch !== undefined) start = { ...start, status: "untrusted", reason: mismatch };
      const next = await nextCheckpoint(ledger, start, report, sums, at);
      const stored =
        next !== undefined && (await storeCheckpoint(ledger, start, next)) ? next : undefined;
      if (next !== undefined && stored === undefined)
        log("checkpoint of %s changed by another pass meanwhile: left as it is", report.name);
      const checkpoint: CheckpointReport = {
        status: start.status,
        from: start.from,
        ...(start.reason === undefined ? {} : { reason: start.reason }),
        ...(start.previous === undefined ? {} : { previous: start.previous }),
        ...(stored === undefined ? {} : { stored }),
      };
      if (start.status === "untrusted") {
        log("checkpoint of %s not trusted: %s", report.name, start.reason);
      }
      out[i] = { ...report, checkpoint };
    }
  }
  return out;
}
